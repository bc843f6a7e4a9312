"""The CLIs print no nltk download lines and no third-party FutureWarnings; ``sepplug list``
reads the tables without importing ESPnet, and says what importing everything says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings

import pytest

from sepplug.utils.offline import quiet_third_party_future_warnings

NOISE = re.compile(r"nltk_data|FutureWarning")


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    noise = [ln for ln in (proc.stdout + proc.stderr).splitlines() if NOISE.search(ln)]
    assert not noise, "\n".join(noise)
    return proc


def table_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("  ") or "(entry-point group" in ln]


def sepplug_command() -> list[str]:
    exe = shutil.which("sepplug")  # the console script setup.py installs
    return [exe] if exe else [sys.executable, "-m", "sepplug.cli"]


def test_sepplug_list_is_quiet_and_fast_path_matches_import():
    fast = run([*sepplug_command(), "list"])
    lines = table_lines(fast.stdout)
    row = {ln.split()[0]: ln for ln in lines if ln.startswith("  ")}
    mc_dprnn = "sepplug.enh.separator.mc_dprnn.MCDPRNNSeparator  [plugin: sepplug]"
    assert row["mc_dprnn"].endswith(mc_dprnn)
    assert row["dprnn"].endswith("espnet2.enh.separator.dprnn_separator.DPRNNSeparator  [espnet]")
    assert "separator  (entry-point group espnet2.enh.separator)" in lines
    # --load imports ESPnet and every plugin: the same tables, and no noise either.
    loaded = run([sys.executable, "-m", "sepplug.cli", "list", "--load"])
    assert table_lines(loaded.stdout) == lines
    assert "failed plugin" not in loaded.stdout


def test_sepplug_list_imports_neither_espnet_nor_torch():
    code = (
        "import sys; from sepplug.cli import main; rc = main(['list']);"
        "print('imported:', sorted({'espnet2.tasks.enh', 'torch'} & set(sys.modules)))"
    )
    proc = run([sys.executable, "-c", code])
    assert proc.stdout.splitlines()[-1] == "imported: []"


def test_launcher_is_quiet():
    proc = run([sys.executable, "-m", "sepplug.bin.enh_train", "--help"])
    assert "mc_dprnn" in proc.stdout


@pytest.mark.parametrize(
    ("module", "shown"),
    [("espnet2.enh.encoder.stft_encoder", False), ("torch.nn", False), ("espnet", False),
     ("sepplug.enh.x", True), ("__main__", True), ("torchvision_like", True)],
)
def test_future_warnings_are_hidden_by_module(module, shown):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party_future_warnings()
        warnings.warn_explicit("deprecated", FutureWarning, "x.py", 1, module=module)
        warnings.warn_explicit("other", DeprecationWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == (["deprecated", "other"] if shown else ["other"])
