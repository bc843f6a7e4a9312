"""Throwaway third-party distributions used by the registry tests.

Each is a real package, built and installed with ``pip install --target`` so that
its entry points are discovered exactly as an installed plugin's would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SETUP = """\
from setuptools import setup
setup(name={name!r}, version="0.0.1", py_modules=[{module!r}],
      entry_points={{{group!r}: [{entry!r}]}})
"""

TOY_SEPARATOR = '''\
"""A toy separator: one linear mask per speaker over the raw waveform."""
from collections import OrderedDict

import torch
from espnet2.enh.separator.abs_separator import AbsSeparator


class ToySeparator(AbsSeparator):
    def __init__(self, input_dim: int, num_spk: int = 2, scale: float = 1.0):
        super().__init__()
        self._num_spk = num_spk
        self.gain = torch.nn.Parameter(torch.full((num_spk,), scale))

    def forward(self, input, ilens, additional=None):
        masks = [torch.sigmoid(g) * torch.ones_like(input) for g in self.gain]
        return [m * input for m in masks], ilens, OrderedDict()

    @property
    def num_spk(self):
        return self._num_spk
'''

TOY_PREPROCESSOR = '''\
"""A toy preprocessor that scales the mixture."""
import numpy as np
from espnet2.train.preprocessor import AbsPreprocessor


class ScalePreprocessor(AbsPreprocessor):
    def __init__(self, train: bool, factor: float = 2.0):
        super().__init__(train)
        self.factor = factor

    def __call__(self, uid, data):
        data = dict(data)
        data["speech_mix"] = np.asarray(data["speech_mix"]) * self.factor
        return data
'''

BROKEN = "raise ImportError('this plugin is broken on purpose')\n"

COLLIDING = TOY_SEPARATOR  # a fine class, but registered under a stock name

#: name -> (module name, module source, entry-point group, entry-point line)
DISTS = {
    "toy-sep-plugin": (
        "toy_sep_plugin",
        TOY_SEPARATOR,
        "espnet2.enh.separator",
        "toy_sep = toy_sep_plugin:ToySeparator",
    ),
    "toy-pre-plugin": (
        "toy_pre_plugin",
        TOY_PREPROCESSOR,
        "espnet2.enh.preprocessor",
        "toy_scale = toy_pre_plugin:ScalePreprocessor",
    ),
    "broken-plugin": (
        "broken_plugin",
        BROKEN,
        "espnet2.enh.separator",
        "broken_sep = broken_plugin:Nothing",
    ),
    "colliding-plugin": (
        "colliding_plugin",
        COLLIDING,
        "espnet2.enh.separator",
        "DPRNN = colliding_plugin:ToySeparator",
    ),
}


def install_dist(name: str, workdir: Path) -> Path:
    """Build and install distribution ``name`` into ``workdir/site``; return that dir."""
    module, source, group, entry = DISTS[name]
    src = workdir / "src" / name
    src.mkdir(parents=True)
    (src / f"{module}.py").write_text(source)
    (src / "setup.py").write_text(
        SETUP.format(name=name, module=module, group=group, entry=entry)
    )
    site = workdir / "site" / name
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True,
        capture_output=True,
    )
    return site


def plugin_env(sites: list[Path]) -> dict[str, str]:
    """The environment of an interpreter that sees the given plugin sites."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_python(
    code: str, sites: list[Path], argv: list[str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``code`` (``-c``) with ``argv`` in a fresh interpreter seeing the plugin sites."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *(argv or [])],
        env=plugin_env(sites),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
