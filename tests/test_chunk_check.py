"""The check before training that ESPnet's chunk iterator can fill one batch
(sepplug.tasks.chunk_check, SepplugEnhancementTask.build_chunk_iter_factory)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.errors import DataError
from sepplug.tasks.chunk_check import (
    check_chunk_supply,
    chunk_supply,
    chunks_of,
    parse_chunk_lengths,
    read_shape_lengths,
)
from tests.enh_task import conv_tcn_config

REPO = Path(__file__).resolve().parents[1]


def _args(chunk_length: int | str = 8000, **extra) -> argparse.Namespace:
    values = {"chunk_length": chunk_length, "chunk_shift_ratio": 0.5,
              "chunk_max_abs_length": None, "chunk_default_fs": None,
              "chunk_discard_short_samples": True}
    return argparse.Namespace(**{**values, **extra})


def _options(shape_files: list, batch_size: int = 4, **extra) -> argparse.Namespace:
    values = {"shape_files": shape_files, "batch_size": batch_size, "num_batches": None,
              "num_iters_per_epoch": None}
    return argparse.Namespace(**{**values, **extra})


def _shape(tmp_path: Path, lengths: list[int], channels: int | None = None) -> Path:
    path = tmp_path / "speech_mix_shape"
    suffix = f",{channels}" if channels else ""
    path.write_text("".join(f"utt{i:03d} {n}{suffix}\n" for i, n in enumerate(lengths)))
    return path


@pytest.mark.parametrize(("spec", "expected"), [
    (8000, [8000]), ("8000", [8000]), ("5,8", [5, 8]), ("3-5", [3, 4, 5]),
    ("2,4-6", [2, 4, 5, 6]),
])
def test_chunk_length_syntax_is_espnets(spec, expected):
    assert parse_chunk_lengths(spec) == expected


@pytest.mark.parametrize("spec", ["", "a", "3-5-7", "3-"])
def test_bad_chunk_length_is_refused(spec):
    with pytest.raises(DataError, match="chunk_length"):
        parse_chunk_lengths(spec)


def test_chunk_count_follows_the_shift():
    # W = 8000, S = 4000: (20000 - 8000) // 4000 + 1 = 4; not longer than W: none
    assert chunks_of(20000, [8000], 0.5) == 4
    assert chunks_of(8000, [8000], 0.5) == 0
    assert chunks_of(8001, [8000], 0.5) == 1
    assert chunks_of(20000, [8000, 4000], 0.5) == 9  # the best candidate: W = 4000, S = 2000
    assert chunks_of(20000, [8000], 0.5, max_abs_length=4000) == 9
    assert chunks_of(20000, [8000], 1.0) == 2


def test_counts_match_espnets_chunk_iterator():
    """Every chunk ESPnet's iterator yields (batch size 1) is counted, and no more."""
    from espnet2.iterators.chunk_iter_factory import ChunkIterFactory
    from espnet2.train.collate_fn import CommonCollateFn

    lengths = [7000, 8000, 8001, 12000, 16001, 20000, 33333]

    class Dataset:
        def __getitem__(self, uid):
            return uid, {"speech_mix": np.zeros(lengths[int(uid)], dtype=np.float32)}

    factory = ChunkIterFactory(dataset=Dataset(), batch_size=1, chunk_length=8000,
                               batches=[[str(i)] for i in range(len(lengths))],
                               collate_fn=CommonCollateFn(), shuffle=True)
    yielded = sum(len(ids) for ids, _ in factory.build_iter(1))
    supply = chunk_supply(lengths, [8000], 0.5)
    assert yielded == supply.chunks == 1 + 2 + 3 + 4 + 7
    assert (supply.mixtures, supply.long_enough, supply.longest) == (7, 5, 33333)


def test_enough_chunks_pass(tmp_path):
    shape = _shape(tmp_path, [7000] * 57 + [8001, 12000, 16001], channels=6)
    supply = check_chunk_supply(_args(), _options([str(shape)], batch_size=6))
    assert (supply.long_enough, supply.chunks) == (3, 6)


def test_too_few_chunks_are_refused_with_counts_and_fixes(tmp_path):
    shape = _shape(tmp_path, [7000] * 58 + [8001, 12000])
    with pytest.raises(DataError) as err:
        check_chunk_supply(_args(), _options([str(shape)], batch_size=4))
    message = str(err.value)
    for part in (f"2 of 60 training mixtures in {shape} are longer than chunk_length 8000",
                 "(longest 12000)", "they give 3 chunks", "one batch needs 4 (batch_size 4)",
                 "chunk_length (at most 6999 fills a batch)", "batch_size (at most 3)",
                 "--chunk_discard_short_samples false"):
        assert part in message, message


def test_no_mixture_long_enough(tmp_path):
    shape = _shape(tmp_path, [4000] * 3 + [7000])
    with pytest.raises(DataError) as err:
        check_chunk_supply(_args("8000-9000"), _options([str(shape)]))
    message = str(err.value)
    assert "0 of 4 training mixtures" in message
    assert ("longer than 8000 samples, the shortest candidate of chunk_length '8000-9000', "
            "(longest 7000)") in message
    assert "they give 0 chunks" in message


