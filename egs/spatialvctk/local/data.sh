#!/usr/bin/env bash
# Stage 1: the corpus (VCTK from db.sh, or the embedded espeak-ng corpus generated
# offline under db/) and SpatialVCTK simulated from it into Kaldi data dirs:
#   data/{train,dev,test_easy,test_hard,test_both,train_hard_extra}
set -euo pipefail

fs=16000
nj=2
datadir=data
wavdir=""                 # default: db/spatialvctk_<fs>
segment=3.0
n_train=1000
n_dev=100
n_test=100
n_hard_extra=300
train_ratios="easy=0.4,both=0.55,hard=0.05"
num_speakers=40
utts_per_speaker=20
seed=0
corpus_dir=db/embedded_corpus   # where the embedded corpus is generated

. utils/parse_options.sh

. ./path.sh
. ./cmd.sh
. ./db.sh

if [ -z "$VCTK" ]; then
    corpus=$corpus_dir
    echo "local/data.sh: VCTK is empty in db.sh: generating the embedded corpus in $corpus"
    ${python} -m sepplug.data.corpus --out "$corpus" --num_speakers "$num_speakers" \
        --utts_per_speaker "$utts_per_speaker" --fs 16000 --seed "$seed" --nj "$nj"
else
    [ -d "$VCTK" ] || { echo "local/data.sh: VCTK=$VCTK (db.sh) is not a directory" >&2; exit 1; }
    corpus=$VCTK
fi

wavdir=${wavdir:-db/spatialvctk_${fs}}
${python} -m sepplug.data.spatial --corpus_dir "$corpus" --out_dir "$datadir" \
    --wav_dir "$wavdir" --fs "$fs" --segment "$segment" --n_train "$n_train" \
    --n_dev "$n_dev" --n_test "$n_test" --n_hard_extra "$n_hard_extra" \
    --train_ratios "$train_ratios" --seed "$seed" --nj "$nj" --cmd "$train_cmd" \
    --dtype float32
