#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-6 (toy sizes, two training steps per model) for CI: a
# broken stage fails it. Everything goes to a temp dir; the recipe's db/, data/ and exp/ are
# untouched. Two models, side by side: sparse + semantic MixIT (the clip pool, its labels,
# the classifier of stage 3 and the semantic loss fed by the labels) and the supervised
# reference (train_sup view, pit_hungarian); the scorer's class purity on both.
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
ci_workdir sepplug_mixit_semantic_ci

# The semantic config names its classifier under exp/: point it at the toy run's.
mkdir -p "$work/conf"
sed "s#exp/classifier/classifier.pth#$work/exp/classifier/classifier.pth#" \
    conf/tuning/train_enh_mixit_sparse_semantic_rnn_m8_cpu.yaml \
    >"$work/conf/train_enh_mixit_sparse_semantic_rnn_m8_cpu.yaml"
grep -q "$work/exp/classifier" "$work/conf/train_enh_mixit_sparse_semantic_rnn_m8_cpu.yaml" \
    || ci_fail "the semantic config names no exp/classifier/classifier.pth"
configs="conf/tuning/train_enh_supervised_rnn_m8_cpu.yaml
         $work/conf/train_enh_mixit_sparse_semantic_rnn_m8_cpu.yaml"
opts=(--nj 2 --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--groups 2,2,2 --clips 2 --pool_dir $work/pool --segment 1.0
                         --n_train 8 --n_dev 4 --n_test 8 --wav_dir $work/wav"
      --local_train_opts "--steps 4 --eval_every 2 --batch_size 4 --segment 0.5"
      --enh_args "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --chunk_length 4000
                  --valid_batch_size 2")

./run.sh --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}"

for f in labels_ref1 labels_ref2; do
    [ "$(wc -l <"$work/data/train/$f")" -eq 8 ] || ci_fail "$work/data/train/$f: not 8 lines"
    awk 'NF != 11 { exit 1 }' "$work/data/train/$f" || ci_fail "$f: not 10 classes a line"
done
[ -s "$work/exp/classifier/classifier.pth" ] || ci_fail "stage 3 trained no classifier"
semantic=$work/exp/enh_train_enh_mixit_sparse_semantic_rnn_m8_cpu
grep -q "labels_ref2" "$semantic/config.yaml" || ci_fail "the semantic model read no labels"
grep -q "semantic_classification" "$semantic/train.log" \
    || ci_fail "no semantic_classification loss in $semantic/train.log"
head -1 "$semantic/enhanced_test/scoring/per_example.tsv" | grep -q class_purity \
    || ci_fail "the scorer gave no class purity"
summary=$work/exp/results/summary.tsv
ci_summary_row "$summary" train_enh_mixit_sparse_semantic_rnn_m8_cpu mixit_sparse_semantic \
    test os_1s 2
ci_summary_row "$summary" train_enh_supervised_rnn_m8_cpu supervised test_ms active_outputs 6
ci_summary_row "$summary" classifier classifier test_clips accuracy 48
grep -q "^|train_enh_mixit_sparse_semantic_rnn_m8_cpu|test|mixit_sparse_semantic|0|" \
    "$work/exp/RESULTS.md" || ci_fail "no semantic row in $work/exp/RESULTS.md"

ci_rerun_is_noop "$work/rerun.log" --stage 1 --stop-stage 6 --enh_configs "$configs" "${opts[@]}" \
    --jobs 1  # one at a time: every stage's skip message reaches the log
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
