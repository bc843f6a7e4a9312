#!/usr/bin/env bash
# CI: the recipe's jobs through utils/slurm.pl on a real Slurm (tools/slurm_local.sh's
# one-node cluster on this machine; installed from the distribution's packages if missing).
#   1. the toy SpatialVCTK recipe (ci_smoke.sh's sizes), stages 1-6 with cmd_backend=slurm
#      and --ngpu 0: one job array per job step (stage 1's simulation, JOB=1:--nj; stage 5's
#      statistics and training; stage 6's inference, one per test set), each task's log
#      ending with "# Ended (code 0)", and the scores in results/summary.tsv;
#   2. failures: an array whose task 2 exits 3 fails slurm.pl, which names log.2; a training
#      that fails under Slurm fails stage 5, naming its log;
#   3. tests/test_slurm_real.py (slurm.pl's options, throttle, cancel on TERM) on the cluster.
# The cluster lives in the temp dir and is stopped on exit, also after a failure (when the
# daemons' log tails are printed first). Needs root; a machine with a Slurm of its own is
# refused (tools/slurm_local.sh). Relies on enh.sh's stage 5 running
# `${cuda_cmd} --gpu "$ngpu" ...`: cmd.sh's cuda_cmd asks for a GPU (`slurm.pl --gpu 1`),
# which this GPU-less node refuses; --ngpu 0 must turn that into `--gpu 0` (no GRES).
set -euo pipefail
cd "$(dirname "$0")/.."  # the recipe dir (this script is its local/ci_slurm.sh)
. utils/recipe_ci.sh
ci_workdir sepplug_ci_slurm
repo=$(cd ../.. && pwd)
slurm_local=$repo/tools/slurm_local.sh
export SEPPLUG_SLURM_DIR=$work/slurm

# On exit (any exit): the daemons' log tails after a failure, then stop them, then remove
# the work dir (ci_workdir's trap, replaced here).
finish() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for f in "$SEPPLUG_SLURM_DIR"/log/*.log; do
            [ -f "$f" ] || continue
            echo "---- ci_slurm.sh failed: the last 20 lines of $(basename "$f"):" >&2
            tail -n 20 "$f" >&2
        done
    fi
    "$slurm_local" stop || echo "ci_slurm.sh: tools/slurm_local.sh stop failed" >&2
    rm -rf "$work"
    exit "$rc"
}
trap finish EXIT

t0=$(date +%s)
"$slurm_local" start
# shellcheck source=/dev/null  # (written by tools/slurm_local.sh start)
. "$SEPPLUG_SLURM_DIR/env.sh"  # SLURM_CONF: sbatch, squeue, scontrol find the cluster
echo "ci_slurm.sh: Slurm up in $(( $(date +%s) - t0 ))s"

# ---- 1. the recipe, stages 1-6 through slurm.pl -------------------------------------
export cmd_backend=slurm  # cmd.sh: train_cmd/decode_cmd=utils/slurm.pl, cuda_cmd=... --gpu 1
tiny_enh="--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2 --chunk_length 8000"
opts=(--nj 2 --datadir "$work/data" --dumpdir "$work/dump" --expdir "$work/exp"
      --corpus_dir "$work/corpus" --corpus_opts "--num_speakers 12 --utts_per_speaker 4"
      --local_data_opts "--segment 2.0 --n_train 24 --n_dev 4 --n_test 4 --n_hard_extra 4
                         --wav_dir $work/wav"
      --enh_config conf/tuning/train_enh_tf_dualpath_cpu.yaml --ngpu 0)
t1=$(date +%s)
./run.sh --stage 1 --stop-stage 6 --enh_tag ci_slurm "${opts[@]}" --enh_args "$tiny_enh"
echo "ci_slurm.sh: stages 1-6 under Slurm in $(( $(date +%s) - t1 ))s"

# ended_ok LOG: the log slurm.pl's job wrote, ending with code 0.
ended_ok() {
    [ -f "$1" ] || ci_fail "no job log $1"
    [ "$(tail -n 1 "$1" | grep -c '^# Ended (code 0)')" = 1 ] \
        || ci_fail "$1 does not end with '# Ended (code 0)': $(tail -n 3 "$1")"
}
ended_ok "$work/data/log/simulate.1.log"
ended_ok "$work/data/log/simulate.2.log"
[ -s "$work/data/log/q/simulate.sh" ] || ci_fail "no batch script data/log/q/simulate.sh"
stats_log=$(compgen -G "$work/exp/enh_stats_*/logdir/stats.log" | head -n 1) \
    || ci_fail "no collect-stats log under $work/exp/enh_stats_*/logdir"
