#!/usr/bin/env bash
# Stage 1 hook of the model-selection recipe (called by enh.sh):
#   local/data.sh CORPUS FS_HZ NJ DATADIR [options of python -m sepplug.simulate.domains]
# makes 2-source mixtures of three domains (speech from CORPUS; music and environmental
# sounds synthesised offline, or MUSDB18-HQ / UrbanSound8K with --musdb_dir /
# --urbansound_dir) under DATADIR/domains/<domain>/<split>, and links them as the flat
# sets enh.sh names: DATADIR/<domain>_<split> (speech_train, music_test, env_dev, ...).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CORPUS FS_HZ NJ DATADIR [sepplug.simulate.domains options]" >&2; exit 2; }
corpus=$1 fs=$2 nj=$3 datadir=$4
shift 4
. ./path.sh
# Later options win: the caller's "$@" overrides the defaults here.
${python} -m sepplug.simulate.domains --corpus_dir "$corpus" --out_dir "$datadir/domains" \
    --fs "$fs" --nj "$nj" "$@"
for domain_dir in "$datadir"/domains/*/; do
    domain=$(basename "$domain_dir")
    for split in train dev test; do
        [ -d "$domain_dir/$split" ] && ln -sfn "domains/$domain/$split" "$datadir/${domain}_$split"
    done
done
