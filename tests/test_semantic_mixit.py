"""Semantic MixIT: the classification loss, its wrapper, and the model that feeds it labels."""

from __future__ import annotations

import math

import pytest
import torch

from sepplug.enh.loss.criterions.semantic_classification import SemanticClassificationLoss
from sepplug.enh.loss.wrappers.semantic_mixit import SemanticMixITLoss

FS = 8000
FREQS = (300.0, 1000.0, 2500.0)  # class k is a sine at FREQS[k]
CLASSES = ["low", "mid", "high"]


class OracleClassifier(torch.nn.Module):
    """A perfect classifier of the three sine classes: logit +-20 from each band's level."""

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, 3)
        spec = torch.fft.rfft(wav, dim=-1).abs() ** 2 / wav.shape[-1] ** 2
        freqs = torch.fft.rfftfreq(wav.shape[-1], 1 / FS)
        bands = [spec[:, (freqs > f - 50) & (freqs < f + 50)].sum(-1) for f in FREQS]
        level_db = 10 * torch.log10(torch.stack(bands, dim=-1) + 1e-12)
        return (level_db + 30.0).clamp(-20.0, 20.0)  # present above -30 dB


def sine(k: int, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(FS * seconds)) / FS
    return 0.5 * torch.sin(2 * math.pi * FREQS[k] * t)


def criterion(pooling: str = "max") -> SemanticClassificationLoss:
    loss = SemanticClassificationLoss(pooling=pooling)
    loss.set_classifier(OracleClassifier(), CLASSES)
    return loss


@pytest.fixture
def example():
    """Mixture 1 = classes {low, mid}, mixture 2 = {high}; M = 4 outputs, the last silent."""
    outputs = torch.stack([sine(0), sine(1), sine(2), torch.zeros_like(sine(0))])[None]
    mixing = torch.tensor([[[1, 1, 0, 0], [0, 0, 1, 1]]])  # (1, N=2, M=4)
    labels = torch.tensor([[[1, 1, 0], [0, 0, 1]]])  # (1, 2, K=3)
    return outputs, mixing, labels


@pytest.mark.parametrize("pooling", ["max", "noisy_or"])
def test_loss_is_near_zero_for_correct_groups_and_rises_when_classes_swap(example, pooling):
    outputs, mixing, labels = example
    loss = criterion(pooling)
    right = loss(outputs, mixing, labels)
    assert right.shape == (1,)
    assert right.item() < 1e-3  # a perfect classifier labels every group right
    swapped = loss(outputs, mixing, labels.flip(1))  # mixture 1's classes given to mixture 2
    assert swapped.item() > 5.0
    regrouped = loss(outputs, mixing.flip(1), labels)  # the outputs sent to the other mixture
    assert regrouped.item() > 5.0


def test_loss_rises_when_an_output_mixes_two_mixtures_classes(example):
    outputs, mixing, labels = example
    leaky = outputs.clone()
    leaky[0, 1] = sine(1) + sine(2)  # mixture 1's output also holds mixture 2's class
    assert criterion()(leaky, mixing, labels).item() > criterion()(outputs, mixing, labels) + 1


def test_gradient_reaches_the_outputs_not_the_classifier(example):
    outputs, mixing, labels = example
    classifier = torch.nn.Sequential(torch.nn.Linear(outputs.shape[-1], 3))
    loss = SemanticClassificationLoss()
    loss.set_classifier(classifier, CLASSES)
    outputs = outputs.clone().requires_grad_(True)
    loss(outputs, mixing, labels).sum().backward()
    assert outputs.grad is not None and outputs.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in classifier.parameters())
    assert not list(loss.parameters()) and not loss.state_dict()  # not saved with the model


def test_class_count_mismatch_is_refused(example):
    outputs, mixing, labels = example
    with pytest.raises(ValueError, match="2 classes but .* predicts 3"):
        criterion()(outputs, mixing, labels[..., :2])


