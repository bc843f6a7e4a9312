"""make_results of the hard-mining recipe: SI-SNRi per family on test and the predicted-
hard subset; phase 2 paired to dm_long, dm_long to dm, by seed; the seed spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sepplug.recipes.hard_mining import make_results as make_hm_results
from sepplug.results.summary import ResultRow, read_summary, write_summary

UTTS = ["m1", "m2", "m3", "m4"]


def write_scores(exp, runs):
    """``runs``: tag -> (family, per-mixture SI-SDRi in UTTS order); every other file lists
    the mixtures in reverse (any mixture order must do)."""
    for i, (tag, (family, values)) in enumerate(runs.items()):
        scoring = exp / f"enh_{tag}" / "enhanced_test" / "scoring"
        scoring.mkdir(parents=True)
        order = list(zip(UTTS, values, strict=True))
        if i % 2:
            order.reverse()
        (scoring / "per_utt.tsv").write_text(
            "utt\tsi_sdri\tsdri\n" + "".join(f"{u}\t{v}\t{v}\n" for u, v in order))
        (exp / f"enh_{tag}" / "family").write_text(f"{family}\n")


def write_exp(exp, runs, hard=("m3",), share="0.5"):
    write_scores(exp, runs)
    (exp / "hardness" / "hm_share").mkdir(parents=True)
    (exp / "hardness" / "test_hard.list").write_text("".join(f"{u}\n" for u in hard))
    if share is not None:
        (exp / "hardness" / "hm_share" / "chosen").write_text(f"{share}\n")
    write_summary(exp / "hardness" / "analysis.tsv",
                  [ResultRow("dm", "analysis", "test", "pearson_r_f0", 4, 0.42, math.nan)])


def make_results(exp):
    """Run make_results on ``exp``: (RESULTS.md path, {(model, subset, metric): row})."""
    out = exp / "RESULTS.md"
    assert make_hm_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    summary = read_summary(exp / "results" / "summary.tsv")
    return out, {(r.model, r.subset, r.metric): r for r in summary}


ONE_SEED = {"dm": ("dm", [4.0, 6.0, 1.0, 9.0]),
            "dm_long": ("dm_long", [5.0, 6.0, 1.0, 10.0]),
            "dm_hm_share0.5": ("dm_hm", [6.0, 6.5, 3.0, 9.5]),
            "dm_hm_share0.2": ("dm_hm", [0.0, 0.0, 0.0, 0.0])}  # not the chosen share


def test_phase_two_pairs_to_dm_long_and_dm_long_to_dm(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp, ONE_SEED, hard=("m3", "m1"))
    out, rows = make_results(exp)
    assert rows["dm", "test", "si_snri"].mean == pytest.approx(5.0)
    assert rows["dm", "test_hard25", "si_snri"].mean == pytest.approx(2.5)
    assert rows["dm", "test_hard25", "si_snri"].n == 2
    assert rows["dm_long", "test", "si_snri_diff_dm"].mean == pytest.approx(0.5)
    diff = rows["dm_hm_share0.5", "test", "si_snri_diff_dm_long"]
    assert diff.mean == pytest.approx(np.mean([1.0, 0.5, 2.0, -0.5]))
    assert rows["dm_hm_share0.5", "test_hard25", "si_snri_diff_dm_long"].mean == \
        pytest.approx(1.5)
    assert not any(m == "dm_hm_share0.2" for m, _, _ in rows)  # another share: left out
    assert not any(k[2].startswith("si_snri_diff") for k in rows if k[0] == "dm")
    assert rows["dm", "test", "pearson_r_f0"].family == "analysis"
    text = out.read_text()
    assert "|HM|dm_hm|0|6.25 ± " in text and "|+1.50 ± 0.50|" in text
    assert "|dm|test_hard25|dm|si_snri|2|2.50|" in text  # the data table, as the test reads


def test_seed_means_and_the_spread_over_seeds(tmp_path):
    exp = tmp_path / "exp"
    runs = {}
    for k, shift in enumerate((0.0, 1.0, 3.0)):
        suffix = f"_seed{k}" if k else ""
        runs[f"dm{suffix}"] = ("dm", [4.0 + shift, 6.0, 1.0, 9.0])
        runs[f"dm_long{suffix}"] = ("dm_long", [4.0 + shift, 6.0, 1.0, 9.0])
        # dm_hm gains 1, 2, 3 dB on m1 in seeds 0, 1, 2
        runs[f"dm_hm_share0.5{suffix}"] = ("dm_hm", [5.0 + shift + k, 6.0, 1.0, 9.0])
    write_exp(exp, runs, hard=("m1",))
    out, rows = make_results(exp)
    assert rows["dm_long_3seeds", "test", "si_snri"].mean == pytest.approx(
        np.mean([4 + 4 / 3, 6.0, 1.0, 9.0]), abs=1e-4)
    assert rows["dm_hm_3seeds", "test_hard25", "si_snri_diff_dm_long"].mean == \
        pytest.approx(2.0)
    over = rows["dm_hm_3seeds", "test_hard25", "si_snri_diff_dm_long_over_seeds"]
    assert (over.n, over.mean) == (3, pytest.approx(2.0))
    assert over.stderr == pytest.approx(np.std([1, 2, 3], ddof=1) / math.sqrt(3), abs=1e-4)
    assert rows["dm_hm_share0.5_seed2", "test_hard25", "si_snri_diff_seed0"].mean == \
        pytest.approx(5.0)
    assert rows["dm_hm_share0.5_seed1", "test", "si_snri_diff_dm_long"].mean == \
        pytest.approx(0.5)
    assert "|HM|dm_hm|0 1 2|" in out.read_text()
    assert "+1.00 / +2.00 / +3.00; +2.00 ± 0.58" in out.read_text()
    assert make_hm_results.seed_of("dm_hm_share0.35_seed12") == 12
    assert make_hm_results.seed_of("dm_hm_share0.35") == 0


def test_the_wvl_section_names_both_epochs_per_seed(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp, ONE_SEED)
    for name, epoch in (("valid.si_snr_loss.best.pth", 16),
                        ("valid.si_snr_loss_weighted_set.best.pth", 18)):
        (exp / "enh_dm_long" / f"{epoch}epoch.pth").write_text("")
        (exp / "enh_dm_long" / name).symlink_to(f"{epoch}epoch.pth")
    out, _ = make_results(exp)
    text = out.read_text()
    assert "another epoch than the plain dev loss in 1 of 1 dm_long runs" in text
    assert "plain dev loss -> `16epoch.pth`, rank-weighted -> `18epoch.pth`" in text


def test_two_runs_of_one_family_and_seed_are_an_error(tmp_path, capsys):
    exp = tmp_path / "exp"
    write_exp(exp, ONE_SEED, share=None)  # no choice: both shares count
    assert make_hm_results.main(["--expdir", str(exp), "--out", str(exp / "R.md")]) == 1
    assert "are both family dm_hm, seed 0" in capsys.readouterr().err
    assert not (exp / "R.md").exists()


def test_before_the_hard_subset_exists_the_columns_stay_in_place(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp, ONE_SEED)
    (exp / "hardness" / "test_hard.list").unlink()
    (exp / "enh_dm_hm_share0.5" / "18epoch.pth").write_text("")
    (exp / "enh_dm_hm_share0.5" / "valid.si_snr_loss.best.pth").symlink_to("18epoch.pth")
    out, rows = make_results(exp)
    # model, family, seed, checkpoint, test, paired to, test: difference
    assert "|dm_hm_share0.5|dm_hm|0|18epoch.pth|6.25 ± 1.33|dm_long|+0.75 ± 0.52|" in \
        out.read_text()
    assert not any(subset == "test_hard25" for _, subset, _ in rows)


def test_no_scores_is_an_error(tmp_path, capsys):
    assert make_hm_results.main(["--expdir", str(tmp_path), "--out",
                                 str(tmp_path / "R.md")]) == 1
    assert "no enh_*/enhanced_test" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()
