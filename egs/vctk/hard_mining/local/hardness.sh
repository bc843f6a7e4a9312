#!/usr/bin/env bash
# Stage 7 of the hard-mining recipe: speaker parameters of every corpus speaker (median F0
# by pYIN and a speaker embedding, sepplug.recipes.hard_mining.speaker_params, with the verification EER
# of the embedding on held-out utterances), then the correlation analysis
# of dm's test SI-SNRi with them, the hardness predictor fitted on dm's dev SI-SNRi, the
# speaker-pair table that hard_dm reads and the predicted-hardest 25 % of the test set
# (sepplug.recipes.hard_mining.hardness_analysis) under <expdir>/hardness/.
#   local/hardness.sh --expdir exp --datadir data [--corpus_dir DIR] [--max_utts 5]
#                     [--embedding resemblyzer|mfcc]
# Embeddings: resemblyzer = the pretrained GE2E d-vector shipped in the resemblyzer wheel
# (sepplug.recipes.hard_mining.resemblyzer_embedding, the default); mfcc = standardised MFCC statistics
# (untrained; the baseline it replaced).
set -euo pipefail
{
. utils/recipe_lib.sh
expdir=exp
datadir=data
corpus_dir=db/embedded_corpus   # VCTK in db.sh wins
max_utts=5                      # per speaker (pYIN costs ~0.3 s per utterance)
heldout=3                       # utterances per speaker held out for the EER
hard_share=0.25                 # test_hard.list: the predicted-hardest share of test
hard_quantile=0.2               # pairs.tsv: the share of speaker pairs marked hard
embedding=resemblyzer
. utils/parse_options.sh
. ./path.sh
. ./db.sh
corpus=${VCTK:-$corpus_dir}
out=$expdir/hardness
[ -d "$corpus" ] || die "stage 7: corpus $corpus is missing: run stage 1"
for s in dev test; do
    [ -f "$expdir/enh_dm/enhanced_$s/scoring/per_utt.tsv" ] \
        || die "stage 7: dm is not scored on $s: run stages 1-6"
done
case $embedding in
    resemblyzer) embed_opts=(--embed_fn sepplug.recipes.hard_mining.resemblyzer_embedding:resemblyzer_embedding
                             --no_standardize) ;;
    mfcc) embed_opts=() ;;
    *) die "stage 7: --embedding $embedding: use resemblyzer or mfcc" ;;
esac
if is_done "$out/params" "params_$embedding"; then
    log "stage 7: $out/params already computed ($embedding), skipped"
else
    log "stage 7: speaker parameters ($embedding embedding) of $corpus -> $out/params"
    rm -f "$out/params"/.done.params*  # another embedding's marker must not survive
    ${python} -m sepplug.recipes.hard_mining.speaker_params --corpus_dir "$corpus" --out_dir "$out/params" \
        --max_utts "$max_utts" --heldout "$heldout" "${embed_opts[@]}" \
        || die "stage 7: speaker_params failed"
    done_mark "$out/params" "params_$embedding"
fi
# The analysis holds while its inputs (the speaker parameters, dm's dev and test scores, the
# mixture lists) and options are the ones it was made from.
made_from=("$out/params/speaker_params.tsv" "$out/params/speaker_embeddings.npz"
           "$datadir/dev/mixtures.tsv" "$expdir/enh_dm/enhanced_dev/scoring/per_utt.tsv"
           "$datadir/test/mixtures.tsv" "$expdir/enh_dm/enhanced_test/scoring/per_utt.tsv")
marker=analysis_share${hard_share}_quantile${hard_quantile}
if is_done_for "$out" "$marker" "${made_from[@]}"; then
    log "stage 7: $out already analysed from the same inputs, skipped"
    exit 0
fi
log "stage 7: correlation analysis, predictor (dev), pair table, hard test subset -> $out"
rm -f "$out"/.done.analysis*  # other options' marker must not survive
${python} -m sepplug.recipes.hard_mining.hardness_analysis --params_dir "$out/params" \
    --fit "$datadir/dev/mixtures.tsv" "$expdir/enh_dm/enhanced_dev/scoring/per_utt.tsv" \
    --eval "$datadir/test/mixtures.tsv" "$expdir/enh_dm/enhanced_test/scoring/per_utt.tsv" \
    --hard_share "$hard_share" --hard_quantile "$hard_quantile" --out_dir "$out" \
    || die "stage 7: hardness_analysis failed"
done_mark_for "$out" "$marker" "${made_from[@]}" || die "stage 7: an input of $out vanished"
exit 0
}
