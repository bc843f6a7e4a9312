"""The entry-point registry against real, pip-installed throwaway distributions.

Every check runs in a fresh interpreter: registration mutates ESPnet's
module-level choice tables, and each case needs its own set of installed plugins.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin_dists import install_dist, plugin_env, run_python

BAD_YAML = """\
encoder: same
decoder: same
separator: no_such_separator
separator_conf: {}
criterions:
  - name: si_snr
    conf: {eps: 1.0e-7}
    wrapper: pit
    wrapper_conf: {weight: 1.0}
"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("plugins")
    names = ["toy-sep-plugin", "toy-pre-plugin", "broken-plugin", "colliding-plugin"]
    return {name: install_dist(name, work) for name in names}


def run_module(site: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m *args`` in a fresh interpreter that sees the plugin ``site``; it must
    succeed."""
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True, text=True, timeout=600, env=plugin_env([site]),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_all_in(output: str, *needles: str) -> None:
    """Every one of ``needles`` occurs in ``output`` (a process's stdout or stderr)."""
    missing = [needle for needle in needles if needle not in output]
    assert not missing, f"{missing} missing from:\n{output[-3000:]}"


def test_third_party_plugin_builds_through_stock_espnet_task(sites):
    """ESPnet's own EnhancementTask.build_model builds a model naming the plugin."""
    proc = run_python(
        """
        import yaml, torch
        from sepplug.registry import register_all
        register_all()
        from espnet2.tasks.enh import EnhancementTask
        cfg = yaml.safe_load('''
        encoder: same
        decoder: same
        separator: TOY_SEP
        separator_conf: {num_spk: 2, scale: 0.5}
        criterions:
          - name: si_snr
            conf: {eps: 1.0e-7}
            wrapper: pit
            wrapper_conf: {weight: 1.0}
        ''')
        parser = EnhancementTask.get_parser()
        args = parser.parse_args([])
        for k, v in cfg.items():
            setattr(args, k, v)
        args.separator = args.separator.lower()
        model = EnhancementTask.build_model(args)
        print(type(model.separator).__module__)
        mix = torch.randn(2, 800)
        loss, stats, weight = model(mix, torch.tensor([800, 800]),
                                    speech_ref1=mix * 0.3, speech_ref2=mix * 0.7)
        loss.backward()
        print("loss", float(loss))
        """,
        [sites["toy-sep-plugin"]],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_all_in(proc.stdout, "toy_sep_plugin", "loss")


def test_registration_is_idempotent_and_reaches_enh_s2t(sites):
    proc = run_python(
        """
        import espnet2.tasks.enh_s2t as s2t
        import espnet2.tasks.enh as enh
        from sepplug.registry import register_all
        register_all()
        sizes = {t: len(getattr(enh, t).classes) for t in ("separator_choices",
                 "loss_wrapper_choices", "criterion_choices")}
        register_all()
        again = {t: len(getattr(enh, t).classes) for t in sizes}
        assert sizes == again, (sizes, again)
        assert "toy_sep" in enh.separator_choices.classes
        assert "toy_sep" in s2t.enh_separator_choices.classes
        print("ok")
        """,
        [sites["toy-sep-plugin"]],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok" in proc.stdout


def test_broken_plugin_is_reported_and_others_still_load(sites):
    proc = run_python(
        """
        import warnings
        warnings.simplefilter("always")
        from sepplug.registry import register_all
        with warnings.catch_warnings(record=True) as caught:
            state = register_all()
        msgs = [str(w.message) for w in caught if "failed to load" in str(w.message)]
        print("\\n".join(msgs))
        import espnet2.tasks.enh as enh
        assert "toy_sep" in enh.separator_choices.classes
        assert "dprnn" in enh.separator_choices.classes
        assert "broken_sep" not in enh.separator_choices.classes
        print("others ok")
        """,
        [sites["toy-sep-plugin"], sites["broken-plugin"]],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_all_in(proc.stdout, "broken_sep = broken_plugin:Nothing", "broken on purpose",
                  "others ok")


def test_name_collision_with_stock_component_is_refused(sites):
    proc = run_python("import sepplug.tasks.enh", [sites["colliding-plugin"]])
    assert proc.returncode != 0
    assert_all_in(proc.stderr, "PluginCollisionError", "colliding_plugin:ToySeparator",
                  "espnet2.enh.separator.dprnn_separator.DPRNNSeparator")


def test_collision_gives_clean_cli_error(sites):
    proc = run_python(
        "import sys; from sepplug.cli import main; sys.exit(main(['list']))",
        [sites["colliding-plugin"]],
    )
    assert proc.returncode == 2
    assert "collides with the stock ESPnet component 'dprnn'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plugin_preprocessor_is_built_by_the_sepplug_task(sites):
    proc = run_python(
        """
        import argparse
        import numpy as np
        from sepplug.tasks.enh import SepplugEnhancementTask
        args = argparse.Namespace(preprocessor="toy_scale", preprocessor_conf={"factor": 3.0})
        fn = SepplugEnhancementTask.build_preprocess_fn(args, train=True)
        out = fn("u1", {"speech_mix": np.ones(4, dtype=np.float32)})
        print(type(fn).__name__, type(fn.inner).__name__, out["speech_mix"].tolist())
        """,
        [sites["toy-pre-plugin"]],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CheckedPreprocess ScalePreprocessor [3.0, 3.0, 3.0, 3.0]" in proc.stdout


def test_unknown_component_fails_with_espnet_error_listing_plugins(sites, tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_YAML)
    (tmp_path / "wav.scp").write_text("u1 /nonexistent.wav\n")
    (tmp_path / "shape").write_text("u1 16000\n")
    proc = run_python(
        "import sys; from sepplug.bin.enh_train import main; main(sys.argv[1:])",
        [sites["toy-sep-plugin"]],
        argv=["--config", "bad.yaml", "--output_dir", "out",
              "--train_data_path_and_name_and_type", "wav.scp,speech_mix,sound",
              "--train_shape_file", "shape",
              "--valid_data_path_and_name_and_type", "wav.scp,speech_mix,sound",
              "--valid_shape_file", "shape"],
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert not (tmp_path / "out").exists()
    assert_all_in(proc.stderr, "--separator must be one of", "'toy_sep'", "'dprnn'",
                  "no_such_separator")


def test_launcher_help_lists_plugin_choices(sites):
    proc = run_module(sites["toy-sep-plugin"], "sepplug.bin.enh_train", "--help")
    assert_all_in(proc.stdout, "toy_sep", "mc_dprnn")


def test_sepplug_list_marks_providers(sites):
    proc = run_module(sites["toy-sep-plugin"], "sepplug.cli", "list")
    lines = proc.stdout.splitlines()
    toy = [ln for ln in lines if ln.strip().startswith("toy_sep ")]
    assert toy and "[plugin: toy-sep-plugin]" in toy[0]
    stock = [ln for ln in lines if ln.strip().startswith("dprnn ")]
    assert stock and "[espnet]" in stock[0]
    ours = [ln for ln in lines if ln.strip().startswith("mc_dprnn ")]
    assert ours and "[plugin: sepplug]" in ours[0]


def test_generic_launcher_runs_espnet_tools_with_plugins(sites):
    proc = run_module(sites["toy-sep-plugin"], "sepplug.launch", "-m", "espnet2.bin.enh_train",
                      "--help")
    assert_all_in(proc.stdout, "toy_sep", "mc_dprnn")
    usage = subprocess.run([sys.executable, "-m", "sepplug.launch", "espnet2.bin.enh_train"],
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode != 0 and "usage: python -m sepplug.launch -m" in usage.stderr
