# The runs of run_feabase.sh, sourced by it:  . local/feabase.sh
# Uses run_feabase.sh's variables: enh_config, refmic_config, cfg, warm_start, arm_epochs,
# re_grid, ps, fs_config, continue_to, expdir and common (the run.sh options of every run).

# feabase_runs: table1=() (Table 1's runs from scratch: hard_only, erm, easy_only, the 1-ch
# reference), tags=() (the arms: ERM, the oracle re-weighting grid, the FEABASE sweep over p,
# oracle data), arm_prefix, and per tag opts_of[<tag>] (run.sh options, words) and
# args_of[<tag>] (its --enh_args).
feabase_runs() {
    local w we wh wb p init="" v
    declare -gA opts_of=() args_of=()
    table1=("${cfg}_hard_only" "${cfg}_erm" "${cfg}_easy_only" "$(basename "$refmic_config" .yaml)_erm")
    for v in hard_only erm easy_only; do opts_of[${cfg}_$v]="--train_variant $v"; done
    opts_of[${table1[3]}]="--train_variant erm --enh_config $refmic_config --input_channels ref"
    arm_prefix=$cfg
    if $warm_start; then
        arm_prefix=${cfg}_ws
        # the hard_only model's best weights (ESPnet --init_param: weights only; a new
        # optimizer and schedule) and --arm_epochs epochs on the arm's data
        init="--init_param $expdir/enh_${cfg}_hard_only/valid.loss.best.pth --max_epoch $arm_epochs"
    fi
    tags=("${arm_prefix}_erm")
    opts_of[${tags[0]}]="--train_variant erm"
    for w in $re_grid; do
        [[ "$w" =~ ^[0-9.]+,[0-9.]+,[0-9.]+$ ]] \
            || die "--re_grid item '$w' is not easy,hard,both (three weights)"
        IFS=, read -r we wh wb <<<"$w"
        tags+=("${arm_prefix}_oracle_re_easy_${we}_hard_${wh}_both_${wb}")
        opts_of[${tags[-1]}]="--train_variant oracle_re:easy=$we,hard=$wh,both=$wb"
    done
    for p in $ps; do
        tags+=("${arm_prefix}_feabase_p$p")
        opts_of[${tags[-1]}]="--train_variant feabase --fs_config $fs_config"
        args_of[${tags[-1]}]="--preprocessor_conf=p=$p"
    done
    tags+=("${arm_prefix}_oracle_data")
    opts_of[${tags[-1]}]="--train_variant oracle_data"
    local t
    for t in "${tags[@]}"; do args_of[$t]="${args_of[$t]:-} $init"; done
    if ! $warm_start; then  # from scratch: Table 1's erm is the arms' ERM
        unset 'tags[0]'
        tags=("${tags[@]}")
    fi
}

feabase_train() {  # feabase_train TAG: stages 4-6 of that run
    # shellcheck disable=SC2086  # opts_of: words
    ./run.sh --stage 4 --stop-stage 6 --enh_tag "$1" "${common[@]}" ${opts_of[$1]} \
        --enh_args "${args_of[$1]:-}"
}

feabase_continue() {  # feabase_continue TAG_eN: continue run TAG to N epochs, as TAG_eN
    local src=${1%_e"$continue_to"}
    # shellcheck disable=SC2086
    local/continue_training.sh --src_tag "$src" --dst_tag "$1" --max_epoch "$continue_to" \
        ${opts_of[$src]} "${common[@]}" --enh_args "${args_of[$src]:-}"
}

pareto() {  # pareto PREFIX [plot_pareto filters]: <expdir>/results/PREFIX.{png,md} (plot, table)
    local out=$expdir/results/$1; shift
    mkdir -p "$expdir/results"
    python3 -m sepplug.recipes.spatialvctk.plot_pareto --expdir "$expdir" --out "$out.png" --table "$out.md" "$@"
    log "$out.png, $out.md"
}

figure2() {  # the paper's Figure 2: dev easy / hard SI-SDRi per epoch, hard_only then the arms
    local first=enh_${cfg}_hard_only best arm exps=() thens=() labels=()
    declare -A label_of=([erm]="ERM on D" [oracle_data]="oracle data"
                         [feabase_p0.5]="FEABASE p=0.5")
    for arm in erm oracle_data feabase_p0.5; do
        exps+=(--exp "$expdir/enh_${arm_prefix}_$arm")
        thens+=(--then "enh_${arm_prefix}_$arm")
        labels+=(--label "enh_${arm_prefix}_$arm=${label_of[$arm]}")
    done
    # the arms start from the best epoch of hard_only (valid.loss.best.pth -> <N>epoch.pth)
    best=$(readlink "$expdir/$first/valid.loss.best.pth") || die "no $expdir/$first/valid.loss.best.pth"
    best=${best##*/}
    python3 -m sepplug.bin.category_curves --exp "$expdir/$first" "${exps[@]}" \
        --data_dir data/dev --out "$expdir/results/dev_curves.tsv"
    python3 -m sepplug.recipes.spatialvctk.plot_figure2 --curves "$expdir/results/dev_curves.tsv" \
        --first "$first" --label "$first=D_hard only" "${thens[@]}" "${labels[@]}" \
        --switch_epoch "${best%epoch.pth}" --steps_per_epoch 200 --out "$expdir/results/figure2.png"
    log "$expdir/results/figure2.png"
}
