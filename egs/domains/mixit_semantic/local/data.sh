#!/usr/bin/env bash
# Stage 1 hook of the semantic MixIT recipe (called by enh.sh):
#   local/data.sh CORPUS FS_HZ NJ DATADIR [--groups TR,DV,TE] [--clips N] [--pool_dir DIR]
#                 [make_data options]
# 1. the open-domain clip pool --pool_dir (db/open_domain_<FS_HZ>) (python -m sepplug.recipes.mixit_semantic.clip_pool):
#    CORPUS's speakers (speech) + vocals/chords/bass/drums + five environmental classes, with
#    --groups groups of --clips clips per non-speech class and split;
# 2. mixtures of mixtures drawn from it (python -m sepplug.recipes.mixit.make_data: a "speaker"
#    there is a group of one class here), audio under db/mixit_<FS_HZ>:
#      DATADIR/train, DATADIR/dev      MoMs (wav.scp = MoM, spk1/spk2.scp = the two mixtures)
#      DATADIR/test                    single mixtures of 1-4 sources (src<k>.scp)
#      DATADIR/train_sup, dev_sup      the MoMs' mixtures with their sources (supervised model)
# 3. their weak labels (python -m sepplug.recipes.mixit_semantic.labels): labels_ref<n>,
#    utt2source_classes, classes.txt in every set; DATADIR/pool names the pool (stage 3 reads it).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CORPUS FS_HZ NJ DATADIR [--groups A,B,C] [--clips N] [--pool_dir DIR] [make_data options]" >&2; exit 2; }
corpus=$1 fs=$2 datadir=$4   # $3 (jobs): the generators are single-process
shift 4
pool_opts=() data_opts=() pool=db/open_domain_${fs}
while [ $# -gt 0 ]; do
    case $1 in
        --groups|--clips) [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
                          pool_opts+=("$1" "$2"); shift 2 ;;
        --pool_dir) [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
                    pool=$2; shift 2 ;;
        *) data_opts+=("$1"); shift ;;
    esac
done
. ./path.sh
${python} -m sepplug.recipes.mixit_semantic.clip_pool --speech_corpus "$corpus" --out_dir "$pool" \
    --fs "$fs" "${pool_opts[@]}"
# Later options win: the caller's options override the defaults here.
${python} -m sepplug.recipes.mixit.make_data --corpus_dir "$pool" --out_dir "$datadir" --fs "$fs" \
    --wav_dir "db/mixit_${fs}" --max_sources 4 "${data_opts[@]}"
sets=()
for s in train dev test train_sup dev_sup; do [ ! -d "$datadir/$s" ] || sets+=(--data_dir "$datadir/$s"); done
${python} -m sepplug.recipes.mixit_semantic.labels --pool "$pool" "${sets[@]}"
echo "$pool" >"$datadir/pool"
