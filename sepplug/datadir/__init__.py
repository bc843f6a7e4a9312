"""Kaldi-style data dirs: reading and writing their tables, validating them.

* :mod:`sepplug.datadir.kaldi_dir` — the one reader/writer of ``wav.scp``, ``utt2spk``, ... ;
* :mod:`sepplug.datadir.validate` — ``sepplug validate-data DIR``;
* :mod:`sepplug.datadir.audio_checks`, :mod:`sepplug.datadir.categories` — what both use.
* :mod:`sepplug.datadir.scored_dir` — mixtures and references as the in-process scoring
  tools (``sepplug preference``, ``sepplug.bin.category_curves``) read them.
"""
