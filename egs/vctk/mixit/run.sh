#!/usr/bin/env bash
# VCTK MixIT (unsupervised): a separator with M = 4 or 8 outputs trained on mixtures of
# two mixtures (1-3 speakers each) with efficient MixIT, with and without the sparsity
# loss; scored like FUSS (1S, MSi, over-separation) on single test mixtures of 1-3 sources.
# Default: the embedded corpus (db.sh: VCTK empty), 8 kHz, the four CPU configs in turn.
#
#   ./run.sh                                      # all four models, stages 1-6
#   ./run.sh --stage 6 --stop-stage 6             # re-score
#   python -m sepplug.bin.make_mixit_results --expdir exp --out exp/RESULTS.md \
#       --notes local/results_notes.md             # the committed RESULTS.md (with the notes)
#   ./run.sh --enh_configs "conf/tuning/train_enh_mixit_sparse_m8_cpu.yaml"
#   ./run.sh --enh_config conf/tuning/train_enh_mixit_sparse_m8.yaml --enh_tag sparse_m8 --ngpu 1
#
# The stages are the shared enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header); other options
# go to it, later options win.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"

enh_configs="conf/tuning/train_enh_mixit_m4_cpu.yaml conf/tuning/train_enh_mixit_sparse_m4_cpu.yaml
             conf/tuning/train_enh_mixit_m8_cpu.yaml conf/tuning/train_enh_mixit_sparse_m8_cpu.yaml"
defaults=(--fs 8k --local_data_opts "--segment 3.0 --n_train 2000 --n_dev 200 --n_test 300"
          --validate_opts "--channels 1" --test_sets test --normalize_output_wav false
          --scoring_tool sepplug.bin.score_mixit --score_opts "--threshold_db -20"
          --results_tool sepplug.bin.make_mixit_results
          --results_title "VCTK MixIT (unsupervised)")

family_of() {  # mixit, mixit_sparse, mixit_sparse_cov, ...: the config's output regularisers
    local family=mixit
    grep -q "name: *mixit_sparsity" "$1" && family+=_sparse
    grep -q "name: *source_covariance" "$1" && family+=_cov
    echo "$family"
}

passed=()
single=""
while [ $# -gt 0 ]; do
    case "$1" in
        --enh_configs|--enh-configs)
            [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 1; }
            enh_configs=$2; shift 2 ;;
        --enh_config|--enh-config)
            [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 1; }
            single=$2; shift 2 ;;
        --enh_tag|--enh-tag)
            single=${single:-${enh_configs%% *}}; passed+=("$1"); shift ;;
        *) passed+=("$1"); shift ;;
    esac
done

[ -z "$single" ] || enh_configs=$single   # one model: --enh_config and/or --enh_tag name it
for config in $enh_configs; do
    [ -f "$config" ] || { echo "run.sh: --enh_config $config: no such file" >&2; exit 1; }
    # Experiments are named after their config (exp/enh_<config name>); later options win.
    ./enh.sh "${defaults[@]}" --enh_config "$config" --enh_tag "$(basename "$config" .yaml)" \
        --family "$(family_of "$config")" "${passed[@]}"
done
exit 0
}
