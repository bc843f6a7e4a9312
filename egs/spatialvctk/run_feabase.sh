#!/usr/bin/env bash
# The FEABASE comparison in one command (after ./run.sh --stage 1 --stop-stage 2): ERM, oracle
# re-weighting (a grid of subset sampling weights, easy-heavy to hard-heavy), FEABASE (a sweep
# over p), oracle data (train + real extra D_hard), same recipe and scoring (the runs:
# local/feabase.sh; logs exp/run_feabase/run.<tag>.log); then the Pareto plot pareto_si_sdri.png
# and pareto_si_sdri.md (easy-test vs hard-test SI-SDRi), and the paper's Table 2 for the FS
# model (local/fs_table2.sh: angles, spatial- vs timbre-only separators on FS test_both).
#
#   ./run_feabase.sh [--jobs 2] [--ps "0.1 0.25 0.5 0.75"] [--re_grid "4,1,1 1,4,1"] [--fs_config YAML]
#                    [--fs_tag NAME] [--enh_config YAML] [--continue_to N] [enh.sh options]
# --continue_to N continues every run from its last epoch to N (local/continue_training.sh;
# the same schedule as an N-epoch run) and draws pareto_si_sdri_eN.png as well.
set -euo pipefail
{  # read whole before it runs: editing this file during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
. local/feabase.sh
jobs=2                                   # trainings at once (one CPU thread each)
enh_config=conf/tuning/train_enh_tf_dualpath_cpu.yaml
continue_to=""                           # N: then continue every run to N epochs (<tag>_eN)
ps="0.1 0.25 0.5 0.75"
re_grid="4,1,1 2,1,1 1,4,1 1,10,1 1,20,1"  # oracle re: sampling weights easy,hard,both
fs_config=conf/fs_steer_cpu.yaml fs_tag=fs_steer expdir=exp
recipe_options "jobs ps re_grid continue_to fs_config" "enh_config fs_tag expdir" "$@"
check_stages 1 1 "$jobs"
common=(--expdir "$expdir" --fs_tag "$fs_tag" --enh_config "$enh_config" "${passed[@]}")
feabase_runs  # tags=(), opts_of[tag]
# Stage 3-4 once: the feature-suppression CycleGAN and the transformed D_both sources.
./run.sh --stage 3 --stop-stage 4 --train_variant feabase --fs_config "$fs_config" "${common[@]}"
side_by_side "$jobs" "$expdir/run_feabase" feabase_train "${tags[@]}"
cfg=$(basename "$enh_config" .yaml)
pareto pareto_si_sdri --include "${cfg}_*" --exclude "*_e[0-9]*" --baseline "${cfg}_erm"
if [ -n "$continue_to" ]; then
    side_by_side "$jobs" "$expdir/run_feabase" feabase_continue "${tags[@]/%/_e$continue_to}"
    pareto "pareto_si_sdri_e$continue_to" --include "${cfg}_*_e$continue_to" \
        --baseline "${cfg}_erm_e$continue_to"
fi
local/fs_table2.sh --fs_tag "$fs_tag" --expdir "$expdir" --enh_config "$enh_config"
exit 0
}
