"""The semantic-MixIT sound classifier: model, save/load, and its training recipe tool."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sepplug.classify import SoundClassifier, load_classifier, save_classifier
from sepplug.errors import DataError
from sepplug.recipes.mixit_semantic import train_classifier as tc

FS = 8000
CLASSES = ["low", "high", "noise"]


def _clip(kind: str, rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    t = np.arange(n) / fs
    if kind == "low":
        return 0.3 * np.sin(2 * np.pi * rng.uniform(200, 300) * t)
    if kind == "high":
        return 0.3 * np.sin(2 * np.pi * rng.uniform(2500, 3000) * t)
    return 0.1 * rng.standard_normal(n)


def write_fake_pool(root: Path) -> Path:
    """3 classes x (2 train, 1 dev, 1 test) groups x 3 clips; the "low" class at 16 kHz with
    clips shorter than the crop (resampling and padding), the others 1 s at 8 kHz."""
    rng = np.random.default_rng(0)
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    lines = []
    for kind in CLASSES:
        fs = 16000 if kind == "low" else FS
        for split, count in (("train", 2), ("dev", 1), ("test", 1)):
            for g in range(count):
                group = f"{kind}_{split}_{g}"
                (root / "wav" / group).mkdir(parents=True)
                for c in range(3):
                    n = int((0.3 if kind == "low" else 1.0) * fs)
                    sf.write(root / "wav" / group / f"{group}_{c + 1:03d}.wav",
                             _clip(kind, rng, n, fs).astype(np.float32), fs, subtype="FLOAT")
                splits[split].append(group)
                lines.append(f"{group} {kind}\n")
    (root / "splits").mkdir()
    for split, groups in splits.items():
        (root / "splits" / f"{split}.spk").write_text("".join(g + "\n" for g in groups))
    (root / "group2class").write_text("".join(sorted(lines)))
    (root / "classes.txt").write_text("".join(c + "\n" for c in CLASSES))
    return root


OPTS = tc.TrainOptions(segment=0.5, steps=40, batch_size=16, eval_every=20, lr=3e-3,
                       channels=(8, 16))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("classifier")
    torch.set_num_threads(1)
    pool = write_fake_pool(root / "pool")
    result = tc.train_classifier(pool, root / "exp", OPTS)
    return pool, root / "exp", result


def test_shapes_and_input_gradient():
    torch.manual_seed(0)
    model = SoundClassifier(5, fs=FS).freeze()
    wav = (0.05 * torch.randn(3, 4000)).requires_grad_(True)
    logits = model(wav)
    assert logits.shape == (3, 5)
    logits.sum().backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    model.train()  # a trainer calling .train() on a parent module: stays frozen
    assert not model.training
    zeros = torch.zeros(1, 4000, requires_grad=True)
    model(zeros).sum().backward()  # silence: finite gradient (no sqrt of the power)
    assert torch.isfinite(zeros.grad).all()
    with pytest.raises(ValueError, match="waveform"):
        model(torch.zeros(4000))


def test_level_is_not_normalised_away():
    model = SoundClassifier(2, fs=FS).eval()
    wav = 0.1 * torch.randn(1, 4000)
    assert not torch.allclose(model.log_mel(wav), model.log_mel(1e-3 * wav))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = SoundClassifier(3, fs=FS, channels=(4, 8), n_mels=32).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d,
                                                              torch.nn.BatchNorm2d))]
        for bn in norms:
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    save_classifier(tmp_path / "c.pth", model, CLASSES, extra={"note": 1})
    loaded, classes = load_classifier(tmp_path / "c.pth")
    assert classes == CLASSES and not loaded.training
    assert loaded.config == model.config
    wav = 0.1 * torch.randn(2, 4000)
    with torch.no_grad():
        assert torch.equal(model(wav), loaded(wav))
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file


@pytest.mark.parametrize("content", [None, b"not a checkpoint", "dict"])
def test_load_refuses_bad_files(tmp_path, content):
    path = tmp_path / "bad.pth"
    if content == "dict":
        torch.save({"state_dict": {}}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=str(path)):
        load_classifier(path)


def test_training_writes_outputs_above_chance(trained):
    _, out, result = trained
    for name in ("classifier.pth", "accuracy.json", "confusion.tsv", "train.log", ".done.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "accuracy.json").read_text())
    assert saved == result
    assert saved["test"]["n"] == 9 and saved["dev"]["n"] == 9
    assert saved["test"]["top1"] > 0.6  # chance: 1/3
    assert set(saved["test"]["per_class"]) == set(CLASSES)
    assert saved["steps"] == OPTS.steps and saved["best_step"] in (20, 40)
    rows = (out / "confusion.tsv").read_text().splitlines()
    assert rows[0].split("\t")[1:] == CLASSES
    assert sum(int(v) for row in rows[1:] for v in row.split("\t")[1:]) == 9
    model, classes = load_classifier(out / "classifier.pth")
    assert classes == CLASSES and model.config["channels"] == [8, 16]
    assert "dev top-1" in (out / "train.log").read_text()


def test_rerun_is_a_noop_and_other_options_are_refused(trained, caplog):
    pool, out, result = trained
    mtime = (out / "classifier.pth").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        assert tc.train_classifier(pool, out, OPTS) == result
    assert "nothing to do" in caplog.text
    assert (out / "classifier.pth").stat().st_mtime_ns == mtime
    other = tc.TrainOptions(**{**vars(OPTS), "steps": 41})
    with pytest.raises(DataError, match="steps"):
        tc.train_classifier(pool, out, other)


def test_training_is_deterministic(trained, tmp_path):
    pool, _, result = trained
    opts = tc.TrainOptions(**{**vars(OPTS), "steps": 3, "eval_every": 3})
    first = tc.train_classifier(pool, tmp_path / "a", opts)
    second = tc.train_classifier(pool, tmp_path / "b", opts)
    assert first["dev"] == second["dev"] and first["test"] == second["test"]
    a = torch.load(tmp_path / "a" / "classifier.pth", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "classifier.pth", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _break(pool: Path, what: str) -> Path:
    if what == "no_pool":
        return pool / "missing"
    if what == "no_group2class":
        (pool / "group2class").unlink()
        return pool / "group2class"
    if what == "group_without_class":
        lines = (pool / "group2class").read_text().splitlines(keepends=True)
        (pool / "group2class").write_text("".join(lines[1:]))
        return pool / "group2class"
    if what == "unknown_class":
        text = (pool / "group2class").read_text().replace("noise_dev_0 noise", "noise_dev_0 x")
        (pool / "group2class").write_text(text)
        return pool / "group2class"
    if what == "empty_split":
        (pool / "splits" / "test.spk").write_text("")
        return pool / "splits" / "test.spk"
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["no_pool", "no_group2class", "group_without_class",
                                  "unknown_class", "empty_split"])
def test_bad_pool_is_refused_naming_the_file(tmp_path, what, caplog):
    pool = write_fake_pool(tmp_path / "pool")
    named = _break(pool, what)
    argv = ["--pool", str(pool if what != "no_pool" else named), "--out_dir",
            str(tmp_path / "exp"), "--steps", "2"]
    with caplog.at_level(logging.ERROR):
        assert tc.main(argv) == 1
    assert str(named) in caplog.text
    assert not (tmp_path / "exp" / "classifier.pth").exists()
