"""``python -m sepplug.bin.category_curves``: per-category SI-SDRi of every epoch checkpoint.

Real ESPnet models (stock ``rnn`` on the reference mic, sepplug's ``tf_dualpath`` on two
mics) at tiny sizes, on a 6-utterance two-channel data dir; one CPU thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from sepplug.bin import category_curves
from sepplug.utils.scoring import score_utterance

torch.set_num_threads(1)

FS, MICS = 8000, 2
CATEGORIES = ["easy", "hard", "both", "easy", "hard", "easy"]
STFT = "{n_fft: 64, hop_length: 32}"
RNN_YAML = f"""
encoder: stft
encoder_conf: {STFT}
decoder: stft
decoder_conf: {STFT}
separator: rnn
separator_conf: {{num_spk: 2, rnn_type: blstm, layer: 1, unit: 8, nonlinear: sigmoid}}
criterions:
  - {{name: si_snr, conf: {{eps: 1.0e-7}}, wrapper: pit, wrapper_conf: {{weight: 1.0}}}}
"""
TFDP_YAML = f"""
encoder: stft
encoder_conf: {STFT}
decoder: stft
decoder_conf: {STFT}
separator: tf_dualpath
separator_conf: {{num_spk: 2, num_mics: {MICS}, ref_channel: 0, hidden_dim: 8, num_blocks: 1}}
criterions:
  - {{name: si_snr, conf: {{eps: 1.0e-7}}, wrapper: pit, wrapper_conf: {{weight: 1.0}}}}
