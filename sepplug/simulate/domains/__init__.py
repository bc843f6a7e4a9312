"""Three offline audio domains for clustering-confidence model selection.

2-source mixtures per domain, train / dev / test, as Kaldi dirs
(``python -m sepplug.simulate.domains --out_dir DIR``, see :mod:`.mixtures`):

* :mod:`.speech` — two speakers of the embedded espeak-ng corpus or a VCTK-layout dir;
* :mod:`.music` — "vocals" (a voice-like General-MIDI lead) vs accompaniment (chords, bass,
  drums) of random songs rendered with tinysoundfont from pretty_midi's TimGM6mb.sf2, or
  MUSDB18-HQ stems;
* :mod:`.environmental` — car horn, dog bark, gun shot, jackhammer, siren, synthesised
  procedurally with random parameters, or UrbanSound8K clips.
"""

from sepplug.simulate.domains.mixtures import DOMAINS, DomainOptions, generate_domains

__all__ = ["DOMAINS", "DomainOptions", "generate_domains"]
