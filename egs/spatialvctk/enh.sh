#!/usr/bin/env bash
# Stage script of the SpatialVCTK recipe (modelled on ESPnet's egs2/TEMPLATE/enh1/enh.sh).
#
#   1 data        simulate SpatialVCTK (VCTK or the embedded corpus) into data/
#   2 stats       validate data dirs, (ref-mic copies), ESPnet --collect_stats
#   3 fs_train    FEABASE feature-suppression CycleGAN (skipped without --fs_config)
#   4 lists       training list of the variant: erm | oracle_data | oracle_re:<w> | feabase
#   5 train       separator training through sepplug.bin.enh_train
#   6 score       inference + SI-SDR(i)/SDR(i) per test subset, RESULTS.md, bar chart
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
dumpdir=dump
expdir=exp
data_opts=""               # extra options of local/data.sh (sizes, segment ...)
enh_config=conf/tuning/train_enh_mc_dprnn_cpu.yaml
enh_args=""                # extra arguments of enh_train (override the config)
tag=""                     # exp/enh_<tag>; default: config name + variant
input_channels=all         # all: C-channel mixture; ref: reference mic only (1-ch models)
ref_channel=0
train_variant=erm          # erm | oracle_data | oracle_re:easy=1,hard=4,both=1 | feabase
fs_config=""               # FEABASE feature-suppression config (stage 3)
fs_tag=fs_cyclegan
inference_model=valid.loss.best.pth
train_set=train
valid_set=dev
test_sets="test_easy test_hard test_both"
results_title="SpatialVCTK"

help_message="Usage: $0 [--stage N] [--stop_stage N] [--nj N] [--ngpu N] [--fs 8k|16k]
  [--enh_config YAML] [--enh_args ARGS] [--tag TAG] [--input_channels all|ref]
  [--train_variant erm|oracle_data|oracle_re:easy=W,hard=W,both=W|feabase]
  [--fs_config YAML] [--inference_model FILE] [--expdir DIR] [--data_opts OPTS]"

. utils/parse_options.sh

. ./path.sh
. ./cmd.sh

[ "$stage" -le "$stop_stage" ] || die "--stage $stage is beyond --stop_stage $stop_stage"
case "$fs" in 8k) fs_hz=8000 ;; 16k) fs_hz=16000 ;; *) die "--fs must be 8k or 16k, got '$fs'" ;; esac
case "$input_channels" in all|ref) ;; *) die "--input_channels must be all or ref" ;; esac
[ -f "$enh_config" ] || die "--enh_config $enh_config: no such file"

