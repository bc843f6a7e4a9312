"""Clustering confidence C = S x P of one separated mixture (Liu, Seetharaman & Pardo).

For the N time-frequency points of one mixture with embeddings V (N, D) and
loudness |X| (N,):

1. keep the loud points: the loudest ``loud_fraction`` of them (paper: top 1 %),
   or, with ``percentile`` set, those above that percentile of the loudness
   (nussl: 95th); points with zero loudness are never kept;
2. k-means with K = number of sources on the kept points (k-means++, seeded);
3. silhouette S: mean of sklearn's ``silhouette_samples`` of the k-means labels on
   at most ``max_points`` kept points (seeded subsample);
4. posterior strength P: soft k-means responsibilities of every kept point,
   gamma_k = softmax_k(-||v - c_k|| / temperature) with the k-means centres c_k
   (Euclidean distance, as nussl), P = mean((K max_k gamma_k - 1) / (K - 1));
5. C = S x P.

P depends on the embedding scale: with unit-norm embeddings and orthogonal
clusters, centres are sqrt(2) apart and P is at most about 0.6 at temperature 1.
Compare models of the same embedding normalisation, or set ``temperature``.

Degenerate input (no loud point, fewer loud points or distinct points than
clusters, a k-means that finds one cluster) gives 0.0 for all three values and a
:class:`ConfidenceWarning`, never NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_samples


class ConfidenceWarning(RuntimeWarning):
    """The confidence of a mixture is not defined; 0.0 was returned."""


@dataclass(frozen=True)
class Confidence:
    """Clustering confidence of one mixture.

    Attributes:
        silhouette: S in [-1, 1].
        posterior: P in [0, 1].
        confidence: S x P.
        num_points: loud points used (before the silhouette subsample).
    """

    silhouette: float
    posterior: float
    confidence: float
    num_points: int


def _as_numpy(x, name: str, ndim: int) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def select_loud_bins(
    loudness, loud_fraction: float = 0.01, percentile: float | None = None
) -> np.ndarray:
    """Indices of the loud points, loudest first.

    Args:
        loudness: (N,) magnitudes (numpy or torch).
        loud_fraction: keep the ceil(loud_fraction x N) loudest points.
        percentile: if set, keep instead the points louder than this percentile
            of ``loudness`` (e.g. 95, as nussl).
    Returns:
        (M,) int indices, M <= N; points of zero loudness are never returned.
    """
    mag = _as_numpy(loudness, "loudness", 1)
    order = np.argsort(-mag, kind="stable")
    if percentile is not None:
        if not 0 <= percentile < 100:
            raise ValueError(f"percentile={percentile} must be in [0, 100)")
        keep = order[mag[order] > np.percentile(mag, percentile)] if mag.size else order
    else:
        if not 0 < loud_fraction <= 1:
            raise ValueError(f"loud_fraction={loud_fraction} must be in (0, 1]")
        keep = order[: int(np.ceil(loud_fraction * mag.size))]
    return keep[mag[keep] > 0]


def _degenerate(reason: str, num_points: int, stacklevel: int = 3) -> Confidence:
    """0.0 everywhere, with a warning pointing at the caller of the public function."""
    warnings.warn(f"clustering confidence undefined ({reason}); returning 0.0",
                  ConfidenceWarning, stacklevel=stacklevel)
    return Confidence(0.0, 0.0, 0.0, num_points)


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> KMeans:
    km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit(x)


def _confidence_of_points(
    x: np.ndarray, k: int, max_points: int, seed: int, temperature: float, n_init: int,
    posterior: np.ndarray | None = None,
) -> Confidence:
    """S, P and C of the selected points x (M, D); ``posterior`` (M, K) overrides the
    soft k-means responsibilities."""
    m = x.shape[0]
    if m < k + 1:
        return _degenerate(f"{m} loud point(s) for {k} clusters", m, 4)
    if np.unique(x, axis=0).shape[0] < k:
        return _degenerate(f"fewer than {k} distinct points among {m}", m, 4)
    km = _kmeans(x, k, seed, n_init)
    labels = km.labels_
    if posterior is None:
        dist = km.transform(x)  # (M, K) Euclidean distances to the centres
        logits = -dist / temperature
        logits -= logits.max(axis=1, keepdims=True)
        gamma = np.exp(logits)
        posterior = gamma / gamma.sum(axis=1, keepdims=True)
    p = float(np.mean((k * posterior.max(axis=1) - 1.0) / (k - 1.0)))
    idx = np.arange(m)
    if m > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(m, size=max_points, replace=False))
    n_labels = np.unique(labels[idx]).size
    if not 2 <= n_labels <= idx.size - 1:
        return _degenerate(f"{n_labels} clusters among {idx.size} silhouette points", m, 4)
    s = float(np.mean(silhouette_samples(x[idx], labels[idx])))
    return Confidence(s, p, s * p, m)


def _check_k(num_sources: int) -> None:
    if num_sources < 2:
        raise ValueError(f"num_sources={num_sources}: confidence needs at least 2 clusters")


def clustering_confidence(
    embeddings,
    loudness,
    num_sources: int,
    *,
    loud_fraction: float = 0.01,
    percentile: float | None = None,
    max_points: int = 1000,
    seed: int = 0,
    temperature: float = 1.0,
    n_init: int = 1,
) -> Confidence:
    """Confidence C = S x P of the embeddings of one mixture (see the module doc).

    Args:
        embeddings: (N, D) embeddings of the T-F points (numpy or torch), e.g. a
            ``dc_blstm`` model's ``tf_embedding[b]``.
        loudness: (N,) the points' mixture magnitudes |X|, same (t-major) order.
        num_sources: K >= 2, clusters of the k-means.
        loud_fraction: fraction of loudest points kept (paper: 0.01).
        percentile: keep the points above this loudness percentile instead (nussl: 95).
        max_points: silhouette on at most this many kept points (seeded subsample).
        seed: seed of the k-means++ initialisation and of the subsample.
        temperature: soft k-means temperature (distance units).
        n_init: k-means restarts (best inertia kept).
    Returns:
        :class:`Confidence`; 0.0 values and a :class:`ConfidenceWarning` when undefined.
    """
    _check_k(num_sources)
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    v = _as_numpy(embeddings, "embeddings", 2)
    mag = _as_numpy(loudness, "loudness", 1)
    if v.shape[0] != mag.shape[0]:
        raise ValueError(f"embeddings has {v.shape[0]} points but loudness {mag.shape[0]}")
    keep = select_loud_bins(mag, loud_fraction, percentile)
    if keep.size == 0:
        return _degenerate("no point with non-zero loudness (silent mixture)", 0)
    return _confidence_of_points(v[keep], num_sources, max_points, seed, temperature, n_init)


def mask_confidence(
    masks,
    loudness,
    *,
    loud_fraction: float = 0.01,
    percentile: float | None = None,
    max_points: int = 1000,
    seed: int = 0,
    n_init: int = 1,
) -> Confidence:
    """Confidence of a mask-based separator (an extension beyond the paper).

    The paper defines C for clustering separators. Here the K masks of a mask-based
    model stand in for the clustering: on the loud bins, the masks (normalised to
    sum to 1 over sources; a bin where all are 0 counts as 1/K each) are the
    posteriors, P = mean((K max_k m_k - 1) / (K - 1)), and the silhouette is that of
    k-means(K) on the normalised mask vectors taken as K-dimensional embeddings.
    Sure, well-separated masks (near one-hot, both sources present) give C near 1;
    uniform masks give 0.

    Args:
        masks: (K, N) masks of the K sources for the N T-F points (numpy or torch).
        loudness: (N,) mixture magnitudes of the points.
        loud_fraction, percentile, max_points, seed, n_init: as
            :func:`clustering_confidence`.
    """
    m = _as_numpy(masks, "masks", 2)
    k = m.shape[0]
    _check_k(k)
    mag = _as_numpy(loudness, "loudness", 1)
    if m.shape[1] != mag.shape[0]:
        raise ValueError(f"masks have {m.shape[1]} points but loudness {mag.shape[0]}")
    if (m < 0).any():
        raise ValueError("masks must be non-negative")
    keep = select_loud_bins(mag, loud_fraction, percentile)
    if keep.size == 0:
        return _degenerate("no point with non-zero loudness (silent mixture)", 0)
    sel = m[:, keep].T  # (M, K)
    total = sel.sum(axis=1, keepdims=True)
    post = np.where(total > 0, sel / np.where(total > 0, total, 1.0), 1.0 / k)
    return _confidence_of_points(post, k, max_points, seed, 1.0, n_init, posterior=post)
