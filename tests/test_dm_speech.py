"""Dynamic-mixing data (sepplug.recipes.hard_mining.make_data) and the on-the-fly mixing check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from sepplug.bin import check_dynamic_mixing
from sepplug.datadir.kaldi_dir import read_meta, read_table
from sepplug.datadir.validate import validate
from sepplug.errors import DataError
from sepplug.recipes.hard_mining import make_data as dm_speech
from sepplug.recipes.hard_mining.make_data import (
    DMOptions,
    fit_gain,
    generate_dm_data,
    read_mixture_table,
)
from tests.data_fixtures import write_toy_corpus

FS = 8000
OPTIONS = DMOptions(fs=FS, segment=1.0, min_train_seconds=2.0, seed=3)
SIZES = {"n_dev": 3, "n_test": 5}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """8 noise-burst speakers x 3 utterances of 1.5 s (splits 4/2/2) -> train/dev/test."""
    root = tmp_path_factory.mktemp("dm")
    corpus = write_toy_corpus(root / "corpus", speakers=8, utts=3)
    generate_dm_data(corpus, root / "data", root / "wav", options=OPTIONS, **SIZES)
    return root


def read(path: str) -> np.ndarray:
    return sf.read(path, dtype="int16")[0].astype(np.int32)


def test_sets_validate_sum_exactly_and_name_speakers(toy):
    splits = {s: set((toy / "data" / "splits" / f"{s}.spk").read_text().split())
              for s in ("train", "dev", "test")}
    assert not splits["train"] & (splits["dev"] | splits["test"])
    for name, size in (("train", 4 * 3), ("dev", 3), ("test", 5)):
        data = toy / "data" / name
        assert validate(data, FS, 1) == [], name
        scps = {k: read_table(data / f"{k}.scp") for k in ("wav", "spk1", "spk2")}
        rows = read_mixture_table(data / "mixtures.tsv")
        meta = read_meta(data / "meta.jsonl")
        assert [r["utt"] for r in rows] == list(scps["wav"]) == list(meta)
        assert len(rows) == size
        for row in rows:
            key = row["utt"]
            mix, s1, s2 = (read(scps[k][key]) for k in ("wav", "spk1", "spk2"))
            np.testing.assert_array_equal(mix, s1 + s2)
            assert s1.any() and s2.any() and np.abs(mix).max() < 32767
            assert row["spk1"] != row["spk2"]
            assert {row["spk1"], row["spk2"]} <= splits[name]
            assert float(row["sir_db"]) == pytest.approx(dm_speech.sir_db(s1, s2), abs=1e-3)
            assert meta[key]["speakers"] == [row["spk1"], row["spk2"]]


def test_train_is_a_dm_source_set(toy):
    data = toy / "data" / "train"
    utt2spk = read_table(data / "utt2spk")
    rows = {r["utt"]: r for r in read_mixture_table(data / "mixtures.tsv")}
    assert set(utt2spk.values()) == set((toy / "data/splits/train.spk").read_text().split())
    for utt, spk in utt2spk.items():
        assert utt.startswith(spk) and rows[utt]["spk1"] == spk and rows[utt]["utt1"] == utt
    for path in read_table(data / "spk1.scp").values():
        audio, fs = sf.read(path, dtype="float64")
        # 1.5 s utterances zero-padded to --min_train_seconds, levelled like the corpus
        assert fs == FS and audio.shape == (int(OPTIONS.min_train_seconds * FS),)
        rms_db = 20 * np.log10(np.sqrt(np.sum(audio**2) / (1.5 * FS)))
        assert rms_db <= -23.9 and np.abs(audio).max() <= 0.951
    speakers = read_table(data / "spk2utt")
    assert sorted(speakers) == sorted(set(utt2spk.values()))


def test_espnet_dynamic_mixing_reads_the_train_set(toy):
    """The layout ESPnet's preprocessor needs: sources = spk1.scp, speakers = utt2spk."""
    import random

    from espnet2.train.preprocessor import DynamicMixingPreprocessor

    data = toy / "data" / "train"
    pre = DynamicMixingPreprocessor(train=True, source_scp=str(data / "spk1.scp"),
                                    utt2spk=str(data / "utt2spk"))
    utt2spk = read_table(data / "utt2spk")
    random.seed(0)
    for uid in list(utt2spk)[:6]:
        partner = pre._pick_source_utterances_(uid)[0]
        assert utt2spk[partner] != utt2spk[uid]


def test_fit_gain_prevents_clipping():
    rng = np.random.default_rng(0)
    anchor = np.clip(rng.standard_normal(1000) * 0.3, -0.95, 0.95)
    partner = rng.standard_normal(1000) * 0.5
    scale = fit_gain(anchor, partner)
    assert 0 < scale < 1
    assert np.abs(anchor + scale * partner).max() == pytest.approx(dm_speech.CLIP_LIMIT)
    assert fit_gain(anchor * 0.1, partner * 0.01) == 1.0


