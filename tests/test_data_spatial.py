"""SpatialVCTK simulator: data-dir contract, subset geometry, exact sums, determinism, bad input."""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.datadir.kaldi_dir import TABLE_FILES, read_meta, read_table
from sepplug.datadir.validate import validate
from sepplug.errors import DataError
from sepplug.recipes.spatialvctk import simulate as spatial
from sepplug.recipes.spatialvctk.simulate import category_counts, simulate_spatialvctk
from sepplug.simulate import vctk
from sepplug.simulate.room import (
    SceneConfig,
    angle_difference,
    mic_positions,
    sample_scene,
    simulate_images,
)
from tests.data_fixtures import (  # noqa: F401
    SPATIAL_OPTIONS,
    small_corpus,
    small_spatial,
    write_toy_corpus,
)

REPO = Path(__file__).resolve().parents[1]
SETS = {"train": 12, "dev": 6, "test_easy": 4, "test_hard": 4, "test_both": 4,
        "train_hard_extra": 4}


def all_meta(data: Path) -> dict[str, dict]:
    return {k: v for s in SETS for k, v in read_meta(data / s / "meta.jsonl").items()}


def test_data_dirs_follow_the_contract(small_spatial):  # noqa: F811
    for name, size in SETS.items():
        set_dir = small_spatial / name
        tables = {f: read_table(set_dir / f) for f in TABLE_FILES}
        keys = list(tables["wav.scp"])
        assert len(keys) == size and keys == sorted(keys, key=str.encode)
        for f, table in tables.items():
            assert list(table) == keys, f
        assert all(tables["utt2spk"][k] == k for k in keys)
        assert list(read_meta(set_dir / "meta.jsonl")) == keys
        assert (set_dir / "fs").read_text().strip() == "8000"
        assert validate(set_dir, expected_fs=8000, expected_channels=6) == []
        mix = sf.info(tables["wav.scp"][keys[0]])
        assert (mix.channels, mix.samplerate, mix.frames) == (6, 8000, 8000)
        assert sf.info(tables["spk1.scp"][keys[0]]).channels == 1
        assert sf.info(tables["spk2_mc.scp"][keys[0]]).channels == 6
    categories = read_table(small_spatial / "train" / "utt2category").values()
    counts = {c: list(categories).count(c) for c in ("easy", "hard", "both")}
    assert counts == category_counts(12, spatial.DEFAULT_TRAIN_RATIOS)
    for subset in ("easy", "hard", "both"):
        assert set(read_table(small_spatial / f"test_{subset}" / "utt2category").values()) == {
            subset}
    assert set(read_table(small_spatial / "train_hard_extra" / "utt2category").values()) == {
        "hard"}


def test_category_counts_follow_the_ratios():
    ratios = spatial.parse_ratios("easy=0.4,both=0.55,hard=0.05")
    assert category_counts(100, ratios) == {"easy": 40, "hard": 5, "both": 55}
    assert category_counts(20, ratios) == {"easy": 8, "hard": 1, "both": 11}
    assert sum(category_counts(13, ratios).values()) == 13
    assert spatial.parse_ratios("hard=2,both=2") == {"easy": 0.0, "hard": 0.5, "both": 0.5}


