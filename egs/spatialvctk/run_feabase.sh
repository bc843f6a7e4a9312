#!/usr/bin/env bash
# The FEABASE comparison in one command (after ./run.sh --stage 1 --stop-stage 2):
#   ERM, oracle re-weighting (a grid of subset sampling weights, easy-heavy to hard-heavy),
#   FEABASE (a sweep over p),
#   oracle data (train + real extra D_hard), same recipe and scoring; then the Pareto plot
#   pareto_si_sdri.png and pareto_si_sdri.md (easy-test vs hard-test SI-SDRi), and the paper's
#   Table 2 for the FS model (local/fs_table2.sh: angles, spatial- vs timbre-only
#   separators on FS-transformed test_both).
#
#   ./run_feabase.sh [--jobs 2] [--ps "0.1 0.25 0.5 0.75"] [--re_grid "4,1,1 1,4,1"] [--fs_config YAML]
#                    [--fs_tag NAME] [--enh_config YAML] [--continue_to N] [enh.sh options]
#
# --continue_to N continues every run from its last epoch to N (local/continue_training.sh;
# the same schedule as an N-epoch run) and draws pareto_si_sdri_eN.png as well.
set -euo pipefail
# One compound command: bash parses it whole, so editing this file mid-run is safe.
{
cd "$(dirname "$0")"

jobs=2                                   # trainings at once (one CPU thread each)
enh_config=conf/tuning/train_enh_tf_dualpath_cpu.yaml
continue_to=""                           # N: then continue every run to N epochs (<tag>_eN)
ps="0.1 0.25 0.5 0.75"
re_grid="4,1,1 2,1,1 1,4,1 1,10,1 1,20,1"  # oracle re: sampling weights easy,hard,both
fs_config=conf/fs_steer_cpu.yaml
fs_tag=fs_steer
expdir=exp
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) jobs=$2; shift 2 ;;
        --ps) ps=$2; shift 2 ;;
        --re_grid) re_grid=$2; shift 2 ;;
        --fs_config) fs_config=$2; shift 2 ;;
        --fs_tag) fs_tag=$2; shift 2 ;;
        --enh_config) enh_config=$2; shift 2 ;;
        --continue_to) continue_to=$2; shift 2 ;;
        --expdir) expdir=$2; shift 2 ;;
        *) break ;;
    esac
done
common=(--expdir "$expdir" --fs_tag "$fs_tag" --enh_config "$enh_config" "$@")

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run_feabase.sh) $*"; }

# Stage 3-4 once: the feature-suppression CycleGAN and the transformed D_both sources.
./run.sh --stage 3 --stop-stage 4 --train_variant feabase --fs_config "$fs_config" "${common[@]}"

# One training per line: "<tag> <run.sh options>" (tags as enh.sh would name them).
cfg=$(basename "$enh_config" .yaml)
runs=("${cfg}_erm --train_variant erm")
for w in $re_grid; do
    [[ "$w" =~ ^[0-9.]+,[0-9.]+,[0-9.]+$ ]] \
        || { log "ERROR: --re_grid item '$w' is not easy,hard,both (three weights)"; exit 1; }
    IFS=, read -r we wh wb <<<"$w"
    runs+=("${cfg}_oracle_re_easy_${we}_hard_${wh}_both_${wb} --train_variant oracle_re:easy=$we,hard=$wh,both=$wb")
done
for p in $ps; do
    runs+=("${cfg}_feabase_p$p --train_variant feabase --fs_config $fs_config --enh_args --preprocessor_conf=p=$p")
done
runs+=("${cfg}_oracle_data --train_variant oracle_data")

run_all() {  # $1: "" (train from scratch) or N (continue each run to N epochs as <tag>_eN)
    local pids=() r tag opts failed=0
    for r in "${runs[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 5; done
        tag=${r%% *}; opts=${r#* }
        if [ -z "$1" ]; then
            log "start: $tag (log: $expdir/run_feabase.$tag.log)"
            # shellcheck disable=SC2086
            ./run.sh --stage 4 --stop-stage 6 --enh_tag "$tag" $opts "${common[@]}" \
                >"$expdir/run_feabase.$tag.log" 2>&1 &
        else
            log "continue: $tag -> ${tag}_e$1 (log: $expdir/run_feabase.${tag}_e$1.log)"
            # shellcheck disable=SC2086
            local/continue_training.sh --src_tag "$tag" --dst_tag "${tag}_e$1" --max_epoch "$1" \
                $opts "${common[@]}" >"$expdir/run_feabase.${tag}_e$1.log" 2>&1 &
        fi
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { log "ERROR: a run failed: see $expdir/run_feabase.*.log"; exit 1; }
}

run_all ""
pareto() {  # $1: output prefix, then plot_pareto filters
    local out=$1; shift
    python3 -m sepplug.recipes.spatialvctk.plot_pareto --expdir "$expdir" --out "$out.png" --table "$out.md" "$@"
    log "$out.png, $out.md"
}
pareto pareto_si_sdri --include "${cfg}_*" --exclude "*_e[0-9]*" --baseline "${cfg}_erm"
if [ -n "$continue_to" ]; then
    run_all "$continue_to"
    pareto "pareto_si_sdri_e$continue_to" --include "${cfg}_*_e$continue_to" \
        --baseline "${cfg}_erm_e$continue_to"
fi

local/fs_table2.sh --fs_tag "$fs_tag" --expdir "$expdir" --enh_config "$enh_config"
exit 0
}
