"""Source pairs of a data dir as ``(2C, T)`` tensors for the feature-suppression GAN.

A pair is the two source images at all C mics (``spk1_mc.scp``, ``spk2_mc.scp``),
stacked on the channel axis: rows ``0..C-1`` source 1, rows ``C..2C-1`` source 2.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from sepplug.augment.audio_io import audio_info, read_audio, read_scp
from sepplug.datadir.kaldi_dir import read_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairEntry:
    """One utterance's source images (scp values) and its length in samples."""

    utt: str
    spk1: str
    spk2: str
    n_samples: int


@dataclass(frozen=True)
class PairSet:
    """The pairs of some categories of a data dir, all ``n_mics`` channels at ``fs``."""

    data_dir: Path
    entries: list[PairEntry]
    n_mics: int
    fs: int


def scan_source_pairs(
    data_dir: Path | str,
    categories: Iterable[str] | None = None,
    n_mics: int | None = None,
    progress: bool = True,
) -> PairSet:
    """List and check the source pairs of ``data_dir`` whose ``utt2category`` is in
    ``categories`` (all utterances when None).

    Every entry's header is read once: both images must exist, have the same length,
    channel count (``n_mics`` when given) and sample rate as the rest.

    Raises:
        FileNotFoundError / ValueError naming the file and key on bad input.
    """
    data_dir = Path(data_dir)
    scp1, scp2 = data_dir / "spk1_mc.scp", data_dir / "spk2_mc.scp"
    spk1, spk2 = read_scp(scp1), read_scp(scp2)
    utts = sorted(spk1)
    if categories is not None:
        wanted = set(categories)
        cat_file = data_dir / "utt2category"
        if not cat_file.is_file():
            raise FileNotFoundError(f"{cat_file} not found (needed to pick {sorted(wanted)})")
        cats = read_table(cat_file)
        utts = [u for u in utts if cats.get(u) in wanted]
        if not utts:
            found = sorted(set(cats.values()))
            raise ValueError(f"{cat_file}: no utterance of category {sorted(wanted)} "
                             f"(categories present: {found})")
    entries, fs_seen = [], None
    for utt in tqdm(utts, desc=f"checking {data_dir}", disable=not progress, leave=False):
        if utt not in spk2:
            raise ValueError(f"{scp2} has no entry for '{utt}' (listed in {scp1})")
        n1, c1, fs1 = audio_info(spk1[utt], utt, scp1)
        n2, c2, fs2 = audio_info(spk2[utt], utt, scp2)
        if (n1, c1, fs1) != (n2, c2, fs2):
            raise ValueError(f"{data_dir}: '{utt}' spk1_mc is {n1} samples × {c1} ch @ {fs1} Hz "
                             f"but spk2_mc {n2} × {c2} @ {fs2} Hz")
        if n_mics is None:
            n_mics = c1
        if c1 != n_mics:
            raise ValueError(f"{scp1}: '{utt}' ({spk1[utt]}) has {c1} channels, "
                             f"expected {n_mics}")
        if fs_seen is not None and fs1 != fs_seen:
            raise ValueError(f"{scp1}: '{utt}' is at {fs1} Hz, earlier entries at {fs_seen} Hz")
        fs_seen = fs1
        entries.append(PairEntry(utt, spk1[utt], spk2[utt], n1))
    if not entries:
        raise ValueError(f"{scp1} lists no utterance")
    return PairSet(data_dir, entries, int(n_mics), int(fs_seen))


def load_pair(pair_set: PairSet, entry: PairEntry) -> np.ndarray:
    """Both source images of ``entry``, float32 ``(2C, T)``."""
    s1, _ = read_audio(entry.spk1, entry.utt, pair_set.data_dir / "spk1_mc.scp")
    s2, _ = read_audio(entry.spk2, entry.utt, pair_set.data_dir / "spk2_mc.scp")
    return np.concatenate([s1.T, s2.T], axis=0)


def normalization_gain(pair: np.ndarray | torch.Tensor, target_rms: float | None,
                       max_gain: float = 1e3) -> float:
    """Gain bringing a whole pair to ``target_rms`` (one gain for all channels, so level
    and inter-mic/inter-source level differences stay); 1 when ``target_rms`` is None."""
    if target_rms is None:
        return 1.0
    rms = float((pair**2).mean() ** 0.5)
    return min(target_rms / max(rms, 1e-12), max_gain)


class SourcePairDataset(Dataset):
    """Random fixed-length segments of the source pairs of a :class:`PairSet`.

    Each item is a float32 tensor ``(2C, segment)``: the utterance is normalized to
    ``target_rms`` as a whole (as :mod:`sepplug.augment.fs_apply` does), then a random
    segment is cut (zero-padded when the utterance is shorter), and with probability
    ``swap_prob`` the two sources trade places (their order carries no meaning).
    Randomness comes from torch, so every DataLoader worker draws differently.
    """

    def __init__(self, pair_set: PairSet, segment: int, target_rms: float | None = 0.05,
                 swap_prob: float = 0.5):
        self.pair_set, self.segment = pair_set, segment
        self.target_rms, self.swap_prob = target_rms, swap_prob

    def __len__(self) -> int:
        return len(self.pair_set.entries)

    def __getitem__(self, index: int) -> torch.Tensor:
        entry = self.pair_set.entries[index]
        pair = load_pair(self.pair_set, entry)
        pair = pair * normalization_gain(pair, self.target_rms)
        length = pair.shape[1]
        if length >= self.segment:
            start = int(torch.randint(0, length - self.segment + 1, ()).item())
            pair = pair[:, start:start + self.segment]
        else:
            offset = int(torch.randint(0, self.segment - length + 1, ()).item())
            pair = np.pad(pair, ((0, 0), (offset, self.segment - length - offset)))
        if torch.rand(()).item() < self.swap_prob:
            n_mics = self.pair_set.n_mics
            pair = np.concatenate([pair[n_mics:], pair[:n_mics]], axis=0)
        return torch.from_numpy(np.ascontiguousarray(pair, dtype=np.float32))
