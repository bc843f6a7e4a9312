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
