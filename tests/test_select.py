"""``sepplug select``: per-mixture model selection by clustering confidence."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from sepplug.bin import select

FS = 8000
STFT = "{n_fft: 64, hop_length: 16}"
DC_YAML = f"""
encoder: stft
encoder_conf: {STFT}
decoder: stft
decoder_conf: {STFT}
separator: dc_blstm
separator_conf: {{num_spk: 2, hidden_dim: 8, num_layers: 1, emb_dim: 3}}
criterions:
  - {{name: dpcl, conf: {{loss_type: dpcl}}, wrapper: dpcl, wrapper_conf: {{weight: 1.0}}}}
best_model_criterion: [[valid, loss, min]]
"""
RNN_YAML = f"""
encoder: stft
encoder_conf: {STFT}
decoder: stft
decoder_conf: {STFT}
separator: rnn
separator_conf: {{num_spk: 2, rnn_type: blstm, layer: 1, unit: 8, nonlinear: sigmoid}}
criterions:
  - {{name: si_snr, conf: {{eps: 1.0e-7}}, wrapper: pit, wrapper_conf: {{weight: 1.0}}}}
best_model_criterion: [[valid, loss, min]]
"""


def write_wavs(root: Path, rate: int, n: int = 3, seconds: float = 0.25) -> Path:
    """A Kaldi dir of ``n`` random-noise mixtures (different lengths) at ``rate``."""
    rng = np.random.default_rng(rate + n)
    (root / "wav").mkdir(parents=True)
    lines = []
    for i in range(n):
        path = root / "wav" / f"mix{i}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(seconds * rate) + 37 * i), rate)
        lines.append(f"mix{i} {path}\n")
    (root / "wav.scp").write_text("".join(lines))
    return root


def make_exp(exp: Path, yaml_text: str, train_scp: Path, seed: int = 0,
             zero: bool = False) -> Path:
    """An exp dir as ESPnet's trainer leaves it: config.yaml (every argument) and
    ``valid.loss.best.pth`` (the model's state dict)."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    exp.mkdir(parents=True)
    (exp / "conf.yaml").write_text(yaml_text)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(exp / "conf.yaml")])
    args.train_data_path_and_name_and_type = [[str(train_scp), "speech_mix", "sound"]]
    torch.manual_seed(seed)
    model = SepplugEnhancementTask.build_model(args)
    if zero:  # constant embedding: nothing to cluster, confidence 0
        for p in model.parameters():
            torch.nn.init.zeros_(p)
    (exp / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), exp / "valid.loss.best.pth")
    return exp


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    train = write_wavs(root / "train", FS, n=1)
    return {
        "root": root,
        "data": write_wavs(root / "test", FS),
        "data16k": write_wavs(root / "test16k", 16000),
        "flat": make_exp(root / "exp" / "enh_flat", DC_YAML, train / "wav.scp", zero=True),
        "dc": make_exp(root / "exp" / "enh_dc", DC_YAML, train / "wav.scp", seed=1),
        "rnn": make_exp(root / "exp" / "enh_rnn", RNN_YAML, train / "wav.scp", seed=2),
    }


def run_select(models, data: Path, out: Path, *extra: str) -> int:
    argv = ["--data_dir", str(data), "--out_dir", str(out), *extra]
    for m in models:
        argv += ["--model", str(m)]
    return select.main(argv)


def test_select_writes_chosen_outputs(setup, tmp_path):
    out = tmp_path / "out"
    assert run_select([setup["flat"], setup["dc"]], setup["data"], out) == 0
    rows = [line.split("\t") for line in (out / "confidence.tsv").read_text().splitlines()]
    assert rows[0] == ["utt_id", "enh_flat", "enh_dc", "chosen"]
    assert [r[0] for r in rows[1:]] == ["mix0", "mix1", "mix2"]
    for r in rows[1:]:
        flat, dc = float(r[1]), float(r[2])
        assert flat == 0.0 and 0.0 < dc <= 1.0  # constant embedding: C = 0, never chosen
        assert r[3] == "enh_dc"
    assert (out / "wav.scp").read_text() == (setup["data"] / "wav.scp").read_text()
    assert not list(tmp_path.glob(".*tmp"))

    # the files are the chosen model's separation of each mixture
    from espnet2.bin.enh_inference import SeparateSpeech

    sep = SeparateSpeech(setup["dc"] / "config.yaml", setup["dc"] / "valid.loss.best.pth")
    for s in (1, 2):
        table = dict(line.split(" ", 1) for line in (out / f"spk{s}.scp").read_text().splitlines())
        assert sorted(table) == ["mix0", "mix1", "mix2"]
        for key, path in table.items():
            assert Path(path).parent == out / "wav"
            mix, rate = sf.read(setup["data"] / "wav" / f"{key}.wav", dtype="float32")
            got, got_rate = sf.read(path, dtype="float32")
            assert got_rate == rate and got.shape == mix.shape
            np.testing.assert_allclose(got, sep(mix[None], fs=rate)[s - 1][0], atol=1e-6)


