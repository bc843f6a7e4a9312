"""Clustering-confidence model selection (``egs/domains/dc_select``): the results of the
domain models and their confidence ensembles (:mod:`.make_results`). Its data come from
the library's :mod:`sepplug.simulate.domains`."""
