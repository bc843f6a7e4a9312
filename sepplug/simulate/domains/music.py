"""Music sources: "vocals" vs accompaniment, synthesised from random songs or read from MUSDB.

**Embedded (offline) songs.** :func:`draw_song` draws a short random pop-like song:
key (any tonic, major or minor), tempo (72-150 BPM), a four-chord progression (one chord
a bar), and

* a **lead melody** — a random walk on the scale in a singing range, phrases of notes of
  0.5-2 beats with short rests, velocity accents and a delayed vibrato (pitch bends at
  4.5-6.5 Hz, 15-50 cents) — played on a voice-like General-MIDI patch (Choir Aahs, Voice
  Oohs, Synth Vox or Solo Vox): the "vocals";
* **chords** (piano / e-piano / organ / guitar / strings / pad patches; sustained, on the
  beats or syncopated), a **bass line** (bass patches; roots, fifths and octaves) and
  **drums** (GM drum kits; kick, snare, hi-hat or ride, crash on bar starts, random ghost
  notes): summed, the "accompaniment".

:func:`render_song` renders both parts with ``tinysoundfont`` from the General-MIDI
soundfont ``TimGM6mb.sf2`` that ships inside the ``pretty_midi`` wheel (MIT licence), in
two passes of one synthesizer, each from a silenced state: a pure function of the song
(the same song renders to the same samples in any process, after anything else).

**MUSDB.** :func:`scan_musdb` reads MUSDB18-HQ-style stems, ``<track>/vocals.wav`` plus
the other stems (``drums.wav``, ``bass.wav``, ``other.wav``, any other ``*.wav`` except
``mixture.wav``) summed as the accompaniment, from ``<root>/{train,test}/<track>/`` or
``<root>/<track>/``; :func:`read_musdb_crop` reads a coherent crop of both (same track, same
time) where the vocals are not silent.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sepplug.errors import DataError

#: voice-like General-MIDI programs (0-based) used for the "vocals"
VOCAL_PROGRAMS = {52: "Choir Aahs", 53: "Voice Oohs", 54: "Synth Vox", 85: "Solo Vox"}
#: harmony programs of the chords
CHORD_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 19, 24, 25, 26, 27, 48, 49, 50, 61, 89, 90)
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39)
#: drum kits of TimGM6mb (bank 128)
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
#: common progressions as scale degrees (0 = tonic)
PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 0), (5, 3, 0, 4), (0, 3, 0, 4),
                (0, 5, 1, 4), (3, 4, 0, 5), (0, 4, 3, 4))
TEMPO_RANGE = (72.0, 150.0)
VOCAL_CHANNEL, CHORD_CHANNEL, BASS_CHANNEL, DRUM_CHANNEL = 0, 1, 2, 9
BLOCK = 32  # samples rendered between two control updates (4 ms at 8 kHz)
MUSDB_ACCOMPANIMENT_EXCLUDE = ("vocals.wav", "mixture.wav", "accompaniment.wav")
#: MUSDB18's official validation tracks (taken from its train set)
MUSDB_VALIDATION = (
    "Actions - One Minute Smile", "Alexander Ross - Goodbye Bolero", "ANiMAL - Rockshow",
    "Clara Berry And Wooldog - Waltz For My Victims", "Fergessen - Nos Palpitants",
    "James May - On The Line", "Johnny Lokke - Promises & Lies", "Leaf - Summerghost",
    "Meaxic - Take A Step", "Patrick Talbot - A Reason To Leave", "Skelpolu - Human Mistakes",
    "Traffic Experiment - Sirens", "Triviul - Angelsaint", "Young Griffo - Pennies",
)


@dataclass
class Note:
    """One MIDI note: start and end in seconds."""

    channel: int
    pitch: int
    velocity: int
    start: float
    end: float


@dataclass
class Song:
    """A drawn song: its parameters (for ``meta.jsonl``) and its notes."""

    tonic: int  # MIDI pitch class 0-11
    mode: str  # major | minor
    tempo: float  # BPM
    progression: list[int]
    vocal_program: int
    chord_program: int
    bass_program: int
    drum_kit: int
    comping: str
    vibrato_hz: float
    vibrato_cents: float
    notes: list[Note] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        """JSON-able parameters (without the note list)."""
        out = {k: v for k, v in asdict(self).items() if k != "notes"}
        out["vocal_patch"] = VOCAL_PROGRAMS[self.vocal_program]
        out["num_vocal_notes"] = sum(n.channel == VOCAL_CHANNEL for n in self.notes)
        return out


def soundfont_path() -> Path:
    """``TimGM6mb.sf2`` inside the installed ``pretty_midi`` package.

    Raises:
        DataError: pretty_midi is not installed or ships no soundfont.
    """
    import importlib.util

    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise DataError(
            "the music domain needs pretty_midi (its wheel ships the TimGM6mb.sf2 soundfont): "
            "pip install pretty_midi==0.2.11"
        )
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise DataError(f"pretty_midi has no soundfont at {path}")
    return path


def draw_song(rng: np.random.Generator, duration: float) -> Song:
    """Draw a random song covering at least ``duration`` seconds (see the module doc)."""
    mode = "major" if rng.random() < 0.6 else "minor"
    song = Song(
        tonic=int(rng.integers(12)), mode=mode,
        tempo=round(float(rng.uniform(*TEMPO_RANGE)), 2),
        progression=[int(d) for d in PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]],
        vocal_program=int(rng.choice(list(VOCAL_PROGRAMS))),
        chord_program=int(rng.choice(CHORD_PROGRAMS)),
        bass_program=int(rng.choice(BASS_PROGRAMS)),
        drum_kit=int(rng.choice(DRUM_KITS)),
        comping=str(rng.choice(["sustained", "beats", "syncopated"])),
        vibrato_hz=round(float(rng.uniform(4.5, 6.5)), 3),
        vibrato_cents=round(float(rng.uniform(15, 50)), 2),
    )
    beat = 60.0 / song.tempo
    bars = int(math.ceil(duration / (4 * beat))) + 1
    scale = MAJOR if mode == "major" else MINOR
    song.notes += _melody(rng, song, scale, beat, bars)
    song.notes += _chords_and_bass(rng, song, scale, beat, bars)
    song.notes += _drums(rng, beat, bars)
    return song


def _scale_pitch(tonic: int, scale: tuple[int, ...], degree: int, octave_base: int) -> int:
    """MIDI pitch of scale ``degree`` (any integer) above ``octave_base`` + tonic."""
    octave, step = divmod(degree, len(scale))
    return octave_base + tonic + 12 * octave + scale[step]


def _melody(rng: np.random.Generator, song: Song, scale: tuple[int, ...], beat: float,
            bars: int) -> list[Note]:
    base = 55 if rng.random() < 0.5 else 48  # a lower or a higher singer
    degree = int(rng.integers(5, 10))  # start inside the octave above base + tonic
    t, end = 0.0, bars * 4 * beat
    notes = []
    while t < end:
        length = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0])) * beat
        step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
        degree = int(np.clip(degree + step, 2, 13))
        pitch = _scale_pitch(song.tonic, scale, degree, base)
        velocity = int(rng.integers(75, 115))
        notes.append(Note(VOCAL_CHANNEL, pitch, velocity, t, t + 0.95 * length))
        t += length
        if rng.random() < 0.15:  # a breath: at most one beat
            t += float(rng.choice([0.5, 1.0])) * beat
    return notes


def _chords_and_bass(rng: np.random.Generator, song: Song, scale: tuple[int, ...],
                     beat: float, bars: int) -> list[Note]:
    notes = []
    seventh = rng.random() < 0.3
    bass_pattern = str(rng.choice(["half", "quarter", "eighth", "root_fifth"]))
    for bar in range(bars):
        root = song.progression[bar % len(song.progression)]
        degrees = [root, root + 2, root + 4] + ([root + 6] if seventh else [])
        chord = [_scale_pitch(song.tonic, scale, d, 48) for d in degrees]
        chord = [p - 12 if p > 72 else p for p in chord]
        t0 = bar * 4 * beat
        if song.comping == "sustained":
            hits = [(0.0, 4.0)]
        elif song.comping == "beats":
            hits = [(b, 0.9) for b in range(4)]
        else:
            hits = [(0.0, 1.4), (1.5, 1.0), (2.5, 1.4), (3.5, 0.5)]
        for onset, length in hits:
            velocity = int(rng.integers(55, 90))
            for p in chord:
                notes.append(Note(CHORD_CHANNEL, p, velocity, t0 + onset * beat,
                                  t0 + (onset + length) * beat))
        bass_root = _scale_pitch(song.tonic, scale, root, 28 if song.tonic >= 4 else 40)
        if bass_pattern == "half":
            line = [(0.0, bass_root), (2.0, bass_root)]
        elif bass_pattern == "quarter":
            line = [(float(b), bass_root) for b in range(4)]
        elif bass_pattern == "eighth":
            line = [(b / 2, bass_root + (12 if b % 4 == 3 else 0)) for b in range(8)]
        else:
            line = [(0.0, bass_root), (1.0, bass_root + 7), (2.0, bass_root + 12),
                    (3.0, bass_root + 7)]
        step = line[1][0] - line[0][0]
        for onset, pitch in line:
            notes.append(Note(BASS_CHANNEL, pitch, int(rng.integers(80, 110)),
                              t0 + onset * beat, t0 + (onset + 0.9 * step) * beat))
    return notes


def _drums(rng: np.random.Generator, beat: float, bars: int) -> list[Note]:
    kick, snare = 36, int(rng.choice([38, 40]))
    cymbal = int(rng.choice([42, 42, 44, 51]))  # closed / pedal hi-hat, ride
    kicks = [0.0, 2.0] if rng.random() < 0.5 else [0.0, 1.5, 2.0]
    notes = []
    for bar in range(bars):
        t0 = bar * 4 * beat
        hits = [(b, kick, 100) for b in kicks] + [(b, snare, 95) for b in (1.0, 3.0)]
        hits += [(b / 2, cymbal, 60 + 20 * (b % 2 == 0)) for b in range(8)]
        if bar % 4 == 0:
            hits.append((0.0, 49, 90))  # crash
        hits += [(float(b) / 2, snare, 35) for b in range(8) if rng.random() < 0.12]
        for onset, pitch, velocity in hits:
            velocity = int(np.clip(velocity + rng.integers(-10, 11), 1, 127))
            notes.append(Note(DRUM_CHANNEL, pitch, velocity, t0 + onset * beat,
                              t0 + onset * beat + 0.1))
    return notes


@functools.lru_cache(maxsize=4)
def _synth(fs: int):
    """One tinysoundfont synthesizer per sample rate and process, soundfont loaded."""
    try:
        import tinysoundfont
    except ImportError as exc:
        raise DataError(
            "the music domain needs tinysoundfont: pip install --no-deps tinysoundfont==0.3.7"
        ) from exc
    synth = tinysoundfont.Synth(samplerate=fs)
    sfid = synth.sfload(str(soundfont_path()))
    return synth, sfid


def _render_part(song: Song, channels: set[int], fs: int, start: float,
                 num_samples: int) -> np.ndarray:
    """Mono render of the notes on ``channels`` from ``start`` seconds, ``(num_samples,)``."""
    synth, sfid = _synth(fs)
    # Silence what a previous render left ringing: sounds_off() only starts a fast release
    # (10 ms), so run the synth until every voice is free. Then the voices of this render
    # take the same slots, and are summed in the same order, whatever came before.
    synth.sounds_off()
    synth.generate_simple(fs // 10)
    for channel, bank, program in ((VOCAL_CHANNEL, 0, song.vocal_program),
                                   (CHORD_CHANNEL, 0, song.chord_program),
                                   (BASS_CHANNEL, 0, song.bass_program),
                                   (DRUM_CHANNEL, 128, song.drum_kit)):
        synth.program_select(channel, sfid, bank, program, is_drums=channel == DRUM_CHANNEL)
        synth.pitchbend_range(channel, 2.0)
        synth.pitchbend(channel, 8192)
        synth.control_change(channel, 7, 100)  # volume
        synth.control_change(channel, 10, 64)  # centre pan
    start_sample = int(round(start * fs))
    total = start_sample + num_samples
    total_blocks = -(-total // BLOCK)
    events = []  # (block, order, action, note): note-offs before note-ons in a block
    for note in song.notes:
        if note.channel in channels:
            on = int(note.start * fs) // BLOCK
            off = max(on + 1, int(note.end * fs) // BLOCK)
            if on < total_blocks:
                events.append((on, 1, "on", note))
                events.append((off, 0, "off", note))
    events.sort(key=lambda e: (e[0], e[1], e[3].channel, e[3].pitch, e[3].start))
    vibrato = VOCAL_CHANNEL in channels
    onset_block, chunks, k = 0, [], 0
    buffer = memoryview(bytearray(BLOCK * 2 * 4))
    for block in range(total_blocks):
        while k < len(events) and events[k][0] <= block:
            _, _, action, note = events[k]
            if action == "on":
                synth.noteon(note.channel, note.pitch, note.velocity)
                if note.channel == VOCAL_CHANNEL:
                    onset_block = block
            else:
                synth.noteoff(note.channel, note.pitch)
            k += 1
        if vibrato:  # sung notes: vibrato fading in 150-400 ms after each onset
            t = (block - onset_block) * BLOCK / fs
            depth = song.vibrato_cents * min(1.0, max(0.0, (t - 0.15) / 0.25))
            cents = depth * math.sin(2 * math.pi * song.vibrato_hz * t)
            synth.pitchbend(VOCAL_CHANNEL, int(round(8192 + cents / 200 * 8192)))
        synth.generate_simple(BLOCK, buffer=buffer)
        chunks.append(np.frombuffer(buffer, dtype=np.float32).reshape(-1, 2).mean(axis=1))
    audio = np.concatenate(chunks).astype(np.float64)
    return audio[start_sample:total]


def render_song(rng: np.random.Generator, fs: int, num_samples: int
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Draw a song and render a ``num_samples`` crop of it.

    The crop starts at a random time in the first bar, so that clips do not all begin
    on a downbeat.

    Returns:
        ``(vocals, accompaniment, params)``: float64 ``(num_samples,)`` each, and the
        song's JSON-able parameters.
    """
    start = float(rng.uniform(0.0, 1.0))
    song = draw_song(rng, start + num_samples / fs)
    vocals = _render_part(song, {VOCAL_CHANNEL}, fs, start, num_samples)
    accompaniment = _render_part(song, {CHORD_CHANNEL, BASS_CHANNEL, DRUM_CHANNEL}, fs, start,
                                 num_samples)
    return vocals, accompaniment, {**song.params(), "start": round(start, 4)}


