"""Feature preference of an ESPnet enhancement model: does it separate by space or by timbre?

    sepplug preference --model exp/enh_X --data_dir data [--fs_model exp/fs_steer] \\
        [--timbre_model exp/enh_Y] [--input_channels auto|all|ref] [--ref_channel 0] \\
        [--out_dir exp/enh_X/preference] [--max_utts N]

(also ``python -m sepplug.bin.preference``). ``data_dir`` holds SpatialVCTK-style Kaldi
dirs ``test_easy`` (one speaker, sources apart: only the spatial cue helps), ``test_hard``
(two speakers co-located: only timbre helps) and ``test_both`` (both cues), each with
``wav.scp`` ((T, C) mixtures), ``spk1``/``spk2`` references (``spk<k>_mc.scp`` (T, C) when
present, else ``spk<k>.scp``, (T, C) or the reference mic's (T,)) and ``utt2category``.
Any stock or plugin model (``config.yaml`` + the checkpoint ``sepplug.bin.pick_checkpoint``
picks with ``auto``) is run in-process by ESPnet's ``SeparateSpeech``; its input is the
whole mixture (``all``) or mic ``ref_channel`` only (``ref``); ``auto`` takes ``all`` when
the separator declares more than one mic (``num_mics`` / ``n_imics``, else the channels of
its training mixtures). Scores: SI-SDRi (dB) at mic ``ref_channel``, PIT over the two
sources, against that mic of the mixture (:func:`sepplug.utils.scoring.score_utterance`).

With ``--fs_model`` (a ``sepplug.bin.fs_train`` dir, or its ``model.pth``), ``test_both``
is also transformed by the feature-suppression model (``sepplug.augment.fs_apply``; cached
in ``<out_dir>/test_both_fs``, redone when the FS model or the tables change) and scored as
``test_both_fs``: ``fs_retained_share`` = mean SI-SDRi on FS(both) / on both (paired
utterances; s.e. by the delta method; meaningful only when the model's test_both SI-SDRi
is well above 0) and ``spatial_reliance`` = 1 - that, the share lost. With
``--timbre_model`` (e.g. a reference-mic model), ``si_sdri_gap`` is the paired
per-utterance difference model - timbre model on every subset (mean ± s.e.).

Writes (each atomically) ``<out_dir>/preference.md`` (one table), ``summary.tsv`` (the
project's ``model family subset metric n mean stderr``), ``per_utt.tsv`` (``model subset
utt si_sdr si_sdr_mix si_sdri``) and ``preference.png``. Bad input (a missing model dir,
checkpoint or subset, an FS model or a model for another mic count than the data) stops
with a message naming the file and exit status 1 before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from sepplug.augment.audio_io import audio_info, read_audio
from sepplug.bin import select
from sepplug.datadir.kaldi_dir import UTT_FILES, read_table, write_table
from sepplug.datadir.scored_dir import ScoredDir, mixture_format, open_scored_dir, pick_channel
from sepplug.errors import DataError
from sepplug.results.preference import FS_SET, FS_SUFFIX, PER_UTT_COLUMNS, write_results
from sepplug.results.summary import read_family
from sepplug.utils.atomic import atomic_write_text
from sepplug.utils.scoring import score_si_sdr

logger = logging.getLogger("sepplug.preference")

SUBSETS = ("test_easy", "test_hard", "test_both")
MIC_ATTRIBUTES = ("num_mics", "n_imics")  # the separators' mic counts (sepplug, ESPnet)


@dataclass
class Evaluated:
    """A loaded model, the input it gets and why."""

    model: select.Model
    tag: str
    family: str
    input: str = "ref"
    why: str = ""

    @property
    def checkpoint(self) -> Path:
        return self.model.checkpoint


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sepplug preference", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="ESPnet exp dir of the model")
    p.add_argument("--data_dir", type=Path, required=True, help="holds test_easy/hard/both")
    p.add_argument("--fs_model", type=Path, default=None, help="fs_train dir or its model.pth")
    p.add_argument("--timbre_model", type=Path, default=None, help="exp dir to compare with")
    p.add_argument("--input_channels", choices=("auto", "all", "ref"), default="auto")
    p.add_argument("--ref_channel", type=int, default=0, help="reference mic (scoring, ref input)")
    p.add_argument("--out_dir", type=Path, default=None, help="default <model>/preference")
    p.add_argument("--max_utts", type=int, default=None, help="first N utterances per subset")
    p.add_argument("--model_file", default="auto", help="checkpoint of --model (auto: as enh.sh)")
    p.add_argument("--timbre_model_file", default="auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads (default 1)")
    return p


def open_subset(path: Path, max_utts: int | None) -> ScoredDir:
    """Check a test dir's tables (every key of wav.scp in both references)."""
    if not path.is_dir():
        raise DataError(f"{path}: missing test set (the data dir needs {', '.join(SUBSETS)})")
    return open_scored_dir(path, max_utts)


