"""Pick, per mixture, the most confident of several separation models.

    sepplug select --model exp/enh_speech --model exp/enh_music --model exp/enh_env \\
        --data_dir data/test_mixed --out_dir exp/select_test_mixed \\
        [--model_file auto|NAME] [--confidence auto|dc|mask]

Each ``--model`` is an ESPnet exp dir with ``config.yaml`` and a checkpoint
(``auto``: ``<best_model_criterion[0]>.best.pth`` from config.yaml, e.g.
``valid.loss.best.pth``; else ``--model_file NAME`` in every dir). Every mixture
of ``<data_dir>/wav.scp`` is separated by every model (ESPnet's ``SeparateSpeech``),
each model's clustering confidence is computed (:mod:`sepplug.selection`), and
the output of the most confident model is written as a Kaldi dir::

    <out_dir>/wav.scp          copy of the input's
    <out_dir>/spk{k}.scp       chosen model's sources -> <out_dir>/wav/<utt>_spk{k}.wav
    <out_dir>/confidence.tsv   utt_id, one confidence column per model, chosen

Confidence: ``dc`` uses the separator's ``others["tf_embedding"]`` (``dc_blstm``,
stock ``dpcl``) on the loud bins of the mixture's encoder magnitudes; ``mask``
uses the separator's ``mask_spk{k}`` (or |output_k| / sum |output| when it gives
none) with :func:`~sepplug.selection.mask_confidence`; ``auto`` is ``dc`` when
every model gives embeddings, else ``mask`` for all (the two scales are not
comparable). Bad input stops with a message naming the file and exit status 1,
before anything is written to ``<out_dir>`` (all output goes to a temp dir that
is renamed at the end).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml
from tqdm import tqdm

from sepplug.datadir.kaldi_dir import read_table, write_table
from sepplug.selection import ConfidenceWarning, clustering_confidence, mask_confidence

logger = logging.getLogger("sepplug.select")


class SelectError(RuntimeError):
    """Bad input: the message names the file/key and what is wrong."""


@dataclass
class Model:
    """One loaded model and what its separator returned for the last mixture."""

    name: str
    exp_dir: Path
    checkpoint: Path
    rate: int | None
    rate_source: str
    separate: object = None  # espnet2.bin.enh_inference.SeparateSpeech, once loaded
    captured: dict = field(default_factory=dict)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sepplug select", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", action="append", required=True, type=Path,
                   help="ESPnet exp dir (config.yaml + checkpoint); give two or more")
    p.add_argument("--data_dir", type=Path, required=True, help="Kaldi dir with wav.scp")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--model_file", default="auto",
                   help="checkpoint name in each exp dir; auto: <best_model_criterion[0]>.best.pth")
    p.add_argument("--confidence", choices=("auto", "dc", "mask"), default="auto")
    p.add_argument("--loud_fraction", type=float, default=0.01,
                   help="loudest fraction of T-F bins used (paper: 0.01)")
    p.add_argument("--percentile", type=float, default=None,
                   help="use the bins above this loudness percentile instead (nussl: 95)")
    p.add_argument("--max_points", type=int, default=1000)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    return p


def _parse_rate(value) -> int | None:
    """8000, "8000", "8k", "16k" -> Hz; None when not a rate."""
    text = str(value).strip().lower()
    try:
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))
    except ValueError:
        return None


def resolve_path(path: str, exp_dir: Path) -> Path | None:
    """A path of a training config: as given, or relative to the recipe dir (exp/..)."""
    for cand in (Path(path), exp_dir.parent.parent / path, exp_dir.parent / path):
        if cand.is_file():
            return cand
    return None


def model_rate(config: dict, exp_dir: Path) -> tuple[int | None, str]:
    """The sample rate a model was trained at and where it was read from.

    ESPnet's enh config.yaml holds no rate, so: a top-level ``fs`` if present, else
    the rate of the first wav of the training ``wav.scp`` if it can be found.
    """
    if config.get("fs") is not None and _parse_rate(config["fs"]):
        return _parse_rate(config["fs"]), f"{exp_dir / 'config.yaml'} (fs)"
    for entry in config.get("train_data_path_and_name_and_type") or []:
        scp = resolve_path(str(entry[0]), exp_dir) if entry else None
        if scp is None or len(entry) < 3 or entry[2] != "sound":
            continue
        first = next(iter(read_table(scp).values()), None)
        wav = resolve_path(first, scp.parent) if first else None
        if wav is None and first:
            wav = resolve_path(first, exp_dir)
        if wav is not None:
            try:
                return sf.info(str(wav)).samplerate, f"training data {wav}"
            except RuntimeError:
                continue
    return None, "unknown"


def checkpoint_of(exp_dir: Path, config: dict, model_file: str) -> Path:
    """The checkpoint to load from ``exp_dir``."""
    if model_file == "auto":  # as enh.sh's --inference_model auto (sepplug.bin.pick_checkpoint)
        from sepplug.bin.pick_checkpoint import CheckpointError, pick

        try:
            ckpt, why = pick(exp_dir, "auto")
        except CheckpointError as exc:
            raise SelectError(f"{exc}; pass --model_file NAME") from exc
        logger.info("%s: %s (%s)", exp_dir, ckpt.name, why)
        return ckpt
    ckpt = exp_dir / model_file
    if not ckpt.is_file():
        raise SelectError(f"{exp_dir}: missing checkpoint {ckpt}")
    return ckpt


def inspect_model(exp_dir: Path, name: str, model_file: str) -> Model:
    """Check an exp dir (config.yaml, checkpoint, sample rate) without building the model."""
    config_file = exp_dir / "config.yaml"
    if not exp_dir.is_dir():
        raise SelectError(f"{exp_dir}: model dir not found")
    if not config_file.is_file():
        raise SelectError(f"{exp_dir}: no config.yaml in the model dir")
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SelectError(f"{config_file}: not YAML: {exc}") from exc
    if not isinstance(config, dict) or "separator" not in config:
        raise SelectError(f"{config_file}: not an ESPnet enh training config (no 'separator')")
    ckpt = checkpoint_of(exp_dir, config, model_file)
    rate, rate_source = model_rate(config, exp_dir)
    return Model(name, exp_dir, ckpt, rate, rate_source)


def separate_speech_class():
    """ESPnet's ``SeparateSpeech``, imported so that it builds sepplug's plugins too."""
    # sepplug.tasks.enh first: it prepares ESPnet's import (no nltk look-ups, quiet
    # third-party warnings) and registers the plugins before the model is built.
    import sepplug.tasks.enh  # noqa: F401, I001
    from espnet2.bin.enh_inference import SeparateSpeech

    return SeparateSpeech


def load_model(model: Model, device: str) -> None:
    """Build ``model.separate`` with ESPnet's ``SeparateSpeech`` and hook its separator."""
    SeparateSpeech = separate_speech_class()
    config_file, ckpt = model.exp_dir / "config.yaml", model.checkpoint
    try:
        separate = SeparateSpeech(train_config=config_file, model_file=ckpt, device=device)
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # ESPnet reports bad configs/checkpoints in many ways
        raise SelectError(f"{model.exp_dir}: cannot load {ckpt} with {config_file}: "
                          f"{type(exc).__name__}: {exc}") from exc
    # ESPnet loads with strict=False: a checkpoint of another model would load nothing.
    missing = sorted(set(separate.enh_model.state_dict()) - set(state))
    if missing:
        raise SelectError(f"{ckpt}: lacks {len(missing)} parameters of the model built from "
                          f"{config_file}, e.g. '{missing[0]}'")
    model.separate = separate

    def hook(module, inputs, output):
        # the encoded mixture and the separator's outputs of the last call
        model.captured = {"feature": inputs[0].detach(), "masked": output[0],
                          "others": output[2]}

    separate.enh_model.separator.register_forward_hook(hook)