#: the channels of each instrument-family part of a song (the open-domain classes)
PART_CHANNELS = {"vocals": {VOCAL_CHANNEL}, "chords": {CHORD_CHANNEL}, "bass": {BASS_CHANNEL},
                 "drums": {DRUM_CHANNEL}}


def render_part(rng: np.random.Generator, part: str, fs: int, num_samples: int
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """One instrument family of a random song: ``part`` in :data:`PART_CHANNELS`.

    Returns ``(audio (num_samples,) float64, the song's JSON-able parameters)``.
    """
    if part not in PART_CHANNELS:
        raise ValueError(f"part must be one of {sorted(PART_CHANNELS)}, got {part!r}")
    start = float(rng.uniform(0.0, 1.0))
    song = draw_song(rng, start + num_samples / fs)
    audio = _render_part(song, PART_CHANNELS[part], fs, start, num_samples)
    return audio, {**song.params(), "part": part, "start": round(start, 4)}


# ---- MUSDB ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """A MUSDB track: its vocals stem and the stems summed as accompaniment."""

    name: str
    vocals: str
    accompaniment: tuple[str, ...]
    num_frames: int
    sample_rate: int


def scan_musdb(root: Path | str, seed: int) -> dict[str, list[Track]]:
    """Tracks of a MUSDB18-HQ-style dir by split (train / dev / test).

    With ``train/`` and ``test/`` subdirs: test = ``test/``, dev = MUSDB's official
    validation tracks found in ``train/`` (10 % drawn from ``seed`` when none is there),
    train = the rest. Without them every ``<root>/<track>/`` is a track, and the split is
    drawn from ``seed`` (80 / 10 / 10 %, at least one track each).

    Raises:
        DataError: the dir does not exist or has no track with ``vocals.wav`` and another
            stem, a stem is unreadable, or there are too few tracks to split.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MUSDB dir {root} does not exist")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = _scan_tracks(root / "train")
        test = _scan_tracks(root / "test")
        official = set(MUSDB_VALIDATION)
        dev = [t for t in train if t.name in official]
        if not dev:
            dev = _draw(train, max(1, round(0.1 * len(train))), seed, 0xDE)
        dev_names = {t.name for t in dev}
        splits = {"train": [t for t in train if t.name not in dev_names], "dev": dev,
                  "test": test}
    else:
        tracks = _scan_tracks(root)
        n = len(tracks)
        n_small = max(1, round(0.1 * n))
        order = [tracks[i] for i in np.random.default_rng([seed, 0x3D5B]).permutation(n)]
        splits = {"test": order[:n_small], "dev": order[n_small : 2 * n_small],
                  "train": order[2 * n_small :]}
    for name, tracks in splits.items():
        if not tracks:
            raise DataError(
                f"MUSDB dir {root}: the {name} split has no track (found "
                f"{sum(len(t) for t in splits.values())} tracks in all; need at least 3)"
            )
    return {name: sorted(tracks, key=lambda t: t.name) for name, tracks in splits.items()}


def _draw(tracks: list[Track], n: int, seed: int, salt: int) -> list[Track]:
    order = np.random.default_rng([seed, salt]).permutation(len(tracks))
    return [tracks[i] for i in order[:n]]


def _scan_tracks(folder: Path) -> list[Track]:
    import soundfile as sf

    tracks = []
    for track_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        vocals = track_dir / "vocals.wav"
        if not vocals.is_file():
            continue
        others = sorted(p for p in track_dir.glob("*.wav")
                        if p.name.lower() not in MUSDB_ACCOMPANIMENT_EXCLUDE)
        if not others:
            continue
        try:
            info = sf.info(str(vocals))
            frames = [sf.info(str(p)).frames for p in others]
        except Exception as exc:  # soundfile raises several types
            raise DataError(f"cannot read a stem of MUSDB track {track_dir}: {exc}") from exc
        tracks.append(Track(track_dir.name, str(vocals.resolve()),
                            tuple(str(p.resolve()) for p in others),
                            min([info.frames, *frames]), info.samplerate))
    if not tracks:
        raise DataError(
            f"MUSDB dir {folder} has no track: expected <track>/vocals.wav plus other stems "
            "(drums.wav, bass.wav, other.wav) as in MUSDB18-HQ, under train/ and test/ or "
            "directly (the .stem.mp4 files of MUSDB18 must be decoded to wav first)"
        )
    return tracks


def read_musdb_crop(track: dict[str, Any], rng: np.random.Generator, fs: int,
                    num_samples: int, tries: int = 10, min_rms: float = 1e-3
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A coherent ``num_samples`` crop (vocals, accompaniment) of a track at ``fs``.

    Up to ``tries`` random starts are drawn; the first whose vocals have an RMS of at
    least ``min_rms`` is kept, else the one with the loudest vocals.

    Args:
        track: a :class:`Track` as a dict.
    """
    import soundfile as sf

    sr = track["sample_rate"]
    frames = int(math.ceil(num_samples * sr / fs)) + 16
    best = None
    for _ in range(tries):
        start = int(rng.integers(0, max(1, track["num_frames"] - frames)))
        parts = []
        for paths in ([track["vocals"]], track["accompaniment"]):
            total = np.zeros(frames)
            for path in paths:
                audio, _ = sf.read(path, start=start, frames=frames, dtype="float64",
                                   always_2d=True)
                total[: audio.shape[0]] += audio.mean(axis=1)
            parts.append(_resample(total, sr, fs, num_samples))
        rms = float(np.sqrt(np.mean(parts[0] ** 2)))
        if best is None or rms > best[0]:
            best = (rms, parts, start)
        if rms >= min_rms:
            break
    rms, (vocals, accompaniment), start = best
    return vocals, accompaniment, {"track": track["name"], "start_s": round(start / sr, 4)}


def _resample(audio: np.ndarray, sr: int, fs: int, num_samples: int) -> np.ndarray:
    if sr != fs:
        import soxr

        audio = soxr.resample(audio, sr, fs, quality="HQ")
    out = np.zeros(num_samples)
    n = min(num_samples, audio.shape[0])
    out[:n] = audio[:n]
    return out