if [ -z "$tag" ]; then
    tag=$(basename "${enh_config}" .yaml)_${train_variant//[:=,]/_}
fi
enh_exp=$expdir/enh_$tag
fs_exp=$expdir/$fs_tag
fs_dir=$dumpdir/raw/${train_set}_${fs_tag}   # FS-transformed D_both of the training set
mkdir -p "$expdir"


# The data dir a model reads for set $1 (ref-mic copy for 1-channel models).
input_dir() {
    if [ "$input_channels" = ref ]; then echo "$dumpdir/raw/$1_ch${ref_channel}"; else echo "$datadir/$1"; fi
}

# ---- stage 1: data ---------------------------------------------------------
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    if is_done "$datadir" data_$fs; then
        log "stage 1: $datadir already complete, skipped"
    else
        log "stage 1: simulate SpatialVCTK at $fs into $datadir"
        # shellcheck disable=SC2086
        local/data.sh --fs "$fs_hz" --nj "$nj" --datadir "$datadir" $data_opts
        done_mark "$datadir" data_$fs
    fi
fi

# ---- stage 2: validate, format, statistics ------------------------------------
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    for s in "$train_set" "$valid_set" $test_sets; do
        [ -d "$datadir/$s" ] || die "stage 2: $datadir/$s is missing: run stage 1"
        ${python} -m sepplug.cli validate-data "$datadir/$s" >/dev/null \
            || die "stage 2: $datadir/$s failed validation (see above)"
        if [ "$input_channels" = ref ] && ! is_done "$(input_dir "$s")" format; then
            log "stage 2: reference-mic copy of $s"
            ${python} -m sepplug.bin.select_channel --in_dir "$datadir/$s" \
                --out_dir "$(input_dir "$s")" --channel "$ref_channel"
            done_mark "$(input_dir "$s")" format
        fi
    done
    log "stage 2: data dirs valid"
fi

collect_stats() {  # $1 train dir, $2 valid dir, $3 output dir (locked: runs may share it)
    mkdir -p "$(dirname "$3")"
    exec 9>"$3.lock"
    flock 9
    if is_done "$3" stats; then flock -u 9; return 0; fi
    log "collect stats: $1 -> $3"
    rm -rf "$3.tmp"
    # shellcheck disable=SC2086
    ${train_cmd} "$3.tmp/logdir/stats.log" ${python} -m sepplug.bin.enh_train \
        --collect_stats true --config "$enh_config" \
        $(data_args train "$1") $(data_args valid "$2") \
        --train_shape_file "$1/wav.scp" --valid_shape_file "$2/wav.scp" \
        --output_dir "$3.tmp" --ngpu 0 --num_workers 0 \
        || die "collect stats failed: see $3.tmp/logdir/stats.log"
    rm -rf "$3" && mv "$3.tmp" "$3" && done_mark "$3" stats
    flock -u 9
}

data_args() {  # $1 train|valid, $2 data dir: ESPnet --*_data_path_and_name_and_type args
    echo "--$1_data_path_and_name_and_type $2/wav.scp,speech_mix,sound"
    echo "--$1_data_path_and_name_and_type $2/spk1.scp,speech_ref1,sound"
    echo "--$1_data_path_and_name_and_type $2/spk2.scp,speech_ref2,sound"
}

# ---- stage 3: FEABASE feature-suppression model -------------------------------
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
    if [ -z "$fs_config" ]; then
        log "stage 3: no --fs_config: this configuration uses no feature suppression, skipped"
    elif is_done "$fs_exp" fs_train; then
        log "stage 3: $fs_exp already trained, skipped"
    else
        log "stage 3: train the feature-suppression CycleGAN ($fs_config) -> $fs_exp"
        ${cuda_cmd} "$fs_exp/fs_train.log" ${python} -m sepplug.bin.fs_train \
            --train_dir "$datadir/$train_set" --out_dir "$fs_exp" --config "$fs_config" --resume \
            || die "stage 3 failed: see $fs_exp/fs_train.log"
        done_mark "$fs_exp" fs_train
    fi
fi

# ---- stage 4: training list of the variant ------------------------------------
train_dir=$(input_dir "$train_set")
case "$train_variant" in
    erm) ;;
    oracle_data) train_dir=$dumpdir/raw/${train_set}_oracle_data_${input_channels} ;;
    oracle_re:*) train_dir=$dumpdir/raw/${train_set}_re_${train_variant#oracle_re:}_${input_channels}
                 train_dir=${train_dir//[=,]/_} ;;
    feabase) ;;
    *) die "unknown --train_variant '$train_variant'" ;;
esac
# Shape files depend only on the training list: runs on the same list share them.
stats_dir=$expdir/enh_stats_${fs}_$(basename "$train_dir")
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
    case "$train_variant" in
        erm) log "stage 4: ERM trains on $train_dir as it is" ;;
        oracle_data)
            is_done "$train_dir" list || ${python} -m sepplug.bin.make_train_list \
                --in_dir "$(input_dir "$train_set")" --in_dir "$(input_dir "${train_set}_hard_extra")" \
                --out_dir "$train_dir"
            done_mark "$train_dir" list ;;
        oracle_re:*)
            is_done "$train_dir" list || ${python} -m sepplug.bin.make_train_list \
                --in_dir "$(input_dir "$train_set")" --weights "${train_variant#oracle_re:}" \
                --out_dir "$train_dir"
            done_mark "$train_dir" list ;;
        feabase)
            [ -f "$fs_exp/model.pth" ] || die "stage 4: FEABASE needs $fs_exp/model.pth: run stage 3 with --fs_config"
            if ! is_done "$fs_dir" fs_apply; then
                log "stage 4: transform the D_both sources of $train_set -> $fs_dir"
                ${python} -m sepplug.bin.fs_apply --model "$fs_exp/model.pth" \
                    --in_dir "$datadir/$train_set" --out_dir "$fs_dir" --categories both
                done_mark "$fs_dir" fs_apply
            fi ;;
    esac
