"""A dynamic-mixing model separates after its training data dir is gone (issue #30).

The end-to-end part trains a toy ``hard_dm`` model (conv/TCN, 2 epochs of 3 iterations, one
DataLoader worker) with ``sepplug.bin.enh_train``, moves the training data dir away, and
separates with ``sepplug.bin.enh_inference``, ESPnet's ``SeparateSpeech`` and ``sepplug
select``; its ``train.log`` must hold ``hard_dm``'s partner-draw line for every epoch. The unit
part checks that outside training no dynamic-mixing preprocessor (stock ``dynamic_mixing``,
``hard_dm``, ``spatial_dm``, ``feabase``) reads a training list, and that validation data is
treated exactly as ESPnet's ``DynamicMixingPreprocessor(train=False)`` treats it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.enh_task import conv_tcn_config

FS = 8000
SPEAKERS = ("a", "b", "c")
UTTS_PER_SPEAKER = 2
EPOCHS = 2
CONFIG = conv_tcn_config(num_spk=2, channel=8, layer=2, hidden_dim=8) + f"""\
criterions:
    - name: si_snr
      conf: {{eps: 1.0e-7}}
      wrapper: pit
      wrapper_conf: {{weight: 1.0, independent_perm: true}}
preprocessor: hard_dm
preprocessor_conf:
    source_scp_name: spk1.scp
    ref_num: 2
    pair_table: exp/pairs.tsv
    hard_share: 0.5
    hard_quantile: 0.34
optim: adam
optim_conf: {{lr: 1.0e-3}}
max_epoch: {EPOCHS}
num_iters_per_epoch: 3
batch_type: unsorted
batch_size: 2
valid_batch_size: 2
num_workers: 1
best_model_criterion: [[valid, loss, min]]
keep_nbest_models: 1
seed: 0
"""
DRAW_LINE = re.compile(r"(\d+)epoch: hard_dm partner draws: hard (\d+) \([\d.]+ %\), "
                       r"uniform (\d+) \([\d.]+ %\), no hard partner (\d+) "
                       r"\([\d.]+ %, in uniform\)")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning"}


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    """Run ``cmd`` with stdout and stderr in ``log`` (as a recipe's ``run.pl`` writes it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                              timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{log.read_text()[-5000:]}"


def _write_dir(path: Path, rng: np.random.Generator, utts: list[tuple[str, str]],
               seconds: float = 0.25) -> None:
    """Kaldi dir of 2-source mixtures: wav.scp, spk1.scp, spk2.scp, utt2spk (spk1's speaker).

    Each source is noise under a slow envelope, ``seconds`` long at :data:`FS`."""
    path.mkdir(parents=True)
    tables: dict[str, list[str]] = {"wav.scp": [], "spk1.scp": [], "spk2.scp": [],
                                    "utt2spk": []}
    n = int(seconds * FS)
    for uid, spk in utts:
        srcs = []
        for k in (1, 2):
            env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * np.arange(n) / FS)
            srcs.append((0.1 * rng.standard_normal(n) * env).astype(np.float32))
            sf.write(path / f"{uid}_s{k}.wav", srcs[-1], FS)
            tables[f"spk{k}.scp"].append(f"{uid} {path / f'{uid}_s{k}.wav'}\n")
        sf.write(path / f"{uid}.wav", srcs[0] + srcs[1], FS)
        tables["wav.scp"].append(f"{uid} {path / f'{uid}.wav'}\n")
        tables["utt2spk"].append(f"{uid} {spk}\n")
    for name, lines in tables.items():
        (path / name).write_text("".join(lines))


def _data_args(kind: str, data_dir: str) -> list[str]:
    opt = f"--{kind}_data_path_and_name_and_type"
    return [opt, f"{data_dir}/wav.scp,speech_mix,sound",
            opt, f"{data_dir}/spk1.scp,speech_ref1,sound",
            opt, f"{data_dir}/spk2.scp,speech_ref2,sound"]


