#!/usr/bin/env bash
# Stage 1 hook of the SpatialVCTK recipe (called by enh.sh):
#   local/data.sh CORPUS FS_HZ NJ DATADIR [options of python -m sepplug.recipes.spatialvctk.simulate]
# simulates SpatialVCTK from CORPUS (VCTK layout) into
#   DATADIR/{train,dev,test_easy,test_hard,test_both,train_hard_extra}
# with audio under db/spatialvctk_<FS_HZ> (--wav_dir to move it).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CORPUS FS_HZ NJ DATADIR [sepplug.recipes.spatialvctk.simulate options]" >&2; exit 2; }
corpus=$1 fs=$2 nj=$3 datadir=$4
shift 4
. ./path.sh
. ./cmd.sh
# Later options win: the caller's "$@" overrides the defaults here.
${python} -m sepplug.recipes.spatialvctk.simulate --corpus_dir "$corpus" --out_dir "$datadir" --fs "$fs" \
    --nj "$nj" --cmd "$train_cmd" --wav_dir "db/spatialvctk_${fs}" --dtype float32 "$@"
