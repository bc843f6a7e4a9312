# Checks shared by the recipes' CI smoke runs (local/ci_smoke.sh), sourced:  . utils/recipe_ci.sh
# Each one fails the run with a message naming what is wrong.

ci_fail() { echo "$(basename "$0"): $*" >&2; exit 1; }

# ci_workdir PREFIX: a temp dir in $work, removed when the script exits.
ci_workdir() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap 'rm -rf "$work"' EXIT
}

# ci_summary_row FILE MODEL FAMILY SUBSET METRIC N: results/summary.tsv holds that row, with
# a finite mean.
ci_summary_row() {
    awk -F'\t' -v m="$2" -v f="$3" -v s="$4" -v k="$5" -v n="$6" '
        $1 == m && $2 == f && $3 == s && $4 == k && $5 == n && $6 ~ /^-?[0-9]/ { found = 1 }
        END { exit !found }' "$1" || ci_fail "no row '$2 $3 $4 $5 n=$6' in $1"
}

# ci_rerun_is_noop LOG RUN_ARGS...: a finished recipe reruns with every stage skipped.
ci_rerun_is_noop() {
    local log=$1 pattern
    shift
    ./run.sh "$@" >"$log" 2>&1 || ci_fail "the rerun failed: see $log"
    for pattern in "stage 1: .* already complete, skipped" "stage 5: .* already trained, skipped" \
                   "stage 6: .* already scored, skipped"; do
        grep -q "$pattern" "$log" || ci_fail "the rerun did not say '$pattern' ($log)"
    done
}

# ci_bad_input_fails ERRLOG RUN_ARGS...: --stage beyond --stop-stage, an unknown option and a
# missing checkpoint each exit non-zero.
ci_bad_input_fails() {
    local err=$1
    shift
    ! ./run.sh --stage 6 --stop-stage 5 "$@" 2>/dev/null || ci_fail "--stage 6 --stop-stage 5 ran"
    ! ./run.sh --no_such_option 1 2>/dev/null || ci_fail "an unknown option was accepted"
    ! ./run.sh --stage 6 --stop-stage 6 --enh_tag never_trained "$@" 2>"$err" \
        || ci_fail "stage 6 of an untrained model ran"
    grep -q "checkpoint .* missing" "$err" || ci_fail "no 'checkpoint ... missing' message in $err"
}
