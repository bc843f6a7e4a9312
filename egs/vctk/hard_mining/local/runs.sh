# The runs of the VCTK hard-mining recipe, sourced by run.sh:  . local/runs.sh
# ESPnet's stock `rnn` separator (BLSTM masks) trained on mixtures drawn on the fly, one run
# per family (config conf/tuning/train_enh_rnn_<family>_cpu.yaml) and seed, in two phases:
#   dm          phase 1: uniform partners (ESPnet's DynamicMixingPreprocessor)
# phase 2: each continues dm's run of its seed (its checkpoint.pth: weights, optimizer,
# learning-rate schedule; enh_train --continue_from) for --phase2_epochs more epochs:
#   dm_long     uniform DM as in phase 1: the control at equal steps
#   dm_hm       hard speaker pairs drawn more often (HM, global mining; preprocessor hard_dm)
#               at the share of mixtures stage 8 chooses on dev (run dm_hm_share<s>)
#   dm_wtl      rank-weighted PIT (WTL, local mining; wrapper wpit)
#   dm_hm_wtl   both (run dm_hm_wtl_share<s>)
#   dm_wvl      dm_long's checkpoint best by the rank-weighted dev-set statistic (WVL:
#               model selection among dm_long's phase-2 epochs, no extra training; wvl_run)
# Seed 0 is exp/enh_<run>, seed k exp/enh_<run>_seed<k>. DM needs the training set's
# utt2spk (real speakers): every training gets "--utt2spk <datadir>/<train_set>/utt2spk
# --seed <k>" in front of --enh_args.
# Uses run.sh's variables: defaults, passed, datadir, expdir, train_set, enh_args, seeds, jobs,
# phase2_epochs, hm_shares.

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

check_phase_two() {  # --phase2_epochs a positive integer; --hm_shares numbers in (0, 1)
    local share
    [[ $phase2_epochs =~ ^[1-9][0-9]*$ ]] \
        || die "--phase2_epochs '$phase2_epochs': a positive number of epochs"
    [ -n "$hm_shares" ] || die "--hm_shares is empty: give one hard share or more"
    for share in $hm_shares; do
        [[ $share =~ ^0?\.[0-9]*[1-9][0-9]*$ ]] \
            || die "--hm_shares '$hm_shares': '$share' is not a share in (0, 1) (e.g. 0.35)"
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

run_parts() {  # run_parts RUN: sets family, share and seed of RUN =
               # <family>[_share<hard_share>][_seed<k>] (share '' but for dm_hm, dm_hm_wtl)
    local rest=$1
    seed=0 share=""
    if [[ $rest =~ ^(.+)_seed([0-9]+)$ ]]; then rest=${BASH_REMATCH[1]} seed=${BASH_REMATCH[2]}; fi
    if [[ $rest =~ ^(.+)_share([0-9.]+)$ ]]; then rest=${BASH_REMATCH[1]} share=${BASH_REMATCH[2]}; fi
    family=$rest
    case $family in
        dm_hm|dm_hm_wtl) [ -n "$share" ] || die "run $1: $family needs _share<hard_share>" ;;
        *) [ -z "$share" ] || die "run $1: only dm_hm and dm_hm_wtl take a share" ;;
    esac
}

phase1_of() {  # phase1_of SEED: the phase-1 exp dir (dm) a phase-2 run of SEED continues
    if [ "$1" = 0 ]; then echo "$expdir/enh_dm"; else echo "$expdir/enh_dm_seed$1"; fi
}

enh_run() {  # enh_run RUN|'' FROM TO: enh.sh stages FROM-TO of RUN ('': dm, which makes the
             # data). Phase 2 (every family but dm) continues dm's run of the same seed for
             # --phase2_epochs epochs; a dm_hm share other than the chosen one (stage 8's dev
             # choice, $chosen_share) is scored on dev only.
    local run=${1:-dm} family share seed src last extra=() sets=()
    run_parts "$run"
    if [ "$family" != dm ]; then
        src=$(phase1_of "$seed")
        [ -f "$src/checkpoint.pth" ] \
            || die "$run: $src/checkpoint.pth is missing: train dm of seed $seed (stages 1-6) first"
        is_done "$src" train || die "$run: $src has not finished training (stages 1-6)"
        last=$(readlink "$src/latest.pth" || true)
        last=${last%epoch.pth}
        [[ $last =~ ^[0-9]+$ ]] || die "$run: $src/latest.pth names no <N>epoch.pth"
        extra+=(--continue_from "$src/checkpoint.pth" --max_epoch $(( last + phase2_epochs )))
    fi
    if [ -n "$share" ]; then
        extra+=(--preprocessor_conf "pair_table=$expdir/hardness/pairs.tsv"
                --preprocessor_conf "hard_share=$share")
        [ "$share" = "${chosen_share:-}" ] || sets=(--test_sets dev)
    fi
    ./enh.sh "${defaults[@]}" --enh_config "conf/tuning/train_enh_rnn_${family}_cpu.yaml" \
        --enh_tag "$run" --family "$family" --stage "$2" --stop_stage "$3" "${passed[@]}" \
        "${sets[@]}" --enh_args "--utt2spk $datadir/$train_set/utt2spk --seed $seed \
$enh_args ${extra[*]}"
}

