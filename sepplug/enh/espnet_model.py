"""ESPnet's enhancement model, handing batch side information to the loss wrappers.

``ESPnetEnhancementModel.forward`` keeps the reference, noise, dereverberation, ``utt2fs``
and ``utt2category`` keys of a batch and drops every other. A loss that needs other
per-example data — the weak class labels ``labels_ref<n>`` of semantic MixIT
(:mod:`sepplug.enh.loss.wrappers.semantic_mixit`) — gets them here: the keys that match
:data:`SIDE_INFO_KEY` are taken out of the batch before ESPnet's ``forward`` and merged
into the ``others`` dict that ``forward_loss`` gives every loss wrapper.

:meth:`sepplug.tasks.enh.SepplugEnhancementTask.build_model` builds this class instead of
ESPnet's when a loss wrapper declares ``batch_keys``; everything else is ESPnet's.
"""

from __future__ import annotations

import re

import torch
from espnet2.enh.espnet_model import ESPnetEnhancementModel

#: batch keys handed to the loss wrappers (their ``_lengths`` companions are dropped)
SIDE_INFO_KEY = re.compile(r"labels_ref\d+")


class SepplugEnhancementModel(ESPnetEnhancementModel):
    """:class:`ESPnetEnhancementModel` whose loss wrappers also see ``labels_ref<n>``
    ``(B, K)`` in ``others``."""

    def forward(self, speech_mix: torch.Tensor, speech_mix_lengths: torch.Tensor = None,
                **kwargs):
        side = {k: v for k, v in kwargs.items() if SIDE_INFO_KEY.fullmatch(k)}
        rest = {k: v for k, v in kwargs.items()
                if k not in side and k.removesuffix("_lengths") not in side}
        self._side_info = side
        try:
            return super().forward(speech_mix, speech_mix_lengths, **rest)
        finally:
            self._side_info = {}

    def forward_loss(self, speech_pre, speech_lengths, feature_mix, feature_pre, others,
                     *args, **kwargs):
        side = getattr(self, "_side_info", None)
        if side:
            others = {**others, **side}
        return super().forward_loss(speech_pre, speech_lengths, feature_mix, feature_pre,
                                    others, *args, **kwargs)


def wants_side_info(model: ESPnetEnhancementModel) -> bool:
    """True when one of the model's loss wrappers declares ``batch_keys``."""
    return any(getattr(w, "batch_keys", None) for w in getattr(model, "loss_wrappers", []))
