"""SpatialVCTK (``egs/spatialvctk``): the simulator of the easy/hard/both subsets
(:mod:`.simulate`, :mod:`.render_job`), FEABASE's training lists (:mod:`.make_train_list`),
its results tool (:mod:`.make_results`: the generic one plus the FS checks),
the feature-suppression checks and the paper's Table 2 (:mod:`.fs_checks`,
:mod:`.fs_check`, :mod:`.fs_table2`, :mod:`.fs_verify`) and the Pareto plot
(:mod:`.plot_pareto`)."""
