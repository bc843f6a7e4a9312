"""Training loop of the feature-suppression WaveCycleGAN (FEABASE Sec. 3.1, 4.1).

Domain X = source pairs of ``source_categories`` (D_both), domain Y = source pairs of
``target_categories`` (D_hard: two speakers < 20° apart, see
:mod:`sepplug.augment.wave_cyclegan` for why). Each step draws a batch of random
segments from each domain, updates G and F (LSGAN + cycle + identity losses), then
D_X and D_Y. An epoch is one pass over X; Y (the small domain) is drawn with
replacement.

Outputs under ``out_dir``:

* ``checkpoints/epochNNN.pth`` — full state after each epoch (temp name, then rename;
  the last ``keep_checkpoints`` are kept); ``--resume`` continues from the newest;
* ``model.pth`` — G only, what :mod:`sepplug.augment.fs_apply` loads: the last epoch's,
  or with ``valid_dir`` the epoch whose G leaves the largest share of validation pairs
  (``valid_categories``, > 20° apart before) closer than 20° (SRP-PHAT), as ESPnet keeps
  the best epoch by a validation criterion; ``valid.csv`` logs it per epoch. A GAN's
  last epoch is not its best: the small direction MLP of the steering generator
  oscillates between epochs;
* ``losses.csv`` (one row per step), ``tensorboard/``, ``config.yaml``;
  ``train.log`` (written by the ``fs_train`` CLI);
* ``examples/`` — a few transformed pairs as wav and arrival-order plots.

A non-finite loss stops training with :class:`TrainingDivergedError` before the
optimizers step, so nothing already saved is overwritten by a diverged state.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from sepplug.augment.fs_apply import CHECKPOINT_KIND, GENERATOR_KIND, FeatureSuppressor
from sepplug.augment.source_pairs import SourcePairDataset, scan_source_pairs
from sepplug.augment.wave_cyclegan import WaveCycleGAN

logger = logging.getLogger(__name__)

LOSS_COLUMNS = ("loss_g", "adv_g", "cycle", "identity", "loss_d", "d_x", "d_y")


@dataclass
class FSConfig:
    """Options of FS training (YAML keys = field names). Defaults are the paper's."""

    channels: int = 6  #: mics per source (the generators see 2 x channels)
    segment: float = 1.0  #: seconds per training segment
    batch_size: int = 16
    max_epochs: int = 50
    steps_per_epoch: int | None = None  #: None: one pass over domain X
    source_categories: list[str] = field(default_factory=lambda: ["both"])
    target_categories: list[str] = field(default_factory=lambda: ["hard"])
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lambda_cycle: float = 50.0
    lambda_identity: float = 45.0
    generator_conf: dict = field(default_factory=lambda: {
        "hidden": 64, "kernel_size": 15, "n_blocks": 6})
    discriminator_conf: dict = field(default_factory=lambda: {"kinds": ["time", "stft"]})
    target_rms: float | None = 0.05  #: level each pair is normalized to (None: off)
    swap_prob: float = 0.5  #: chance of swapping the two sources of a sample
    num_workers: int = 0
    seed: int = 0
    keep_checkpoints: int = 3
    valid_categories: list[str] = field(default_factory=lambda: ["both", "easy"])
    num_examples: int = 3
    example_seconds: float = 4.0
    tensorboard: bool = True
    device: str = "auto"  #: "auto" (cuda when available), "cpu", "cuda", "cuda:1" ...

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> FSConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown option(s) {unknown}; known: {sorted(known)}")
        config = cls(**values)
        config.betas = tuple(config.betas)
        return config

    @classmethod
    def from_yaml(cls, path: Path | str) -> FSConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config {path} not found")
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of options")
        return cls.from_dict(values, str(path))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but CUDA is not available")
    return device


