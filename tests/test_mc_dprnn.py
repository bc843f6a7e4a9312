"""Tests of the multi-channel DPRNN separator (``separator: mc_dprnn``).

Everything runs on real ESPnet layers, losses and task code, with tiny sizes on
one CPU thread.
"""

from __future__ import annotations

import math

import pytest
import torch
from espnet2.enh.decoder.conv_decoder import ConvDecoder
from espnet2.enh.encoder.conv_encoder import ConvEncoder
from espnet2.enh.layers.dprnn import merge_feature, split_feature
from espnet2.enh.loss.criterions.time_domain import SISNRLoss
from espnet2.enh.loss.wrappers.pit_solver import PITSolver
from espnet2.enh.separator.dprnn_separator import DPRNNSeparator

from sepplug.enh.separator.mc_dprnn import MCDPRNNSeparator

torch.set_num_threads(1)

TINY = dict(
    num_filters=16,
    kernel_size=16,
    stride=8,
    bottleneck_dim=16,
    hidden_dim=16,
    chunk_size=10,
    num_layers=2,
)

MC_YAML = """\
encoder: same
decoder: same
separator: mc_dprnn
separator_conf:
  num_spk: 2
  num_mics: 6
  ref_channel: 2
  num_filters: 16
  kernel_size: 16
  stride: 8
  bottleneck_dim: 16
  hidden_dim: 16
  chunk_size: 10
  num_layers: 1
criterions:
  - name: si_snr
    conf: {eps: 1.0e-7}
    wrapper: pit
    wrapper_conf: {weight: 1.0}
"""


def _lengths(x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), x.shape[1], dtype=torch.long)