def test_images_match_pyroomacoustics_simulate():
    """Our batched convolution = Room.simulate(return_premix=True), cut to the input length."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(0)
    scene = sample_scene(rng, "hard", SceneConfig(num_mics=4, max_order=6))
    signals = rng.standard_normal((2, 4000))
    ours = simulate_images(scene, signals, 8000)
    room = pra.ShoeBox(scene["room"]["dims"], fs=8000, max_order=6,
                       materials=pra.Material(scene["room"]["absorption"]))
    for source, signal in zip(scene["sources"], signals, strict=True):
        room.add_source(source["position"], signal=signal)
    room.add_microphone_array(mic_positions(np.array(scene["array"]["center"]), 0.0725, 4))
    reference = room.simulate(return_premix=True)[:, :, :4000]
    assert ours.shape == (2, 4, 4000)
    np.testing.assert_allclose(ours, reference, atol=1e-9 * np.abs(reference).max())


def test_subset_geometry_from_the_source_positions(small_spatial):  # noqa: F811
    angles = {}
    for key, meta in all_meta(small_spatial).items():
        center = np.array(meta["scene"]["array"]["center"])
        dims = np.array(meta["scene"]["room"]["dims"])
        azimuths = []
        for source in meta["scene"]["sources"]:
            position = np.array(source["position"])
            assert np.all(position > 0) and np.all(position < dims), key
            assert position[2] == pytest.approx(center[2])  # at the array's height
            assert 1.0 - 1e-6 <= np.linalg.norm(position - center) <= 5.0 + 1e-6
            offset = position - center
            azimuths.append(math.degrees(math.atan2(offset[1], offset[0])))
        angle = angle_difference(*azimuths)
        angles[key] = angle
        speakers, utterances = meta["speakers"], meta["utterances"]
        if meta["category"] == "hard":
            assert angle < 20.0, key
        else:
            assert angle >= 20.0, key
        if meta["category"] == "easy":
            assert speakers[0] == speakers[1] and utterances[0] != utterances[1], key
        else:
            assert speakers[0] != speakers[1], key
    for name in SETS:
        for key, value in read_table(small_spatial / name / "utt2angle").items():
            assert float(value) == pytest.approx(angles[key], abs=2e-3)


def test_sets_use_their_speaker_split(small_spatial, small_corpus):  # noqa: F811
    splits = {n: set((small_corpus / "splits" / f"{n}.spk").read_text().split())
              for n in ("train", "dev", "test")}
    split_of = {"train": "train", "train_hard_extra": "train", "dev": "dev"}
    for key, meta in all_meta(small_spatial).items():
        assert set(meta["speakers"]) <= splits[split_of.get(meta["set"], "test")], key


def test_mixture_is_exactly_the_sum_of_the_references(small_spatial):  # noqa: F811
    for name in ("train", "test_hard"):
        tables = {f: read_table(small_spatial / name / f) for f in TABLE_FILES}
        for key in list(tables["wav.scp"])[:4]:
            mix = sf.read(tables["wav.scp"][key], dtype="int16")[0].astype(np.int32)
            s1 = sf.read(tables["spk1_mc.scp"][key], dtype="int16")[0].astype(np.int32)
            s2 = sf.read(tables["spk2_mc.scp"][key], dtype="int16")[0].astype(np.int32)
            np.testing.assert_array_equal(mix, s1 + s2)
            ref1 = sf.read(tables["spk1.scp"][key], dtype="int16")[0]
            np.testing.assert_array_equal(ref1, s1[:, 0])
            assert 0.25 < np.abs(mix).max() / 32768 < 0.95  # scaled, not clipped
            assert np.abs(s1).max() > 0 and np.abs(s2).max() > 0


def _digests(root: Path) -> dict[str, str]:
    """Content of every file under root; absolute paths inside text files made relative."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "log" not in path.parts:
            data = path.read_bytes().replace(str(root).encode(), b"ROOT")
            out[str(path.relative_to(root))] = hashlib.md5(data).hexdigest()
    return out


def test_bit_identical_whatever_nj_and_through_run_pl(small_spatial, small_corpus, tmp_path):  # noqa: F811
    """nj=1 in-process vs nj=3 through tools/utils/run.pl: same bytes everywhere."""
    reference_root = small_spatial.parent
    root = tmp_path / "spatial"
    simulate_spatialvctk(small_corpus, root / "data", root / "wav", nj=3,
                         cmd=str(REPO / "tools" / "utils" / "run.pl"), **SPATIAL_OPTIONS)
    assert sorted((root / "data" / "log").glob("simulate.*.log"))
    ours, reference = _digests(root), _digests(reference_root)
    assert len([k for k in reference if k.endswith(".wav")]) == 5 * sum(SETS.values())
    assert ours == reference