wvl_run() {  # wvl_run SRC: stage 9, the WVL checkpoint of run SRC (dm_long[_seed<k>]) as
             # its own model dm_wvl[_seed<k>], scored on test
    local src=$1 family wvl dst target ckpt=valid.si_snr_loss_weighted_set.best.pth
    family=${src%_seed*}
    wvl=${family%_long}_wvl${src#"$family"}  # dm_long_seed1 -> dm_wvl_seed1
    dst=$expdir/enh_$wvl
    [ -f "$expdir/enh_$src/$ckpt" ] || die "stage 9: $expdir/enh_$src/$ckpt missing: run stage 8"
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
        --enh_tag "$wvl" --family "${family%_long}_wvl" --inference_model "$ckpt" \
        --stage 6 --stop_stage 6 "${passed[@]}" \
        || die "stage 9: scoring $wvl failed"
}

phase_two() {  # stage 8: the hard share on dev, then dm_long, dm_hm, dm_wtl, dm_hm_wtl
    local pairs=$expdir/hardness/pairs.tsv share candidates=() dev_scores=()
    local choice=$expdir/hardness/hm_share
    [ -f "$pairs" ] || die "stage 8: $pairs missing: run stage 7"
    . ./path.sh
    ${python} -m sepplug.mixing.pair_table "$pairs" "$datadir/$train_set/utt2spk" >/dev/null \
        || die "stage 8: the pair table does not fit the training data (above)"
    # 1. seed 0 of dm_hm at each share of --hm_shares and of dm_long, scored on dev only
    chosen_share=""
    for share in $hm_shares; do candidates+=("dm_hm_share$share"); done
    run_models "$jobs" "$expdir" 5 6 4 enh_run "${candidates[@]}" dm_long
    # 2. the share: the largest dev gain on the predicted-hardest quarter of dev among the
    #    shares that cost the whole dev set at most 0.2 dB against dm_long (paired)
    for share in "${candidates[@]}" dm_long; do
        dev_scores+=("$expdir/enh_$share/enhanced_dev/scoring/per_utt.tsv")
    done
    if ! is_done_for "$choice" chosen "${dev_scores[@]}" "$expdir/hardness/dev_hard.list"; then
        # shellcheck disable=SC2086  # one share per word
        ${python} -m sepplug.recipes.hard_mining.choose_share --expdir "$expdir" \
            --shares $hm_shares --out_dir "$choice" || die "stage 8: choose_share failed"
        done_mark_for "$choice" chosen "${dev_scores[@]}" "$expdir/hardness/dev_hard.list"
    fi
    chosen_share=$(cat "$choice/chosen")
    log "stage 8: hard share $chosen_share (dev: $choice/choice.tsv)"
    # 3. the other seeds and families at that share, seed by seed; dm_hm's seed 0 is scored
    #    on test
    local rest=("dm_hm_share$chosen_share") seed run
    for seed in $seeds; do
        for run in dm_long "dm_hm_share$chosen_share" dm_wtl "dm_hm_wtl_share$chosen_share"; do
            if [ "$seed" != 0 ]; then rest+=("${run}_seed$seed")
            elif [ "$run" != dm_long ] && [ "$run" != "dm_hm_share$chosen_share" ]; then
                rest+=("$run")
            fi
        done
    done
    run_models "$jobs" "$expdir" 5 6 4 enh_run "${rest[@]}"
}

report() {  # stage 9: the WVL runs (wvl_run), learning curves, RESULTS.md and
            # results/summary.tsv (sepplug.recipes.hard_mining.make_results)
    local src run exps=() notes=()
    for src in $(runs_of dm_long); do wvl_run "$src"; done
    for run in dm dm_long "dm_hm_share$(cat "$expdir/hardness/hm_share/chosen")" dm_wtl \
               "dm_hm_wtl_share$(cat "$expdir/hardness/hm_share/chosen")"; do
        [ -d "$expdir/enh_$run" ] && exps+=(--exp "$expdir/enh_$run")
    done
    . ./path.sh
    ${python} -m sepplug.bin.plot_learning_curves "${exps[@]}" --stat valid/si_snr_loss \
        --stat valid/si_snr_loss_weighted_set --out "$expdir/learning_curves.png" \
        --title "seed 0, dev SI-SNR loss (plain / rank-weighted set statistic): phase 1 (dm), phase 2" \
        || die "stage 9: plot_learning_curves failed"
    [ -f "$expdir/hardness/analysis.png" ] && cp "$expdir/hardness/analysis.png" "$expdir/analysis.png"
    [ -f local/results_notes.md ] && notes=(--notes local/results_notes.md)
    ${python} -m sepplug.recipes.hard_mining.make_results --expdir "$expdir" --out "$expdir/RESULTS.md" \
        "${notes[@]}" || die "stage 9: sepplug.recipes.hard_mining.make_results failed"
    log "stage 9: $expdir/RESULTS.md, $expdir/results/summary.tsv"
}
