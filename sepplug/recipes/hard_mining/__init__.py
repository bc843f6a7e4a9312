"""Dynamic mixing and hard-sample mining (``egs/vctk/hard_mining``): the dry source set and
fixed test mixtures (:mod:`.make_data`), speaker parameters (:mod:`.speaker_params`,
:mod:`.resemblyzer_embedding`), pair hardness and its analysis (:mod:`.hardness`,
:mod:`.hardness_analysis`; the pair table format itself is the library's
:mod:`sepplug.mixing.pair_table`), stage 8's dev choice of the hard share
(:mod:`.choose_share`), and the results (:mod:`.make_results`)."""
