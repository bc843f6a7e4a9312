#!/usr/bin/env bash
# VCTK 2-speaker separation with dynamic mixing (DM) and hard-sample mining ("Mining hard
# samples locally and globally for improved speech separation"): ESPnet's stock `rnn`
# separator (BLSTM masks) trained on mixtures drawn on the fly, one run per family:
#   dm          uniform partners (ESPnet's DynamicMixingPreprocessor)
#   dm_wtl      + rank-weighted PIT in training (WTL, local mining; wrapper wpit)
#   dm_hm       hard speaker pairs drawn more often (HM, global mining; preprocessor hard_dm)
#   dm_hm_wtl   both
#   dm_wvl, dm_wtl_wvl   the dm / dm_wtl runs' checkpoints best by the rank-weighted dev-set
#               statistic (WVL: model selection only, no extra training)
# Scored (SI-SNRi) on 1000 fixed test mixtures of unseen speakers and on their hardest 25 %
# as predicted, before any variant is scored, from the speakers' median F0 and embeddings.
#
# Stages: 1-6 the shared enh.sh for dm and dm_wtl (data made once; the two models train side
# by side, --jobs 2); 7 speaker parameters + correlation analysis + hardness predictor
# fitted on dm's dev scores -> pair table and test_hard.list (local/hardness.sh); 8 dm_hm
# and dm_hm_wtl (enh.sh stages 5-6 with the pair table); 9 the WVL checkpoints (enh.sh
# stage 6) and RESULTS.md / results/summary.tsv (sepplug.recipes.hard_mining.make_results).
#
#   ./run.sh                               # stages 1-9 (embedded 300-speaker corpus, 8 kHz)
#   ./run.sh --stage 9 --stop-stage 9      # re-report
#   ./run.sh --enh_args "--max_epoch 2"    # extra enh_train arguments (all runs)
#   ./run.sh --seeds "0 1 2"               # training seeds per family (default "0 1"):
#                                          # seed 0 is exp/enh_<family>, seed k exp/enh_<family>_seed<k>
# Other options go to enh.sh (egs/TEMPLATE/enh1/enh.sh; see its header), later options win.
# DM needs the training set's utt2spk (real speakers): every run gets "--utt2spk
# <datadir>/<train_set>/utt2spk" in front of --enh_args.
set -euo pipefail
{  # read whole before it runs: editing run.sh during a run is safe
cd "$(dirname "$0")"
. utils/recipe_lib.sh

stage=1
stop_stage=9
jobs=2
datadir=data
expdir=exp
train_set=train
corpus_dir=db/embedded_corpus
enh_args=""
seeds="0 1"
passed=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "option $1 needs a value"
    case "$1" in
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --jobs) jobs=$2 ;;
        --enh_args|--enh-args) enh_args=$2 ;;
        --seeds) seeds=$2 ;;
        --datadir) datadir=$2; passed+=("$1" "$2") ;;
        --expdir) expdir=$2; passed+=("$1" "$2") ;;
        --train_set|--train-set) train_set=$2; passed+=("$1" "$2") ;;
        --corpus_dir) corpus_dir=$2; passed+=("$1" "$2") ;;
        *) passed+=("$1" "$2") ;;
    esac
    shift 2
done
[ "$stage" -le "$stop_stage" ] || die "--stage $stage is beyond --stop-stage $stop_stage"
# seeds name the runs (enh_<family>_seed<k>): distinct integers without leading zeros
# (seed 0 is enh_<family>; stage 7 reads enh_dm, so its first run needs 0 among them)
[ "$(printf '%s\n' $seeds | sort -u | wc -l)" -eq "$(printf '%s\n' $seeds | wc -l)" ] \
    || die "--seeds '$seeds': a seed is repeated"
for seed in $seeds; do
    [[ $seed =~ ^(0|[1-9][0-9]*)$ ]] || die "--seeds '$seeds': '$seed' is not a seed number"
done

defaults=(--fs 8k --corpus_opts "--num_speakers 300"
          --local_data_opts "--n_dev 200 --n_test 1000"
          --validate_opts "--channels 1" --test_sets "dev test"
          --results_tool sepplug.recipes.hard_mining.make_results
          --results_title "VCTK 2-speaker dynamic mixing and hard-sample mining")
pairs=$expdir/hardness/pairs.tsv

