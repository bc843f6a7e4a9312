"""``python -m sepplug.recipes.spatialvctk.plot_figure2``: FEABASE's Figure 2 from a
category_curves TSV (hand-written here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sepplug.recipes.spatialvctk import plot_figure2

HEADER = "exp\tepoch\tcategory\tn\tmean\tstderr\n"


def write_curves(path: Path) -> Path:
    """A: 3 epochs; B: 2 epochs; C: 1 epoch (n = 1: no standard error); easy/hard/all."""
    lines = [HEADER]
    for exp, epochs in (("enh_a", 3), ("enh_b", 2), ("enh_c", 1)):
        for epoch in range(1, epochs + 1):
            for k, category in enumerate(("easy", "hard", "all")):
                stderr = "nan" if exp == "enh_c" else f"{0.1 * epoch:.4f}"
                lines.append(f"{exp}\t{epoch}\t{category}\t30\t{epoch + k:.4f}\t{stderr}\n")
    path.write_text("".join(lines))
    return path


def read_rows(path: Path) -> list[dict]:
    header, *lines = path.read_text().splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def test_figure_and_offsets(tmp_path):
    curves = write_curves(tmp_path / "dev_curves.tsv")
    out = tmp_path / "results" / "figure2.png"
    argv = ["--curves", str(curves), "--first", "enh_a", "--then", "enh_b", "--then", "enh_c",
            "--steps_per_epoch", "200", "--exp_steps_per_epoch", "enh_c=50",
            "--label", "enh_b=ERM on D", "--out", str(out)]
    assert plot_figure2.main(argv) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    rows = read_rows(out.with_suffix(".tsv"))
    assert list(rows[0]) == ["arm", "exp", "label", "category", "epoch", "step", "n", "mean",
                             "stderr"]
    steps = {(r["exp"], r["category"], int(r["epoch"])): int(r["step"]) for r in rows}
    assert len(steps) == len(rows) == 2 * (3 + 2 + 1)  # easy and hard only
    assert [steps["enh_a", "hard", e] for e in (1, 2, 3)] == [200, 400, 600]
    assert [steps["enh_b", "easy", e] for e in (1, 2)] == [800, 1000]  # after A's 3 x 200
    assert steps["enh_c", "hard", 1] == 650  # its own 50 steps per epoch
    labels = {r["exp"]: (r["arm"], r["label"]) for r in rows}
    assert labels == {"enh_a": ("first", "enh_a"), "enh_b": ("then", "ERM on D"),
                      "enh_c": ("then", "enh_c")}
    hard_b2 = next(r for r in rows if r["exp"] == "enh_b" and r["category"] == "hard"
                   and r["epoch"] == "2")
    assert float(hard_b2["mean"]) == 3.0 and float(hard_b2["stderr"]) == pytest.approx(0.2)

    # an earlier switch: B started from A's epoch 2
    assert plot_figure2.main([*argv, "--switch_epoch", "2", "--category", "all"]) == 0
    rows = read_rows(out.with_suffix(".tsv"))
    assert {r["category"] for r in rows} == {"all"}
    assert [int(r["step"]) for r in rows if r["exp"] == "enh_b"] == [600, 800]


def test_unknown_exp_is_a_clear_error(tmp_path, caplog):
    curves = write_curves(tmp_path / "dev_curves.tsv")
    out = tmp_path / "figure2.png"
    base = ["--curves", str(curves), "--first", "enh_a", "--steps_per_epoch", "200",
            "--out", str(out)]
    assert plot_figure2.main([*base, "--then", "enh_missing"]) == 1
    assert f"{curves}: no exp 'enh_missing' (it has: enh_a, enh_b, enh_c)" in caplog.text
    caplog.clear()
    assert plot_figure2.main([*base, "--then", "enh_b", "--category", "both"]) == 1
    assert "exp 'enh_a' has no 'both' rows" in caplog.text
    caplog.clear()
    (tmp_path / "bad.tsv").write_text("exp\tepoch\tmean\n")
    assert plot_figure2.main([*base, "--then", "enh_b", "--curves", str(tmp_path / "bad.tsv")]) == 1
    assert "no column(s) category, n, stderr" in caplog.text
    assert not list(tmp_path.glob("figure2*")) and not list(tmp_path.glob(".figure2*"))
