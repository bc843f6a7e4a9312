"""Data side of sepplug: the embedded corpus, the SpatialVCTK simulator, data-dir checks.

* :mod:`sepplug.data.corpus` — multi-speaker English corpus synthesised offline with
  espeak-ng (``python -m sepplug.data.corpus --out DIR``), VCTK layout;
* :mod:`sepplug.data.spatial` — SpatialVCTK easy/hard/both sets as Kaldi data dirs
  (``python -m sepplug.data.spatial --corpus_dir DIR --out_dir data``);
* :mod:`sepplug.data.validate` — ``sepplug validate-data DIR``.
"""
