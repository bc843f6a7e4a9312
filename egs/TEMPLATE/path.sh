# Environment of every recipe step (sourced by run.sh / enh.sh).
# One thread per process: on a small shared CPU box two threads were up to 8x slower.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PRA_NUM_THREADS=1
export PYTHONUNBUFFERED=1 PYTHONWARNINGS="ignore::FutureWarning,ignore::UserWarning"
export LC_ALL=C
python=${python:-python3}
