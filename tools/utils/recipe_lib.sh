# Helpers shared by the recipes' stage scripts, sourced:  . utils/recipe_lib.sh
# log / die print "<time> (<script>:<line of the call>) message"; die exits 1.
_log_at() { local line=$1; shift; echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):$line) $*"; }
log() { _log_at "${BASH_LINENO[0]}" "$@"; }
die() { _log_at "${BASH_LINENO[0]}" "ERROR: $*" >&2; exit 1; }
# Stage done markers: done_mark DIR NAME / is_done DIR NAME
done_mark() { mkdir -p "$1" && touch "$1/.done.$2"; }
is_done() { [ -f "$1/.done.$2" ]; }
