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


def test_recipe_options_split_own_shared_and_passed(tmp_path):
    """run.sh's option loop: own options set variables only, shared ones set and pass on,
    the rest pass on in order (dashes in names read as underscores)."""
    script = """
    stage=1 jobs=2 expdir=exp
    recipe_options "stage jobs" "expdir" --stage 5 --enh-args "--max_epoch 2" \\
        --jobs 3 --expdir /x --fs 16k
    echo "stage=$stage jobs=$jobs expdir=$expdir"
    printf '<%s>' "${passed[@]}"; echo
    """
    result = _bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "stage=5 jobs=3 expdir=/x",
        "<--enh-args><--max_epoch 2><--expdir></x><--fs><16k>"]


def test_recipe_options_refuse_a_missing_value_and_a_stray_word(tmp_path):
    missing = _bash('stage=1; recipe_options stage "" --stage 2 --fs', tmp_path)
    assert missing.returncode == 1 and "option --fs needs a value" in missing.stderr
    stray = _bash('stage=1; recipe_options stage "" oops 1', tmp_path)
    assert stray.returncode == 1 and "unexpected argument 'oops'" in stray.stderr


def test_recipe_options_help_prints_the_callers_header(tmp_path):
    """-h / --help prints the run.sh's header comment (not an error), exit 0; an error names
    the calling script, not recipe_lib.sh."""
    run_sh = tmp_path / "run.sh"
    run_sh.write_text(f"#!/usr/bin/env bash\n# My recipe: what it does.\n#   ./run.sh --x 1\n"
                      f"set -eu\n. {LIB}\nx=0\nrecipe_options x '' \"$@\"\necho x=$x\n")
    for flag in ("-h", "--help"):
        result = subprocess.run(["bash", str(run_sh), flag], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "My recipe: what it does.\n  ./run.sh --x 1\n"
    result = subprocess.run(["bash", str(run_sh), "--x"], capture_output=True, text=True)
    assert result.returncode == 1 and "(run.sh:7) ERROR: option --x needs a value" in result.stderr


def test_check_stages(tmp_path):
    assert _bash("check_stages 1 6 && check_stages 6 6 2", tmp_path).returncode == 0
    for args, message in (("6 5", "beyond --stop-stage 5"), ("x 5", "stage numbers"),
                          ("1 6 0", "--jobs '0'"), ("1 6 two", "--jobs 'two'")):
        result = _bash(f"check_stages {args}", tmp_path)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)


def test_side_by_side_logs_each_run_and_fails_with_any(tmp_path):
    script = """
    job() { echo "did $1"; [ "$1" != bad ]; }
    side_by_side 2 logs job a b c
    cat logs/run.a.log logs/run.c.log
    side_by_side --echo 2 logs job d e
    side_by_side 2 logs job f bad
    echo not reached
    """
    result = _bash(script, tmp_path)
    assert result.returncode == 1
    said = [line for line in result.stdout.splitlines() if ": started (log: logs/" not in line]
    assert said == ["did a", "did c", "[d] did d", "[e] did e"]
    assert "did bad" in result.stderr and "failed: see logs/run.*.log" in result.stderr


def test_side_by_side_one_job_runs_on_this_terminal(tmp_path):
    """One job (or one name, whatever JOBS says) runs in this shell, without a log file."""
    result = _bash("job() { echo \"did $1\"; }; side_by_side 1 logs job a b; "
                   "side_by_side 4 logs job c; [ ! -e logs ]", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "did a\ndid b\ndid c\n"


def test_run_models_runs_the_shared_stages_once_then_each_model(tmp_path):
    script = """
    step() { echo "[$1] $2-$3"; }
    run_models 1 logs 1 6 4 step m1 m2; echo --
    run_models 1 logs 5 6 4 step m1 m2; echo --
    run_models 1 logs 2 3 4 step m1 m2; echo --
    run_models 1 logs 7 6 4 step m1 m2; echo --
    run_models 2 logs 1 1 1 step m1 m2
    """
    result = _bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("--\n") == [
        "[] 1-4\n[m1] 5-6\n[m2] 5-6\n", "[m1] 5-6\n[m2] 5-6\n", "[] 2-3\n", "", "[] 1-1\n"]


def test_model_input_dir(tmp_path):
    result = _bash("model_input_dir data dump all 0 test; model_input_dir data dump ref 2 dev",
                   tmp_path)
    assert result.stdout == "data/test\ndump/raw/dev_ch2\n"
