"""Tests of the narrow-band / cross-band STFT separator (``separator: tf_dualpath``).

Real ESPnet STFT encoder/decoder, losses and task code; tiny sizes, one CPU thread.
"""

from __future__ import annotations

import math

import pytest
import torch
from espnet2.enh.decoder.stft_decoder import STFTDecoder
from espnet2.enh.encoder.stft_encoder import STFTEncoder
from espnet2.enh.loss.criterions.time_domain import SISNRLoss
from espnet2.enh.loss.wrappers.pit_solver import PITSolver

from sepplug.enh.separator.tf_dualpath import AxisBLSTM, TFDualPathSeparator

from .test_mc_dprnn import _lengths, _spatial_mixture

torch.set_num_threads(1)

N_FFT, HOP = 64, 32
TINY = dict(hidden_dim=8, num_blocks=1)

YAML = f"""\
encoder: stft
encoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
decoder: stft
decoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
separator: tf_dualpath
separator_conf: {{num_spk: 2, num_mics: 6, ref_channel: 1, hidden_dim: 8, num_blocks: 1}}
criterions:
  - name: si_snr
    conf: {{eps: 1.0e-7}}
    wrapper: pit
    wrapper_conf: {{weight: 1.0}}
"""


def _codec() -> tuple[STFTEncoder, STFTDecoder]:
    return STFTEncoder(N_FFT, hop_length=HOP), STFTDecoder(N_FFT, hop_length=HOP)


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_axis_blstm_mixes_only_along_its_axis(axis):
    """A change at one (f, t) reaches other frames of f (time) or other bins of t (freq)."""
    torch.manual_seed(0)
    layer = AxisBLSTM(hidden_dim=4, rnn_dim=4, axis=axis).eval()
    grid = torch.randn(1, 5, 7, 4)  # (B, F, T, H)
    poked = grid.clone()
    poked[0, 2, 3] += torch.tensor([1.0, -2.0, 0.5, 3.0])  # not a constant: LayerNorm
    with torch.no_grad():
        changed = (layer(poked) - layer(grid)).abs().sum(-1)[0] > 1e-7  # (F, T)
    expected = torch.zeros(5, 7, dtype=torch.bool)
    if axis == "time":
        expected[2, :] = True
    else:
        expected[:, 3] = True
    assert torch.equal(changed, expected)


@pytest.mark.parametrize("num_mics, cross_band", [(6, True), (6, False), (1, True)])
def test_output_shapes_and_padding(num_mics, cross_band):
    encoder, _ = _codec()
    model = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=num_mics, cross_band=cross_band, **TINY)
    mixture = torch.randn(3, 1000, num_mics) if num_mics > 1 else torch.randn(3, 1000)
    spec, flens = encoder(mixture, torch.tensor([1000, 800, 500]))
    sources, olens, others = model(spec, flens)
    assert len(sources) == 2 and torch.equal(olens, flens) and not others
    assert all(s.shape == spec.shape[:2] + spec.shape[-1:] and s.is_complex() for s in sources)
    # a padded item gives the same output on its valid frames as alone
    alone, _, _ = model(spec[2:3, : int(flens[2])], flens[2:3])
    torch.testing.assert_close(sources[0][2:3, : int(flens[2])], alone[0], rtol=1e-4, atol=1e-5)


def test_output_scales_with_the_input():
    """Scaling the mixture scales the estimates: the features are level-normalised."""
    torch.manual_seed(0)
    encoder, _ = _codec()
    model = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, **TINY).eval()
    spec, flens = encoder(torch.randn(2, 800, 6), torch.tensor([800, 800]))
    with torch.no_grad():
        base, _, _ = model(spec, flens)
        louder, _, _ = model(spec * 10.0, flens)
    torch.testing.assert_close(louder[1], base[1] * 10.0, rtol=1e-4, atol=1e-4)


def test_reference_channel_matters_and_channel_count_is_checked():
    torch.manual_seed(0)
    encoder, _ = _codec()
    spec, flens = encoder(torch.randn(1, 800, 6), torch.tensor([800]))
    a = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, ref_channel=0, **TINY).eval()
    b = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, ref_channel=3, **TINY).eval()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert not torch.allclose(a(spec, flens)[0][0], b(spec, flens)[0][0])
    with pytest.raises(ValueError, match="expected 6 channels"):
        a(spec[:, :, :4], flens)
    with pytest.raises(ValueError, match="ref_channel 6 is not one of the 6 mics"):
        TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, ref_channel=6)


