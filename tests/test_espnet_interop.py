"""ESPnet interop: ESPnet's own ``egs2/TEMPLATE/enh1/enh.sh`` command lines on sepplug's data.

No ESPnet checkout is needed: the tests rebuild, argument for argument, the command lines
that enh.sh (espnet v202511) assembles in its stages 5-7 for a data dir, and run them with
``--python "python3 -m sepplug.launch"`` as README "With an ESPnet checkout" does:

stage 5, collect stats (``_nj`` = 1, so utils/split_scp.pl makes copies)::

    ${train_cmd} JOB=1:${_nj} ${_logdir}/stats.JOB.log ${python} -m espnet2.bin.enh_train \\
        --collect_stats true ${_train_data_param} ${_valid_data_param} \\
        --train_shape_file ${_logdir}/train.JOB.scp --valid_shape_file ${_logdir}/valid.JOB.scp \\
        --output_dir ${_logdir}/stats.JOB ${_opts} ${enh_args}
    ${python} -m espnet2.bin.aggregate_stats_dirs ${_opts} --skip_sum_stats \\
        --output_dir ${enh_stats_dir}

stage 6, training (the data params end with ``utt2category,category,text`` and
``utt2fs,fs,text_int`` when the train and the valid dir both have the file)::

    ${python} -m espnet2.bin.launch --cmd "${cuda_cmd} --name ${jobname}" \\
        --log ${enh_exp}/train.log --ngpu ${ngpu} --num_nodes ${num_nodes} \\
        --init_file_prefix ${enh_exp}/.dist_init_ --multiprocessing_distributed true -- \\
        ${python} -m espnet2.bin.enh_train ${_train_data_param} ${_valid_data_param} \\
        ${_train_shape_param} ${_valid_shape_param} ${_fold_length_param} --resume true \\
        --output_dir ${enh_exp} ${_opts} ${enh_args}

stage 7, inference::

    ${_cmd} --gpu ${_ngpu} JOB=1:${_nj} ${_logdir}/enh_inference.JOB.log \\
        ${python} -m espnet2.bin.enh_inference --ngpu ${_ngpu} --fs ${fs} \\
        --data_path_and_name_and_type ${_data}/wav.scp,speech_mix,sound \\
        --key_file ${_logdir}/keys.JOB.scp --train_config ${enh_exp}/config.yaml \\
        --model_file ${enh_exp}/${inference_model} --output_dir ${_logdir}/output.JOB \\
        ${_opts} ${inference_args}

The data dirs come from the recipe's data stage (``python -m sepplug.simulate.corpus`` and
``python -m sepplug.recipes.spatialvctk.simulate``, as egs/spatialvctk/local/data.sh runs them) at
toy
size, with ``utt2category``. enh.sh's stages 3-4 (wav -> flac under dump/raw/, length
filter) keep utt2category and need ESPnet's utils/ and pyscripts/: here ``data_feats`` is
the data dir itself. The config is the recipe's, verbatim; ``enh_args`` shrink the model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from sepplug.datadir.categories import CATEGORIES, category_ids, espnet_categories

REPO = Path(__file__).resolve().parents[1]
SPATIAL_CONF = REPO / "egs" / "spatialvctk" / "conf" / "tuning"
MIXIT_CONF = REPO / "egs" / "vctk" / "mixit" / "conf" / "tuning"
CONFIG = SPATIAL_CONF / "train_enh_mc_dprnn_cpu.yaml"
README = REPO / "README.md"

# enh.sh's options as the README's command sets them (CPU, 8 kHz, 2 speakers, nj 1)
PYTHON = [sys.executable, "-m", "sepplug.launch"]  # --python "python3 -m sepplug.launch"
TRAIN_CMD = CUDA_CMD = DECODE_CMD = str(REPO / "tools" / "utils" / "run.pl")  # cmd.sh, local
FS = "8k"
NGPU = 0
REF_NUM = 2
ENH_SPEECH_FOLD_LENGTH = 800
INFERENCE_MODEL = "valid.loss.ave.pth"  # enh.sh's default
INFERENCE_ARGS = ["--normalize_output_wav", "true"]  # enh.sh's default
ENH_ARGS = ["--max_epoch", "1", "--num_iters_per_epoch", "2", "--batch_size", "2",
            "--valid_batch_size", "2", "--chunk_length", "4000", "--num_workers", "0",
            "--use_tensorboard", "false", "--num_att_plot", "0",
            "--separator_conf", "num_filters=8", "--separator_conf", "bottleneck_dim=8",
            "--separator_conf", "hidden_dim=8", "--separator_conf", "num_layers=1"]

# What enh.sh stages 1-8 import on a CPU machine. Stage 3: pyscripts/audio/format_wav_scp.py;
# 4: humanfriendly; 5-6: aggregate_stats_dirs, launch (and enh_train, run below); 7:
# enh_inference (run below); 8: enh_scoring's third-party needs (the module itself is
# imported in the plain session of the API test: importing ESPnet's task costs ~10 s).
ENH_SH_IMPORTS = (
    "resampy", "humanfriendly", "kaldiio", "numpy", "soundfile", "tqdm", "typeguard",
    "espnet2.fileio.read_text", "espnet2.fileio.sound_scp", "espnet2.fileio.vad_scp",
    "espnet2.utils.types", "espnet.utils.cli_utils", "espnet2.bin.aggregate_stats_dirs",
    "espnet2.bin.launch", "librosa", "mir_eval", "pystoi",
)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning"}


def _run(cmd: list[str], cwd: Path, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        extra = log.read_text()[-6000:] if log is not None and log.is_file() else ""
        raise AssertionError(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{extra}")


def _espnet(tool: str, *args: str) -> list[str]:
    """``${python} -m espnet2.bin.<tool> ARGS`` with enh.sh's --python."""
    return [*PYTHON, "-m", f"espnet2.bin.{tool}", *args]


