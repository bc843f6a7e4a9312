"""The recipes' shell helpers (tools/utils/recipe_lib.sh): stage markers."""

from __future__ import annotations

import subprocess
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "tools" / "utils" / "recipe_lib.sh"


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f". '{LIB}'\n{script}"], cwd=cwd,
                          capture_output=True, text=True, check=False)


def test_done_marks(tmp_path):
    result = _bash("is_done out list && exit 3; done_mark out list; is_done out list", tmp_path)
    assert result.returncode == 0, result.stderr


def test_marker_for_a_file_follows_the_file(tmp_path):
    """A marker made from model.pth stops counting once model.pth changes (retrained)."""
    (tmp_path / "model.pth").write_bytes(b"first model")
    script = """
    is_done_for out fs_apply model.pth && exit 3
    done_mark_for out fs_apply model.pth
    is_done_for out fs_apply model.pth || exit 4
    printf 'second model' > model.pth
    is_done_for out fs_apply model.pth && exit 5
    done_mark_for out fs_apply model.pth
    is_done_for out fs_apply model.pth || exit 6
    done_mark out plain
    is_done_for out plain model.pth && exit 7   # a marker without a checksum does not count
    rm model.pth
    is_done_for out fs_apply model.pth && exit 8
    exit 0
    """
    result = _bash(script, tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr)


def test_marker_for_several_files_follows_each(tmp_path):
    """Stage 6's marker: made from a model and a data set; changing either redoes the work."""
    (tmp_path / "model.pth").write_bytes(b"model")
    (tmp_path / "wav.scp").write_text("utt1 a.wav\n")
    script = """
    done_mark_for out separate model.pth wav.scp
    is_done_for out separate model.pth wav.scp || exit 3
    is_done_for out separate wav.scp model.pth && exit 4      # the order is part of the key
    is_done_for out separate model.pth && exit 5              # so is the number of files
    printf 'utt1 b.wav\\n' > wav.scp
    is_done_for out separate model.pth wav.scp && exit 6
    done_mark_for out separate model.pth wav.scp
    is_done_for out separate model.pth wav.scp missing.scp && exit 7
    done_mark_for out broken model.pth missing.scp && exit 8  # a missing file: no marker
    [ -e out/.done.broken ] || [ -e out/.done.broken.tmp ] && exit 9
    exit 0
    """
    result = _bash(script, tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr)


def test_single_file_marker_is_a_plain_checksum(tmp_path):
    """Markers written before several files were allowed (one cksum line) still count."""
    (tmp_path / "model.pth").write_bytes(b"model")
    script = "mkdir out; cksum <model.pth >out/.done.fs_apply; is_done_for out fs_apply model.pth"
    assert _bash(script, tmp_path).returncode == 0
