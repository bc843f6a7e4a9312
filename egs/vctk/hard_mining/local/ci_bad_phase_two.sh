#!/usr/bin/env bash
# Bad input to the hard-mining recipe's phase 2 (stage 8) must stop with a clear message and a
# non-zero exit, and write no exp dir: a hard share outside (0, 1), a continuation whose dm
# checkpoint is missing, a pair table made for other speakers.
#   local/ci_bad_phase_two.sh WORK RUN_SH_OPTIONS...   (after local/ci_smoke.sh's run in WORK)
set -euo pipefail
cd "$(dirname "$0")/.."
. utils/recipe_ci.sh
work=$1
shift
bad=$work/bad_phase_two
rm -rf "$bad"
mkdir -p "$bad"

expect_failure() {  # expect_failure NAME PATTERN RUN_SH_ARGS...: run.sh fails, stderr matches
    local name=$1 pattern=$2
    shift 2
    ! ./run.sh "$@" >"$bad/$name.out" 2>"$bad/$name.err" || ci_fail "$name: run.sh succeeded"
    grep -qF -- "$pattern" "$bad/$name.err" || ci_fail "$name: no '$pattern' in $bad/$name.err"
}
no_phase_two_dirs() {  # no_phase_two_dirs EXPDIR
    [ -z "$(find "$1" -maxdepth 1 -name 'enh_dm_*' ! -name 'enh_dm_seed*' -print -quit)" ] \
        || ci_fail "a phase-2 exp dir was written in $1: $(ls "$1")"
}

# a share outside (0, 1): refused before any stage runs
expect_failure share "'1.5' is not a share in (0, 1)" "$@" --stage 8 --stop-stage 8 --hm_shares "0.2 1.5"
expect_failure share0 "'0' is not a share in (0, 1)" "$@" --stage 8 --stop-stage 8 --hm_shares 0
# stage 7's output without dm's runs: the continuation's checkpoint is missing
mkdir -p "$bad/exp_nodm"
cp -r "$work/exp/hardness" "$bad/exp_nodm/"
expect_failure nodm "exp_nodm/enh_dm/checkpoint.pth is missing" "$@" --stage 8 --stop-stage 8 \
    --expdir "$bad/exp_nodm"
no_phase_two_dirs "$bad/exp_nodm"
# a pair table of other speakers (every name changed): refused before any training
mkdir -p "$bad/exp_other"
cp -r "$work/exp/hardness" "$bad/exp_other/"
ln -s "$work/exp/enh_dm" "$work/exp/enh_dm_seed1" "$bad/exp_other/"
awk -F'\t' -v OFS='\t' 'NR > 1 { $1 = "other_" $1; $2 = "other_" $2 } 1' \
    "$work/exp/hardness/pairs.tsv" >"$bad/exp_other/hardness/pairs.tsv"
expect_failure other "it was made for other speakers" "$@" --stage 8 --stop-stage 8 \
    --expdir "$bad/exp_other"
no_phase_two_dirs "$bad/exp_other"
echo "ci_bad_phase_two.sh: bad phase-2 input refused"
