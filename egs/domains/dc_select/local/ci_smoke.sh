#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-7 (toy sizes, two training steps per domain model, DC
# and mask-based) for CI:
# a broken stage fails it. Everything goes to a temp dir; the recipe's data/ and exp/ are
# untouched.
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
ci_workdir sepplug_select_ci

opts=(--jobs 1 --nj 2 --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--segment 1.0 --n_train 8 --n_dev 2 --n_test 3"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2")

# Two models side by side (the 2 CI cores); the rerun below keeps --jobs 1, so that every
# stage's skip message reaches its log.
./run.sh "${opts[@]}" --jobs 2

summary=$work/exp/results/summary.tsv
for d in speech music env; do
    for kind in dc mask; do
        for model in speech music env; do
            ci_summary_row "$summary" "${kind}_$model" single "${d}_test" sdr 3
        done
        for ensemble in oracle random confidence; do
            ci_summary_row "$summary" "${kind}_$ensemble" "$ensemble" "${d}_test" si_sdr 3
        done
        [ "$(wc -l <"$work/exp/select/$kind/${d}_test/confidence.tsv")" -eq 4 ] \
            || ci_fail "no 3 confidences in exp/select/$kind/${d}_test"
    done
    ci_summary_row "$summary" mask_confidence-dc_confidence analysis "${d}_test" sdr_diff 3
done
for kind in dc mask; do
    grep -q "^### Table 2, $kind" "$work/exp/RESULTS.md" || ci_fail "no $kind confusion matrix"
    grep -q "Figure 3, ${kind}_music on music_test: r = " "$work/exp/RESULTS.md" \
        || ci_fail "no $kind Figure 3 r"
    grep -q "^enh_${kind}_env	valid/loss	1	" "$work/exp/learning_curves_$kind.tsv" \
        || ci_fail "no $kind learning curve"
done
[ -s "$work/exp/confidence_vs_sdr.png" ] || ci_fail "no scatter plot"

ci_rerun_is_noop "$work/rerun.log" "${opts[@]}"
grep -q "stage 7: .* already selected, skipped" "$work/rerun.log" || ci_fail "stage 7 reran"
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
