"""sepplug.bin.pick_checkpoint: the checkpoint stage 6 uses (``--inference_model auto``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sepplug.bin.pick_checkpoint import CheckpointError, main, pick

PUBLISHED = (
    "best_model_criterion:\n-   - valid\n    - si_snr\n    - max\n"
    "-   - valid\n    - loss\n    - min\n"
)
# What ESPnet 202511 logs after a validation epoch of a config with an si_snr criterion.
TRAIN_LOG = (
    "1epoch results: [train] iter_time=0.1, loss=1.0, si_snr_loss=-1.0, time=1 second, "
    "total_count=2, [valid] loss=0.5, si_snr_loss=-2.0, mse_loss=0.1, time=0.2 seconds, "
    "total_count=2\n"
)


def make_exp(tmp_path: Path, config: str | None, files=(), log: str | None = TRAIN_LOG) -> Path:
    exp = tmp_path / "enh_x"
    exp.mkdir()
    if config is not None:
        (exp / "config.yaml").write_text(config)
    for name in files:
        (exp / name).write_bytes(b"")
    if log is not None:
        (exp / "train.log").write_text(log)
    return exp


def test_first_criterion_when_written(tmp_path):
    exp = make_exp(tmp_path, PUBLISHED, ["valid.si_snr.best.pth", "valid.loss.best.pth"])
    path, why = pick(exp)
    assert path == exp / "valid.si_snr.best.pth"
    assert why == "the first best_model_criterion"


def test_unreported_first_criterion_falls_back(tmp_path, capsys):
    exp = make_exp(tmp_path, PUBLISHED, ["valid.loss.best.pth"])
    assert main(["--exp_dir", str(exp)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(exp / "valid.loss.best.pth")
    assert (
        "inference model: valid.loss.best.pth (valid.si_snr.best.pth was never written: "
        "ESPnet reported no valid/si_snr)" in err
    )


def test_without_train_log_the_reason_is_plain(tmp_path):
    exp = make_exp(tmp_path, PUBLISHED, ["valid.loss.best.pth"], log=None)
    path, why = pick(exp)
    assert path.name == "valid.loss.best.pth"
    assert why == "valid.si_snr.best.pth was never written"


def test_later_criterion_before_the_fallback(tmp_path):
    criteria = ["[valid, si_snr, max]", "[train, loss, min]", "[valid, loss, min]"]
    config = "best_model_criterion:\n" + "".join(f"- {c}\n" for c in criteria)
    exp = make_exp(tmp_path, config, ["train.loss.best.pth", "valid.loss.best.pth"])
    path, why = pick(exp)
    assert path.name == "train.loss.best.pth"
    assert "valid.si_snr.best.pth was never written" in why


def test_no_criterion_uses_espnet_default(tmp_path):
    exp = make_exp(tmp_path, "max_epoch: 1\n", ["valid.loss.best.pth"])
    path, why = pick(exp)
    assert path.name == "valid.loss.best.pth"
    assert "no best_model_criterion" in why


def test_named_checkpoint(tmp_path):
    exp = make_exp(tmp_path, PUBLISHED, ["3epoch.pth", "valid.loss.best.pth"])
    assert pick(exp, "3epoch.pth") == (exp / "3epoch.pth", "as asked")
    with pytest.raises(CheckpointError, match=r"checkpoint .*4epoch\.pth missing"):
        pick(exp, "4epoch.pth")


def test_none_written(tmp_path, capsys):
    exp = make_exp(tmp_path, PUBLISHED, ["1epoch.pth"])
    assert main(["--exp_dir", str(exp)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"checkpoint of {exp} missing" in err
    assert "valid.si_snr.best.pth, valid.loss.best.pth" in err


@pytest.mark.parametrize("config", [None, "best_model_criterion: [valid\n", "- 1\n- 2\n"])
def test_missing_or_unreadable_config(tmp_path, capsys, config):
    exp = make_exp(tmp_path, config, ["valid.loss.best.pth"])
    assert main(["--exp_dir", str(exp)]) == 1
    err = capsys.readouterr().err
    assert f"checkpoint of {exp} missing: cannot read {exp / 'config.yaml'}" in err


def test_command_line(tmp_path):
    exp = make_exp(tmp_path, PUBLISHED, ["valid.loss.best.pth"])
    done = subprocess.run(
        [sys.executable, "-m", "sepplug.bin.pick_checkpoint", "--exp_dir", str(exp)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == f"{exp / 'valid.loss.best.pth'}\n"
    assert "nltk_data" not in done.stderr and "Warning" not in done.stderr


def test_enh_sh_model_file(tmp_path):
    """enh.sh's model_file() calls the picker, and keeps its "checkpoint ... missing" error."""
    enh_sh = Path(__file__).resolve().parents[1] / "egs/TEMPLATE/enh1/enh.sh"
    text = enh_sh.read_text()
    body = text[text.index("model_file() {") :]
    body = body[: body.index("\n}\n") + 3]
    assert "sepplug.bin.pick_checkpoint" in body
    exp = make_exp(tmp_path, PUBLISHED, ["valid.loss.best.pth"])
    script = (
        f'die() {{ echo "ERROR: $*" >&2; exit 1; }}\n{body}'
        f"python={sys.executable}\nenh_exp={exp}\ninference_model=$1\nmodel_file\n"
    )
    run = subprocess.run(["bash", "-c", script, "x", "auto"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(exp / "valid.loss.best.pth")
    assert "inference model: valid.loss.best.pth" in run.stderr
    run = subprocess.run(["bash", "-c", script, "x", "9epoch.pth"], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"checkpoint {exp / '9epoch.pth'} missing" in run.stderr
    assert "ERROR: stage 6: no checkpoint to separate with" in run.stderr


@pytest.mark.parametrize("criteria", [["valid", "loss", "min"], {"valid": "loss"}, [["valid"]]])
def test_a_malformed_best_model_criterion_is_an_error(tmp_path, criteria):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text(yaml.safe_dump({"best_model_criterion": criteria}))
    (exp / "valid.loss.best.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="best_model_criterion must be a list of"):
        pick(exp)


def test_sepplug_select_auto_uses_the_same_rule(tmp_path):
    from sepplug.bin.select import SelectError, checkpoint_of

    exp = make_exp(tmp_path, PUBLISHED, ["valid.loss.best.pth"])
    assert checkpoint_of(exp, {}, "auto") == exp / "valid.loss.best.pth"
    (exp / "valid.loss.best.pth").unlink()
    with pytest.raises(SelectError, match=r"checkpoint of .* missing.*--model_file"):
        checkpoint_of(exp, {}, "auto")
