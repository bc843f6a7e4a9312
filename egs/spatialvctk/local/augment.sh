#!/usr/bin/env bash
# Stage 3 hook of the SpatialVCTK recipe (called by enh.sh): FEABASE's feature-suppression
# CycleGAN (sepplug.bin.fs_train) trained on the training set, validated on the dev set,
# into <expdir>/<fs_tag>; skipped without --fs_config (run.sh's --fs_config / --fs_tag reach
# it through enh.sh's --local_train_opts).
#   local/augment.sh --datadir D --dumpdir U --expdir E --train_set T --valid_set V
#                    [--fs_config YAML] [--fs_tag fs_steer]
set -euo pipefail
{
. utils/recipe_lib.sh
datadir=data
dumpdir=dump        # (enh.sh passes it to every hook; unused here)
expdir=exp
train_set=train
valid_set=dev
fs_config=""        # the feature-suppression model's config
fs_tag=fs_steer     # its dir under --expdir
. utils/parse_options.sh
. ./path.sh
. ./cmd.sh

fs_exp=$expdir/$fs_tag
if [ -z "$fs_config" ]; then
    log "stage 3: no --fs_config: this configuration uses no feature suppression, skipped"
elif is_done "$fs_exp" fs_train; then
    log "stage 3: $fs_exp already trained, skipped"
else
    log "stage 3: train the feature-suppression CycleGAN ($fs_config) -> $fs_exp"
    # (enh.sh's --ngpu reaches hooks as $ngpu: fs_train uses one GPU when given any, and a
    # CPU run, --ngpu 0, asks the job system for none)
    ${cuda_cmd} --gpu $(( ${ngpu:-0} > 0 ? 1 : 0 )) "$fs_exp/fs_train.log" \
        ${python} -m sepplug.bin.fs_train \
        --train_dir "$datadir/$train_set" --valid_dir "$datadir/$valid_set" \
        --out_dir "$fs_exp" --config "$fs_config" --resume \
        || die "stage 3 failed: see $fs_exp/fs_train.log"
    done_mark "$fs_exp" fs_train
fi
exit 0
}