def load(exp_dir: Path, model_file: str, device: str) -> Evaluated:
    """Inspect and load an exp dir (a clear :class:`DataError` for a bad one)."""
    try:
        model = select.inspect_model(exp_dir, exp_dir.name, model_file)
        select.load_model(model, device)
    except select.SelectError as exc:
        raise DataError(str(exc)) from exc
    return Evaluated(model, exp_dir.name.removeprefix("enh_"), read_family(exp_dir))


def model_mics(ev: Evaluated) -> tuple[int | None, str]:
    """The mic count the model takes and where it was read (None: not declared)."""
    separator = ev.model.separate.enh_model.separator
    config = yaml.safe_load((ev.model.exp_dir / "config.yaml").read_text(encoding="utf-8"))
    for attr in MIC_ATTRIBUTES:
        value = getattr(separator, attr, None)
        if isinstance(value, int):
            given = attr in (config.get("separator_conf") or {})
            return value, (f"separator_conf.{attr} = {value}" if given else
                           f"{config['separator']}'s default {attr} = {value}")
    for entry in config.get("train_data_path_and_name_and_type") or []:
        scp = select.resolve_path(str(entry[0]), ev.model.exp_dir) if entry else None
        first = next(iter(read_table(scp).values()), None) if scp else None
        wav = select.resolve_path(first, ev.model.exp_dir) if first else None
        if wav is not None and len(entry) > 2 and entry[2] == "sound":
            try:
                channels = audio_info(str(wav))[1]
            except OSError:
                continue
            return channels, f"its training mixtures ({wav}) are {channels}-channel"
    return None, "the model declares no mic count"


def choose_input(ev: Evaluated, requested: str, channels: int, ref_channel: int,
                 where: str) -> None:
    """Set ``ev.input``/``ev.why``; a model for another mic count than its input is an error."""
    mics, source = model_mics(ev)
    ev.input = requested if requested != "auto" else ("all" if (mics or 1) > 1 else "ref")
    ev.why = f"{'as asked' if requested != 'auto' else 'auto'}: {source}"
    given = channels if ev.input == "all" else 1
    if mics is not None and mics != given:
        raise DataError(f"model {ev.model.exp_dir} takes {mics}-channel input ({source}) but "
                        f"gets {given} (--input_channels {ev.input}; {where} has {channels})")
    model_ref = getattr(ev.model.separate.enh_model.separator, "ref_channel", None)
    if ev.input == "all" and isinstance(model_ref, int) and model_ref != ref_channel:
        raise DataError(f"model {ev.model.exp_dir} estimates the sources at mic {model_ref} "
                        f"(separator ref_channel) but --ref_channel is {ref_channel}")


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fs_transform(suppressor, both: ScoredDir, cache: Path) -> ScoredDir:
    """``test_both``'s scored utterances through the FS model, cached in ``cache``."""
    from sepplug.augment.fs_apply import apply_to_data_dir

    tables = [p for p in (both.path / f for f in UTT_FILES) if p.is_file()]
    fs_file = Path(suppressor.source).absolute()
    stamp = {"fs_model": str(fs_file), "fs_model_sha256": _sha256(fs_file),
             "source": str(both.path.absolute()), "tables_sha256": _sha256(*tables),
             "utts": both.keys}
    made_from = cache / "made_from.json"
    if not (made_from.is_file() and json.loads(made_from.read_text()) == stamp):
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache.parent, prefix=".fs_in.") as tmp:
            for path in tables:  # the scored utterances only
                table = read_table(path)
                write_table(Path(tmp) / path.name, {k: table[k] for k in both.keys if k in table})
            try:
                apply_to_data_dir(suppressor, tmp, cache, categories=["both"],
                                  suffix=FS_SUFFIX, progress=False)
            except (OSError, ValueError) as exc:
                raise DataError(f"FS transform of {both.path}: {exc}") from exc
        atomic_write_text(made_from, json.dumps(stamp, indent=1) + "\n")
    else:
        logger.info("reusing %s (same FS model and tables)", cache)
    return open_subset(cache, None)


def _channel(audio: np.ndarray, ch: int, where: str) -> np.ndarray:
    """(T, C) -> (T,) channel ``ch``; a (T, 1) reference is taken as the reference mic's."""
    return pick_channel(audio, ch, lambda c: f"{where} has {c} channels, --ref_channel {ch} asked")