def _espnet_here(work: Path, tool: str, *args: str) -> None:
    """``${python} -m espnet2.bin.<tool> ARGS`` for a tool that builds no model, in-process.

    For aggregate_stats_dirs and launch (which only merge shape files / start the trainer),
    ``python3 -m sepplug.launch -m <tool> ARGS`` is ``<tool>.main(ARGS)`` after importing
    ESPnet's task to register the plugins: calling main here saves that ~10 s import.
    """
    module = importlib.import_module(f"espnet2.bin.{tool}")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for key, value in _env().items():
            mp.setenv(key, value)
        module.main(list(args))


def _data_params(kind: str, data_dir: str) -> list[str]:
    """wav.scp + spk1..N.scp (enh.sh: _train_data_param / _valid_data_param, type sound)."""
    opt = f"--{kind}_data_path_and_name_and_type"
    params = [opt, f"{data_dir}/wav.scp,speech_mix,sound"]
    for spk in range(1, REF_NUM + 1):
        params += [opt, f"{data_dir}/spk{spk}.scp,speech_ref{spk},sound"]
    return params


def _stage6_extra_params(kind: str, data_dir: str, train_dir: Path, valid_dir: Path) -> list[str]:
    """What enh.sh stage 6 appends when both dirs have utt2category / utt2fs."""
    opt = f"--{kind}_data_path_and_name_and_type"
    params = []
    if (train_dir / "utt2category").exists() and (valid_dir / "utt2category").exists():
        params += [opt, f"{data_dir}/utt2category,category,text"]
    if (train_dir / "utt2fs").exists() and (valid_dir / "utt2fs").exists():
        params += [opt, f"{data_dir}/utt2fs,fs,text_int"]
    return params


