#!/usr/bin/env bash
# SpatialVCTK: 2 speakers, 6-mic circular array (r = 7.25 cm), easy/hard/both subsets.
# Default: the embedded corpus (db.sh: VCTK empty; 300 synthetic speakers), 8 kHz, CPU configs.
#   ./run.sh     # stages 1-6 of the default pair side by side (one CPU thread each):
#                # the 6-ch tf_dualpath (family erm) and the reference-mic rnn (erm_1ch)
#   ./run.sh --stage 5 --stop-stage 6 --enh_config conf/tuning/train_enh_dprnn_refmic.yaml \
#            --input_channels ref    # one model (--enh_config or --enh_tag), as enh.sh trains it
#   ./run.sh --fs 16k --enh_config conf/tuning/train_enh_mc_dprnn.yaml --ngpu 1  # paper size
# FEABASE (run_feabase.sh): --train_variant oracle_data|oracle_re:...|feabase (local/train_data.sh),
# --fs_config YAML --fs_tag NAME (local/augment.sh); other options go to enh.sh.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
config_6ch=conf/tuning/train_enh_tf_dualpath_cpu.yaml
config_1ch=conf/tuning/train_enh_rnn_1ch_cpu.yaml
stage=1 stop_stage=6 expdir=exp enh_config="" enh_tag="" fs_config="" fs_tag=fs_steer
recipe_options "stage stop_stage fs_config fs_tag local_train_opts" "expdir enh_config enh_tag" "$@"
check_stages "$stage" "$stop_stage"
opts=(--fs 8k --enh_config "$config_6ch" --corpus_opts "--num_speakers 300"
      --local_data_opts "--segment 3.0 --n_train 2000 --n_dev 90
                         --dev_ratios easy=0.34,hard=0.33,both=0.33 --n_test 200 --n_hard_extra 2000"
      --test_sets "test_easy test_hard test_both" --results_title "SpatialVCTK"
      --local_train_opts "--fs_tag $fs_tag${fs_config:+ --fs_config $fs_config} ${local_train_opts:-}"
      --results_tool sepplug.recipes.spatialvctk.make_results "${passed[@]}")
[ -z "$enh_config$enh_tag" ] || exec ./enh.sh "${opts[@]}" --stage "$stage" --stop_stage "$stop_stage"
model() {  # model 6ch|1ch|'' FROM TO: enh.sh stages FROM-TO of that model ('': the data)
    local m=()
    [ "$1" != 6ch ] || m=(--enh_config "$config_6ch" --family erm)
    [ "$1" != 1ch ] || m=(--enh_config "$config_1ch" --input_channels ref --family erm_1ch)
    ./enh.sh "${opts[@]}" "${m[@]}" --stage "$2" --stop_stage "$3"
    if [ -z "$1" ] && [ "$2" -le 2 ] && [ "$3" -ge 2 ]; then model 1ch 2 2; fi  # ref-mic copies
}
run_models --echo 2 "$expdir" "$stage" "$stop_stage" 4 model 6ch 1ch
if [ "$stop_stage" -ge 6 ]; then  # both models in one RESULTS.md (each run wrote its own)
    ./enh.sh "${opts[@]}" --stage 6 --stop_stage 6 >/dev/null
    log "$expdir/RESULTS.md, $expdir/results/summary.tsv"
fi
exit 0
}
