"""What a dynamic-mixing preprocessor does outside training, without its training lists.

ESPnet's :class:`~espnet2.train.preprocessor.DynamicMixingPreprocessor` (``preprocessor:
dynamic_mixing``) and its subclass ``hard_dm``
(:class:`~sepplug.enh.preprocessor.hard_mixing.HardMixingPreprocessor`) read the training
source list (``spk1.scp``) and ``utt2spk`` in their constructor, also with ``train=False``,
where they never mix. The task builds them with ``train=False`` for validation during training
and, from the saved training config, for inference (``enh_inference``, a recipe's separation
stage), when the training data dir may be gone. :class:`OutsideTrainingMixing` does exactly
what ``DynamicMixingPreprocessor.__call__`` does with ``train=False`` and reads no file:

* the mixing source (``speech_ref1``, or ``mixture_source_name``) must be 1-channel (T,);
* a ``category`` string becomes the integer ``utt2category`` ``[id]`` (int64), numbered as
  ESPnet numbers the ``categories`` list (first occurrence, repeats skipped:
  :func:`sepplug.datadir.categories.category_ids`); a ``category`` without ``categories``
  is refused, as ESPnet refuses it;
* the audio is untouched.

Examples without the mixing source (inference data: ``speech_mix`` only) pass unchanged,
as :class:`~sepplug.tasks.checked_data.CheckedPreprocess` (``needs``) passes them anyway.
Errors are :class:`~sepplug.errors.DataError` (ESPnet asserts, or raises ValueError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from espnet2.train.preprocessor import AbsPreprocessor

from sepplug.datadir.categories import category_ids
from sepplug.errors import DataError


class OutsideTrainingMixing(AbsPreprocessor):
    """Validation / inference stand-in of a dynamic-mixing preprocessor (module doc).

    Args:
        name: the preprocessor's YAML name, for messages (``dynamic_mixing``, ``hard_dm``).
        mixture_source_name: the data name holding the mixing source (default:
            ``<speech_ref_name_prefix>1``).
        speech_ref_name_prefix: as ESPnet's.
        categories: the ``preprocessor_conf.categories`` list (None: no category mapping).
    """

    def __init__(self, name: str = "dynamic_mixing", mixture_source_name: str | None = None,
                 speech_ref_name_prefix: str = "speech_ref",
                 categories: Sequence[str] | None = None) -> None:
        super().__init__(train=False)
        self.name = name
        self.mixture_source_name = mixture_source_name or f"{speech_ref_name_prefix}1"
        self.categories = category_ids(list(categories or []))

    @classmethod
    def from_conf(cls, name: str, conf: Mapping[str, Any] | None) -> OutsideTrainingMixing:
        """From a dynamic-mixing ``preprocessor_conf`` (the keys it does not use, such as
        ``source_scp_name`` or ``pair_table``, are ignored)."""
        conf = conf or {}
        return cls(name, conf.get("mixture_source_name"),
                   conf.get("speech_ref_name_prefix", "speech_ref"), conf.get("categories"))

    def __call__(self, uid: str, data: dict[str, Any]) -> dict[str, Any]:
        source = data.get(self.mixture_source_name)
        if source is None:
            return data
        if np.ndim(source) != 1:
            raise DataError(f"{self.name} preprocessor: utterance {uid}: "
                            f"{self.mixture_source_name} has {np.shape(source)[-1]} channels: "
                            "dynamic mixing takes 1-channel (T,) sources only")
        if "category" not in data:
            return data
        if not self.categories:
            raise DataError(f"{self.name} preprocessor: utterance {uid} has a 'category' "
                            "(utt2category in its data dir) but preprocessor_conf.categories "
                            "is not set in the training config")
        data = dict(data)
        category = data.pop("category")
        if category not in self.categories:
            raise DataError(f"{self.name} preprocessor: utterance {uid}: category "
                            f"{category!r} is not in preprocessor_conf.categories "
                            f"{list(self.categories)}")
        data["utt2category"] = np.array([self.categories[category]])
        return data