@pytest.fixture(scope="module")
def hard_dm_run(tmp_path_factory) -> Path:
    """The work dir of a toy ``hard_dm`` training (``exp/enh``) whose ``data/train`` was
    moved to ``moved/train`` afterwards; ``data/test`` holds two mixtures to separate."""
    work = tmp_path_factory.mktemp("no_train_lists")
    rng = np.random.default_rng(0)
    train = [(f"{s}{i}", s) for s in SPEAKERS for i in range(UTTS_PER_SPEAKER)]
    _write_dir(work / "data" / "train", rng, train)
    _write_dir(work / "data" / "dev", rng, [("d0", "a"), ("d1", "b")])
    _write_dir(work / "data" / "test", rng, [("t0", "a"), ("t1", "c")])
    (work / "exp").mkdir()
    (work / "exp" / "pairs.tsv").write_text(
        "spk1\tspk2\thardness\n" + "".join(f"{x}\t{y}\t{1.0 if {x, y} == {'a', 'b'} else 0.0}\n"
                                           for x in SPEAKERS for y in SPEAKERS if x != y))
    (work / "conf.yaml").write_text(CONFIG)
    _run([sys.executable, "-m", "sepplug.bin.enh_train", "--config", "conf.yaml",
          *_data_args("train", "data/train"), *_data_args("valid", "data/dev"),
          "--train_shape_file", "data/train/wav.scp", "--valid_shape_file", "data/dev/wav.scp",
          "--utt2spk", "data/train/utt2spk", "--output_dir", "exp/enh", "--ngpu", "0"],
         work, work / "exp" / "enh" / "train.log")
    (work / "moved").mkdir()
    (work / "data" / "train").rename(work / "moved" / "train")
    return work


def _assert_wavs(scp: Path, keys: set[str]) -> None:
    lines = dict(line.split(maxsplit=1) for line in scp.read_text().splitlines())
    assert set(lines) == keys, scp
    for path in lines.values():
        audio, rate = sf.read(path.strip())
        assert rate == FS and audio.shape == (int(0.25 * FS),) and np.isfinite(audio).all()


def test_train_log_has_the_partner_draws_of_every_epoch(hard_dm_run):
    log = (hard_dm_run / "exp" / "enh" / "train.log").read_text()
    lines = [m.groups() for m in DRAW_LINE.finditer(log)]
    assert [int(g[0]) for g in lines] == list(range(1, EPOCHS + 1)), log[-3000:]
    for _, hard, uniform, no_partner in lines:
        # every draw is hard or uniform; a hard try without a partner (c) also draws uniform
        assert int(hard) + int(uniform) >= 6 and int(no_partner) <= int(uniform)


def test_enh_inference_cli_separates_without_the_training_dir(hard_dm_run):
    assert not (hard_dm_run / "data" / "train").exists()
    out = hard_dm_run / "exp" / "enh" / "enhanced_test"
    _run([sys.executable, "-m", "sepplug.bin.enh_inference", "--ngpu", "0", "--fs", str(FS),
          "--data_path_and_name_and_type", "data/test/wav.scp,speech_mix,sound",
          "--train_config", "exp/enh/config.yaml",
          "--model_file", "exp/enh/valid.loss.best.pth", "--output_dir", str(out)],
         hard_dm_run, hard_dm_run / "exp" / "enh" / "inference.log")
    for spk in (1, 2):
        _assert_wavs(out / f"spk{spk}.scp", {"t0", "t1"})


def test_separate_speech_and_select_run_without_the_training_dir(hard_dm_run, monkeypatch):
    from sepplug.bin.select import main as select_main
    from sepplug.bin.select import separate_speech_class

    monkeypatch.chdir(hard_dm_run)
    exp = hard_dm_run / "exp" / "enh"
    separate = separate_speech_class()(train_config=exp / "config.yaml",
                                       model_file=exp / "valid.loss.best.pth", device="cpu")
    mix, rate = sf.read(hard_dm_run / "data" / "test" / "t0.wav", dtype="float32")
    waves = separate(mix[None], fs=rate)
    assert len(waves) == 2 and all(w.shape == (1, mix.shape[0]) for w in waves)
    assert select_main(["--model", str(exp), "--model_file", "valid.loss.best.pth",
                        "--data_dir", "data/test", "--out_dir", "exp/select_test"]) == 0
    for spk in (1, 2):
        _assert_wavs(hard_dm_run / "exp" / "select_test" / f"spk{spk}.scp", {"t0", "t1"})


# ---- outside training nothing reads a training list ---------------------------------------