"""


def write_data(root: Path, with_categories: bool = True) -> Path:
    """6 two-channel mixtures of two coloured-noise sources (T, 2), multichannel refs."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True)
    tables: dict[str, list[str]] = {"wav.scp": [], "spk1.scp": [], "spk2.scp": [],
                                    "utt2category": []}
    for i, category in enumerate(CATEGORIES):
        key, n = f"utt{i}", 2000 + 40 * i
        sources = []
        for s, smooth in enumerate((1, 8)):  # a white and a low-pass source
            dry = np.convolve(rng.standard_normal(n), np.ones(smooth) / smooth, "same")
            image = np.stack([dry, np.roll(dry, 1 + s) * 0.8], axis=1) * 0.1  # (T, 2)
            sf.write(root / "wav" / f"{key}_s{s + 1}.wav", image, FS, subtype="FLOAT")
            tables[f"spk{s + 1}.scp"].append(f"{key} {root / 'wav' / f'{key}_s{s + 1}.wav'}")
            sources.append(image)
        sf.write(root / "wav" / f"{key}.wav", sum(sources), FS, subtype="FLOAT")
        tables["wav.scp"].append(f"{key} {root / 'wav' / f'{key}.wav'}")
        tables["utt2category"].append(f"{key} {category}")
    if not with_categories:
        del tables["utt2category"]
    for name, lines in tables.items():
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def make_exp(exp: Path, yaml_text: str, data: Path, epochs: int) -> Path:
    """An exp dir as ESPnet's trainer leaves it with keep_nbest_models >= max_epoch:
    config.yaml and ``<N>epoch.pth`` state dicts (different weights each epoch)."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    exp.mkdir(parents=True)
    (exp / "conf.yaml").write_text(yaml_text)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(exp / "conf.yaml")])
    args.train_data_path_and_name_and_type = [[str(data / "wav.scp"), "speech_mix", "sound"]]
    (exp / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.manual_seed(0)
    state = SepplugEnhancementTask.build_model(args).state_dict()
    for epoch in range(1, epochs + 1):
        state = save_epoch(state, exp, epoch)
    return exp


def save_epoch(state: dict, exp: Path, epoch: int) -> dict:
    """Save ``state`` with its float tensors moved a little, as ``<exp>/<epoch>epoch.pth``."""
    state = {k: v + 0.3 * torch.randn_like(v) if v.is_floating_point() else v
             for k, v in state.items()}
    torch.save(state, exp / f"{epoch}epoch.pth")
    return state


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("curves")
    data = write_data(root / "data" / "dev")
    return {"root": root, "data": data,
            "rnn": make_exp(root / "exp" / "enh_rnn", RNN_YAML, data, epochs=2),
            "tfdp": make_exp(root / "exp" / "enh_tfdp", TFDP_YAML, data, epochs=1)}


def read_tsv(path: Path) -> list[dict]:
    """Rows of a TSV with a header; numbers as int or float."""
    header, *lines = path.read_text().splitlines()
    rows = [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]
    for row in rows:
        for key in ("epoch", "n"):
            row[key] = int(row[key])
        for key in ("mean", "stderr"):
            row[key] = float(row[key])
    return rows


def curves(data: Path, out: Path, *exps: Path, extra: tuple[str, ...] = ()) -> int:
    argv = ["--data_dir", str(data), "--out", str(out), *extra]
    for exp in exps:
        argv += ["--exp", str(exp)]
    return category_curves.main(argv)


def test_curves_rows_values_and_cache(setup, tmp_path, monkeypatch):
    out, exp = tmp_path / "results" / "dev_curves.tsv", setup["rnn"]
    ref_input = ("--input_channels", "ref", "--ref_channel", "0")
    assert curves(setup["data"], out, exp, extra=ref_input) == 0
    out_lines = out.read_text().splitlines()
    assert out_lines[0] == "exp\tepoch\tcategory\tn\tmean\tstderr"
    table = read_tsv(out)
    assert [(r["epoch"], r["category"], r["n"]) for r in table] == [
        (e, c, n) for e in (1, 2) for c, n in [("both", 1), ("easy", 3), ("hard", 2), ("all", 6)]]
    assert {r["exp"] for r in table} == {"enh_rnn"}
    for epoch in (1, 2):
        rows = {r["category"]: r for r in table if r["epoch"] == epoch}
        weighted = sum(r["n"] * r["mean"] for c, r in rows.items() if c != "all") / 6
        assert rows["all"]["mean"] == pytest.approx(weighted, abs=1e-3)
        assert np.isnan(rows["both"]["stderr"]) and rows["easy"]["stderr"] > 0
    by_key = {(r["epoch"], r["category"]): r for r in table}
    assert by_key[1, "easy"]["mean"] != by_key[2, "easy"]["mean"]

    # the numbers: ESPnet's own inference of 2epoch.pth on mic 0, scored by score_utterance
    from espnet2.bin.enh_inference import SeparateSpeech

    sep = SeparateSpeech(exp / "config.yaml", exp / "2epoch.pth")
    easy = []
    for i in (0, 3, 5):
        mix, _ = sf.read(setup["data"] / "wav" / f"utt{i}.wav", dtype="float32")
        refs = np.stack([sf.read(setup["data"] / "wav" / f"utt{i}_s{s}.wav",
                                 dtype="float32")[0][:, 0] for s in (1, 2)])
        ests = np.stack([w[0] for w in sep(mix[None, :, 0], fs=FS)])
        easy.append(score_utterance(refs, ests, mix[:, 0])["si_sdri"])
    assert by_key[2, "easy"]["mean"] == pytest.approx(np.mean(easy), abs=1e-3)

    # a rerun with a new epoch scores only the new (and a changed) checkpoint
    save_epoch(torch.load(exp / "2epoch.pth", weights_only=True), exp, 3)
    scored = []
    real = category_curves.score_checkpoint

    def counting(separate, ckpt, dev, keys, bar):
        scored.append((ckpt.name, len(keys)))
        return real(separate, ckpt, dev, keys, bar)

    monkeypatch.setattr(category_curves, "score_checkpoint", counting)
    assert curves(setup["data"], out, exp, extra=ref_input) == 0
    assert scored == [("3epoch.pth", 6)]
    again = out.read_text().splitlines()
    assert again[:9] == out_lines and len(again) == 13  # epochs 1, 2 as before, then 3
    st = (exp / "1epoch.pth").stat()
    os.utime(exp / "1epoch.pth", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    scored.clear()
    assert curves(setup["data"], out, exp, extra=ref_input) == 0
    assert scored == [("1epoch.pth", 6)]
    assert len(list((exp / "category_curves").glob("*.tsv"))) == 1


def test_multichannel_plugin_model_and_max_utts(setup, tmp_path):
    out = tmp_path / "curves.tsv"
    assert curves(setup["data"], out, setup["tfdp"], extra=("--max_utts", "4")) == 0
    table = read_tsv(out)
    assert [r["category"] for r in table] == ["both", "easy", "hard", "all"]
    assert [r["n"] for r in table] == [1, 2, 1, 4] and {r["epoch"] for r in table} == {1}
    assert {r["exp"] for r in table} == {"enh_tfdp"}
    assert all(np.isfinite(r["mean"]) for r in table)


def test_clear_errors(setup, tmp_path, caplog):
    out = tmp_path / "curves.tsv"
    empty = tmp_path / "exp" / "enh_empty"
    empty.mkdir(parents=True)
    (empty / "config.yaml").write_text((setup["rnn"] / "config.yaml").read_text())
    assert curves(setup["data"], out, setup["rnn"], empty) == 1
    assert f"{empty}: no <N>epoch.pth checkpoints" in caplog.text
    assert "keep_nbest_models" in caplog.text

    caplog.clear()
    bare = write_data(tmp_path / "no_categories", with_categories=False)
    assert curves(bare, out, setup["rnn"]) == 1
    assert f"{bare}: no utt2category" in caplog.text
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))