@pytest.fixture(scope="module")
def espnet_run(tmp_path_factory) -> dict[str, Path]:
    """Tiny SpatialVCTK, then enh.sh stages 5, 6 and 7 (one test set) on it."""
    work = tmp_path_factory.mktemp("espnet_interop")
    # Stage 1 (the recipe's data stage, toy size): 12 speakers x 4 utterances, 1 s at 8 kHz.
    _run([sys.executable, "-m", "sepplug.simulate.corpus", "--out", "corpus", "--num_speakers",
          "12", "--utts_per_speaker", "4", "--fs", "16000", "--seed", "0", "--nj", "1"], work)
    _run([sys.executable, "-m", "sepplug.recipes.spatialvctk.simulate", "--corpus_dir", "corpus",
          "--out_dir", "data", "--wav_dir", "wav", "--fs", "8000", "--segment", "1.0",
          "--n_train", "8", "--n_dev", "4", "--n_test", "2", "--n_hard_extra", "0",
          "--seed", "0", "--nj", "1", "--dtype", "float32"], work)
    data_feats = "data"
    train_set, valid_set, test_set = "train", "dev", "test_both"
    train_dir, valid_dir = f"{data_feats}/{train_set}", f"{data_feats}/{valid_set}"
    enh_stats_dir = f"exp/enh_stats_{FS}"
    enh_exp = "exp/enh_mc_dprnn_tiny"  # --enh_tag mc_dprnn_tiny
    opts = ["--config", str(CONFIG)]

    # ---- stage 5: collect stats ----
    logdir = work / enh_stats_dir / "logdir"
    logdir.mkdir(parents=True)
    shutil.copy(work / train_dir / "wav.scp", logdir / "train.1.scp")
    shutil.copy(work / valid_dir / "wav.scp", logdir / "valid.1.scp")
    stats_log = f"{enh_stats_dir}/logdir/stats.1.log"
    _run([TRAIN_CMD, "JOB=1:1", f"{enh_stats_dir}/logdir/stats.JOB.log",
          *_espnet("enh_train", "--collect_stats", "true",
                   *_data_params("train", train_dir), *_data_params("valid", valid_dir),
                   "--train_shape_file", f"{enh_stats_dir}/logdir/train.JOB.scp",
                   "--valid_shape_file", f"{enh_stats_dir}/logdir/valid.JOB.scp",
                   "--output_dir", f"{enh_stats_dir}/logdir/stats.JOB", *opts, *ENH_ARGS)],
         work, work / stats_log)
    _espnet_here(work, "aggregate_stats_dirs", "--input_dir", f"{enh_stats_dir}/logdir/stats.1",
                 "--skip_sum_stats", "--output_dir", enh_stats_dir)

    # ---- stage 6: training ----
    fold_length = str(ENH_SPEECH_FOLD_LENGTH * 100)
    train_data = _data_params("train", train_dir)
    valid_data = _data_params("valid", valid_dir)
    train_shape = ["--train_shape_file", f"{enh_stats_dir}/train/speech_mix_shape"]
    valid_shape = ["--valid_shape_file", f"{enh_stats_dir}/valid/speech_mix_shape"]
    for spk in range(1, REF_NUM + 1):
        train_shape += ["--train_shape_file", f"{enh_stats_dir}/train/speech_ref{spk}_shape"]
        valid_shape += ["--valid_shape_file", f"{enh_stats_dir}/valid/speech_ref{spk}_shape"]
    fold = ["--fold_length", fold_length] * (1 + REF_NUM)
    train_data += _stage6_extra_params("train", train_dir, work / train_dir, work / valid_dir)
    valid_data += _stage6_extra_params("valid", valid_dir, work / train_dir, work / valid_dir)
    jobname = f"{enh_exp}/train.log"
    try:
        _espnet_here(work, "launch", "--cmd", f"{CUDA_CMD} --name {jobname}", "--log",
                     f"{enh_exp}/train.log", "--ngpu", str(NGPU), "--num_nodes", "1",
                     "--init_file_prefix", f"{enh_exp}/.dist_init_",
                     "--multiprocessing_distributed", "true", "--",
                     *_espnet("enh_train", *train_data, *valid_data, *train_shape,
                              *valid_shape, *fold, "--resume", "true", "--output_dir", enh_exp,
                              *opts, *ENH_ARGS))
    except RuntimeError as exc:  # espnet2.bin.launch: the trainer failed
        log = work / enh_exp / "train.log"
        raise AssertionError(f"{exc}\n{log.read_text()[-6000:] if log.is_file() else ''}") from exc

    # ---- stage 7: inference on one test set ----
    data = f"{data_feats}/{test_set}"
    out_dir = f"{enh_exp}/enhanced_{test_set}"
    (work / out_dir / "logdir").mkdir(parents=True)
    shutil.copy(work / data / "wav.scp", work / out_dir / "logdir" / "keys.1.scp")
    _run([DECODE_CMD, "--gpu", str(NGPU), "JOB=1:1", f"{out_dir}/logdir/enh_inference.JOB.log",
          *_espnet("enh_inference", "--ngpu", str(NGPU), "--fs", FS,
                   "--data_path_and_name_and_type", f"{data}/wav.scp,speech_mix,sound",
                   "--key_file", f"{out_dir}/logdir/keys.JOB.scp",
                   "--train_config", f"{enh_exp}/config.yaml",
                   "--model_file", f"{enh_exp}/{INFERENCE_MODEL}",
                   "--output_dir", f"{out_dir}/logdir/output.JOB", *INFERENCE_ARGS)],
         work, work / out_dir / "logdir" / "enh_inference.1.log")
    for spk in range(1, REF_NUM + 1):  # 3. concatenate the jobs' scp files
        lines = (work / out_dir / "logdir" / "output.1" / f"spk{spk}.scp").read_text()
        (work / out_dir / f"spk{spk}.scp").write_text("".join(sorted(lines.splitlines(True))))
    return {"work": work, "train_dir": work / train_dir, "valid_dir": work / valid_dir,
            "test_dir": work / data, "exp": work / enh_exp, "out": work / out_dir,
            "train_args": train_data + valid_data}