def _validation_example(rng: np.random.Generator, category: str | None = None) -> dict:
    data = {f"speech_ref{k}": rng.standard_normal(400).astype(np.float32) for k in (1, 2)}
    data["speech_mix"] = data["speech_ref1"] + data["speech_ref2"]
    if category is not None:
        data["category"] = category
    return data


@pytest.mark.parametrize("name,conf", [
    ("dynamic_mixing", {"source_scp_name": "spk1.scp", "dynamic_mixing_gain_db": 2.0}),
    ("hard_dm", {"pair_table": "gone/pairs.tsv", "hard_share": 0.5}),
    ("spatial_dm", {"rir_bank": "gone/rir_bank", "source_scp": "gone/dry/wav.scp"}),
    ("feabase", {"fs_dir": "gone/train_fs", "p": 0.5}),
])
def test_outside_training_no_training_list_is_read(name, conf, tmp_path):
    from sepplug.tasks.enh import SepplugEnhancementTask

    gone = str(tmp_path / "gone" / "train")
    args = Namespace(
        preprocessor=name, preprocessor_conf=conf, separator_conf={"num_spk": 2},
        utt2spk=f"{gone}/utt2spk",
        train_data_path_and_name_and_type=[(f"{gone}/wav.scp", "speech_mix", "sound"),
                                           (f"{gone}/spk1.scp", "speech_ref1", "sound")],
        valid_data_path_and_name_and_type=[(str(tmp_path / "dev/wav.scp"), "speech_mix",
                                            "sound")])
    fn = SepplugEnhancementTask.build_preprocess_fn(args, train=False)
    data = _validation_example(np.random.default_rng(0))
    out = fn("u1", dict(data))
    assert out.keys() == data.keys()
    assert all(out[k] is data[k] for k in data)  # audio untouched
    mix_only = {"speech_mix": data["speech_mix"]}
    assert fn("u1", dict(mix_only)).keys() == mix_only.keys()  # inference data
    assert not list(tmp_path.iterdir())  # and nothing was written either


def _espnet_valid(tmp_path: Path, categories: list[str] | None):
    """ESPnet's own ``DynamicMixingPreprocessor(train=False)`` (it needs a source list)."""
    from espnet2.train.preprocessor import DynamicMixingPreprocessor

    scp = tmp_path / "spk1.scp"
    scp.write_text("u1 /nonexistent.wav\n")
    return DynamicMixingPreprocessor(False, str(scp), categories=categories)


@pytest.mark.parametrize("name", ["dynamic_mixing", "hard_dm"])
def test_validation_maps_categories_as_espnet(name, tmp_path):
    from sepplug.tasks.enh import SepplugEnhancementTask

    categories = ["1ch_easy", "1ch_hard", "1ch_easy", "1ch_both"]  # a repeat: ESPnet skips it
    args = Namespace(preprocessor=name, separator_conf={"num_spk": 2},
                     preprocessor_conf={"categories": categories, "hard_share": 0.5},
                     train_data_path_and_name_and_type=[("gone/wav.scp", "speech_mix",
                                                         "sound")])
    ours = SepplugEnhancementTask.build_preprocess_fn(args, train=False)
    espnet = _espnet_valid(tmp_path, categories)
    rng = np.random.default_rng(1)
    for category in ("1ch_easy", "1ch_hard", "1ch_both", None):
        data = _validation_example(rng, category)
        theirs, mine = espnet("u1", dict(data)), ours("u1", dict(data))
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            np.testing.assert_array_equal(mine[key], value)
            assert mine[key].dtype == value.dtype
    from sepplug.errors import DataError

    with pytest.raises(DataError, match="'1ch_medium'"):
        ours("u1", _validation_example(rng, "1ch_medium"))
    args.preprocessor_conf = {}
    bare = SepplugEnhancementTask.build_preprocess_fn(args, train=False)
    with pytest.raises(ValueError, match="categories must be set"):
        _espnet_valid(tmp_path, None)("u1", _validation_example(rng, "1ch_easy"))
    with pytest.raises(DataError, match="categories"):
        bare("u1", _validation_example(rng, "1ch_easy"))
    multichannel = _validation_example(rng)
    multichannel["speech_ref1"] = np.stack([multichannel["speech_ref1"]] * 2, axis=1)
    with pytest.raises(DataError, match="speech_ref1 .*2 channels"):
        bare("u1", multichannel)
