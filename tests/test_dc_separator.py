"""The ``dc_blstm`` deep-clustering separator inside ESPnet's stock enhancement model."""

from __future__ import annotations

import math

import pytest
import torch

from sepplug.enh.separator.dc_separator import DCBLSTMSeparator, soft_kmeans

N_FFT, HOP = 64, 16
F = N_FFT // 2 + 1
TINY = {"num_spk": 2, "hidden_dim": 16, "num_layers": 1, "emb_dim": 4}

DC_YAML = f"""
encoder: stft
encoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
decoder: stft
decoder_conf: {{n_fft: {N_FFT}, hop_length: {HOP}}}
separator: dc_blstm
separator_conf: {{num_spk: 2, hidden_dim: 16, num_layers: 1, emb_dim: 4}}
criterions:
  - {{name: dpcl, conf: {{loss_type: dpcl}}, wrapper: dpcl, wrapper_conf: {{weight: 1.0}}}}
"""


def build(tmp_path, yaml_text: str = DC_YAML):
    """ESPnetEnhancementModel built by the (plugin-registering) task from a YAML config."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    config = tmp_path / "config.yaml"
    config.write_text(yaml_text)
    args = SepplugEnhancementTask.get_parser().parse_args(["--config", str(config)])
    torch.manual_seed(0)
    return SepplugEnhancementTask.build_model(args)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dc"))


def toy_batch(batch: int = 2, samples: int = 1200, seed: int = 0):
    """Two sources in disjoint bands: a low tone and a high tone (random phases)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 8000.0
    ph = torch.rand(batch, 2, generator=g) * 2 * math.pi
    s1 = torch.sin(2 * math.pi * 500 * t + ph[:, :1])
    s2 = 0.7 * torch.sin(2 * math.pi * 3000 * t + ph[:, 1:])
    return s1 + s2, s1, s2


def test_registry_lists_dc_blstm():
    import espnet2.tasks.enh as enh_task

    from sepplug.registry import register_all

    state = register_all()
    record = state.plugins[("separator_choices", "dc_blstm")]
    assert record.cls is DCBLSTMSeparator and record.distribution == "sepplug"
    assert enh_task.separator_choices.get_class("dc_blstm") is DCBLSTMSeparator
    assert enh_task.separator_choices.get_class("dpcl") is not DCBLSTMSeparator  # stock kept


def test_train_forward_backward_and_embedding_layout(model):
    model.train()
    assert isinstance(model.separator, DCBLSTMSeparator)
    torch.manual_seed(1)
    s1, s2 = torch.randn(2, 800), torch.randn(2, 800)
    lengths = torch.tensor([800, 600])
    loss, stats, weight = model(s1 + s2, lengths, speech_ref1=s1, speech_ref2=s2)
    assert loss.numel() == 1 and torch.isfinite(loss).all() and "dpcl" in stats
    model.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.separator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)

    spec, flens = model.encoder(s1 + s2, lengths)
    masked, _, others = model.separator(spec, flens)
    B, T, _ = spec.shape
    emb = others["tf_embedding"]
    assert emb.shape == (B, T * F, 4)
    assert masked[0] is spec and len(masked) == 2  # training: the mixture, no clustering
    # t-major (B, T*F, D), as ESPnet's DPCLSeparator: row t*F + f is bin (t, f)
    direct = model.separator.embed(spec.abs(), flens)
    torch.testing.assert_close(emb.view(B, T, F, 4), direct)
    assert torch.allclose(emb.view(B, T, F, 4).norm(dim=-1)[0], torch.ones(T, F))  # unit norm
    assert (emb.view(B, T, F, 4)[1, int(flens[1]):] == 0).all()  # padded frames zeroed


