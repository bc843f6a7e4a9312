"""One simulation job of :mod:`sepplug.recipes.spatialvctk.simulate`: render its share of a set's
mixtures.

A plan file (JSON lines: a header {fs, num_samples, dtype}, then one spec per mixture,
written by the planner) fixes everything random — speakers, utterances, crop positions,
room, positions, gains, level — so a mixture's audio depends only on its spec, never on
``--nj`` or on which job renders it. Job ``j`` of ``n`` renders the specs
``j-1, j-1+n, j-1+2n, ...`` and writes ``results/job.<j>.jsonl`` (what it measured per
mixture) next to the plan.

Audio per mixture ``<key>`` under its spec's ``wav_dir``::

    mix/<key>.wav     (T, C)  mixture = s1_mc + s2_mc
    s1_mc/<key>.wav   (T, C)  image of source 1 at every mic;  s2_mc likewise
    s1/<key>.wav      (T,)    s1_mc at the reference mic 0;    s2 likewise

``dtype`` "pcm16": the images are quantised to int16 first and the mixture is their
integer sum, so mix == s1_mc + s2_mc holds exactly in the files (read as int16, or as
float = int / 32768). "float32": 32-bit float wavs, the mixture being the float32 sum
of the float32 images, exact too.

CLI (what the Kaldi-style ``--cmd`` runs)::

    python -m sepplug.recipes.spatialvctk.render_job --plan PLAN.jsonl --job JOB --nj N
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sepplug.datadir.audio_checks import signal_problem
from sepplug.simulate.room import simulate_images
from sepplug.simulate.segments import fit_segment, load_source

logger = logging.getLogger(__name__)

AUDIO_KINDS = ("mix", "s1", "s2", "s1_mc", "s2_mc")
PCM_SCALE = 32768.0


def read_plan(plan_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, specs) of a plan file."""
    with open(plan_path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return lines[0], lines[1:]


def render(spec: dict[str, Any], fs: int, num_samples: int, dtype: str) -> tuple[
    dict[str, np.ndarray], dict[str, Any]
]:
    """Simulate one mixture.

    Returns:
        (audio, measured): audio maps AUDIO_KINDS to arrays ((T, C) or (T,), int16 or
        float32); measured holds offsets, the applied scale and the reference-mic SIR.
    """
    dry, offsets, padded = [], [], []
    for path, position, gain_db in zip(
        spec["source_files"], spec["crop_positions"], spec["gains_db"], strict=True
    ):
        segment, offset, is_padded = fit_segment(load_source(path, fs), num_samples, position)
        problem = signal_problem(segment, silent_ok=False)
        if problem:
            raise ValueError(f"{spec['key']}: the segment of {path} {problem}")
        rms = np.sqrt(np.mean(segment**2))
        dry.append(segment / rms * 10 ** (gain_db / 20))
        offsets.append(offset)
        padded.append(is_padded)
    images = simulate_images(spec["scene"], np.stack(dry), fs)  # (2, C, T)
    scale = spec["mix_peak"] / np.abs(images.sum(axis=0)).max()
    images = np.transpose(images * scale, (0, 2, 1))  # (2, T, C)
    if dtype == "pcm16":
        refs = np.round(images * PCM_SCALE).astype(np.int32)
        mix = refs[0] + refs[1]
        if max(np.abs(refs).max(), np.abs(mix).max()) > 32767:
            raise ValueError(f"{spec['key']}: int16 overflow (mix_peak {spec['mix_peak']})")
        refs, mix = refs.astype(np.int16), mix.astype(np.int16)
    else:
        refs = images.astype(np.float32)
        mix = refs[0] + refs[1]
    energy = (images[:, :, 0] ** 2).sum(axis=1)
    measured = {
        "offsets": offsets,
        "padded": padded,
        "scale": float(scale),
        "sir_db": round(float(10 * np.log10(energy[0] / energy[1])), 3),
    }
    audio = {"mix": mix, "s1_mc": refs[0], "s2_mc": refs[1], "s1": refs[0][:, 0],
             "s2": refs[1][:, 0]}
    return audio, measured


def run_job(plan_path: Path | str, job: int, nj: int, progress_position: int | None = None) -> Path:
    """Render the specs of job ``job`` (1-based) of ``nj``; return its results file."""
    from tqdm import tqdm

    plan_path = Path(plan_path)
    header, specs = read_plan(plan_path)
    fs, num_samples, dtype = header["fs"], header["num_samples"], header["dtype"]
    subtype = "PCM_16" if dtype == "pcm16" else "FLOAT"
    results_path = plan_path.parent / "results" / f"job.{job}.jsonl"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    mine = specs[job - 1 :: nj]
    lines = []
    for spec in tqdm(mine, desc=f"simulate job {job}/{nj}", unit="mix",
                     position=progress_position, mininterval=5.0):
        audio, measured = render(spec, fs, num_samples, dtype)
        for kind in AUDIO_KINDS:
            path = Path(spec["wav_dir"]) / kind / f"{spec['key']}.wav"
            sf.write(path, audio[kind], fs, subtype=subtype)
        lines.append(json.dumps({"key": spec["key"], **measured}) + "\n")
    tmp = results_path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(results_path)
    return results_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.spatialvctk.render_job", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--plan", required=True, type=Path, help="plan file (JSON lines)")
    parser.add_argument("--job", required=True, type=int, help="job number, 1-based")
    parser.add_argument("--nj", required=True, type=int, help="number of jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 1 <= args.job <= args.nj:
        parser.error(f"--job {args.job} is not in 1..{args.nj}")
    run_job(args.plan, args.job, args.nj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
