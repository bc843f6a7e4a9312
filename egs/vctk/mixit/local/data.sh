#!/usr/bin/env bash
# Stage 1: the corpus (VCTK from db.sh, or the embedded espeak-ng corpus generated
# offline under db/) and the MixIT sets made from it (sepplug.data.mixit_data):
#   data/train, data/dev   mixtures of two mixtures (wav.scp = MoM, spk1/spk2.scp = mixtures)
#   data/test              single mixtures of 1-3 sources (src<k>.scp, utt2num_sources)
set -euo pipefail

fs=8000
nj=2
datadir=data
wavdir=""                 # default: db/mixit_<fs>
segment=3.0
n_train=2000
n_dev=200
n_test=300
min_sources=1
max_sources=3
max_gain_db=5.0
dtype=pcm16
num_speakers=40
utts_per_speaker=20
num_dev_speakers=""       # default: 10 % of the speakers, >= 2 (>= max_sources needed)
num_test_speakers=""
seed=0
corpus_dir=db/embedded_corpus   # where the embedded corpus is generated

. utils/parse_options.sh

. ./path.sh
. ./cmd.sh
. ./db.sh

split_opts=()
[ -z "$num_dev_speakers" ] || split_opts+=(--num_dev_speakers "$num_dev_speakers")
[ -z "$num_test_speakers" ] || split_opts+=(--num_test_speakers "$num_test_speakers")

if [ -z "$VCTK" ]; then
    corpus=$corpus_dir
    echo "local/data.sh: VCTK is empty in db.sh: generating the embedded corpus in $corpus"
    corpus_split_opts=()
    [ -z "$num_dev_speakers" ] || corpus_split_opts+=(--num_dev "$num_dev_speakers")
    [ -z "$num_test_speakers" ] || corpus_split_opts+=(--num_test "$num_test_speakers")
    ${python} -m sepplug.data.corpus --out "$corpus" --num_speakers "$num_speakers" \
        --utts_per_speaker "$utts_per_speaker" --fs 16000 --seed "$seed" --nj "$nj" \
        "${corpus_split_opts[@]}"
else
    [ -d "$VCTK" ] || { echo "local/data.sh: VCTK=$VCTK (db.sh) is not a directory" >&2; exit 1; }
    corpus=$VCTK
fi

wavdir=${wavdir:-db/mixit_${fs}}
${python} -m sepplug.data.mixit_data --corpus_dir "$corpus" --out_dir "$datadir" \
    --wav_dir "$wavdir" --fs "$fs" --segment "$segment" --n_train "$n_train" \
    --n_dev "$n_dev" --n_test "$n_test" --min_sources "$min_sources" \
    --max_sources "$max_sources" --max_gain_db "$max_gain_db" --dtype "$dtype" \
    --seed "$seed" "${split_opts[@]}"
