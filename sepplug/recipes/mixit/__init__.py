"""VCTK MixIT (``egs/vctk/mixit``): mixtures of mixtures and their supervised views
(:mod:`.make_data`) and the FUSS-style results (:mod:`.make_results`)."""
