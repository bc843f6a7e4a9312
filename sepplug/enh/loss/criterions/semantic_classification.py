"""Semantic classification loss of MixIT outputs (Wisdom et al., 2021, "semantic MixIT").

The paper's third loss trains the separator to make outputs that a sound classifier can
label, by "predicting weak class labels for each mixture" of a mixture of mixtures. Our
stored copies of the paper hold only that sentence of its method (the abstract); the rest
is our reading, with each choice stated:

1. A **frozen** sound classifier (:class:`sepplug.classify.sound_classifier.SoundClassifier`,
   trained beforehand on single-source clips, its file named in the config) gives each of
   the ``M`` outputs class probabilities ``p_m = sigmoid(f(ŝ_m))``, ``(B, M, K)``. Its
   weights get no gradient; the separator gets one through the classifier's input.
2. The outputs are **grouped by the MixIT assignment** ``A`` ``(B, N, M)`` (0/1, the one the
   MixIT loss chose for this batch), and each mixture's class prediction pools its group:
   ``pooling: max`` (default) ``P_nk = max_m A_nm p_mk`` — the multiple-instance view of a
   weak label (a mixture has class ``k`` iff at least one of its sources has it): a
   present class pushes up the output most likely to hold it, an absent class pushes down
   every output of the group that claims it; ``pooling: noisy_or``
   ``P_nk = 1 - Π_m (1 - A_nm p_mk)`` spreads the gradient over the group instead.
3. **Binary cross-entropy** between ``P_nk`` and the mixture's multi-hot weak labels
   ``y_nk``, averaged over the ``N`` mixtures and ``K`` classes: ``(B,)``.

The classifier is loaded on first use and kept **outside** the model's ``state_dict`` (it
is not the separator's; checkpoints stay loadable without it). It is trained with silent
examples labelled "no class", so a silent output claims nothing and needs no weighting.

Used through the ``mixit_semantic`` wrapper, after ``mixit_efficient`` (whose assignment
it reuses)::

    - name: semantic_classification
      conf: {classifier: exp/classifier/classifier.pth, pooling: max}
      wrapper: mixit_semantic
      wrapper_conf: {weight: 1.0}
"""

from __future__ import annotations

from pathlib import Path

import torch
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss

POOLINGS = ("max", "noisy_or")
OWNER = "semantic_classification"


