"""The training data path refuses bad audio; ESPnet imports print no nltk download errors and
skip the text modules the enh task does not use."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sepplug.errors import DataError
from sepplug.tasks.checked_data import CheckedPreprocess
from sepplug.utils.offline import G2P_EN_RESOURCES, prepare_offline_nltk


def _data(**override: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    data = {"speech_mix": rng.standard_normal((800, 6)).astype(np.float32),
            "speech_ref1": rng.standard_normal(800).astype(np.float32),
            "speech_ref2": rng.standard_normal(800).astype(np.float32)}
    data.update(override)
    return data


SOURCES = {"speech_mix": "data/train/wav.scp", "speech_ref1": "data/train/spk1.scp",
           "speech_ref2": "data/train/spk2.scp"}


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("speech_mix", np.full((800, 6), np.nan, np.float32), "NaN or Inf"),
    ("speech_ref2", np.r_[np.ones(799), np.inf].astype(np.float32), "NaN or Inf"),
    ("speech_ref1", np.zeros(800, np.float32), "all zeros"),
])
def test_bad_utterance_is_refused_naming_utterance_name_file(name, value, problem):
    calls = []
    checked = CheckedPreprocess(lambda uid, data: calls.append(uid) or data, SOURCES)
    with pytest.raises(DataError, match=f"utterance u7: {name} \\(from {SOURCES[name]}\\) .*"
                                        f"{problem}"):
        checked("u7", _data(**{name: value}))
    assert calls == []  # the check runs before the task's preprocessor


def test_good_utterance_goes_through_the_inner_preprocessor():
    def inner(uid, data):
        return {**data, "seen": np.array([1])}

    out = CheckedPreprocess(inner, SOURCES)("u1", _data())
    assert "seen" in out
    # A silent mixture is not an error (only references must carry signal); no inner.
    silent_mix = _data(speech_mix=np.zeros((800, 6), np.float32))
    assert CheckedPreprocess(None, {})("u2", silent_mix) is silent_mix


def test_declared_padding_may_be_silent(tmp_path):
    """utt2num_sources beside the ref lists declares speech_ref<k>, k > K, as padding."""
    for name, counts in (("train_sup", "a 1\nb 2\n"), ("dev_sup", "c 1\n"), ("mom", "d 1 1\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "utt2num_sources").write_text(counts)
    ref_lists = [str(tmp_path / d / f"spk{k}.scp") for d in ("train_sup", "dev_sup", "mom")
                 for k in (1, 2)]
    checked = CheckedPreprocess(None, SOURCES, ref_lists=ref_lists)
    silent2 = _data(speech_ref2=np.zeros(800, np.float32))
    for uid in ("a", "c"):  # one source declared: ref2 is padding (train and valid dirs)
        assert checked(uid, silent2) is silent2
    for uid in ("b", "d", "unknown"):  # two sources, a MoM's counts, or no count: refused
        with pytest.raises(DataError, match=f"utterance {uid}: speech_ref2 .*all zeros"):
            checked(uid, silent2)
    with pytest.raises(DataError, match="utterance a: speech_ref1 .*all zeros"):
        checked("a", _data(speech_ref1=np.zeros(800, np.float32)))


def test_task_wraps_every_preprocessor(tmp_path):
    from sepplug.tasks.enh import SepplugEnhancementTask

    args = argparse.Namespace(
        preprocessor=None, preprocessor_conf={},
        train_data_path_and_name_and_type=[("d/wav.scp", "speech_mix", "sound")])
    fn = SepplugEnhancementTask.build_preprocess_fn(args, train=True)
    assert isinstance(fn, CheckedPreprocess) and fn.inner is None
    with pytest.raises(DataError, match="from d/wav.scp"):
        fn("x", {"speech_mix": np.array([np.nan], np.float32)})


def test_offline_nltk_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("NLTK_DATA", "/elsewhere")
    root = prepare_offline_nltk()
    assert all((root / r).is_file() for r in G2P_EN_RESOURCES)
    assert os.environ["NLTK_DATA"].split(os.pathsep) == ["/elsewhere", str(root)]
    prepare_offline_nltk()  # idempotent
    assert os.environ["NLTK_DATA"].split(os.pathsep) == ["/elsewhere", str(root)]


def test_launcher_prints_no_nltk_download_errors(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("NLTK_DATA", None)
    proc = subprocess.run([sys.executable, "-m", "sepplug.launch", "-m",
                           "espnet2.bin.enh_train", "--help"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mc_dprnn" in proc.stdout
    assert "nltk_data" not in proc.stdout + proc.stderr


def _run_python(code: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_deferred_module_imports_on_first_name(tmp_path):
    """A deferred top-level module and package submodule run only when a name is read."""
    (tmp_path / "fakemod.py").write_text("open('log', 'a').write('fakemod ')\nX = 1\n")
    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "__init__.py").write_text("from . import slow\n")
    (tmp_path / "fakepkg" / "slow.py").write_text("open('log', 'a').write('slow ')\nVALUE = 42\n")
    (tmp_path / "log").write_text("")
    code = """
import sys
sys.path.insert(0, ".")
from sepplug.utils.offline import defer_unused_imports
deferred = defer_unused_imports(("fakemod", "fakepkg.slow", "not_installed"))
assert deferred == ["fakemod", "fakepkg.slow"], deferred
import fakemod, fakepkg.slow
from fakepkg import slow
assert open("log").read() == "", open("log").read()
assert slow.VALUE == 42 and fakepkg.slow.VALUE == 42
assert open("log").read() == "slow ", open("log").read()
assert fakemod.X == 1 and type(sys.modules["fakemod"]).__name__ == "module"
assert open("log").read() == "slow fakemod "
assert defer_unused_imports(("fakemod",)) == []   # imported already: left alone
"""
    proc = _run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_espnet_enh_import_skips_unused_text_modules():
    """After prepare_espnet_import, ESPnet's enh task starts without g2p_en, nltk and
    inflect, and a text cleaner that needs them still works when asked for."""
    code = """
import json, sys
from sepplug.utils.offline import prepare_espnet_import
prepare_espnet_import()
import espnet2.tasks.enh
loaded = [m for m in ("g2p_en.g2p", "nltk", "inflect") if m in sys.modules]
from espnet2.text.cleaner import TextCleaner
print(json.dumps([loaded, TextCleaner("tacotron")("Dr. Smith, 12 cats")]))
"""
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded, cleaned = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert cleaned == "DOCTOR SMITH, TWELVE CATS"
