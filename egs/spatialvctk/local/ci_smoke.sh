#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-6 (toy sizes, a few training steps) for CI: a broken
# stage fails it. Everything goes to a temp dir; the recipe's own data/ and exp/ are untouched.
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
ci_workdir sepplug_ci

# chunk_length 1 s: ESPnet's chunk iterator skips mixtures not longer than a chunk.
tiny_enh="--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2 --chunk_length 8000"
opts=(--nj 2 --datadir "$work/data" --dumpdir "$work/dump" --expdir "$work/exp"
      --corpus_dir "$work/corpus" --corpus_opts "--num_speakers 12 --utts_per_speaker 4"
      --local_data_opts "--segment 2.0 --n_train 24 --n_dev 4 --n_test 4 --n_hard_extra 4
                         --wav_dir $work/wav"
      --enh_args "$tiny_enh")

# The default: the 6-ch tf_dualpath and the 1-ch stock rnn, trained side by side.
./run.sh --stage 1 --stop-stage 6 "${opts[@]}"
pair=(train_enh_tf_dualpath_cpu_erm:erm train_enh_rnn_1ch_cpu_erm:erm_1ch)
for entry in "${pair[@]}"; do
    for subset in test_easy test_hard test_both; do
        ci_summary_row "$work/exp/results/summary.tsv" "${entry%%:*}" "${entry#*:}" "$subset" si_sdri 4
    done
done
# Distributed training (enh.sh --dist_procs 2: torchrun, 2 CPU processes, gloo) of the 6-ch
# model: its train.log is rank 0's, of a world of 2; stage 6 scores the DDP checkpoint.
./run.sh --stage 5 --stop-stage 6 --enh_tag ci_ddp "${opts[@]}" \
    --enh_config conf/tuning/train_enh_tf_dualpath_cpu.yaml --dist_procs 2
grep -q '^\[[^]]*:0/2\] .*1epoch results: \[train\]' "$work/exp/enh_ci_ddp/train.log" \
    || ci_fail "exp/enh_ci_ddp/train.log is not rank 0's of 2 processes with a trained epoch"
for subset in test_easy test_hard test_both; do
    ci_summary_row "$work/exp/results/summary.tsv" ci_ddp erm "$subset" si_sdri 4
done
# mc_dprnn (the FEABASE tools below use it) and the stock 1-ch dprnn, one model per run.
./run.sh --stage 5 --stop-stage 6 --enh_tag ci_mc "${opts[@]}" \
    --enh_config conf/tuning/train_enh_mc_dprnn_cpu.yaml
# The stock single-channel ESPnet dprnn on the reference mic, same recipe and scoring.
./run.sh --stage 2 --stop-stage 6 --enh_tag ci_ref "${opts[@]}" \
    --enh_config conf/tuning/train_enh_dprnn_refmic.yaml --input_channels ref

for model in ci_mc ci_ref; do
    for subset in test_easy test_hard test_both; do
        grep -q "^|$model|$subset|4|" "$work/exp/RESULTS.md" \
            || ci_fail "no $model/$subset row in RESULTS.md"
    done
done
for metric in si_sdri si_sdr sdri sdr; do
    ci_summary_row "$work/exp/results/summary.tsv" ci_mc erm test_hard "$metric" 4
    ci_summary_row "$work/exp/results/summary.tsv" ci_ref erm_1ch test_both "$metric" 4
done
[ -s "$work/exp/results_si_sdri.png" ] || ci_fail "no bar chart"

# FEABASE pieces: a 2-step FS model (stage 3), the feabase variant (stages 4-6), Table 2
# (FS-transformed test set, spatial-only training, fs_table2), continuing a training.
sed -e 's/^max_epochs:.*/max_epochs: 1/' -e 's/^steps_per_epoch:.*/steps_per_epoch: 2/' \
    -e 's/^num_examples:.*/num_examples: 1/' -e 's/^tensorboard:.*/tensorboard: false/' \
    conf/fs_steer_cpu.yaml >"$work/fs_ci.yaml"
