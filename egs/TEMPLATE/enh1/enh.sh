#!/usr/bin/env bash
# The one stage script of every sepplug recipe (after ESPnet's egs2/TEMPLATE/enh1/enh.sh).
# A recipe symlinks it as ./enh.sh and keeps only what is its own: run.sh (its defaults),
# conf/ and local/ (hooks below).
#
#   1 data        the corpus (VCTK from db.sh, else the embedded espeak-ng corpus under db/),
#                 then the recipe's hook  local/data.sh CORPUS FS_HZ NJ DATADIR [local_data_opts]
#   2 validate    sepplug validate-data on every set (+ hook local/check_data.sh SET DIR when
#                 the recipe has one); reference-mic copies for 1-channel models
#   3 augment     the recipe's hook, when it has an executable one (else skipped):
#                   local/augment.sh --datadir D --dumpdir U --expdir E --train_set T
#                                    --valid_set V [local_train_opts]
#                 work made from the data dirs once for every model (e.g. a model that
#                 transforms training data)
#   4 train data  the training data of --train_variant: erm, the training set as it is;
#                 any other variant is the recipe's, from its hook
#                   local/train_data.sh --variant V --make true|false --out FILE --datadir D
#                     --dumpdir U --expdir E --train_set T --input_channels all|ref
#                     --ref_channel N [local_train_opts]
#                 which writes FILE: line 1 the training data dir, then the variant's extra
#                 enh_train arguments, one a line; --make true (stage 4 runs) also makes that
#                 dir, false (it does not) only names it for stage 5
#   5 train       ESPnet --collect_stats (shape files, shared by runs on one list; one
#                 process), then training through sepplug.bin.enh_train (ESPnet's trainer,
#                 --resume) on stage 4's dir with its extra arguments, in ${cuda_cmd}
#                 --gpu $ngpu (a CPU training asks the job system for no GPU). Distributed
#                 (ESPnet's own DDP mode; options with ESPnet's names and meaning):
#                   --ngpu N       GPUs per node; N > 1: ESPnet's launcher
#                                  (espnet2.bin.launch, one process per GPU, nccl), as
#                                  ESPnet's enh.sh trains
#                   --num_nodes K  nodes; K > 1: ESPnet's launcher, through a cuda_cmd that
#                                  reaches other nodes (slurm.pl: srun; run.pl is refused)
#                   --dist_procs P CPU processes per node (gloo); P > 1 on one node:
#                                  torchrun (python -m torch.distributed.run --standalone)
#                 The global batch is the config's batch_size, split across the K x P (or
#                 K x N) processes; train.log is rank 0's (the others log errors only).
#                 --dist_emulate_nodes true runs the K x P CPU processes of a multi-node
#                 training on this host (a test of the multi-node path without a cluster):
#                 run.pl JOB=0:K*P-1, each process ESPnet's external-launcher command
#                 (--dist_rank JOB --dist_world_size K*P, a file:// init in the exp dir, as
#                 ESPnet's launcher inits nodes without a master port); logs
#                 logdir/train.RANK.log, rank 0's copied to train.log.
#   6 score       inference, --scoring_tool per test set, --results_tool: exp/RESULTS.md
#                 and exp/results/summary.tsv (results as data)
#
# Every stage leaves a done marker and is skipped when it is there (hooks keep their own,
# with utils/recipe_lib.sh); a killed stage reruns (outputs are written under temp names,
# then renamed; training resumes from its last checkpoint). Markers of work made from
# something that can change hold what it was made from: stage 1's the data options (asking
# for others on the same --datadir is an error), stage 6's (and a hook's, e.g. a transformed
# training set's) the checksums of the model and data used (a retrained model redoes them).
# Hooks run in the recipe dir with enh.sh's --python as $python (stage 3 also --ngpu as $ngpu) in
# their environment.
set -euo pipefail
# The whole script is one compound command, so bash parses it before running it:
# editing enh.sh while a long stage runs cannot derail the running instance.
{
. utils/recipe_lib.sh

# ---- options (override on the command line: --name value) ----------------
stage=1
stop_stage=6
nj=2
ngpu=0                     # GPUs per node (ESPnet's --ngpu); 0: CPU
num_nodes=1                # nodes of a distributed training (ESPnet's --num_nodes)
dist_procs=1               # CPU training processes per node (DDP, gloo); see stage 5
dist_emulate_nodes=false   # true: --num_nodes > 1 emulated on this host (stage 5; tests)
python=python3
fs=8k                      # 8k or 16k
datadir=data
dumpdir=dump
expdir=exp
corpus_dir=db/embedded_corpus  # where the embedded corpus is generated (db.sh: VCTK empty)
corpus_opts=""             # options of sepplug.simulate.corpus (--num_speakers N ...)
local_data_opts=""         # options of the recipe's local/data.sh (sizes, segment ...)
enh_config=""
enh_args=""                # extra arguments of enh_train (override the config)
enh_tag=""                 # exp/enh_<enh_tag>; default: config name + variant
family=""                  # method family in results/summary.tsv; default: from the variant
ref_num=2                  # reference sources in the training data (spk1..N.scp)
input_channels=all         # all: the data's mixture; ref: reference mic only (1-ch models)
ref_channel=0
validate_opts=""           # extra options of validate-data (e.g. --channels 1)
train_variant=erm          # erm (the training set as it is) or a variant of local/train_data.sh
local_train_opts=""        # options of the recipe's local/augment.sh and local/train_data.sh
inference_model=auto       # auto: first best_model_criterion ESPnet wrote, else valid.loss.best.pth
fold_length=80000          # samples: batch_type folded halves batches of longer utterances
                           # (ESPnet's enh.sh: speech_fold_length 800 x 100 for raw audio);
                           # set it here, not in --enh_args ("": none is passed)
normalize_output_wav=true  # false keeps output levels (activity / over-separation scoring)
scoring_tool=sepplug.bin.score_separation  # --data_dir --inf_scp.. --ref_channel --out_dir
score_opts=""
results_tool=sepplug.bin.make_results      # --expdir --title --out
train_set=train
valid_set=dev
test_sets="test"
results_title="sepplug"

help_message="Usage: $0 --enh_config YAML [--stage N] [--stop_stage N] [--nj N] [--ngpu N]
  [--num_nodes K] [--dist_procs P] [--dist_emulate_nodes true|false]
  [--fs 8k|16k] [--local_data_opts OPTS] [--corpus_opts OPTS] [--enh_args ARGS]
  [--enh_tag TAG] [--family NAME] [--input_channels all|ref]
  [--train_variant erm|VARIANT] [--local_train_opts OPTS]
  [--inference_model FILE|auto] [--fold_length SAMPLES] [--test_sets 'A B']
  [--scoring_tool MODULE] [--results_tool MODULE] [--datadir DIR] [--expdir DIR]
(see the header of $0 for the stages and the rest)"

. utils/parse_options.sh

. ./path.sh
. ./cmd.sh
. ./db.sh

check_stages "$stage" "$stop_stage"
case "$fs" in 8k) fs_hz=8000 ;; 16k) fs_hz=16000 ;; *) die "--fs must be 8k or 16k, got '$fs'" ;; esac
case "$input_channels" in all|ref) ;; *) die "--input_channels must be all or ref" ;; esac
[ -n "$enh_config" ] || die "--enh_config is required"
# Distributed training (stage 5): refused here, before any stage runs, when it cannot work.
for opt in ngpu:0 num_nodes:1 dist_procs:1; do  # option:least value
    name=${opt%%:*}
    [[ "${!name}" =~ ^[0-9]+$ ]] && [ "${!name}" -ge "${opt#*:}" ] \
        || die "--$name must be an integer >= ${opt#*:}, got '${!name}'"
