"""FEABASE feature suppression: a waveform CycleGAN that makes two sources seem to come
from one direction, and the tools to train, apply and check it.

* :mod:`.wave_cyclegan` — generators, discriminators, losses;
* :mod:`.fs_trainer` — training loop (CLI ``python -m sepplug.bin.fs_train``);
* :mod:`.fs_apply` — transform a data dir (CLI ``python -m sepplug.bin.fs_apply``);
* :mod:`.spatial_metrics` — GCC-PHAT delays, SRP-PHAT directions, angle statistics
  (CLI ``python -m sepplug.recipes.spatialvctk.fs_verify``);
* :mod:`.fs_report` — example wavs and arrival-order plots;
* :mod:`.source_pairs`, :mod:`.audio_io` — reading source pairs of a data dir.
"""
