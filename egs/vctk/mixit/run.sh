#!/usr/bin/env bash
# VCTK MixIT (unsupervised): a separator with M = 4 or 8 outputs trained on mixtures of
# two mixtures (1-3 speakers each) with efficient MixIT, with and without the sparsity and
# covariance losses, beside a supervised reference (the same model, PIT on the true sources
# of the same mixtures); scored like FUSS (1S, MSi, over-separation) on single test mixtures
# of 1-3 sources. Default: the embedded 300-speaker corpus (db.sh: VCTK empty), 8 kHz, the
# twelve CPU configs below (sepplug's `rnn_softmax`: ESPnet's `rnn` with masks that sum to
# the mixture; the last two ESPnet's sigmoid-mask `rnn`), two trainings side by side (--jobs).
#
#   ./run.sh                                      # all twelve models, stages 1-6
#   ./run.sh --stage 6 --stop-stage 6             # re-score
#   python -m sepplug.recipes.mixit.make_results --expdir exp --out exp/RESULTS.md \
#       --notes local/results_notes.md             # the committed RESULTS.md (with the notes)
#   ./run.sh --enh_configs "conf/tuning/train_enh_mixit_sparse_rnn_m8_cpu.yaml" --jobs 1
#   ./run.sh --enh_config conf/tuning/train_enh_mixit_sparse_m8.yaml --enh_tag sparse_m8 --ngpu 1
#
# Families (from the config): supervised (wrapper pit_hungarian; trained on the train_sup /
# dev_sup views of the data), mixit, mixit_sparse, mixit_sparse_cov (the output regularisers);
# suffix _sigmoid_masks for ESPnet's stock `rnn`.
# The stages are the shared enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header); other options
# go to it, later options win. Stage 1 (data) runs once before the models start.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh

tuning=conf/tuning
enh_configs="$tuning/train_enh_supervised_rnn_m8_cpu.yaml $tuning/train_enh_mixit_rnn_m8_cpu.yaml
             $tuning/train_enh_mixit_sparse_rnn_m8_cpu.yaml $tuning/train_enh_mixit_rnn_m4_cpu.yaml
             $tuning/train_enh_mixit_sparse_cov_rnn_m8_cpu.yaml
             $tuning/train_enh_mixit_sparse_rnn_m4_cpu.yaml
             $tuning/train_enh_mixit_sparse12_rnn_m8_cpu.yaml
             $tuning/train_enh_supervised_silence_rnn_m8_cpu.yaml
             $tuning/train_enh_mixit_sparse9_rnn_m8_cpu.yaml
             $tuning/train_enh_mixit_sparse2_rnn_m8_cpu.yaml
             $tuning/train_enh_supervised_rnn_sigmoid_m8_cpu.yaml
             $tuning/train_enh_mixit_rnn_sigmoid_m8_cpu.yaml"
defaults=(--fs 8k --corpus_opts "--num_speakers 300"
          --local_data_opts "--segment 3.0 --n_train 4000 --n_dev 200 --n_test 300"
          --validate_opts "--channels 1" --test_sets test --normalize_output_wav false
          --scoring_tool sepplug.bin.score_mixit --score_opts "--threshold_db -20"
          --results_tool sepplug.recipes.mixit.make_results
          --results_title "VCTK MixIT (unsupervised)")
supervised_sets=(--train_set train_sup --valid_set dev_sup)  # + --ref_num: spk*.scp there

family_of() {  # supervised or mixit[_sparse][_cov] (the config's loss wrapper and output
               # regularisers), + _sigmoid_masks for ESPnet's stock rnn (not rnn_softmax)
    local family=mixit
    if grep -Eq "^ *wrapper: *pit_hungarian *(#.*)?$" "$1"; then
        family=supervised
    else
        grep -Eq "^ *-? *name: *mixit_sparsity *(#.*)?$" "$1" && family+=_sparse
        grep -Eq "^ *-? *name: *source_covariance *(#.*)?$" "$1" && family+=_cov
    fi
    grep -Eq "^separator: *rnn *(#.*)?$" "$1" && family+=_sigmoid_masks
    echo "$family"
}

