#!/usr/bin/env python3
"""Learning-curve probe: dev SI-SDRi per subset against steps, for choosing CPU defaults.

Not the recipe's trainer (that is ESPnet's, stage 5): a plain PyTorch loop over the
recipe's data dirs that evaluates the dev set *per subset* every ``--eval_every`` steps,
which ESPnet's validation (one loss over the whole dev set) does not. It loads the whole
training set into memory (2000 6-ch 3 s mixtures at 8 kHz: about 5 GB with references),
draws random 2 s crops, trains with utterance-level PIT on negative SI-SDR (as the
recipe's ``si_snr`` + ``pit`` criterion), Adam, gradient clipping 5, one thread, and
stops after ``--minutes``. Output: one JSON line per evaluation (step, minutes, training
SI-SDR of the last steps, dev SI-SDRi per subset). RESULTS.md ("What was tried") lists
the runs.

    local/probe_learning_curve.py --data data --out exp/probes/nb32.jsonl \
        --arch tf_dualpath --hidden 32 --cross_band 0 --spatial_feature ri+ipd \
        --freq_embedding 1 --lr 3e-3 --minutes 9
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from espnet2.enh.decoder.stft_decoder import STFTDecoder
from espnet2.enh.encoder.stft_encoder import STFTEncoder
from espnet2.enh.separator.rnn_separator import RNNSeparator
from espnet2.enh.separator.tfgridnetv2_separator import TFGridNetV2

from sepplug.enh.separator.tf_dualpath import TFDualPathSeparator


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dir with train/ and dev/")
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines curve")
    parser.add_argument("--arch", choices=["tf_dualpath", "rnn", "tfgridnetv2"],
                        default="tf_dualpath",
                        help="sepplug tf_dualpath, ESPnet's stock rnn (BLSTM magnitude mask) or "
                             "stock tfgridnetv2 (waveform in and out, its own STFT)")
    parser.add_argument("--mics", type=int, default=6, help="6, or 1 (mic 0 only)")
    parser.add_argument("--hidden", type=int, default=32, help="tf_dualpath hidden_dim")
    parser.add_argument("--blocks", type=int, default=2, help="tf_dualpath num_blocks")
    parser.add_argument("--cross_band", type=int, default=0)
    parser.add_argument("--spatial_feature", default="ri+ipd")
    parser.add_argument("--freq_embedding", type=int, default=1)
    parser.add_argument("--unit", type=int, default=256,
                        help="rnn units; tfgridnetv2 lstm_hidden_units")
    parser.add_argument("--layers", type=int, default=4, help="tfgridnetv2 n_layers")
    parser.add_argument("--hop", type=int, default=128, help="STFT hop (window 256)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--segment", type=float, default=2.0, help="training crop (s)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full_band", type=int, default=0,
                        help="tf_dualpath full_band_dim (0: no full-band spectral branch)")
    parser.add_argument("--output", choices=["mapping", "mask"], default="mapping",
                        help="tf_dualpath output")
    parser.add_argument("--train_dirs", nargs="+", default=["train"],
                        help="training data dirs under --data (e.g. train train_hard_extra "
                             "for the oracle-data set)")
    parser.add_argument("--rotate", action="store_true",
                        help="rotation augmentation of the 6-mic circular array (6-ch only)")
    return parser


def read_scp(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def load_set(
    set_dir: Path, mics: int, every_mic: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mixtures (N, T, C), references at mic 0 (N, 2, T) — or at every mic (N, 2, T, 6) with
    ``every_mic`` — and the subsets of one data dir."""
    wav, categories = read_scp(set_dir / "wav.scp"), read_scp(set_dir / "utt2category")
    suffix = "_mc" if every_mic else ""
    refs = [read_scp(set_dir / f"spk{n}{suffix}.scp") for n in (1, 2)]
    keys = sorted(wav)
    mix = np.stack([sf.read(wav[k], dtype="float32", always_2d=True)[0][:, :mics] for k in keys])
    ref = np.stack([[sf.read(r[k], dtype="float32")[0] for r in refs] for k in keys])
    return mix, ref, [categories[k] for k in keys]


def si_sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(..., T) -> (...) in dB."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps) * ref
    return 10 * torch.log10(target.pow(2).sum(-1) / ((est - target).pow(2).sum(-1) + eps) + eps)


