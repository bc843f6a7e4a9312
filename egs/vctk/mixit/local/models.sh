# The models of the VCTK MixIT recipe, sourced by run.sh:  . local/models.sh
# Uses run.sh's variables: enh_configs, enh_config / enh_tag (one model), defaults, passed,
# expdir, datadir.
# Families (from the config): supervised (wrapper pit_hungarian; trained on the train_sup /
# dev_sup views of the data), mixit, mixit_sparse, mixit_sparse_cov (the output regularisers);
# suffix _plain_projection for efficient MixIT with `refine_sweeps: 0` (the paper's plain
# least-squares projection, without sepplug's local search), suffix _sigmoid_masks for
# ESPnet's stock `rnn` (not sepplug's `rnn_softmax`, whose masks sum to the mixture). The
# committed RESULTS.md and results/summary.tsv (the 2026-12-07 run of eight models, with the
# ten models of the 2026-12-02 run that it did not repeat carried over from
# history/run_2026-12-02, marked there; then the notes):
#   python -m sepplug.recipes.mixit.make_results --expdir exp --out RESULTS.md \
#       --summary results/summary.tsv --earlier history/run_2026-12-02 \
#       --notes local/results_notes.md

family_of() {  # supervised or mixit[_sparse][_cov][_plain_projection] (the config's loss
               # wrapper, output regularisers and refine_sweeps: 0), + _sigmoid_masks for
               # ESPnet's stock rnn (not rnn_softmax)
    local family=mixit
    if grep -Eq "^ *wrapper: *pit_hungarian *(#.*)?$" "$1"; then
        family=supervised
    else
        grep -Eq "^ *-? *name: *mixit_sparsity *(#.*)?$" "$1" && family+=_sparse
        grep -Eq "^ *-? *name: *source_covariance *(#.*)?$" "$1" && family+=_cov
        grep -Eq "refine_sweeps: *0 *([,}#]|$)" "$1" && family+=_plain_projection
    fi
    grep -Eq "^separator: *rnn *(#.*)?$" "$1" && family+=_sigmoid_masks
    echo "$family"
}

model_names() {  # names=() (the configs' names, exp/enh_<name>) and config_of[<name>];
                 # --enh_config and/or --enh_tag: that one model (the first config by default)
    local config name first
    read -r first _ <<<"$enh_configs"
    [ -z "$enh_config$enh_tag" ] || enh_configs=${enh_config:-$first}
    declare -gA config_of=()
    names=()
    for config in $enh_configs; do
        [ -f "$config" ] || die "run.sh: --enh_config $config: no such file"
        name=$(basename "$config" .yaml)
        [ -z "${config_of[$name]:-}" ] || die "run.sh: two configs are named $name"
        config_of[$name]=$config
        names+=("$name")
    done
}

run_model() {  # run_model NAME|'' FROM TO: enh.sh stages FROM-TO of one config ('': the data)
    local config=${config_of[${1:-${names[0]}}]} family extra=() refs
    if [ -z "$1" ]; then
        ./enh.sh "${defaults[@]}" --enh_config "$config" "${passed[@]}" --stage "$2" --stop_stage "$3"
        return
    fi
    family=$(family_of "$config")
    if [ "${family#supervised}" != "$family" ]; then  # every reference of the padded views
        refs=$(find "$datadir/train_sup" -maxdepth 1 -name 'spk*.scp' 2>/dev/null | wc -l)
        [ "$refs" -gt 0 ] || die "run.sh: $config needs $datadir/train_sup/spk*.scp (stage 1;" \
            "data made before the supervised views: remove $datadir/.done.data_* first)"
        extra=(--train_set train_sup --valid_set dev_sup --ref_num "$refs")  # spk*.scp there
    fi
    ./enh.sh "${defaults[@]}" --enh_config "$config" --enh_tag "$1" --family "$family" \
        "${extra[@]}" "${passed[@]}" --stage "$2" --stop_stage "$3"
}
