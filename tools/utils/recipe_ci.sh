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

# Files a rerun may write without redoing work, as extended regular expressions on the path
# relative to its output dir (a recipe's ci_smoke.sh may add its own, with the reason):
CI_RERUN_IGNORE=(
    '(^|/)[^/]*\.lock$'  # lock files (flock opens them for writing)
    '^run\.[^/]*\.log$'  # side_by_side's per-model logs (its LOGDIR is the expdir)
    # the expdir's summaries, which every run ends by remaking from the finished stages
    # (RESULTS.md holds the date): RESULTS.md, results/, the figures and tables beside it
    '^RESULTS\.md$' '^results/' '^[^/]*\.(png|tsv)$'
)

# _ci_output_dirs RUN_ARGS...: the data, dump, expdir and corpus dirs the run writes (its
# --datadir/--dumpdir/--expdir/--corpus_dir, else the recipe's data, dump, exp), one a line.
_ci_output_dirs() {
    local -A dirs=([datadir]=data [dumpdir]=dump [expdir]=exp [corpus_dir]="")
    local name
    while [ $# -gt 0 ]; do
        case $1 in
            --datadir=*|--dumpdir=*|--expdir=*|--corpus_dir=*)
                name=${1%%=*}; dirs[${name#--}]=${1#*=} ;;
            --datadir|--dumpdir|--expdir|--corpus_dir)
                [ $# -ge 2 ] && dirs[${1#--}]=$2 && shift ;;
        esac
        shift
    done
    for name in datadir dumpdir expdir corpus_dir; do
        [ -z "${dirs[$name]}" ] || echo "${dirs[$name]}"
    done
}

# _ci_snapshot OUT DIR...: "path<TAB>mtime<TAB>md5" of every file under the DIRs (missing
# DIRs hold none), but CI_RERUN_IGNORE's, sorted by path.
_ci_snapshot() {
    local out=$1 dir
    shift
    for dir in "$@"; do
        [ ! -d "$dir" ] || find "$dir" -type f -printf '%P\t%T@\n' \
            | IGNORE=$(IFS='|'; echo "${CI_RERUN_IGNORE[*]}") DIR=${dir%/} \
              awk -F'\t' '$1 !~ ENVIRON["IGNORE"] { print ENVIRON["DIR"] "/" $0 }'
    done | LC_ALL=C sort -u >"$out.mtime"
    cut -f1 "$out.mtime" | xargs -r -d '\n' md5sum | cut -d' ' -f1 | paste "$out.mtime" - >"$out"
    rm -f "$out.mtime"
}

# _ci_snapshot_diff BEFORE AFTER: one line per file that appeared, disappeared, changed
# (new content) or was rewritten (same content, new modification time).
_ci_snapshot_diff() {
    awk -F'\t' 'NR == FNR { mtime[$1] = $2; md5[$1] = $3; next }
        !($1 in md5) { print "appeared:    " $1; next }
        $3 != md5[$1] { print "changed:     " $1 }
        $3 == md5[$1] && $2 != mtime[$1] { print "rewritten:   " $1 " (same content)" }
        { delete md5[$1] }
        END { for (f in md5) print "disappeared: " f }' "$1" "$2" | LC_ALL=C sort -k2
}

# ci_rerun_is_noop LOG RUN_ARGS...: a finished recipe reruns with every stage skipped: its
# output dirs (_ci_output_dirs) hold the same files, with the same contents and modification
# times, after the rerun (but CI_RERUN_IGNORE's), and its log says the stages skipped. LOG
# (and the snapshots LOG.before, LOG.after) must lie outside the output dirs.
ci_rerun_is_noop() {
    local log=$1 pattern dirs changes
    shift
    mapfile -t dirs < <(_ci_output_dirs "$@")
    _ci_snapshot "$log.before" "${dirs[@]}"
    ./run.sh "$@" >"$log" 2>&1 || ci_fail "the rerun failed: see $log"
    _ci_snapshot "$log.after" "${dirs[@]}"
    changes=$(_ci_snapshot_diff "$log.before" "$log.after")
    [ -z "$changes" ] || ci_fail "the rerun redid work: $(wc -l <<<"$changes") file(s) under" \
        "${dirs[*]} changed (log: $log; ignored: ${CI_RERUN_IGNORE[*]}):"$'\n'"$changes"
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
