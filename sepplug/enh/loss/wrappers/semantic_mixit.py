"""Semantic MixIT: the classification loss on the outputs as MixIT grouped them.

Wrapper of :class:`~sepplug.enh.loss.criterions.semantic_classification.SemanticClassificationLoss`.
It takes, from what the model hands to the loss wrappers:

* ``perm`` — the ``(B, N, M)`` assignment of the ``M`` outputs to the ``N`` mixtures that
  the ``mixit_efficient`` wrapper chose for this batch (ESPnet passes each wrapper's third
  return value to the next; ``output_regularizer`` passes it on), so this wrapper must come
  after ``mixit_efficient`` in ``criterions``;
* ``labels_ref1`` ... ``labels_refN`` — the mixtures' multi-hot weak labels ``(B, K)``, data
  keys that :class:`sepplug.enh.espnet_model.SepplugEnhancementModel` hands to the wrappers
  (ESPnet's model drops unknown batch keys). Read them with
  ``--train_data_path_and_name_and_type data/train/labels_ref1,labels_ref1,text_int`` (and
  ``labels_ref2``, and ``valid``), and keep the chunk iterator from cutting them::

      chunk_excluded_key_prefixes: [labels_ref]
      criterions:
        - name: si_snr
          conf: {clamp_db: 30}
          wrapper: mixit_efficient
          wrapper_conf: {weight: 1.0, refine_sweeps: 16}
        - name: semantic_classification
          conf: {classifier: exp/classifier/classifier.pth, pooling: max}
          wrapper: mixit_semantic
          wrapper_conf: {weight: 1.0}
"""

from __future__ import annotations

import torch
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper

from sepplug.enh.loss.criterions.semantic_classification import SemanticClassificationLoss
from sepplug.enh.loss.signals import stack_signals

OWNER = "mixit_semantic"
LABEL_KEY = "labels_ref{}"


class SemanticMixITLoss(AbsLossWrapper):
    """``loss = mean_b semantic_classification(outputs, MixIT assignment, weak labels)``.

    Args:
        criterion: a :class:`SemanticClassificationLoss` (``semantic_classification``).
        weight: weight of this loss in the model's sum of losses.
    """

    #: batch keys this wrapper reads (the model hands them over: SepplugEnhancementModel)
    batch_keys = ("labels_ref",)

    def __init__(self, criterion: SemanticClassificationLoss, weight: float = 1.0):
        super().__init__()
        if not isinstance(criterion, SemanticClassificationLoss):
            name = getattr(criterion, "name", type(criterion).__name__)
            raise TypeError(f"{OWNER}: criterion must be 'semantic_classification', got "
                            f"'{name}'")
        self.criterion = criterion
        self.weight = weight

    def forward(
        self,
        ref: list[torch.Tensor],
        inf: list[torch.Tensor],
        others: dict | None = None,
    ) -> tuple[torch.Tensor, dict, dict]:
        """Args: ref ``[(B, T)] x N`` mixtures, inf ``[(B, T)] x M`` outputs, others with
        ``perm`` ``(B, N, M)`` and ``labels_ref1..N`` ``(B, K)``.

        Returns ``(loss scalar, {criterion.name: loss}, {"perm": perm})``.
        """
        others = others or {}
        mixing = others.get("perm")
        if mixing is None or not torch.is_tensor(mixing) or mixing.dim() != 3:
            raise ValueError(f"{OWNER}: no MixIT assignment (perm of shape (B, N, M)) from the "
                             "wrappers before it: list it after 'mixit_efficient' in "
                             "criterions")
        missing = [LABEL_KEY.format(n) for n in range(1, len(ref) + 1)
                   if LABEL_KEY.format(n) not in others]
        if missing:
            raise ValueError(
                f"{OWNER}: the batch has no {', '.join(missing)}: give the weak labels as data "
                f"(--train/valid_data_path_and_name_and_type <dir>/{missing[0]},{missing[0]},"
                "text_int) and train with sepplug's task (SepplugEnhancementModel)")
        labels = torch.stack([others[LABEL_KEY.format(n)] for n in range(1, len(ref) + 1)],
                             dim=1)  # (B, N, K)
        estimates = stack_signals(inf, "inf", OWNER)  # (B, M, T)
        loss = self.criterion(estimates, mixing, labels.to(estimates.device)).mean()
        return loss, {self.criterion.name: loss.detach()}, {"perm": mixing}
