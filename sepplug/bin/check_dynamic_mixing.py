"""Check that an experiment trains with dynamic mixing, from the arguments it trained with.

    python -m sepplug.bin.check_dynamic_mixing --config exp/enh_x/config.yaml \\
        [--examples 8] [--epochs 2] [--out report.json]

Reads the ``config.yaml`` ESPnet wrote for the run (every argument training used, the
command line's ``--utt2spk`` included), builds the training preprocessor as the trainer
does (``SepplugEnhancementTask.build_preprocess_fn(args, train=True)``), and mixes the
first ``--examples`` training examples once per epoch under the trainer's seed for that
epoch (``seed + epoch``: ESPnet reseeds ``random`` at every epoch start). Fails (exit 1,
the reasons on stderr) when

* the preprocessor is not a ``DynamicMixingPreprocessor`` (or subclass such as ``hard_dm``);
* it has no real ``utt2spk`` (without ``--utt2spk`` ESPnet makes every utterance its own
  speaker, so a partner may be the anchor's own speaker);
* a partner has the anchor's speaker, or a mixture is not the sum of its references;
* no example's second source changes between epochs.

The JSON report (stdout, or ``--out``) lists per epoch each example's partner utterances
and speakers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sepplug.datadir.kaldi_dir import read_table
from sepplug.utils.offline import prepare_espnet_import


def check(config: dict[str, Any], examples: int = 8, epochs: int = 2) -> dict[str, Any]:
    """Mix the first ``examples`` training examples once per epoch; return the report
    (``problems`` empty when dynamic mixing works)."""
    prepare_espnet_import()  # before ESPnet's imports pull in g2p_en (see sepplug.utils.offline)
    from espnet2.train.dataset import ESPnetDataset
    from espnet2.train.preprocessor import DynamicMixingPreprocessor

    from sepplug.tasks.enh import SepplugEnhancementTask

    args = argparse.Namespace(**config)
    outer = SepplugEnhancementTask.build_preprocess_fn(args, train=True)
    inner = getattr(outer, "inner", outer)
    report: dict[str, Any] = {"preprocessor": type(inner).__name__, "problems": [],
                              "epochs": {}}
    problems = report["problems"]
    if not isinstance(inner, DynamicMixingPreprocessor):
        problems.append(f"preprocessor {config.get('preprocessor')!r} does not mix on the fly "
                        "(want dynamic_mixing or a subclass)")
        return report
    utt2spk = inner.utt2spk
    if all(utt == spk for utt, spk in utt2spk.items()):
        problems.append("no utt2spk: every utterance is its own speaker (pass --utt2spk "
                        "<train dir>/utt2spk to enh_train)")
    picks: list[list[str]] = []
    original = inner._pick_source_utterances_

    def recording_pick(uid: str) -> list[str]:
        chosen = original(uid)
        picks.append(list(chosen))
        return chosen

    inner._pick_source_utterances_ = recording_pick  # instance attribute: shadows the method
    data_files = [tuple(x) for x in config["train_data_path_and_name_and_type"]]
    dataset = ESPnetDataset(data_files)
    uids = list(read_table(Path(data_files[0][0])))[:examples]
    seconds: dict[str, list[bytes]] = {uid: [] for uid in uids}
    seed = int(config.get("seed", 0))
    for epoch in range(1, epochs + 1):
        random.seed(seed + epoch)
        np.random.seed(seed + epoch)
        if hasattr(inner, "set_epoch"):  # e.g. hard_dm: its own per-epoch draws
            inner.set_epoch(epoch)
        rows = {}
        for uid in uids:
            picks.clear()
            out = outer(uid, dict(dataset[uid][1]))
            refs = [out[k] for k in sorted(out) if k.startswith("speech_ref")]
            if not np.allclose(out["speech_mix"], np.sum(refs, axis=0), atol=1e-5):
                problems.append(f"epoch {epoch}, {uid}: the mixture is not the sum of its refs")
            seconds[uid].append(np.asarray(refs[1]).tobytes())
            partners = picks[0] if picks else []
            speakers = [utt2spk.get(p, "?") for p in partners]
            if utt2spk.get(uid) in speakers:
                problems.append(f"epoch {epoch}, {uid}: a partner has the anchor's speaker "
                                f"{utt2spk.get(uid)}")
            rows[uid] = {"speaker": utt2spk.get(uid), "partners": partners,
                         "partner_speakers": speakers}
        report["epochs"][epoch] = rows
    if epochs > 1 and all(len(set(v)) == 1 for v in seconds.values()):
        problems.append(f"no example's second source changed over {epochs} epochs")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.bin.check_dynamic_mixing", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="exp/<run>/config.yaml")
    parser.add_argument("--examples", type=int, default=8, help="training examples to mix")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to mix them for")
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default: stdout)")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        print(f"check_dynamic_mixing: no such file: {args.config}", file=sys.stderr)
        return 1
    config = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    report = check(config, args.examples, args.epochs)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    for problem in report["problems"]:
        print(f"check_dynamic_mixing: {args.config}: {problem}", file=sys.stderr)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
