"""Apply a trained feature-suppression generator G to a data dir (FEABASE augmentation).

:class:`FeatureSuppressor` wraps G with the level normalization used in training.
:func:`apply_to_data_dir` writes a new data dir with the same contract as the input:
``spk1_mc.scp``/``spk2_mc.scp`` (transformed images, ``(T, C)``), ``spk1.scp``/
``spk2.scp`` (their channel 0), ``wav.scp`` (their sum), utterance ids suffixed
``_fs``, ``utt2category`` = ``fs``. Utterances are processed at full length (G is
fully convolutional). ``utt2angle``, ``utt2spk`` and ``meta.jsonl`` are carried over;
``utt2angle`` keeps the angle of the pair *before* suppression.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from sepplug.augment.audio_io import write_audio
from sepplug.augment.source_pairs import load_pair, normalization_gain, scan_source_pairs
from sepplug.augment.wave_cyclegan import build_generator
from sepplug.datadir.kaldi_dir import FS_CATEGORY, read_table, write_spk2utt, write_table

logger = logging.getLogger(__name__)

GENERATOR_KIND = "sepplug_fs_generator"
CHECKPOINT_KIND = "sepplug_fs_cyclegan"


class FeatureSuppressor:
    """G plus the level normalization of training.

    Args:
        generator: a generator of :func:`~sepplug.augment.wave_cyclegan.build_generator`
            for ``2 * n_mics`` channels.
        sample_rate: rate G was trained at.
        target_rms: level G was trained at (None: no normalization).
        source: where G came from, for error messages.
    """

    def __init__(self, generator: torch.nn.Module, sample_rate: int, target_rms: float | None,
                 source: str = "<in memory>", device: str | torch.device = "cpu"):
        self.generator = generator.to(device).eval()
        self.n_mics = generator.channels // 2
        self.sample_rate, self.target_rms, self.source = sample_rate, target_rms, source
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, path: Path | str, device: str = "cpu") -> FeatureSuppressor:
        """Load ``model.pth`` (G only) or a full training checkpoint."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"FS checkpoint {path} not found (train one with "
                                    "python -m sepplug.bin.fs_train)")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        kind = ckpt.get("kind") if isinstance(ckpt, dict) else None
        if kind == GENERATOR_KIND:
            state, gen_conf = ckpt["state_dict"], ckpt["generator_conf"]
        elif kind == CHECKPOINT_KIND:
            gen_conf = ckpt["config"]["generator_conf"]
            prefix = "gen_xy."
            state = {k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
        else:
            raise ValueError(f"{path} is not a sepplug FS checkpoint (kind={kind!r})")
        generator = build_generator(2 * int(ckpt["channels"]), gen_conf)
        generator.load_state_dict(state)
        return cls(generator, int(ckpt["sample_rate"]), ckpt.get("target_rms"), str(path), device)

    def check_data(self, n_mics: int, fs: int, what: str) -> None:
        """Raise a clear error when data of ``n_mics`` channels at ``fs`` does not fit G."""
        if n_mics != self.n_mics:
            raise ValueError(f"FS model {self.source} was trained on {self.n_mics}-channel audio "
                             f"but {what} has {n_mics} channels")
        if fs != self.sample_rate:
            raise ValueError(f"FS model {self.source} was trained at {self.sample_rate} Hz "
                             f"but {what} is at {fs} Hz")

    @torch.no_grad()
    def transform_pair(self, pair: np.ndarray) -> np.ndarray:
        """``(2C, T)`` float32 → suppressed ``(2C, T)``, at the input's level."""
        if pair.shape[0] != 2 * self.n_mics:
            raise ValueError(f"expected ({2 * self.n_mics}, T), got {pair.shape}")
        gain = normalization_gain(pair, self.target_rms)
        x = torch.from_numpy(np.ascontiguousarray(pair, dtype=np.float32) * gain)
        y = self.generator(x[None].to(self.device))[0].cpu().numpy()
        return y / gain

    def transform(self, spk1_mc: np.ndarray, spk2_mc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source images ``(T, C)`` each → suppressed images ``(T, C)`` each."""
        out = self.transform_pair(np.concatenate([spk1_mc.T, spk2_mc.T], axis=0))
        return out[: self.n_mics].T, out[self.n_mics:].T


def _meta_by_utt(meta_file: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if not meta_file.is_file():
        return out
    for n, line in enumerate(meta_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{meta_file}:{n}: not JSON: {exc}") from exc
        key = next((record[k] for k in ("utt", "utt_id", "id", "key") if k in record), None)
        if key is not None:
            out[str(key)] = record
    return out


def apply_to_data_dir(
    suppressor: FeatureSuppressor,
    in_dir: Path | str,
    out_dir: Path | str,
    wav_dir: Path | str | None = None,
    categories: Iterable[str] | None = ("both",),
    suffix: str = "_fs",
    category: str = FS_CATEGORY,
    progress: bool = True,
) -> int:
    """Transform the pairs of ``in_dir`` (of ``categories``; all when None) into a new
    data dir ``out_dir`` with audio under ``wav_dir`` (default ``<out_dir>/wav``).

    Everything is written under temp names and renamed at the end; an existing
    ``out_dir`` is replaced, files in a separate ``wav_dir`` are added/overwritten.
    Returns the number of utterances written.
    """
    from tqdm import tqdm

    in_dir, out_dir = Path(in_dir), Path(out_dir).absolute()
    wav_dir = Path(wav_dir).absolute() if wav_dir is not None else out_dir / "wav"
    pairs = scan_source_pairs(in_dir, categories, progress=progress)
    suppressor.check_data(pairs.n_mics, pairs.fs,
                          f"{in_dir / 'spk1_mc.scp'} ('{pairs.entries[0].utt}')")

    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
    wav_inside = wav_dir.is_relative_to(out_dir)
    # A wav_dir outside out_dir may hold other files: only ours are moved in (never rmtree).
    tmp_wav = (tmp_dir / wav_dir.relative_to(out_dir) if wav_inside
               else wav_dir / f".{out_dir.name}.tmp")
    for d in {tmp_dir, tmp_wav}:
        shutil.rmtree(d, ignore_errors=True)
    tmp_wav.mkdir(parents=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)

    tables: dict[str, dict[str, str]] = {name: {} for name in
                                         ("wav.scp", "spk1_mc.scp", "spk2_mc.scp", "spk1.scp",
                                          "spk2.scp", "utt2category")}
    new_ids = {}
    try:
        for entry in tqdm(pairs.entries, desc=f"FS {in_dir}", disable=not progress):
            new = f"{entry.utt}{suffix}"
            new_ids[entry.utt] = new
            out = suppressor.transform_pair(load_pair(pairs, entry))
            spk1, spk2 = out[: pairs.n_mics].T, out[pairs.n_mics:].T
            audio = {"wav.scp": spk1 + spk2, "spk1_mc.scp": spk1, "spk2_mc.scp": spk2,
                     "spk1.scp": spk1[:, 0], "spk2.scp": spk2[:, 0]}
            for name, signal in audio.items():
                fname = f"{new}_{'mix' if name == 'wav.scp' else name.removesuffix('.scp')}.wav"
                write_audio(tmp_wav / fname, signal, pairs.fs)
                tables[name][new] = str(wav_dir / fname)
            tables["utt2category"][new] = category
        for name, table in tables.items():
            write_table(tmp_dir / name, table)
        for name in ("utt2angle", "utt2spk"):
            if (in_dir / name).is_file():
                src = read_table(in_dir / name)
                write_table(tmp_dir / name, {new: src[old] for old, new in new_ids.items()
                                          if old in src})
        if (tmp_dir / "utt2spk").is_file():
            write_spk2utt(tmp_dir)
        meta = _meta_by_utt(in_dir / "meta.jsonl")
        with open(tmp_dir / "meta.jsonl", "w", encoding="utf-8") as f:
            for old, new in sorted(new_ids.items(), key=lambda kv: kv[1]):
                record = {**meta.get(old, {}), "key": new, "source_utt": old,
                          "category": category, "fs_model": suppressor.source}
                if "utt" in record:
                    record["utt"] = new
                f.write(json.dumps(record) + "\n")
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        shutil.rmtree(tmp_wav, ignore_errors=True)
        raise
    if not wav_inside:
        for f in tmp_wav.iterdir():
            os.replace(f, wav_dir / f.name)
        tmp_wav.rmdir()
    if out_dir.exists():
        logger.info("replacing %s", out_dir)
        shutil.rmtree(out_dir)
    tmp_dir.rename(out_dir)
    logger.info("wrote %d utterances to %s", len(new_ids), out_dir)
    return len(new_ids)