def test_rerun_is_a_no_op_and_other_options_are_refused(small_spatial, small_corpus):  # noqa: F811
    root = small_spatial.parent
    marker = small_spatial / "train" / ".done.json"
    before = marker.stat().st_mtime_ns
    simulate_spatialvctk(small_corpus, root / "data", root / "wav", nj=1, **SPATIAL_OPTIONS)
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(DataError, match="other options"):
        simulate_spatialvctk(small_corpus, root / "data", root / "wav",
                             **{**SPATIAL_OPTIONS, "n_train": 13})


def test_float32_output_and_resampling_is_logged(tmp_path, caplog):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=6, fs=22050)
    caplog.set_level(logging.INFO)
    data = simulate_spatialvctk(corpus, tmp_path / "data", fs=8000, segment=0.5, n_train=0,
                                n_dev=0, n_test=2, n_hard_extra=0, dtype="float32")
    assert "at 22050 Hz, not 8000 Hz: resampled with soxr" in caplog.text
    assert sorted(p.name for p in data.iterdir()) == ["splits", "test_both", "test_easy",
                                                       "test_hard"]
    assert (tmp_path / "wav" / "test_easy" / "mix").is_dir()  # default wav dir: beside data
    assert len((data / "splits" / "test.spk").read_text().split()) == 2  # drawn from seed
    for key, path in read_table(data / "test_both" / "wav.scp").items():
        mix, fs = sf.read(path, dtype="float32")
        assert fs == 8000 and sf.info(path).subtype == "FLOAT"
        s1 = sf.read(read_table(data / "test_both" / "spk1_mc.scp")[key], dtype="float32")[0]
        s2 = sf.read(read_table(data / "test_both" / "spk2_mc.scp")[key], dtype="float32")[0]
        np.testing.assert_array_equal(mix, s1 + s2)


def test_short_utterances_are_padded_or_skipped_with_a_log(tmp_path, caplog):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=6, seconds=0.5, fs=8000)
    caplog.set_level(logging.INFO)
    data = simulate_spatialvctk(corpus, tmp_path / "pad", fs=8000, segment=1.0, n_train=0,
                                n_dev=0, n_test=2, n_hard_extra=0)
    assert "shorter than the 1.00 s segment: zero-padded" in caplog.text
    meta = read_meta(data / "test_both" / "meta.jsonl")
    assert all(m["padded"] == [True, True] for m in meta.values())
    mix = sf.read(read_table(data / "test_both" / "wav.scp")[next(iter(meta))])[0]
    assert mix.shape == (8000, 6)
    assert spatial.main(["--corpus_dir", str(corpus), "--out_dir", str(tmp_path / "skip"),
                         "--fs", "8000", "--segment", "1.0", "--n_train", "0", "--n_dev", "0",
                         "--n_test", "2", "--n_hard_extra", "0", "--short", "skip"]) == 1
    assert "skipped (--short skip)" in caplog.text
    assert "not enough speakers for set test_" in caplog.text
    assert not (tmp_path / "skip").exists()


def test_reads_the_vctk_092_layout(tmp_path):
    """wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic{1,2}.flac, 3-column speaker-info."""
    for spk in ("p225", "p226", "p227", "p228"):
        (tmp_path / "wav48_silence_trimmed" / spk).mkdir(parents=True)
        for utt in ("001", "002"):
            for mic in ("mic1", "mic2"):
                sf.write(tmp_path / "wav48_silence_trimmed" / spk / f"{spk}_{utt}_{mic}.flac",
                         np.full(480, 0.1), 48000)
    (tmp_path / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n"
        "p225  23  F    English    Southern  England\n226  22  M    English    Surrey\n")
    corpus = vctk.scan_corpus(tmp_path, mic="mic2")
    assert sorted(corpus) == ["p225", "p226", "p227", "p228"]
    assert [u.utt_id for u in corpus["p226"]] == ["p226_001", "p226_002"]
    assert all(u.path.name.endswith("_mic2.flac") and u.sample_rate == 48000
               for utts in corpus.values() for u in utts)
    genders = vctk.read_genders(tmp_path)
    assert genders["p225"] == "F" and genders["p226"] == "M"
    splits = vctk.make_splits(sorted(corpus), genders, seed=1, num_dev=1, num_test=1)
    assert sorted(sum(splits.values(), [])) == sorted(corpus)
    assert splits == vctk.make_splits(sorted(corpus), genders, seed=1, num_dev=1, num_test=1)


