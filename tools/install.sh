#!/usr/bin/env bash
# Install sepplug and everything its recipes need into the current Python, or
# into a virtual environment that --venv names (created when missing).
#
#   tools/install.sh [--venv DIR] [--cpu | --gpu]
#
# Idempotent: what is already installed at the right version is left alone.
#
# Why it is not a plain `pip install espnet torch`:
#  * On a CPU machine torch must be the CPU build (`torch==2.13.0+cpu`); plain
#    `torch` pulls several GB of CUDA packages. Elsewhere, point
#    TORCH_CPU_INDEX at https://download.pytorch.org/whl/cpu.
#  * espnet 202511 (the newest for Python 3.11) pins setuptools<74 while torch 2.13
#    needs setuptools>=77, so pip backtracks to an ancient espnet. espnet does not
#    use setuptools at run time: we install it with --no-deps and then its real
#    run-time needs (below). `pip check` keeps that one complaint: see README.
#  * The enh task needs packages espnet does not declare: torchaudio (imported by
#    espnet2/enh/espnet_model.py), numpy<2.4 (2.4 breaks ESPnet's chunk
#    iterator), mir_eval<0.9 and pystoi (scoring), tensorboard and matplotlib.
#  * ESPnet's own egs2/TEMPLATE/enh1/enh.sh (stages 1-8, see README "With an ESPnet
#    checkout") also imports resampy (stage 3, pyscripts/audio/format_wav_scp.py).
#  * resemblyzer (pretrained speaker-encoder weights in its wheel) goes in --no-deps:
#    its webrtcvad dependency is an sdist; webrtcvad-wheels provides the same module.
#  * PyPI's torchaudio 2.11 ships compiled ops linked against CUDA torch; on CPU
#    torch they fail to load and `import torchaudio` fails. Without
#    torchaudio/lib/*.so it imports and torchaudio.functional works (what ESPnet
#    uses), so we remove them when, and only when, the import fails.
set -euo pipefail

TORCH_VERSION=2.13.0
TORCHAUDIO_VERSION=2.11.0
ESPNET_VERSION=202511
venv=""
device=auto

while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv="$2"; shift 2 ;;
        --cpu) device=cpu; shift ;;
        --gpu) device=gpu; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
say() { echo "[install.sh $(( $(date +%s) - start ))s] $*"; }

