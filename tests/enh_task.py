"""sepplug's ESPnet enhancement task built from a YAML config, and a MixIT training step.

Shared by the loss tests that build whole models (``mixit_efficient``,
``output_regularizer``, ``wpit``).
"""

from __future__ import annotations

import argparse

import torch
import yaml


def conv_tcn_config(num_spk: int, channel: int, layer: int, hidden_dim: int) -> str:
    """YAML of a model small enough for CPU tests: ``conv`` encoder and decoder (kernel 8,
    stride 4, ``channel`` filters) around a one-stack ``tcn`` separator (bottleneck 8);
    append ``criterions`` (and ``model_conf``) to it."""
    return (
        "encoder: conv\n"
        f"encoder_conf: {{channel: {channel}, kernel_size: 8, stride: 4}}\n"
        "decoder: conv\n"
        f"decoder_conf: {{channel: {channel}, kernel_size: 8, stride: 4}}\n"
        "separator: tcn\n"
        f"separator_conf: {{num_spk: {num_spk}, layer: {layer}, stack: 1, bottleneck_dim: 8, "
        f"hidden_dim: {hidden_dim}}}\n"
    )


def task_args(config: str) -> tuple[type, argparse.Namespace]:
    """``(SepplugEnhancementTask, args)``: the task's default arguments with every key of
    the YAML text ``config`` set on them, ready for ``task.build_model(args)``."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    args = SepplugEnhancementTask.get_parser().parse_args([])
    for key, value in yaml.safe_load(config).items():
        setattr(args, key, value)
    return SepplugEnhancementTask, args


def build_model(config: str) -> torch.nn.Module:
    """The ``ESPnetEnhancementModel`` of the YAML text ``config``."""
    task, args = task_args(config)
    return task.build_model(args)


def mixit_training_step(model: torch.nn.Module, mixtures: torch.Tensor) -> dict:
    """One forward and backward pass in ESPnet's MixIT convention: ``mixtures`` ``(B, N, T)``
    are ``speech_ref1..N``, their sum ``speech_mix``. Checks that the loss and every
    gradient are finite and that the batch weight is ``B``; returns the stats."""
    batch, num_mix, length = mixtures.shape
    refs = {f"speech_ref{n + 1}": mixtures[:, n] for n in range(num_mix)}
    loss, stats, weight = model(mixtures.sum(1), torch.full((batch,), length), **refs)
    loss.backward()
    assert torch.isfinite(loss) and int(weight) == batch
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    return stats
