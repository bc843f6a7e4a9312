"""Code that one recipe alone uses: ESPnet's ``egs2/<corpus>/<task>/local/``, as a package.

One sub-package per recipe (``egs/spatialvctk`` -> :mod:`sepplug.recipes.spatialvctk`,
``egs/vctk/mixit`` -> ``mixit``, ``egs/vctk/hard_mining`` -> ``hard_mining``,
``egs/domains/dc_select`` -> ``dc_select``): its data generator, its analysis and its
results writer. It is a package rather than Python files under ``egs/*/local/`` so that the
tests can import it and ``python -m`` runs it from any directory. The rule: the generic
library (everything in :mod:`sepplug` outside this package) never imports from here
(``tests/test_layout.py`` checks it); a recipe package imports the library, never another
recipe's package. What two recipes use moves to the library.
"""