if [ -n "$venv" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        say "creating virtual environment $venv"
        python3 -m venv "$venv"
    fi
    PY="$venv/bin/python"
else
    PY=$(command -v python3)
fi
PIP=("$PY" -m pip install --disable-pip-version-check -q)
say "python: $PY ($("$PY" --version 2>&1))"

if [ "$device" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        device=gpu
    else
        device=cpu
    fi
fi
say "device: $device"

installed_version() {  # prints the installed version of a distribution, or nothing
    "$PY" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$1"
}

# 1. torch -----------------------------------------------------------------
have_torch=$(installed_version torch)
if [ "$device" = cpu ]; then
    want_torch="${TORCH_VERSION}+cpu"
else
    want_torch="${TORCH_VERSION}"
fi
if [ "${have_torch%%+*}" = "$TORCH_VERSION" ] && { [ "$device" = gpu ] || [ "$have_torch" = "$want_torch" ]; }; then
    say "torch $have_torch already installed"
else
    say "installing torch==$want_torch"
    "${PIP[@]}" "torch==$want_torch" ${TORCH_CPU_INDEX:+--extra-index-url "$TORCH_CPU_INDEX"}
fi
have_torch=$(installed_version torch)
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# Nothing below may replace torch (e.g. by the CUDA build) or move numpy to 2.4.
printf 'torch==%s\nnumpy<2.4\n' "$have_torch" >"$constraints"

# 2. torchaudio (no deps: it would otherwise drag in another torch) ---------
if [ "$(installed_version torchaudio)" != "$TORCHAUDIO_VERSION" ]; then
    say "installing torchaudio==$TORCHAUDIO_VERSION (--no-deps)"
    "${PIP[@]}" --no-deps "torchaudio==$TORCHAUDIO_VERSION"
fi
if ! "$PY" -c "import torchaudio" >/dev/null 2>&1; then
    ta_lib=$("$PY" -c "import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec('torchaudio').origin), 'lib'))")
    say "torchaudio's compiled ops do not load on this torch: removing $ta_lib/*.so"
    rm -f "$ta_lib"/*.so
fi
"$PY" -c "import torch, torchaudio; torchaudio.functional.resample(torch.zeros(1, 160), 16000, 8000)"
say "torchaudio imports and resamples"

# 3. espnet without its setuptools pin, then its real run-time needs --------
if [ "$(installed_version espnet)" != "$ESPNET_VERSION" ]; then
    say "installing espnet==$ESPNET_VERSION (--no-deps)"
    "${PIP[@]}" --no-deps "espnet==$ESPNET_VERSION"
fi
say "installing espnet's run-time needs, the enh task's undeclared ones, enh.sh's, and sepplug's"
"${PIP[@]}" -c "$constraints" \
    configargparse typeguard humanfriendly "scipy>=1.4.1" filelock "librosa>=0.10.2" \
    "jamo==0.4.1" "PyYAML>=5.1.2" "soundfile>=0.10.2" "h5py>=2.10.0" "kaldiio>=2.18.0" \
    torch_complex "nltk>=3.4.5" "numpy>=2.0,<2.4" protobuf opt-einsum "sentencepiece==0.2.0" \
    "pypinyin<=0.44.0" espnet_tts_frontend hydra-core ci_sdr "fast-bss-eval==0.1.3" \
    "asteroid_filterbanks==0.4.0" editdistance "importlib-metadata<5.0" packaging \
    "mir_eval<0.9" pystoi tensorboard matplotlib "resampy>=0.4" \
    pyroomacoustics tqdm scikit-learn soxr "espeakng-loader==0.2.4" pytest "pytest-xdist==3.8.0" ruff \
    "pretty_midi==0.2.11"
# tinysoundfont renders pretty_midi's bundled General-MIDI soundfont offline (the music
# domain, sepplug.simulate.domains.music); its metadata asks for pyaudio, which has no Linux
# wheel and is only needed for live playback: --no-deps.
"${PIP[@]}" --no-deps "tinysoundfont==0.3.7"
# resemblyzer ships pretrained speaker-encoder weights inside its wheel (the hard-mining
# recipe's speaker embedding, sepplug.recipes.hard_mining.resemblyzer_embedding); it asks for webrtcvad,
# an sdist that compiles, and `typing`: --no-deps with webrtcvad-wheels (same module).
"${PIP[@]}" --no-deps "resemblyzer==0.1.4" "webrtcvad-wheels==2.0.14.post1"

# 4. sepplug itself, editable --------------------------------------------
say "installing sepplug (editable) from $root"
"${PIP[@]}" -c "$constraints" --no-deps --no-build-isolation -e "$root"

# 5. checks -----------------------------------------------------------------
if [ "$device" = cpu ] && "$PY" -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
    say "WARNING: CUDA packages (nvidia-*) are installed on a CPU machine"
fi
"$PY" - <<'EOF'
import importlib.metadata as m
import torch, numpy
import resampy  # ESPnet's enh.sh stage 3 (format_wav_scp.py)
import tinysoundfont  # the music domain's renderer
import resemblyzer  # the hard-mining recipe's speaker embedding (weights in the wheel)
import sepplug.tasks.enh  # registers the plugins
from sepplug.registry import plugin_records
print(f"torch {torch.__version__}, numpy {numpy.__version__}, espnet {m.version('espnet')}")
print("plugins:", ", ".join(f"{r.table.replace('_choices', '')}:{r.name}" for r in plugin_records()))
EOF
say "pip check (the espnet setuptools<74 pin is expected, see README):"
"$PY" -m pip check 2>&1 | sed 's/^/    /' || true
say "done"
