"""Semantic MixIT on open-domain mixtures (egs/domains/mixit_semantic): data, classifier,
results."""
