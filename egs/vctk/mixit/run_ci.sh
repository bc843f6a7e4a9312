#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-6 (toy sizes, two training steps per model) for CI: a
# broken stage fails it. Everything goes to a temp dir; the recipe's data/ and exp/ are
# untouched. Two models cover both output counts and both losses: M = 4 plain MixIT and
# M = 8 sparse MixIT.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d "${TMPDIR:-/tmp}/sepplug_mixit_ci.XXXXXX")
trap 'rm -rf "$work"' EXIT

opts=(--nj 2 --datadir "$work/data" --expdir "$work/exp"
      --data_opts "--segment 1.0 --n_train 8 --n_dev 4 --n_test 6 --num_speakers 12
                   --utts_per_speaker 4 --num_dev_speakers 3 --num_test_speakers 3
                   --corpus_dir $work/corpus --wavdir $work/wav"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --chunk_length 4000
                  --valid_batch_size 2")
models="train_enh_mixit_m4_cpu train_enh_mixit_sparse_m8_cpu"
configs=""
for m in $models; do configs+=" conf/tuning/$m.yaml"; done

./run.sh --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}"

results=$work/exp/RESULTS.md
grep -q "^|train_enh_mixit_m4_cpu|test|4|none|2|4|" "$results" \
    || { echo "run_ci.sh: no M = 4 row in $results" >&2; exit 1; }
grep -q "^|train_enh_mixit_sparse_m8_cpu|test|8|mixit_sparsity 6, source_covariance 2|2|4|" \
    "$results" || { echo "run_ci.sh: no sparse M = 8 row in $results" >&2; exit 1; }
[ "$(find "$work/exp/enh_train_enh_mixit_sparse_m8_cpu/enhanced_test" -maxdepth 1 \
     -name 'spk*.scp' | wc -l)" -eq 8 ] || { echo "run_ci.sh: M = 8 model gave no 8 outputs" >&2; exit 1; }

# A finished recipe reruns as a no-op.
./run.sh --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}" >"$work/rerun.log" 2>&1
grep -q "stage 1: .* already complete, skipped" "$work/rerun.log"
grep -q "stage 4: .* already trained, skipped" "$work/rerun.log"
grep -q "stage 6: .* already scored, skipped" "$work/rerun.log"

# Bad input: --stage beyond --stop-stage, unknown option, missing checkpoint.
! ./run.sh --stage 6 --stop-stage 5 "${opts[@]}" 2>/dev/null
! ./run.sh --no_such_option 1 2>/dev/null
! ./run.sh --stage 5 --stop-stage 6 --tag never_trained "${opts[@]}" 2>"$work/err.log"
grep -q "checkpoint .* missing" "$work/err.log"
echo "run_ci.sh: recipe smoke run passed"
cat "$results"
