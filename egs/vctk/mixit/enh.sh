#!/usr/bin/env bash
# Stage script of the VCTK MixIT recipe (modelled on ESPnet's egs2/TEMPLATE/enh1/enh.sh and
# egs/spatialvctk/enh.sh). One model (--enh_config) per call; run.sh loops over the configs.
#
#   1 data        corpus (VCTK or embedded) -> data/{train,dev} (MoM) and data/test
#   2 validate    check the data dirs (sepplug validate-data)
#   3 stats       ESPnet --collect_stats (shape files; shared by the runs on one train set)
#   4 train       MixIT training through sepplug.bin.enh_train (unsupervised: the
#                 references are the two mixtures of each mixture of mixtures)
#   5 separate    sepplug.bin.enh_inference on the test sets (M outputs, not normalised)
#   6 score       FUSS metrics (1S, MSi, over-separation) + RESULTS.md
#
# Every stage leaves a done marker and is skipped when it is there; a killed stage
# reruns from scratch (its outputs are written under temp names, then renamed).
set -euo pipefail
# The whole script is one compound command, so bash parses it before running it:
# editing enh.sh while a long stage runs cannot derail the running instance.
{
. utils/recipe_lib.sh

# ---- options (override on the command line: --name value) ----------------
stage=1
stop_stage=6
nj=2
ngpu=0
python=python3
fs=8k                      # 8k or 16k
datadir=data
expdir=exp
data_opts=""               # extra options of local/data.sh (sizes, segment, sources ...)
enh_config=conf/tuning/train_enh_mixit_m4_cpu.yaml
enh_args=""                # extra arguments of enh_train (override the config)
tag=""                     # exp/enh_<tag>; default: the config's name
inference_model=auto       # auto: <best_model_criterion[0]>.best.pth of the model's config
threshold_db=-20           # an output is active above this level re the quietest source
train_set=train
valid_set=dev
test_sets="test"
results_title="VCTK MixIT (unsupervised)"

help_message="Usage: $0 [--stage N] [--stop_stage N] [--nj N] [--ngpu N] [--fs 8k|16k]
  [--enh_config YAML] [--enh_args ARGS] [--tag TAG] [--inference_model FILE|auto]
  [--threshold_db DB] [--datadir DIR] [--expdir DIR] [--data_opts OPTS]"

. utils/parse_options.sh

. ./path.sh
. ./cmd.sh

[ "$stage" -le "$stop_stage" ] || die "--stage $stage is beyond --stop_stage $stop_stage"
case "$fs" in 8k) fs_hz=8000 ;; 16k) fs_hz=16000 ;; *) die "--fs must be 8k or 16k, got '$fs'" ;; esac
[ -f "$enh_config" ] || die "--enh_config $enh_config: no such file"

tag=${tag:-$(basename "$enh_config" .yaml)}
enh_exp=$expdir/enh_$tag
stats_dir=$expdir/enh_stats_${fs}_${train_set}
mkdir -p "$expdir"


data_args() {  # $1 train|valid, $2 data dir: MoM as speech_mix, the 2 mixtures as refs
    echo "--$1_data_path_and_name_and_type $2/wav.scp,speech_mix,sound"
    echo "--$1_data_path_and_name_and_type $2/spk1.scp,speech_ref1,sound"
    echo "--$1_data_path_and_name_and_type $2/spk2.scp,speech_ref2,sound"
}

# ---- stage 1: data ---------------------------------------------------------
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    if is_done "$datadir" data_$fs; then
        log "stage 1: $datadir already complete, skipped"
    else
        log "stage 1: MixIT data at $fs into $datadir"
        # shellcheck disable=SC2086
        local/data.sh --fs "$fs_hz" --nj "$nj" --datadir "$datadir" $data_opts \
            || die "stage 1: local/data.sh failed"
        done_mark "$datadir" data_$fs
    fi
fi

# ---- stage 2: validate -----------------------------------------------------
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    for s in "$train_set" "$valid_set" $test_sets; do
        [ -d "$datadir/$s" ] || die "stage 2: $datadir/$s is missing: run stage 1"
        ${python} -m sepplug.cli validate-data --fs "$fs_hz" --channels 1 "$datadir/$s" \
            || die "stage 2: $datadir/$s failed validation (see above)"
    done
    for s in "$train_set" "$valid_set"; do
        [ -f "$datadir/$s/spk2.scp" ] || die "stage 2: $datadir/$s has no spk2.scp: not a MoM dir"
    done
    for s in $test_sets; do
        [ -f "$datadir/$s/utt2num_sources" ] && [ -f "$datadir/$s/src1.scp" ] \
            || die "stage 2: $datadir/$s lacks utt2num_sources/src1.scp: not a MixIT test dir"
    done
    log "stage 2: data dirs valid"
fi

# ---- stage 3: statistics (shape files) -----------------------------------------
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
    train_dir=$datadir/$train_set
    valid_dir=$datadir/$valid_set
    [ -f "$train_dir/wav.scp" ] || die "stage 3: $train_dir/wav.scp missing: run stage 1"
    # Runs of other configs on the same train set share the shape files: lock them.
    exec 9>"$stats_dir.lock"
    flock 9
    if is_done "$stats_dir" stats; then
        log "stage 3: $stats_dir already complete, skipped"
    else
        log "stage 3: collect stats: $train_dir -> $stats_dir"
        rm -rf "$stats_dir.tmp"
        # shellcheck disable=SC2046
        ${train_cmd} "$stats_dir.tmp/logdir/stats.log" ${python} -m sepplug.bin.enh_train \
            --collect_stats true --config "$enh_config" \
            $(data_args train "$train_dir") $(data_args valid "$valid_dir") \
            --train_shape_file "$train_dir/wav.scp" --valid_shape_file "$valid_dir/wav.scp" \
            --output_dir "$stats_dir.tmp" --ngpu 0 --num_workers 0 \
            || die "stage 3: collect stats failed: see $stats_dir.tmp/logdir/stats.log"
        rm -rf "$stats_dir" && mv "$stats_dir.tmp" "$stats_dir" && done_mark "$stats_dir" stats
    fi
    flock -u 9