./run.sh --stage 3 --stop-stage 6 --enh_tag ci_feabase --train_variant feabase \
    --fs_config "$work/fs_ci.yaml" "${opts[@]}" --enh_args "$tiny_enh --preprocessor_conf=p=0.5"
[ -s "$work/dump/raw/train_fs_steer/wav.scp" ] || ci_fail "no FS cache"
[ -s "$work/exp/fs_steer/valid.csv" ] || ci_fail "no FS validation log"
ci_summary_row "$work/exp/results/summary.tsv" ci_feabase feabase test_easy si_sdri 4
local/fs_table2.sh --expdir "$work/exp" --datadir "$work/data" --dumpdir "$work/dump" \
    --erm_tag ci_mc --timbre_tag ci_ref --spatial_tag ci_spatial --timbre6_tag ci_hard \
    --enh_args "$tiny_enh" \
    --enh_config conf/tuning/train_enh_mc_dprnn_cpu.yaml \
    --refmic_config conf/tuning/train_enh_dprnn_refmic.yaml
grep -q "^|spatial-only.*|4|$" "$work/exp/fs_steer/table2a_test_both.md" \
    || ci_fail "no Table 2 (a)"
grep -q "paired utterances: 4" "$work/exp/fs_steer/table2b_test_both.txt"
ci_summary_row "$work/exp/results/summary.tsv" ci_spatial easy_only test_both_fs_steer si_sdri 4
ci_summary_row "$work/exp/results/summary.tsv" ci_hard hard_only test_both_fs_steer si_sdri 4
grep -q "^|timbre-only: 6-ch.*|4|$" "$work/exp/fs_steer/table2a_test_both.md" \
    || ci_fail "no 6-ch timbre-only row in Table 2 (a)"
for metric in angle_below_20_share spatial_only_drop_db timbre_only_drop_db timbre6_only_drop_db leak_corr \
              timbre_lsd_db room_lsd_db; do
    ci_summary_row "$work/exp/results/summary.tsv" fs_steer fs_check test_both "$metric" 4
done
[ -s "$work/exp/fs_steer/arrival_order.png" ] || ci_fail "no arrival-order plot"
grep -q "^## Feature-suppression checks" "$work/exp/RESULTS.md" || ci_fail "no FS checks in RESULTS.md"
local/continue_training.sh --src_tag ci_mc --dst_tag ci_mc_e2 --max_epoch 2 "${opts[@]}" \
    --enh_config conf/tuning/train_enh_mc_dprnn_cpu.yaml
grep -q "2/2epoch started" "$work/exp/enh_ci_mc_e2/train.log" \
    || ci_fail "continue_training did not resume at epoch 2"
# Figure 2's warm start: oracle data (train + 2 extra D_hard) from the D_hard-only weights.
./run.sh --stage 4 --stop-stage 6 --enh_tag ci_ws --train_variant oracle_data "${opts[@]}" \
    --enh_config conf/tuning/train_enh_mc_dprnn_cpu.yaml --local_train_opts "--oracle_extra 2" \
    --enh_args "$tiny_enh --init_param $work/exp/enh_ci_hard/valid.loss.best.pth"
grep -q "Loading pretrained params from $work/exp/enh_ci_hard/valid.loss.best.pth" \
    "$work/exp/enh_ci_ws/train.log" || ci_fail "the warm start did not load the D_hard model"
[ "$(wc -l <"$work/dump/raw/train_oracle_data_2_all/wav.scp")" = 26 ] \
    || ci_fail "oracle data is not train (24) + 2 extra D_hard"
# (captured first: `| grep -q` may close the pipe while python still prints, and pipefail
# then fails the step on a BrokenPipeError)
pareto_table=$(python3 -m sepplug.recipes.spatialvctk.plot_pareto --expdir "$work/exp" --out "$work/pareto.png" \
    --include "ci_*" --exclude "*_e2")
grep -q "|ci_feabase|feabase|" <<<"$pareto_table" || ci_fail "no ci_feabase row in the Pareto table"

ci_rerun_is_noop "$work/rerun.log" --stage 1 --stop-stage 6 "${opts[@]}"
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
