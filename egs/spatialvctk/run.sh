#!/usr/bin/env bash
# SpatialVCTK: 2 speakers, 6-mic circular array (r = 7.25 cm), easy/hard/both subsets.
# Default: the embedded corpus (db.sh: VCTK empty), 8 kHz, the CPU config (~20 min on 2 cores).
#
#   ./run.sh --stage 1 --stop-stage 6
#   ./run.sh --stage 5 --stop-stage 6 --enh_config conf/tuning/train_enh_dprnn_refmic.yaml \
#            --input_channels ref                       # stock ESPnet dprnn, reference mic
#   ./run.sh --fs 16k --enh_config conf/tuning/train_enh_mc_dprnn.yaml --ngpu 1  # paper size
#
# The stages are the shared enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header).
set -euo pipefail
cd "$(dirname "$0")"

# Later options win: anything given on the command line overrides these defaults.
# (--stop-stage and --stop_stage both work: enh.sh maps - to _ in option names.)
./enh.sh --fs 8k --enh_config conf/tuning/train_enh_mc_dprnn_cpu.yaml \
    --local_data_opts "--segment 3.0 --n_train 1000 --n_dev 100 --n_test 100 --n_hard_extra 300" \
    --test_sets "test_easy test_hard test_both" --results_title "SpatialVCTK" "$@"
