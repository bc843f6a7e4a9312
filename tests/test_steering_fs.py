"""The re-steering FS generator, the SRP discriminator and the FS checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sepplug.augment.fs_apply import FeatureSuppressor
from sepplug.augment.fs_trainer import FSConfig
from sepplug.augment.spatial_metrics import ArrayGeometry, estimate_doa
from sepplug.augment.srp_discriminator import SRPDiscriminator
from sepplug.augment.steering_generator import SteeringGenerator
from sepplug.augment.wave_cyclegan import WaveCycleGAN, build_generator
from sepplug.bin import fs_apply, fs_train
from sepplug.recipes.spatialvctk import fs_check
from sepplug.recipes.spatialvctk.fs_checks import align, drop_rows, log_spectral_distance
from sepplug.results.summary import read_summary
from tests.test_spatial_metrics import make_pair_dir

torch.set_num_threads(1)
FS = 8000
GEOMETRY = ArrayGeometry.circular(6, 0.0725)
MIC_XY = GEOMETRY.mic_xy.tolist()


def plane_wave(azimuth_deg: float, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """White noise arriving from ``azimuth_deg`` at the 6 mics, far field: ``(6, T)``."""
    rng = np.random.default_rng(seed)
    source = torch.from_numpy(rng.standard_normal(int(seconds * FS))).float() * 0.05
    gen = SteeringGenerator(12, MIC_XY, FS)
    delays = gen.arrival(torch.tensor(math.radians(azimuth_deg))) + 4.0
    return SteeringGenerator.delay(source.expand(6, -1), delays)


def pair(az1: float, az2: float) -> torch.Tensor:
    return torch.cat([plane_wave(az1, seed=1), plane_wave(az2, seed=2)])[None]  # (1, 12, T)


def set_offset(gen: SteeringGenerator, degrees: float) -> None:
    """Make G move every source by ``degrees`` (the MLP's output bias; weights zero)."""
    with torch.no_grad():
        rad = math.radians(degrees)
        gen.direction[-1].bias.copy_(torch.tensor([math.cos(rad), math.sin(rad)]))


def test_delay_by_whole_samples_is_a_shift():
    x = torch.randn(2, 64)
    y = SteeringGenerator.delay(x, torch.tensor([3.0, -2.0]))
    assert torch.allclose(y[0, 3:], x[0, :-3], atol=1e-5)
    assert torch.allclose(y[1, :-2], x[1, 2:], atol=1e-5)


def test_generator_starts_as_the_identity():
    gen = SteeringGenerator(12, MIC_XY, FS)
    x = pair(30.0, 200.0)
    assert torch.allclose(gen(x), x, atol=1e-5)


def test_generator_re_steers_each_source_and_never_touches_mic_0():
    gen = SteeringGenerator(12, MIC_XY, FS)
    set_offset(gen, 50.0)
    x = pair(30.0, 200.0)
    y = gen(x).detach()[0].numpy()
    assert estimate_doa(y[:6], FS, GEOMETRY) == pytest.approx(80.0, abs=1.5)
    assert estimate_doa(y[6:], FS, GEOMETRY) == pytest.approx(250.0, abs=1.5)
    assert np.allclose(y[[0, 6]], x[0, [0, 6]].numpy(), atol=1e-5)


def test_no_audio_passes_between_the_sources():
    gen = SteeringGenerator(12, MIC_XY, FS)
    set_offset(gen, 40.0)
    x = pair(10.0, 120.0).requires_grad_(True)
    gen(x)[:, 6:].square().sum().backward()
    assert x.grad[:, :6].abs().max() == 0.0
    assert x.grad[:, 6:].abs().max() > 0.0


def test_generator_can_move_source_1_onto_source_2_from_any_angle():
    """A rule no role-blind continuous map can learn (it must jump where the sources are
    180° apart): source 1's move is (cos D, sin D), built from the MLP's input
    (cos D, sin D, role) through two near-linear tanh layers."""
    gen = SteeringGenerator(12, MIC_XY, FS, hidden=3)
    k = 0.01
    with torch.no_grad():  # hidden ~= k * [cos D, sin D, role]
        gen.direction[0].weight.copy_(k * torch.eye(3))
        gen.direction[0].bias.zero_()
        gen.direction[2].weight.copy_(torch.eye(3))
        gen.direction[2].bias.zero_()
        # role +1: (0.5 cos D, 0.5 sin D); role -1: (0.5 cos D + 1, 0.5 sin D), a small move
        gen.direction[-1].weight.copy_(torch.tensor([[0.5 / k, 0.0, -0.5 / k],
                                                     [0.0, 0.5 / k, 0.0]]))
        gen.direction[-1].bias.copy_(torch.tensor([0.5, 0.0]))
    for az1, az2 in ((10.0, 100.0), (10.0, 185.0), (10.0, 195.0), (300.0, 125.0)):
        y = gen(pair(az1, az2)).detach()[0].numpy()
        assert estimate_doa(y[:6], FS, GEOMETRY) == pytest.approx(az2, abs=2.0)


def test_build_generator_knows_both_types():
    assert isinstance(build_generator(12, {"type": "steering", "mic_xy": MIC_XY,
                                           "sample_rate": FS}), SteeringGenerator)
    with pytest.raises(ValueError, match="generator_conf.type"):
        build_generator(12, {"type": "nope"})


def test_srp_discriminator_profile_peaks_at_the_angle_between_the_sources():
    disc = SRPDiscriminator(12, FS, MIC_XY)
    profile = disc.offset_profile(pair(20.0, 110.0))[0]
    assert int(profile.argmax()) * 5 == pytest.approx(90, abs=5)
    rotated = disc.offset_profile(pair(140.0, 230.0))[0]
    swapped = disc.offset_profile(pair(110.0, 20.0))[0]
    assert int(rotated.argmax()) == int(profile.argmax())
    assert int(swapped.argmax()) == int(profile.argmax())
    assert disc(pair(20.0, 110.0)).shape == (1, 1, 1)


def test_lsd_and_alignment():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    assert log_spectral_distance(x, x) == 0.0
    assert log_spectral_distance(x, 0.5 * x) == pytest.approx(6.02, abs=0.01)
    a, b = align(x[10:], x, max_lag=40)
    assert np.allclose(a, b)


def test_drop_rows_pair_the_scores():
    rows = drop_rows("m", "test_both", "spatial_only", np.array([4.0, 6.0]), np.array([1.0, 1.0]))
    assert [r.metric for r in rows] == ["spatial_only_drop_db", "spatial_only_drop_share"]
    assert rows[0].mean == pytest.approx(4.0) and rows[1].mean == pytest.approx(0.8)


STEER = {
    "channels": 6, "segment": 0.5, "batch_size": 2, "max_epochs": 1, "steps_per_epoch": 2,
    "generator_conf": {"type": "steering", "hidden": 8, "n_fft": 256},
    "discriminator_conf": {"kinds": ["srp"], "srp_conf": {"n_azimuths": 36, "hidden": 8}},
    "num_examples": 0, "tensorboard": False,
}


def test_steering_cyclegan_trains_applies_and_checks(tmp_path):
    data = make_pair_dir(tmp_path / "train", {"both": 4, "hard": 2})
    test = make_pair_dir(tmp_path / "test_both", {"both": 3}, seed=1)
    conf = tmp_path / "steer.yaml"
    conf.write_text(yaml.safe_dump(STEER))
    out = tmp_path / "fs"
    valid = make_pair_dir(tmp_path / "dev", {"both": 2, "hard": 1}, seed=2)
    assert fs_train.main(["--train_dir", str(data), "--out_dir", str(out), "--config",
                          str(conf), "--no_progress", "--valid_dir", str(valid),
                          "--max_epochs", "2"]) == 0
    valid_rows = (out / "valid.csv").read_text().splitlines()
    assert valid_rows[0] == "epoch,share_below_20,median_angle" and len(valid_rows) == 3
    best = max(range(2), key=lambda i: float(valid_rows[1 + i].split(",")[1]))  # first best
    assert torch.load(out / "model.pth", weights_only=True)["epoch"] == best + 1
    stored = FSConfig.from_yaml(out / "config.yaml")
    assert stored.generator_conf["sample_rate"] == FS
    assert np.allclose(stored.generator_conf["mic_xy"], MIC_XY)
    assert stored.discriminator_conf["srp_conf"]["sample_rate"] == FS
    suppressor = FeatureSuppressor.from_checkpoint(out / "model.pth")
    assert isinstance(suppressor.generator, SteeringGenerator)
    fs_dir = tmp_path / "test_both_fs"
    assert fs_apply.main(["--model", str(out / "model.pth"), "--in_dir", str(test),
                          "--out_dir", str(fs_dir), "--categories", "both",
                          "--no_progress"]) == 0
    rows_path = out / "fs_check.tsv"
    assert fs_check.main(["--orig", str(test), "--transformed", str(fs_dir), "--model", "fs",
                          "--n_room", "0", "--out", str(rows_path),
                          "--table", str(out / "fs_check.md"), "--arrival_png",
                          str(out / "arrival.png"), "--n_arrival", "2"]) == 0
    assert (out / "arrival.png").stat().st_size > 0
    rows = {r.metric: r for r in read_summary(rows_path)}
    assert rows["angle_below_20_share_before"].mean == 0.0  # the test pairs are >= 40° apart
    assert rows["leak_corr"].n == 3 and rows["timbre_lsd_db"].mean < 1e-3  # mic 0 is kept
    assert "angle_below_20_share" in (out / "fs_check.md").read_text()


def test_validation_without_pairs_of_its_categories_falls_back(tmp_path, caplog):
    data = make_pair_dir(tmp_path / "train", {"both": 2, "hard": 2})
    valid = make_pair_dir(tmp_path / "dev", {"hard": 1}, seed=2)
    conf = tmp_path / "steer.yaml"
    conf.write_text(yaml.safe_dump({**STEER, "steps_per_epoch": 1}))
    out = tmp_path / "fs"
    assert fs_train.main(["--train_dir", str(data), "--out_dir", str(out), "--config",
                          str(conf), "--no_progress", "--valid_dir", str(valid)]) == 0
    assert not (out / "valid.csv").exists() and (out / "model.pth").is_file()
    assert "no validation pairs" in (out / "train.log").read_text()


def test_fs_check_names_a_missing_separator(tmp_path, capsys):
    test = make_pair_dir(tmp_path / "test_both", {"both": 2})
    rc = fs_check.main(["--orig", str(test), "--transformed", str(test), "--suffix", "",
                        "--model", "fs", "--n_room", "0", "--spatial_tag", "nope",
                        "--expdir", str(tmp_path), "--out", str(tmp_path / "rows.tsv")])
    assert rc == 1
    assert "enh_nope" in capsys.readouterr().err
    assert not (tmp_path / "rows.tsv").exists()


@pytest.mark.parametrize("name", ["fs_steer_cpu.yaml"])
def test_steering_recipe_config_builds(name):
    path = Path(__file__).resolve().parents[1] / "egs" / "spatialvctk" / "conf" / name
    config = FSConfig.from_yaml(path)
    gen_conf = {**config.generator_conf, "mic_xy": MIC_XY, "sample_rate": FS}
    disc_conf = {**config.discriminator_conf,
                 "srp_conf": {**config.discriminator_conf["srp_conf"], "mic_xy": MIC_XY,
                              "sample_rate": FS}}
    gan = WaveCycleGAN(config.channels, gen_conf, disc_conf)
    x = pair(10.0, 100.0)
    assert gan.gen_xy(x).shape == x.shape
    assert [s.shape for s in gan.disc_y(x)] == [(1, 1, 1)]


def test_make_results_adds_the_fs_checks(tmp_path):
    from sepplug.recipes.spatialvctk import make_results
    from sepplug.results.summary import ResultRow, format_summary

    scoring = tmp_path / "enh_m" / "enhanced_test_both" / "scoring"
    scoring.mkdir(parents=True)
    (scoring / "per_utt.tsv").write_text("utt\tsi_sdri\tsi_sdr\tsdri\tsdr\n"
                                         "a\t1.0\t2.0\t3.0\t4.0\nb\t3.0\t4.0\t5.0\t6.0\n")
    (tmp_path / "fs_x").mkdir()
    row = ResultRow("fs_x", "fs_check", "test_both", "angle_below_20_share", 2, 0.5, 0.5)
    (tmp_path / "fs_x" / "fs_check.tsv").write_text(format_summary([row]))
    (tmp_path / "fs_x" / "fs_check.md").write_text("|check|\n|---|\n")
    assert make_results.main(["--expdir", str(tmp_path), "--out", str(tmp_path / "R.md"),
                              "--no_plot"]) == 0
    rows = read_summary(tmp_path / "results" / "summary.tsv")
    assert row in rows and any(r.model == "m" and r.metric == "si_sdri" for r in rows)
    assert "### fs_x" in (tmp_path / "R.md").read_text()


def test_steering_run_resumes_with_its_yaml(tmp_path):
    """The trainer adds the array and the rate to the stored config; --resume with the
    same YAML must still match it."""
    data = make_pair_dir(tmp_path / "train", {"both": 2, "hard": 2})
    conf = tmp_path / "steer.yaml"
    conf.write_text(yaml.safe_dump({**STEER, "steps_per_epoch": 1}))
    out = tmp_path / "fs"
    args = ["--train_dir", str(data), "--out_dir", str(out), "--config", str(conf),
            "--no_progress", "--valid_dir", str(data)]
    assert fs_train.main(args) == 0
    assert fs_train.main([*args, "--resume", "--max_epochs", "2"]) == 0
    assert [r.split(",")[0] for r in (out / "valid.csv").read_text().splitlines()] == \
        ["epoch", "1", "2"]
