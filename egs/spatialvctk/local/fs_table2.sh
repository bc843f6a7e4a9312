#!/usr/bin/env bash
# FEABASE Table 2 on held-out data: does the FS model remove the spatial cue and keep timbre?
#
#   local/fs_table2.sh [--fs_tag fs_steer] [--test_set test_both] [--expdir exp]
#       [--enh_config YAML] [--erm_tag T] [--timbre_tag T] [--timbre6_tag T] [--spatial_tag T]
#       [--dumpdir DIR] [--enh_args ARGS]
#
#  (b) angle between the two sources of --test_set before and after the FS model
#      (SRP-PHAT on GCC-PHAT, share of pairs < 20 deg): exp/<fs_tag>/table2b_<test_set>.txt
#  (a) SI-SDRi of a spatial-only separator (the 6-ch model trained on D_easy only, where two
#      copies of one speaker differ only in direction) and a timbre-only separator (the
#      1-ch model on the reference mic: it cannot see direction) on --test_set and on its
#      FS-transformed copy; with --timbre6_tag, a 6-ch timbre-only model too (trained on
#      D_hard only, variant hard_only): it sees every mic, so — unlike the 1-ch model, which
#      passes by construction (the FS model never changes mic 0) — it fails the check when
#      the FS model leaves spatial traces it can use; the 6-ch ERM model beside them:
#      exp/<fs_tag>/table2a_<test_set>.md
#  (c) every check of the FEABASE issue as results rows (family fs_check: angle share,
#      separator drops, leakage, timbre LSD against a room change): exp/<fs_tag>/fs_check.tsv
#      and .md, which make_results adds to results/summary.tsv and RESULTS.md
#
# Needs: stage 3 (exp/<fs_tag>/model.pth), and the ERM runs of run.sh (mc_dprnn, ref-mic
# dprnn); trains the spatial-only separator when it is missing.
set -euo pipefail
{
. utils/recipe_lib.sh
fs_tag=fs_steer
test_set=test_both
expdir=exp
datadir=data
enh_config=conf/tuning/train_enh_tf_dualpath_cpu.yaml
refmic_config=conf/tuning/train_enh_rnn_1ch_cpu.yaml
erm_tag=""            # default: <enh_config name>_erm, as run.sh names it
timbre_tag=""         # default: <refmic_config name>_erm
timbre6_tag=""        # a 6-ch model trained on D_hard only (trained when missing); "": none
spatial_tag=""        # default: spatial_only_<enh_config name>
dumpdir=dump
enh_args=""           # extra enh_train arguments of the spatial-only training
. utils/parse_options.sh
. ./path.sh

fs_exp=$expdir/$fs_tag
fs_set=${test_set}_${fs_tag}
model_tag() { echo "$(basename "$1" .yaml)_$2"; }
spatial_tag=${spatial_tag:-$(model_tag "$enh_config" easy_only)}
erm_tag=${erm_tag:-$(model_tag "$enh_config" erm)}
timbre_tag=${timbre_tag:-$(model_tag "$refmic_config" erm)}
[ -f "$fs_exp/model.pth" ] || die "$fs_exp/model.pth missing: run stage 3 with --fs_config"

# The FS-transformed test set, as a data dir beside the others (references transformed too).
# (the marker holds model.pth's checksum: a retrained FS model redoes the transformed set)
if ! is_done_for "$datadir/$fs_set" fs_apply "$fs_exp/model.pth"; then
    log "transform the sources of $datadir/$test_set -> $datadir/$fs_set"
    rm -rf "$datadir/$fs_set"
    python3 -m sepplug.bin.fs_apply --model "$fs_exp/model.pth" --in_dir "$datadir/$test_set" \
        --out_dir "$datadir/$fs_set" --categories both easy hard --no_progress
    done_mark_for "$datadir/$fs_set" fs_apply "$fs_exp/model.pth"
fi

log "Table 2 (b): source angles before/after FS"
python3 -m sepplug.recipes.spatialvctk.fs_verify --dir "$datadir/$test_set" --dir2 "$datadir/$fs_set" \
    --suffix _fs --no_progress >"$fs_exp/table2b_$test_set.txt.tmp"
mv "$fs_exp/table2b_$test_set.txt.tmp" "$fs_exp/table2b_$test_set.txt"

log "Table 2 (a): separators on $test_set and $fs_set"
common=(--expdir "$expdir" --datadir "$datadir" --dumpdir "$dumpdir" --enh_args "$enh_args"
        --test_sets "$test_set $fs_set")
# Spatial-only separator: D_easy only (Table 1's easy_only; trained here when missing).
./run.sh --stage 4 --stop-stage 6 --enh_config "$enh_config" --enh_tag "$spatial_tag" \
    --train_variant easy_only "${common[@]}" >"$expdir/table2.$spatial_tag.log" 2>&1 &
if [ -n "$timbre6_tag" ]; then
    ./run.sh --stage 4 --stop-stage 6 --enh_config "$enh_config" --enh_tag "$timbre6_tag" \
        --train_variant hard_only "${common[@]}" >"$expdir/table2.$timbre6_tag.log" 2>&1 &
fi
./run.sh --stage 6 --stop-stage 6 --enh_config "$enh_config" --enh_tag "$erm_tag" "${common[@]}" \
    >"$expdir/table2.$erm_tag.log" 2>&1 &
./run.sh --stage 2 --stop-stage 6 --enh_config "$refmic_config" --enh_tag "$timbre_tag" \
    --input_channels ref "${common[@]}" >"$expdir/table2.$timbre_tag.log" 2>&1 &
failed=0
for pid in $(jobs -p); do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "a Table 2 run failed: see $expdir/table2.*.log"

python3 -m sepplug.recipes.spatialvctk.fs_table2 --expdir "$expdir" --orig "$test_set" --transformed "$fs_set" \
    --model "$spatial_tag=spatial-only: 6-ch $(basename "$enh_config" .yaml) trained on D_easy" \
    --model "$timbre_tag=timbre-only: 1-ch $(basename "$refmic_config" .yaml) (reference mic)" \
    ${timbre6_tag:+--model "$timbre6_tag=timbre-only: 6-ch $(basename "$enh_config" .yaml) trained on D_hard"} \
    --model "$erm_tag=ERM: 6-ch $(basename "$enh_config" .yaml) on D_all" \
    --out "$fs_exp/table2a_$test_set.md"

log "FS checks (family fs_check)"
python3 -m sepplug.recipes.spatialvctk.fs_check --orig "$datadir/$test_set" --transformed "$datadir/$fs_set" \
    --expdir "$expdir" --model "$fs_tag" --spatial_tag "$spatial_tag" --timbre_tag "$timbre_tag" \
    ${timbre6_tag:+--timbre6_tag "$timbre6_tag"} \
    --out "$fs_exp/fs_check.tsv" --table "$fs_exp/fs_check.md" \
    --arrival_png "$fs_exp/arrival_order.png"
flock "$expdir/.results.lock" python3 -m sepplug.recipes.spatialvctk.make_results --expdir "$expdir" \
    --out "$expdir/RESULTS.md" --title SpatialVCTK >/dev/null
log "$fs_exp/table2a_$test_set.md, $fs_exp/table2b_$test_set.txt, $fs_exp/fs_check.md"
cat "$fs_exp/table2a_$test_set.md" "$fs_exp/table2b_$test_set.txt" "$fs_exp/fs_check.md"
exit 0
}
