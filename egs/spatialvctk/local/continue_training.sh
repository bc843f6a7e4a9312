#!/usr/bin/env bash
# Continue a finished separator training for more epochs under a new tag, keeping the old one.
#
#   local/continue_training.sh --src_tag T --dst_tag T2 --max_epoch N --enh_config YAML
#       [--enh_args ARGS] [run.sh options: the same --train_variant / --fs_config as the
#       source run]   (--enh_config: the source run's; run.sh's default may be another model)
#
# Copies exp/enh_<src_tag>'s ESPnet state (checkpoint.pth: model, optimizer, scheduler,
# epoch) to exp/enh_<dst_tag>, then runs stages 5-6 with --max_epoch N; ESPnet resumes at the
# next epoch. ESPnet seeds each epoch's batches from seed + epoch, so this follows the same
# schedule as one N-epoch run from scratch, at the cost of the extra epochs only.
set -euo pipefail
{
. utils/recipe_lib.sh
src_tag="" dst_tag="" max_epoch="" enh_args="" expdir=exp
# run.sh's options go on (passed=()); --enh_args is merged, wherever it is
recipe_options "src_tag dst_tag max_epoch enh_args expdir" "" "$@"
rest=("${passed[@]}")
[ -n "$src_tag" ] && [ -n "$dst_tag" ] && [ -n "$max_epoch" ] \
    || die "usage: $0 --src_tag T --dst_tag T2 --max_epoch N --enh_config YAML [run.sh options]"
printf '%s\n' "${rest[@]}" | grep -qx -- --enh_config \
    || die "give the source run's --enh_config (run.sh's default config may be another model)"
src=$expdir/enh_$src_tag
dst=$expdir/enh_$dst_tag
[ -f "$src/checkpoint.pth" ] || die "$src/checkpoint.pth missing: train $src_tag first"
if [ ! -f "$dst/checkpoint.pth" ]; then
    log "copy the training state of $src -> $dst"
    rm -rf "$dst.tmp" && mkdir -p "$dst.tmp"
    # checkpoint.pth, the kept Nepoch.pth and the links to them (valid.loss.best.pth ...):
    # ESPnet only re-links the best model when a new epoch beats it.
    cp -a "$src"/*.pth "$src/config.yaml" "$dst.tmp/"
    cp -a "$src/train.log" "$dst.tmp/train.first_part.log"
    [ -d "$src/images" ] && cp -a "$src/images" "$dst.tmp/"
    mv "$dst.tmp" "$dst"
fi
./run.sh --stage 5 --stop-stage 6 --expdir "$expdir" --enh_tag "$dst_tag" \
    "${rest[@]}" --enh_args "$enh_args --max_epoch $max_epoch"
exit 0
}
