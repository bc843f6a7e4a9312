#!/usr/bin/env bash
# Stage 2 hook of the VCTK MixIT recipe (called by enh.sh for every set):
#   local/check_data.sh SET DIR
# Training and dev sets must be mixtures of mixtures (the two mixtures as spk1/spk2.scp);
# test sets need the true sources (src<k>.scp) and their count (utt2num_sources).
set -euo pipefail
set_name=$1 dir=$2
case "$set_name" in
    train*|dev*)
        [ -f "$dir/spk2.scp" ] || { echo "$0: $dir has no spk2.scp: not a MoM dir" >&2; exit 1; } ;;
    *)
        [ -f "$dir/utt2num_sources" ] && [ -f "$dir/src1.scp" ] \
            || { echo "$0: $dir lacks utt2num_sources/src1.scp: not a MixIT test dir" >&2; exit 1; } ;;
esac
