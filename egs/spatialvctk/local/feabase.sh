# The runs of run_feabase.sh, sourced by it:  . local/feabase.sh
# Uses run_feabase.sh's variables: enh_config, re_grid, ps, fs_config, continue_to, expdir and
# common (the run.sh options of every run).

# feabase_runs: tags=() and opts_of[<tag>] (its run.sh options), one training per tag, the
# tags as enh.sh names them (<config>_<variant>): ERM, the oracle re-weighting grid, the
# FEABASE sweep over p, oracle data.
feabase_runs() {
    local cfg w we wh wb p
    cfg=$(basename "$enh_config" .yaml)
    declare -gA opts_of=(["${cfg}_erm"]="--train_variant erm")
    tags=("${cfg}_erm")
    for w in $re_grid; do
        [[ "$w" =~ ^[0-9.]+,[0-9.]+,[0-9.]+$ ]] \
            || die "--re_grid item '$w' is not easy,hard,both (three weights)"
        IFS=, read -r we wh wb <<<"$w"
        tags+=("${cfg}_oracle_re_easy_${we}_hard_${wh}_both_${wb}")
        opts_of[${tags[-1]}]="--train_variant oracle_re:easy=$we,hard=$wh,both=$wb"
    done
    for p in $ps; do
        tags+=("${cfg}_feabase_p$p")
        opts_of[${tags[-1]}]="--train_variant feabase --fs_config $fs_config --enh_args --preprocessor_conf=p=$p"
    done
    tags+=("${cfg}_oracle_data")
    opts_of[${tags[-1]}]="--train_variant oracle_data"
}

feabase_train() {  # feabase_train TAG: stages 4-6 of that run
    # shellcheck disable=SC2086  # opts_of: words
    ./run.sh --stage 4 --stop-stage 6 --enh_tag "$1" ${opts_of[$1]} "${common[@]}"
}

feabase_continue() {  # feabase_continue TAG_eN: continue run TAG to N epochs, as TAG_eN
    local src=${1%_e"$continue_to"}
    # shellcheck disable=SC2086
    local/continue_training.sh --src_tag "$src" --dst_tag "$1" --max_epoch "$continue_to" \
        ${opts_of[$src]} "${common[@]}"
}

pareto() {  # pareto PREFIX [plot_pareto filters]: PREFIX.png and PREFIX.md (Pareto plot, table)
    local out=$1; shift
    python3 -m sepplug.recipes.spatialvctk.plot_pareto --expdir "$expdir" --out "$out.png" --table "$out.md" "$@"
    log "$out.png, $out.md"
}
