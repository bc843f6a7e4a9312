#!/usr/bin/env bash
# Tiny end-to-end pass of stages 1-9 (toy sizes, phase 1: two epochs of two steps, phase 2:
# one more) for CI: a broken stage fails it. Everything goes to a temp dir; the recipe's
# data/ and exp/ are untouched. dm (phase 1), the phase-2 families dm_long, dm_wtl, dm_hm,
# dm_hm_wtl (two seeds each) and the WVL selection dm_wvl must all be scored on test and
# test_hard25, with the seed means paired to dm_long; phase 2 must continue dm's runs (their
# epoch, Adam state); the dm_hm share must be chosen on dev, the other share never scored on
# test. The pass rebuilds the training preprocessor from the runs' config.yaml and checks that
# it mixes partners of other speakers, anew every epoch (sepplug.bin.check_dynamic_mixing).
# Bad input must stop with a clear message and write nothing.
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_smoke.sh)
. utils/recipe_ci.sh
. ./path.sh
ci_workdir sepplug_hard_mining_ci

opts=(--jobs 1 --nj 2 --seeds "0 1" --datadir "$work/data" --expdir "$work/exp" --corpus_dir "$work/corpus"
      --corpus_opts "--num_speakers 12 --utts_per_speaker 4 --num_dev 3 --num_test 3"
      --local_data_opts "--n_dev 3 --n_test 4 --segment 1.0 --wav_dir $work/wav"
      --phase2_epochs 1 --hm_shares "0.2 0.5"
      --enh_args "--max_epoch 2 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2")
# Two models side by side (the 2 CI cores); the rerun below keeps --jobs 1, so that every
# stage's skip message reaches its log.
./run.sh "${opts[@]}" --jobs 2

exp=$work/exp
summary=$exp/results/summary.tsv
share=$(cat "$exp/hardness/hm_share/chosen")
[ "$share" = 0.2 ] || [ "$share" = 0.5 ] || ci_fail "stage 8 chose hard share '$share'"
other=$([ "$share" = 0.2 ] && echo 0.5 || echo 0.2)
[ -s "$exp/enh_dm_hm_share$other/enhanced_dev/scoring/per_utt.tsv" ] \
    || ci_fail "the share $other was not scored on dev"
[ ! -e "$exp/enh_dm_hm_share$other/enhanced_test" ] || ci_fail "the share $other was scored on test"
declare -A run_of=([dm]=dm [dm_long]=dm_long [dm_wtl]=dm_wtl [dm_wvl]=dm_wvl
                   [dm_hm]=dm_hm_share$share [dm_hm_wtl]=dm_hm_wtl_share$share)
for family in dm dm_long dm_wtl dm_wvl dm_hm dm_hm_wtl; do
    run=${run_of[$family]}
    ci_summary_row "$summary" "$run" "$family" test si_snri 4
    grep -q "^$run	$family	test_hard25	si_snri	[1-4]	" "$summary" \
        || ci_fail "no test_hard25 row of $run in $summary"
    ci_summary_row "$summary" "${run}_seed1" "$family" test si_snri_diff_seed0 4
    ci_summary_row "$summary" "${family}_2seeds" "$family" test si_snri 4
    [ "$family" = dm ] && continue
    base=$([ "$family" = dm_long ] && echo dm || echo dm_long)
    ci_summary_row "$summary" "$run" "$family" test "si_snri_diff_$base" 4
    ci_summary_row "$summary" "${family}_2seeds" "$family" test "si_snri_diff_${base}_over_seeds" 2
    [ "$family" = dm_wvl ] && continue
    # phase 2 continued dm's run of its seed: epoch 3 only, from dm's checkpoint
    for seed_run in "$run:dm" "${run}_seed1:dm_seed1"; do
        dir=$exp/enh_${seed_run%%:*}
        grep -q "^continue_from: $exp/enh_${seed_run#*:}/checkpoint.pth$" "$dir/config.yaml" \
            || ci_fail "${seed_run%%:*} did not continue ${seed_run#*:}"
        grep -q "continuing .* (epoch 2: model, optimizer, scheduler" "$dir/train.log" \
            || ci_fail "${seed_run%%:*}'s train.log does not say what it continued"
        [ "$(cd "$dir" && ls ./*epoch.pth)" = "./3epoch.pth" ] \
            || ci_fail "${seed_run%%:*} trained other epochs than phase 2's epoch 3"
    done
done
grep -q "^seed: 1$" "$exp/enh_dm_hm_share${share}_seed1/config.yaml" \
    || ci_fail "dm_hm_share${share}_seed1 did not train with --seed 1"
for metric in pearson_r_f0 pearson_r_xvector pearson_r_combined; do
    grep -q "^dm	analysis	test	$metric	4	" "$summary" || ci_fail "no $metric row"
done
for f in pairs.tsv params/eer.json dev_hard.list test_hard.list; do
    [ -s "$exp/hardness/$f" ] || ci_fail "stage 7 wrote no $exp/hardness/$f"
done
for m in dm dm_wtl "dm_hm_share$share"; do
    grep -q "^utt2spk: $work/data/train/utt2spk$" "$exp/enh_$m/config.yaml" \
        || ci_fail "$m did not train with --utt2spk $work/data/train/utt2spk"
    ${python} -m sepplug.bin.check_dynamic_mixing --config "$exp/enh_$m/config.yaml" \
        --examples 6 --epochs 2 --out "$work/dm_check_$m.json" \
        || ci_fail "$m does not mix on the fly (see $work/dm_check_$m.json)"
done
for line in "pair_table: $exp/hardness/pairs.tsv" "hard_share: $share"; do
    grep -q "$line" "$exp/enh_dm_hm_share$share/config.yaml" \
        || ci_fail "dm_hm_share$share did not train with $line"
done
[ "$(tail -n +2 "$work/data/test/mixtures.tsv" | wc -l)" -eq 4 ] \
    || ci_fail "data/test/mixtures.tsv does not list the 4 test mixtures"

ci_rerun_is_noop "$work/rerun.log" "${opts[@]}"
ci_bad_input_fails "$work/err.log" "${opts[@]}"
local/ci_bad_phase_two.sh "$work" "${opts[@]}"
echo "ci_smoke.sh: recipe smoke run passed"
cat "$work/exp/RESULTS.md"
