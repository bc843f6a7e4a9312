"""FEABASE augmentation: swap a share ``p`` of training samples for feature-suppressed ones.

FEABASE (feature balancing by suppressing the easy feature) trains a CycleGAN
that makes the two sources of a D_both mixture seem to come from one direction
(``sepplug.augment``; recipe stage 3) and transforms the training set's D_both
source images with it (``sepplug.bin.fs_apply``; stage 4, cached in ``fs_dir``).
During separator training this preprocessor replaces a sample by its transformed
version — mixture re-summed from the transformed sources, references = the
transformed sources at the reference mic — so that the separator must use the
timbre cue on those samples. Validation and inference are untouched: outside training
``fs_dir`` is not read (a model separates after its training data is gone).

Category inputs: ESPnet's own ``enh.sh`` adds ``utt2category`` (a string per utterance)
to the training inputs when the data dirs have it. Like ESPnet's ``EnhPreprocessor``, this
preprocessor then maps it to an integer ``utt2category`` through ``categories`` (the
config's top-level ``categories:`` list, see :mod:`sepplug.datadir.categories`); a swapped
sample gets the category ``fs``. ``fs`` (``utt2fs``) inputs become ``utt2fs`` as in ESPnet.

``p`` is the share of *all* training samples that are augmented, as in the paper
("p % of the training data undergoes augmentation"). Only utterances with a
cached transform can be swapped, so each of them is swapped with probability
``min(1, p / eligible_share)``; ``eligible_share`` is computed from the training
list when the task builds the preprocessor (``from_task_args``).

Under DDP (more than one process) the swap decisions' generator is seeded with
``[seed, <rank words>]`` (:meth:`FeabasePreprocessor.set_rank`;
:mod:`sepplug.train.distributed`), so ranks do not repeat each other's decisions; a single
process draws exactly as with ``seed`` alone. In DataLoader workers (``num_workers > 0``,
forked anew every epoch with a copy of the main process's generator) each worker draws from
a generator of its own seeded with ``(seed, rank, epoch, worker id)``: the workers do not
repeat each other's decisions, nor one epoch the last one's (``num_workers: 0`` draws as
before).

YAML::

    preprocessor: feabase
    preprocessor_conf:
        fs_dir: dump/raw/train_fs   # fs_apply output: wav.scp, spk1.scp, spk2.scp
        p: 0.3
    categories: [6ch_easy, 6ch_hard, 6ch_both, 6ch_fs]   # read from the task args
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch.utils.data
from espnet2.train.preprocessor import AbsPreprocessor

from sepplug.datadir.categories import FS_CATEGORY, category_id, category_ids
from sepplug.datadir.kaldi_dir import read_table
from sepplug.enh.preprocessor.spatial_dm import install_epoch_hook
from sepplug.train.distributed import rank_and_world_size, rank_seed_words

logger = logging.getLogger(__name__)

FS_SUFFIX = "_fs"
#: a fixed seed word before a DataLoader worker's epoch and id (see ``_decisions``)
WORKER_TAG = 0x574B5252  # "WKRR"


class FeabasePreprocessor(AbsPreprocessor):
    """Replace training samples by their feature-suppressed version with probability ``rate``.

    Args:
        train: ESPnet passes True for the training set only; otherwise no swap (only the
            ``category`` / ``fs`` mapping).
        fs_dir: data dir written by ``fs_apply`` (utt ids = original id + ``_fs``); read only
            when ``train``.
        p: share of all training samples to augment, in [0, 1].
        eligible_share: share of training samples that have a transform (1.0 when unknown).
        num_spk: number of references ``speech_ref1..N``.
        ref_channel: mic used for 1-channel mixtures and references.
        seed: seed of the swap decisions.
        categories: ESPnet category names in id order (``6ch_easy`` ...): needed when
            ``category`` is among the inputs, as for ESPnet's ``EnhPreprocessor``.
    """

    def __init__(
        self,
        train: bool,
        fs_dir: str,
        p: float = 0.5,
        eligible_share: float = 1.0,
        num_spk: int = 2,
        ref_channel: int = 0,
        seed: int = 0,
        speech_name: str = "speech_mix",
        speech_ref_name_prefix: str = "speech_ref",
        categories: Sequence[str] | None = None,
    ):
        super().__init__(train)
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"feabase preprocessor: p must be in [0, 1], got {p}")
        if not 0.0 < float(eligible_share) <= 1.0:
            raise ValueError(f"feabase preprocessor: eligible_share must be in (0, 1], "
                             f"got {eligible_share}")
        self.p = float(p)
        self.rate = min(1.0, self.p / float(eligible_share))
        if self.p > eligible_share:
            logger.warning("feabase: p=%.2f exceeds the share of transformable samples "
                           "(%.2f): every one of them is swapped", self.p, eligible_share)
        self.num_spk = num_spk
        self.ref_channel = ref_channel
        self.speech_name = speech_name
        self.ref_prefix = speech_ref_name_prefix
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)  # the swap decisions of this process
        self.rank_words: tuple[int, ...] = ()   # set_rank: the DDP rank's seed words
        self.epoch: int | None = None           # set_epoch (ESPnet's iterator, epoch hook)
        self._worker_key: tuple[int | None, int] | None = None  # (epoch, worker) seeded for
        self.categories = category_ids(categories or [])
        # original utt id -> its transformed files; nothing to swap outside training
        self.sources = self._read_fs_dir(Path(fs_dir), num_spk) if train else {}

    @staticmethod
    def _read_fs_dir(fs_dir: Path, num_spk: int) -> dict[str, dict[str, str]]:
        """Map original utt id -> {"mix": path, "spk1": path, ...}."""
        needed = ["wav.scp"] + [f"spk{i + 1}.scp" for i in range(num_spk)]
        for name in needed:
            if not (fs_dir / name).is_file():
                raise FileNotFoundError(f"feabase preprocessor: {fs_dir / name} not found "
                                        "(run recipe stage 4, fs_apply)")
        tables = {name: read_table(fs_dir / name) for name in needed}
        out: dict[str, dict[str, str]] = {}
        for fs_key, mix_path in tables["wav.scp"].items():
            entry = {"mix": mix_path}
            for i in range(num_spk):
                scp = f"spk{i + 1}.scp"
                if fs_key not in tables[scp]:
                    raise ValueError(f"feabase preprocessor: {fs_dir / scp} lacks key '{fs_key}'")
                entry[f"spk{i + 1}"] = tables[scp][fs_key]
            out[fs_key.removesuffix(FS_SUFFIX)] = entry
        return out

    @classmethod
    def from_task_args(cls, args: argparse.Namespace, train: bool) -> FeabasePreprocessor:
        """Build from ESPnet's task args; ``eligible_share`` from the training wav.scp."""
        conf = dict(args.preprocessor_conf or {})
        if "fs_dir" not in conf:
            raise ValueError("feabase preprocessor: preprocessor_conf.fs_dir is required")
        if "eligible_share" not in conf and train:
            train_scp = _training_wav_scp(args)
            if train_scp is not None:
                keys = read_table(train_scp)
                fs_keys = {k.removesuffix(FS_SUFFIX) for k in read_table(Path(conf["fs_dir"]) /
                                                                        "wav.scp")}
                share = len(fs_keys & set(keys)) / max(len(keys), 1)
                if share == 0:
                    raise ValueError(f"feabase preprocessor: no utterance of {train_scp} has a "
                                     f"transform in {conf['fs_dir']}")
                conf["eligible_share"] = share
        conf.setdefault("num_spk", (getattr(args, "separator_conf", None) or {}).get("num_spk", 2))
        if "categories" not in conf and getattr(args, "categories", None):
            conf["categories"] = list(args.categories)
        install_epoch_hook()
        preprocessor = cls(train=train, **conf)
        preprocessor.set_rank(*rank_and_world_size(args))
        return preprocessor

    def set_rank(self, rank: int, world_size: int) -> None:
        """Restart the swap decisions from a seed with the DDP rank mixed in when
        ``world_size`` > 1 (module doc); with 1, from ``seed`` as constructed."""
        self.rank_words = rank_seed_words(rank, world_size)
        self.rng = np.random.default_rng([self.seed, *self.rank_words]
                                         if world_size > 1 else self.seed)

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch by the epoch hook (``install_epoch_hook``)."""
        self.epoch = int(epoch)

    def _decisions(self) -> np.random.Generator:
        """The generator of the swap decisions. In the main process (``num_workers: 0``):
        ``rng``, one sequence over the whole training. In a DataLoader worker, which ESPnet
        forks anew every epoch with a copy of the main process's ``rng`` (so that every
        worker, every epoch, would repeat the same decisions), a generator of its own seeded
        with ``(seed, rank, epoch, worker id)``."""
        info = torch.utils.data.get_worker_info()
        if info is None:
            return self.rng
        if self._worker_key != (self.epoch, info.id):
            self._worker_key = (self.epoch, info.id)
            self.rng = np.random.default_rng(
                [self.seed, *self.rank_words, WORKER_TAG, self.epoch or 0, info.id])
        return self.rng

    def _load(self, path: str, multichannel: bool) -> np.ndarray:
        audio, _ = sf.read(path, dtype="float32", always_2d=True)
        return audio if multichannel else audio[:, self.ref_channel]

    def __call__(self, uid: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        swap = self.train and uid in self.sources and self._decisions().random() < self.rate
        if not swap and "category" not in data and "fs" not in data:
            return data
        data = dict(data)
        if swap:
            self._swap(uid, data)
        if "fs" in data:  # ESPnet's enh.sh adds utt2fs,fs,text_int when the dirs have it
            data["utt2fs"] = np.array([int(np.asarray(data.pop("fs")).reshape(-1)[0])])
        if "category" in data:
            data["utt2category"] = self._category_id(uid, data.pop("category"), swap,
                                                     np.asarray(data[self.speech_name]))
        return data

    def _category_id(self, uid: str, category: str, swapped: bool,
                     mix: np.ndarray) -> np.ndarray:
        """The integer category of a sample (``fs`` when swapped), as ESPnet numbers it."""
        if not self.categories:
            raise ValueError(
                "feabase preprocessor: the inputs hold 'category' (utt2category, which "
                "ESPnet's enh.sh adds when the data dirs have it) but no 'categories' list "
                "is configured (see sepplug.datadir.categories)")
        num_channels = 1 if mix.ndim == 1 else mix.shape[-1]
        try:
            index = category_id(FS_CATEGORY if swapped else str(category), self.categories,
                                num_channels)
        except KeyError as exc:
            raise ValueError(f"feabase preprocessor: {uid}: {exc.args[0]}") from None
        return np.array([index])

    def _swap(self, uid: str, data: dict[str, np.ndarray]) -> None:
        """Replace mixture and references of ``data`` by the transformed ones, in place."""
        entry = self.sources[uid]
        mix = np.asarray(data[self.speech_name])
        new_mix = self._load(entry["mix"], multichannel=mix.ndim == 2)
        if new_mix.shape != mix.shape:
            raise ValueError(f"feabase preprocessor: {uid}: transformed mixture {entry['mix']} "
                             f"has shape {new_mix.shape}, original {mix.shape}")
        data[self.speech_name] = new_mix
        for i in range(self.num_spk):
            name = f"{self.ref_prefix}{i + 1}"
            if name in data:
                ref = np.asarray(data[name])
                data[name] = self._load(entry[f"spk{i + 1}"], multichannel=ref.ndim == 2)


def _training_wav_scp(args: argparse.Namespace) -> Path | None:
    for path, name, _ in getattr(args, "train_data_path_and_name_and_type", None) or []:
        if name == "speech_mix":
            return Path(path)
    return None