def test_few_steps_lower_the_loss(tmp_path):
    model = build(tmp_path).train()
    mix, s1, s2 = toy_batch()
    lengths = torch.full((mix.shape[0],), mix.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(12):
        loss, _, _ = model(mix, lengths, speech_ref1=s1, speech_ref2=s2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0], losses


def test_threshold_weighting_learns_to_separate_two_bands(tmp_path):
    """Trained on a toy batch, the clustering puts the two tones' bins apart on a new mixture.

    With ``weighting: threshold`` the loss and the k-means ignore the silent bins; without
    it both tones' bins end up in one cluster and silence in the other (not tested).
    """
    model = build(tmp_path, DC_YAML.replace(
        "emb_dim: 4}", "emb_dim: 4, weighting: threshold, threshold_db: 30}")).train()
    mix, s1, s2 = toy_batch()
    lengths = torch.full((mix.shape[0],), mix.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(20):
        loss, _, _ = model(mix, lengths, speech_ref1=s1, speech_ref2=s2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        spec, flens = model.encoder(toy_batch(seed=5)[0], lengths)
        mask = model.separator(spec, flens)[2]["mask_spk1"]
    low, high = 500 * N_FFT // 8000, 3000 * N_FFT // 8000  # bins of the two tones
    assert ((mask[:, :, low].mean(1) - mask[:, :, high].mean(1)).abs() > 0.9).all()


def test_eval_masks_and_silent_input(model):
    model.eval()
    mix, s1, s2 = toy_batch(samples=800)
    silent = torch.zeros(2, 800)
    lengths = torch.tensor([800, 500])
    with torch.no_grad():
        for x in (mix, silent):
            spec, flens = model.encoder(x, lengths)
            masked, _, others = model.separator(spec, flens)
            masks = torch.stack([others["mask_spk1"], others["mask_spk2"]])
            assert torch.isfinite(masks).all() and set(masks.unique().tolist()) <= {0.0, 1.0}
            T1 = int(flens[1])
            torch.testing.assert_close(masks.sum(0)[1, :T1], torch.ones(T1, F))
            assert (masks[:, 1, T1:] == 0).all()  # padding gets no source
            for m, out in zip(masks, masked, strict=True):
                torch.testing.assert_close(out, spec * m)
            waves = [model.decoder(o, lengths)[0] for o in masked]
            assert all(torch.isfinite(w).all() for w in waves)
        assert all((o == 0).all() for o in masked)  # silent in, silent out
        loss, stats, _ = model(silent, lengths, speech_ref1=silent, speech_ref2=silent)
        assert torch.isfinite(loss).all()  # ESPnet's validation path, eval mode


def test_kmeans_is_seeded(model):
    model.eval()
    mix, _, _ = toy_batch(samples=800, seed=3)
    lengths = torch.tensor([800, 800])
    with torch.no_grad():
        spec, flens = model.encoder(mix, lengths)
        first = model.separator(spec, flens)[2]["mask_spk1"]
        for _ in range(5):  # unseeded, the cluster order would flip about every 2nd call
            assert torch.equal(model.separator(spec, flens)[2]["mask_spk1"], first)
    blob = torch.randn(500, 4, generator=torch.Generator().manual_seed(0))
    sep = model.separator
    first = sep.cluster_points(blob)
    assert all(torch.equal(sep.cluster_points(blob), first) for _ in range(5))


def test_cluster_points_recovers_groups_and_soft_masks():
    sep = DCBLSTMSeparator(input_dim=F, num_spk=3, **{k: v for k, v in TINY.items()
                                                      if k != "num_spk"})
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4)[:3] * 5
    labels = torch.randint(0, 3, (300,), generator=g)
    pts = centres[labels] + 0.05 * torch.randn(300, 4, generator=g)
    masks = sep.cluster_points(pts)
    assert masks.shape == (3, 300)
    # each cluster found is one true group (up to permutation)
    found = masks.argmax(0)
    for k in range(3):
        assert found[labels == k].unique().numel() == 1
    assert found.unique().numel() == 3
    sep.soft_masks, sep.temperature = True, 4.0
    soft = sep.cluster_points(pts)
    torch.testing.assert_close(soft.sum(0), torch.ones(300))
    assert ((soft > 0) & (soft < 1)).all() and (soft.argmax(0) == found).all()
    # fewer points than clusters, all-identical points: defined, no NaN
    assert torch.equal(sep.cluster_points(pts[:2]).sum(0), torch.ones(2))
    same = sep.cluster_points(torch.ones(50, 4))
    assert torch.isfinite(same).all() and torch.equal(same.sum(0), torch.ones(50))


def test_soft_kmeans_keeps_empty_centre():
    x = torch.zeros(10, 2, dtype=torch.float64)
    centres = torch.tensor([[0.0, 0.0], [1e3, 1e3]], dtype=torch.float64)
    gamma = soft_kmeans(x, centres, temperature=1.0, iters=5)
    assert torch.isfinite(gamma).all() and torch.allclose(gamma[:, 0], torch.ones(10,
                                                                                  dtype=x.dtype))


def test_threshold_weighting_zeroes_quiet_bins(tmp_path):
    model = build(tmp_path, DC_YAML.replace(
        "emb_dim: 4}", "emb_dim: 4, weighting: threshold, threshold_db: 20}")).eval()
    mix, s1, s2 = toy_batch(samples=800)
    lengths = torch.tensor([800, 800])
    with torch.no_grad():
        spec, flens = model.encoder(mix, lengths)
        _, _, others = model.separator(spec, flens)
    mag = spec.abs()
    quiet = mag <= mag.amax(dim=(1, 2), keepdim=True) * 0.1
    emb = others["tf_embedding"].view(*spec.shape, 4)
    assert quiet.any() and (~quiet).any()
    assert (emb[quiet] == 0).all() and (emb[~quiet].norm(dim=-1) > 0.99).all()
    assert others["tf_embedding_unweighted"].view(*spec.shape, 4)[quiet].norm(dim=-1).min() > 0.99
    with pytest.raises(ValueError, match="weighting='db'"):
        DCBLSTMSeparator(input_dim=F, weighting="db")
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        model.separator(spec[..., None], flens)
