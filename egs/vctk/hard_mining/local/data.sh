#!/usr/bin/env bash
# Stage 1 hook of the VCTK hard-mining recipe (called by enh.sh):
#   local/data.sh CORPUS FS_HZ NJ DATADIR [options of python -m sepplug.recipes.hard_mining.make_data]
# makes, from CORPUS (VCTK layout), with audio under db/dm_<FS_HZ> (--wav_dir to move it):
#   DATADIR/train      the dynamic-mixing sources: every train-speaker utterance (spk1.scp),
#                      utt2spk of the real speakers, a static pair (wav.scp, spk2.scp)
#   DATADIR/dev, test  fixed 2-speaker mixtures (wav.scp = spk1 + spk2)
#   each with mixtures.tsv: utt spk1 spk2 utt1 utt2 sir_db (the speakers of every mixture)
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CORPUS FS_HZ NJ DATADIR [sepplug.recipes.hard_mining.make_data options]" >&2; exit 2; }
corpus=$1 fs=$2 datadir=$4   # $3 (jobs): the generator is single-process
shift 4
. ./path.sh
# Later options win: the caller's "$@" overrides the defaults here.
${python} -m sepplug.recipes.hard_mining.make_data --corpus_dir "$corpus" --out_dir "$datadir" --fs "$fs" \
    --wav_dir "db/dm_${fs}" "$@"