def test_configured_classes_must_match_the_classifier():
    loss = SemanticClassificationLoss(classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="differ from the configured classes"):
        loss.set_classifier(OracleClassifier(), CLASSES)


def test_missing_classifier_file_is_named(tmp_path, example):
    outputs, mixing, labels = example
    loss = SemanticClassificationLoss(classifier=str(tmp_path / "nope.pth"))
    with pytest.raises(Exception, match="nope.pth"):
        loss(outputs, mixing, labels)


def test_wrapper_reads_perm_and_labels_and_passes_perm_on(example):
    outputs, mixing, labels = example
    wrapper = SemanticMixITLoss(criterion(), weight=2.0)
    refs = [outputs[:, :2].sum(1), outputs[:, 2:].sum(1)]
    inf = list(outputs.unbind(1))
    others = {"perm": mixing, "labels_ref1": labels[:, 0], "labels_ref2": labels[:, 1]}
    loss, stats, passed = wrapper(refs, inf, others)
    assert loss.item() < 1e-3 and "semantic_classification" in stats
    assert passed["perm"] is mixing
    with pytest.raises(ValueError, match="after 'mixit_efficient'"):
        wrapper(refs, inf, {"labels_ref1": labels[:, 0], "labels_ref2": labels[:, 1]})
    with pytest.raises(ValueError, match="no labels_ref2"):
        wrapper(refs, inf, {"perm": mixing, "labels_ref1": labels[:, 0]})


def test_model_hands_labels_to_the_wrapper(tmp_path):
    """Through ESPnet's model as sepplug's task builds it: MixIT + semantic from YAML names."""
    import argparse

    from sepplug.classify.sound_classifier import SoundClassifier, save_classifier
    from sepplug.enh.espnet_model import SepplugEnhancementModel
    from sepplug.tasks.enh import SepplugEnhancementTask

    path = tmp_path / "classifier.pth"
    save_classifier(path, SoundClassifier(3, fs=FS, channels=(4, 8)), CLASSES)
    parser = SepplugEnhancementTask.get_parser()
    args = parser.parse_args([])
    conf = dict(
        encoder="stft", encoder_conf={"n_fft": 128, "hop_length": 64},
        decoder="stft", decoder_conf={"n_fft": 128, "hop_length": 64},
        separator="rnn_softmax",
        separator_conf={"num_spk": 4, "layer": 1, "unit": 16, "rnn_type": "blstm"},
        model_conf={"flexible_numspk": True}, mask_module="multi_mask", mask_module_conf={},
        criterions=[
            {"name": "si_snr", "conf": {}, "wrapper": "mixit_efficient", "wrapper_conf": {}},
            {"name": "semantic_classification", "conf": {"classifier": str(path)},
             "wrapper": "mixit_semantic", "wrapper_conf": {"weight": 2.0}},
        ],
        init=None,
    )
    model = SepplugEnhancementTask.build_model(argparse.Namespace(**{**vars(args), **conf}))
    assert isinstance(model, SepplugEnhancementModel)
    torch.manual_seed(0)
    refs = torch.randn(2, 2, 4000) * 0.1
    batch = {"speech_mix": refs.sum(1), "speech_mix_lengths": torch.tensor([4000, 4000]),
             "speech_ref1": refs[:, 0], "speech_ref2": refs[:, 1],
             "labels_ref1": torch.tensor([[1, 0, 0], [0, 1, 1]]),
             "labels_ref1_lengths": torch.tensor([3, 3]),
             "labels_ref2": torch.tensor([[0, 0, 1], [1, 0, 0]]),
             "labels_ref2_lengths": torch.tensor([3, 3])}
    loss, stats, _ = model(**batch)
    assert torch.isfinite(loss) and "semantic_classification" in stats
    loss.backward()
    assert not any(k.startswith("classifier") for k in model.state_dict())
    del batch["labels_ref2"], batch["labels_ref2_lengths"]
    with pytest.raises(ValueError, match="labels_ref2"):
        model(**batch)
