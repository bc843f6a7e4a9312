#!/usr/bin/env bash
# Stage 1 hook of the VCTK MixIT recipe (called by enh.sh):
#   local/data.sh CORPUS FS_HZ NJ DATADIR [options of python -m sepplug.recipes.mixit.make_data]
# makes, from CORPUS (VCTK layout), with audio under db/mixit_<FS_HZ> (--wav_dir to move it):
#   DATADIR/train, DATADIR/dev   mixtures of two mixtures (wav.scp = MoM, spk1/spk2.scp = mixtures)
#   DATADIR/test                 single mixtures of 1-3 sources (src<k>.scp, utt2num_sources)
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CORPUS FS_HZ NJ DATADIR [sepplug.recipes.mixit.make_data options]" >&2; exit 2; }
corpus=$1 fs=$2 datadir=$4   # $3 (jobs): the MixIT generator is single-process
shift 4
. ./path.sh
# Later options win: the caller's "$@" overrides the defaults here.
${python} -m sepplug.recipes.mixit.make_data --corpus_dir "$corpus" --out_dir "$datadir" --fs "$fs" \
    --wav_dir "db/mixit_${fs}" "$@"
