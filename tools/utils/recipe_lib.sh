# Helpers shared by the recipes' stage scripts, sourced:  . utils/recipe_lib.sh
# log / die print "<time> (<script>:<line of the call>) message"; die exits 1.
_log_at() { local line=$1; shift; echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):$line) $*"; }
log() { _log_at "${BASH_LINENO[0]}" "$@"; }
die() { _log_at "${BASH_LINENO[0]}" "ERROR: $*" >&2; exit 1; }
# Stage done markers: done_mark DIR NAME / is_done DIR NAME
done_mark() { mkdir -p "$1" && touch "$1/.done.$2"; }
is_done() { [ -f "$1/.done.$2" ]; }
# Markers of work made from files (e.g. audio made by a model from a data set):
# done_mark_for DIR NAME FILE... records each FILE's checksum; is_done_for DIR NAME FILE...
# holds only while every FILE is unchanged (and present), so a retrained model or a
# regenerated input redoes what the old one made. A plain done_mark marker does not count.
_checksums() {
    local f
    for f in "$@"; do [ -f "$f" ] || return 1; cksum <"$f"; done  # one line per file
}
done_mark_for() {
    local dir=$1 name=$2; shift 2
    mkdir -p "$dir" || return 1
    if _checksums "$@" >"$dir/.done.$name.tmp"; then
        mv "$dir/.done.$name.tmp" "$dir/.done.$name"
    else
        rm -f "$dir/.done.$name.tmp"; return 1
    fi
}
is_done_for() {
    local dir=$1 name=$2 now; shift 2
    [ -s "$dir/.done.$name" ] && now=$(_checksums "$@") && [ "$now" = "$(cat "$dir/.done.$name")" ]
}
# side_by_side JOBS LOGDIR FUNC NAME...: run "FUNC NAME" for every NAME, at most JOBS at once,
# each logged to LOGDIR/run.NAME.log (JOBS <= 1: one after another, on this terminal); dies
# with the last lines of the failed ones' logs.
side_by_side() {
    local jobs=$1 logdir=$2 func=$3 name i failed=0
    shift 3
    if [ "$jobs" -le 1 ]; then
        for name in "$@"; do "$func" "$name"; done
        return 0
    fi
    mkdir -p "$logdir"
    local pids=() names=()
    for name in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 2; done
        _log_at "${BASH_LINENO[0]}" "$name: started (log: $logdir/run.$name.log)"
        "$func" "$name" >"$logdir/run.$name.log" 2>&1 &
        pids+=($!) names+=("$name")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            failed=1
            tail -n 3 "$logdir/run.${names[$i]}.log" >&2
        fi
    done
    [ "$failed" = 0 ] || die "failed: see $logdir/run.*.log"
}