class TrainingDivergedError(RuntimeError):
    """A loss became NaN/inf; the message names the last good checkpoint."""


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def list_checkpoints(out_dir: Path | str) -> list[Path]:
    """Epoch checkpoints of a run, oldest first."""
    ckpt_dir = Path(out_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in ckpt_dir.glob("epoch*.pth")
             if (m := re.fullmatch(r"epoch(\d+)\.pth", p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: Path | str) -> dict:
    """A full training checkpoint, with a clear error when it is missing or foreign."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FS checkpoint {path} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path} is not a sepplug FS training checkpoint")
    return ckpt


def _drop_rows_after(csv_path: Path, step: int) -> None:
    """Forget loss rows past ``step`` (written before a crash/divergence we resume from)."""
    def row_step(line: str) -> int | None:
        fields = line.split(",")
        if len(fields) != 2 + len(LOSS_COLUMNS) + 1 or not line.endswith("\n"):
            return None  # a row cut short by a crash
        return int(fields[1])

    lines = csv_path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [ln for ln in lines[1:] if (s := row_step(ln)) is not None and s <= step]
    if len(kept) != len(lines):
        tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        tmp.write_text("".join(kept))
        os.replace(tmp, csv_path)


class FSTrainer:
    """Train G/F/D_X/D_Y on ``train_dir`` and write everything under ``out_dir``.

    Args:
        config: options.
        train_dir: data dir with ``spk1_mc.scp``, ``spk2_mc.scp``, ``utt2category``.
        out_dir: experiment dir.
        resume_from: a full checkpoint to continue from (its config must match
            ``config`` in ``channels``; pass the checkpoint's own config normally).
        valid_dir: data dir of the validation pairs that pick ``model.pth`` (None: the
            last epoch's G).
    """

    def __init__(self, config: FSConfig, train_dir: Path | str, out_dir: Path | str,
                 resume_from: Path | str | None = None, progress: bool = True,
                 valid_dir: Path | str | None = None):
        self.config, self.progress = config, progress
        self.train_dir, self.out_dir = Path(train_dir), Path(out_dir)
        self.device = resolve_device(config.device)
        ckpt = load_checkpoint(resume_from) if resume_from is not None else None
        if ckpt is not None and int(ckpt["channels"]) != config.channels:
            raise ValueError(f"checkpoint {resume_from} is for {ckpt['channels']}-channel audio, "
                             f"the config asks for {config.channels} channels")

        self.x_set = scan_source_pairs(self.train_dir, config.source_categories,
                                       config.channels, progress)
        self.y_set = scan_source_pairs(self.train_dir, config.target_categories,
                                       config.channels, progress)
        self.fs = self.x_set.fs
        if self.y_set.fs != self.fs:
            raise ValueError(f"{self.train_dir}: domain X is at {self.fs} Hz, "
                             f"domain Y at {self.y_set.fs} Hz")
        if ckpt is not None and int(ckpt["sample_rate"]) != self.fs:
            raise ValueError(f"checkpoint {resume_from} was trained at {ckpt['sample_rate']} Hz, "
                             f"{self.train_dir} is at {self.fs} Hz")
        logger.info("domain X (%s): %d pairs, domain Y (%s): %d pairs, %d mics @ %d Hz",
                    "+".join(config.source_categories), len(self.x_set.entries),
                    "+".join(config.target_categories), len(self.y_set.entries),
                    config.channels, self.fs)

        self._fill_in_array(config)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)
        self.model = WaveCycleGAN(config.channels, config.generator_conf,
                                  config.discriminator_conf).to(self.device)
        self.opt_g = torch.optim.Adam(self.model.generator_parameters(), lr=config.lr_g,
                                      betas=config.betas)
        self.opt_d = torch.optim.Adam(self.model.discriminator_parameters(), lr=config.lr_d,
                                      betas=config.betas)
        self.valid_set = None
        if valid_dir is not None:
            from sepplug.augment.spatial_metrics import load_geometry

            try:
                self.valid_set = scan_source_pairs(valid_dir, config.valid_categories,
                                                   config.channels, progress)
            except ValueError as exc:  # e.g. a tiny dev set without those categories
                if "no utterance of category" not in str(exc):
                    raise
                logger.warning("no validation pairs (%s): model.pth is the last epoch's G", exc)
        if self.valid_set is not None:
            if self.valid_set.fs != self.fs:
                raise ValueError(f"{valid_dir} is at {self.valid_set.fs} Hz, "
                                 f"{self.train_dir} at {self.fs} Hz")
            self.valid_geometry = load_geometry(Path(valid_dir), config.channels)
        self.best_valid, self.best_epoch = -1.0, 0
        self.epoch, self.step = 0, 0
        self.last_good: Path | None = None
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model"])
            self.opt_g.load_state_dict(ckpt["opt_g"])
            self.opt_d.load_state_dict(ckpt["opt_d"])
            # The config's learning rates win over the stored ones (lower them to resume
            # after a divergence).
            for opt, lr in ((self.opt_g, config.lr_g), (self.opt_d, config.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr
            self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
            self.best_valid = float(ckpt.get("best_valid", -1.0))
            self.best_epoch = int(ckpt.get("best_epoch", 0))
            torch.set_rng_state(ckpt["rng_torch"])
            self.last_good = Path(resume_from)
            logger.info("resumed from %s (epoch %d, step %d)", resume_from, self.epoch, self.step)

    def _fill_in_array(self, config: FSConfig) -> None:
        """The steering generator and the srp discriminator need the array and the rate:
        take them from the data, into the config (so checkpoints and model.pth carry them)."""
        from sepplug.augment.spatial_metrics import load_geometry

        array = {"sample_rate": self.fs,
                 "mic_xy": load_geometry(self.train_dir, config.channels).mic_xy.tolist()}
        if config.generator_conf.get("type") == "steering":
            config.generator_conf = {**config.generator_conf, **array}
        disc = config.discriminator_conf
        if "srp" in disc.get("kinds", ()):
            config.discriminator_conf = {**disc, "srp_conf": {**disc.get("srp_conf", {}), **array}}

    # ------------------------------------------------------------------ data
    def _loaders(self) -> tuple[DataLoader, DataLoader, int]:
        cfg = self.config
        segment = max(1, round(cfg.segment * self.fs))
        x_ds = SourcePairDataset(self.x_set, segment, cfg.target_rms, cfg.swap_prob)
        y_ds = SourcePairDataset(self.y_set, segment, cfg.target_rms, cfg.swap_prob)
        steps = cfg.steps_per_epoch or max(1, len(x_ds) // cfg.batch_size)
        n_draw = steps * cfg.batch_size
        x_sampler = (RandomSampler(x_ds) if cfg.steps_per_epoch is None and len(x_ds) >= n_draw
                     else RandomSampler(x_ds, replacement=True, num_samples=n_draw))
        y_sampler = RandomSampler(y_ds, replacement=True, num_samples=n_draw)
        kwargs = {"batch_size": cfg.batch_size, "num_workers": cfg.num_workers, "drop_last": True}
        return (DataLoader(x_ds, sampler=x_sampler, **kwargs),
                DataLoader(y_ds, sampler=y_sampler, **kwargs), steps)

    # ------------------------------------------------------------------ steps
    def _check_finite(self, stats: dict[str, float], batch_step: int) -> None:
        bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
        if not bad:
            return
        where = (f"last good checkpoint: {self.last_good} (epoch {self.epoch})"
                 if self.last_good else "no checkpoint had been written yet")
        raise TrainingDivergedError(
            f"FS training diverged: {', '.join(f'{k}={v}' for k, v in bad.items())} at epoch "
            f"{self.epoch + 1}, step {batch_step} (global step {self.step + 1}). Training stopped "
            f"without saving the diverged state; {where}. Lower lr_g/lr_d or check the data.")

    def train_step(self, x: torch.Tensor, y: torch.Tensor, batch_step: int = 0) -> dict:
        """One G/F update then one D_X/D_Y update on batches ``(B, 2C, T)``."""
        cfg, model = self.config, self.model
        x, y = x.to(self.device), y.to(self.device)
        model.train()
        for p in model.discriminator_parameters():
            p.requires_grad_(False)
        loss_g, stats, fake_y, fake_x = model.generator_loss(x, y, cfg.lambda_cycle,
                                                             cfg.lambda_identity)
        self._check_finite(stats, batch_step)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        for p in model.discriminator_parameters():
            p.requires_grad_(True)
        loss_d, d_stats = model.discriminator_loss(x, y, fake_x, fake_y)
        self._check_finite(d_stats, batch_step)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.step += 1
        return {**stats, **d_stats}

    # ------------------------------------------------------------------ saving
    def _save(self) -> Path:
        cfg = self.config
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise TrainingDivergedError(
                f"FS training diverged: non-finite weights after epoch {self.epoch}; not saved. "
                f"Last good checkpoint: {self.last_good}")
        ckpt_dir = self.out_dir / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = ckpt_dir / f"epoch{self.epoch:03d}.pth"
        common = {"channels": cfg.channels, "sample_rate": self.fs,
                  "target_rms": cfg.target_rms, "epoch": self.epoch}
        # model.pth first: a crash between the two writes then leaves a checkpoint that
        # does not yet know this epoch was the best, and the resumed run redoes it.
        if self._validate():
            _atomic_save({"kind": GENERATOR_KIND, **common,
                          "generator_conf": cfg.generator_conf,
                          "state_dict": self.model.gen_xy.state_dict()},
                         self.out_dir / "model.pth")
        _atomic_save({"kind": CHECKPOINT_KIND, **common, "step": self.step,
                      "config": cfg.to_dict(), "model": self.model.state_dict(),
                      "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                      "rng_torch": torch.get_rng_state(), "best_valid": self.best_valid,
                      "best_epoch": self.best_epoch}, path)
        for old in list_checkpoints(self.out_dir)[: -cfg.keep_checkpoints]:
            old.unlink()
        self.last_good = path
        return path

    def _validate(self) -> bool:
        """Score this epoch's G on the validation pairs (``valid.csv``); True when its G
        should become ``model.pth`` (always without validation pairs)."""
        if self.valid_set is None:
            return True
        from sepplug.augment.source_pairs import load_pair
        from sepplug.augment.spatial_metrics import CLOSE_ANGLE_DEG, source_pair_angle

        suppressor = FeatureSuppressor(self.model.gen_xy, self.fs, self.config.target_rms,
                                       device=self.device)
        n_mics = self.valid_set.n_mics
        angles = []
        for entry in self.valid_set.entries:
            out = suppressor.transform_pair(load_pair(self.valid_set, entry))
            angles.append(source_pair_angle(out[:n_mics], out[n_mics:], self.fs,
                                            self.valid_geometry)[2])
        share = float(np.mean(np.array(angles) < CLOSE_ANGLE_DEG))
        better = share > self.best_valid
        if better:
            self.best_valid, self.best_epoch = share, self.epoch
        path = self.out_dir / "valid.csv"
        new = not path.is_file()
        if not new:  # rows of epochs a crash/resume is redoing
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = lines[:1] + [ln for ln in lines[1:] if int(ln.split(",")[0]) < self.epoch]
            if kept != lines:
                path.write_text("".join(kept), encoding="utf-8")
        with open(path, "a", encoding="utf-8") as f:
            if new:
                f.write("epoch,share_below_20,median_angle\n")
            f.write(f"{self.epoch},{share:.4f},{float(np.median(angles)):.2f}\n")
        logger.info("epoch %d: validation share of pairs < %g° after G %.3f (median %.1f°); "
                    "best epoch %d (%.3f)", self.epoch, CLOSE_ANGLE_DEG, share,
                    float(np.median(angles)), self.best_epoch, self.best_valid)
        return better

    # ------------------------------------------------------------------ loop
    def run(self) -> Path:
        """Train up to ``max_epochs``, then write examples. Returns ``model.pth``."""
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        writer = None
        try:
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(self.out_dir / "tensorboard"))
            (self.out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
            self._train_epochs(writer)
            self._write_examples()
        finally:
            if writer is not None:
                writer.close()
        return self.out_dir / "model.pth"

    def _train_epochs(self, writer) -> None:
        cfg = self.config
        csv_path = self.out_dir / "losses.csv"
        new_csv = not csv_path.is_file()
        if not new_csv:
            _drop_rows_after(csv_path, self.step)
        x_loader, y_loader, steps = self._loaders()
        with open(csv_path, "a", newline="") as csv_file:
            rows = csv.writer(csv_file, lineterminator="\n")
            if new_csv:
                rows.writerow(["epoch", "step", *LOSS_COLUMNS, "sec_per_step"])
            while self.epoch < cfg.max_epochs:
                bar = tqdm(zip(x_loader, y_loader, strict=True), total=steps,
                           desc=f"FS epoch {self.epoch + 1}/{cfg.max_epochs}",
                           disable=not self.progress)
                sums = dict.fromkeys(LOSS_COLUMNS, 0.0)
                tic = time.perf_counter()
                for i, (x, y) in enumerate(bar, 1):
                    stats = self.train_step(x, y, i)
                    toc = time.perf_counter()
                    rows.writerow([self.epoch + 1, self.step,
                                   *(f"{stats[k]:.6g}" for k in LOSS_COLUMNS),
                                   f"{toc - tic:.4f}"])
                    tic = toc
                    for k in LOSS_COLUMNS:
                        sums[k] += stats[k]
                        if writer is not None:
                            writer.add_scalar(f"fs/{k}", stats[k], self.step)
                    bar.set_postfix(g=f"{stats['loss_g']:.3f}", d=f"{stats['loss_d']:.3f}")
                csv_file.flush()
                self.epoch += 1
                path = self._save()
                logger.info("epoch %d: %s; saved %s", self.epoch,
                            ", ".join(f"{k}={v / steps:.4f}" for k, v in sums.items()), path)

    def _write_examples(self) -> None:
        if self.config.num_examples <= 0:
            return
        from sepplug.augment.fs_report import write_examples
        from sepplug.augment.spatial_metrics import load_geometry

        suppressor = FeatureSuppressor.from_checkpoint(self.out_dir / "model.pth", self.device)
        write_examples(suppressor, self.x_set, self.out_dir / "examples",
                       load_geometry(self.train_dir, self.config.channels),
                       self.config.num_examples, self.config.example_seconds)