def pit_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Best-permutation mean SI-SDR of two sources: (B, 2, T) -> (B,)."""
    same = (si_sdr(est[:, 0], ref[:, 0]) + si_sdr(est[:, 1], ref[:, 1])) / 2
    swap = (si_sdr(est[:, 0], ref[:, 1]) + si_sdr(est[:, 1], ref[:, 0])) / 2
    return torch.maximum(same, swap)


def main() -> None:
    args = get_parser().parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    parts = [load_set(args.data / d, args.mics, every_mic=args.rotate) for d in args.train_dirs]
    train_mix = np.concatenate([mix for mix, _, _ in parts])
    train_ref = np.concatenate([ref for _, ref, _ in parts])
    dev_mix, dev_ref, dev_cat = load_set(args.data / "dev", args.mics)
    encoder, decoder = STFTEncoder(256, hop_length=args.hop), STFTDecoder(256, hop_length=args.hop)
    if args.arch == "tfgridnetv2":  # the config of ../../shared notes' probe, 1.03 M params
        model = TFGridNetV2(None, n_srcs=2, n_fft=256, stride=args.hop, n_imics=args.mics,
                            n_layers=args.layers, lstm_hidden_units=args.unit,
                            attn_approx_qk_dim=256, emb_dim=32, emb_ks=4, emb_hs=4)
    elif args.arch == "rnn":
        model = RNNSeparator(129, rnn_type="blstm", num_spk=2, layer=2, unit=args.unit,
                             nonlinear="sigmoid")
    else:
        model = TFDualPathSeparator(
            129, num_mics=args.mics, hidden_dim=args.hidden, num_blocks=args.blocks,
            cross_band=bool(args.cross_band), spatial_feature=args.spatial_feature,
            freq_embedding=bool(args.freq_embedding), full_band_dim=args.full_band,
            output=args.output)
    optimizer = torch.optim.Adam(model.parameters(), args.lr)

    def separate(mix: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, 2, T)
        mix = mix[..., 0] if mix.shape[-1] == 1 else mix
        lengths = torch.full((mix.shape[0],), mix.shape[1])
        if args.arch == "tfgridnetv2":
            return torch.stack(model(mix, lengths)[0], 1)
        spec, frames = encoder(mix, lengths)
        sources, _, _ = model(spec, frames)
        return torch.stack([decoder(s, lengths)[0] for s in sources], 1)

    def evaluate() -> dict[str, float]:
        model.eval()
        scores: dict[str, list[float]] = {}
        with torch.no_grad():
            for start in range(0, len(dev_mix), 10):
                mix = torch.from_numpy(dev_mix[start : start + 10])
                ref = torch.from_numpy(dev_ref[start : start + 10])
                base = (si_sdr(mix[..., 0], ref[:, 0]) + si_sdr(mix[..., 0], ref[:, 1])) / 2
                gain = pit_si_sdr(separate(mix), ref) - base
                for cat, value in zip(dev_cat[start : start + 10], gain.tolist(), strict=True):
                    scores.setdefault(cat, []).append(value)
        model.train()
        return {cat: round(float(np.mean(v)), 3) for cat, v in sorted(scores.items())}

    rng = np.random.default_rng(args.seed)
    crop = int(args.segment * 8000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start_time, step, losses = time.time(), 0, []
    with open(args.out, "w") as log:
        while True:
            items = rng.integers(len(train_mix), size=args.batch)
            starts = rng.integers(0, train_mix.shape[1] - crop + 1, size=args.batch)
            mix = np.stack([train_mix[i, s : s + crop] for i, s in zip(items, starts, strict=True)])
            ref = np.stack([train_ref[i, :, s : s + crop]
                            for i, s in zip(items, starts, strict=True)])
            if args.rotate:  # rotate each scene by k mic steps: mic 0 now hears mic -k
                steps = rng.integers(train_mix.shape[-1], size=args.batch)
                mix = np.stack([np.roll(m, k, axis=-1) for m, k in zip(mix, steps, strict=True)])
                ref = np.stack([r[..., -k % r.shape[-1]] for r, k in zip(ref, steps, strict=True)])
            loss = -pit_si_sdr(separate(torch.from_numpy(mix)), torch.from_numpy(ref)).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            step += 1
            losses.append(loss.item())
            if step % args.eval_every == 0:
                minutes = (time.time() - start_time) / 60
                record = {"step": step, "min": round(minutes, 2),
                          "train_si_sdr": round(-float(np.mean(losses[-args.eval_every:])), 3),
                          **evaluate()}
                print(json.dumps(record), file=log, flush=True)
                if minutes > args.minutes:
                    break


if __name__ == "__main__":
    main()
