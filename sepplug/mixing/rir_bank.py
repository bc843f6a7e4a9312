"""A bank of multi-channel room impulse responses for on-the-fly spatial mixing.

Rooms are drawn like the SpatialVCTK simulator's (:mod:`sepplug.simulate.room`: same
``SceneConfig`` ranges, 6-mic circular array of radius 7.25 cm, mic 0 on the +x axis,
sources 1-5 m away at the array's height, image sources without ray tracing), but each
room holds ``P`` source positions instead of two, and what is stored is every position's
C-channel RIR, so that a mixture can later be made from any two positions of a room.

Positions come in pairs: the first two are ``sample_scene``'s D_hard pair, then each
further pair is a random direction plus a partner less than ``hard_max_angle`` away
(another D_hard pair); pairs of positions from different pairs are mostly >= 20° apart
(D_easy / D_both). A room is redrawn until it holds at least one pair of each kind.

Layout of a bank dir (written to a temp dir, renamed into place when complete)::

    info.json             {"kind": "sepplug-rir-bank", "version", "fs", "num_mics",
                           "array_radius", "n_rooms", "positions_per_room", "max_order",
                           "hard_max_angle", "seed"}
    meta.jsonl            one JSON object per room, by index: room, file, dims, absorption,
                           max_order, array {center, radius, num_mics}, mic_positions (3, C),
                           sources [{position, azimuth, distance}], rir_length
    rirs/room_<r>.npy     float32 (P, C, L): RIR of position p at mic c (zero-padded to the
                           room's longest RIR)
    .done.json            done marker: the generation options (rerun = no-op)

CLI::

    python -m sepplug.mixing.rir_bank --out DIR --fs 8000 --n_rooms 200 \\
        --positions_per_room 8 --seed 0 [--nj 2] [--max_order 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate.done import DONE_NAME, fresh_temp_dir, is_done, move_into_place, write_marker
from sepplug.simulate.jobs import run_jobs
from sepplug.simulate.room import (
    SceneConfig,
    add_scene_arguments,
    angle_difference,
    compute_rirs,
    mic_positions,
    place_source,
    sample_scene,
    scene_config_dict,
    scene_config_from_args,
)

logger = logging.getLogger(__name__)

KIND = "sepplug-rir-bank"
VERSION = 1
INFO_NAME = "info.json"
META_NAME = "meta.jsonl"
_MAX_REDRAWS = 100


# ---- drawing rooms and computing their RIRs ------------------------------------------------


def pair_kinds(azimuths: Sequence[float], min_sep_deg: float) -> tuple[int, int]:
    """(number of ordered position pairs < min_sep_deg apart, number >= min_sep_deg)."""
    az = np.asarray(azimuths, dtype=float)
    diff = np.abs(az[:, None] - az[None, :]) % 360.0
    diff = np.minimum(diff, 360.0 - diff)
    off = ~np.eye(len(az), dtype=bool)
    close = int(np.sum((diff < min_sep_deg) & off))
    return close, int(off.sum()) - close


def sample_room(rng: np.random.Generator, num_positions: int,
                config: SceneConfig) -> dict[str, Any]:
    """A room, its array and ``num_positions`` source positions (see the module doc).

    Returns:
        A scene dict as :func:`sepplug.simulate.room.sample_scene` returns (room, array,
        sources; no "angle"), plus "mic_positions" (3, C).
    """
    if num_positions < 3:
        raise DataError(f"positions_per_room must be >= 3 (a close and a wide pair), "
                        f"got {num_positions}")
    for _ in range(_MAX_REDRAWS):
        scene = sample_scene(rng, "hard", config)
        center, dims = np.array(scene["array"]["center"]), np.array(scene["room"]["dims"])
        sources = list(scene["sources"])
        while len(sources) < num_positions:
            anchor = rng.uniform(0.0, 360.0)
            sources.append(place_source(rng, center, dims, anchor, config))
            if len(sources) < num_positions:
                offset = rng.uniform(0.0, config.hard_max_angle) * rng.choice([-1.0, 1.0])
                sources.append(place_source(rng, center, dims, (anchor + offset) % 360.0,
                                             config))
        close, wide = pair_kinds([s["azimuth"] for s in sources], config.hard_max_angle)
        if close and wide:
            scene.pop("angle", None)
            scene["sources"] = sources
            scene["mic_positions"] = mic_positions(
                center, config.array_radius, config.num_mics).round(6).tolist()
            return scene
    raise DataError(f"could not draw a room with both close and wide position pairs in "
                    f"{_MAX_REDRAWS} tries")


def room_rirs(scene: dict[str, Any], fs: int) -> np.ndarray:
    """RIR of every source position of ``scene`` at every mic.

    The simulator's own RIRs (:func:`sepplug.simulate.room.compute_rirs`, which
    :func:`~sepplug.simulate.room.simulate_images` convolves with), so convolving a dry signal
    with these gives the simulator's image.

    Returns:
        (P, C, L) float32, zero-padded to the longest RIR of the room.
    """
    rirs = compute_rirs(scene, fs)  # rirs[mic][source]
    length = max(len(h) for per_mic in rirs for h in per_mic)
    out = np.zeros((len(scene["sources"]), len(rirs), length), dtype=np.float32)
    for m, per_mic in enumerate(rirs):
        for s, h in enumerate(per_mic):
            out[s, m, : len(h)] = h
    return out


def room_file(index: int) -> str:
    return f"rirs/room_{index:06d}.npy"


def render_rooms(
    tmp_dir: Path | str, fs: int, seed: int, n_rooms: int, positions: int,
    config: SceneConfig, job: int, nj: int, progress_position: int | None = None,
) -> None:
    """Job ``job`` of ``nj``: draw and store rooms ``job-1, job-1+nj, ...``.

    Room ``r`` depends only on ``(seed, r)``, so the bank is the same whatever ``nj``.
    Writes ``rirs/room_<r>.npy`` and ``meta.<job>.jsonl`` under ``tmp_dir``.
    """
    tmp_dir = Path(tmp_dir)
    lines = []
    for index in range(job - 1, n_rooms, nj):
        rng = np.random.default_rng([seed, 0x41B, index])
        scene = sample_room(rng, positions, config)
        rirs = room_rirs(scene, fs)
        np.save(tmp_dir / room_file(index), rirs)
        lines.append(json.dumps({
            "room": index, "file": room_file(index), "dims": scene["room"]["dims"],
            "absorption": scene["room"]["absorption"], "max_order": scene["room"]["max_order"],
            "array": scene["array"], "mic_positions": scene["mic_positions"],
            "sources": scene["sources"], "rir_length": int(rirs.shape[-1]),
        }) + "\n")
    (tmp_dir / f"meta.{job}.jsonl").write_text("".join(lines), encoding="utf-8")


def generate_rir_bank(
    out_dir: Path | str, fs: int = 8000, n_rooms: int = 200, positions_per_room: int = 8,
    seed: int = 0, nj: int = 1, config: SceneConfig | None = None,
) -> Path:
    """Write a bank (see the module doc) to ``out_dir``; a no-op when it is already there.

    Raises:
        DataError: bad options, or ``out_dir`` holds a bank made with other options.
    """
    out_dir = Path(out_dir).absolute()
    config = config or SceneConfig()
    if not 8000 <= fs <= 48000:
        raise DataError(f"--fs must be in [8000, 48000] Hz, got {fs}")
    if n_rooms < 1 or nj < 1:
        raise DataError(f"--n_rooms and --nj must be >= 1, got {n_rooms} and {nj}")
    if positions_per_room < 3:
        raise DataError(f"--positions_per_room must be >= 3, got {positions_per_room}")
    info = {"kind": KIND, "version": VERSION, "fs": fs, "num_mics": config.num_mics,
            "array_radius": config.array_radius, "n_rooms": n_rooms,
            "positions_per_room": positions_per_room, "max_order": config.max_order,
            "hard_max_angle": config.hard_max_angle, "seed": seed}
    marker_config = {**info, "scene": scene_config_dict(config)}
    if is_done(out_dir, marker_config):
        logger.info("RIR bank %s is complete: nothing to do", out_dir)
        return out_dir
    start = time.perf_counter()
    tmp = fresh_temp_dir(out_dir)
    try:
        (tmp / "rirs").mkdir()
        nj = min(nj, n_rooms)
        run_jobs(nj, render_rooms, [tmp, fs, seed, n_rooms, positions_per_room, config],
                 "sepplug.mixing.rir_bank", [], tmp / "log", "rir_bank", None)
        records = []
        for job in range(1, nj + 1):
            path = tmp / f"meta.{job}.jsonl"
            records += [json.loads(line) for line in path.read_text().splitlines()]
            path.unlink()
        records.sort(key=lambda r: r["room"])
        (tmp / META_NAME).write_text("".join(json.dumps(r) + "\n" for r in records),
                                     encoding="utf-8")
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        write_marker(tmp / DONE_NAME, marker_config)
        move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("RIR bank: %d rooms x %d positions x %d mics at %d Hz in %.1f s -> %s",
                n_rooms, positions_per_room, config.num_mics, fs,
                time.perf_counter() - start, out_dir)
    return out_dir


# ---- reading a bank --------------------------------------------------------------------------


@dataclass
class RirBank:
    """A loaded bank: metadata in memory, RIRs memory-mapped.

    Attributes:
        path: the bank dir.
        fs, num_mics: as stored in ``info.json``.
        rooms: the ``meta.jsonl`` records, by room index.
        azimuths: per room, the (P,) azimuths in degrees of its positions.
    """

    path: Path
    fs: int
    num_mics: int
    rooms: list[dict[str, Any]]
    azimuths: list[np.ndarray]
    _rirs: list[np.ndarray]

    @classmethod
    def load(cls, path: Path | str, fs: int | None = None,
             num_mics: int | None = None) -> RirBank:
        """Open and check a bank (headers of every RIR file are read, not the samples).

        Args:
            fs, num_mics: when given, the bank must have this sample rate / mic count.

        Raises:
            DataError: missing or incomplete bank, a corrupt file (named), another fs or
                mic count than requested.
        """
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"RIR bank {path} does not exist (make it with "
                            "python -m sepplug.mixing.rir_bank --out DIR ...)")
        for name in (INFO_NAME, META_NAME, DONE_NAME):
            if not (path / name).is_file():
                raise DataError(f"RIR bank {path}: {name} missing: not a complete bank "
                                "(regenerate it with python -m sepplug.mixing.rir_bank)")
        info = _read_json(path / INFO_NAME)
        if info.get("kind") != KIND or info.get("version") != VERSION:
            raise DataError(f"{path / INFO_NAME}: not a version-{VERSION} {KIND} "
                            f"(kind {info.get('kind')!r}, version {info.get('version')!r})")
        if fs is not None and info["fs"] != fs:
            raise DataError(f"{path / INFO_NAME}: RIR bank is at {info['fs']} Hz, "
                            f"the data at {fs} Hz")
        if num_mics is not None and info["num_mics"] != num_mics:
            raise DataError(f"{path / INFO_NAME}: RIR bank has {info['num_mics']} mics, "
                            f"the data {num_mics} channels")
        rooms = _read_meta(path / META_NAME, info["n_rooms"])
        rirs, azimuths = [], []
        for index, room in enumerate(rooms):
            file = path / room["file"]
            try:
                array = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"RIR bank room {index}: cannot read {file}: {exc}") from exc
            expected = (len(room["sources"]), info["num_mics"])
            if array.ndim != 3 or array.shape[:2] != expected or array.dtype.kind != "f":
                raise DataError(f"RIR bank room {index}: {file} holds {array.dtype} "
                                f"{array.shape}, expected float (P, C, L) with (P, C) = "
                                f"{expected}")
            rirs.append(array)
            azimuths.append(np.array([s["azimuth"] for s in room["sources"]], dtype=float))
        return cls(path, int(info["fs"]), int(info["num_mics"]), rooms, azimuths, rirs)

    def rirs(self, room: int, position: int) -> np.ndarray:
        """(C, L) float32 RIRs of one position of one room (a copy)."""
        return np.array(self._rirs[room][position], dtype=np.float32)

    def angle(self, room: int, pos_a: int, pos_b: int) -> float:
        """Angle in degrees between two positions of a room, seen from the array centre."""
        return angle_difference(self.azimuths[room][pos_a], self.azimuths[room][pos_b])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON: {exc}") from exc


def _read_meta(path: Path, n_rooms: int) -> list[dict[str, Any]]:
    rooms = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not JSON: {exc}") from exc
        missing = [k for k in ("room", "file", "sources") if k not in record]
        if missing or record["room"] != number - 1:
            raise DataError(f"{path}:{number}: expected room {number - 1} with keys room, "
                            f"file, sources (missing: {missing})")
        if any("azimuth" not in s for s in record["sources"]):
            raise DataError(f"{path}:{number}: a source has no azimuth")
        rooms.append(record)
    if len(rooms) != n_rooms:
        raise DataError(f"{path}: {len(rooms)} rooms, info.json says {n_rooms}")
    return rooms


# ---- CLI -----------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.mixing.rir_bank",
        description="Simulate a bank of multi-channel RIRs (rooms x source positions around "
        "the SpatialVCTK circular array) for on-the-fly spatial mixing (preprocessor "
        "spatial_dm). Deterministic in --seed whatever --nj; a finished bank is skipped.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, help="bank dir")
    parser.add_argument("--fs", type=int, default=8000, help="sample rate (Hz)")
    parser.add_argument("--n_rooms", type=int, default=200, help="rooms")
    parser.add_argument("--positions_per_room", type=int, default=8,
                        help="source positions per room (>= 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes")
    add_scene_arguments(parser, "close pairs are drawn less than this apart (degrees)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: generate_rir_bank(
        args.out, args.fs, args.n_rooms, args.positions_per_room, args.seed, args.nj,
        scene_config_from_args(args),
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
