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

# FEABASE pieces: a 2-step FS model (stage 3), the feabase variant (stages 4-6), Table 2
# (FS-transformed test set, spatial-only training, fs_table2), continuing a training.
tiny_enh="--max_epoch 1 --num_iters_per_epoch 2 --valid_batch_size 2"
sed -e 's/^max_epochs:.*/max_epochs: 1/' -e 's/^steps_per_epoch:.*/steps_per_epoch: 2/' \
    -e 's/^num_examples:.*/num_examples: 1/' -e 's/^tensorboard:.*/tensorboard: false/' \
    conf/fs_cyclegan_cpu.yaml >"$work/fs_ci.yaml"
./run.sh --stage 3 --stop-stage 6 --tag ci_feabase --train_variant feabase \
    --fs_config "$work/fs_ci.yaml" "${opts[@]}" --enh_args "$tiny_enh --preprocessor_conf=p=0.5"
[ -s "$work/dump/raw/train_fs_cyclegan/wav.scp" ] || { echo "run_ci.sh: no FS cache" >&2; exit 1; }
local/fs_table2.sh --expdir "$work/exp" --datadir "$work/data" --dumpdir "$work/dump" \
    --erm_tag ci_mc --timbre_tag ci_ref --spatial_tag ci_spatial --enh_args "$tiny_enh"
grep -q "^|spatial-only.*|4|$" "$work/exp/fs_cyclegan/table2a_test_both.md" \
    || { echo "run_ci.sh: no Table 2 (a)" >&2; exit 1; }
grep -q "paired utterances: 4" "$work/exp/fs_cyclegan/table2b_test_both.txt"
local/continue_training.sh --src_tag ci_mc --dst_tag ci_mc_e2 --max_epoch 2 "${opts[@]}"
grep -q "2/2epoch started" "$work/exp/enh_ci_mc_e2/train.log" \
    || { echo "run_ci.sh: continue_training did not resume at epoch 2" >&2; exit 1; }
python3 -m sepplug.bin.plot_pareto --expdir "$work/exp" --out "$work/pareto.png" \
    --include "ci_*" --exclude "*_e2" | grep -q "|ci_feabase|feabase|"

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