def _bad_corpus(tmp_path: Path, problem: str) -> Path:
    corpus = tmp_path / "corpus"
    if problem == "missing":
        return corpus
    if problem == "empty":
        corpus.mkdir()
        return corpus
    write_toy_corpus(corpus, speakers=6, fs=8000)
    target = corpus / "wav" / "p003" / "p003_002.wav"
    if problem == "zero-length":
        sf.write(target, np.zeros(0), 8000)
    elif problem == "unreadable":
        target.write_bytes(b"RIFF....not a wav file at all")
    elif problem == "few speakers":
        split = corpus / "splits"
        split.mkdir()
        (split / "train.spk").write_text("p001\np002\np003\np004\n")
        (split / "dev.spk").write_text("p005\n")
        (split / "test.spk").write_text("p006\n")
    return corpus


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "has none of the audio dirs"),
        ("zero-length", "p003_002.wav has no samples"),
        ("unreadable", "cannot read audio file"),
        ("few speakers", "not enough speakers for set dev"),
    ],
)
def test_bad_corpus_fails_clearly_without_output(tmp_path, caplog, problem, message):
    corpus = _bad_corpus(tmp_path, problem)
    argv = ["--corpus_dir", str(corpus), "--out_dir", str(tmp_path / "data"), "--fs", "8000",
            "--segment", "0.5", "--n_train", "4", "--n_dev", "2", "--n_test", "2",
            "--n_hard_extra", "0"]
    assert spatial.main(argv) == 1
    assert message in caplog.text
    if problem == "zero-length":
        assert "p003_002.wav" in caplog.text
    assert not (tmp_path / "data").exists() and not (tmp_path / "wav").exists()


def test_bad_options_fail_clearly(tmp_path, caplog):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=6)
    base = ["--corpus_dir", str(corpus), "--out_dir", str(tmp_path / "data")]
    assert spatial.main([*base, "--max_order", "18"]) == 1
    assert "max_order must be in [0, 17]" in caplog.text
    assert spatial.main([*base, "--train_ratios", "easy=0.5,medium=0.5"]) == 1
    assert "bad ratio 'medium=0.5'" in caplog.text
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("runner", ["local", "run.pl"])
def test_failed_job_leaves_no_data_dir(tmp_path, monkeypatch, runner):
    """Jobs that die mid-way (the corpus vanished after planning) leave no data or wav dir."""
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=6, fs=8000)
    plan_set = spatial.plan_set

    def plan_then_remove_the_corpus(*args, **kwargs):
        plan = plan_set(*args, **kwargs)
        shutil.rmtree(corpus / "wav", ignore_errors=True)
        return plan

    monkeypatch.setattr(spatial, "plan_set", plan_then_remove_the_corpus)
    cmd = str(REPO / "tools" / "utils" / "run.pl") if runner == "run.pl" else None
    expected = "jobs failed under" if cmd else "job 1/2 failed"
    with pytest.raises(DataError, match=expected) as error:
        simulate_spatialvctk(corpus, tmp_path / "data", fs=8000, segment=0.5, n_train=0,
                             n_dev=0, n_test=3, n_hard_extra=0, nj=2, cmd=cmd)
    assert not (tmp_path / "wav").exists()
    if cmd:  # only the job logs are left, and the error quotes the failed one
        assert "simulate.1.log" in str(error.value) and "Error opening" in str(error.value)
        assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["log"]
    else:
        assert not (tmp_path / "data").exists()