def check_rates(models: list[Model], wav_rate: int, wav_where: str) -> None:
    """Every model whose rate is known must match the data (and so each other)."""
    known = [m for m in models if m.rate is not None]
    for m in known:
        if m.rate != wav_rate:
            raise SelectError(f"{wav_where} is at {wav_rate} Hz but model {m.exp_dir} was "
                              f"trained at {m.rate} Hz (from {m.rate_source})")
    if len(known) < len(models):
        logger.warning("sample rate of %s unknown (no fs in config.yaml, training data not "
                       "found): not checked against the data",
                       ", ".join(str(m.exp_dir) for m in models if m.rate is None))


def _flat_mag(x: torch.Tensor) -> np.ndarray:
    """|x| of utterance 0, flattened in memory (t-major) order."""
    return x[0].abs().reshape(-1).double().cpu().numpy()


def model_confidence(model: Model, kind: str, num_spk: int, opts: argparse.Namespace,
                     where: str) -> float:
    """Confidence of the model's last separation (from its captured separator I/O)."""
    cap = model.captured
    loud = _flat_mag(cap["feature"])
    common = dict(loud_fraction=opts.loud_fraction, percentile=opts.percentile,
                  max_points=opts.max_points, seed=opts.seed)
    if kind == "dc":
        others = cap["others"] or {}
        emb = others.get("tf_embedding_unweighted", others.get("tf_embedding"))
        if emb is None:
            raise SelectError(f"{model.exp_dir}: separator gives no tf_embedding; "
                              "use --confidence mask")
        emb = emb[0].detach().double().cpu().numpy()
        if emb.shape[0] != loud.size:
            raise SelectError(f"{model.exp_dir}: tf_embedding has {emb.shape[0]} points but "
                              f"the encoder gives {loud.size} bins for {where}")
        return _quiet(model, where, clustering_confidence, emb, loud, num_spk,
                      temperature=opts.temperature, **common)
    others = cap["others"] or {}
    masks = [others.get(f"mask_spk{k + 1}") for k in range(num_spk)]
    if any(m is None or m[0].numel() != loud.size for m in masks):
        masks = [m for m in cap["masked"] if m is not None]  # |output_k| / sum |output|
        if len(masks) != num_spk or any(m[0].numel() != loud.size for m in masks):
            raise SelectError(f"{model.exp_dir}: separator gives neither masks nor outputs "
                              f"of the encoder's shape for {where}")
    stacked = np.stack([_flat_mag(m) for m in masks])
    return _quiet(model, where, mask_confidence, stacked, loud, **common)


