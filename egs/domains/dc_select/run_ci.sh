#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-7 (toy sizes, two training steps per domain model) for CI:
# a broken stage fails it. Everything goes to a temp dir; the recipe's data/ and exp/ are
# untouched.
set -euo pipefail
cd "$(dirname "$0")"
. utils/recipe_ci.sh
ci_workdir sepplug_select_ci

opts=(--jobs 1 --nj 2 --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--segment 1.0 --n_train 8 --n_dev 2 --n_test 3"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2")

./run.sh "${opts[@]}"

summary=$work/exp/results/summary.tsv
for d in speech music env; do
    for model in dc_speech dc_music dc_env; do
        ci_summary_row "$summary" "$model" single "${d}_test" sd_sdr 3
    done
    for ensemble in oracle random confidence; do
        ci_summary_row "$summary" "$ensemble" "$ensemble" "${d}_test" si_sdr 3
    done
    [ "$(wc -l <"$work/exp/select/${d}_test/confidence.tsv")" -eq 4 ] \
        || ci_fail "no 3 confidences in exp/select/${d}_test"
done
grep -q "^### Table 2" "$work/exp/RESULTS.md" || ci_fail "no confusion matrix in RESULTS.md"
grep -q "Figure 3, dc_music on music_test: r = " "$work/exp/RESULTS.md" || ci_fail "no Figure 3 r"
[ -s "$work/exp/confidence_vs_sdr.png" ] || ci_fail "no scatter plot"
grep -q "^enh_dc_env	valid/loss	1	" "$work/exp/learning_curves.tsv" || ci_fail "no learning curve"

ci_rerun_is_noop "$work/rerun.log" "${opts[@]}"
grep -q "stage 7: .* already selected, skipped" "$work/rerun.log" || ci_fail "stage 7 reran"
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "run_ci.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
