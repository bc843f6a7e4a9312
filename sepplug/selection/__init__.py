"""Model selection without references: clustering confidence of a separation.

After Liu, Seetharaman & Pardo, "Model selection for deep audio source separation
via clustering analysis": run every model on a mixture and keep the output of the
one whose T-F embedding clusters best (:func:`clustering_confidence`).
"""

from sepplug.selection.confidence import (
    Confidence,
    ConfidenceWarning,
    clustering_confidence,
    mask_confidence,
    select_loud_bins,
)

__all__ = [
    "Confidence",
    "ConfidenceWarning",
    "clustering_confidence",
    "mask_confidence",
    "select_loud_bins",
]
