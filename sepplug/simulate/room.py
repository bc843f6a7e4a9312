"""Scene geometry of SpatialVCTK and its room simulation (pyroomacoustics, image sources).

Follows the Cone of Silence generator: a circular array (6 mics, radius 7.25 cm by
default) in a room with random absorption, two point sources 1-5 m from the array at
the array's height, image-source method of order ~10 without ray tracing. Here rooms
are 3-D shoeboxes. The angle between the sources, seen from the array centre, decides
the subset: D_hard < 20° <= D_both (D_easy: the same speaker twice, also >= 20°, so
the spatial cue separates them).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sepplug.errors import DataError

MAX_ORDER_CAP = 17  # higher orders cost seconds per mixture for no audible change


@dataclass(frozen=True)
class SceneConfig:
    """Ranges the scenes are drawn from (uniform distributions)."""

    num_mics: int = 6
    array_radius: float = 0.0725  # m
    room_xy: tuple[float, float] = (6.0, 10.0)  # m, length and width
    room_z: tuple[float, float] = (2.5, 4.0)  # m, height
    array_z: tuple[float, float] = (1.2, 1.8)  # m, array (and source) height
    absorption: tuple[float, float] = (0.1, 0.99)  # energy absorption of the walls
    source_distance: tuple[float, float] = (1.0, 5.0)  # m from the array centre
    wall_margin: float = 0.5  # m between a source and the walls
    max_order: int = 10
    hard_max_angle: float = 20.0  # degrees: D_hard below, D_both/D_easy at or above

    def __post_init__(self) -> None:
        if not 0 <= self.max_order <= MAX_ORDER_CAP:
            raise ValueError(f"max_order must be in [0, {MAX_ORDER_CAP}], got {self.max_order}")
        if self.num_mics < 1 or self.array_radius < 0:
            raise ValueError("need num_mics >= 1 and array_radius >= 0")
        if not 0 < self.hard_max_angle < 180:
            raise ValueError(f"hard_max_angle must be in (0, 180), got {self.hard_max_angle}")
        lo, hi = self.source_distance
        if not 0 < lo <= hi:
            raise ValueError(f"bad source_distance range {self.source_distance}")
        if self.room_xy[0] < 2 * (lo + self.wall_margin) + 0.1:
            raise ValueError("rooms too small for the minimum source distance plus wall margin")


def add_scene_arguments(parser: argparse.ArgumentParser, hard_help: str) -> None:
    """The array and room options of every command line that simulates rooms."""
    parser.add_argument("--num_mics", type=int, default=6, help="mics of the circular array")
    parser.add_argument("--array_radius", type=float, default=0.0725, help="array radius (m)")
    parser.add_argument("--max_order", type=int, default=10, help="image-source order (<= 17)")
    parser.add_argument("--hard_max_angle", type=float, default=20.0, help=hard_help)


def scene_config_from_args(args: argparse.Namespace) -> SceneConfig:
    """The :class:`SceneConfig` of :func:`add_scene_arguments`' options.

    Raises:
        DataError: an option out of range (the message says which).
    """
    try:
        return SceneConfig(num_mics=args.num_mics, array_radius=args.array_radius,
                           max_order=args.max_order, hard_max_angle=args.hard_max_angle)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def angle_difference(azimuth_a: float, azimuth_b: float) -> float:
    """Smallest angle between two directions, degrees in [0, 180]."""
    diff = abs(azimuth_a - azimuth_b) % 360.0
    return min(diff, 360.0 - diff)


def azimuth(position: np.ndarray, center: np.ndarray) -> float:
    """Direction of ``position`` seen from ``center`` in the horizontal plane, degrees [0, 360)."""
    return math.degrees(math.atan2(position[1] - center[1], position[0] - center[0])) % 360.0


def mic_positions(center: np.ndarray, radius: float, num_mics: int) -> np.ndarray:
    """Circular array in the horizontal plane, mic 0 on the +x axis.

    Returns:
        (3, num_mics) positions in m.
    """
    phi = 2 * np.pi * np.arange(num_mics) / num_mics
    return np.stack([
        center[0] + radius * np.cos(phi),
        center[1] + radius * np.sin(phi),
        np.full(num_mics, center[2]),
    ])


def _distance_to_wall(center: np.ndarray, dims: np.ndarray, direction_deg: float) -> float:
    """Distance from ``center`` to the room's walls along a horizontal direction."""
    ux, uy = math.cos(math.radians(direction_deg)), math.sin(math.radians(direction_deg))
    hits = []
    for u, c, size in ((ux, center[0], dims[0]), (uy, center[1], dims[1])):
        if abs(u) > 1e-12:
            hits.append(((size - c) if u > 0 else -c) / u)
    return min(hits)


def place_source(rng: np.random.Generator, center: np.ndarray, dims: np.ndarray,
                 direction: float, config: SceneConfig) -> dict[str, Any]:
    """A source in ``direction`` (degrees) at U(lo, min(hi, room limit)) m from ``center``.

    Returns:
        {position, azimuth, distance}, JSON-able.
    """
    lo, hi = config.source_distance
    reach = _distance_to_wall(center, dims, direction) - config.wall_margin
    distance = rng.uniform(lo, max(lo, min(hi, reach)))
    rad = math.radians(direction)
    position = center + distance * np.array([math.cos(rad), math.sin(rad), 0.0])
    return {"position": position.round(6).tolist(),
            "azimuth": round(azimuth(position, center), 4),
            "distance": round(float(distance), 6)}