def score_subset(models: list[Evaluated], subset: ScoredDir, ref_channel: int) -> list[dict]:
    """Per-utterance rows ``{model, subset, utt, si_sdr, si_sdr_mix, si_sdri}``."""
    rows = []
    for key in subset.keys:
        try:
            mix, rate = read_audio(subset.mix[key], key, subset.path / "wav.scp")
            refs = np.stack([_channel(read_audio(t[key], key, scp)[0], ref_channel,
                                      f"{scp} ('{key}')") for scp, t in subset.refs])
        except OSError as exc:
            raise DataError(str(exc)) from exc
        mix_ref = _channel(mix, ref_channel, f"{subset.path / 'wav.scp'} ('{key}')")
        for ev in models:
            # SeparateSpeech takes (B, T) or (B, T, C)
            x = mix if ev.input == "all" and mix.shape[1] > 1 else mix_ref
            try:
                waves = ev.model.separate(x[None], fs=rate)
                ests = np.stack([np.asarray(w[0], dtype=np.float64) for w in waves])
                scores = score_si_sdr(refs, ests, mix_ref, key=f"{subset.name} '{key}'")
            except (ValueError, RuntimeError, AssertionError) as exc:
                raise DataError(f"{subset.path / 'wav.scp'}: '{key}': model "
                                f"{ev.model.exp_dir} failed: {type(exc).__name__}: {exc}") from exc
            # rounded as per_utt.tsv holds them: summary.tsv is their mean
            rows.append({"model": ev.tag, "subset": subset.name, "utt": key,
                         **{c: round(scores[c], 4) for c in PER_UTT_COLUMNS}})
        logger.debug("%s %s scored", subset.name, key)
    return rows


def run(args: argparse.Namespace) -> Path:
    """Everything but argument parsing; raises :class:`DataError` before writing anything."""
    out_dir = args.out_dir or args.model / "preference"
    if args.max_utts is not None and args.max_utts < 1:
        raise DataError(f"--max_utts must be >= 1, got {args.max_utts}")
    if not args.data_dir.is_dir():
        raise DataError(f"{args.data_dir}: data dir not found")
    subsets = [open_subset(args.data_dir / s, args.max_utts) for s in SUBSETS]
    channels, rate, where = mixture_format(subsets)
    if not 0 <= args.ref_channel < channels:
        raise DataError(f"--ref_channel {args.ref_channel}: {where} has {channels} channels")
    suppressor = None
    if args.fs_model is not None:
        from sepplug.augment.fs_apply import FeatureSuppressor

        fs_file = args.fs_model / "model.pth" if args.fs_model.is_dir() else args.fs_model
        try:
            suppressor = FeatureSuppressor.from_checkpoint(fs_file)
            suppressor.check_data(channels, rate, where)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"--fs_model {args.fs_model}: {exc}") from exc
        for name in ("utt2category", "spk1_mc.scp", "spk2_mc.scp"):
            if not (subsets[2].path / name).is_file():
                raise DataError(f"{subsets[2].path}: missing {name} (the FS transform needs it)")
    models = [load(args.model, args.model_file, args.device)]
    if args.timbre_model is not None:
        models.append(load(args.timbre_model, args.timbre_model_file, args.device))
        if models[1].tag == models[0].tag:
            models[1].tag += "_timbre"
    try:
        select.check_rates([ev.model for ev in models], rate, where)
    except select.SelectError as exc:
        raise DataError(str(exc)) from exc
    for ev in models:
        choose_input(ev, args.input_channels, channels, args.ref_channel, where)
        if ev.model.separate.num_spk != 2:
            raise DataError(f"model {ev.model.exp_dir} separates {ev.model.separate.num_spk} "
                            "sources; the test sets have 2")
        logger.info("%s: input %s (%s)", ev.tag, ev.input, ev.why)
    if suppressor is not None:
        subsets.append(fs_transform(suppressor, subsets[2], out_dir / FS_SET))
    rows = []
    for subset in subsets:
        rows += score_subset(models, subset, args.ref_channel)
        logger.info("scored %s (%d utterances)", subset.name, len(subset.keys))
    write_results(out_dir, models, rows, [s.name for s in subsets], args)
    logger.info("wrote %s", out_dir / "preference.md")
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from sepplug.bin.fs_train import set_torch_threads

    set_torch_threads(args.num_threads)
    try:
        run(args)
    except DataError as exc:
        print(f"sepplug preference: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
