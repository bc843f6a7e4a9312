"""The three offline audio domains (speech, music, env) and their 2-source mixture dirs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.datadir.kaldi_dir import read_meta, read_table
from sepplug.datadir.validate import validate
from sepplug.errors import DataError
from sepplug.simulate.domains import environmental, music
from sepplug.simulate.domains.mixtures import DOMAINS, DomainOptions, generate_domains, main
from tests.data_fixtures import small_corpus  # noqa: F401  (fixture)

FS = 8000
OPTIONS = DomainOptions(fs=FS, segment=1.0, seed=5)
SIZES = {"n_train": 4, "n_dev": 2, "n_test": 3}
SPLITS = ("train", "dev", "test")
def _validate(data_dir: Path) -> list[str]:
    return validate(data_dir, expected_fs=FS, expected_channels=1)


@pytest.fixture(scope="module")
def domains_nj1(small_corpus, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("domains") / "nj1"
    return generate_domains(out, DOMAINS, options=OPTIONS, corpus_dir=small_corpus, nj=1,
                            **SIZES)


# ---- the synthesisers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", environmental.CLASSES)
def test_environmental_class_renders(name):
    params = []
    for seed in range(3):
        audio, p = environmental.render(name, np.random.default_rng(seed), FS, 2 * FS)
        assert audio.shape == (2 * FS,)
        assert np.isfinite(audio).all()
        assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{name} seed {seed} is (nearly) silent"
        again, _ = environmental.render(name, np.random.default_rng(seed), FS, 2 * FS)
        np.testing.assert_array_equal(audio, again)
        params.append(json.dumps(p, sort_keys=True))
    assert len(set(params)) == 3, f"{name}: the parameters do not depend on the seed"


def test_environmental_unknown_class():
    with pytest.raises(DataError, match="unknown environmental class 'cat_meow'"):
        environmental.render("cat_meow", np.random.default_rng(0), FS, FS)


def test_music_renders_vocals_and_accompaniment():
    assert music.soundfont_path().name == "TimGM6mb.sf2"
    first = None
    for seed in (0, 1):
        vocals, accompaniment, params = music.render_song(np.random.default_rng(seed), FS, FS)
        assert vocals.shape == accompaniment.shape == (FS,)
        for part in (vocals, accompaniment):
            assert np.isfinite(part).all() and np.sqrt(np.mean(part**2)) > 1e-3
        correlation = np.corrcoef(vocals, accompaniment)[0, 1]
        assert abs(correlation) < 0.5
        assert params["vocal_program"] in music.VOCAL_PROGRAMS
        first = first or (vocals, accompaniment)
    # a pure function of the song, whatever was rendered before
    vocals, accompaniment, _ = music.render_song(np.random.default_rng(0), FS, FS)
    np.testing.assert_array_equal(vocals, first[0])
    np.testing.assert_array_equal(accompaniment, first[1])


# ---- the data dirs ---------------------------------------------------------------------------


def test_data_dirs_valid_and_exact(domains_nj1):
    for domain in DOMAINS:
        for split in SPLITS:
            data_dir = domains_nj1 / domain / split
            assert _validate(data_dir) == [], f"{data_dir} does not validate"
            wavs = {name: read_table(data_dir / f"{name}.scp") for name in ("wav", "spk1", "spk2")}
            assert len(wavs["wav"]) == SIZES[f"n_{split}"]
            assert set(read_table(data_dir / "utt2category").values()) == {domain}
            meta = read_meta(data_dir / "meta.jsonl")
            for key, path in wavs["wav"].items():
                mix, fs = sf.read(path, dtype="int16")
                s1, _ = sf.read(wavs["spk1"][key], dtype="int16")
                s2, _ = sf.read(wavs["spk2"][key], dtype="int16")
                assert fs == FS and mix.shape == (FS,)
                np.testing.assert_array_equal(mix.astype(np.int32), s1.astype(np.int32) + s2)
                assert s1.any() and s2.any() and not np.array_equal(s1, s2)
                record = meta[key]
                assert record["seed"] == OPTIONS.seed and record["domain"] == domain
                assert abs(record["gain_db"]) <= OPTIONS.max_gain_db
                assert record["source_gains_db"] == [record["gain_db"] / 2,
                                                     -record["gain_db"] / 2]
                if domain == "env":
                    assert len(set(record["classes"])) == 2
                    assert set(record["classes"]) <= set(environmental.CLASSES)
                if domain == "music":
                    assert [s["role"] for s in record["sources"]] == ["vocals", "accompaniment"]


def test_speech_pairs_speaker_disjoint(domains_nj1, small_corpus):  # noqa: F811
    speakers = {}
    for split in SPLITS:
        meta = read_meta(domains_nj1 / "speech" / split / "meta.jsonl")
        assert all(len(set(r["speakers"])) == 2 for r in meta.values())
        speakers[split] = {s for r in meta.values() for s in r["speakers"]}
        listed = set((small_corpus / "splits" / f"{split}.spk").read_text().split())
        assert speakers[split] <= listed
    assert not speakers["test"] & speakers["train"]
    assert not speakers["dev"] & speakers["train"]


def test_identical_for_nj_and_rerun(domains_nj1, small_corpus, tmp_path):  # noqa: F811
    out = generate_domains(tmp_path / "nj2", DOMAINS, options=OPTIONS, corpus_dir=small_corpus,
                           nj=2, **SIZES)
    for domain in DOMAINS:
        for split in SPLITS:
            a, b = domains_nj1 / domain / split, out / domain / split
            assert (a / "meta.jsonl").read_bytes() == (b / "meta.jsonl").read_bytes()
            files = sorted(p.relative_to(a) for p in (a / "audio").rglob("*.wav"))
            assert files == sorted(p.relative_to(b) for p in (b / "audio").rglob("*.wav"))
            for rel in files:
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # a finished set is skipped; other options are refused
    stamp = (out / "music" / "train" / "wav.scp").stat().st_mtime_ns
    generate_domains(out, DOMAINS, options=OPTIONS, corpus_dir=small_corpus, **SIZES)
    assert (out / "music" / "train" / "wav.scp").stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="other options"):
        generate_domains(out, "music", options=DomainOptions(fs=FS, segment=1.0, seed=6),
                         **SIZES)


def test_other_seed_other_audio(domains_nj1, tmp_path):
    out = generate_domains(tmp_path, "env", n_train=0, n_dev=0, n_test=3,
                           options=DomainOptions(fs=FS, segment=1.0, seed=6))
    mine = sorted((out / "env" / "test" / "audio" / "mix").iterdir())
    theirs = sorted((domains_nj1 / "env" / "test" / "audio" / "mix").iterdir())
    assert not any(a.read_bytes() == b.read_bytes() for a, b in zip(mine, theirs, strict=True))
    assert not (out / "env" / "train").exists()


# ---- real-corpus readers and bad input -------------------------------------------------------


@pytest.mark.parametrize("option", ["corpus_dir", "musdb_dir", "urbansound_dir"])
def test_missing_corpus_path(tmp_path, option):
    missing = tmp_path / "no_such_corpus"
    domain = {"corpus_dir": "speech", "musdb_dir": "music", "urbansound_dir": "env"}[option]
    with pytest.raises(DataError, match=re.escape(str(missing))):
        generate_domains(tmp_path / "out", domain, options=OPTIONS, **{option: missing},
                         **SIZES)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", ["corpus_dir", "musdb_dir", "urbansound_dir"])
def test_wrong_layout_corpus_path(tmp_path, option):
    wrong = tmp_path / "wrong"
    (wrong / "something").mkdir(parents=True)
    domain = {"corpus_dir": "speech", "musdb_dir": "music", "urbansound_dir": "env"}[option]
    with pytest.raises(DataError, match=re.escape(str(wrong))):
        generate_domains(tmp_path / "out", domain, options=OPTIONS, **{option: wrong}, **SIZES)


def test_cli_reports_bad_path(tmp_path, caplog):
    assert main(["--out_dir", str(tmp_path / "out"), "--domains", "music",
                 "--musdb_dir", str(tmp_path / "nope")]) == 1
    assert str(tmp_path / "nope") in caplog.text
    with pytest.raises(DataError, match="unknown domain 'noise'"):
        generate_domains(tmp_path / "out", "speech,noise")


def _tone(seconds: float, fs: int, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * noise


def test_musdb_layout(tmp_path):
    root = tmp_path / "musdb"
    for split, names in (("train", ["Actions - One Minute Smile", "A", "B"]), ("test", ["C"])):
        for k, name in enumerate(names):
            track = root / split / name
            track.mkdir(parents=True)
            for s, stem in enumerate(("vocals", "drums", "bass", "other", "mixture")):
                sf.write(track / f"{stem}.wav", _tone(2.0, 22050, 200 + 100 * s, k), 22050)
    tracks = music.scan_musdb(root, seed=0)
    assert [t.name for t in tracks["dev"]] == ["Actions - One Minute Smile"]
    assert [t.name for t in tracks["train"]] == ["A", "B"]
    assert len(tracks["train"][0].accompaniment) == 3  # drums, bass, other; not the mixture
    out = generate_domains(tmp_path / "out", "music", options=OPTIONS, musdb_dir=root,
                           n_train=2, n_dev=1, n_test=1)
    for split, names in (("train", {"A", "B"}), ("dev", {"Actions - One Minute Smile"}),
                         ("test", {"C"})):
        assert _validate(out / "music" / split) == []
        meta = read_meta(out / "music" / split / "meta.jsonl")
        assert {r["sources"][0]["track"] for r in meta.values()} <= names


def test_urbansound_layout(tmp_path):
    root = tmp_path / "UrbanSound8K"
    rows = []
    for fold in (1, 2, 9, 10):
        (root / "audio" / f"fold{fold}").mkdir(parents=True)
        for c, name in enumerate((*environmental.CLASSES, "street_music")):
            file = f"{fold}{c}-0-0-0.wav"
            sf.write(root / "audio" / f"fold{fold}" / file, _tone(0.6, 44100, 300 + 200 * c,
                     fold), 44100)
            rows.append({"slice_file_name": file, "fsID": 1, "start": 0, "end": 0.6,
                         "salience": 1, "fold": fold, "classID": c, "class": name})
    (root / "metadata").mkdir()
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    clips = environmental.scan_urbansound(root)
    assert {c["fold"] for c in clips["train"]["siren"]} == {1, 2}
    assert "street_music" not in clips["train"]
    out = generate_domains(tmp_path / "out", "env", options=OPTIONS, urbansound_dir=root,
                           n_train=2, n_dev=1, n_test=1)
    for split, folds in (("train", ("fold1", "fold2")), ("dev", ("fold9",)),
                         ("test", ("fold10",))):
        assert _validate(out / "env" / split) == []
        for record in read_meta(out / "env" / split / "meta.jsonl").values():
            assert all(Path(s["file"]).parent.name in folds for s in record["sources"])
    (root / "audio" / "fold9" / "93-0-0-0.wav").unlink()
    with pytest.raises(DataError, match="93-0-0-0.wav does not exist"):
        environmental.scan_urbansound(root)
