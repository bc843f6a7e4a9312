#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-9 (toy sizes, two epochs of two steps per model) for CI: a
# broken stage fails it. Everything goes to a temp dir; the recipe's data/ and exp/ are
# untouched. The four trained families (dm, dm_wtl, dm_hm, dm_hm_wtl), two seeds each, and
# the two WVL selections must all be scored on test and test_hard25, with the seed means;
# the pass rebuilds the training
# preprocessor from the runs' config.yaml and checks that it mixes partners of other
# speakers, anew every epoch (sepplug.bin.check_dynamic_mixing).
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
. ./path.sh
ci_workdir sepplug_hard_mining_ci

opts=(--jobs 1 --nj 2 --seeds "0 1" --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--n_dev 3 --n_test 4 --segment 1.0 --wav_dir $work/wav"
      --enh_args "--max_epoch 2 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2")
# Two models side by side (the 2 CI cores); the rerun below keeps --jobs 1, so that every
# stage's skip message reaches its log.
./run.sh "${opts[@]}" --jobs 2

summary=$work/exp/results/summary.tsv
for family in dm dm_wtl dm_wvl dm_wtl_wvl dm_hm dm_hm_wtl; do
    ci_summary_row "$summary" "$family" "$family" test si_snri 4
    grep -q "^$family	$family	test_hard25	si_snri	[1-4]	" "$summary" \
        || ci_fail "no test_hard25 row of $family in $summary"
done
ci_summary_row "$summary" dm_hm dm_hm test si_snri_diff_dm 4
for family in dm dm_wtl dm_wvl dm_wtl_wvl dm_hm dm_hm_wtl; do
    ci_summary_row "$summary" "${family}_seed1" "$family" test si_snri_diff_seed0 4
    ci_summary_row "$summary" "${family}_2seeds" "$family" test si_snri 4
done
ci_summary_row "$summary" dm_hm_2seeds dm_hm test si_snri_diff_dm 4
grep -q "^seed: 1$" "$work/exp/enh_dm_hm_seed1/config.yaml" \
    || ci_fail "dm_hm_seed1 did not train with --seed 1"
for metric in pearson_r_f0 pearson_r_xvector pearson_r_combined; do
    grep -q "^dm	analysis	test	$metric	4	" "$summary" || ci_fail "no $metric row"
done
[ -s "$work/exp/hardness/pairs.tsv" ] && [ -s "$work/exp/hardness/params/eer.json" ] \
    || ci_fail "stage 7 wrote no pair table / EER"
for m in dm dm_wtl dm_hm; do
    grep -q "^utt2spk: $work/data/train/utt2spk$" "$work/exp/enh_$m/config.yaml" \
        || ci_fail "$m did not train with --utt2spk $work/data/train/utt2spk"
    ${python} -m sepplug.bin.check_dynamic_mixing --config "$work/exp/enh_$m/config.yaml" \
        --examples 6 --epochs 2 --out "$work/dm_check_$m.json" \
        || ci_fail "$m does not mix on the fly (see $work/dm_check_$m.json)"
done
grep -q "pair_table: $work/exp/hardness/pairs.tsv" "$work/exp/enh_dm_hm/config.yaml" \
    || ci_fail "dm_hm did not train with the pair table"
[ "$(tail -n +2 "$work/data/test/mixtures.tsv" | wc -l)" -eq 4 ] \
    || ci_fail "data/test/mixtures.tsv does not list the 4 test mixtures"

ci_rerun_is_noop "$work/rerun.log" "${opts[@]}"
ci_bad_input_fails "$work/err.log" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
