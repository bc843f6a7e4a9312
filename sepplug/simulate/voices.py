"""Synthetic speakers: one espeak-ng voice variant per speaker, drawn from a seed.

Each speaker gets its own timbre — pitch base and range, vocal-tract length (all
formants scaled together), per-formant frequency/height/width offsets, flutter,
roughness, breathiness, optionally a Klatt glottal source — plus an accent (the
espeak-ng English language variant) and a speaking rate. The same speaker's
utterances share all of them. Formant scaling follows the stock variants
(``voices/!v/m1``, ``f1`` ...): male ≈ 92-104 %, female ≈ 105-120 % of the default.

The voice-file syntax is espeak-ng's (docs/voices.md): ``pitch <base Hz> <max Hz>``,
``formant <n> <freq %> <height %> <width %>``, ``breath`` (8 per-formant amplitudes),
``klatt <n>`` ...
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: espeak-ng English language variants used as accents: name -> accent label
ACCENTS: dict[str, str] = {
    "en-us": "American",
    "en": "English",
    "en-gb-x-rp": "EnglishRP",
    "en-gb-scotland": "Scottish",
    "en-gb-x-gbclan": "Lancastrian",
    "en-gb-x-gbcwmd": "WestMidlands",
    "en-us-nyc": "NewYork",
    "en-029": "Caribbean",
}

NUM_FORMANTS = 9
# espeak-ng's default equaliser ("tone" keyword): amplitudes at these frequencies
TONE_HZ = (600, 1200, 2000, 3000)
TONE_DEFAULT = (170, 135, 110, 110)
# glottal source: 0 = espeak's own; Klatt variants are rarer, they sound more alike
KLATT_CHOICES = (0, 0, 0, 0, 0, 1, 3, 4)  # espeak-ng formants 0 (nasal) .. 8


@dataclass(frozen=True)
class SpeakerVoice:
    """One synthetic speaker: an espeak-ng language + variant file + rate."""

    speaker_id: str
    gender: str  # "M" or "F"
    language: str  # espeak-ng language, a key of ACCENTS
    pitch_base: int  # Hz
    pitch_max: int  # Hz
    formant_freq: tuple[int, ...]  # % of the default, formants 0..8
    formant_height: tuple[int, ...]  # %
    formant_width: tuple[int, ...]  # %
    flutter: int
    roughness: int
    breath: tuple[int, ...] = field(default=())  # 8 values or () for none
    klatt: int = 0  # 0: espeak's default source; 1-4: Klatt glottal source variants
    voicing: int = 100  # % amplitude of the voiced source
    consonants: tuple[int, int] = (100, 100)  # % amplitude of consonants
    rate: int = 170  # words per minute
    tone: tuple[int, ...] = ()  # equaliser: (Hz, amplitude 0-255) pairs, () for the default

    @property
    def variant(self) -> str:
        """The variant file name in ``voices/!v``."""
        return self.speaker_id

    @property
    def espeak_name(self) -> str:
        """The name to pass to ``espeak_SetVoiceByName``."""
        return f"{self.language}+{self.variant}"

    @property
    def accent(self) -> str:
        return ACCENTS[self.language]

    def voice_file(self) -> str:
        """The content of the espeak-ng variant file."""
        lines = [
            "language variant",
            f"name {self.speaker_id}",
            f"gender {'male' if self.gender == 'M' else 'female'}",
            f"pitch {self.pitch_base} {self.pitch_max}",
            f"flutter {self.flutter}",
            f"roughness {self.roughness}",
            f"voicing {self.voicing}",
            f"consonants {self.consonants[0]} {self.consonants[1]}",
        ]
        for n in range(NUM_FORMANTS):
            lines.append(
                f"formant {n} {self.formant_freq[n]} {self.formant_height[n]} "
                f"{self.formant_width[n]}"
            )
        if self.breath:
            lines.append("breath " + " ".join(str(b) for b in self.breath))
        if self.tone:
            lines.append("tone " + " ".join(str(t) for t in self.tone))
        if self.klatt:
            lines.append(f"klatt {self.klatt}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return asdict(self)


def speaker_ids(num_speakers: int) -> list[str]:
    """``spk001``, ``spk002``, ... (zero-padded so that C-locale order = numeric order)."""
    width = max(3, len(str(num_speakers)))
    return [f"spk{n:0{width}d}" for n in range(1, num_speakers + 1)]


#: per gender: (pitch base range Hz, vocal-tract scale range of formants 1-8)
GENDER_RANGES = {"M": ((70.0, 130.0), (0.88, 1.05)), "F": ((150.0, 240.0), (1.03, 1.22))}


def sample_voice(
    speaker_id: str, gender: str, strata: tuple[float, float], rng: np.random.Generator
) -> SpeakerVoice:
    """Draw one speaker's voice parameters.

    Args:
        strata: positions in [0, 1) of this speaker's pitch and vocal-tract scale within
            the gender's ranges (see :func:`sample_voices`).
    """
    (pitch_lo, pitch_hi), (tract_lo, tract_hi) = GENDER_RANGES[gender]
    pitch_base = pitch_lo + strata[0] * (pitch_hi - pitch_lo)
    tract = tract_lo + strata[1] * (tract_hi - tract_lo)
    pitch_max = pitch_base * rng.uniform(1.25, 1.8)
    freq = [100 * tract * rng.uniform(0.93, 1.07) for _ in range(NUM_FORMANTS)]
    freq[0] = 100 * rng.uniform(0.9, 1.1)  # nasal formant: not a vocal-tract length cue
    height = [rng.uniform(70, 130) for _ in range(NUM_FORMANTS)]
    width = [rng.uniform(70, 160) for _ in range(NUM_FORMANTS)]
    breathy = rng.random() < 0.35
    breath = tuple(int(b) for b in rng.integers(0, 8, size=8)) if breathy else ()
    return SpeakerVoice(
        speaker_id=speaker_id,
        gender=gender,
        language=str(rng.choice(list(ACCENTS))),
        pitch_base=round(pitch_base),
        pitch_max=round(pitch_max),
        formant_freq=tuple(round(f) for f in freq),
        formant_height=tuple(round(h) for h in height),
        formant_width=tuple(round(w) for w in width),
        flutter=int(rng.integers(0, 20)),
        roughness=int(rng.integers(0, 6)),
        breath=breath,
        klatt=KLATT_CHOICES[int(rng.integers(len(KLATT_CHOICES)))],
        voicing=int(rng.integers(80, 140)),
        consonants=(int(rng.integers(70, 130)), int(rng.integers(70, 130))),
        rate=int(rng.integers(130, 180)),
        tone=tuple(
            int(v) for hz, amp in zip(TONE_HZ, TONE_DEFAULT, strict=True)
            for v in (hz, min(255, amp * rng.uniform(0.5, 1.8)))
        ),
    )


def sample_voices(num_speakers: int, seed: int) -> list[SpeakerVoice]:
    """``num_speakers`` voices, half male and half female in a seeded order.

    Pitch and vocal-tract scale, the strongest timbre cues, are drawn as a Latin
    hypercube within each gender: every speaker gets their own slice of both ranges,
    so no two speakers of a gender land close together by chance.
    """
    rng = np.random.default_rng([seed, 0x5EED_0001])
    genders = np.array(["M", "F"] * ((num_speakers + 1) // 2))[:num_speakers]
    rng.shuffle(genders)
    strata: dict[int, tuple[float, float]] = {}
    for gender in ("M", "F"):
        members = np.flatnonzero(genders == gender)
        n = len(members)
        slices = [(rng.permutation(n) + rng.uniform(0.1, 0.9, n)) / n for _ in range(2)]
        for k, index in enumerate(members):
            strata[int(index)] = (float(slices[0][k]), float(slices[1][k]))
    return [
        sample_voice(spk, str(g), strata[n], np.random.default_rng([seed, 0x5EED_0002, n]))
        for n, (spk, g) in enumerate(zip(speaker_ids(num_speakers), genders, strict=True))
    ]
