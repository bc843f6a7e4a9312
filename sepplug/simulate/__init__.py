"""Offline data generation tools that any recipe can use.

* :mod:`~sepplug.simulate.corpus` — a multi-speaker English corpus synthesised offline with
  espeak-ng (``python -m sepplug.simulate.corpus --out DIR``; VCTK layout), from
  :mod:`~sepplug.simulate.espeak`, :mod:`~sepplug.simulate.voices`,
  :mod:`~sepplug.simulate.sentences`; :mod:`~sepplug.simulate.vctk` reads that layout (and
  real VCTK) and splits speakers; :mod:`~sepplug.simulate.voice_report` checks the voices;
* :mod:`~sepplug.simulate.room` — pyroomacoustics shoebox rooms and the 6-mic circular array;
* :mod:`~sepplug.simulate.segments` — a corpus file as a fixed-length source (load, crop, pad);
* :mod:`~sepplug.simulate.domains` — offline speech / music / environmental sources and their
  two-source mixtures (``python -m sepplug.simulate.domains``);
* :mod:`~sepplug.simulate.jobs`, :mod:`~sepplug.simulate.done` — parallel jobs, done markers
  and atomic output dirs of every generator.

The generators of one recipe alone live in ``sepplug.recipes.<recipe>``.
"""