done
case "$dist_emulate_nodes" in true|false) ;; *) die "--dist_emulate_nodes must be true or false" ;; esac
[ "$dist_procs" -eq 1 ] || [ "$ngpu" -eq 0 ] \
    || die "--dist_procs $dist_procs with --ngpu $ngpu: --dist_procs is CPU processes per node;" \
           "on GPUs ESPnet runs one process per GPU (--ngpu N per node): leave --dist_procs at 1"
if [ "$num_nodes" -gt 1 ] && ! $dist_emulate_nodes; then
    # ESPnet's launcher reaches other nodes through the job system (srun / mpirun); run.pl
    # runs every job on this host, so the "nodes" would all be this one.
    [ "$(basename "${cuda_cmd%% *}")" != run.pl ] \
        || die "--num_nodes $num_nodes: cuda_cmd '$cuda_cmd' runs jobs on this host only:" \
               "use a cluster's (cmd.sh: cmd_backend=slurm), or --dist_emulate_nodes true" \
               "to run the $num_nodes nodes' processes here (a test)"
    [ "$dist_procs" -eq 1 ] \
        || die "--num_nodes $num_nodes with --dist_procs $dist_procs: ESPnet's multi-node" \
               "launcher runs one CPU process per node (or one per GPU with --ngpu)"
