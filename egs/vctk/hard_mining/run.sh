#!/usr/bin/env bash
# VCTK 2-speaker separation with dynamic mixing (DM) and hard-sample mining ("Mining hard
# samples locally and globally for improved speech separation") as a second training phase:
# dm trains first; dm_long, dm_hm, dm_wtl, dm_hm_wtl continue each dm run for
# --phase2_epochs more epochs, dm_wvl selects among dm_long's (local/runs.sh); --seeds
# "0 1 2" runs per family; SI-SNRi on 1000 fixed test mixtures of unseen speakers and their
# hardest 25 % (predicted from the speakers' median F0 and embeddings before any variant is
# scored), every phase-2 family paired to dm_long (equal steps).
# Stages: 1-6 the shared enh.sh (egs/TEMPLATE/enh1/enh.sh) for dm (data made once, then
# --jobs runs at once); 7 speaker parameters, analysis, hardness predictor (dm's dev scores)
# -> pair table, test_hard.list, dev_hard.list (local/hardness.sh); 8 phase 2: dm_hm at each
# --hm_shares and dm_long on dev, the share chosen on dev, then the rest (enh.sh 5-6); 9 the
# WVL checkpoints (enh.sh 6), RESULTS.md, results/summary.tsv.
#   ./run.sh                               # stages 1-9 (embedded 300-speaker corpus, 8 kHz)
#   ./run.sh --stage 9 --stop-stage 9      # re-report
#   ./run.sh --enh_args "--max_epoch 2" --seeds "0 1"   # extra enh_train args, seeds per family
# Other options go to enh.sh (see its header), later options win.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh
. local/runs.sh  # check_seeds, check_phase_two, runs_of, enh_run, phase_two, report
stage=1 stop_stage=9 jobs=2 enh_args="" seeds="0 1 2" phase2_epochs=6 hm_shares="0.2 0.35 0.5"
datadir=data expdir=exp train_set=train corpus_dir=db/embedded_corpus
recipe_options "stage stop_stage jobs enh_args seeds phase2_epochs hm_shares" "datadir expdir train_set corpus_dir" "$@"
check_stages "$stage" "$stop_stage" "$jobs"
check_seeds
check_phase_two
defaults=(--fs 8k --corpus_opts "--num_speakers 300" --local_data_opts "--n_dev 200 --n_test 1000"
          --validate_opts "--channels 1" --test_sets "dev test"
          --results_tool sepplug.recipes.hard_mining.make_results
          --results_title "VCTK 2-speaker dynamic mixing and hard-sample mining")
# shellcheck disable=SC2046  # one word per run name
run_models "$jobs" "$expdir" "$stage" "$(( stop_stage < 6 ? stop_stage : 6 ))" 4 enh_run \
    $(runs_of dm)
[ "$stage" -gt 7 ] || [ "$stop_stage" -lt 7 ] \
    || local/hardness.sh --expdir "$expdir" --datadir "$datadir" --corpus_dir "$corpus_dir"
# (functions run in if-bodies: in a || list set -e would not stop them at a failed step)
if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then phase_two; fi
if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 9 ]; then report; fi
exit 0
}