def _train(model: TFDualPathSeparator, num_mics: int, steps: int = 15) -> list[float]:
    """PIT SI-SNR losses of ``steps`` Adam steps on one tiny spatial batch."""
    encoder, decoder = _codec()
    mixture, refs = _spatial_mixture(batch=2, num_samples=1600, num_mics=num_mics, seed=1)
    ilens = _lengths(mixture)
    solver = PITSolver(criterion=SISNRLoss())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        spec, flens = encoder(mixture, ilens)
        sources, _, _ = model(spec, flens)
        loss, _, _ = solver(refs, [decoder(s, ilens)[0] for s in sources], {})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("num_mics", [1, 6])
def test_training_decreases_loss(num_mics):
    torch.manual_seed(0)
    losses = _train(TFDualPathSeparator(N_FFT // 2 + 1, num_mics=num_mics, **TINY), num_mics)
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0] - 1.0, losses  # at least 1 dB SI-SNR better


def test_build_from_yaml_train_mode_forward_backward(tmp_path):
    """The stock ESPnetEnhancementModel trains it, with 6-channel references."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(config)])
    model = SepplugEnhancementTask.build_model(args).train()
    assert isinstance(model.separator, TFDualPathSeparator)
    assert model.ref_channel == 1  # read from the separator
    mixture = torch.randn(2, 801, 6)
    refs = [torch.randn(2, 801, 6), torch.randn(2, 801, 6)]
    loss, stats, weight = model(
        mixture, _lengths(mixture), speech_ref1=refs[0], speech_ref2=refs[1]
    )
    assert torch.isfinite(loss).all() and "si_snr_loss" in stats and int(weight) == 2
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


FULL_BAND = dict(TINY, cross_band=False, full_band_dim=6, full_band_layers=1,
                 full_band_bottleneck=2)


@pytest.mark.parametrize("full_band_dim", [0, 6])
def test_full_band_branch_links_the_frequencies(full_band_dim):
    """Narrow-band only: a change in one bin stays in its frequency. The full-band branch
    carries it to the other frequencies of the utterance (the spectral, timbre path)."""
    torch.manual_seed(0)
    # no spectral input feature: its utterance-mean normalisation links all bins by itself
    config = dict(FULL_BAND, full_band_dim=full_band_dim, spectral_feature=False)
    model = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, **config).eval()
    spec = torch.randn(1, 9, 6, N_FFT // 2 + 1, dtype=torch.complex64)  # (B, T, C, F)
    poked = spec.clone()
    poked[0, 4, :, 5] *= 3.0
    flens = torch.tensor([9])
    with torch.no_grad():
        delta = (model(poked, flens)[0][0] - model(spec, flens)[0][0]).abs()[0]  # (T, F)
    other_freqs = torch.cat([delta[:, :5], delta[:, 6:]], dim=1)
    assert bool((delta[:, 5] > 1e-6).any())
    assert bool((other_freqs > 1e-6).any()) == (full_band_dim > 0)


@pytest.mark.parametrize("output", ["mapping", "mask"])
def test_full_band_shapes_padding_and_level(output):
    torch.manual_seed(0)
    encoder, _ = _codec()
    model = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, output=output, **FULL_BAND).eval()
    spec, flens = encoder(torch.randn(3, 1000, 6), torch.tensor([1000, 800, 500]))
    with torch.no_grad():
        sources, _, others = model(spec, flens)
        alone, _, _ = model(spec[2:3, : int(flens[2])], flens[2:3])
        louder, _, _ = model(spec * 10.0, flens)
    assert all(s.shape == spec.shape[:2] + spec.shape[-1:] for s in sources)
    torch.testing.assert_close(sources[0][2:3, : int(flens[2])], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(louder[1], sources[1] * 10.0, rtol=1e-4, atol=1e-4)
    if output == "mask":  # each estimate is its mask times the reference mic's STFT
        assert sorted(others) == ["mask_spk1", "mask_spk2"]
        torch.testing.assert_close(sources[0], others["mask_spk1"] * spec[:, :, 0])
    else:
        assert not others
    with pytest.raises(ValueError, match="output must be 'mapping' or 'mask'"):
        TFDualPathSeparator(N_FFT // 2 + 1, output="masks")


def test_full_band_mask_model_trains():
    torch.manual_seed(0)
    model = TFDualPathSeparator(N_FFT // 2 + 1, num_mics=6, output="mask", **FULL_BAND)
    losses = _train(model, num_mics=6)
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0] - 1.0, losses
