"""`rnn_softmax`: ESPnet's rnn separator with masks that sum to one across the outputs."""

import pytest
import torch
from espnet2.enh.encoder.stft_encoder import STFTEncoder
from espnet2.enh.separator.rnn_separator import RNNSeparator

from sepplug.enh.separator.rnn_softmax import SoftmaxRNNSeparator


def spectrum(batch=2, samples=4000):
    audio = torch.randn(batch, samples, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([samples, samples - 800])
    return STFTEncoder(64, hop_length=16)(audio, lengths)


@pytest.mark.parametrize("predict_noise", [False, True])
def test_masks_sum_to_one_and_outputs_to_the_input(predict_noise):
    feats, flens = spectrum()
    sep = SoftmaxRNNSeparator(33, num_spk=4, predict_noise=predict_noise, layer=1, unit=16)
    masked, olens, others = sep(feats, flens)
    assert len(masked) == 4 and masked[0].shape == feats.shape and torch.equal(olens, flens)
    masks = torch.stack([others[f"mask_spk{k}"] for k in range(1, 5)])
    total = masks.sum(0)
    if predict_noise:  # the noise output takes the rest of each bin
        assert (total < 1).all()
    else:
        torch.testing.assert_close(total, torch.ones_like(total), rtol=1e-5, atol=1e-5)
    assert (masks >= 0).all() and (masks <= 1).all()
    estimate = sum(masked) + (others["noise1"] if predict_noise else 0)
    torch.testing.assert_close(estimate, feats, rtol=1e-4, atol=1e-5)  # mixture consistency


def test_same_parameters_as_espnet_rnn_and_gradients_reach_all_outputs():
    stock = RNNSeparator(33, num_spk=3, layer=2, unit=16)
    ours = SoftmaxRNNSeparator(33, num_spk=3, layer=2, unit=16)
    assert [p.shape for p in ours.parameters()] == [p.shape for p in stock.parameters()]
    feats, flens = spectrum()
    masked, _, _ = ours(feats, flens)
    masked[0].abs().sum().backward()  # one output's loss moves every output's layer
    assert all(linear.weight.grad.abs().sum() > 0 for linear in ours.linear)


def test_temperature_and_yaml_name():
    with pytest.raises(ValueError, match="temperature"):
        SoftmaxRNNSeparator(33, temperature=0.0)
    from espnet2.tasks.enh import separator_choices

    from sepplug.registry import register_all

    register_all()
    assert separator_choices.get_class("rnn_softmax") is SoftmaxRNNSeparator
