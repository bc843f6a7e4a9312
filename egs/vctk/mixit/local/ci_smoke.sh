#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-6 (toy sizes, two training steps per model) for CI: a
# broken stage fails it. Everything goes to a temp dir; the recipe's data/ and exp/ are
# untouched. Three models, two at a time, cover both output counts, the regularisers and the
# supervised reference: M = 4 plain MixIT, M = 8 sparse MixIT with the covariance loss, and
# the M = 8 supervised model (trained on the train_sup view, wrapper pit_hungarian).
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
ci_workdir sepplug_mixit_ci

opts=(--nj 2 --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--segment 1.0 --n_train 8 --n_dev 4 --n_test 6 --num_dev_speakers 3
                         --num_test_speakers 3 --wav_dir $work/wav"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --chunk_length 4000
                  --valid_batch_size 2")
models="train_enh_supervised_rnn_m8_cpu train_enh_mixit_rnn_m4_cpu
        train_enh_mixit_sparse_cov_rnn_m8_cpu"
configs=""
for m in $models; do configs+=" conf/tuning/$m.yaml"; done

./run.sh --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}"

results=$work/exp/RESULTS.md
grep -q "^|train_enh_mixit_rnn_m4_cpu|test|4|none|2|4|" "$results" \
    || ci_fail "no M = 4 row in $results"
grep -q "^|train_enh_mixit_sparse_cov_rnn_m8_cpu|test|8|mixit_sparsity 6, source_covariance 2|2|4|" \
    "$results" || ci_fail "no sparse M = 8 row in $results"
grep -q "^|train_enh_supervised_rnn_m8_cpu|test|8|none|2|4|" "$results" \
    || ci_fail "no supervised row in $results"
for m in supervised_rnn_m8 mixit_sparse_cov_rnn_m8; do
    [ "$(find "$work/exp/enh_train_enh_${m}_cpu/enhanced_test" -maxdepth 1 \
         -name 'spk*.scp' | wc -l)" -eq 8 ] || ci_fail "$m gave no 8 outputs"
done
grep -q "speech_ref3" "$work/exp/enh_train_enh_supervised_rnn_m8_cpu/config.yaml" \
    || ci_fail "the supervised model did not train on three references (train_sup)"
[ -s "$work/exp/learning_curves.png" ] && [ -s "$work/exp/learning_curves.tsv" ] \
    || ci_fail "no learning curves in $work/exp"
summary=$work/exp/results/summary.tsv
ci_summary_row "$summary" train_enh_mixit_rnn_m4_cpu mixit test os_rate_1s 2
ci_summary_row "$summary" train_enh_mixit_sparse_cov_rnn_m8_cpu mixit_sparse_cov test os_rate_ms 4
ci_summary_row "$summary" train_enh_mixit_sparse_cov_rnn_m8_cpu mixit_sparse_cov test us_rate_ms 4
ci_summary_row "$summary" train_enh_supervised_rnn_m8_cpu supervised test os_rate_ms 4

ci_rerun_is_noop "$work/rerun.log" --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}" \
    --jobs 1  # one at a time: every stage's skip message reaches the log
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$results"
