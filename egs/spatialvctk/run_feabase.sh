#!/usr/bin/env bash
# The FEABASE comparison in one command (after ./run.sh --stage 1 --stop-stage 2):
#   ERM, oracle re-weighting (a grid of subset sampling weights), FEABASE (a sweep over p),
#   oracle data (train + real extra D_hard), same recipe and scoring; then the Pareto plot
#   pareto_si_sdri.png and pareto.md (easy-test vs hard-test SI-SDRi), and the paper's
#   Table 2 for the FS model (local/fs_table2.sh: angles, spatial- vs timbre-only
#   separators on FS-transformed test_both).
#
#   ./run_feabase.sh [--jobs 2] [--ps "0.25 0.5"] [--re_hard "4 10"] [--fs_config YAML]
#                    [--fs_tag NAME] [enh.sh options]
set -euo pipefail
cd "$(dirname "$0")"

jobs=2                                   # trainings at once (one CPU thread each)
ps="0.25 0.5"
re_hard="4 10"                           # oracle re: weight of D_hard (easy = both = 1)
fs_config=conf/fs_cyclegan_cpu.yaml
fs_tag=fs_cyclegan
expdir=exp
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) jobs=$2; shift 2 ;;
        --ps) ps=$2; shift 2 ;;
        --re_hard) re_hard=$2; shift 2 ;;
        --fs_config) fs_config=$2; shift 2 ;;
        --fs_tag) fs_tag=$2; shift 2 ;;
        --expdir) expdir=$2; shift 2 ;;
        *) break ;;
    esac
done
common=(--expdir "$expdir" --fs_tag "$fs_tag" "$@")

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run_feabase.sh) $*"; }

# Stage 3-4 once: the feature-suppression CycleGAN and the transformed D_both sources.
./run.sh --stage 3 --stop-stage 4 --train_variant feabase --fs_config "$fs_config" "${common[@]}"

runs=("--train_variant erm")
for w in $re_hard; do runs+=("--train_variant oracle_re:easy=1,hard=$w,both=1"); done
for p in $ps; do
    runs+=("--train_variant feabase --fs_config $fs_config --tag train_enh_mc_dprnn_cpu_feabase_p$p --enh_args --preprocessor_conf=p=$p")
done
runs+=("--train_variant oracle_data")

pids=()
for r in "${runs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 5; done
    name=$(echo "$r" | tr -c 'a-zA-Z0-9=.\n' '_')
    log "start: $r (log: $expdir/run_feabase.$name.log)"
    # shellcheck disable=SC2086
    ./run.sh --stage 4 --stop-stage 6 $r "${common[@]}" >"$expdir/run_feabase.$name.log" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { log "ERROR: a run failed: see $expdir/run_feabase.*.log"; exit 1; }

local/fs_table2.sh --fs_tag "$fs_tag" --expdir "$expdir"

python3 -m sepplug.bin.plot_pareto --expdir "$expdir" --out pareto_si_sdri.png --table pareto.md \
    --include "train_enh_mc_dprnn_cpu_*"
log "pareto_si_sdri.png, pareto.md"
