#!/usr/bin/env bash
# Semantic MixIT on open-domain mixtures (Wisdom et al. 2021, the semantic loss): an M = 8
# separator trained on mixtures of two mixtures of 1-4 sources of ten classes (speech, four
# instrument families, five environmental classes; local/data.sh), with MixIT, sparse MixIT,
# and each with the semantic classification loss of a frozen sound classifier (stage 3,
# local/augment.sh), beside a supervised reference; scored like FUSS (1S, MSi,
# over-separation) plus the class purity of the outputs, on single test mixtures of 1-4 sources.
#   ./run.sh                                      # all five models, stages 1-6
#   ./run.sh --seeds "0 1"                        # a second seed of every model
#   ./run.sh --stage 6 --stop-stage 6             # re-score
# Families and the committed RESULTS.md: local/models.sh. Other options go to the shared
# enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header), later options win.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
. local/models.sh  # family_of, model_names, run_model
enh_configs=""
for m in supervised mixit mixit_sparse mixit_sparse_semantic mixit_semantic; do
    enh_configs+="conf/tuning/train_enh_${m}_rnn_m8_cpu.yaml "
done
defaults=(--fs 8k --local_data_opts "--segment 3.0 --n_train 4000 --n_dev 200 --n_test 400"
          --validate_opts "--channels 1" --test_sets test --normalize_output_wav false
          --scoring_tool sepplug.bin.score_mixit --score_opts "--threshold_db -20"
          --results_tool sepplug.recipes.mixit_semantic.make_results
          --results_title "Open-domain semantic MixIT")
stage=1 stop_stage=6 jobs=2 seeds=0 expdir=exp datadir=data enh_config="" enh_tag=""
recipe_options "stage stop_stage jobs enh_configs enh_config seeds" "expdir datadir enh_tag" "$@"
check_stages "$stage" "$stop_stage" "$jobs"
model_names  # names=(), config_of[name], seed_of[name]
run_models "$jobs" "$expdir" "$stage" "$stop_stage" 3 run_model "${names[@]}"
if [ "$stop_stage" -ge 5 ]; then
    plot_curves "Open-domain MixIT: SI-SNR loss (of the remixes for MixIT)" "${names[@]}"
fi
exit 0
}