fi
if $dist_emulate_nodes; then
    [ "$num_nodes" -gt 1 ] || die "--dist_emulate_nodes true needs --num_nodes > 1"
    [ "$ngpu" -eq 0 ] || die "--dist_emulate_nodes true emulates CPU nodes only (--ngpu 0)"
fi
# processes of the training: one per GPU, else --dist_procs, on every node
world_size=$(( (ngpu > 0 ? ngpu : dist_procs) * num_nodes ))
[ -f "$enh_config" ] || die "--enh_config $enh_config: no such file"

if [ -z "$enh_tag" ]; then
    enh_tag=$(basename "${enh_config}" .yaml)_${train_variant//[:=,]/_}
fi
if [ -z "$family" ]; then   # the variant's name before any ':' (erm, ...), + _1ch for ref-mic models
    family=${train_variant%%:*}
    [ "$input_channels" = ref ] && family+=_1ch
fi
enh_exp=$expdir/enh_$enh_tag
mkdir -p "$expdir"

# The data dir a model reads for set $1 (ref-mic copy for 1-channel models).
input_dir() { model_input_dir "$datadir" "$dumpdir" "$input_channels" "$ref_channel" "$1"; }

data_args() {  # $1 train|valid, $2 data dir: ESPnet --*_data_path_and_name_and_type args
    echo "--$1_data_path_and_name_and_type $2/wav.scp,speech_mix,sound"
    local n
    for n in $(seq "$ref_num"); do
        echo "--$1_data_path_and_name_and_type $2/spk$n.scp,speech_ref$n,sound"
    done
}

# ---- stage 1: data ---------------------------------------------------------
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    # What the data are made from; the marker keeps it, so data made with other options
    # are not taken for these (and stage 6 redoes its outputs when the data are remade).
    data_opts=$(echo "fs=$fs corpus=${VCTK:-embedded:$corpus_dir} corpus_opts=$corpus_opts" \
                     "local_data_opts=$local_data_opts" | tr -s '[:space:]' ' ' | sed 's/ $//')
    if is_done "$datadir" data_$fs; then
        made_with=$(sed -n 's/^options: //p' "$datadir/.done.data_$fs")
        [ -z "$made_with" ] || [ "$made_with" = "$data_opts" ] \
            || die "stage 1: $datadir was made with '$made_with', not with '$data_opts' as" \
                   "asked: remove $datadir (and the models trained on it) or give another --datadir"
        log "stage 1: $datadir already complete, skipped"
    else
        if [ -z "$VCTK" ]; then
            corpus=$corpus_dir
            log "stage 1: VCTK is empty in db.sh: the embedded corpus in $corpus"
            # shellcheck disable=SC2086
            ${python} -m sepplug.simulate.corpus --out "$corpus" --fs 16000 --nj "$nj" $corpus_opts \
                || die "stage 1: corpus generation failed"
        else
            [ -d "$VCTK" ] || die "stage 1: VCTK=$VCTK (db.sh) is not a directory"
            corpus=$VCTK
        fi
        log "stage 1: local/data.sh: $corpus -> $datadir at $fs"
        # shellcheck disable=SC2086
        local/data.sh "$corpus" "$fs_hz" "$nj" "$datadir" $local_data_opts \
            || die "stage 1: local/data.sh failed"
        printf 'options: %s\nmade: %s\n' "$data_opts" "$(date '+%Y-%m-%dT%H:%M:%S')" \
            >"$datadir/.done.data_$fs.tmp" && mv "$datadir/.done.data_$fs.tmp" "$datadir/.done.data_$fs"
    fi
fi

# ---- stage 2: validate, reference-mic copies -----------------------------------
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    for s in "$train_set" "$valid_set" $test_sets; do
        [ -d "$datadir/$s" ] || die "stage 2: $datadir/$s is missing: run stage 1"
        # shellcheck disable=SC2086
        ${python} -m sepplug.cli validate-data --fs "$fs_hz" $validate_opts "$datadir/$s" \
            || die "stage 2: $datadir/$s failed validation (see above)"
        if [ -x local/check_data.sh ]; then
            local/check_data.sh "$s" "$datadir/$s" || die "stage 2: local/check_data.sh refused $datadir/$s"
        fi
        if [ "$input_channels" = ref ] && ! is_done "$(input_dir "$s")" format; then
            log "stage 2: reference-mic copy of $s"
            ${python} -m sepplug.bin.select_channel --in_dir "$datadir/$s" \
                --out_dir "$(input_dir "$s")" --channel "$ref_channel"
            done_mark "$(input_dir "$s")" format
        fi
    done
    log "stage 2: data dirs valid"
fi

# ---- stage 3: the recipe's augmentation hook -------------------------------------
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
    if [ -f local/augment.sh ]; then
        [ -x local/augment.sh ] || die "stage 3: local/augment.sh is not executable (chmod +x it)"
        # shellcheck disable=SC2086
        python=$python ngpu=$ngpu local/augment.sh --datadir "$datadir" --dumpdir "$dumpdir" \
            --expdir "$expdir" --train_set "$train_set" --valid_set "$valid_set" $local_train_opts \
            || die "stage 3: local/augment.sh failed"
    else
        log "stage 3: the recipe has no local/augment.sh, skipped"
    fi
fi

# ---- stage 4: training data of the variant (hook local/train_data.sh) ----------------
train_dir=$(input_dir "$train_set")   # erm: the training set as it is
train_extra=()                        # the variant's extra enh_train arguments
if [ "$train_variant" != erm ]; then
    # Named even when stage 4 does not run: stage 5 trains on the variant's dir.
    [ -f local/train_data.sh ] \
        || die "--train_variant $train_variant: the recipe has no local/train_data.sh (only erm)"
    [ -x local/train_data.sh ] || die "local/train_data.sh is not executable (chmod +x it)"
    make=false
    if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then make=true; fi
    spec=$(mktemp "${TMPDIR:-/tmp}/train_data.XXXXXX")
    # shellcheck disable=SC2086
    python=$python local/train_data.sh --variant "$train_variant" --make "$make" --out "$spec" \
        --datadir "$datadir" --dumpdir "$dumpdir" --expdir "$expdir" --train_set "$train_set" \
        --input_channels "$input_channels" --ref_channel "$ref_channel" $local_train_opts \
        || { rm -f "$spec"; die "stage 4: local/train_data.sh failed (--train_variant $train_variant)"; }
    { read -r train_dir && mapfile -t train_extra; } <"$spec" \
        || { rm -f "$spec"; die "stage 4: local/train_data.sh named no training dir"; }
    rm -f "$spec"
elif [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
    log "stage 4: ERM trains on $train_dir as it is"
fi
# Shape files depend only on the training list: runs on the same list share them.
stats_dir=$expdir/enh_stats_${fs}_$(basename "$train_dir")

collect_stats() {  # $1 train dir, $2 valid dir, $3 output dir (locked: runs may share it)
    mkdir -p "$(dirname "$3")"
    exec 9>"$3.lock"
    flock 9
    if is_done "$3" stats; then flock -u 9; return 0; fi
    log "collect stats: $1 -> $3"
    rm -rf "$3.tmp"
    # shellcheck disable=SC2046
    ${train_cmd} "$3.tmp/logdir/stats.log" ${python} -m sepplug.bin.enh_train \
        --collect_stats true --config "$enh_config" \
        $(data_args train "$1") $(data_args valid "$2") \
        --train_shape_file "$1/wav.scp" --valid_shape_file "$2/wav.scp" \
        --output_dir "$3.tmp" --ngpu 0 --num_workers 0 \
        || die "collect stats failed: see $3.tmp/logdir/stats.log"
    rm -rf "$3" && mv "$3.tmp" "$3" && done_mark "$3" stats
    flock -u 9
}

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
        # shellcheck disable=SC2046,SC2206,SC2207
        train_args=(--config "$enh_config"
            $(data_args train "$train_dir") $(data_args valid "$(input_dir "$valid_set")")
            --train_shape_file "$stats_dir/train/speech_mix_shape"
            --valid_shape_file "$stats_dir/valid/speech_mix_shape"
            ${fold_length:+--fold_length "$fold_length"}
            --output_dir "$enh_exp" --ngpu "$ngpu" --resume true "${train_extra[@]}" $enh_args)
        if [ "$world_size" -gt 1 ]; then  # before a launch that ESPnet would stop in
            # shellcheck disable=SC2086
            ${python} -m sepplug.train.dist_check --world_size "$world_size" \
                --config "$enh_config" --train_dir "$train_dir" \
                --valid_dir "$(input_dir "$valid_set")" -- "${train_extra[@]}" $enh_args \
                || die "stage 5: $world_size training processes cannot share this data (above)"
        fi
        collect_stats "$train_dir" "$(input_dir "$valid_set")" "$stats_dir"
        echo "$family" >"$enh_exp/family"
        if [ -f "$enh_exp/train.log" ]; then  # an earlier (killed) run: keep its log
            n=1; while [ -f "$enh_exp/train.log.$n" ]; do n=$((n + 1)); done
            mv "$enh_exp/train.log" "$enh_exp/train.log.$n"
        fi
        # What it resumes from (checkpoint.pth, or the newest intact <N>epoch.pth when that is
        # torn: sepplug.train.resume) is logged in train.log.
        if [ -f "$enh_exp/checkpoint.pth" ] || compgen -G "$enh_exp/*epoch.pth" >/dev/null; then
            log "stage 5: resuming from the last saved state in $enh_exp (train.log names it)"
        fi
        log "stage 5: train $enh_config on $train_dir -> $enh_exp (log: $enh_exp/train.log;" \
            "$world_size process(es) on $num_nodes node(s))"
        train_failed() {  # the error (e.g. data too short for chunk_length), then die
            # (DDP: the first error is the cause, the other ranks' and torchrun's follow it;
            # torchrun prefixes its processes' lines with "[rankN]: ")
            # (emulated nodes: every rank's own log, rank 0's first)
            grep -hE '^(\[rank[0-9]+\]: )?[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): ' \
                "$enh_exp/train.log" "$enh_exp"/logdir/train.*.log 2>/dev/null \
                | grep -v ChildFailedError | if [ "$world_size" -gt 1 ]; then head -n 1;
                                             else tail -n 1; fi >&2 || true
            die "stage 5 failed: see $enh_exp/train.log"
        }
        if [ "$world_size" -eq 1 ]; then
            # One process (ESPnet's single-process mode): the command of every recipe so far.
            ${cuda_cmd} --gpu "$ngpu" "$enh_exp/train.log" \
                ${python} -m sepplug.bin.enh_train "${train_args[@]}" || train_failed
        elif $dist_emulate_nodes; then
            # Every node's processes here: ESPnet's external-launcher mode (rank and world
            # size given, no spawning), inited through a new file in the exp dir.
            init_file=$(cd "$enh_exp" && pwd)/.dist_init_$(date +%s%N)
            if [ -f "$enh_exp/logdir/train.0.log" ]; then  # a killed run's: its epoch stats
                n=1; while [ -f "$enh_exp/train.log.$n" ]; do n=$((n + 1)); done  # (resume)
                cp "$enh_exp/logdir/train.0.log" "$enh_exp/train.log.$n"
            fi
            rm -rf "$enh_exp/logdir"
            rc=0  # (set -e: the status is kept, the init file removed, then the error named)
            ${cuda_cmd} --gpu 0 JOB=0:$((world_size - 1)) "$enh_exp/logdir/train.JOB.log" \
                ${python} -m sepplug.bin.enh_train "${train_args[@]}" \
                --multiprocessing_distributed false --dist_backend gloo --dist_rank JOB \
                --dist_world_size "$world_size" --dist_init_method "file://$init_file" || rc=$?
            rm -f "$init_file"
            if [ -f "$enh_exp/logdir/train.0.log" ]; then
                cp "$enh_exp/logdir/train.0.log" "$enh_exp/train.log"  # rank 0's
            else
                echo "stage 5: rank 0 wrote no log ($enh_exp/logdir/train.0.log)" >"$enh_exp/train.log"
            fi
            [ $rc -eq 0 ] || train_failed
        elif [ "$num_nodes" -eq 1 ] && [ "$ngpu" -eq 0 ]; then
            # CPU processes on one node: torchrun starts them (ESPnet reads RANK, WORLD_SIZE,
            # MASTER_ADDR/PORT from its environment); ESPnet's launcher has no CPU mode.
            # Each runs sepplug.bin.enh_train through sepplug.train.ddp_worker, which dies
            # with torchrun (its workers are in sessions of their own: a killed job's
            # workers would train on beside the rerun).
            ${cuda_cmd} --gpu 0 --num_threads "$dist_procs" "$enh_exp/train.log" \
                ${python} -m torch.distributed.run --standalone --nnodes 1 \
                --nproc_per_node "$dist_procs" -m sepplug.train.ddp_worker "${train_args[@]}" \
                --multiprocessing_distributed false --dist_backend gloo || train_failed
        else
            # GPUs (nccl) or several nodes: ESPnet's launcher, as ESPnet's enh.sh calls it
            # (it adds --gpu, and for K nodes srun / mpirun and a file:// init, to the cmd).
            ${python} -m espnet2.bin.launch \
                --cmd "${cuda_cmd} --name $(basename "$enh_exp")" \
                --log "$enh_exp/train.log" --ngpu "$ngpu" --num_nodes "$num_nodes" \
                --init_file_prefix "$enh_exp/.dist_init_" --multiprocessing_distributed true \
                -- ${python} -m sepplug.bin.enh_train "${train_args[@]}" || train_failed
        fi
        # ESPnet skips utterances shorter than chunk_length without an error: a "trained"
        # model may never have seen a batch.
        grep -q '\[train\][^[]*total_count=[1-9]' "$enh_exp"/train.log* \
            || die "stage 5: $enh_exp trained on no batch (see $enh_exp/train.log: are the utterances shorter than chunk_length?)"
        done_mark "$enh_exp" train
    fi
fi

# The checkpoint stage 6 uses.
model_file() {  # auto: the first best_model_criterion ESPnet wrote, else valid.loss.best.pth
    ${python} -m sepplug.bin.pick_checkpoint --exp_dir "$enh_exp" --name "$inference_model" \
        || die "stage 6: no checkpoint to separate with (see above): run stage 5 (or set --inference_model)"
}

# ---- stage 6: inference, scoring, RESULTS.md + results/summary.tsv ------------------
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
    model=$(model_file)
    [ -f "$enh_exp/family" ] || echo "$family" >"$enh_exp/family"
    for s in $test_sets; do
        out=$enh_exp/enhanced_$s
        # The separated audio holds while the model and the test set are the ones it was made
        # from: a retrained (or further trained) model, remade data or a set remade by a
        # recipe's hook (any marker in the set's dir) redoes it, and its scores with it.
        made_from=("$model" "$(input_dir "$s")/wav.scp")
        for marker in "$datadir/.done.data_$fs" "$datadir/$s"/.done.*; do
            [ -f "$marker" ] && made_from+=("$marker")
        done
        separated=false  # checksummed once: the model and data files can be large
        is_done_for "$out" separate "${made_from[@]}" && separated=true
        if $separated && is_done "$out" score; then
            log "stage 6: $out already scored, skipped"; continue
        fi
        if ! $separated; then
            log "stage 6: separate $s with $model"
            rm -rf "$out.tmp"; mkdir -p "$out.tmp/logdir"
            ${decode_cmd} "$out.tmp/logdir/inference.log" ${python} -m sepplug.bin.enh_inference \
                --ngpu 0 --fs "$fs_hz" --normalize_output_wav "$normalize_output_wav" \
                --data_path_and_name_and_type "$(input_dir "$s")/wav.scp,speech_mix,sound" \
                --train_config "$enh_exp/config.yaml" --model_file "$model" \
                --output_dir "$out.tmp" \
                || die "stage 6: inference failed: see $out.tmp/logdir/inference.log"
            # ESPnet's scp files name wavs under the output dir: point them at the final place.
            sed -i "s#$out.tmp/#$out/#g" "$out.tmp"/spk*.scp
            rm -rf "$out" && mv "$out.tmp" "$out" && done_mark_for "$out" separate "${made_from[@]}"
        fi
        inf_args=()
        while IFS= read -r scp; do inf_args+=(--inf_scp "$scp"); done \
            < <(find "$out" -maxdepth 1 -name 'spk*.scp' | sort -V)
        [ ${#inf_args[@]} -gt 0 ] || die "stage 6: no spk*.scp in $out"
        log "stage 6: score $s ($(( ${#inf_args[@]} / 2 )) outputs) with $scoring_tool"
        rm -rf "$out/scoring" "$out/scoring.tmp"
        # shellcheck disable=SC2086
        ${python} -m "$scoring_tool" --data_dir "$datadir/$s" "${inf_args[@]}" \
            --ref_channel "$ref_channel" --out_dir "$out/scoring.tmp" $score_opts \
            2>"$out/scoring.log" \
            || { tail -n 3 "$out/scoring.log" >&2; die "stage 6: scoring failed: see $out/scoring.log"; }
        mv "$out/scoring.tmp" "$out/scoring" && done_mark "$out" score
    done
    # one writer at a time (models scored side by side): the last one sees every finished model
    flock "$expdir/.results.lock" ${python} -m "$results_tool" --expdir "$expdir" \
        --title "$results_title" --out "$expdir/RESULTS.md" >/dev/null \
        || die "stage 6: $results_tool failed"
    log "stage 6: $expdir/RESULTS.md, $expdir/results/summary.tsv"
fi
log "finished stages $stage-$stop_stage ($enh_exp)"
exit 0
}
