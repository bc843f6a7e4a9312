"""``sepplug validate-data``: a good dir passes, each kind of breakage is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.cli import main as cli_main
from sepplug.datadir.kaldi_dir import write_data_dir
from sepplug.datadir.validate import main as validate_main

KEYS = ["utt_a", "utt_b", "utt_c"]
FS, CHANNELS, SAMPLES = 8000, 4, 800


@pytest.fixture
def good_dir(tmp_path) -> Path:
    """A 3-utterance, 4-channel data dir written by the simulator's writer."""
    rng = np.random.default_rng(0)
    wav = tmp_path / "wav"
    wav.mkdir()
    scps: dict[str, dict[str, str]] = {n: {} for n in
                                       ("wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp",
                                        "spk2_mc.scp")}
    for key in KEYS:
        images = rng.uniform(-0.3, 0.3, (2, SAMPLES, CHANNELS)).astype(np.float32)
        files = {"wav.scp": images.sum(0), "spk1_mc.scp": images[0], "spk2_mc.scp": images[1],
                 "spk1.scp": images[0][:, 0], "spk2.scp": images[1][:, 0]}
        for name, audio in files.items():
            path = wav / f"{key}_{name.split('.')[0]}.wav"
            sf.write(path, audio, FS, subtype="FLOAT")
            scps[name][key] = str(path)
    data = tmp_path / "data"
    write_data_dir(data, FS, scps, dict(zip(KEYS, ["easy", "hard", "both"], strict=True)),
                   dict(zip(KEYS, [30.0, 10.0, 90.0], strict=True)),
                   {k: {"category": "x"} for k in KEYS})
    return data


def run(argv: list[str], capsys) -> tuple[int, str]:
    rc = validate_main(argv)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_good_dir_passes_through_the_cli(good_dir, capsys):
    assert cli_main(["validate-data", str(good_dir), "--fs", "8000", "--channels", "4"]) == 0
    assert "3 utterances, 4 channels, 8000 Hz: OK" in capsys.readouterr().out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _swap_lines(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[1], lines[0], *lines[2:]]))


def _drop_line(path: Path, key: str) -> None:
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith(key + " ")))


def _scp_path(data: Path, scp: str, key: str) -> Path:
    for line in (data / scp).read_text().splitlines():
        if line.startswith(key + " "):
            return Path(line.split(" ", 1)[1])
    raise KeyError(key)


def _write_with(data: Path, scp: str, key: str, shape: tuple[int, ...], index: int,
                value: float) -> None:
    """Rewrite an utterance's file (float) with one sample set to ``value`` (NaN, Inf)."""
    audio = np.full(shape, 0.1, dtype=np.float32)
    audio.reshape(-1)[index] = value
    sf.write(_scp_path(data, scp, key), audio, FS, subtype="FLOAT")


