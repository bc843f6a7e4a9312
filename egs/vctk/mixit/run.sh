#!/usr/bin/env bash
# VCTK MixIT (unsupervised): a separator with M = 4 or 8 outputs trained on mixtures of
# two mixtures (1-3 speakers each) with efficient MixIT, with and without the sparsity
# loss; scored like FUSS (1S, MSi, over-separation) on single test mixtures of 1-3 sources.
# Default: the embedded corpus (db.sh: VCTK empty), 8 kHz, the four CPU configs in turn.
#
#   ./run.sh                                      # all four models, stages 1-6
#   ./run.sh --stage 5 --stop-stage 6             # re-separate / re-score
#   ./run.sh --enh_configs "conf/tuning/train_enh_mixit_sparse_m8_cpu.yaml"
#   ./run.sh --enh_config conf/tuning/train_enh_mixit_sparse_m8.yaml --tag sparse_m8 --ngpu 1
#
# Other options go to enh.sh (see its header); later options win.
set -euo pipefail
cd "$(dirname "$0")"

fs=8k
enh_configs="conf/tuning/train_enh_mixit_m4_cpu.yaml conf/tuning/train_enh_mixit_sparse_m4_cpu.yaml
             conf/tuning/train_enh_mixit_m8_cpu.yaml conf/tuning/train_enh_mixit_sparse_m8_cpu.yaml"
data_opts="--segment 3.0 --n_train 2000 --n_dev 200 --n_test 300"

passed=()
single=false
while [ $# -gt 0 ]; do
    case "$1" in
        --enh_configs|--enh-configs)
            [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 1; }
            enh_configs=$2; shift 2 ;;
        --enh_config|--enh-config|--tag)
            single=true; passed+=("$1"); shift ;;
        *) passed+=("$1"); shift ;;
    esac
done

if $single; then  # one model: --enh_config and/or --tag name it
    exec ./enh.sh --fs "$fs" --data_opts "$data_opts" "${passed[@]}"
fi
for config in $enh_configs; do
    ./enh.sh --fs "$fs" --data_opts "$data_opts" --enh_config "$config" "${passed[@]}"
done
