#!/usr/bin/env bash
# Stage 3 hook of the semantic MixIT recipe (called by enh.sh, once for every model): the
# sound classifier of the semantic loss, trained on the single-source clips of the pool's
# train split (dev split: model choice; test split: the accuracy reported), frozen afterwards:
#   local/augment.sh --datadir D --dumpdir U --expdir E --train_set T --valid_set V [train_classifier options]
# writes E/classifier/{classifier.pth,accuracy.json,confusion.tsv,train.log}; a finished one is kept.
set -euo pipefail
datadir=data expdir=exp train_set=train opts=()
while [ $# -gt 0 ]; do
    case $1 in
        --datadir) datadir=$2; shift 2 ;;
        --expdir) expdir=$2; shift 2 ;;
        --train_set) train_set=$2; shift 2 ;;
        --dumpdir|--valid_set) shift 2 ;;
        *) opts+=("$1"); shift ;;
    esac
done
if [ ! -s "$datadir/pool" ] || [ ! -s "$datadir/$train_set/fs" ]; then
    echo "$0: $datadir/pool or $datadir/$train_set/fs missing: run stage 1" >&2; exit 1
fi
. ./path.sh
${python} -m sepplug.recipes.mixit_semantic.train_classifier --pool "$(cat "$datadir/pool")" \
    --fs "$(cat "$datadir/$train_set/fs")" --out_dir "$expdir/classifier" "${opts[@]}"