ended_ok "$stats_log"
ended_ok "$work/exp/enh_ci_slurm/train.log"
[ -s "$work/exp/enh_ci_slurm/valid.loss.best.pth" ] || ci_fail "stage 5 left no checkpoint"
test_sets=(test_easy test_hard test_both)
for s in "${test_sets[@]}"; do
    ended_ok "$work/exp/enh_ci_slurm/enhanced_$s/logdir/inference.log"
    ci_summary_row "$work/exp/results/summary.tsv" ci_slurm erm "$s" si_sdri 4
done

# What Slurm ran (no accounting here, but finished jobs stay in squeue -t all): one job array
# per step (stage 6: one per test set), every task COMPLETED; JOB=1:2 -> tasks 1 and 2.
jobs=$(squeue -h -t all -o '%F %K %j %T')
echo "ci_slurm.sh: Slurm's jobs (array job, task, name, state):"
echo "$jobs"
# check_job NAME N TASKS: N jobs named NAME, whose tasks (%K: N/A when not an array) are
# TASKS (sorted), all COMPLETED.
check_job() {
    local rows arrays tasks states
    rows=$(awk -v n="$1" '$3 == n' <<<"$jobs")
    arrays=$(awk '{ print $1 }' <<<"$rows" | sort -u | wc -l)
    [ -n "$rows" ] || ci_fail "Slurm ran no job named $1"
    [ "$arrays" = "$2" ] || ci_fail "$arrays Slurm jobs named $1, not $2"
    tasks=$(awk '{ print $2 }' <<<"$rows" | sort -n | tr '\n' ' ' | sed 's/ $//')
    [ "$tasks" = "$3" ] || ci_fail "job $1 ran tasks '$tasks', not '$3'"
    states=$(awk '{ print $4 }' <<<"$rows" | sort -u | tr '\n' ' ' | sed 's/ $//')
    [ "$states" = COMPLETED ] || ci_fail "job $1's tasks ended $states"
}
check_job simulate 1 "1 2"
check_job stats 1 N/A
check_job train 1 N/A
check_job inference 3 "N/A N/A N/A"
[ "$(awk '{ print $1 }' <<<"$jobs" | sort -u | wc -l)" = 6 ] \
    || ci_fail "the recipe submitted other jobs than simulate, stats, train and inference"

# ---- 2. failures ----------------------------------------------------------------
# A failing task fails the array: slurm.pl exits non-zero and names the task's log.
mkdir -p "$work/fail"
rc=0
utils/slurm.pl JOB=1:3 "$work/fail/log.JOB" test JOB -ne 2 '||' exit 3 2>"$work/fail/err" || rc=$?
[ "$rc" -ne 0 ] || ci_fail "slurm.pl exited 0 although task 2 exited 3"
grep -qF "log is in $work/fail/log.2" "$work/fail/err" \
    || ci_fail "slurm.pl's error does not name log.2: $(cat "$work/fail/err")"
grep -q '^# Ended (code 3)' "$work/fail/log.2" || ci_fail "log.2 does not say code 3"
ended_ok "$work/fail/log.1"
ended_ok "$work/fail/log.3"
# A training that fails under Slurm (an option ESPnet refuses) fails stage 5.
rc=0
./run.sh --stage 5 --stop-stage 5 --enh_tag ci_slurm_fail "${opts[@]}" \
    --enh_args "$tiny_enh --no_such_option 1" >"$work/fail/stage5.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || ci_fail "stage 5 passed although its training job failed"
grep -q "stage 5 failed: see $work/exp/enh_ci_slurm_fail/train.log" "$work/fail/stage5.log" \
    || ci_fail "stage 5's failure does not name its train.log: $(tail -n 5 "$work/fail/stage5.log")"
grep -q "log is in $work/exp/enh_ci_slurm_fail/train.log" "$work/fail/stage5.log" \
    || ci_fail "slurm.pl did not name the failed training's log"
grep -q '^# Ended (code [1-9]' "$work/exp/enh_ci_slurm_fail/train.log" \
    || ci_fail "the failed training's log has no non-zero end line"

# ---- 3. slurm.pl's own tests on this cluster --------------------------------------
SEPPLUG_TEST_SLURM=1 python3 -m pytest -q -p no:cacheprovider -rs "$repo/tests/test_slurm_real.py"

echo "ci_slurm.sh: Slurm CI passed in $(( $(date +%s) - t0 ))s"