fi

# Two runs of the same experiment (same tag) would overwrite each other's training and
# scoring: the second waits for the first, then finds its stages done.
if [ "$stop_stage" -ge 5 ]; then
    mkdir -p "$enh_exp"
    exec 8>"$enh_exp/.lock"
    flock -n 8 || { log "$enh_exp is in use by another run: waiting for it"; flock 8; }
fi

# ---- stage 5: separator training ----------------------------------------------
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
    [ -f "$train_dir/wav.scp" ] || die "stage 5: $train_dir/wav.scp missing: run stages 1-4"
    if is_done "$enh_exp" train; then
        log "stage 5: $enh_exp already trained, skipped"
    else
        collect_stats "$train_dir" "$(input_dir "$valid_set")" "$stats_dir"
        extra=()
        if [ "$train_variant" = feabase ]; then
            extra=(--preprocessor feabase --preprocessor_conf "fs_dir=$fs_dir")
        fi
        log "stage 5: train $enh_config on $train_dir -> $enh_exp (log: $enh_exp/train.log)"
        mkdir -p "$enh_exp"
        # shellcheck disable=SC2046,SC2086
        ${cuda_cmd} "$enh_exp/train.log" ${python} -m sepplug.bin.enh_train \
            --config "$enh_config" \
            $(data_args train "$train_dir") $(data_args valid "$(input_dir "$valid_set")") \
            --train_shape_file "$stats_dir/train/speech_mix_shape" \
            --valid_shape_file "$stats_dir/valid/speech_mix_shape" \
            --output_dir "$enh_exp" --ngpu "$ngpu" --resume true "${extra[@]}" $enh_args \
            || die "stage 5 failed: see $enh_exp/train.log"
        done_mark "$enh_exp" train
    fi
fi

# ---- stage 6: inference and scoring -------------------------------------------
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
    model=$enh_exp/$inference_model
    [ -f "$model" ] || die "stage 6: checkpoint $model missing: run stage 5 (or set --inference_model)"
    [ -f "$enh_exp/config.yaml" ] || die "stage 6: $enh_exp/config.yaml missing"
    for s in $test_sets; do
        out=$enh_exp/enhanced_$s
        if is_done "$out" score; then log "stage 6: $out already scored, skipped"; continue; fi
        log "stage 6: separate $s with $model"
        rm -rf "$out.tmp"; mkdir -p "$out.tmp/logdir"
        ${decode_cmd} "$out.tmp/logdir/inference.log" ${python} -m sepplug.bin.enh_inference \
            --ngpu 0 --fs "$fs_hz" --normalize_output_wav true \
            --data_path_and_name_and_type "$(input_dir "$s")/wav.scp,speech_mix,sound" \
            --train_config "$enh_exp/config.yaml" --model_file "$model" \
            --output_dir "$out.tmp" \
            || die "stage 6: inference failed: see $out.tmp/logdir/inference.log"
        ${python} -m sepplug.bin.score_separation \
            --ref_scp "$datadir/$s/spk1.scp" --ref_scp "$datadir/$s/spk2.scp" \
            --inf_scp "$out.tmp/spk1.scp" --inf_scp "$out.tmp/spk2.scp" \
            --mix_scp "$datadir/$s/wav.scp" --ref_channel "$ref_channel" \
            --out_dir "$out.tmp/scoring" 2>"$out.tmp/logdir/scoring.log" \
            || die "stage 6: scoring failed: see $out.tmp/logdir/scoring.log"
        # ESPnet's scp files name wavs under the output dir: point them at the final place.
        sed -i "s#$out.tmp/#$out/#g" "$out.tmp"/spk*.scp
        rm -rf "$out" && mv "$out.tmp" "$out" && done_mark "$out" score
    done
    ${python} -m sepplug.bin.make_results --expdir "$expdir" --title "$results_title" \
        --out "$expdir/RESULTS.md" --plot "$expdir/results_si_sdri.png"
    log "stage 6: $expdir/RESULTS.md, $expdir/results_si_sdri.png"
fi
log "finished stages $stage-$stop_stage ($enh_exp)"
exit 0
}
