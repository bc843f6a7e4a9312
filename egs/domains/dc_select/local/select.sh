#!/usr/bin/env bash
# Stage 7 of the model-selection recipe: per kind of domain models (dc: deep clustering,
# selected by the paper's clustering confidence; mask: mask-based models, selected by the
# confidence of their masks) and per test set, `sepplug select` runs the kind's domain
# models on each mixture and keeps the most confident one (exp/select/<kind>/<set>/); then
# sepplug.recipes.dc_select.make_results writes RESULTS.md (Tables 1-2, Figure 3, the kinds
# compared) and results/summary.tsv from the single models' scores and the picks.
#   local/select.sh --expdir exp --datadir data --domains "speech music env" --kinds "dc mask"
set -euo pipefail
{
. utils/recipe_lib.sh
expdir=exp
datadir=data
domains="speech music env"
kinds="dc mask"                 # model tags <kind>_<domain>; confidence of the same name
notes=local/results_notes.md    # hand-written part of RESULTS.md (what was run, reading)
title="Clustering-confidence model selection (embedded speech / music / environmental)"
. utils/parse_options.sh
. ./path.sh

pairs=()
for kind in $kinds; do
    models=() exps=()
    for d in $domains; do
        [ -f "$expdir/enh_${kind}_$d/.done.train" ] || die "$expdir/enh_${kind}_$d is not trained: run stages 1-6"
        models+=(--model "$expdir/enh_${kind}_$d")
        pairs+=(--pair "${kind}_$d=${d}_test")
        exps+=(--exp "$expdir/enh_${kind}_$d")
    done
    for d in $domains; do
        out=$expdir/select/$kind/${d}_test
        if is_done "$out" select; then log "stage 7: $out already selected, skipped"; continue; fi
        log "stage 7: select the most confident $kind model per mixture of ${d}_test -> $out"
        mkdir -p "$expdir/select/$kind"
        ${python} -m sepplug.cli select "${models[@]}" --data_dir "$datadir/${d}_test" \
            --out_dir "$out" --confidence "$kind" 2>"$out.log" \
            || { tail -n 3 "$out.log" >&2; die "stage 7: select failed: see $out.log"; }
        done_mark "$out" select
    done
    # one figure per kind: the DC affinity loss and the SI-SNR loss have different scales
    ${python} -m sepplug.bin.plot_learning_curves "${exps[@]}" --stat train/loss \
        --stat valid/loss --out "$expdir/learning_curves_$kind.png" \
        --title "$kind domain models: loss per epoch" \
        || die "stage 7: plot_learning_curves failed"
done
[ -f "$notes" ] || notes=""
${python} -m sepplug.recipes.dc_select.make_results --expdir "$expdir" --out "$expdir/RESULTS.md" \
    --title "$title" "${pairs[@]}" ${notes:+--notes "$notes"} >/dev/null || die "stage 7: sepplug.recipes.dc_select.make_results failed"
log "stage 7: $expdir/RESULTS.md, $expdir/results/summary.tsv, $expdir/confidence_vs_sdr.png, $expdir/learning_curves_*.png"
exit 0
}
