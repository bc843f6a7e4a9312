#!/usr/bin/env bash
# Clustering-confidence model selection (Liu, Seetharaman & Pardo): one deep-clustering model
# per domain (speech, music, environmental sounds; embedded data, 8 kHz, 2 s, CPU config) and,
# beyond the paper, one mask-based model (ESPnet's `rnn`), each scored on every domain's test
# set (SDR, SI-SDR); per mixture the most confident model of a kind is picked (stage 7,
# local/select.sh; the confidence of its clustering or masks), against oracle and random picks.
#   ./run.sh                   # stages 1-7, both kinds (dc, mask); --kinds dc: the paper's only
#   ./run.sh --stage 7 --stop-stage 7          # re-select / re-report
#   ./run.sh --kinds dc --dc_config conf/tuning/train_enh_dc_blstm.yaml --fs 16k --ngpu 1 \
#            --local_data_opts "--segment 5.0 --n_train 20000 --n_dev 5000 --n_test 3000"
# Stages 1-6: the shared enh.sh (egs/TEMPLATE/enh1/enh.sh) per domain model <kind>_<domain>,
# --jobs N at once after stage 1 (all data) ran once; other options go to enh.sh, later win.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
domains="speech music env" kinds="dc mask" stage=1 stop_stage=7 jobs=2 expdir=exp datadir=data
dc_config=conf/tuning/train_enh_dc_blstm_cpu.yaml mask_config=conf/tuning/train_enh_rnn_mask_cpu.yaml
recipe_options "stage stop_stage jobs domains kinds dc_config mask_config" "expdir datadir" "$@"
check_stages "$stage" "$stop_stage" "$jobs"
models=() test_sets=$(for d in $domains; do printf '%s_test ' "$d"; done)
for k in $kinds; do
    case "$k" in dc|mask) ;; *) die "--kinds: unknown kind '$k' (dc, mask)" ;; esac
    for d in $domains; do models+=("${k}_$d"); done
done
model() {  # model <kind>_<domain>|'' FROM TO: enh.sh stages FROM-TO of that model ('': the data)
    local tag=${1:-${models[0]}} config=$dc_config
    if [ "${tag%%_*}" = mask ]; then config=$mask_config; fi
    ./enh.sh --fs 8k --enh_config "$config" --corpus_opts "--num_speakers 300" \
        --local_data_opts "--segment 2.0 --n_train 1000 --n_dev 100 --n_test 200" \
        --normalize_output_wav false --validate_opts "--channels 1" --enh_tag "$tag" \
        --train_set "${tag#*_}_train" --valid_set "${tag#*_}_dev" --test_sets "${test_sets% }" \
        --family single --results_tool sepplug.recipes.dc_select.make_results --stage "$2" \
        --stop_stage "$3" --results_title "Clustering-confidence model selection" "${passed[@]}"
}
run_models "$jobs" "$expdir" "$stage" "$(( stop_stage < 6 ? stop_stage : 6 ))" 1 model "${models[@]}"
[ "$stop_stage" -lt 7 ] || local/select.sh --expdir "$expdir" --datadir "$datadir" \
    --domains "$domains" --kinds "$kinds"
exit 0
}
