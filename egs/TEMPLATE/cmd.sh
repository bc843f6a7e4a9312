# How jobs are run (Kaldi/ESPnet style). run.pl: local parallel jobs; slurm.pl: sbatch.
#   e.g. train_cmd="utils/slurm.pl --gpu 1"
cmd_backend=${cmd_backend:-local}
if [ "$cmd_backend" = local ]; then
    export train_cmd="utils/run.pl"
    export cuda_cmd="utils/run.pl"
    export decode_cmd="utils/run.pl"
elif [ "$cmd_backend" = slurm ]; then
    export train_cmd="utils/slurm.pl"
    export cuda_cmd="utils/slurm.pl --gpu 1"
    export decode_cmd="utils/slurm.pl"
else
    echo "cmd.sh: unknown cmd_backend '$cmd_backend' (local|slurm)" >&2; return 1
fi
