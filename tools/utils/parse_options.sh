# Kaldi-style option parsing, sourced by recipe scripts:  . utils/parse_options.sh
# Turns "--name value" (or --name-with-dashes value) into name=value for every variable the
# caller has already defined. The caller may set help_message (printed by -h/--help and on
# errors). Unknown options, a missing value and stray arguments exit 2.
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) echo "${help_message:-$0: no help}"; exit 0 ;;
        --*)
            _opt=${1#--}; _opt=${_opt//-/_}
            if [ $# -lt 2 ]; then echo "$0: option --$_opt needs a value" >&2; exit 2; fi
            if ! declare -p "$_opt" >/dev/null 2>&1; then
                [ -z "${help_message:-}" ] || echo "$help_message" >&2
                echo "$0: unknown option --$_opt" >&2; exit 2
            fi
            printf -v "$_opt" '%s' "$2"; shift 2 ;;
        *)
            [ -z "${help_message:-}" ] || echo "$help_message" >&2
            echo "$0: unexpected argument '$1'" >&2; exit 2 ;;
    esac
done
unset _opt
