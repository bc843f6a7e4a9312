#!/usr/bin/env bash
# Stage 7 of the model-selection recipe: per test set, `sepplug select` runs every domain
# model on each mixture and keeps the most confident one (exp/select/<set>/); then
# sepplug.bin.make_selection_results writes RESULTS.md (Tables 1-2, Figure 3) and
# results/summary.tsv from the single models' scores and the picks.
#   local/select.sh --expdir exp --datadir data --domains "speech music env"
set -euo pipefail
{
. utils/recipe_lib.sh
expdir=exp
datadir=data
domains="speech music env"
tag_prefix=dc_
confidence=dc                   # dc (embeddings) | mask | auto
title="Clustering-confidence model selection (embedded speech / music / environmental)"
. utils/parse_options.sh
. ./path.sh

models=() pairs=() exps=()
for d in $domains; do
    [ -f "$expdir/enh_$tag_prefix$d/.done.train" ] || die "$expdir/enh_$tag_prefix$d is not trained: run stages 1-6"
    models+=(--model "$expdir/enh_$tag_prefix$d")
    pairs+=(--pair "$tag_prefix$d=${d}_test")
    exps+=(--exp "$expdir/enh_$tag_prefix$d")
done
for d in $domains; do
    out=$expdir/select/${d}_test
    if is_done "$out" select; then log "stage 7: $out already selected, skipped"; continue; fi
    log "stage 7: select the most confident model per mixture of ${d}_test -> $out"
    mkdir -p "$expdir/select"
    ${python} -m sepplug.cli select "${models[@]}" --data_dir "$datadir/${d}_test" \
        --out_dir "$out" --confidence "$confidence" 2>"$expdir/select/${d}_test.log" \
        || { tail -n 3 "$expdir/select/${d}_test.log" >&2; die "stage 7: select failed: see $expdir/select/${d}_test.log"; }
    done_mark "$out" select
done
${python} -m sepplug.bin.plot_learning_curves "${exps[@]}" --stat train/loss --stat valid/loss \
    --out "$expdir/learning_curves.png" --title "DC models: affinity loss per epoch" \
    || die "stage 7: plot_learning_curves failed"
${python} -m sepplug.bin.make_selection_results --expdir "$expdir" --out "$expdir/RESULTS.md" \
    --title "$title" "${pairs[@]}" >/dev/null || die "stage 7: make_selection_results failed"
log "stage 7: $expdir/RESULTS.md, $expdir/results/summary.tsv, $expdir/confidence_vs_sdr.png, $expdir/learning_curves.png"
exit 0
}