def test_enh_sh_imports_are_installed():
    """Everything ESPnet's enh.sh stages 1-8 import on a CPU machine (tools/install.sh)."""
    missing = []
    for name in ENH_SH_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, "not installed (tools/install.sh): " + "; ".join(missing)


def test_configs_declare_the_category_preprocessor():
    """Every SpatialVCTK config maps utt2category like ESPnet wants, in sepplug's id order."""
    for path in sorted(SPATIAL_CONF.glob("*.yaml")):
        conf = yaml.safe_load(path.read_text())
        channels = (conf.get("separator_conf") or {}).get("num_mics", 1)
        assert conf.get("preprocessor") == "enh", path.name
        assert conf.get("num_spk") == conf["separator_conf"]["num_spk"], path.name
        assert conf.get("categories") == espnet_categories(channels), path.name
        assert category_ids(conf["categories"]) == {
            f"{channels}ch_{c}": i for i, c in enumerate(CATEGORIES)}
        assert not (conf.get("model_conf") or {}).get("categories"), (
            f"{path.name}: model_conf.categories renames the loss stats per category "
            "(best_model_criterion keys)")
    # The MixIT data writes no utt2category / utt2fs: its configs need no preprocessor.
    mixit_writer = (REPO / "sepplug" / "recipes" / "mixit" / "make_data.py").read_text()
    assert "utt2category" not in mixit_writer and "utt2fs" not in mixit_writer
    assert sorted(MIXIT_CONF.glob("*.yaml"))


@pytest.mark.slow
def test_stage5_and_stage6_train_on_dirs_with_utt2category(espnet_run):
    for d in (espnet_run["train_dir"], espnet_run["valid_dir"]):
        assert (d / "utt2category").is_file()
    args = espnet_run["train_args"]
    assert "data/train/utt2category,category,text" in args
    assert "data/dev/utt2category,category,text" in args
    log = (espnet_run["exp"] / "train.log").read_text()
    match = re.search(r"1epoch results: \[train\] .*?total_count=(\d+)", log)
    assert match and int(match.group(1)) > 0, "no training step ran:\n" + log[-3000:]
    assert "valid] si_snr_loss=" in log
    assert (espnet_run["exp"] / INFERENCE_MODEL).is_file()
    config = yaml.safe_load((espnet_run["exp"] / "config.yaml").read_text())
    assert config["separator"] == "mc_dprnn" and config["preprocessor"] == "enh"
    assert ["data/train/utt2category", "category", "text"] in (
        config["train_data_path_and_name_and_type"])


@pytest.mark.slow
def test_stage7_inference_separates_the_test_set(espnet_run):
    keys = [ln.split()[0] for ln in (espnet_run["test_dir"] / "wav.scp").read_text().splitlines()]
    for spk in (1, 2):
        table = dict(ln.split(maxsplit=1) for ln in
                     (espnet_run["out"] / f"spk{spk}.scp").read_text().splitlines())
        assert sorted(table) == sorted(keys)
        for path in table.values():
            audio, fs = sf.read(path.strip())
            assert fs == 8000 and audio.ndim == 1 and len(audio) == 8000
            assert np.isfinite(audio).all() and np.abs(audio).max() > 0


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## With an ESPnet checkout\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README.md has no section '## With an ESPnet checkout'"
    return match.group(1)


def test_readme_section_has_the_commands_the_tests_run():
    section = _readme_section()
    assert '--python "python3 -m sepplug.launch"' in section
    for option in ("--ngpu 0", "--fs 8k", "--ref_num 2", "--nj 1"):
        assert option in section, option
    assert "egs/spatialvctk/conf/tuning/train_enh_mc_dprnn_cpu.yaml" in section
    assert "import sepplug; sepplug.register()" in section


