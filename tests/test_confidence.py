"""Clustering confidence C = silhouette x posterior strength (model selection)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from sepplug.selection import (
    Confidence,
    ConfidenceWarning,
    clustering_confidence,
    mask_confidence,
    select_loud_bins,
)


def clusters(k: int, n: int = 3000, dim: int = 8, spread: float = 0.1, seed: int = 0):
    """n points around k orthogonal centres of norm 10: (n, dim) points, (n,) labels."""
    rng = np.random.default_rng(seed)
    centres = np.eye(k, dim) * 10
    labels = rng.integers(0, k, n)
    return centres[labels] + spread * rng.normal(size=(n, dim)), labels


@pytest.mark.parametrize("k", [2, 3])
def test_well_separated_clusters_are_confident(k):
    x, _ = clusters(k)
    loud = np.random.default_rng(1).uniform(0.1, 1.0, len(x))
    c = clustering_confidence(x, loud, k, loud_fraction=0.2)
    assert isinstance(c, Confidence) and c.num_points == 600
    assert c.silhouette > 0.9 and c.posterior > 0.9 and c.confidence > 0.8
    assert c.confidence == pytest.approx(c.silhouette * c.posterior)


@pytest.mark.parametrize("k", [2, 3])
def test_one_blob_is_not_confident(k):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 8))
    c = clustering_confidence(x, rng.uniform(0.1, 1, 3000), k, loud_fraction=0.3)
    assert c.confidence < 0.2 and 0 <= c.posterior < 0.5


def test_temperature_scales_posterior():
    x, _ = clusters(2, spread=0.5)
    loud = np.ones(len(x))
    sharp = clustering_confidence(x / 10, loud, 2, loud_fraction=0.2, temperature=0.05)
    blunt = clustering_confidence(x / 10, loud, 2, loud_fraction=0.2, temperature=1.0)
    assert sharp.posterior > 0.95 > blunt.posterior
    assert sharp.silhouette == pytest.approx(blunt.silhouette)  # scale-free


def test_loud_bin_selection_picks_the_loudest():
    rng = np.random.default_rng(3)
    loud = rng.permutation(1000).astype(float)  # 0 .. 999, one silent bin
    top = select_loud_bins(loud, loud_fraction=0.01)
    assert sorted(loud[top]) == list(range(990, 1000))
    assert set(loud[select_loud_bins(loud, percentile=95.0)]) == set(range(950, 1000))
    # zero-loudness bins are never kept
    assert select_loud_bins(np.zeros(5), loud_fraction=1.0).size == 0
    assert 0.0 not in loud[select_loud_bins(loud, loud_fraction=1.0)]


def test_confidence_uses_only_the_loud_points():
    """Loud points well clustered, quiet ones a blob: confident; swap loudness: not."""
    x, _ = clusters(2, n=1000)
    blob = np.random.default_rng(4).normal(size=(9000, 8))
    points = np.concatenate([x, blob])
    loud = np.concatenate([np.full(1000, 10.0), np.full(9000, 1.0)])
    assert clustering_confidence(points, loud, 2, loud_fraction=0.1).confidence > 0.8
    assert clustering_confidence(points, 11 - loud, 2, loud_fraction=0.1).confidence < 0.2


def test_degenerate_inputs_give_zero_and_a_warning():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4))
    cases = [
        (x, np.zeros(200), "silent"),  # all-silent mixture
        (x[:2], np.ones(2), "2 loud point"),  # fewer points than clusters + 1
        (np.ones((200, 4)), np.ones(200), "distinct"),  # all-identical points
    ]
    for emb, loud, reason in cases:
        with pytest.warns(ConfidenceWarning, match=reason):
            c = clustering_confidence(emb, loud, 2, loud_fraction=1.0)
        assert (c.silhouette, c.posterior, c.confidence) == (0.0, 0.0, 0.0)
    with pytest.warns(ConfidenceWarning, match="distinct"):
        assert mask_confidence(np.full((2, 200), 0.5), np.ones(200),
                               loud_fraction=1.0).confidence == 0.0
    with pytest.raises(ValueError, match="num_sources=1"):
        clustering_confidence(x, np.ones(200), 1)
    with pytest.raises(ValueError, match="NaN"):
        clustering_confidence(np.full((200, 4), np.nan), np.ones(200), 2)
    with pytest.raises(ValueError, match="200 points but loudness 10"):
        clustering_confidence(x, np.ones(10), 2)


def test_seeded_reproducibility_and_torch_input():
    x, _ = clusters(3, n=8000, spread=2.0, seed=6)
    loud = np.random.default_rng(7).uniform(0, 1, len(x))
    kw = dict(loud_fraction=0.5, max_points=300)
    a = clustering_confidence(x, loud, 3, seed=11, **kw)
    b = clustering_confidence(torch.from_numpy(x), torch.from_numpy(loud), 3,
                              seed=11, **kw)
    assert a == b and a.num_points == 4000
    others = {clustering_confidence(x, loud, 3, seed=s, **kw).silhouette for s in range(4)}
    assert len(others) > 1  # the silhouette subsample depends on the seed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a normal input warns about nothing
        clustering_confidence(x, loud, 3, **kw)


def test_mask_confidence():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 2000)
    sure = np.stack([labels == 0, labels == 1]).astype(float)
    loud = rng.uniform(0.1, 1, 2000)
    c = mask_confidence(sure * 3.0, loud, loud_fraction=0.2)  # normalised over sources
    assert c.posterior == pytest.approx(1.0) and c.confidence > 0.8
    unsure = 0.5 + 0.05 * rng.normal(size=2000)
    c2 = mask_confidence(np.stack([unsure, 1 - unsure]), loud, loud_fraction=0.2)
    assert c2.posterior < 0.15 and c2.confidence < 0.2
    with pytest.raises(ValueError, match="non-negative"):
        mask_confidence(-sure, loud)
