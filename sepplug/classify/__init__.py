"""Small sound classifiers (CPU-sized) used by the semantic MixIT loss."""

from sepplug.classify.sound_classifier import SoundClassifier, load_classifier, save_classifier

__all__ = ["SoundClassifier", "load_classifier", "save_classifier"]