passed=()
single=""
tag=""
jobs=2
expdir=exp
datadir=data
stage=1
stop_stage=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --enh_configs|--enh-configs|--jobs|--stage|--stop_stage|--stop-stage|--expdir|\
        --datadir|--enh_tag|--enh-tag)
            [ $# -ge 2 ] || die "run.sh: $1 needs a value" ;;&
        --enh_configs|--enh-configs) enh_configs=$2; shift 2 ;;
        --enh_config|--enh-config)
            [ $# -ge 2 ] || die "run.sh: $1 needs a value"
            single=$2; shift 2 ;;
        --enh_tag|--enh-tag)
            single=${single:-${enh_configs%% *}}; tag=$2; passed+=("$1" "$2"); shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --expdir) expdir=$2; passed+=("$1" "$2"); shift 2 ;;
        --datadir) datadir=$2; passed+=("$1" "$2"); shift 2 ;;
        --stage) stage=$2; passed+=("$1" "$2"); shift 2 ;;
        --stop_stage|--stop-stage) stop_stage=$2; passed+=("$1" "$2"); shift 2 ;;
        *) passed+=("$1"); shift ;;
    esac
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "run.sh: --jobs '$jobs' is not a positive integer"
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] \
    || die "run.sh: --stage '$stage' / --stop-stage '$stop_stage' must be stage numbers"
[ -z "$single" ] || enh_configs=$single   # one model: --enh_config and/or --enh_tag name it
declare -A config_of
names=()
for config in $enh_configs; do
    [ -f "$config" ] || die "run.sh: --enh_config $config: no such file"
    name=$(basename "$config" .yaml)
    [ -z "${config_of[$name]:-}" ] || die "run.sh: two configs are named $name"
    config_of[$name]=$config
    names+=("$name")
done
[ "$jobs" -le ${#names[@]} ] || jobs=${#names[@]}  # one model: its log on this terminal

exp_of() {  # the experiment dir of a config name (--enh_tag renames a single model's)
    echo "$expdir/enh_${tag:-$1}"
}

run_model() {  # enh.sh for one config (by name); experiments are exp/enh_<config name>
    local config=${config_of[$1]} family extra=() refs
    family=$(family_of "$config")
    if [ "${family#supervised}" != "$family" ]; then  # every reference of the padded views
        refs=$(find "$datadir/train_sup" -maxdepth 1 -name 'spk*.scp' 2>/dev/null | wc -l)
        [ "$refs" -gt 0 ] || die "run.sh: $config needs $datadir/train_sup/spk*.scp (stage 1;" \
            "data made before the supervised views: remove $datadir/.done.data_* first)"
        extra=("${supervised_sets[@]}" --ref_num "$refs")
    fi
    ./enh.sh "${defaults[@]}" --enh_config "$config" --enh_tag "$1" --family "$family" \
        "${extra[@]}" "${passed[@]}"
}

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then  # the data, once, before the models
    ./enh.sh "${defaults[@]}" --enh_config "${config_of[${names[0]}]}" "${passed[@]}" \
        --stage 1 --stop_stage 1
fi
side_by_side "$jobs" "$expdir" run_model "${names[@]}"
if [ "$stop_stage" -ge 5 ]; then  # learning curves of the models trained so far
    curves=()
    for name in "${names[@]}"; do
        [ ! -f "$(exp_of "$name")/train.log" ] || curves+=(--exp "$(exp_of "$name")")
    done
    if [ ${#curves[@]} -gt 0 ]; then
        . ./path.sh
        ${python:-python3} -m sepplug.bin.plot_learning_curves "${curves[@]}" \
            --stat train/si_snr_loss --stat valid/si_snr_loss --out "$expdir/learning_curves.png" \
            --title "VCTK MixIT: SI-SNR loss (of the remixes for MixIT)" \
            || die "run.sh: plot_learning_curves failed"
    fi
fi
exit 0
}
