# The models of the semantic MixIT recipe, sourced by run.sh:  . local/models.sh
# Uses run.sh's variables: enh_configs, enh_config / enh_tag (one model), seeds, defaults,
# passed, expdir, datadir.
# Families (from the config): supervised (wrapper pit_hungarian; trained on the train_sup /
# dev_sup views), mixit, mixit_sparse (+ output regulariser mixit_sparsity), + _semantic
# (+ wrapper mixit_semantic: the weak labels labels_ref1/2 are given as data).

family_of() {  # supervised, or mixit[_sparse][_semantic]
    local family=mixit
    if grep -Eq "^ *wrapper: *pit_hungarian *(#.*)?$" "$1"; then
        echo supervised; return
    fi
    grep -Eq "^ *-? *name: *mixit_sparsity *(#.*)?$" "$1" && family+=_sparse
    grep -Eq "^ *wrapper: *mixit_semantic *(#.*)?$" "$1" && family+=_semantic
    echo "$family"
}

model_names() {  # names=() (<config name>[_seed<S>] for each seed but the config's own, 0)
                 # and config_of[<name>], seed_of[<name>]; --enh_config/--enh_tag: that one
    local config name first seed
    read -r first _ <<<"$enh_configs"
    [ -z "$enh_config$enh_tag" ] || enh_configs=${enh_config:-$first}
    declare -gA config_of=() seed_of=()
    names=()
    for config in $enh_configs; do
        [ -f "$config" ] || die "run.sh: --enh_config $config: no such file"
        for seed in $seeds; do
            name=$(basename "$config" .yaml)
            [ "$seed" = 0 ] || name+=_seed$seed
            [ -z "${config_of[$name]:-}" ] || die "run.sh: two models are named $name"
            config_of[$name]=$config seed_of[$name]=$seed
            names+=("$name")
        done
    done
}

label_args() {  # the weak labels of the train and valid sets as ESPnet data arguments
    local mode dir n
    for mode in train valid; do
        dir=$datadir/train; [ "$mode" = train ] || dir=$datadir/dev
        for n in 1 2; do
            [ -f "$dir/labels_ref$n" ] || die "run.sh: $dir/labels_ref$n missing (stage 1)"
            echo "--${mode}_data_path_and_name_and_type $dir/labels_ref$n,labels_ref$n,text_int"
        done
    done
}

run_model() {  # run_model NAME|'' FROM TO: enh.sh stages FROM-TO of one model ('': the data)
    local config=${config_of[${1:-${names[0]}}]} family extra=() refs enh_args i rest=()
    if [ -z "$1" ]; then
        ./enh.sh "${defaults[@]}" --enh_config "$config" "${passed[@]}" --stage "$2" --stop_stage "$3"
        return
    fi
    family=$(family_of "$config")
    enh_args="--seed ${seed_of[$1]}"
    if [ "$family" = supervised ]; then  # every reference of the padded views
        refs=$(find "$datadir/train_sup" -maxdepth 1 -name 'spk*.scp' 2>/dev/null | wc -l)
        [ "$refs" -gt 0 ] || die "run.sh: $config needs $datadir/train_sup/spk*.scp (stage 1)"
        extra=(--train_set train_sup --valid_set dev_sup --ref_num "$refs")
    elif [ "${family%_semantic}" != "$family" ] && [ "$2" -le 5 ] && [ "$3" -ge 5 ]; then
        enh_args+=" $(label_args | tr '\n' ' ')"
    fi
    # The caller's --enh_args go after this model's (seed, labels), not instead of them.
    for ((i = 0; i < ${#passed[@]}; i += 2)); do
        if [ "${passed[i]}" = --enh_args ]; then enh_args+=" ${passed[i + 1]}"
        else rest+=("${passed[i]}" "${passed[i + 1]}"); fi
    done
    ./enh.sh "${defaults[@]}" --enh_config "$config" --enh_tag "$1" --family "$family" \
        --enh_args "$enh_args" "${extra[@]}" "${rest[@]}" --stage "$2" --stop_stage "$3"
}
