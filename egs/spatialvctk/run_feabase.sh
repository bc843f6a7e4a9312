#!/usr/bin/env bash
# The FEABASE comparison in one command (after ./run.sh --stage 1 --stop-stage 2):
#  Table 1  the 6-ch model trained on D (erm), on D_easy only (easy_only), on D_hard only
#           (hard_only: 2000 real D_hard mixtures), and the 1-ch timbre-only reference model;
#  arms     ERM, oracle re-weighting (a grid of subset sampling weights, easy-heavy to
#           hard-heavy), FEABASE (a sweep over p), oracle data (train + real extra D_hard),
#           same recipe and scoring. --warm_start true (the default, the paper's Figure 2
#           protocol): every arm starts from the hard_only model's weights (it has paid for
#           timbre once) and trains --arm_epochs more on its own data, as <config>_ws_<variant>;
#           false: from scratch as <config>_<variant>;
#  then     the Pareto plot exp/results/pareto_si_sdri.png / .md (easy-test vs hard-test SI-SDRi), the
#           dev curves per subset across the switch (figure2.png), and the paper's Table 2 for
#           the FS model with the 6-ch and the 1-ch timbre-only models (local/fs_table2.sh).
# The runs: local/feabase.sh; logs exp/run_feabase/run.<tag>.log.
#
#   ./run_feabase.sh [--jobs 2] [--ps "0.1 0.25 0.5 0.75"] [--re_grid "4,1,1 1,4,1"]
#                    [--warm_start true|false] [--arm_epochs 10] [--fs_config YAML]
#                    [--fs_tag NAME] [--enh_config YAML] [--continue_to N] [enh.sh options]
# --continue_to N continues every run from its last epoch to N (local/continue_training.sh;
# the same schedule as an N-epoch run) and draws pareto_si_sdri_eN.png as well.
set -euo pipefail
{  # read whole before it runs: editing this file during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
. local/feabase.sh
jobs=2                                   # trainings at once (one CPU thread each)
enh_config=conf/tuning/train_enh_spectral_spatial_cpu.yaml
refmic_config=conf/tuning/train_enh_rnn_1ch_cpu.yaml  # the 1-ch timbre-only reference
warm_start=true arm_epochs=10 continue_to=""
ps="0.1 0.25 0.5 0.75"
re_grid="4,1,1 2,1,1 1,4,1 1,10,1 1,20,1"  # oracle re: sampling weights easy,hard,both
fs_config=conf/fs_steer_cpu.yaml fs_tag=fs_steer expdir=exp
recipe_options "jobs ps re_grid warm_start arm_epochs continue_to fs_config refmic_config" \
    "enh_config fs_tag expdir" "$@"
check_stages 1 1 "$jobs"
common=(--expdir "$expdir" --fs_tag "$fs_tag" --enh_config "$enh_config" "${passed[@]}")
cfg=$(basename "$enh_config" .yaml)
feabase_runs  # table1=(), tags=(), opts_of[tag], args_of[tag]
# Stage 3-4 once: the feature-suppression CycleGAN and the transformed D_both sources.
./run.sh --stage 3 --stop-stage 4 --train_variant feabase --fs_config "$fs_config" "${common[@]}"
if $warm_start; then  # hard_only first: the arms start from it
    side_by_side "$jobs" "$expdir/run_feabase" feabase_train "${table1[@]:0:2}"
    side_by_side "$jobs" "$expdir/run_feabase" feabase_train "${table1[@]:2}" "${tags[@]}"
else
    side_by_side "$jobs" "$expdir/run_feabase" feabase_train "${table1[@]}" "${tags[@]}"
fi
pareto pareto_si_sdri --include "${arm_prefix}_*" --exclude "*_e[0-9]*" --exclude "*_only" --baseline "${arm_prefix}_erm"
if [ -n "$continue_to" ]; then
    side_by_side "$jobs" "$expdir/run_feabase" feabase_continue "${tags[@]/%/_e$continue_to}"
    pareto "pareto_si_sdri_e$continue_to" --include "${arm_prefix}_*_e$continue_to" \
        --baseline "${arm_prefix}_erm_e$continue_to"
fi
! $warm_start || figure2
local/fs_table2.sh --fs_tag "$fs_tag" --expdir "$expdir" --enh_config "$enh_config" \
    --refmic_config "$refmic_config" --timbre6_tag "${cfg}_hard_only"
exit 0
}