def test_select_mask_confidence_and_cli(setup, tmp_path):
    from sepplug.cli import main as cli_main

    out = tmp_path / "out"
    argv = ["select", "--model", str(setup["rnn"]), "--model", str(setup["dc"]),
            "--data_dir", str(setup["data"]), "--out_dir", str(out),
            "--model_file", "valid.loss.best.pth", "--confidence", "auto"]
    assert cli_main(argv) == 0
    rows = [line.split("\t") for line in (out / "confidence.tsv").read_text().splitlines()]
    assert rows[0] == ["utt_id", "enh_rnn", "enh_dc", "chosen"] and len(rows) == 4
    for r in rows[1:]:  # mixed families: mask confidence for both; dc masks are binary
        rnn, dc = float(r[1]), float(r[2])
        assert 0.0 <= rnn < dc <= 1.0 and r[3] == "enh_dc"
    first = (out / "confidence.tsv").read_text()
    assert cli_main(argv) == 0  # rerun: same numbers (seeded), output replaced
    assert (out / "confidence.tsv").read_text() == first
    with pytest.raises(SystemExit) as exc:  # the rnn model has no embeddings
        cli_main([*argv[:-1], "dc"])
    assert exc.value.code == 1


def _fails(capsys, models, data, out, *extra) -> str:
    with pytest.raises(SystemExit) as exc:
        run_select(models, data, out, *extra)
    assert exc.value.code == 1
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return capsys.readouterr().err


def test_bad_inputs_name_the_file_and_leave_no_output(setup, tmp_path, capsys):
    out = tmp_path / "out"
    no_config = tmp_path / "exp" / "enh_noconf"
    shutil.copytree(setup["dc"], no_config)
    (no_config / "config.yaml").unlink()
    err = _fails(capsys, [setup["dc"], no_config], setup["data"], out)
    assert f"{no_config}: no config.yaml" in err

    err = _fails(capsys, [setup["dc"], setup["flat"]], setup["data"], out,
                 "--model_file", "epoch9.pth")
    assert f"missing checkpoint {setup['dc'] / 'epoch9.pth'}" in err

    # 16 kHz data, models trained on 8 kHz (read from their training wav.scp)
    err = _fails(capsys, [setup["dc"], setup["flat"]], setup["data16k"], out)
    assert str(setup["data16k"] / "wav.scp") in err and "16000 Hz" in err
    assert "trained at 8000 Hz" in err and str(setup["root"] / "train") in err

    # an explicit fs in config.yaml wins
    fs_model = tmp_path / "exp" / "enh_fs"
    shutil.copytree(setup["dc"], fs_model)
    config = yaml.safe_load((fs_model / "config.yaml").read_text())
    (fs_model / "config.yaml").write_text(yaml.safe_dump({**config, "fs": "16k"}))
    err = _fails(capsys, [setup["dc"], fs_model], setup["data16k"], out)
    assert f"model {setup['dc']} was trained at 8000 Hz" in err
    err = _fails(capsys, [fs_model, setup["dc"]], setup["data"], out)
    assert f"{fs_model / 'config.yaml'} (fs)" in err

    err = _fails(capsys, [setup["dc"], setup["flat"]], tmp_path / "nodata", out)
    assert f"missing wav.scp ({tmp_path / 'nodata' / 'wav.scp'})" in err

    # an existing output survives a failed run untouched
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(SystemExit):
        run_select([setup["dc"], no_config], setup["data"], out)
    assert (out / "keep").read_text() == "x" and not list(tmp_path.glob(".out*"))
