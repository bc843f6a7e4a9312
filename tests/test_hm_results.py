"""make_hm_results: SI-SNRi per family on test and the predicted-hard subset, paired to dm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sepplug.recipes.hard_mining import make_results as make_hm_results
from sepplug.results.summary import ResultRow, read_summary, write_summary

UTTS = ["m1", "m2", "m3", "m4"]
SCORES = {"dm": [4.0, 6.0, 1.0, 9.0], "dm_hm": [5.0, 6.5, 3.0, 8.5]}


def write_scores(exp, runs):
    """``runs``: tag -> (family, per-mixture SI-SDRi in UTTS order); dm_hm's file lists
    the mixtures in reverse (any mixture order must do)."""
    for tag, (family, values) in runs.items():
        scoring = exp / f"enh_{tag}" / "enhanced_test" / "scoring"
        scoring.mkdir(parents=True)
        order = list(zip(UTTS, values, strict=True))
        if tag == "dm_hm":
            order.reverse()
        (scoring / "per_utt.tsv").write_text(
            "utt\tsi_sdri\tsdri\n" + "".join(f"{u}\t{v}\t{v}\n" for u, v in order))
        (exp / f"enh_{tag}" / "family").write_text(f"{family}\n")


def write_exp(exp, hard=("m3",)):
    write_scores(exp, {tag: (tag, values) for tag, values in SCORES.items()})
    (exp / "hardness").mkdir()
    (exp / "hardness" / "test_hard.list").write_text("".join(f"{u}\n" for u in hard))
    write_summary(exp / "hardness" / "analysis.tsv",
                  [ResultRow("dm", "analysis", "test", "pearson_r_f0", 4, 0.42, math.nan)])


def make_results(exp):
    """Run make_hm_results on ``exp``: (RESULTS.md path, {(model, subset, metric): row})."""
    out = exp / "RESULTS.md"
    assert make_hm_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    summary = read_summary(exp / "results" / "summary.tsv")
    return out, {(r.model, r.subset, r.metric): r for r in summary}


def test_rows_and_paired_differences(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp, hard=("m3", "m1"))
    out, rows = make_results(exp)
    assert rows["dm", "test", "si_snri"].mean == pytest.approx(5.0)
    assert rows["dm", "test_hard25", "si_snri"].mean == pytest.approx(2.5)
    assert rows["dm", "test_hard25", "si_snri"].n == 2
    diff = rows["dm_hm", "test", "si_snri_diff_dm"]
    assert diff.mean == pytest.approx(np.mean([1.0, 0.5, 2.0, -0.5]))
    assert rows["dm_hm", "test_hard25", "si_snri_diff_dm"].mean == pytest.approx(1.5)
    assert ("dm", "test", "si_snri_diff_dm") not in rows
    assert rows["dm", "test", "pearson_r_f0"].family == "analysis"
    text = out.read_text()
    assert "|dm_hm|dm_hm|-|5.75 ± " in text and "|1.50 ± 0.50|" in text
    assert "|dm|test_hard25|dm|si_snri|2|2.50|" in text  # the data table, as the test reads


def test_before_the_hard_subset_exists_the_columns_stay_in_place(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp)
    (exp / "hardness" / "test_hard.list").unlink()
    (exp / "enh_dm_hm" / "12epoch.pth").write_text("")
    (exp / "enh_dm_hm" / "valid.si_snr_loss.best.pth").symlink_to("12epoch.pth")
    out = exp / "RESULTS.md"
    assert make_hm_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    # model, family, checkpoint, test, test_hard25, test - dm, test_hard25 - dm
    assert "|dm_hm|dm_hm|12epoch.pth|5.75 ± 1.16|-|0.75 ± 0.52|-|" in out.read_text()
    subsets = {r.subset for r in read_summary(exp / "results" / "summary.tsv")}
    assert "test_hard25" not in subsets


def test_no_scores_is_an_error(tmp_path, capsys):
    assert make_hm_results.main(["--expdir", str(tmp_path), "--out",
                                 str(tmp_path / "R.md")]) == 1
    assert "no enh_*/enhanced_test" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()


def test_seed_means_pair_to_dm_seed_mean_and_show_the_seed_spread(tmp_path):
    exp = tmp_path / "exp"
    runs = {"dm": ("dm", [4.0, 6.0, 1.0, 9.0]), "dm_seed1": ("dm", [6.0, 6.0, 3.0, 9.0]),
            "dm_hm": ("dm_hm", [5.0, 6.5, 3.0, 8.5]),
            "dm_hm_seed1": ("dm_hm", [7.0, 6.5, 5.0, 8.5]),
            "dm_hm_share02": ("dm_hm", [0.0, 0.0, 0.0, 0.0])}  # a variant, not a seed
    write_scores(exp, runs)
    out, rows = make_results(exp)
    assert rows["dm_2seeds", "test", "si_snri"].mean == pytest.approx(5.5)
    assert rows["dm_hm_2seeds", "test", "si_snri"].mean == pytest.approx(6.25)
    assert rows["dm_hm_2seeds", "test", "si_snri_diff_dm"].mean == pytest.approx(0.75)
    assert rows["dm_hm_seed1", "test", "si_snri_diff_seed0"].mean == pytest.approx(1.0)
    assert rows["dm_seed1", "test", "si_snri_diff_seed0"].n == 4
    assert not any(m.startswith("dm_hm_3seeds") for m, _, _ in rows)  # share02 not a seed
    assert make_hm_results.seed_of("dm_hm_share02", "dm_hm") is None
    assert make_hm_results.seed_of("dm_seed12", "dm") == 12
    assert "|dm_hm|0 1|6.25 ± " in out.read_text()
    # a seed-k run is paired to dm's seed k; a variant that is no seed to dm's seed 0
    assert rows["dm_hm_seed1", "test", "si_snri_diff_dm"].mean == pytest.approx(0.75)
    assert rows["dm_hm_share02", "test", "si_snri_diff_dm"].mean == pytest.approx(-5.0)
    assert ("dm_seed1", "test", "si_snri_diff_dm") not in rows
