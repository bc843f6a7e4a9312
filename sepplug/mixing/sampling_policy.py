"""Sampling policy of on-the-fly spatial mixing: which speakers, utterances, room and positions.

Each draw picks a subset (category) and then a mixture that obeys the SpatialVCTK
subsets' rules (the FEABASE paper's, which the recipe's offline simulator follows too):

* ``easy``: one speaker, two different utterances, two positions >= ``min_sep_deg`` apart;
* ``hard``: two different speakers, positions < ``min_sep_deg`` apart;
* ``both``: two different speakers, positions >= ``min_sep_deg`` apart.

Both positions come from the same room of the RIR bank (:mod:`sepplug.mixing.rir_bank`).

Probabilities:

* category ``c`` with probability ∝ ``subset_probs[c] * category_weights[c]``
  (``subset_probs`` is the data mix, e.g. the simulator's 40/5/55 %;
  ``category_weights`` the oracle re-weighting baseline, e.g. ``{hard: 4}``);
* the speaker pair within the category ∝ ``pair_weights[a, b]`` (default 1; ``[s, s]``
  weighs speaker ``s`` in ``easy``) — the hook for hard-sample mining, which can replace
  the weights during training with :meth:`SamplingPolicy.set_pair_weights`;
* utterances uniform within a speaker; room uniform among the rooms; position pair
  uniform among the room's ordered pairs that satisfy the category's angle rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sepplug.datadir.categories import SUBSETS
from sepplug.errors import DataError

CATEGORIES = SUBSETS  # easy, hard, both: the simulator's subsets
#: subset shares of a training draw when a config gives none: the FEABASE paper's D
#: (40 % easy, 55 % both, 5 % hard); the SpatialVCTK simulator's training set uses them too
DEFAULT_SUBSET_PROBS = {"easy": 0.40, "both": 0.55, "hard": 0.05}
PairWeights = Mapping[Any, float] | np.ndarray | None


@dataclass(frozen=True)
class Draw:
    """One mixture's choices: source a and b (speaker, utterance, bank position)."""

    category: str
    spk_a: str
    utt_a: str
    spk_b: str
    utt_b: str
    room: int
    pos_a: int
    pos_b: int
    angle: float  # degrees between the two positions, seen from the array centre


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, dtype=float)
    return cum / cum[-1]


def _pick(rng: np.random.Generator, cum: np.ndarray) -> int:
    return min(int(np.searchsorted(cum, rng.random(), side="right")), len(cum) - 1)


