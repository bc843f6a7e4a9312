"""Deep clustering (Hershey et al., 2016) separator that trains in ESPnet.

Use it with ESPnet's STFT front end and its stock deep-clustering loss::

    encoder: stft
    encoder_conf: {n_fft: 256, hop_length: 64}
    decoder: stft
    decoder_conf: {n_fft: 256, hop_length: 64}
    separator: dc_blstm
    separator_conf: {num_spk: 2, hidden_dim: 300, num_layers: 2, emb_dim: 20,
                     nonlinear: sigmoid, unit_norm: true}
    criterions:
      - {name: dpcl, conf: {loss_type: dpcl}, wrapper: dpcl, wrapper_conf: {weight: 1.0}}

Pipeline::

    mixture STFT X (B, T, F) complex
      -> log |X|                                            (B, T, F)
      -> BLSTM stack (packed by ilens)                      (B, T, 2H)
      -> Linear(2H, F*D) -> tanh | sigmoid | relu           (B, T, F, D)
      -> [unit-normalise each T-F embedding]                (B, T, F, D)
      -> zero the padded frames, [bin weighting]            (B, T, F, D)
      -> others["tf_embedding"]                             (B, T*F, D), t-major

``others["tf_embedding"]`` has exactly the layout of ESPnet's ``DPCLSeparator``,
so ``FrequencyDomainDPCL`` (criterion ``dpcl``, ``loss_type`` ``dpcl`` or ``mdc``)
through the ``dpcl`` wrapper (``DPCLSolver``) trains it inside the stock
``ESPnetEnhancementModel``.

Why training returns the mixture: ``ESPnetEnhancementModel.forward_enhance``
decodes every entry of the separator's output list and ``forward_loss`` then
indexes it (``spre[0]``, espnet2/enh/espnet_model.py L548 in espnet 202511)
before the loss wrapper runs. ESPnet's ``DPCLSeparator`` returns ``None`` in
training, so that line raises ``TypeError``. Clustering is not differentiable
and the deep-clustering loss only reads ``tf_embedding``, so in training this
separator returns ``[input] * num_spk`` (no clustering cost); only the embedding
carries gradient. Do not combine it with a loss on the separated signals.

Inference (``not self.training``, also ESPnet's validation): the embeddings of
the valid frames of each utterance are clustered with k-means, k-means++
initialisation with a fixed seed, at most ``kmeans_max_iter`` Lloyd iterations
(scikit-learn ``KMeans``, which also re-seeds empty clusters, so no NaN centre).
Binary masks by default; with ``soft_masks: true`` a few soft k-means iterations
start from the k-means centres and the responsibilities
``softmax(-||v - c_k||^2 / temperature)`` are the masks. Masks of padded frames
are 0. ``others["mask_spk{k}"]`` holds the masks (B, T, F).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import torch
from espnet2.enh.layers.complex_utils import is_complex
from espnet2.enh.separator.abs_separator import AbsSeparator
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_NONLINEARITIES = {
    "relu": torch.nn.ReLU,
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
}
_WEIGHTINGS = ("none", "threshold", "magnitude")


class DCBLSTMSeparator(AbsSeparator):
    """BLSTM deep-clustering separator: STFT (B, T, F) in, ``num_spk`` masked STFTs out."""

    def __init__(
        self,
        input_dim: int,
        num_spk: int = 2,
        num_layers: int = 2,
        hidden_dim: int = 300,
        emb_dim: int = 20,
        nonlinear: str = "sigmoid",
        unit_norm: bool = True,
        dropout: float = 0.0,
        log_eps: float = 1.0e-8,
        weighting: str = "none",
        threshold_db: float = 40.0,
        soft_masks: bool = False,
        temperature: float = 1.0,
        soft_iters: int = 10,
        kmeans_max_iter: int = 100,
        kmeans_seed: int = 0,
    ):
        """Build the separator.

        Args:
            input_dim: F, frequency bins of the encoder (``n_fft // 2 + 1`` for ``stft``).
            num_spk: K, number of sources (clusters at inference).
            num_layers: stacked BLSTM layers.
            hidden_dim: H, units of each LSTM direction.
            emb_dim: D, embedding size of each T-F bin.
            nonlinear: ``tanh``, ``sigmoid`` or ``relu`` after the projection.
            unit_norm: scale each T-F embedding to unit L2 norm (zero vectors stay 0).
            dropout: dropout between BLSTM layers.
            log_eps: floor of |X| before the log (silent input gives log(log_eps)).
            weighting: how T-F bins count in the loss, see :meth:`bin_weights`:
                ``none``; ``threshold`` (bins more than ``threshold_db`` below the
                loudest bin of the utterance get weight 0, as in Hershey et al.);
                ``magnitude`` (weight |X| / max |X|, embeddings scaled by its sqrt).
                The weights also weight the points of the inference k-means.
            threshold_db: dB range kept by ``threshold`` weighting.
            soft_masks: return soft k-means responsibilities instead of binary masks.
            temperature: soft k-means temperature (squared-distance units).
            soft_iters: soft k-means iterations after the hard k-means.
            kmeans_max_iter: cap on Lloyd iterations of the inference k-means.
            kmeans_seed: seed of the k-means++ initialisation (same input, same masks).
        """
        super().__init__()
        if nonlinear not in _NONLINEARITIES:
            raise ValueError(f"nonlinear={nonlinear!r}; choose from {sorted(_NONLINEARITIES)}")
        if weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting={weighting!r}; choose from {list(_WEIGHTINGS)}")
        if num_spk < 1 or emb_dim < 1 or input_dim < 1:
            raise ValueError(f"num_spk={num_spk}, emb_dim={emb_dim}, input_dim={input_dim}"
                             " must be positive")
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0")
        self._num_spk = num_spk
        self.input_dim = input_dim
        self.emb_dim = emb_dim
        self.unit_norm = unit_norm
        self.log_eps = log_eps
        self.weighting = weighting
        self.threshold_db = threshold_db
        self.soft_masks = soft_masks
        self.temperature = temperature
        self.soft_iters = soft_iters
        self.kmeans_max_iter = kmeans_max_iter
        self.kmeans_seed = kmeans_seed
        self.blstm = torch.nn.LSTM(
            input_dim, hidden_dim, num_layers=num_layers, batch_first=True,
            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.linear = torch.nn.Linear(2 * hidden_dim, input_dim * emb_dim)
        self.nonlinear = _NONLINEARITIES[nonlinear]()

    @property
    def num_spk(self) -> int:
        return self._num_spk

    def embed(self, mag: torch.Tensor, ilens: torch.Tensor) -> torch.Tensor:
        """Unweighted embeddings of the bins; padded frames are 0.

        Args:
            mag: |X| (B, T, F).
            ilens: valid frames per utterance (B,).
        Returns:
            (B, T, F, D)
        """
        B, T, F = mag.shape
        feats = torch.log(mag.clamp_min(self.log_eps))
        lengths = ilens.detach().to("cpu", torch.long).clamp(1, T)
        packed = pack_padded_sequence(feats, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.blstm(packed)[0], batch_first=True, total_length=T)
        emb = self.nonlinear(self.linear(out)).view(B, T, F, self.emb_dim)
        if self.unit_norm:
            emb = torch.nn.functional.normalize(emb, dim=-1)
        return emb * _frame_mask(ilens, T, mag.device).to(emb.dtype)[:, :, None, None]

    def bin_weights(self, mag: torch.Tensor) -> torch.Tensor | None:
        """Per-bin weights w (B, T, F) in [0, 1], or None for ``weighting: none``.

        ESPnet's ``FrequencyDomainDPCL`` builds the one-hot targets Y itself and takes
        no weights, so weighting is done on the embeddings: V' = diag(sqrt(w)) V.
        The loss becomes ||V'^T V'||^2 - 2 ||V'^T Y||^2 + ||Y^T Y||^2.

        * ``threshold``: w in {0, 1}, so sqrt(w) = w and the loss equals the loss over
          the kept bins only, plus the constant ||Y^T Y|| term of the dropped ones:
          the silent-bin exclusion of Hershey et al. exactly (it is also why padded
          frames are zeroed).
        * ``magnitude`` (as nussl's magnitude weights, which scale both V and Y by
          sqrt(w)): only V can be scaled here, so this is an approximation: each pair
          term becomes (sqrt(w_i w_j) v_i.v_j - y_i.y_j)^2. Normalising by the
          loudest bin (w <= 1) keeps the optimum of the unweighted loss (same source
          aligned, different sources orthogonal) while quiet bins contribute less
          gradient; mean-normalised weights (> 1) would instead push same-source loud
          bins apart.
        """
        if self.weighting == "none":
            return None
        peak = mag.amax(dim=(1, 2), keepdim=True)
        if self.weighting == "threshold":
            floor = peak * 10.0 ** (-self.threshold_db / 20.0)
            return ((mag > floor) & (peak > 0)).to(mag.dtype)
        return mag / peak.clamp_min(torch.finfo(mag.dtype).tiny)

    def forward(
        self,
        input: torch.Tensor,
        ilens: torch.Tensor,
        additional: dict | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, OrderedDict]:
        """Embed (and at inference, separate) a batch of spectra.

        Args:
            input: encoded mixture (B, T, F), complex STFT (or real magnitudes).
            ilens: valid frames (B,).
            additional: unused.
        Returns:
            masked: ``num_spk`` tensors (B, T, F) like ``input``: the mixture itself in
                training, mask x input at inference.
            ilens: (B,)
            others: ``tf_embedding`` (B, T*F, D), t-major, weighted as configured
                (what the loss sees); at inference also ``mask_spk{k}`` (B, T, F) and,
                when weighting is on, ``tf_embedding_unweighted`` (B, T*F, D).
        """
        if input.dim() != 3:
            raise ValueError(f"dc_blstm expects a (B, T, F) spectrum, got {tuple(input.shape)}")
        B, T, F = input.shape
        if F != self.input_dim:
            raise ValueError(f"dc_blstm was built for input_dim={self.input_dim}, got F={F}")
        mag = abs(input) if is_complex(input) else input.abs()
        emb = self.embed(mag, ilens)
        weights = self.bin_weights(mag)
        tf_emb = emb if weights is None else emb * weights.sqrt()[..., None]
        others = OrderedDict(tf_embedding=tf_emb.reshape(B, T * F, self.emb_dim))
        if self.training:
            return [input] * self._num_spk, ilens, others
        masks = self.cluster(emb.detach(), ilens, None if weights is None else weights.detach())
        for k, m in enumerate(masks):
            others[f"mask_spk{k + 1}"] = m
        if weights is not None:
            others["tf_embedding_unweighted"] = emb.reshape(B, T * F, self.emb_dim)
        return [input * m for m in masks], ilens, others

    @torch.no_grad()
    def cluster(
        self, emb: torch.Tensor, ilens: torch.Tensor, weights: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """k-means masks for a batch.

        Args:
            emb: (B, T, F, D) embeddings.
            ilens: (B,) valid frames.
            weights: (B, T, F) point weights of the k-means, or None.
        Returns:
            ``num_spk`` masks (B, T, F); 0 on padded frames.
        """
        B, T, F, D = emb.shape
        masks = emb.new_zeros(self._num_spk, B, T, F)
        for b in range(B):
            n = int(min(int(ilens[b]), T))
            if n == 0:
                continue
            w = None if weights is None else weights[b, :n].reshape(-1)
            m = self.cluster_points(emb[b, :n].reshape(-1, D), w)
            masks[:, b, :n] = m.view(self._num_spk, n, F)
        return list(masks.unbind(0))

    def cluster_points(self, points: torch.Tensor, weight: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Cluster N points (N, D) into ``num_spk`` masks (K, N) that sum to 1 per point.

        Fewer points than clusters: point i goes to cluster i. All-identical points
        (e.g. silent input with relu + unit norm): every point in cluster 0.
        """
        K, N = self._num_spk, points.shape[0]
        if N < K or K == 1:
            labels = torch.arange(N, device=points.device) if K > 1 else points.new_zeros(
                N, dtype=torch.long)
            return torch.nn.functional.one_hot(labels, K).T.to(points.dtype)
        x = points.detach().cpu().double().numpy()
        sw = None
        if weight is not None and float(weight.sum()) > 0:
            sw = weight.detach().cpu().double().numpy()
        km = KMeans(n_clusters=K, init="k-means++", n_init=1, max_iter=self.kmeans_max_iter,
                    random_state=self.kmeans_seed)
        with warnings.catch_warnings():
            # identical points: sklearn warns that fewer distinct clusters were found
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = km.fit_predict(x, sample_weight=sw)
        if not self.soft_masks:
            lab = torch.from_numpy(labels.astype(np.int64)).to(points.device)
            return torch.nn.functional.one_hot(lab, K).T.to(points.dtype)
        gamma = soft_kmeans(torch.from_numpy(x), torch.from_numpy(km.cluster_centers_),
                            self.temperature, self.soft_iters,
                            None if sw is None else torch.from_numpy(sw))
        return gamma.T.to(points.device, points.dtype)


def soft_kmeans(
    x: torch.Tensor,
    centres: torch.Tensor,
    temperature: float,
    iters: int,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Soft k-means from given centres; returns responsibilities gamma (N, K).

    gamma = softmax(-||x - c_k||^2 / temperature) over k; each iteration moves the
    centres to the gamma (x weight)-weighted means. A centre with no mass keeps its
    place (no 0/0).

    Args:
        x: points (N, D).
        centres: initial centres (K, D).
        temperature: > 0.
        iters: centre updates before the final responsibilities.
        weight: point weights (N,) or None.
    """
    c = centres.clone()
    w = torch.ones(x.shape[0], dtype=x.dtype) if weight is None else weight.to(x.dtype)
    gamma = torch.softmax(-torch.cdist(x, c).pow(2) / temperature, dim=1)
    for _ in range(iters):
        g = gamma * w[:, None]
        mass = g.sum(0)
        ok = mass > 0
        c[ok] = (g.T @ x)[ok] / mass[ok, None]
        gamma = torch.softmax(-torch.cdist(x, c).pow(2) / temperature, dim=1)
    return gamma


def _frame_mask(ilens: torch.Tensor, T: int, device: torch.device) -> torch.Tensor:
    """(B, T) float mask, 1 on the first ilens[b] frames."""
    return (torch.arange(T, device=device)[None, :] < ilens.to(device)[:, None]).float()