fi

# Two runs of the same experiment (same tag) would overwrite each other's training and
# scoring: the second waits for the first, then finds its stages done.
if [ "$stop_stage" -ge 4 ]; then
    mkdir -p "$enh_exp"
    exec 8>"$enh_exp/.lock"
    flock -n 8 || { log "$enh_exp is in use by another run: waiting for it"; flock 8; }
fi

# ---- stage 4: MixIT training ------------------------------------------------------
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
    if is_done "$enh_exp" train; then
        log "stage 4: $enh_exp already trained, skipped"
    else
        is_done "$stats_dir" stats || die "stage 4: $stats_dir is not complete: run stage 3"
        log "stage 4: train $enh_config -> $enh_exp (log: $enh_exp/train.log)"
        # shellcheck disable=SC2046,SC2086
        ${cuda_cmd} "$enh_exp/train.log" ${python} -m sepplug.bin.enh_train \
            --config "$enh_config" \
            $(data_args train "$datadir/$train_set") $(data_args valid "$datadir/$valid_set") \
            --train_shape_file "$stats_dir/train/speech_mix_shape" \
            --valid_shape_file "$stats_dir/valid/speech_mix_shape" \
            --output_dir "$enh_exp" --ngpu "$ngpu" --resume true $enh_args \
            || die "stage 4 failed: see $enh_exp/train.log"
        done_mark "$enh_exp" train
    fi
fi

# The checkpoint stages 5 and 6 use.
model_file() {
    [ -f "$enh_exp/config.yaml" ] \
        || die "checkpoint of $enh_exp missing (no config.yaml): run stage 4"
    local name=$inference_model
    if [ "$name" = auto ]; then
        name=$(${python} -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1])) or {}
best = (c.get("best_model_criterion") or [["valid", "loss", "min"]])[0]
print(f"{best[0]}.{best[1]}.best.pth")' "$enh_exp/config.yaml") \
            || die "cannot read best_model_criterion of $enh_exp/config.yaml"
    fi
    [ -f "$enh_exp/$name" ] \
        || die "checkpoint $enh_exp/$name missing: run stage 4 (or set --inference_model)"
    echo "$enh_exp/$name"
}

# ---- stage 5: separate the test sets ----------------------------------------------
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
    model=$(model_file)
    for s in $test_sets; do
        out=$enh_exp/enhanced_$s
        if is_done "$out" separate; then log "stage 5: $out already separated, skipped"; continue; fi
        log "stage 5: separate $s with $model"
        rm -rf "$out.tmp"; mkdir -p "$out.tmp/logdir"
        # Outputs keep their levels (no per-output normalisation): activity and
        # over-separation are judged on them.
        ${decode_cmd} "$out.tmp/logdir/inference.log" ${python} -m sepplug.bin.enh_inference \
            --ngpu 0 --fs "$fs_hz" --normalize_output_wav false \
            --data_path_and_name_and_type "$datadir/$s/wav.scp,speech_mix,sound" \
            --train_config "$enh_exp/config.yaml" --model_file "$model" \
            --output_dir "$out.tmp" \
            || die "stage 5: inference failed: see $out.tmp/logdir/inference.log"
        # ESPnet's scp files name wavs under the output dir: point them at the final place.
        sed -i "s#$out.tmp/#$out/#g" "$out.tmp"/spk*.scp
        rm -rf "$out" && mv "$out.tmp" "$out" && done_mark "$out" separate
    done
fi

# ---- stage 6: FUSS scoring and RESULTS.md -----------------------------------------
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
    model_file >/dev/null
    for s in $test_sets; do
        out=$enh_exp/enhanced_$s
        is_done "$out" separate || die "stage 6: $out is not separated: run stage 5"
        if is_done "$out" score; then log "stage 6: $out already scored, skipped"; continue; fi
        inf_args=()
        while IFS= read -r scp; do inf_args+=(--inf_scp "$scp"); done \
            < <(find "$out" -maxdepth 1 -name 'spk*.scp' | sort -V)
        [ ${#inf_args[@]} -gt 0 ] || die "stage 6: no spk*.scp in $out"
        log "stage 6: score $s ($(( ${#inf_args[@]} / 2 )) outputs)"
        rm -rf "$out/scoring" "$out/scoring.tmp"
        ${python} -m sepplug.bin.score_mixit --data_dir "$datadir/$s" "${inf_args[@]}" \
            --threshold_db "$threshold_db" --out_dir "$out/scoring.tmp" \
            2>"$out/scoring.log" \
            || { tail -n 3 "$out/scoring.log" >&2; die "stage 6: scoring failed: see $out/scoring.log"; }
        mv "$out/scoring.tmp" "$out/scoring" && done_mark "$out" score
    done
    ${python} -m sepplug.bin.make_mixit_results --expdir "$expdir" --title "$results_title" \
        --out "$expdir/RESULTS.md" >/dev/null \
        || die "stage 6: make_mixit_results failed"
    log "stage 6: $expdir/RESULTS.md"
fi
log "finished stages $stage-$stop_stage ($enh_exp)"
exit 0
}
