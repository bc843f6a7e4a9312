"""On-the-fly spatial mixing (dynamic mixing for multi-channel data) as an ESPnet preprocessor.

In training, every sample the dataset loads is replaced by a fresh two-speaker mixture:
the sampling policy (:mod:`sepplug.mixing.sampling_policy`) draws a category, speakers,
utterances (from a dry source list, :mod:`sepplug.mixing.dry_sources`) and two positions of
one room of an RIR bank (:mod:`sepplug.mixing.rir_bank`), and
:func:`sepplug.mixing.spatial_mix.render_mixture` convolves and mixes them like the
simulator, optionally rotating the scene (the 6-mic circular array is rotation-symmetric:
rotating the channel order rotates the scene). Dev and test (``train=False``) pass through
unchanged: they stay the fixed simulated sets. ESPnet's stock ``dynamic_mixing``
preprocessor only remixes single-channel sources.

Outputs (T = ``segment`` s, or the loaded mixture's length when ``segment`` is None):
``speech_mix`` (T, C) (or (T,) at ``ref_channel`` when the loaded mixture is 1-channel);
``speech_ref1``, ``speech_ref2`` (T,) images at ``ref_channel`` — or (T, C) images at
every mic when ``multichannel_refs`` is true (None: follow the loaded refs' shape).

Category: ESPnet wants an integer ``utt2category``. With ``categories`` (the config's
list; default: the task's ``--categories``) the drawn category's id in it is written to
``utt2category``, numbered as ESPnet numbers that list (first occurrence, repeats
skipped); a category is looked up as ``easy`` or, as ESPnet's ``EnhPreprocessor`` names
it for C-channel mixtures, ``<C>ch_easy`` (C = the bank's mics). Without ``categories``,
a loaded ``category`` string (it describes the replaced mixture) is dropped. Outside
training the audio is untouched, and with ``categories`` a loaded ``category`` string is
turned into its ``utt2category`` id as ESPnet's ``EnhPreprocessor`` does (ESPnet refuses
strings); without ``categories`` the data is returned as it came.

Reproducibility: the generator of a mixture is seeded with
``(seed, epoch, visit, hash(uid))``. ESPnet does not tell a preprocessor the epoch, so
:func:`install_epoch_hook` (called by :meth:`SpatialDMPreprocessor.from_task_args`)
wraps ``SequenceIterFactory.build_iter(epoch)`` — which the trainer calls at the start of
every epoch, also under the chunk iterator — to call ``set_epoch(epoch)`` on the dataset's
preprocessor before the epoch's DataLoader exists. The epoch therefore reaches DataLoader
workers too (they are made anew for every epoch from the main process's object, so a
counter kept in a worker would restart every epoch), and a resumed run remixes exactly
what an uninterrupted one would. ``visit`` counts the uid's visits within the epoch in
this process (a uid can repeat within an epoch with ``num_iters_per_epoch``; with
workers the count is per worker, still deterministic for a fixed ``num_workers``).
Without ``set_epoch`` (the class used outside ESPnet's iterators) the epoch is the
uid's visit count, 1, 2, ...
Under DDP (more than one process), the process's rank is appended to the seed
(:meth:`SpatialDMPreprocessor.set_rank`, called by ``from_task_args``;
:mod:`sepplug.train.distributed`): ranks draw different mixtures even for a uid that two of
them visit, each reproducibly; a single process draws exactly as without it.

YAML::

    preprocessor: spatial_dm
    preprocessor_conf:
        rir_bank: dump/rir_bank           # python -m sepplug.mixing.rir_bank --out ...
        source_scp: data/dry_train/wav.scp  # python -m sepplug.mixing.dry_sources ...
        subset_probs: {easy: 0.4, hard: 0.05, both: 0.55}
        category_weights: {hard: 4.0}     # optional: oracle re-weighting
        pair_weights: {"p001,p002": 3.0}  # optional: hard-sample mining hook
        rotate: true
        seed: 0
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from espnet2.train.preprocessor import AbsPreprocessor

from sepplug.datadir.categories import category_id, category_ids
from sepplug.errors import DataError
from sepplug.mixing.dry_sources import DryAudio, load_source_list
from sepplug.mixing.rir_bank import RirBank
from sepplug.mixing.sampling_policy import (
    CATEGORIES,
    DEFAULT_SUBSET_PROBS,
    Draw,
    PairWeights,
    SamplingPolicy,
)
from sepplug.mixing.spatial_mix import MixParams, draw_mix_params, render_mixture
from sepplug.train.distributed import rank_and_world_size, rank_seed_words

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpatialMixture:
    """One rendered mixture and everything drawn for it."""

    draw: Draw
    params: MixParams
    mix: np.ndarray  # (T, C) float32
    images: np.ndarray  # (2, T, C) float32, mix == images.sum(0)


class SpatialDMPreprocessor(AbsPreprocessor):
    """Replace training samples by fresh spatial mixtures (see the module doc).

    Args:
        train: ESPnet passes True for the training set only; otherwise the audio passes
            through (and nothing is loaded).
        rir_bank: bank dir.
        source_scp, source_utt2spk: the dry source list (utt2spk default: beside it).
        speakers: keep only these speakers of the list (list or ``*.spk`` file).
        subset_probs, category_weights, pair_weights, min_sep_deg: the sampling policy.
        segment: mixture length in s; None = the loaded mixture's length.
        max_sir: the dry levels differ by up to this many dB (as the simulator).
        rotate: rotate each scene by a random number of mic steps.
        ref_channel: mic of the single-channel references.
        num_spk: must be 2.
        multichannel_refs: (T, C) references; None = like the loaded ones.
        categories: the config's category names; the category's id in it goes to
            ``utt2category`` (None: no category; see the module doc).
        fs: when given, the bank must be at this rate.
        seed: seed of every draw.
        cache_audio: keep loaded dry utterances in memory.
    """

    def __init__(
        self,
        train: bool,
        rir_bank: str,
        source_scp: str,
        source_utt2spk: str | None = None,
        speakers: str | Sequence[str] | None = None,
        subset_probs: Mapping[str, float] | None = None,
        category_weights: Mapping[str, float] | None = None,
        pair_weights: PairWeights = None,
        min_sep_deg: float = 20.0,
        segment: float | None = None,
        max_sir: float = 5.0,
        rotate: bool = True,
        ref_channel: int = 0,
        num_spk: int = 2,
        multichannel_refs: bool | None = None,
        categories: Sequence[str] | None = None,
        fs: int | None = None,
        seed: int = 0,
        cache_audio: bool = True,
        speech_name: str = "speech_mix",
        speech_ref_name_prefix: str = "speech_ref",
    ) -> None:
        super().__init__(train)
        if num_spk != 2:
            raise ValueError(f"spatial_dm preprocessor: num_spk must be 2, got {num_spk}")
        if max_sir < 0 or (segment is not None and segment <= 0):
            raise ValueError(f"spatial_dm preprocessor: need max_sir >= 0 and segment > 0, "
                             f"got {max_sir} and {segment}")
        self.seed, self.max_sir, self.rotate = int(seed), float(max_sir), bool(rotate)
        self.segment, self.ref_channel = segment, int(ref_channel)
        self.multichannel_refs = multichannel_refs
        self.speech_name, self.ref_prefix = speech_name, speech_ref_name_prefix
        self.categories = list(categories) if categories else None
        self._ids = category_ids(self.categories or [])  # ESPnet's numbering
        self.epoch: int | None = None
        self._visits: Counter[str] = Counter()
        self._dropped_category = False
        self.rank_seed: tuple[int, ...] = ()  # set_rank: empty for one process
        if not train:
            return  # dev/test pass through: load nothing
        self.policy = SamplingPolicy(subset_probs or DEFAULT_SUBSET_PROBS, category_weights,
                                     pair_weights, min_sep_deg)
        self.bank = RirBank.load(rir_bank, fs=fs)
        if self.categories is not None:  # every category the policy draws needs an id
            for category in self.policy.active:
                self._category_id(category, self.bank.num_mics)
        if not 0 <= self.ref_channel < self.bank.num_mics:
            raise ValueError(f"spatial_dm preprocessor: ref_channel {ref_channel} is not a "
                             f"mic of the {self.bank.num_mics}-mic bank")
        spk2utt, utt2path = load_source_list(source_scp, source_utt2spk, speakers)
        self.policy.bind(spk2utt, self.bank.azimuths, speakers_source=str(source_scp),
                         bank_source=str(self.bank.path))
        self.audio = DryAudio(utt2path, self.bank.fs, cache=cache_audio)
        self.num_samples = None if segment is None else int(round(segment * self.bank.fs))

    def _category_id(self, category: str, channels: int) -> int:
        """Integer id of ``category`` (or ``<channels>ch_<category>``) in ``categories``."""
        try:
            return category_id(category, self._ids, channels)
        except KeyError as exc:
            raise ValueError(f"spatial_dm preprocessor: {exc.args[0]}") from None

    @classmethod
    def from_task_args(cls, args: argparse.Namespace, train: bool) -> SpatialDMPreprocessor:
        """Build from ESPnet's task args: ``preprocessor_conf``, plus ``num_spk`` from the
        separator and ``categories`` from ``--categories`` unless given; installs the
        epoch hook."""
        conf = dict(getattr(args, "preprocessor_conf", None) or {})
        for key in ("rir_bank", "source_scp"):
            if key not in conf:
                raise ValueError(f"spatial_dm preprocessor: preprocessor_conf.{key} is required")
        conf.setdefault("num_spk", (getattr(args, "separator_conf", None) or {}).get("num_spk", 2))
        if "categories" not in conf and getattr(args, "categories", None):
            conf["categories"] = list(args.categories)
        install_epoch_hook()
        preprocessor = cls(train=train, **conf)
        preprocessor.set_rank(*rank_and_world_size(args))
        return preprocessor

    def set_rank(self, rank: int, world_size: int) -> None:
        """Mix the DDP rank into every draw's seed when ``world_size`` > 1 (module doc)."""
        self.rank_seed = rank_seed_words(rank, world_size)

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch (see the module doc); resets the visit counts."""
        if epoch != self.epoch:
            self.epoch, self._visits = int(epoch), Counter()

    def _generator(self, uid: str, epoch: int, visit: int) -> np.random.Generator:
        digest = hashlib.blake2b(uid.encode("utf-8"), digest_size=8).digest()
        return np.random.default_rng([self.seed, epoch, visit, int.from_bytes(digest, "little"),
                                      *self.rank_seed])

    def mixture(self, uid: str, epoch: int, visit: int = 0,
                num_samples: int | None = None) -> SpatialMixture:
        """The mixture of ``uid`` at ``(epoch, visit)``: a pure function of its arguments
        and the configuration.

        Args:
            num_samples: segment length (default: ``segment``).
        """
        num_samples = num_samples or self.num_samples
        if not num_samples:
            raise ValueError("spatial_dm preprocessor: no segment length")
        rng = self._generator(uid, epoch, visit)
        draw = self.policy.draw(rng)
        params = draw_mix_params(rng, self.max_sir, self.bank.num_mics, self.rotate)
        mix, images = render_mixture(
            (self.audio(draw.utt_a), self.audio(draw.utt_b)),
            (self.bank.rirs(draw.room, draw.pos_a), self.bank.rirs(draw.room, draw.pos_b)),
            num_samples, params, (draw.utt_a, draw.utt_b))
        return SpatialMixture(draw, params, mix, images)

    def __call__(self, uid: str, data: dict[str, Any]) -> dict[str, Any]:
        if not self.train:  # audio untouched; a category string gets its id, as ESPnet's
            if self.categories is not None and isinstance(data.get("category"), str):
                data = dict(data)
                mix = np.asarray(data[self.speech_name])
                channels = mix.shape[1] if mix.ndim == 2 else 1
                data["utt2category"] = np.array(
                    [self._category_id(data.pop("category"), channels)])
            return data
        visit = self._visits[uid]
        self._visits[uid] += 1
        epoch, visit = (visit + 1, 0) if self.epoch is None else (self.epoch, visit)
        loaded = np.asarray(data[self.speech_name])
        if loaded.ndim == 2 and loaded.shape[1] != self.bank.num_mics:
            raise DataError(f"spatial_dm preprocessor: {uid}: {self.speech_name} has "
                            f"{loaded.shape[1]} channels, the RIR bank {self.bank.path} "
                            f"{self.bank.num_mics} mics")
        out = self.mixture(uid, epoch, visit, self.num_samples or loaded.shape[0])
        logger.debug("spatial_dm: %s epoch %d visit %d: %s rotation %d", uid, epoch, visit,
                     out.draw, out.params.rotation)
        data = dict(data)
        data[self.speech_name] = out.mix if loaded.ndim == 2 else out.mix[:, self.ref_channel]
        for i in range(2):
            name = f"{self.ref_prefix}{i + 1}"
            multi = self.multichannel_refs
            if multi is None:
                multi = name in data and np.asarray(data[name]).ndim == 2
            data[name] = out.images[i] if multi else out.images[i][:, self.ref_channel]
        self._set_category(data, out.draw.category)
        return data

    def _set_category(self, data: dict[str, Any], category: str) -> None:
        if self.categories is not None:
            data.pop("category", None)
            data["utt2category"] = np.array([self._category_id(category, self.bank.num_mics)])
        elif data.pop("category", None) is not None and not self._dropped_category:
            self._dropped_category = True
            logger.warning("spatial_dm: the loaded 'category' describes the replaced "
                           "mixture: dropped (set preprocessor_conf.categories, e.g. %s, to "
                           "get the drawn category as utt2category)", list(CATEGORIES))


def install_epoch_hook() -> None:
    """Make ESPnet's ``SequenceIterFactory.build_iter(epoch, ...)`` call
    ``set_epoch(epoch)`` on its dataset's preprocessor when that defines it (idempotent;
    preprocessors without ``set_epoch`` are unaffected)."""
    from espnet2.iterators.sequence_iter_factory import SequenceIterFactory

    original = SequenceIterFactory.build_iter
    if getattr(original, "_sepplug_epoch_hook", False):
        return

    @functools.wraps(original)
    def build_iter(self, epoch: int, shuffle: bool | None = None):
        preprocess = getattr(getattr(self, "dataset", None), "preprocess", None)
        if hasattr(preprocess, "set_epoch"):
            preprocess.set_epoch(epoch)
        return original(self, epoch, shuffle)

    build_iter._sepplug_epoch_hook = True
    SequenceIterFactory.build_iter = build_iter
