#!/usr/bin/env bash
# Clustering-confidence model selection (Liu, Seetharaman & Pardo): one deep-clustering
# model per domain (speech, music, environmental sounds; embedded offline data, 8 kHz, 2 s,
# CPU config), each scored on every domain's test set (scale-dependent SDR, SI-SDR), then
# per mixture the most confident model is picked (stage 7, local/select.sh) and compared
# with the oracle and a random pick. Beyond the paper, the same with mask-based models
# (ESPnet's stock `rnn`) and the confidence of their masks, on the same mixtures.
#
#   ./run.sh                                   # stages 1-7, both kinds (dc, mask)
#   ./run.sh --kinds dc                        # the paper's DC models only
#   ./run.sh --stage 7 --stop-stage 7          # re-select / re-report
#   ./run.sh --kinds dc --dc_config conf/tuning/train_enh_dc_blstm.yaml --fs 16k --ngpu 1 \
#            --local_data_opts "--segment 5.0 --n_train 20000 --n_dev 5000 --n_test 3000"
#
# Stages 1-6 are the shared enh.sh (egs/TEMPLATE/enh1/enh.sh), one run per domain model
# (tag <kind>_<domain>); other options go to it, later options win. --jobs N trains N
# domain models at once.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh

domains="speech music env"
kinds="dc mask"
dc_config=conf/tuning/train_enh_dc_blstm_cpu.yaml
mask_config=conf/tuning/train_enh_rnn_mask_cpu.yaml
stage=1
stop_stage=7
jobs=2
expdir=exp
datadir=data
passed=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "option $1 needs a value"
    case "$1" in
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --jobs) jobs=$2 ;;
        --domains) domains=$2 ;;
        --kinds) kinds=$2 ;;
        --dc_config) dc_config=$2 ;;
        --mask_config) mask_config=$2 ;;
        --expdir) expdir=$2; passed+=("$1" "$2") ;;
        --datadir) datadir=$2; passed+=("$1" "$2") ;;
        *) passed+=("$1" "$2") ;;
    esac
    shift 2
done
[ "$stage" -le "$stop_stage" ] || die "--stage $stage is beyond --stop-stage $stop_stage"

test_sets=""
for d in $domains; do test_sets+=" ${d}_test"; done
for kind in $kinds; do
    case "$kind" in dc|mask) ;; *) die "--kinds: unknown kind '$kind' (dc, mask)" ;; esac
done
enh() {  # enh.sh for the model of kind $1, domain $2 (stages $3-$4), every domain's test set
    local config=$dc_config
    [ "$1" = mask ] && config=$mask_config
    ./enh.sh --fs 8k --enh_config "$config" \
        --corpus_opts "--num_speakers 300" \
        --local_data_opts "--segment 2.0 --n_train 1000 --n_dev 100 --n_test 200" \
        --normalize_output_wav false --validate_opts "--channels 1" \
        --train_set "$2_train" --valid_set "$2_dev" --test_sets "${test_sets# }" \
        --enh_tag "$1_$2" --family single --results_tool sepplug.recipes.dc_select.make_results \
        --results_title "Clustering-confidence model selection" \
        --stage "$3" --stop_stage "$4" "${passed[@]}"
}

if [ "$stage" -le 6 ]; then
    first=${domains%% *} first_kind=${kinds%% *}
    last=$(( stop_stage < 6 ? stop_stage : 6 ))
    # Stage 1 once (it makes every domain's data), then the models side by side.
    if [ "$stage" -le 1 ]; then enh "$first_kind" "$first" 1 1; fi
    if [ "$last" -ge 2 ]; then
        from=$(( stage > 2 ? stage : 2 ))
        models=()
        for kind in $kinds; do for d in $domains; do models+=("${kind}_$d"); done; done
        domain_model() { enh "${1%%_*}" "${1#*_}" "$from" "$last"; }  # tag <kind>_<domain>
        side_by_side "$jobs" "$expdir" domain_model "${models[@]}"
    fi
fi
if [ "$stop_stage" -ge 7 ]; then
    local/select.sh --expdir "$expdir" --datadir "$datadir" --domains "$domains" --kinds "$kinds"
fi
exit 0
}
