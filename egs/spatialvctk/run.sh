#!/usr/bin/env bash
# SpatialVCTK: 2 speakers, 6-mic circular array (r = 7.25 cm), easy/hard/both subsets.
# Default: the embedded corpus (db.sh: VCTK empty; 300 synthetic speakers), 8 kHz, CPU configs.
#
#   ./run.sh --stage 1 --stop-stage 6
#       trains the default pair side by side (one CPU thread each): the 6-channel ERM model
#       (tf_dualpath, family erm) and the reference-mic model (family erm_1ch)
#   ./run.sh --stage 5 --stop-stage 6 --enh_config conf/tuning/train_enh_dprnn_refmic.yaml \
#            --input_channels ref                       # one model: stock ESPnet dprnn, ref mic
#   ./run.sh --fs 16k --enh_config conf/tuning/train_enh_mc_dprnn.yaml --ngpu 1  # paper size
#
# With --enh_config or --enh_tag on the command line, run.sh trains that one model (as
# enh.sh does); without, the default pair. The stages are the shared enh.sh
# (egs/TEMPLATE/enh1/enh.sh; see its header).
set -euo pipefail
# One compound command: bash parses it whole before running, so editing this file while a
# run is under way cannot derail that run.
{
cd "$(dirname "$0")"

config_6ch=conf/tuning/train_enh_tf_dualpath_cpu.yaml
config_1ch=conf/tuning/train_enh_rnn_1ch_cpu.yaml
# Later options win: anything given on the command line overrides these defaults.
# (--stop-stage and --stop_stage both work: enh.sh maps - to _ in option names.)
defaults=(--fs 8k --enh_config "$config_6ch" --corpus_opts "--num_speakers 300"
          --local_data_opts "--segment 3.0 --n_train 2000 --n_dev 90
                             --dev_ratios easy=0.34,hard=0.33,both=0.33
                             --n_test 200 --n_hard_extra 300"
          --test_sets "test_easy test_hard test_both" --results_title "SpatialVCTK")

stage=1 stop_stage=6 expdir=exp single=false
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --stage) stage=$2; shift 2 ;;
        --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
        --expdir) expdir=$2; shift 2 ;;
        --enh_config|--enh_tag) single=true; shift 2 ;;
        *) shift ;;
    esac
done
if $single; then
    exec ./enh.sh "${defaults[@]}" "${args[@]}"
fi

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
# Data, validation and the reference-mic copies, once for both models.
if [ "$stage" -le 4 ]; then
    ./enh.sh "${defaults[@]}" "${args[@]}" --stop_stage "$(( stop_stage < 4 ? stop_stage : 4 ))"
    if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
        ./enh.sh "${defaults[@]}" "${args[@]}" --enh_config "$config_1ch" --input_channels ref \
            --stage 2 --stop_stage 2
    fi
fi
[ "$stop_stage" -ge 5 ] || exit 0
# The two trainings side by side; each writes its own log, a failure stops the recipe.
first=$(( stage > 5 ? stage : 5 ))
mkdir -p "$expdir"
models=(6ch 1ch) pids=()
for model in "${models[@]}"; do
    if [ "$model" = 6ch ]; then opts=(--enh_config "$config_6ch" --family erm)
    else opts=(--enh_config "$config_1ch" --input_channels ref --family erm_1ch); fi
    log "stages $first-$stop_stage of the $model model: log $expdir/run_$model.log"
    ./enh.sh "${defaults[@]}" "${args[@]}" "${opts[@]}" --stage "$first" \
        >"$expdir/run_$model.log" 2>&1 &
    pids+=($!)
done
failed=0
for n in "${!models[@]}"; do
    model=${models[$n]}
    if wait "${pids[$n]}"; then sed "s/^/[$model] /" "$expdir/run_$model.log"
    else failed=1; sed "s/^/[$model] /" "$expdir/run_$model.log" >&2; log "the $model model failed"; fi
done
[ "$failed" = 0 ] || exit 1
if [ "$stop_stage" -ge 6 ]; then  # both models in one RESULTS.md (each run wrote its own)
    ./enh.sh "${defaults[@]}" "${args[@]}" --stage 6 --stop_stage 6 >/dev/null
    log "$expdir/RESULTS.md, $expdir/results/summary.tsv"
fi
exit 0
}