def sample_scene(rng: np.random.Generator, category: str, config: SceneConfig) -> dict[str, Any]:
    """Draw a room, the array and two source positions for subset ``category``.

    The angle between the sources is U(0, hard_max_angle) for "hard" and
    U(hard_max_angle, 180) for "easy"/"both". Each distance is U(lo, min(hi, room limit)).

    Returns:
        A JSON-able dict: room (dims, absorption, max_order), array (center, radius,
        num_mics), sources [{position, azimuth, distance}], angle (degrees).
    """
    lo, hi = config.source_distance
    margin = lo + config.wall_margin
    dims = np.array([rng.uniform(*config.room_xy), rng.uniform(*config.room_xy),
                     rng.uniform(*config.room_z)])
    center = np.array([
        rng.uniform(margin, dims[0] - margin),
        rng.uniform(margin, dims[1] - margin),
        min(rng.uniform(*config.array_z), dims[2] - 0.3),
    ])
    first = rng.uniform(0.0, 360.0)
    if category == "hard":
        diff = rng.uniform(0.0, config.hard_max_angle)
    else:
        diff = rng.uniform(config.hard_max_angle, 180.0)
    directions = [first, (first + diff * rng.choice([-1.0, 1.0])) % 360.0]
    sources = [place_source(rng, center, dims, direction, config) for direction in directions]
    angle = angle_difference(sources[0]["azimuth"], sources[1]["azimuth"])
    # rounding to 4 decimals may push an angle drawn next to the threshold across it
    if (angle < config.hard_max_angle) != (category == "hard"):
        return sample_scene(rng, category, config)
    return {
        "room": {"dims": dims.round(6).tolist(),
                 "absorption": round(float(rng.uniform(*config.absorption)), 6),
                 "max_order": config.max_order},
        "array": {"center": center.round(6).tolist(), "radius": config.array_radius,
                  "num_mics": config.num_mics},
        "sources": sources,
        "angle": round(angle, 4),
    }


def simulate_images(scene: dict[str, Any], signals: np.ndarray, fs: int) -> np.ndarray:
    """Image of each source, simulated alone, at every mic.

    Args:
        scene: from :func:`sample_scene`.
        signals: (S, T) dry source signals.

    Returns:
        (S, M, T) images, cut to the input length (the reverberant tail beyond T is dropped).
    """
    if signals.shape[0] != len(scene["sources"]):
        raise ValueError(f"{signals.shape[0]} signals for {len(scene['sources'])} sources")
    return convolve_rirs(signals, compute_rirs(scene, fs))


def compute_rirs(scene: dict[str, Any], fs: int) -> list[list[np.ndarray]]:
    """RIRs of every source of ``scene`` at every mic: ``rirs[mic][source]`` (1-D, varying
    lengths). ShoeBox, one absorption for all walls, image sources, no air absorption, no
    ray tracing."""
    import pyroomacoustics as pra

    # pyroomacoustics ignores OMP_NUM_THREADS; this constant (PRA_NUM_THREADS at import)
    # sets its RIR builder's threads. One per job: jobs are the parallelism.
    pra.constants.set("num_threads", 1)
    room_spec, array = scene["room"], scene["array"]
    room = pra.ShoeBox(
        room_spec["dims"], fs=fs, materials=pra.Material(room_spec["absorption"]),
        max_order=room_spec["max_order"], air_absorption=False, ray_tracing=False,
    )
    for source in scene["sources"]:
        room.add_source(source["position"])
    room.add_microphone_array(
        mic_positions(np.array(array["center"]), array["radius"], array["num_mics"])
    )
    room.compute_rir()
    return room.rir


def convolve_rirs(signals: np.ndarray, rirs: list[list[np.ndarray]]) -> np.ndarray:
    """Full convolution of each source with its RIR at every mic, cut to the input length.

    What ``Room.simulate(return_premix=True)`` computes, with one FFT per source signal
    shared by all mics instead of one ``fftconvolve`` per (source, mic) pair.

    Args:
        signals: (S, T) dry signals.
        rirs: rirs[m][s], 1-D impulse responses of varying lengths.

    Returns:
        (S, M, T) images.
    """
    from scipy import fft

    num_sources, num_samples = signals.shape
    images = np.empty((num_sources, len(rirs), num_samples))
    for s in range(num_sources):
        length = max(len(rirs[m][s]) for m in range(len(rirs)))
        stacked = np.zeros((len(rirs), length))
        for m in range(len(rirs)):
            stacked[m, : len(rirs[m][s])] = rirs[m][s]
        size = fft.next_fast_len(num_samples + length - 1, real=True)
        spectrum = fft.rfft(signals[s], size) * fft.rfft(stacked, size, axis=1)
        images[s] = fft.irfft(spectrum, size, axis=1)[:, :num_samples]
    return images


def scene_config_dict(config: SceneConfig) -> dict[str, Any]:
    return asdict(config)