def _spatial_mixture(
    batch: int, num_samples: int, num_mics: int, seed: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Two harmonic sources reaching each microphone with its own delay.

    Returns the mixture (B, T, C) (or (B, T) when ``num_mics`` is 1) and the two
    sources at microphone 0, each (B, T).
    """
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / 8000.0
    images = []
    for src in range(2):
        f0 = 110.0 + 90.0 * src + 20.0 * torch.rand(batch, 1, generator=gen)
        wave = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
        envelope = 0.6 + 0.4 * torch.sin(2 * math.pi * (2.0 + 3.0 * src) * t)
        wave = wave * envelope
        delays = torch.arange(num_mics) * (1 if src == 0 else -1)
        images.append(torch.stack([torch.roll(wave, int(d), dims=-1) for d in delays], -1))
    mixture = images[0] + images[1]  # (B, T, C)
    if num_mics == 1:
        mixture = mixture[..., 0]
    return mixture, [img[..., 0] for img in images]


def _train_losses(num_mics: int, steps: int = 12) -> list[float]:
    torch.manual_seed(0)
    mixture, refs = _spatial_mixture(batch=2, num_samples=1600, num_mics=num_mics, seed=1)
    model = MCDPRNNSeparator(num_spk=2, num_mics=num_mics, **TINY)
    solver = PITSolver(criterion=SISNRLoss())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        separated, _, _ = model(mixture, _lengths(mixture))
        loss, _, _ = solver(refs, separated, {})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    "shape, conf",
    [
        ((3, 1001, 6), dict(num_mics=6)),
        ((3, 1001, 6), dict(num_mics=None, use_tac=True)),
        ((3, 1001), dict(num_mics=1)),
        ((2, 1000, 4), dict(num_mics=4, num_spk=3, bottleneck_dim=None)),
    ],
)
def test_output_shapes(shape, conf):
    conf = {"num_spk": 2, **TINY, **conf}
    model = MCDPRNNSeparator(**conf)
    mixture = torch.randn(*shape)
    ilens = _lengths(mixture)
    separated, out_lens, others = model(mixture, ilens)
    batch, num_samples = shape[:2]
    assert len(separated) == conf["num_spk"]
    assert all(s.shape == (batch, num_samples) for s in separated)
    assert torch.equal(out_lens, ilens)
    num_frames = math.ceil((num_samples - 16) / 8) + 1
    assert list(others) == [f"mask_spk{n + 1}" for n in range(conf["num_spk"])]
    assert all(m.shape == (batch, num_frames, 16) for m in others.values())


@pytest.mark.parametrize("chunk_size", [2, 5, 10])
@pytest.mark.parametrize("num_frames", [1, 7, 10, 33])
def test_split_then_merge_gives_back_the_input(chunk_size, num_frames):
    """ESPnet's merge_feature adds the two 50 %-overlapping chunk sets: 2x the input."""
    features = torch.randn(2, 3, num_frames)
    chunks, rest = split_feature(features, segment_size=chunk_size)
    assert chunks.shape[:3] == (2, 3, chunk_size)
    torch.testing.assert_close(merge_feature(chunks, rest), 2 * features)


@pytest.mark.parametrize("num_samples", [5, 16, 17, 1001])
def test_padding_is_zeros_and_trimmed(num_samples):
    """T not a multiple of the stride (or shorter than a frame) is zero-padded then trimmed."""
    torch.manual_seed(0)
    model = MCDPRNNSeparator(num_spk=2, num_mics=6, **TINY).eval()
    mixture = torch.randn(2, num_samples, 6)
    num_frames = max(0, math.ceil((num_samples - 16) / 8)) + 1
    padded_len = 16 + 8 * (num_frames - 1)
    padded = torch.nn.functional.pad(mixture, (0, 0, 0, padded_len - num_samples))
    with torch.no_grad():
        short, _, _ = model(mixture, _lengths(mixture))
        full, _, _ = model(padded, _lengths(padded))
    for s, f in zip(short, full, strict=True):
        assert s.shape == (2, num_samples)
        torch.testing.assert_close(s, f[:, :num_samples])


@pytest.mark.parametrize("use_tac", [False, True])
def test_batch_of_one_matches_batched(use_tac):
    torch.manual_seed(0)
    model = MCDPRNNSeparator(num_spk=2, num_mics=6, use_tac=use_tac, **TINY).eval()
    mixture = torch.randn(2, 803, 6)
    with torch.no_grad():
        batched, _, _ = model(mixture, _lengths(mixture))
        single, _, _ = model(mixture[1:], _lengths(mixture[1:]))
    for b, s in zip(batched, single, strict=True):
        assert s.shape == (1, 803)
        torch.testing.assert_close(s, b[1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_tac", [False, True])
def test_gradient_reaches_every_parameter(use_tac):
    torch.manual_seed(0)
    model = MCDPRNNSeparator(num_spk=2, num_mics=6, use_tac=use_tac, **TINY)
    mixture = torch.randn(2, 500, 6)
    separated, _, _ = model(mixture, _lengths(mixture))
    sum(s.pow(2).mean() for s in separated).backward()
    missing = [
        name
        for name, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert not missing, f"no gradient for {missing}"


def test_single_channel_equals_stock_conv_dprnn_conv():
    """One mic, no bottleneck: same function as ESPnet's conv + dprnn + conv with the same
    weights (T chosen so that ESPnet's encoder frames cover every sample)."""
    torch.manual_seed(0)
    conf = dict(num_filters=16, kernel_size=16, stride=8, hidden_dim=16, chunk_size=10)
    ours = MCDPRNNSeparator(num_spk=2, num_mics=1, bottleneck_dim=None, num_layers=2, **conf)
    encoder = ConvEncoder(channel=16, kernel_size=16, stride=8)
    separator = DPRNNSeparator(16, num_spk=2, layer=2, unit=16, segment_size=10)
    decoder = ConvDecoder(channel=16, kernel_size=16, stride=8)
    encoder.conv1d.weight.data.copy_(ours.encoder.weight)
    separator.dprnn.load_state_dict(ours.dprnn.state_dict())
    decoder.convtrans1d.weight.data.copy_(ours.decoder.weight)

    mixture = torch.randn(2, 16 + 8 * 99)
    ilens = _lengths(mixture)
    with torch.no_grad():
        expected_feats, flens = encoder(mixture, ilens)
        masked, _, _ = separator(expected_feats, flens)
        expected = [decoder(m, ilens)[0] for m in masked]
        got, _, _ = ours(mixture, ilens)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_tac_output_ignores_order_of_other_microphones():
    """TAC averages over microphones: permuting the non-reference mics changes nothing."""
    torch.manual_seed(0)
    model = MCDPRNNSeparator(num_spk=2, num_mics=None, use_tac=True, **TINY).eval()
    mixture = torch.randn(2, 600, 6)
    permuted = mixture[..., [0, 3, 5, 1, 4, 2]]
    with torch.no_grad():
        a, _, _ = model(mixture, _lengths(mixture))
        b, _, _ = model(permuted, _lengths(permuted))
        c, _, _ = model(mixture[..., [1, 0, 2, 3, 4, 5]], _lengths(mixture))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(a[0], c[0], atol=1e-4)  # the reference mic does matter


@pytest.mark.parametrize("num_mics", [1, 6])
def test_training_decreases_loss(num_mics):
    losses = _train_losses(num_mics)
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0] - 1.0, losses  # at least 1 dB SI-SNR better


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="num_mics is required"):
        MCDPRNNSeparator(num_spk=2, **TINY)
    with pytest.raises(ValueError, match="ref_channel=6"):
        MCDPRNNSeparator(num_spk=2, num_mics=6, ref_channel=6, **TINY)
    model = MCDPRNNSeparator(num_spk=2, num_mics=6, **TINY)
    with pytest.raises(ValueError, match=r"num_mics=6 but speech_mix has 4 channel"):
        model(torch.randn(1, 100, 4), torch.tensor([100]))
    with pytest.raises(ValueError, match=r"\(B, T\) or \(B, T, C\)"):
        model(torch.randn(1, 100, 6, 1), torch.tensor([100]))
    with pytest.raises(TypeError, match="real floating-point"):
        model(torch.randn(1, 100, 6, dtype=torch.complex64), torch.tensor([100]))


@pytest.fixture(scope="module")
def espnet_model(tmp_path_factory):
    """A full ESPnetEnhancementModel built by the task from a YAML config."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    config = tmp_path_factory.mktemp("mc_dprnn") / "config.yaml"
    config.write_text(MC_YAML)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(config)])
    return SepplugEnhancementTask.build_model(args)


def test_build_from_yaml_forward_backward(espnet_model):
    model = espnet_model.train()
    assert isinstance(model.separator, MCDPRNNSeparator)
    assert model.ref_channel == 2  # read from the separator
    mixture, refs = _spatial_mixture(batch=2, num_samples=801, num_mics=6, seed=3)
    loss, stats, weight = model(
        mixture, _lengths(mixture), speech_ref1=refs[0], speech_ref2=refs[1]
    )
    assert loss.numel() == 1 and torch.isfinite(loss).all()  # (1,) after force_gatherable
    assert "si_snr_loss" in stats and int(weight) == 2
    model.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_multichannel_references_use_separator_ref_channel(espnet_model):
    """(B, T, C) references are reduced to channel ``separator.ref_channel`` by ESPnet."""
    model = espnet_model.eval()
    torch.manual_seed(0)
    mixture = torch.randn(2, 640, 6)
    refs = [torch.randn(2, 640, 6), torch.randn(2, 640, 6)]
    ilens = _lengths(mixture)
    with torch.no_grad():
        multi, _, _ = model(mixture, ilens, speech_ref1=refs[0], speech_ref2=refs[1])
        at_ref, _, _ = model(
            mixture, ilens, speech_ref1=refs[0][..., 2], speech_ref2=refs[1][..., 2]
        )
        at_other, _, _ = model(
            mixture, ilens, speech_ref1=refs[0][..., 0], speech_ref2=refs[1][..., 0]
        )
    torch.testing.assert_close(multi, at_ref)
    assert not torch.allclose(multi, at_other)