def _quiet(model: Model, where: str, func, *args, **kwargs) -> float:
    """``func(...).confidence``; an undefined confidence is logged with model and mixture."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfidenceWarning)
        value = func(*args, **kwargs).confidence
    for w in caught:
        if issubclass(w.category, ConfidenceWarning):
            logger.warning("%s on %s: %s", model.exp_dir, where, w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value


def _choose_kind(models: list[Model], requested: str) -> str:
    if requested != "auto":
        return requested
    with_emb = ["tf_embedding" in (m.captured.get("others") or {}) for m in models]
    if all(with_emb):
        return "dc"
    if any(with_emb):
        logger.warning("only some models give embeddings: using mask confidence for all")
    return "mask"


def _read_mixture(key: str, path: str, scp: Path) -> tuple[np.ndarray, int]:
    try:
        audio, rate = sf.read(path, dtype="float32")
    except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise SelectError(f"{scp}: '{key}': cannot read {path}: {exc}") from exc
    return audio, rate


def run(args: argparse.Namespace) -> None:
    """Everything but argument parsing and error reporting (raises :class:`SelectError`)."""
    scp = args.data_dir / "wav.scp"
    if not scp.is_file():
        raise SelectError(f"{args.data_dir}: missing wav.scp ({scp})")
    mixtures = read_table(scp)
    if not mixtures:
        raise SelectError(f"{scp}: no mixtures")
    if len(args.model) < 2:
        logger.warning("only one --model: nothing to select from")
    names = [m.name for m in args.model]
    if len(set(names)) < len(names):
        names = [str(m) for m in args.model]
    models = [inspect_model(d, n, args.model_file)
              for d, n in zip(args.model, names, strict=True)]
    keys = sorted(mixtures)
    first_audio, first_rate = _read_mixture(keys[0], mixtures[keys[0]], scp)
    check_rates(models, first_rate, f"{scp} ('{keys[0]}', {mixtures[keys[0]]})")
    for m in models:
        load_model(m, args.device)
    num_spk = {m.name: m.separate.num_spk for m in models}
    if len(set(num_spk.values())) > 1:
        raise SelectError(f"models separate into different numbers of sources: {num_spk}")
    k = models[0].separate.num_spk

    out_dir = args.out_dir.absolute()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wav").mkdir(parents=True)
    try:
        rows, tables, kind = [], [{} for _ in range(k)], None
        for key in tqdm(keys, desc=f"select {args.data_dir}", mininterval=2):
            audio, rate = ((first_audio, first_rate) if key == keys[0]
                           else _read_mixture(key, mixtures[key], scp))
            if rate != first_rate:
                raise SelectError(f"{scp}: '{key}' ({mixtures[key]}) is at {rate} Hz, "
                                  f"'{keys[0]}' at {first_rate} Hz")
            outputs, scores = [], []
            for m in models:
                try:
                    waves = m.separate(audio[None], fs=rate)
                except (ValueError, RuntimeError) as exc:
                    raise SelectError(f"{scp}: '{key}': model {m.exp_dir} failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
                outputs.append(waves)
            kind = kind or _choose_kind(models, args.confidence)
            for m in models:
                scores.append(model_confidence(m, kind, k, args, f"'{key}'"))
            best = int(np.argmax(scores))
            for s in range(k):
                name = f"{key}_spk{s + 1}.wav"
                sf.write(tmp / "wav" / name, np.asarray(outputs[best][s][0]), rate,
                         subtype="FLOAT")
                tables[s][key] = str(out_dir / "wav" / name)
            rows.append(key + "\t" + "\t".join(f"{c:.6f}" for c in scores)
                        + f"\t{models[best].name}")
        shutil.copyfile(scp, tmp / "wav.scp")
        for s, table in enumerate(tables):
            write_table(tmp / f"spk{s + 1}.scp", table)
        header = "\t".join(["utt_id", *(m.name for m in models), "chosen"])
        (tmp / "confidence.tsv").write_text("\n".join([header, *rows]) + "\n",
                                            encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        logger.info("replacing %s", out_dir)
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    chosen = [r.rsplit("\t", 1)[1] for r in rows]
    logger.info("%s confidence; chosen: %s -> %s", kind,
                ", ".join(f"{m.name} {chosen.count(m.name)}" for m in models), out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run(args)
    except SelectError as exc:
        print(f"sepplug select: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
