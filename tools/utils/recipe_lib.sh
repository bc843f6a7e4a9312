# Helpers shared by the recipes' stage scripts, sourced:  . utils/recipe_lib.sh
# log / die print "<time> (<file>:<line of the call>) message"; die exits 1. (The file is the
# one the call is in: a helper's die here names recipe_lib.sh, a sourced local/ file its own.)
_log_at() {
    local line=$1 file=$2; shift 2
    echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$file"):$line) $*"
}
log() { _log_at "${BASH_LINENO[0]}" "${BASH_SOURCE[1]:-$0}" "$@"; }
die() { _die_at "${BASH_LINENO[0]}" "${BASH_SOURCE[1]:-$0}" "$@"; }
_die_at() { _log_at "$1" "$2" "ERROR: ${*:3}" >&2; exit 1; }  # _die_at LINE FILE message
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
# side_by_side [--echo] JOBS LOGDIR FUNC NAME...: run "FUNC NAME" for every NAME, at most
# JOBS at once, each logged to LOGDIR/run.NAME.log (JOBS <= 1, or one NAME: one after
# another, on this terminal); dies with the last lines of the failed ones' logs. --echo then
# prints every log whole, each line prefixed "[NAME] " (stderr for a failed one), so that a
# caller's log holds what the stages said (e.g. their "already ..., skipped" lines).
side_by_side() {
    local echo=false jobs logdir func name i failed=0
    if [ "$1" = --echo ]; then echo=true; shift; fi
    jobs=$1 logdir=$2 func=$3
    shift 3
    [ "$jobs" -le $# ] || jobs=$#  # one model: its log on this terminal
    if [ "$jobs" -le 1 ]; then
        for name in "$@"; do "$func" "$name"; done
        return 0
    fi
    mkdir -p "$logdir"
    local pids=() names=()
    for name in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 2; done
        # (the line of the top-level script's call, through run_models or not)
        _log_at "${BASH_LINENO[${#BASH_LINENO[@]}-2]}" "$0" "$name: started (log: $logdir/run.$name.log)"
        "$func" "$name" >"$logdir/run.$name.log" 2>&1 &
        pids+=($!) names+=("$name")
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            ! $echo || sed "s/^/[${names[$i]}] /" "$logdir/run.${names[$i]}.log"
        else
            failed=1
            if $echo; then sed "s/^/[${names[$i]}] /" "$logdir/run.${names[$i]}.log" >&2
            else tail -n 3 "$logdir/run.${names[$i]}.log" >&2; fi
        fi
    done
    [ "$failed" = 0 ] || die "failed: see $logdir/run.*.log"
}

# run_models [--echo] JOBS LOGDIR FROM TO SHARED_TO FUNC NAME...: enh.sh stages FROM-TO of
# several models, the common shape of a recipe's run.sh. The stages up to SHARED_TO (the
# data: made once, for every model) run once, as "FUNC '' A B"; the later ones of every
# model side by side (side_by_side JOBS LOGDIR), as "FUNC NAME A B". A-B: the part of
# FROM-TO in each; nothing runs where it is empty.
run_models() {
    local echo=()
    if [ "$1" = --echo ]; then echo=(--echo); shift; fi
    local jobs=$1 logdir=$2 from=$3 to=$4 shared_to=$5
    _run_models_func=$6
    shift 6
    [ "$from" -le "$to" ] || return 0
    if [ "$from" -le "$shared_to" ]; then
        "$_run_models_func" "" "$from" "$(( to < shared_to ? to : shared_to ))"
    fi
    [ "$to" -gt "$shared_to" ] || return 0
    _run_models_range=("$(( from > shared_to ? from : shared_to + 1 ))" "$to")
    side_by_side "${echo[@]}" "$jobs" "$logdir" _run_models_one "$@"
}
_run_models_one() { "$_run_models_func" "$1" "${_run_models_range[@]}"; }

# recipe_options OWN SHARED ARGS...: the option loop of a recipe's run.sh. "--name VALUE"
# (or --name-with-dashes) sets the caller's variable <name> when <name> is one of the words
# of OWN (run.sh's own options) or SHARED (options run.sh reads that enh.sh takes too); every
# option but OWN's goes on, in order, to the array passed=() for enh.sh (later options win
# there, so the caller puts passed after its defaults). Every option needs a value; -h or
# --help prints the caller's header comment and exits. Errors name the caller's file.
recipe_options() {
    local _own=" $1 " _shared=" $2 " _name _at=("${BASH_LINENO[0]}" "${BASH_SOURCE[1]:-$0}")
    shift 2
    passed=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${_at[1]}"; exit 0 ;;
            --?*) ;;
            *) _die_at "${_at[@]}" "unexpected argument '$1'" ;;
        esac
        [ $# -ge 2 ] || _die_at "${_at[@]}" "option $1 needs a value"
        _name=${1#--}; _name=${_name//-/_}
        if [[ $_own == *" $_name "* || $_shared == *" $_name "* ]]; then printf -v "$_name" '%s' "$2"; fi
        [[ $_own == *" $_name "* ]] || passed+=("$1" "$2")
        shift 2
    done
}

# plot_curves TITLE NAME...: the learning curves (train and valid si_snr_loss) of the models
# NAME trained so far, exp/enh_NAME (or exp/enh_$enh_tag: --enh_tag renames a single model's),
# in $expdir/learning_curves.png (+ .tsv); a recipe's run.sh calls it after stage 5.
# shellcheck disable=SC2154,SC1091  # expdir / enh_tag are the caller's; path.sh the recipe's
plot_curves() {
    local title=$1 name exp curves=()
    shift
    for name in "$@"; do
        exp=$expdir/enh_${enh_tag:-$name}
        [ ! -f "$exp/train.log" ] || curves+=(--exp "$exp")
    done
    [ ${#curves[@]} -gt 0 ] || return 0
    . ./path.sh
    ${python:-python3} -m sepplug.bin.plot_learning_curves "${curves[@]}" \
        --stat train/si_snr_loss --stat valid/si_snr_loss --out "$expdir/learning_curves.png" \
        --title "$title" || die "run.sh: plot_learning_curves failed"
}

# check_stages STAGE STOP_STAGE [JOBS]: stage numbers, STAGE <= STOP_STAGE, JOBS a positive
# integer; dies naming the bad one (and the caller's file and line).
check_stages() {
    local at=("${BASH_LINENO[0]}" "${BASH_SOURCE[1]:-$0}")
    [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] \
        || _die_at "${at[@]}" "--stage '$1' / --stop-stage '$2' must be stage numbers"
    [ "$1" -le "$2" ] || _die_at "${at[@]}" "--stage $1 is beyond --stop-stage $2"
    [ $# -lt 3 ] || [[ $3 =~ ^[1-9][0-9]*$ ]] \
        || _die_at "${at[@]}" "--jobs '$3' is not a positive integer"
}

# model_input_dir DATADIR DUMPDIR INPUT_CHANNELS REF_CHANNEL SET: the data dir a model reads
# for SET: DATADIR/SET, or for 1-channel models (INPUT_CHANNELS ref) the reference-mic copy
# DUMPDIR/raw/SET_ch<REF_CHANNEL> that enh.sh's stage 2 makes.
model_input_dir() {
    if [ "$3" = ref ]; then echo "$2/raw/$5_ch$4"; else echo "$1/$5"; fi
}