BREAKAGES = {
    "unsorted": (lambda d: _swap_lines(d / "wav.scp"),
                 ["wav.scp:2", "utt_a", "not sorted"]),
    "missing key": (lambda d: _drop_line(d / "spk1.scp", "utt_b"),
                    ["spk1.scp", "utt_b", "missing"]),
    "duplicate key": (lambda d: _edit(d / "utt2angle", "utt_c", "utt_b"),
                      ["utt2angle:3", "utt_b", "duplicate"]),
    "missing file": (lambda d: _scp_path(d, "spk2_mc.scp", "utt_c").unlink(),
                     ["spk2_mc.scp", "utt_c", "file not found"]),
    "unreadable file": (lambda d: _scp_path(d, "wav.scp", "utt_a").write_bytes(b"junk"),
                        ["wav.scp", "utt_a", "unreadable"]),
    "zero-length file": (lambda d: sf.write(_scp_path(d, "spk1.scp", "utt_a"),
                                            np.zeros(0), FS), ["spk1.scp", "utt_a", "zero-length"]),
    "mono reference with 2 channels": (
        lambda d: sf.write(_scp_path(d, "spk2.scp", "utt_b"), np.zeros((SAMPLES, 2)), FS),
        ["spk2.scp", "utt_b", "2 channels, expected 1"]),
    "other sample rate": (
        lambda d: sf.write(_scp_path(d, "spk1_mc.scp", "utt_a"),
                           np.zeros((SAMPLES, CHANNELS)), 16000),
        ["spk1_mc.scp", "utt_a", "sample rate 16000"]),
    "other length": (
        lambda d: sf.write(_scp_path(d, "spk1_mc.scp", "utt_c"),
                           np.zeros((SAMPLES - 1, CHANNELS)), FS),
        ["spk1_mc.scp", "utt_c", "799 samples, mixture has 800"]),
    "NaN in a mixture": (
        lambda d: _write_with(d, "wav.scp", "utt_b", (SAMPLES, CHANNELS), 17, np.nan),
        ["wav.scp", "utt_b", "NaN or Inf"]),
    "Inf in a multi-channel reference": (
        lambda d: _write_with(d, "spk2_mc.scp", "utt_a", (SAMPLES, CHANNELS), 5, -np.inf),
        ["spk2_mc.scp", "utt_a", "NaN or Inf"]),
    "all-zero reference": (
        lambda d: sf.write(_scp_path(d, "spk1.scp", "utt_c"), np.zeros(SAMPLES), FS,
                           subtype="FLOAT"),
        ["spk1.scp", "utt_c", "all zeros"]),
    "bad category": (lambda d: _edit(d / "utt2category", "hard", "medium"),
                     ["utt2category", "utt_b", "medium"]),
    "bad angle": (lambda d: _edit(d / "utt2angle", "90.000", "270"),
                  ["utt2angle", "utt_c", "not in [0, 180]"]),
    "spk2utt mismatch": (lambda d: _drop_line(d / "spk2utt", "utt_a"),
                         ["spk2utt", "utt_a", "does not match utt2spk"]),
    "missing utt2spk": (lambda d: (d / "utt2spk").unlink(),
                        ["utt2spk", "required file missing"]),
    "meta key missing": (lambda d: _drop_line(d / "meta.jsonl", '{"key": "utt_b",'),
                         ["meta.jsonl", "keys differ"]),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_dir_fails_naming_file_key_and_problem(good_dir, capsys, breakage):
    edit, expected = BREAKAGES[breakage]
    edit(good_dir)
    rc, output = run([str(good_dir)], capsys)
    assert rc == 1
    error_lines = [line for line in output.splitlines() if "ERROR" in line]
    assert any(all(part in line for part in expected) for line in error_lines), output


def test_demanded_fs_and_channels(good_dir, capsys):
    rc, output = run([str(good_dir), "--fs", "16000"], capsys)
    assert rc == 1 and "fs: says 8000 Hz, expected 16000" in output
    rc, output = run([str(good_dir), "--channels", "6"], capsys)
    assert rc == 1 and "utt_a: 4 channels, expected 6" in output


def test_missing_dir(tmp_path, capsys):
    rc, output = run([str(tmp_path / "nope")], capsys)
    assert rc == 1 and "no such directory" in output


def test_a_silent_mixture_is_allowed_but_not_a_silent_reference(good_dir, capsys):
    """Only references must carry signal (SI-SDR); a silent mc image is a reference too."""
    sf.write(_scp_path(good_dir, "spk2_mc.scp", "utt_b"), np.zeros((SAMPLES, CHANNELS)), FS,
             subtype="FLOAT")
    rc, output = run([str(good_dir)], capsys)
    assert rc == 1 and "spk2_mc.scp: key utt_b: is all zeros" in output


def test_silent_references_are_padding_only_beyond_utt2num_sources(good_dir, capsys):
    """A supervised MixIT view pads K < N sources with silence; utt2num_sources declares it."""
    for name in ("spk2_mc.scp", "spk1_mc.scp", "utt2category", "utt2angle"):
        (good_dir / name).unlink(missing_ok=True)
    sf.write(_scp_path(good_dir, "spk2.scp", "utt_b"), np.zeros(SAMPLES), FS, subtype="FLOAT")
    counts = good_dir / "utt2num_sources"
    counts.write_text("utt_a 2\nutt_b 2\nutt_c 2\n")
    rc, output = run([str(good_dir)], capsys)
    assert rc == 1 and "spk2.scp: key utt_b: is all zeros" in output  # declared present
    counts.write_text("utt_a 2\nutt_b 1\nutt_c 2\n")
    rc, output = run([str(good_dir)], capsys)
    assert rc == 0, output  # declared padding
    sf.write(_scp_path(good_dir, "spk1.scp", "utt_b"), np.zeros(SAMPLES), FS, subtype="FLOAT")
    rc, output = run([str(good_dir)], capsys)
    assert rc == 1 and "spk1.scp: key utt_b: is all zeros" in output  # spk1 is never padding
    counts.write_text("utt_a 2 1\nutt_b 1 1\nutt_c 2 1\n")  # a MoM's counts declare no padding
    rc, output = run([str(good_dir)], capsys)
    assert rc == 1 and "spk2.scp: key utt_b: is all zeros" in output