def test_rerun_is_noop_deterministic_and_refuses_other_options(toy, tmp_path):
    stamp = (toy / "data" / "test" / "wav.scp").stat().st_mtime_ns
    generate_dm_data(toy / "corpus", toy / "data", toy / "wav", options=OPTIONS, **SIZES)
    assert (toy / "data" / "test" / "wav.scp").stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="other options"):
        generate_dm_data(toy / "corpus", toy / "data", toy / "wav",
                         options=DMOptions(fs=FS, segment=1.0, seed=4), **SIZES)
    again = generate_dm_data(toy / "corpus", tmp_path / "data", tmp_path / "wav",
                             options=OPTIONS, n_dev=0, n_test=5)
    assert not (again / "dev").exists()
    for name in ("train", "test"):
        assert ((again / name / "mixtures.tsv").read_bytes()
                == (toy / "data" / name / "mixtures.tsv").read_bytes())
        for key, path in read_table(again / name / "wav.scp").items():
            original = read_table(toy / "data" / name / "wav.scp")[key]
            assert Path(path).read_bytes() == Path(original).read_bytes()


@pytest.mark.parametrize("kwargs, message", [
    ({"n_test": -1}, "--n_test"),
    ({"options": DMOptions(min_train_seconds=0)}, "--min_train_seconds"),
    ({"options": DMOptions(peak=1.5)}, "--peak"),
])
def test_bad_options_fail_before_writing(toy, tmp_path, kwargs, message):
    with pytest.raises(DataError, match=message):
        generate_dm_data(toy / "corpus", tmp_path / "data", tmp_path / "wav", **kwargs)
    assert not (tmp_path / "data").exists()


def test_too_few_speakers_fails_before_writing(tmp_path):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=8, utts=2)
    with pytest.raises(DataError, match="split has 1 speaker"):
        generate_dm_data(corpus, tmp_path / "data", tmp_path / "wav", num_dev_speakers=1,
                         num_test_speakers=2, options=OPTIONS)
    assert not (tmp_path / "data").exists() and not (tmp_path / "wav").exists()


def test_cli_writes_sets_and_reports_bad_corpus(tmp_path, toy):
    assert dm_speech.main(["--corpus_dir", str(tmp_path / "none"),
                           "--out_dir", str(tmp_path / "x")]) == 1
    assert dm_speech.main(["--corpus_dir", str(toy / "corpus"), "--out_dir", str(tmp_path / "d"),
                           "--wav_dir", str(tmp_path / "w"), "--segment", "1.0",
                           "--min_train_seconds", "2.0", "--seed", "3",
                           "--n_dev", "3", "--n_test", "5"]) == 0
    assert ((tmp_path / "d" / "dev" / "mixtures.tsv").read_bytes()
            == (toy / "data" / "dev" / "mixtures.tsv").read_bytes())


# ---- sepplug.bin.check_dynamic_mixing --------------------------------------------------------


def _config(data: Path, **changes) -> dict:
    train = data / "train"
    config = {
        "preprocessor": "dynamic_mixing",
        "preprocessor_conf": {"source_scp_name": "spk1.scp", "ref_num": 2},
        "separator_conf": {"num_spk": 2},
        "train_data_path_and_name_and_type": [
            [str(train / "wav.scp"), "speech_mix", "sound"],
            [str(train / "spk1.scp"), "speech_ref1", "sound"],
            [str(train / "spk2.scp"), "speech_ref2", "sound"]],
        "utt2spk": str(train / "utt2spk"), "seed": 0,
    }
    config.update(changes)
    return config


def test_check_dynamic_mixing_passes_with_utt2spk(toy, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(toy / "data")))
    out = tmp_path / "report.json"
    assert check_dynamic_mixing.main(["--config", str(path), "--examples", "6",
                                      "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["problems"] == [] and set(report["epochs"]) == {"1", "2"}
    for rows in report["epochs"].values():
        for row in rows.values():
            assert len(row["partners"]) == 1 and row["partner_speakers"][0] != row["speaker"]


@pytest.mark.parametrize("changes, problem", [
    ({"utt2spk": None}, "no utt2spk"),
    ({"preprocessor": None}, "does not mix on the fly"),
])
def test_check_dynamic_mixing_fails_without_dm(toy, changes, problem):
    report = check_dynamic_mixing.check(_config(toy / "data", **changes), examples=4)
    assert any(problem in p for p in report["problems"])


def test_dm_preprocessor_outside_training_passes_inference_data(toy):
    """enh_inference rebuilds the preprocessor (train=False) for data of speech_mix only."""
    import argparse

    from sepplug.tasks.enh import SepplugEnhancementTask

    args = argparse.Namespace(**_config(toy / "data"))
    data = {"speech_mix": np.full(800, 0.1, dtype=np.float32)}
    assert SepplugEnhancementTask.build_preprocess_fn(args, train=False)("u", data) is data
    with pytest.raises(KeyError):  # training still demands the mixing source
        SepplugEnhancementTask.build_preprocess_fn(args, train=True)("u", dict(data))
