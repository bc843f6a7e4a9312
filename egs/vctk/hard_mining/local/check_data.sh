#!/usr/bin/env bash
# Stage 2 hook of the VCTK hard-mining recipe (called by enh.sh for every set):
#   local/check_data.sh SET DIR
# Every set needs mixtures.tsv with one row per mixture (the speakers, for the hardness
# analysis). The training set is the dynamic-mixing source set: its utt2spk must name real
# speakers (at least two, not one per utterance), or ESPnet's DynamicMixingPreprocessor
# could pair an utterance with its own speaker.
set -euo pipefail
set_name=$1 dir=$2
[ -f "$dir/mixtures.tsv" ] || { echo "$0: $dir has no mixtures.tsv" >&2; exit 1; }
rows=$(( $(wc -l <"$dir/mixtures.tsv") - 1 ))
utts=$(wc -l <"$dir/wav.scp")
[ "$rows" -eq "$utts" ] \
    || { echo "$0: $dir/mixtures.tsv has $rows rows, wav.scp $utts utterances" >&2; exit 1; }
case "$set_name" in
    train*)
        speakers=$(cut -d' ' -f2 "$dir/utt2spk" | sort -u | wc -l)
        own=$(awk '$1 == $2' "$dir/utt2spk" | wc -l)
        if [ "$speakers" -lt 2 ] || [ "$own" -gt 0 ]; then
            echo "$0: $dir/utt2spk names $speakers speaker(s), $own utterance(s) as their own" \
                 "speaker: not a dynamic-mixing source set (python -m sepplug.recipes.hard_mining.make_data)" >&2
            exit 1
        fi ;;
esac
