#!/usr/bin/env bash
# VCTK MixIT (unsupervised): a separator with M = 4 or 8 outputs trained on mixtures of
# two mixtures (1-3 speakers each) with efficient MixIT, with and without the sparsity and
# covariance losses, beside a supervised reference (the same model, PIT on the true sources
# of the same mixtures); scored like FUSS (1S, MSi, over-separation) on single test mixtures
# of 1-3 sources. Default: the embedded 300-speaker corpus (db.sh: VCTK empty), 8 kHz, the
# eighteen CPU configs below (the twelve of the first run; the sparsity weights 6.5-8.5 at
# M = 8 and sparse MixIT with the paper's plain projection, refine_sweeps: 0, family
# mixit_sparse_plain_projection), two trainings side by side (--jobs); stage 1 (data) runs
# once.
#   ./run.sh                                      # all eighteen models, stages 1-6
#   ./run.sh --stage 6 --stop-stage 6             # re-score
#   ./run.sh --enh_configs "conf/tuning/train_enh_mixit_sparse_rnn_m8_cpu.yaml" --jobs 1
#   ./run.sh --enh_config conf/tuning/train_enh_mixit_sparse_m8.yaml --enh_tag sparse_m8 --ngpu 1
# Families and the committed RESULTS.md: local/models.sh. Other options go to the shared
# enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header), later options win.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
. local/models.sh  # family_of, model_names, run_model
enh_configs=""
for m in supervised_rnn_m8 mixit_rnn_m8 mixit_sparse_rnn_m8 mixit_rnn_m4 mixit_sparse_cov_rnn_m8 \
         mixit_sparse_rnn_m4 mixit_sparse12_rnn_m8 supervised_silence_rnn_m8 mixit_sparse9_rnn_m8 \
         mixit_sparse2_rnn_m8 supervised_rnn_sigmoid_m8 mixit_rnn_sigmoid_m8 \
         mixit_sparse_plainproj_rnn_m8 mixit_sparse6p5_rnn_m8 mixit_sparse7_rnn_m8 \
         mixit_sparse7p5_rnn_m8 mixit_sparse8_rnn_m8 mixit_sparse8p5_rnn_m8; do
    enh_configs+="conf/tuning/train_enh_${m}_cpu.yaml "
done
defaults=(--fs 8k --corpus_opts "--num_speakers 300"
          --local_data_opts "--segment 3.0 --n_train 4000 --n_dev 200 --n_test 300"
          --validate_opts "--channels 1" --test_sets test --normalize_output_wav false
          --scoring_tool sepplug.bin.score_mixit --score_opts "--threshold_db -20"
          --results_tool sepplug.recipes.mixit.make_results
          --results_title "VCTK MixIT (unsupervised)")
stage=1 stop_stage=6 jobs=2 expdir=exp datadir=data enh_config="" enh_tag=""
recipe_options "stage stop_stage jobs enh_configs enh_config" "expdir datadir enh_tag" "$@"
check_stages "$stage" "$stop_stage" "$jobs"
model_names  # names=(), config_of[name]
run_models "$jobs" "$expdir" "$stage" "$stop_stage" 1 run_model "${names[@]}"
if [ "$stop_stage" -ge 5 ]; then
    plot_curves "VCTK MixIT: SI-SNR loss (of the remixes for MixIT)" "${names[@]}"
fi
exit 0
}
