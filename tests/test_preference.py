"""``sepplug preference``: SI-SDRi on easy / hard / both / FS(both), spatial reliance, the
paired gap to a timbre model. Tiny real ESPnet models (``tf_dualpath`` on 4 mics, stock
``rnn`` on the reference mic), 0.25 s mixtures, one torch thread."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sepplug.augment.fs_apply import GENERATOR_KIND
from sepplug.augment.wave_cyclegan import build_generator
from sepplug.bin import preference
from sepplug.results.summary import read_summary, table_number

from .test_select import RNN_YAML, STFT, make_exp, write_wavs
from .test_spatial_metrics import make_pair_dir

torch.set_num_threads(1)

MICS = 4


def mc_yaml(num_mics: int) -> str:
    return f"""
encoder: stft
encoder_conf: {STFT}
decoder: stft
decoder_conf: {STFT}
separator: tf_dualpath
separator_conf: {{num_spk: 2, num_mics: {num_mics}, hidden_dim: 8, num_blocks: 1}}
criterions:
  - {{name: si_snr, conf: {{eps: 1.0e-7}}, wrapper: pit, wrapper_conf: {{weight: 1.0}}}}
best_model_criterion: [[valid, loss, min]]
"""


def make_fs_model(path: Path, n_mics: int) -> Path:
    """A ``model.pth`` as ``sepplug.bin.fs_train`` saves it (untrained tiny generator)."""
    conf = {"hidden": 8, "kernel_size": 5, "n_blocks": 1}
    torch.manual_seed(0)
    generator = build_generator(2 * n_mics, conf)
    torch.nn.init.normal_(generator.output.weight, std=0.2)  # not the identity of a new G
    path.mkdir(parents=True)
    torch.save({"kind": GENERATOR_KIND, "channels": n_mics, "sample_rate": 8000,
                "target_rms": 0.05, "epoch": 1, "generator_conf": conf,
                "state_dict": generator.state_dict()}, path / "model.pth")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("preference")
    data = root / "data"
    for seed, cat in enumerate(("easy", "hard", "both")):
        make_pair_dir(data / f"test_{cat}", {cat: 2}, seconds=0.25, n_mics=MICS, seed=seed)
    mono = write_wavs(root / "train_1ch", 8000, n=1)
    return {
        "root": root, "data": data,
        "mc": make_exp(root / "exp" / "enh_mc", mc_yaml(MICS), data / "test_both" / "wav.scp"),
        "ref": make_exp(root / "exp" / "enh_ref", RNN_YAML, mono / "wav.scp", seed=1),
        "fs": make_fs_model(root / "exp" / "fs_steer", MICS),
    }


def read_rows(path: Path) -> list[dict]:
    header, *lines = [line.split("\t") for line in path.read_text().splitlines()]
    return [{h: (v if h in ("model", "subset", "utt") else float(v))
             for h, v in zip(header, line, strict=True)} for line in lines]


def test_report_is_consistent_and_caches_fs(setup, tmp_path):
    from sepplug.cli import main as cli_main

    out = tmp_path / "pref"
    argv = ["preference", "--model", str(setup["mc"]), "--data_dir", str(setup["data"]),
            "--fs_model", str(setup["fs"]), "--timbre_model", str(setup["ref"]),
            "--out_dir", str(out)]
    assert cli_main(argv) == 0
    per_utt = read_rows(out / "per_utt.tsv")
    sets = ("test_easy", "test_hard", "test_both", "test_both_fs")
    assert {(r["model"], r["subset"]) for r in per_utt} == {(m, s) for m in ("mc", "ref")
                                                            for s in sets}
    assert sorted(r["utt"] for r in per_utt if r["subset"] == "test_both_fs") == [
        "both000_fs", "both000_fs", "both001_fs", "both001_fs"]
    for r in per_utt:
        assert r["si_sdri"] == pytest.approx(r["si_sdr"] - r["si_sdr_mix"], abs=2e-4)

    def scores(model, subset):
        return {r["utt"].removesuffix("_fs"): r["si_sdri"] for r in per_utt
                if r["model"] == model and r["subset"] == subset}

    summary = {(r.model, r.subset, r.metric): r for r in read_summary(out / "summary.tsv")}
    for model in ("mc", "ref"):
        for s in sets:
            row = summary[(model, s, "si_sdri")]
            assert row.n == 2 and row.family == "unknown"
            assert row.mean == pytest.approx(np.mean(list(scores(model, s).values())), abs=1e-4)
        fs, both = scores(model, "test_both_fs"), scores(model, "test_both")
        assert sorted(fs) == sorted(both) and fs != both  # the FS model changed the audio
        share = np.mean([fs[u] for u in both]) / np.mean(list(both.values()))
        assert summary[(model, "test_both_fs", "fs_retained_share")].mean == pytest.approx(
            share, abs=1e-3)
        assert summary[(model, "test_both_fs", "spatial_reliance")].mean == pytest.approx(
            1 - share, abs=1e-3)
    for s in sets:
        gap = [scores("mc", s)[u] - scores("ref", s)[u] for u in scores("mc", s)]
        row = summary[("mc", s, "si_sdri_gap")]
        assert row.n == 2 and row.mean == pytest.approx(np.mean(gap), abs=1e-4)
        assert row.stderr == pytest.approx(np.std(gap, ddof=1) / np.sqrt(2), abs=1e-4)

    md = (out / "preference.md").read_text()
    assert "input channels **all** (auto: separator_conf.num_mics = 4)" in md
    assert "input channels **ref** (auto: its training mixtures" in md
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 + 2  # header, rule, four subsets, two FS shares
    cells = table[2 + 1].split("|")  # hard
    hard = [summary[(m, "test_hard", k)] for m, k in (("mc", "si_sdri"), ("ref", "si_sdri"),
                                                      ("mc", "si_sdri_gap"))]
    assert cells[1:3] == ["hard", "2"]
    for cell, row in zip(cells[3:6], hard, strict=True):
        assert cell == f"{table_number(row.mean)} ± {table_number(row.stderr)}"
    assert (out / "preference.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]

    # the reference-mic model really got mic 0: its score of one utterance, recomputed
    from espnet2.bin.enh_inference import SeparateSpeech

    from sepplug.augment.audio_io import read_audio
    from sepplug.utils.scoring import score_utterance

    sep = SeparateSpeech(setup["ref"] / "config.yaml", setup["ref"] / "valid.loss.best.pth")
    d = setup["data"] / "test_hard"
    mix = read_audio(str(d / "wav" / "hard000_wav.wav"))[0][:, 0]
    refs = np.stack([read_audio(str(d / "wav" / f"hard000_spk{k}_mc.wav"))[0][:, 0]
                     for k in (1, 2)])
    ests = np.stack([w[0] for w in sep(mix[None], fs=8000)])
    assert scores("ref", "test_hard")["hard000"] == pytest.approx(
        score_utterance(refs, ests, mix)["si_sdri"], abs=1e-3)

    # a rerun reuses the FS cache; --max_utts changes the utterances, so it is redone
    stamp = out / "test_both_fs" / "made_from.json"
    before = stamp.stat().st_mtime_ns
    assert cli_main(argv) == 0
    assert stamp.stat().st_mtime_ns == before
    assert cli_main([*argv, "--max_utts", "1"]) == 0
    assert stamp.stat().st_mtime_ns != before
    assert {r.n for r in read_summary(out / "summary.tsv")} == {1}


def _fails(capsys, out: Path, *argv: str) -> str:
    assert preference.main([*argv, "--out_dir", str(out)]) == 1
    assert not out.exists()
    return capsys.readouterr().err


def test_bad_inputs_name_the_file_and_write_nothing(setup, tmp_path, capsys):
    out, data = tmp_path / "out", str(setup["data"])
    err = _fails(capsys, out, "--model", str(tmp_path / "enh_none"), "--data_dir", data)
    assert f"{tmp_path / 'enh_none'}: model dir not found" in err

    no_ckpt = tmp_path / "enh_nockpt"
    shutil.copytree(setup["mc"], no_ckpt)
    (no_ckpt / "valid.loss.best.pth").unlink()
    err = _fails(capsys, out, "--model", str(no_ckpt), "--data_dir", data)
    assert f"checkpoint of {no_ckpt} missing" in err

    partial = tmp_path / "partial"
    for s in ("test_easy", "test_both"):
        shutil.copytree(setup["data"] / s, partial / s)
    err = _fails(capsys, out, "--model", str(setup["mc"]), "--data_dir", str(partial))
    assert f"{partial / 'test_hard'}: missing test set" in err

    fs6 = make_fs_model(tmp_path / "fs6", 6)
    err = _fails(capsys, out, "--model", str(setup["mc"]), "--data_dir", data,
                 "--fs_model", str(fs6))
    assert f"{fs6 / 'model.pth'} was trained on 6-channel audio" in err
    assert f"{setup['data'] / 'test_easy' / 'wav.scp'} ('easy000') has 4 channels" in err

    mc6 = make_exp(tmp_path / "enh_mc6", mc_yaml(6), setup["data"] / "test_both" / "wav.scp")
    err = _fails(capsys, out, "--model", str(mc6), "--data_dir", data)
    assert f"model {mc6} takes 6-channel input (separator_conf.num_mics = 6) but gets 4" in err
    err = _fails(capsys, out, "--model", str(setup["mc"]), "--data_dir", data,
                 "--input_channels", "ref")
    assert "takes 4-channel input (separator_conf.num_mics = 4) but gets 1" in err
