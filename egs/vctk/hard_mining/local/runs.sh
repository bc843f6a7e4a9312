# The runs of the VCTK hard-mining recipe, sourced by run.sh:  . local/runs.sh
# ESPnet's stock `rnn` separator (BLSTM masks) trained on mixtures drawn on the fly, one run
# per family (config conf/tuning/train_enh_rnn_<family>_cpu.yaml) and seed:
#   dm          uniform partners (ESPnet's DynamicMixingPreprocessor)
#   dm_wtl      + rank-weighted PIT in training (WTL, local mining; wrapper wpit)
#   dm_hm       hard speaker pairs drawn more often (HM, global mining; preprocessor hard_dm)
#   dm_hm_wtl   both
#   dm_wvl, dm_wtl_wvl   the dm / dm_wtl runs' checkpoints best by the rank-weighted dev-set
#               statistic (WVL: model selection only, no extra training; wvl_run)
# Seed 0 is exp/enh_<family>, seed k exp/enh_<family>_seed<k>. DM needs the training set's
# utt2spk (real speakers): every training gets "--utt2spk <datadir>/<train_set>/utt2spk
# --seed <k>" in front of --enh_args.
# Uses run.sh's variables: defaults, passed, datadir, expdir, train_set, enh_args, seeds, jobs,
# and enh_extra (more enh_train arguments: stage 8's pair table).

check_seeds() {  # seeds name the runs: distinct integers without leading zeros (seed 0 is
                 # enh_<family>; stage 7 reads enh_dm, so its first run needs 0 among them)
    local seed
    # shellcheck disable=SC2086  # one seed per word
    [ "$(printf '%s\n' $seeds | sort -u | wc -l)" -eq "$(printf '%s\n' $seeds | wc -l)" ] \
        || die "--seeds '$seeds': a seed is repeated"
    for seed in $seeds; do
        [[ $seed =~ ^(0|[1-9][0-9]*)$ ]] || die "--seeds '$seeds': '$seed' is not a seed number"
    done
}

runs_of() {  # runs_of FAMILY...: one run name per family and seed (seed 0 = the family)
    local family seed
    for family in "$@"; do
        for seed in $seeds; do
            if [ "$seed" = 0 ]; then echo "$family"; else echo "${family}_seed$seed"; fi
        done
    done
}

enh_run() {  # enh_run RUN|'' FROM TO: enh.sh stages FROM-TO of RUN (<family>[_seed<k>];
             # '': dm, which makes the data)
    local run=${1:-dm} family seed=0
    family=${run%_seed*}
    [ "$family" = "$run" ] || seed=${run##*_seed}
    ./enh.sh "${defaults[@]}" --enh_config "conf/tuning/train_enh_rnn_${family}_cpu.yaml" \
        --enh_tag "$run" --family "$family" --stage "$2" --stop_stage "$3" "${passed[@]}" \
        --enh_args "--utt2spk $datadir/$train_set/utt2spk --seed $seed ${enh_extra:-} $enh_args"
}

wvl_run() {  # wvl_run SRC: stage 9, the WVL checkpoint of run SRC as its own model, scored
    local src=$1 family wvl dst target ckpt=valid.si_snr_loss_weighted_set.best.pth
    family=${src%_seed*}
    wvl=${family}_wvl${src#"$family"}  # dm_seed1 -> dm_wvl_seed1
    dst=$expdir/enh_$wvl
    [ -f "$expdir/enh_$src/$ckpt" ] || die "stage 9: $expdir/enh_$src/$ckpt missing: run stages 5-6"
    mkdir -p "$dst"
    # the same training run, another checkpoint: relative links, not copies; a source
    # epoch that changed (retrained) invalidates the earlier scores
    target=$(readlink "$expdir/enh_$src/$ckpt" || echo "$ckpt")
    if [ -f "$dst/source_checkpoint" ] && [ "$(cat "$dst/source_checkpoint")" != "$target" ]; then
        log "stage 9: $expdir/enh_$src/$ckpt now -> $target: rescoring $wvl"
        rm -rf "$dst"/enhanced_*
    fi
    if ! is_done "$dst" train || [ "$(cat "$dst/source_checkpoint")" != "$target" ]; then
        echo "$target" >"$dst/source_checkpoint"
        ln -sfn "../enh_$src/config.yaml" "$dst/config.yaml"
        ln -sfn "../enh_$src/$target" "$dst/$ckpt"
        done_mark "$dst" train
    fi
    log "stage 9: $wvl = $expdir/enh_$src/$ckpt"
    ./enh.sh "${defaults[@]}" --enh_config "conf/tuning/train_enh_rnn_${family}_cpu.yaml" \
        --enh_tag "$wvl" --family "${family}_wvl" --inference_model "$ckpt" \
        --stage 6 --stop_stage 6 "${passed[@]}" \
        || die "stage 9: scoring $wvl failed"
}

hard_resampling() {  # stage 8: dm_hm and dm_hm_wtl (enh.sh stages 5-6), with the pair table
    local pairs=$expdir/hardness/pairs.tsv
    [ -f "$pairs" ] || die "stage 8: $pairs missing: run stage 7"
    enh_extra="--preprocessor_conf pair_table=$pairs"
    # shellcheck disable=SC2046  # one word per run name
    run_models "$jobs" "$expdir" 5 6 4 enh_run $(runs_of dm_hm dm_hm_wtl)
    enh_extra=""
}

report() {  # stage 9: the WVL runs (wvl_run), learning curves, RESULTS.md and
            # results/summary.tsv (sepplug.recipes.hard_mining.make_results)
    local src run exps=() notes=()
    for src in $(runs_of dm dm_wtl); do wvl_run "$src"; done
    for run in $(runs_of dm dm_wtl dm_hm dm_hm_wtl); do
        [ -d "$expdir/enh_$run" ] && exps+=(--exp "$expdir/enh_$run")
    done
    . ./path.sh
    ${python} -m sepplug.bin.plot_learning_curves "${exps[@]}" --stat valid/si_snr_loss \
        --stat valid/si_snr_loss_weighted_set --out "$expdir/learning_curves.png" \
        --title "dev SI-SNR loss (plain / rank-weighted set statistic) per epoch" \
        || die "stage 9: plot_learning_curves failed"
    [ -f "$expdir/hardness/analysis.png" ] && cp "$expdir/hardness/analysis.png" "$expdir/analysis.png"
    [ -f local/results_notes.md ] && notes=(--notes local/results_notes.md)
    ${python} -m sepplug.recipes.hard_mining.make_results --expdir "$expdir" --out "$expdir/RESULTS.md" \
        "${notes[@]}" || die "stage 9: sepplug.recipes.hard_mining.make_results failed"
    log "stage 9: $expdir/RESULTS.md, $expdir/results/summary.tsv"
}