class SemanticClassificationLoss(TimeDomainLoss):
    """BCE of pooled output-class predictions against mixture weak labels.

    ``forward(estimates (B, M, T), mixing (B, N, M), labels (B, N, K)) -> (B,)``.

    Args:
        classifier: path of a classifier saved by
            :func:`sepplug.classify.sound_classifier.save_classifier` (relative to the
            working dir, i.e. the recipe dir); or None when :meth:`set_classifier` is
            called before use (tests).
        classes: optional expected class list; the classifier's must equal it (guards the
            label order).
        pooling: ``"max"`` or ``"noisy_or"`` (module docstring).
        eps: probabilities are clamped to ``[eps, 1 - eps]`` before the log.
        name: reporter key.
        only_for_test: compute it in validation only.
    """

    def __init__(
        self,
        classifier: str | None = None,
        classes: list[str] | None = None,
        pooling: str = "max",
        eps: float = 1e-6,
        name: str | None = None,
        only_for_test: bool = False,
    ):
        super().__init__(name or OWNER, only_for_test=only_for_test)
        if pooling not in POOLINGS:
            raise ValueError(f"{OWNER}: pooling must be one of {POOLINGS}, got {pooling!r}")
        if not 0 < eps < 0.5:
            raise ValueError(f"{OWNER}: eps must be in (0, 0.5), got {eps}")
        self.classifier_path = classifier
        self.expected_classes = list(classes) if classes is not None else None
        self.pooling = pooling
        self.eps = float(eps)
        # Not a submodule: kept out of state_dict and parameters() (see the module doc).
        object.__setattr__(self, "_classifier", None)
        object.__setattr__(self, "_classes", None)

    def set_classifier(self, classifier: torch.nn.Module, classes: list[str]) -> None:
        """Use this (frozen) classifier ``(B, T) -> logits (B, K)`` with these classes."""
        if self.expected_classes is not None and list(classes) != self.expected_classes:
            raise ValueError(
                f"{OWNER}: the classifier's classes {list(classes)} differ from the "
                f"configured classes {self.expected_classes}")
        classifier.eval()
        for parameter in classifier.parameters():
            parameter.requires_grad_(False)
        object.__setattr__(self, "_classifier", classifier)
        object.__setattr__(self, "_classes", list(classes))

    @property
    def classes(self) -> list[str]:
        """The classifier's classes (loads it if needed)."""
        self._load()
        return self._classes

    def _load(self) -> torch.nn.Module:
        if self._classifier is None:
            if self.classifier_path is None:
                raise ValueError(f"{OWNER}: no classifier: set conf.classifier to the path of "
                                 "a trained classifier (classifier.pth)")
            from sepplug.classify.sound_classifier import load_classifier

            model, classes = load_classifier(Path(self.classifier_path))
            self.set_classifier(model, classes)
        return self._classifier

    def output_probabilities(self, estimates: torch.Tensor) -> torch.Tensor:
        """``(B, M, T)`` outputs -> class probabilities ``(B, M, K)`` (grad to the input)."""
        classifier = self._load()
        first = next(classifier.parameters(), None)
        if first is not None and (first.device != estimates.device
                                  or first.dtype != estimates.dtype):
            classifier.to(device=estimates.device, dtype=estimates.dtype)
        classifier.eval()  # the model's train() would otherwise switch its batch norm
        batch, num_out, length = estimates.shape
        logits = classifier(estimates.reshape(batch * num_out, length))
        return torch.sigmoid(logits).reshape(batch, num_out, -1)

    def pool(self, probs: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
        """Mixture-level predictions ``(B, N, K)`` from ``probs (B, M, K)`` and the 0/1
        assignment ``mixing (B, N, M)``."""
        grouped = mixing.to(probs.dtype).unsqueeze(-1) * probs.unsqueeze(1)  # (B, N, M, K)
        if self.pooling == "max":
            return grouped.amax(dim=2)
        return 1.0 - torch.prod(1.0 - grouped, dim=2)

    def forward(self, estimates: torch.Tensor, mixing: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``(B,)``; see the class docstring for the shapes.

        Raises:
            ValueError: shapes that do not fit together, or labels whose class count
                differs from the classifier's.
        """
        if estimates.dim() != 3 or mixing.dim() != 3 or labels.dim() != 3:
            raise ValueError(
                f"{OWNER}: need estimates (B, M, T), mixing (B, N, M), labels (B, N, K); got "
                f"{tuple(estimates.shape)}, {tuple(mixing.shape)}, {tuple(labels.shape)}")
        batch, num_out, _ = estimates.shape
        if mixing.shape[0] != batch or mixing.shape[2] != num_out:
            raise ValueError(f"{OWNER}: mixing {tuple(mixing.shape)} does not assign the "
                             f"{num_out} outputs of a batch of {batch}")
        if labels.shape[:2] != mixing.shape[:2]:
            raise ValueError(f"{OWNER}: labels {tuple(labels.shape)} do not match the "
                             f"{mixing.shape[1]} mixtures of the assignment")
        classes = self.classes
        if labels.shape[2] != len(classes):
            source = self.classifier_path or "the classifier"
            raise ValueError(
                f"{OWNER}: the weak labels have {labels.shape[2]} classes but {source} "
                f"predicts {len(classes)} ({', '.join(classes)}); write the labels with the "
                "classifier's classes.txt")
        probs = self.output_probabilities(estimates)
        predicted = self.pool(probs, mixing).clamp(self.eps, 1.0 - self.eps)
        target = labels.to(predicted.dtype)
        bce = -(target * predicted.log() + (1.0 - target) * (1.0 - predicted).log())
        return bce.mean(dim=(1, 2))