@pytest.mark.parametrize(("spec", "ok"), [("5000", True), ("9000", False), ("4000,9000", True),
                                          ("9000-9500", False), (5000, True)])
def test_every_candidate_syntax(tmp_path, spec, ok):
    shape = _shape(tmp_path, [9000] * 4)  # 5000 or 4000: one chunk each; 9000+: none
    args, options = _args(spec), _options([str(shape)], batch_size=4)
    if ok:
        assert check_chunk_supply(args, options).chunks >= 4
    else:
        with pytest.raises(DataError, match="0 of 4 training mixtures"):
            check_chunk_supply(args, options)


def test_an_epoch_of_few_mixtures_is_bounded(tmp_path):
    """--num_iters_per_epoch k: an epoch reads k mixtures, so only its chunks count."""
    shape = _shape(tmp_path, [8001] * 10)  # one chunk each
    args = _args()
    assert check_chunk_supply(args, _options([str(shape)], batch_size=4)).chunks == 10
    with pytest.raises(DataError, match="at most 2 in an epoch of num_iters_per_epoch 2"):
        check_chunk_supply(args, _options([str(shape)], batch_size=4, num_iters_per_epoch=2))


def test_no_check_without_shape_files_or_when_lengths_are_not_the_shape_files(tmp_path):
    shape = _shape(tmp_path, [4000])
    assert check_chunk_supply(_args(), _options([])) is None
    assert check_chunk_supply(_args(chunk_discard_short_samples=False),
                              _options([str(shape)])) is None
    assert check_chunk_supply(_args(chunk_default_fs=8000), _options([str(shape)])) is None
    assert check_chunk_supply(_args(preprocessor_conf={"segment": 3.0}),
                              _options([str(shape)])) is None
    with pytest.raises(DataError):
        check_chunk_supply(_args(preprocessor_conf={"segment": None}), _options([str(shape)]))


def test_bad_shape_line_names_file_and_line(tmp_path):
    shape = tmp_path / "shape"
    shape.write_text("u1 16000\nu2\n")
    with pytest.raises(DataError, match=f"{shape}:2: expected 'uttid L'"):
        read_shape_lengths(shape)
    assert read_shape_lengths(shape, limit=1) == [16000]


def _write_data(root: Path, n: int, samples: int) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for name in ("wav", "spk1"):
        lines = []
        for i in range(n):
            path = root / f"{name}_{i}.wav"
            sf.write(path, 0.1 * rng.standard_normal(samples), 8000)
            lines.append(f"utt{i} {path}\n")
        (root / f"{name}.scp").write_text("".join(lines))
    (root / "speech_mix_shape").write_text("".join(f"utt{i} {samples}\n" for i in range(n)))


def train_on_short_data(tmp_path: Path, code: str = "") -> tuple[subprocess.CompletedProcess,
                                                                  float]:
    """``python -m sepplug.bin.enh_train`` (after ``code``) on 4 training mixtures of 4000
    samples with chunk_length 8000; returns the process and its seconds."""
    data = tmp_path / "data"
    _write_data(data, 4, 4000)
    config = tmp_path / "config.yaml"
    config.write_text(conv_tcn_config(1, 8, 2, 8) + "criterions:\n"
                      "  - name: si_snr\n    conf: {eps: 1.0e-7}\n"
                      "    wrapper: fixed_order\n    wrapper_conf: {weight: 1.0}\n"
                      "iterator_type: chunk\nchunk_length: 8000\nvalid_iterator_type: sequence\n")
    argv = ["--config", str(config), "--output_dir", str(tmp_path / "exp"), "--ngpu", "0",
            "--max_epoch", "1", "--batch_size", "2", "--valid_batch_size", "2",
            "--num_workers", "0", "--use_tensorboard", "false", "--fold_length", "80000"]
    for mode in ("train", "valid"):
        argv += [f"--{mode}_data_path_and_name_and_type", f"{data}/wav.scp,speech_mix,sound",
                 f"--{mode}_data_path_and_name_and_type", f"{data}/spk1.scp,speech_ref1,sound",
                 f"--{mode}_shape_file", f"{data}/speech_mix_shape"]
    run = f"{code}\nimport sys\nfrom sepplug.bin.enh_train import main\nmain(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", run, *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    return proc, time.monotonic() - start


def test_training_on_too_short_data_stops_before_the_first_epoch(tmp_path):
    proc, seconds = train_on_short_data(tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "DataError: 0 of 4 training mixtures in" in output, output[-3000:]
    assert "they give 0 chunks (chunk_shift_ratio 0.5), one batch needs 2 (batch_size 2)" in output
    assert "1epoch" not in output and "epoch started" not in output
    assert seconds < 120, f"{seconds:.0f} s"
