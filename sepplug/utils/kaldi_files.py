"""Small readers/writers for Kaldi-style text files (``wav.scp``, ``utt2category`` ...).

Kaldi files are "<key> <value>" lines sorted by key in C locale. These helpers are
for the recipe tools that copy or rewrite whole data dirs; audio goes through
soundfile / ESPnet's SoundScpReader.
"""

from __future__ import annotations

from pathlib import Path

#: files of a SpatialVCTK data dir, keyed per utterance
UTT_FILES = (
    "wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp", "spk2_mc.scp",
    "utt2spk", "utt2category", "utt2angle",
)


def read_kv(path: Path | str) -> dict[str, str]:
    """Read "<key> <value>" lines; the value is the rest of the line."""
    out: dict[str, str] = {}
    path = Path(path)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        if key in out:
            raise ValueError(f"{path}:{n}: duplicate key '{key}'")
        out[key] = value.strip()
    return out


def write_kv(path: Path | str, table: dict[str, str]) -> None:
    """Write a table sorted by key (C locale order = Python str order for ASCII keys)."""
    Path(path).write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)), encoding="utf-8")


def write_spk2utt(data_dir: Path) -> None:
    """Derive ``spk2utt`` from ``utt2spk``."""
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in read_kv(data_dir / "utt2spk").items():
        spk2utt.setdefault(spk, []).append(utt)
    write_kv(data_dir / "spk2utt", {s: " ".join(sorted(u)) for s, u in spk2utt.items()})
