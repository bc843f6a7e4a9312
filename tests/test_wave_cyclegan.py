"""The feature-suppression WaveCycleGAN: networks, training CLI, divergence, apply.

Runs on tiny models and a free-field data dir built by
``tests.test_spatial_metrics.make_pair_dir`` (8 kHz, 6 mics, 0.5 s pairs).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from sepplug.augment.fs_apply import FeatureSuppressor
from sepplug.augment.fs_trainer import FSConfig, FSTrainer
from sepplug.augment.wave_cyclegan import (
    SpatialDiscriminator,
    STFTDiscriminator,
    TimeDiscriminator,
    WaveCycleGAN,
    WaveGenerator,
    XCorrDiscriminator,
)
from sepplug.bin import fs_apply, fs_train
from sepplug.datadir.kaldi_dir import read_table
from sepplug.datadir.validate import validate
from tests.test_spatial_metrics import make_pair_dir

torch.set_num_threads(1)

TINY = {
    "channels": 6, "segment": 0.1, "batch_size": 2, "max_epochs": 1, "steps_per_epoch": 3,
    "generator_conf": {"hidden": 8, "kernel_size": 5, "n_blocks": 1},
    "discriminator_conf": {"kinds": ["time", "stft"], "time_conf": {"hidden": 8, "n_layers": 4},
                           "stft_conf": {"hidden": 8, "n_layers": 2, "n_fft": 64,
                                         "hop_length": 16}},
    "num_examples": 1, "example_seconds": 0.5, "tensorboard": False,
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_pair_dir(tmp_path_factory.mktemp("fsdata") / "train",
                         {"both": 4, "hard": 2, "easy": 1})


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "fs_tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def trained(data_dir, tiny_config, tmp_path_factory) -> Path:
    """A one-epoch run through the CLI; returns its out_dir."""
    out = tmp_path_factory.mktemp("exp") / "fs"
    rc = fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(out),
                        "--config", str(tiny_config), "--no_progress"])
    assert rc == 0
    return out


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("length", [1001, 257])
def test_generator_keeps_shape_and_starts_as_identity(length):
    gen = WaveGenerator(12, hidden=16, kernel_size=7, n_blocks=2)
    x = torch.randn(3, 12, length)
    y = gen(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x)  # zero-initialised output conv
    with pytest.raises(ValueError, match=r"expected \(B, 12, T\)"):
        gen(torch.randn(1, 6, length))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        WaveGenerator(12, kernel_size=4)
    # without the zero init it is a different, non-identity map of the same shape
    other = WaveGenerator(12, hidden=16, kernel_size=7, n_blocks=2, zero_init=False)(x)
    assert other.shape == x.shape and not torch.allclose(other, x)


def test_discriminators_score_odd_lengths():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 999)
    assert TimeDiscriminator(12, hidden=8, n_layers=5)(x).shape == (2, 1, 999)
    stft = STFTDiscriminator(12, hidden=8, n_layers=3, n_fft=64, hop_length=16)
    # 12 log-magnitudes + cos/sin of 5 inter-mic phases for each of 2 sources + cos/sin of
    # the 5 cross-source phase differences
    feats = stft.features(x)
    assert feats.shape == (2, 12 + 20 + 10, 33, 63)
    # a pair from one direction (source 2 = scaled source 1) has cross-source phase 1 + 0j
    same = torch.cat([x[:, :6], 0.5 * x[:, :6]], dim=1)
    cross = stft.features(same)[:, 32:]
    # (eps in the phase normalization leaves ~1e-3 errors in the weakest bins)
    torch.testing.assert_close(cross[:, :5], torch.ones_like(cross[:, :5]), atol=2e-2, rtol=0)
    torch.testing.assert_close(cross[:, 5:], torch.zeros_like(cross[:, 5:]), atol=2e-2, rtol=0)
    assert (feats[:, 32:37] - 1).abs().mean() > 0.3  # independent noise: random phases
    no_cross = STFTDiscriminator(12, hidden=8, n_layers=3, n_fft=64, hop_length=16,
                                 cross_source=False)
    assert no_cross.features(x).shape[1] == 32
    scores = stft(x)
    assert scores.shape[:2] == (2, 1) and torch.isfinite(scores).all()


def test_dilated_generator_sees_further_and_still_starts_as_identity():
    x = torch.randn(1, 12, 2001)
    dilated = WaveGenerator(12, hidden=8, kernel_size=5, n_blocks=4, dilation_growth=2)
    torch.testing.assert_close(dilated(x), x)
    with pytest.raises(ValueError, match="dilation_growth must be >= 1"):
        WaveGenerator(12, dilation_growth=0)

    def reach(growth: int) -> int:
        """How far (samples) an impulse at t=1000 moves the output."""
        torch.manual_seed(0)
        gen = WaveGenerator(12, hidden=8, kernel_size=5, n_blocks=4, zero_init=False,
                            dilation_growth=growth).eval()
        for module in list(gen.modules()):  # instance norm couples all of T: drop it here
            if isinstance(getattr(module, "norm", None), torch.nn.InstanceNorm1d):
                module.norm = torch.nn.Identity()
        base = torch.zeros(1, 12, 2001)
        poked = base.clone()
        poked[0, 0, 1000] = 1.0
        with torch.no_grad():
            changed = (gen(poked) != gen(base)).any(dim=1)[0]
        where = torch.nonzero(changed).flatten()
        return int(max(1000 - where.min(), where.max() - 1000))

    # plain blocks: input conv + 4 x (gated + conv) + output conv, radius 2 each = 20;
    # dilations 1, 2, 4, 8 in the gated convs add 2 x (0 + 1 + 3 + 7) = 22 more
    assert reach(1) == 20
    assert reach(2) == 42


def _delayed_noise(delays: list[int], length: int, seed: int) -> torch.Tensor:
    """White noise arriving at mic m ``delays[m]`` samples late: ``(C, T)``."""
    noise = torch.randn(length + 16, generator=torch.Generator().manual_seed(seed))
    return torch.stack([noise[8 - d: 8 - d + length] for d in delays])


def test_spatial_discriminator_features_tell_one_direction_from_two():
    disc = SpatialDiscriminator(12, hidden=8, n_layers=3, n_fft=64, hop_length=16)
    here, there = [0, 1, 2, 1, 0, -1], [0, -2, -3, -1, 2, 3]
    one_dir = torch.cat([_delayed_noise(here, 4000, 1), _delayed_noise(here, 4000, 2)])[None]
    two_dir = torch.cat([_delayed_noise(here, 4000, 1), _delayed_noise(there, 4000, 2)])[None]
    feats = disc.features(one_dir)
    assert feats.shape == (1, 6 * 5, 33)
    match_real = slice(20, 25)
    # coherent sources from one direction: Phi_1 Phi_2^* = 1 + 0j at every frequency
    # (all bins but DC and Nyquist, where a Hann-windowed delay is not a pure phase)
    torch.testing.assert_close(feats[0, match_real, 1:-1],
                               torch.ones(5, 31), atol=0.1, rtol=0)
    assert disc.features(two_dir)[0, match_real, 1:-1].mean() < 0.2
    # |Phi| <= 1 for any input, scores per frequency patch
    rand = torch.randn(2, 12, 999)
    assert disc.features(rand).abs().max() <= 1.0 + 1e-5
    assert disc(rand).shape[:2] == (2, 1) and torch.isfinite(disc(rand)).all()


def test_xcorr_discriminator_peaks_at_each_sources_delays():
    disc = XCorrDiscriminator(12, hidden=8, n_layers=3, max_lag=4.0, lag_step=0.5)
    here, there = [0, 1, 2, 1, 0, -1], [0, -2, -3, -1, 2, 3]
    pair = torch.cat([_delayed_noise(here, 4000, 1), _delayed_noise(there, 4000, 2)])[None]
    feats = disc.features(pair)
    lags = torch.arange(-4.0, 4.25, 0.5)
    assert feats.shape == (1, 3 * 5, len(lags))
    assert lags[feats[0, :5].argmax(-1)].tolist() == here[1:]
    assert lags[feats[0, 5:10].argmax(-1)].tolist() == there[1:]
    torch.testing.assert_close(feats[0, 10:], feats[0, :5] * feats[0, 5:10])
    rand = torch.randn(2, 12, 999)
    assert disc.features(rand).abs().max() <= 1.0 + 1e-5
    assert disc(rand).shape[:2] == (2, 1) and torch.isfinite(disc(rand)).all()


def test_one_training_step_changes_generator_and_discriminators(data_dir):
    config = FSConfig.from_dict({**TINY, "num_examples": 0})
    trainer = FSTrainer(config, data_dir, data_dir.parent / "unused", progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    x = torch.randn(2, 12, 800) * 0.05
    y = torch.randn(2, 12, 800) * 0.05
    stats = trainer.train_step(x, y)
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "gen_xy.output.weight" in changed and "gen_yx.output.weight" in changed
    assert any(k.startswith("disc_x.") for k in changed)
    assert any(k.startswith("disc_y.") for k in changed)
    assert stats["adv_g"] > 0 and stats["loss_d"] > 0 and stats["cycle"] == 0.0
    assert not torch.allclose(trainer.model.gen_xy(x), x)  # G left the identity
    assert trainer.step == 1


def test_tiny_run_writes_checkpoint_logs_and_examples(trained):
    assert (trained / "checkpoints" / "epoch001.pth").is_file()
    assert (trained / "model.pth").is_file()
    rows = _csv_rows(trained / "losses.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(np.isfinite(float(r["loss_g"])) for r in rows)
    log = (trained / "train.log").read_text()
    assert "domain X (both): 4 pairs, domain Y (hard): 2 pairs" in log
    examples = trained / "examples"
    assert (examples / "both000_arrival.png").stat().st_size > 1000
    orig, fs = sf.read(examples / "both000_spk1_orig.wav")
    new, _ = sf.read(examples / "both000_spk1_fs.wav")
    assert fs == 8000 and orig.shape == new.shape == (4000, 6)
    assert not any(p.name.endswith(".tmp") for p in trained.rglob("*"))


def test_resume_continues_from_the_checkpoint(trained, data_dir, tmp_path):
    out = tmp_path / "fs"
    shutil.copytree(trained, out)
    rc = fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(out), "--resume",
                        "--max_epochs", "2", "--no_progress"])
    assert rc == 0
    ckpt = torch.load(out / "checkpoints" / "epoch002.pth", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 6
    first = torch.load(out / "checkpoints" / "epoch001.pth", weights_only=True)
    assert not torch.equal(first["model"]["gen_xy.output.weight"],
                           ckpt["model"]["gen_xy.output.weight"])
    assert [int(r["step"]) for r in _csv_rows(out / "losses.csv")] == [1, 2, 3, 4, 5, 6]
    assert "resumed from" in (out / "train.log").read_text()


def test_resume_refuses_a_different_channel_count(trained, data_dir, tmp_path, capsys):
    out = tmp_path / "fs"
    shutil.copytree(trained, out)
    rc = fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(out), "--resume",
                        "--channels", "4", "--no_progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "channels=4" in err and "epoch001.pth" in err


def test_training_on_data_with_other_channel_count_is_refused(data_dir, tiny_config, tmp_path,
                                                              capsys):
    rc = fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(tmp_path / "fs"),
                        "--config", str(tiny_config), "--channels", "4", "--no_progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "spk1_mc.scp" in err and "has 6 channels, expected 4" in err


def test_divergence_stops_and_keeps_the_last_good_checkpoint(trained, data_dir, tmp_path,
                                                             capsys):
    out = tmp_path / "fs"
    shutil.copytree(trained, out)
    good = (out / "checkpoints" / "epoch001.pth").read_bytes()
    model = (out / "model.pth").read_bytes()
    # An absurd learning rate blows the weights up: the next losses are inf/NaN.
    rc = fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(out), "--resume",
                        "--max_epochs", "3", "--lr_g", "1e30", "--no_progress"])
    assert rc == 3
    err = capsys.readouterr().err
    assert "FS training diverged" in err and "epoch001.pth" in err
    assert (out / "checkpoints" / "epoch001.pth").read_bytes() == good
    assert (out / "model.pth").read_bytes() == model
    assert not (out / "checkpoints" / "epoch002.pth").exists()
    assert "FS training diverged" in (out / "train.log").read_text()
    # the rows of the diverged epoch are dropped when resuming (with a sane rate) again
    assert [int(r["step"]) for r in _csv_rows(out / "losses.csv")] == [1, 2, 3, 4]
    assert fs_train.main(["--train_dir", str(data_dir), "--out_dir", str(out), "--resume",
                          "--max_epochs", "2", "--lr_g", "2e-4", "--no_progress"]) == 0
    assert [int(r["step"]) for r in _csv_rows(out / "losses.csv")] == [1, 2, 3, 4, 5, 6]


def test_fs_apply_writes_the_data_dir_contract(trained, data_dir, tmp_path):
    out = tmp_path / "train_fs"
    rc = fs_apply.main(["--model", str(trained / "model.pth"), "--in_dir", str(data_dir),
                        "--out_dir", str(out), "--categories", "both", "--no_progress"])
    assert rc == 0
    utts = [f"both{i:03d}_fs" for i in range(4)]
    for name in ("wav.scp", "spk1_mc.scp", "spk2_mc.scp", "spk1.scp", "spk2.scp",
                 "utt2category", "utt2angle"):
        assert sorted(read_table(out / name)) == utts, name
    assert set(read_table(out / "utt2category").values()) == {"fs"}
    angles = read_table(data_dir / "utt2angle")
    assert read_table(out / "utt2angle")["both001_fs"] == angles["both001"]
    tables = {n: read_table(out / f"{n}.scp")
              for n in ("wav", "spk1_mc", "spk2_mc", "spk1", "spk2")}
    src = read_table(data_dir / "spk1_mc.scp")
    for utt in utts:
        audio = {n: sf.read(t[utt], dtype="float32")[0] for n, t in tables.items()}
        assert audio["spk1_mc"].shape == (sf.info(src[utt.removesuffix("_fs")]).frames, 6)
        assert audio["wav"].shape == audio["spk1_mc"].shape == audio["spk2_mc"].shape
        np.testing.assert_allclose(audio["wav"], audio["spk1_mc"] + audio["spk2_mc"], atol=1e-6)
        np.testing.assert_array_equal(audio["spk1"], audio["spk1_mc"][:, 0])
        np.testing.assert_array_equal(audio["spk2"], audio["spk2_mc"][:, 0])
        assert Path(tables["wav"][utt]).is_absolute()
    assert not list(tmp_path.glob(".*tmp"))
    meta = (out / "meta.jsonl").read_text().splitlines()
    assert len(meta) == 4 and '"source_utt": "both000"' in meta[0]
    # its category "fs" is a valid one, so the recipe can score separators on the output
    # (the fixture has no utt2spk/spk2utt, hence other complaints)
    errors = validate(out, expected_fs=8000, expected_channels=6)
    assert errors and not [e for e in errors if "utt2category" in e or "meta.jsonl" in e]


def test_fs_apply_separate_wav_dir_keeps_other_files(trained, data_dir, tmp_path):
    wav_dir = tmp_path / "audio"
    wav_dir.mkdir()
    (wav_dir / "keep.txt").write_text("not ours")
    rc = fs_apply.main(["--model", str(trained / "model.pth"), "--in_dir", str(data_dir),
                        "--out_dir", str(tmp_path / "hard_fs"), "--wav_dir", str(wav_dir),
                        "--categories", "hard", "--no_progress"])
    assert rc == 0
    scp = read_table(tmp_path / "hard_fs" / "wav.scp")
    assert sorted(scp) == ["hard000_fs", "hard001_fs"]
    assert all(Path(p).parent == wav_dir and Path(p).is_file() for p in scp.values())
    assert (wav_dir / "keep.txt").read_text() == "not ours"
    assert sorted(p.name for p in wav_dir.iterdir() if p.name.startswith(".")) == []


def test_fs_apply_transforms_like_the_generator(trained, data_dir):
    """The wrapper only adds level normalization: full-length output = G at that level."""
    suppressor = FeatureSuppressor.from_checkpoint(trained / "model.pth")
    ckpt = torch.load(trained / "checkpoints" / "epoch001.pth", weights_only=True)
    gan = WaveCycleGAN(6, TINY["generator_conf"], TINY["discriminator_conf"])
    gan.load_state_dict(ckpt["model"])
    s1 = sf.read(read_table(data_dir / "spk1_mc.scp")["both000"], dtype="float32")[0]
    s2 = sf.read(read_table(data_dir / "spk2_mc.scp")["both000"], dtype="float32")[0]
    out1, out2 = suppressor.transform(s1, s2)
    pair = np.concatenate([s1.T, s2.T])
    gain = 0.05 / np.sqrt(np.mean(pair**2))
    with torch.no_grad():
        ref = gan.gen_xy.eval()(torch.from_numpy(pair * gain)[None])[0].numpy() / gain
    np.testing.assert_allclose(np.concatenate([out1.T, out2.T]), ref, atol=1e-5)
    assert not np.allclose(ref, pair, atol=1e-4)  # one epoch moved G off the identity


def test_fs_apply_errors_name_model_and_data(trained, tmp_path, capsys):
    four = make_pair_dir(tmp_path / "four", {"both": 1}, n_mics=4)
    rc = fs_apply.main(["--model", str(trained / "model.pth"), "--in_dir", str(four),
                        "--out_dir", str(tmp_path / "o"), "--no_progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "model.pth was trained on 6-channel audio" in err and "has 4 channels" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / ".o.tmp").exists()
    rc = fs_apply.main(["--model", str(tmp_path / "none.pth"), "--in_dir", str(four),
                        "--out_dir", str(tmp_path / "o")])
    assert rc == 2
    assert "FS checkpoint" in capsys.readouterr().err
    torch.save({"weights": 1}, tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="not a sepplug FS checkpoint"):
        FeatureSuppressor.from_checkpoint(tmp_path / "foreign.pth")


def test_config_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: 6\nlambda_cycel: 50\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown option\(s\) \['lambda_cycel'\]"):
        FSConfig.from_yaml(bad)


@pytest.mark.parametrize("name", ["fs_cyclegan.yaml", "fs_cyclegan_cpu.yaml",
                                  "fs_cyclegan_cpu_xcorr.yaml"])
def test_recipe_configs_load_and_build(name):
    path = Path(__file__).resolve().parents[1] / "egs" / "spatialvctk" / "conf" / name
    config = FSConfig.from_yaml(path)
    assert config.target_categories == ["hard"] and config.source_categories == ["both"]
    assert (config.lambda_cycle, config.lambda_identity) == (50.0, 45.0)
    gan = WaveCycleGAN(config.channels, config.generator_conf, config.discriminator_conf)
    x = torch.randn(1, 2 * config.channels, 1201) * 0.05
    assert gan.gen_xy(x).shape == x.shape
    assert all(s.shape[:2] == (1, 1) for s in gan.disc_y(x))
