#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-6 (toy sizes, a few training steps) for CI: a broken
# stage fails it. Everything goes to a temp dir; the recipe's own data/ and exp/ are untouched.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d "${TMPDIR:-/tmp}/sepplug_ci.XXXXXX")
trap 'rm -rf "$work"' EXIT

opts=(--nj 2 --datadir "$work/data" --dumpdir "$work/dump" --expdir "$work/exp"
      --data_opts "--segment 2.0 --n_train 24 --n_dev 4 --n_test 4 --n_hard_extra 4
                   --num_speakers 12 --utts_per_speaker 4 --corpus_dir $work/corpus
                   --wavdir $work/wav"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --valid_batch_size 2")

./run.sh --stage 1 --stop-stage 6 --tag ci_mc "${opts[@]}"
# The stock single-channel ESPnet dprnn on the reference mic, same recipe and scoring.
./run.sh --stage 2 --stop-stage 6 --tag ci_ref "${opts[@]}" \
    --enh_config conf/tuning/train_enh_dprnn_refmic.yaml --input_channels ref

for model in ci_mc ci_ref; do
    for subset in test_easy test_hard test_both; do
        grep -q "^|$model|$subset|4|" "$work/exp/RESULTS.md" \
            || { echo "run_ci.sh: no $model/$subset row in RESULTS.md" >&2; exit 1; }
    done
done
[ -s "$work/exp/results_si_sdri.png" ] || { echo "run_ci.sh: no bar chart" >&2; exit 1; }

# A finished recipe reruns as a no-op.
./run.sh --stage 1 --stop-stage 6 --tag ci_mc "${opts[@]}" >"$work/rerun.log" 2>&1
grep -q "stage 1: .* already complete, skipped" "$work/rerun.log"
grep -q "stage 5: .* already trained, skipped" "$work/rerun.log"

# Bad input: --stage beyond --stop-stage, unknown option, missing checkpoint.
! ./run.sh --stage 6 --stop-stage 5 "${opts[@]}" 2>/dev/null
! ./run.sh --no_such_option 1 2>/dev/null
! ./run.sh --stage 6 --stop-stage 6 --tag never_trained "${opts[@]}" 2>"$work/err.log"
grep -q "checkpoint .* missing" "$work/err.log"
echo "run_ci.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
