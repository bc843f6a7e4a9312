#!/usr/bin/env bash
# Stage 4 hook of the SpatialVCTK recipe (called by enh.sh): the training data of the
# variants beside ERM (erm, the training set as it is, is enh.sh's own):
#   oracle_data       the training set + --oracle_extra mixtures of the real extra D_hard
#                     (<train_set>_hard_extra) -> <dumpdir>/raw/<train_set>_oracle_data_<N>_<all|ref>
#   easy_only         the training set's D_easy only -> <dumpdir>/raw/<train_set>_easy_only_<all|ref>
#   hard_only         the extra D_hard alone (<train_set>_hard_extra, every mixture): the
#                     timbre-only model of Table 1 and the start of Figure 2's protocol
#   oracle_re:easy=W,hard=W,both=W   the training set with its subsets drawn W times
#                     -> <dumpdir>/raw/<train_set>_re_easy_W_hard_W_both_W_<all|ref>
#   feabase           the training set as it is; the feabase preprocessor swaps in the D_both
#                     sources transformed by stage 3's FS model (<dumpdir>/raw/<train_set>_<fs_tag>)
#   local/train_data.sh --variant V --make true|false --out FILE --datadir D --dumpdir U
#       --expdir E --train_set T --input_channels all|ref --ref_channel N
#       [--fs_config YAML] [--fs_tag fs_steer] [--oracle_extra 550]
# FILE: line 1 the training data dir, then the variant's extra enh_train arguments, one a
# line. --make true makes the dir (done markers: list; fs_apply with the FS model's checksum,
# so a retrained FS model redoes the transformed audio); false only names it.
set -euo pipefail
{
. utils/recipe_lib.sh
variant=""
make=false
out=""
datadir=data
dumpdir=dump
expdir=exp
train_set=train
input_channels=all
ref_channel=0
fs_config=""        # (stage 3's option; run.sh passes both hooks the same options)
fs_tag=fs_steer
oracle_extra=550    # oracle data: real D_hard mixtures added, fixed before any run: the
                    # share FEABASE p = 0.5 makes D_hard-like (half of train's 1100 D_both)
. utils/parse_options.sh
. ./path.sh
case "$make" in true|false) ;; *) die "--make must be true or false, got '$make'" ;; esac
[ -n "$out" ] || die "--out FILE is required"

input_dir() { model_input_dir "$datadir" "$dumpdir" "$input_channels" "$ref_channel" "$1"; }
train_dir_src=$(input_dir "$train_set")  # the training set as the model reads it
train_dir=$train_dir_src
extra=()
list_args=()  # the variants made by make_train_list: its inputs
fs_exp=$expdir/$fs_tag
fs_dir=$dumpdir/raw/${train_set}_${fs_tag}   # FS-transformed D_both of the training set
case "$variant" in
    oracle_data) train_dir=$dumpdir/raw/${train_set}_oracle_data_${oracle_extra}_${input_channels}
                 list_args=(--in_dir "$train_dir_src" --in_dir "$(input_dir "${train_set}_hard_extra")"
                            --extra_limit "$oracle_extra") ;;
    easy_only)   train_dir=$dumpdir/raw/${train_set}_easy_only_${input_channels}
                 list_args=(--in_dir "$train_dir_src" --weights easy=1,hard=0,both=0) ;;
    hard_only)   train_dir=$(input_dir "${train_set}_hard_extra") ;;
    oracle_re:*) train_dir=$dumpdir/raw/${train_set}_re_${variant#oracle_re:}_${input_channels}
                 train_dir=${train_dir//[=,]/_}
                 list_args=(--in_dir "$train_dir_src" --weights "${variant#oracle_re:}") ;;
    feabase) extra=(--preprocessor feabase --preprocessor_conf "fs_dir=$fs_dir") ;;
    *) die "unknown --train_variant '$variant'" ;;
esac
if $make && [ ${#list_args[@]} -gt 0 ]; then
    is_done "$train_dir" list || ${python} -m sepplug.recipes.spatialvctk.make_train_list \
        "${list_args[@]}" --out_dir "$train_dir"
    done_mark "$train_dir" list
elif $make && [ "$variant" = feabase ]; then
    [ -f "$fs_exp/model.pth" ] || die "stage 4: FEABASE needs $fs_exp/model.pth: run stage 3 with --fs_config"
    # The marker holds model.pth's checksum: a retrained FS model redoes the audio.
    if ! is_done_for "$fs_dir" fs_apply "$fs_exp/model.pth"; then
        log "stage 4: transform the D_both sources of $train_set -> $fs_dir"
        rm -rf "$fs_dir"
        ${python} -m sepplug.bin.fs_apply --model "$fs_exp/model.pth" \
            --in_dir "$datadir/$train_set" --out_dir "$fs_dir" --categories both
        done_mark_for "$fs_dir" fs_apply "$fs_exp/model.pth"
    fi
fi
printf '%s\n' "$train_dir" "${extra[@]}" >"$out"
exit 0
}