class SamplingPolicy:
    """Draws :class:`Draw` s with a ``numpy.random.Generator`` (see the module doc).

    Args:
        subset_probs: {"easy", "hard", "both"} -> probability (missing = 0; sum 1).
        category_weights: category -> weight >= 0 multiplying its probability
            (then renormalised); None = all 1.
        pair_weights: speaker pair -> weight >= 0 (see :meth:`set_pair_weights`).
        min_sep_deg: the angle separating ``hard`` from ``easy``/``both``.

    Call :meth:`bind` with the speakers and the bank's azimuths before :meth:`draw`.
    """

    def __init__(
        self,
        subset_probs: Mapping[str, float],
        category_weights: Mapping[str, float] | None = None,
        pair_weights: PairWeights = None,
        min_sep_deg: float = 20.0,
    ) -> None:
        probs = _category_table(subset_probs, "subset_probs", default=0.0)
        total = sum(probs.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"subset_probs must sum to 1, got {total:.6g} ({dict(probs)})")
        weights = _category_table(category_weights or {}, "category_weights", default=1.0)
        effective = np.array([probs[c] * weights[c] for c in CATEGORIES])
        if effective.sum() <= 0:
            raise ValueError("subset_probs x category_weights leave no category with a "
                             "probability > 0")
        if not 0.0 < min_sep_deg < 180.0:
            raise ValueError(f"min_sep_deg must be in (0, 180), got {min_sep_deg}")
        self.category_probs = effective / effective.sum()
        self._category_cum = _cumulative(self.category_probs)
        self.min_sep_deg = float(min_sep_deg)
        self._pair_weights_spec = pair_weights
        self.speakers: list[str] = []

    @property
    def active(self) -> tuple[str, ...]:
        """Categories with a probability > 0."""
        return tuple(c for c, p in zip(CATEGORIES, self.category_probs, strict=True) if p > 0)

    def bind(
        self, spk2utt: Mapping[str, Sequence[str]], room_azimuths: Sequence[Sequence[float]],
        speakers_source: str = "speaker list", bank_source: str = "RIR bank",
    ) -> SamplingPolicy:
        """Attach the speakers and the bank; check every active category can be drawn.

        Args:
            spk2utt: speaker -> its utterance ids.
            room_azimuths: per room, the azimuths (degrees) of its positions.
            speakers_source, bank_source: names used in error messages (file paths).

        Raises:
            DataError: no speakers, a speaker without utterances, a speaker with < 2
                utterances while ``easy`` is active, < 2 speakers for ``hard``/``both``,
                a room without a position pair for an active category, bad pair weights.
        """
        self.speakers = sorted(spk2utt)
        self.utts = [sorted(set(spk2utt[s])) for s in self.speakers]
        self._check_speakers(speakers_source)
        self._rooms = {c: [] for c in CATEGORIES}
        for index, azimuths in enumerate(room_azimuths):
            for category in CATEGORIES:
                pairs = self._position_pairs(azimuths, category)
                if category in self.active and not len(pairs):
                    raise DataError(
                        f"{bank_source}: room {index} has no position pair "
                        f"{'<' if category == 'hard' else '>='} {self.min_sep_deg:g}° apart, "
                        f"needed for category {category} (azimuths {list(azimuths)})")
                self._rooms[category].append(pairs)
        if not len(room_azimuths):
            raise DataError(f"{bank_source}: no rooms")
        self._azimuths = [np.asarray(a, dtype=float) for a in room_azimuths]
        self.set_pair_weights(self._pair_weights_spec)
        return self

    def _check_speakers(self, source: str) -> None:
        if not self.speakers:
            raise DataError(f"{source}: no speakers")
        for spk, utts in zip(self.speakers, self.utts, strict=True):
            if not utts:
                raise DataError(f"{source}: speaker {spk} has no utterances")
            if "easy" in self.active and len(utts) < 2:
                raise DataError(
                    f"{source}: speaker {spk} has {len(utts)} utterance(s); category "
                    f"easy needs >= 2 per speaker (drop the speaker or set easy to 0)")
        if {"hard", "both"} & set(self.active) and len(self.speakers) < 2:
            raise DataError(f"{source}: categories hard/both need >= 2 speakers, there is "
                            f"{len(self.speakers)}")

    def _position_pairs(self, azimuths: Sequence[float], category: str) -> np.ndarray:
        """(N, 2) ordered position pairs of a room that satisfy ``category``'s angle rule."""
        az = np.asarray(azimuths, dtype=float)
        diff = np.abs(az[:, None] - az[None, :]) % 360.0
        diff = np.minimum(diff, 360.0 - diff)
        ok = diff < self.min_sep_deg if category == "hard" else diff >= self.min_sep_deg
        np.fill_diagonal(ok, False)
        return np.argwhere(ok)

    def set_pair_weights(self, pair_weights: PairWeights) -> None:
        """Replace the speaker-pair weights (the hook for hard-sample mining).

        Args:
            pair_weights: None (all 1); a mapping from ``(spk_a, spk_b)`` tuples or
                ``"spk_a,spk_b"`` strings to weights (symmetric; pairs not named keep 1;
                ``(s, s)`` weighs speaker ``s`` in ``easy``); or an (S, S) array over
                :attr:`speakers` (sorted).

        Raises:
            DataError: an unknown speaker (the key is named), a negative or non-finite
                weight, a wrong array shape, or an active category whose weights are all 0.
        """
        if not self.speakers:
            raise RuntimeError("SamplingPolicy.bind() first")
        num = len(self.speakers)
        if pair_weights is None:
            matrix = np.ones((num, num))
        elif isinstance(pair_weights, np.ndarray):
            matrix = np.asarray(pair_weights, dtype=float)
            if matrix.shape != (num, num):
                raise DataError(f"pair_weights: array of shape {matrix.shape}, expected "
                                f"({num}, {num}) over the sorted speakers")
            matrix = (matrix + matrix.T) / 2
        else:
            matrix = np.ones((num, num))
            index = {s: i for i, s in enumerate(self.speakers)}
            for key, value in pair_weights.items():
                names = key.split(",") if isinstance(key, str) else list(key)
                names = [str(n).strip() for n in names]
                unknown = [n for n in names if n not in index]
                if len(names) != 2 or unknown:
                    raise DataError(f"pair_weights: bad key {key!r}: expected two speakers "
                                    f"of the speaker list (unknown: {unknown})")
                i, j = index[names[0]], index[names[1]]
                matrix[i, j] = matrix[j, i] = float(value)
        if not np.all(np.isfinite(matrix)) or (matrix < 0).any():
            raise DataError("pair_weights must be finite and >= 0")
        self._easy_speakers = np.arange(num)
        self._pairs = np.stack(np.triu_indices(num, 1), axis=1)
        easy_w, pair_w = np.diag(matrix).copy(), matrix[self._pairs[:, 0], self._pairs[:, 1]]
        if "easy" in self.active and easy_w.sum() <= 0:
            raise DataError("pair_weights: every same-speaker weight is 0 but easy is active")
        if {"hard", "both"} & set(self.active) and pair_w.sum() <= 0:
            raise DataError("pair_weights: every two-speaker weight is 0 but hard/both is "
                            "active")
        self.pair_weights = matrix
        self._easy_cum = _cumulative(easy_w) if easy_w.sum() > 0 else None
        self._pair_cum = _cumulative(pair_w) if len(pair_w) and pair_w.sum() > 0 else None

    def draw(self, rng: np.random.Generator) -> Draw:
        """One mixture's choices."""
        if not self.speakers:
            raise RuntimeError("SamplingPolicy.bind() first")
        category = CATEGORIES[_pick(rng, self._category_cum)]
        if category == "easy":
            a = b = int(self._easy_speakers[_pick(rng, self._easy_cum)])
            ua, ub = rng.choice(len(self.utts[a]), 2, replace=False)
        else:
            a, b = (int(k) for k in self._pairs[_pick(rng, self._pair_cum)])
            if rng.random() < 0.5:
                a, b = b, a
            ua, ub = rng.integers(len(self.utts[a])), rng.integers(len(self.utts[b]))
        room = int(rng.integers(len(self._azimuths)))
        pairs = self._rooms[category][room]
        pos_a, pos_b = (int(p) for p in pairs[rng.integers(len(pairs))])
        diff = abs(self._azimuths[room][pos_a] - self._azimuths[room][pos_b]) % 360.0
        return Draw(category, self.speakers[a], self.utts[a][int(ua)], self.speakers[b],
                    self.utts[b][int(ub)], room, pos_a, pos_b, float(min(diff, 360.0 - diff)))


def _category_table(table: Mapping[str, float], name: str, default: float) -> dict[str, float]:
    unknown = sorted(set(table) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"{name}: unknown categories {unknown} (known: {list(CATEGORIES)})")
    out = {c: float(table.get(c, default)) for c in CATEGORIES}
    bad = {c: v for c, v in out.items() if not (math.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"{name}: values must be finite and >= 0, got {bad}")
    return out
