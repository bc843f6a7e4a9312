"""Run-time mixing for the dynamic-mixing preprocessors (``spatial_dm``, ``hard_dm``).

* :mod:`~sepplug.mixing.dry_sources` — the dry-utterance list and its audio;
* :mod:`~sepplug.mixing.rir_bank` — a multi-channel RIR bank (``python -m
  sepplug.mixing.rir_bank``);
* :mod:`~sepplug.mixing.sampling_policy` — which subset, speakers, room and positions a draw
  takes;
* :mod:`~sepplug.mixing.spatial_mix` — one mixture from those draws;
* :mod:`~sepplug.mixing.pair_table` — the hard speaker-pair table ``hard_dm`` reads.
"""