enh() {  # enh.sh for run $1 (<family> or <family>_seed<k>), stages $2-$3; $4: extra args
    local family=${1%_seed*} seed=0
    [ "$family" = "$1" ] || seed=${1##*_seed}
    ./enh.sh "${defaults[@]}" --enh_config "conf/tuning/train_enh_rnn_${family}_cpu.yaml" \
        --enh_tag "$1" --family "$family" --stage "$2" --stop_stage "$3" "${passed[@]}" \
        --enh_args "--utt2spk $datadir/$train_set/utt2spk --seed $seed ${4:-} $enh_args"
}

runs_of() {  # runs_of FAMILY...: one run name per family and seed (seed 0 = the family)
    local family seed
    for family in "$@"; do
        for seed in $seeds; do
            if [ "$seed" = 0 ]; then echo "$family"; else echo "${family}_seed$seed"; fi
        done
    done
}

train_side_by_side() {  # train_side_by_side FROM TO EXTRA FAMILY...: enh.sh per family
    from=$1 to=$2 extra=$3
    shift 3
    train_family() { enh "$1" "$from" "$to" "$extra"; }
    side_by_side "$jobs" "$expdir" train_family "$@"
}

# ---- stages 1-6: data once, then dm and dm_wtl -----------------------------------------
if [ "$stage" -le 6 ]; then
    last=$(( stop_stage < 6 ? stop_stage : 6 ))
    if [ "$stage" -le 4 ]; then enh dm "$stage" $(( last < 4 ? last : 4 )); fi
    if [ "$last" -ge 5 ]; then
        # shellcheck disable=SC2046  # one word per run name
        train_side_by_side $(( stage > 5 ? stage : 5 )) "$last" "" $(runs_of dm dm_wtl)
    fi
fi

# ---- stage 7: speaker parameters, correlation analysis, pair table, hard test subset ---
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
    local/hardness.sh --expdir "$expdir" --datadir "$datadir" --corpus_dir "$corpus_dir"
fi

# ---- stage 8: hard re-sampling (dm_hm, dm_hm_wtl) -------------------------------------
if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
    [ -f "$pairs" ] || die "stage 8: $pairs missing: run stage 7"
    # shellcheck disable=SC2046
    train_side_by_side 5 6 "--preprocessor_conf pair_table=$pairs" $(runs_of dm_hm dm_hm_wtl)
fi

# ---- stage 9: weighted validation (checkpoint selection) and the results ---------------
if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 9 ]; then
    wvl_ckpt=valid.si_snr_loss_weighted_set.best.pth
    for src in $(runs_of dm dm_wtl); do
        family=${src%_seed*}
        wvl=${family}_wvl${src#"$family"}  # dm_seed1 -> dm_wvl_seed1
        dst=$expdir/enh_$wvl
        [ -f "$expdir/enh_$src/$wvl_ckpt" ] || die "stage 9: $expdir/enh_$src/$wvl_ckpt missing: run stages 5-6"
        mkdir -p "$dst"
        # the same training run, another checkpoint: relative links, not copies; a source
        # epoch that changed (retrained) invalidates the earlier scores
        target=$(readlink "$expdir/enh_$src/$wvl_ckpt" || echo "$wvl_ckpt")
        if [ -f "$dst/source_checkpoint" ] && [ "$(cat "$dst/source_checkpoint")" != "$target" ]; then
            log "stage 9: $expdir/enh_$src/$wvl_ckpt now -> $target: rescoring $wvl"
            rm -rf "$dst"/enhanced_*
        fi
        echo "$target" >"$dst/source_checkpoint"
        ln -sfn "../enh_$src/config.yaml" "$dst/config.yaml"
        ln -sfn "../enh_$src/$target" "$dst/$wvl_ckpt"
        done_mark "$dst" train
        log "stage 9: $wvl = $expdir/enh_$src/$wvl_ckpt"
        ./enh.sh "${defaults[@]}" --enh_config "conf/tuning/train_enh_rnn_${family}_cpu.yaml" \
            --enh_tag "$wvl" --family "${family}_wvl" --inference_model "$wvl_ckpt" \
            --stage 6 --stop_stage 6 "${passed[@]}" \
            || die "stage 9: scoring $wvl failed"
    done
    exps=()
    for run in $(runs_of dm dm_wtl dm_hm dm_hm_wtl); do
        [ -d "$expdir/enh_$run" ] && exps+=(--exp "$expdir/enh_$run")
    done
    . ./path.sh
    ${python} -m sepplug.bin.plot_learning_curves "${exps[@]}" --stat valid/si_snr_loss \
        --stat valid/si_snr_loss_weighted_set --out "$expdir/learning_curves.png" \
        --title "dev SI-SNR loss (plain / rank-weighted set statistic) per epoch" \
        || die "stage 9: plot_learning_curves failed"
    [ -f "$expdir/hardness/analysis.png" ] && cp "$expdir/hardness/analysis.png" "$expdir/analysis.png"
    notes=()
    [ -f local/results_notes.md ] && notes=(--notes local/results_notes.md)
    ${python} -m sepplug.recipes.hard_mining.make_results --expdir "$expdir" --out "$expdir/RESULTS.md" \
        "${notes[@]}" || die "stage 9: make_hm_results failed"
    log "stage 9: $expdir/RESULTS.md, $expdir/results/summary.tsv"
fi
exit 0
}