@pytest.mark.slow
def test_model_loads_through_espnets_python_api_after_register(espnet_run, tmp_path):
    """The README's Python block, in a plain interpreter, on the stage-6 model."""
    block = re.search(r"```python\n(.*?)```", _readme_section(), flags=re.S)
    assert block, "no python block in README section 'With an ESPnet checkout'"
    code = block.group(1)
    assert code.startswith("import sepplug; sepplug.register()")
    # The block reads exp/enh_x/{config.yaml,<model>} and mix.wav, writes spk1.wav, spk2.wav.
    exp = tmp_path / "exp" / "enh_x"
    exp.parent.mkdir()
    exp.symlink_to(espnet_run["exp"])
    wav = (espnet_run["test_dir"] / "wav.scp").read_text().split()[1]
    (tmp_path / "mix.wav").symlink_to(wav)
    # README (a): the wpit config made by its sed line, and the mixit_efficient config.
    sed = "s/wrapper: pit$/wrapper: wpit/"
    assert f"sed '{sed}'" in _readme_section()
    wpit = tmp_path / "train_enh_mc_dprnn_wpit_cpu.yaml"
    wpit.write_text(subprocess.run(["sed", sed, str(CONFIG)], check=True, capture_output=True,
                                   text=True).stdout)
    mixit = MIXIT_CONF / "train_enh_mixit_m4_cpu.yaml"
    # After the block, in the same session: no sepplug launcher was involved, and ESPnet's
    # own task builds the README (a) configs with their plugin components.
    check = f"""
import json, sys
assert "sepplug.tasks.enh" not in sys.modules and "sepplug.launch" not in sys.modules
import espnet2.bin.enh_scoring  # enh.sh stage 8 (test_enh_sh_imports_are_installed)
from espnet2.tasks.enh import EnhancementTask
built = {{}}
for name, path in (("wpit", {str(wpit)!r}), ("mixit_efficient", {str(mixit)!r})):
    args = EnhancementTask.get_parser().parse_args(["--config", path, "--output_dir", "out"])
    model = EnhancementTask.build_model(args)
    built[name] = [type(w).__name__ for w in model.loss_wrappers]
print("BUILT" + json.dumps(built))
"""
    _run([sys.executable, "-c", "import sys; import sepplug; "
          "assert 'espnet2' not in sys.modules, 'import sepplug must stay light'"], tmp_path)
    proc = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = json.loads(proc.stdout.split("BUILT")[-1])
    assert built == {"wpit": ["WeightedPITSolver"], "mixit_efficient": ["EfficientMixITSolver"]}
    mix, fs = sf.read(wav)
    for name in ("spk1.wav", "spk2.wav"):
        audio, fs_out = sf.read(tmp_path / name)
        assert fs_out == fs and audio.shape == (mix.shape[0],) and np.isfinite(audio).all()


def test_feabase_maps_categories_like_espnet(tmp_path):
    """FEABASE runs from configs with ``categories`` (ESPnet enh.sh feeds ``category``)."""
    from sepplug.enh.preprocessor.feabase import FeabasePreprocessor

    fs_dir = tmp_path / "train_fs"
    fs_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ("wav", "spk1", "spk2"):
        sf.write(fs_dir / f"{name}.wav", rng.uniform(-0.1, 0.1, (800, 6)), 8000,
                 subtype="FLOAT")
        (fs_dir / f"{name}.scp").write_text(f"u1_fs {fs_dir / f'{name}.wav'}\n")
    conf = yaml.safe_load(CONFIG.read_text())
    args = argparse.Namespace(preprocessor_conf={"fs_dir": str(fs_dir), "p": 1.0,
                                                 "eligible_share": 1.0},
                              categories=conf["categories"], separator_conf={"num_spk": 2})
    mix = rng.uniform(-0.1, 0.1, (800, 6)).astype(np.float32)
    ref = mix[:, 0].copy()
    train = FeabasePreprocessor.from_task_args(args, train=True)
    out = train("u1", {"speech_mix": mix, "speech_ref1": ref, "speech_ref2": ref,
                       "category": "both"})
    assert out["utt2category"].tolist() == [CATEGORIES.index("fs")]  # swapped: fs
    out = train("u2", {"speech_mix": mix, "speech_ref1": ref, "speech_ref2": ref,
                       "category": "hard", "fs": np.array([8000])})
    assert out["utt2category"].tolist() == [CATEGORIES.index("hard")]
    assert out["utt2fs"].tolist() == [8000] and "category" not in out and "fs" not in out
    valid = FeabasePreprocessor.from_task_args(args, train=False)
    out = valid("u1", {"speech_mix": mix, "category": "easy"})
    assert out["utt2category"].tolist() == [0] and out["speech_mix"] is mix
    bare = FeabasePreprocessor(train=False, fs_dir=str(fs_dir))
    with pytest.raises(ValueError, match="no 'categories' list"):
        bare("u1", {"speech_mix": mix, "category": "easy"})
    with pytest.raises(ValueError, match="'medium'"):
        valid("u1", {"speech_mix": mix, "category": "medium"})
