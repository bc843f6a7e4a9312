"""Results as data, shared by every results tool.

* :mod:`~sepplug.results.summary` — ``results/summary.tsv`` (``model family subset metric n
  mean stderr``): rows, reading, writing, ``mean ± s.e.`` cells, the results-tool CLI;
* :mod:`~sepplug.results.per_utt` — ``scoring/per_utt.tsv`` and paired differences;
* :mod:`~sepplug.results.markdown` — RESULTS.md tables and the environment block.
"""
