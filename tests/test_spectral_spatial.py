"""Tests of the full-band spectral-spatial separator (``separator: spectral_spatial``).

Real ESPnet STFT encoder/decoder, losses and task code; tiny sizes, one CPU thread.
"""

from __future__ import annotations

import math

import pytest
import torch
from espnet2.enh.decoder.stft_decoder import STFTDecoder
from espnet2.enh.encoder.stft_encoder import STFTEncoder

from sepplug.enh.separator.spectral_spatial import SpectralSpatialSeparator

from .test_mc_dprnn import _lengths
from .test_tf_dualpath import _train

torch.set_num_threads(1)

N_FFT, HOP = 64, 32
F = N_FFT // 2 + 1
TINY = dict(layer=1, unit=8, spatial_proj_dim=4)

YAML = f"""\
encoder: stft
encoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
decoder: stft
decoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
separator: spectral_spatial
separator_conf: {{num_spk: 2, num_mics: 6, ref_channel: 2, layer: 1, unit: 8, spatial_proj_dim: 4}}
criterions:
  - name: si_snr
    conf: {{eps: 1.0e-7}}
    wrapper: pit
    wrapper_conf: {{weight: 1.0}}
"""


def _codec() -> tuple[STFTEncoder, STFTDecoder]:
    return STFTEncoder(N_FFT, hop_length=HOP), STFTDecoder(N_FFT, hop_length=HOP)


@pytest.mark.parametrize("spatial_feature, proj", [("ipd", 4), ("ipd+ild", 0), ("none", 4)])
def test_shapes_masks_and_padding(spatial_feature, proj):
    torch.manual_seed(0)
    encoder, _ = _codec()
    model = SpectralSpatialSeparator(F, layer=1, unit=8, spatial_feature=spatial_feature,
                                     spatial_proj_dim=proj).eval()
    spec, flens = encoder(torch.randn(3, 1000, 6), torch.tensor([1000, 800, 500]))
    with torch.no_grad():
        sources, olens, others = model(spec, flens)
        alone, _, _ = model(spec[2:3, : int(flens[2])], flens[2:3])
    assert len(sources) == 2 and torch.equal(olens, flens)
    assert all(s.shape == spec.shape[:2] + spec.shape[-1:] and s.is_complex() for s in sources)
    assert sorted(others) == ["mask_spk1", "mask_spk2"]
    for i, source in enumerate(sources):  # a sigmoid mask on the reference mic
        mask = others[f"mask_spk{i + 1}"]
        assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
        torch.testing.assert_close(source, mask * spec[:, :, 0])
    # a padded item gives the same output on its valid frames as alone (packed BLSTM)
    torch.testing.assert_close(sources[0][2:3, : int(flens[2])], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spatial_feature", ["ipd", "none"])
def test_other_mics_matter_only_with_a_spatial_feature(spatial_feature):
    """The timbre-only control ignores every mic but the reference; the spatial model reads
    the inter-mic phase of each."""
    torch.manual_seed(0)
    model = SpectralSpatialSeparator(F, spatial_feature=spatial_feature, **TINY).eval()
    spec = torch.randn(1, 9, 6, F, dtype=torch.complex64)  # (B, T, C, F)
    moved = spec.clone()
    moved[0, :, 3] *= torch.exp(1j * torch.linspace(0, 2, F))  # mic 3 only: a phase shift
    flens = torch.tensor([9])
    with torch.no_grad():
        delta = (model(moved, flens)[0][0] - model(spec, flens)[0][0]).abs().max()
    assert (float(delta) > 1e-6) == (spatial_feature != "none")


def test_spectrum_links_the_frequencies():
    """Full band: a change in one bin of the reference mic reaches every bin's mask."""
    torch.manual_seed(0)
    model = SpectralSpatialSeparator(F, **TINY).eval()
    spec = torch.randn(1, 9, 6, F, dtype=torch.complex64)
    poked = spec.clone()
    poked[0, 4, 0, 5] *= 3.0
    flens = torch.tensor([9])
    with torch.no_grad():
        delta = (model(poked, flens)[2]["mask_spk1"] - model(spec, flens)[2]["mask_spk1"]).abs()
    assert bool((delta[0, :, :5] > 1e-7).any()) and bool((delta[0, :, 6:] > 1e-7).any())


@pytest.mark.parametrize("spectral_feature, invariant", [("log", True), ("mag", False)])
def test_level_invariance_of_the_log_feature(spectral_feature, invariant):
    torch.manual_seed(0)
    encoder, _ = _codec()
    model = SpectralSpatialSeparator(F, spectral_feature=spectral_feature, **TINY).eval()
    spec, flens = encoder(torch.randn(2, 800, 6), torch.tensor([800, 800]))
    with torch.no_grad():
        base, _, _ = model(spec, flens)
        louder, _, _ = model(spec * 10.0, flens)
    assert torch.allclose(louder[1], base[1] * 10.0, rtol=1e-4, atol=1e-4) == invariant


def test_reference_channel_and_bad_options():
    torch.manual_seed(0)
    spec = torch.randn(1, 9, 6, F, dtype=torch.complex64)
    flens = torch.tensor([9])
    a = SpectralSpatialSeparator(F, ref_channel=0, **TINY).eval()
    b = SpectralSpatialSeparator(F, ref_channel=3, **TINY).eval()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert not torch.allclose(a(spec, flens)[0][0], b(spec, flens)[0][0])
    with pytest.raises(ValueError, match="input has 4 mics, the model was built for 6"):
        a(spec[:, :, :4], flens)
    with pytest.raises(ValueError, match="ref_channel 6 is not one of the 6 mics"):
        SpectralSpatialSeparator(F, ref_channel=6)
    with pytest.raises(ValueError, match="spatial_feature must be one of"):
        SpectralSpatialSeparator(F, spatial_feature="gcc")
    with pytest.raises(ValueError, match="spectral_feature must be one of"):
        SpectralSpatialSeparator(F, spectral_feature="mel")


def test_one_mic_input_is_the_timbre_only_model():
    torch.manual_seed(0)
    model = SpectralSpatialSeparator(F, num_mics=1, **TINY).eval()
    assert model.spatial_feature == "none" and model.spatial_proj is None
    encoder, _ = _codec()
    spec, flens = encoder(torch.randn(2, 800), torch.tensor([800, 600]))  # (B, T, F)
    sources, _, _ = model(spec, flens)
    assert sources[0].shape == spec.shape


@pytest.mark.parametrize("num_mics", [1, 6])
def test_training_decreases_loss(num_mics):
    torch.manual_seed(0)
    model = SpectralSpatialSeparator(F, num_mics=num_mics, layer=1, unit=16, spatial_proj_dim=8)
    losses = _train(model, num_mics)  # tf_dualpath's test loop: same STFT, batch, 15 steps
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0] - 1.0, losses  # at least 1 dB SI-SNR better


def test_build_from_yaml_train_mode_forward_backward(tmp_path):
    """The stock ESPnetEnhancementModel trains it by name, with 6-channel references."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(config)])
    model = SepplugEnhancementTask.build_model(args).train()
    assert isinstance(model.separator, SpectralSpatialSeparator)
    mixture = torch.randn(2, 801, 6)
    refs = [torch.randn(2, 801, 6), torch.randn(2, 801, 6)]
    loss, stats, weight = model(
        mixture, _lengths(mixture), speech_ref1=refs[0], speech_ref2=refs[1]
    )
    assert torch.isfinite(loss).all() and "si_snr_loss" in stats and int(weight) == 2
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
