"""make_selection_results: ensembles, gap, confusion matrix and r from known scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sepplug.recipes.dc_select import make_results as make_selection_results
from sepplug.results.summary import read_summary

UTTS = ["u1", "u2", "u3", "u4"]
# SD-SDR of each model on each test set, per utterance (SI-SDR = SD-SDR + 1 here).
SCORES = {("a", "a_test"): [10.0, 8.0, 2.0, 6.0], ("b", "a_test"): [1.0, 9.0, 3.0, 0.0],
          ("a", "b_test"): [0.0, 1.0, 2.0, 3.0], ("b", "b_test"): [5.0, 6.0, 7.0, 1.0]}
CONFIDENCE = {"a_test": ([0.9, 0.2, 0.5, 0.8], [0.1, 0.7, 0.3, 0.2]),  # picks a, b, a, a
              "b_test": ([0.1, 0.2, 0.3, 0.9], [0.8, 0.7, 0.6, 0.1])}  # picks b, b, b, a


def write_exp(exp: Path) -> None:
    for (model, subset), values in SCORES.items():
        scoring = exp / f"enh_{model}" / f"enhanced_{subset}" / "scoring"
        scoring.mkdir(parents=True)
        lines = ["utt\tsd_sdr\tsi_sdr"] + [f"{u}\t{v}\t{v + 1}" for u, v in
                                            zip(UTTS, values, strict=True)]
        (scoring / "per_utt.tsv").write_text("\n".join(lines) + "\n")
        (exp / f"enh_{model}" / "family").write_text("single\n")
    for subset, (conf_a, conf_b) in CONFIDENCE.items():
        select = exp / "select" / "dc" / subset
        select.mkdir(parents=True)
        rows = ["utt_id\tenh_a\tenh_b\tchosen"]
        for u, ca, cb in zip(UTTS, conf_a, conf_b, strict=True):
            rows.append(f"{u}\t{ca}\t{cb}\tenh_{'a' if ca > cb else 'b'}")
        (select / "confidence.tsv").write_text("\n".join(rows) + "\n")


def test_tables_and_summary(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp)
    out = exp / "RESULTS.md"
    assert make_selection_results.main(["--expdir", str(exp), "--out", str(out),
                                        "--pair", "a=a_test", "--pair", "b=b_test"]) == 0
    rows = {(r.model, r.family, r.subset, r.metric): r
            for r in read_summary(exp / "results" / "summary.tsv")}
    get = lambda *k: rows[k].mean  # noqa: E731
    # a_test: oracle max(a, b) = 10, 9, 3, 6; random = mean; confidence picks a, b, a, a
    assert get("dc_oracle", "oracle", "a_test", "sdr") == pytest.approx(7.0)
    assert get("dc_random", "random", "a_test", "sdr") == pytest.approx(39 / 8, abs=1e-4)
    assert get("dc_confidence", "confidence", "a_test", "sdr") == pytest.approx(6.75)
    assert get("dc_confidence", "confidence", "a_test", "si_sdr") == pytest.approx(7.75)
    assert get("a", "single", "b_test", "sdr") == pytest.approx(1.5)
    gap = (6.75 - 39 / 8) / (7.0 - 39 / 8)
    assert get("dc_confidence", "analysis", "a_test", "gap_recovered") == pytest.approx(gap,
                                                                                        1e-3)
    # confidence picks the oracle model on u1, u2, u4 of a_test
    assert get("dc_confidence", "analysis", "a_test", "oracle_pick_rate") == 0.75
    r_a = np.corrcoef(CONFIDENCE["a_test"][0], SCORES["a", "a_test"])[0, 1]
    assert get("a", "analysis", "a_test", "pearson_r") == pytest.approx(r_a, abs=1e-4)
    assert rows["dc_oracle", "oracle", "b_test", "sdr"].n == 4
    assert not math.isnan(rows["dc_oracle", "oracle", "b_test", "sdr"].stderr)
    text = out.read_text()
    # oracle picks: a_test a, b, b, a; b_test b, b, b, a. Confidence: a, b, a, a; b, b, b, a.
    assert "|a|3|0|100.0 %|" in text and "|b|1|4|80.0 %|" in text
    assert "|precision|75.0 %|100.0 %||" in text
    assert "|confidence ensemble|6.75 ± " in text
    assert (exp / "confidence_vs_sdr.png").stat().st_size > 1000


def test_bad_input(tmp_path, capsys):
    exp = tmp_path / "exp"
    assert make_selection_results.main(["--expdir", str(exp), "--out",
                                        str(tmp_path / "R.md")]) == 1
    assert "no scoring/per_utt.tsv" in capsys.readouterr().err
    write_exp(exp)
    (exp / "select" / "dc" / "a_test" / "confidence.tsv").write_text("utt\tx\n")
    assert make_selection_results.main(["--expdir", str(exp), "--out",
                                        str(tmp_path / "R.md")]) == 1
    assert "not a confidence.tsv" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()


def test_learning_curves_from_espnet_logs(tmp_path):
    from sepplug.bin import plot_learning_curves

    exp = tmp_path / "enh_x"
    exp.mkdir()
    line = ("[vm] 2026 (trainer:394) INFO: {e}epoch results: [train] iter_time=0.01, "
            "loss={t}, time=4.1 seconds, total_count=3, [valid] loss={v}, time=1 seconds, "
            "total_count=2, [att_plot] time=0.1 seconds, total_count=0\n")
    (exp / "train.log.1").write_text(line.format(e=1, t=5.0, v=6.0))  # the killed run's part
    (exp / "train.log").write_text("The training was resumed\n" + line.format(e=2, t=4.0, v=5.5))
    assert plot_learning_curves.read_curves(exp)["valid/loss"] == {1: 6.0, 2: 5.5}
    continued = tmp_path / "enh_x_e3"  # local/continue_training.sh: the source's log kept aside
    continued.mkdir()
    (continued / "train.first_part.log").write_text(line.format(e=1, t=5.0, v=6.0))
    (continued / "train.log").write_text(line.format(e=2, t=4.0, v=5.5))
    assert plot_learning_curves.read_curves(continued)["valid/loss"] == {1: 6.0, 2: 5.5}
    out = tmp_path / "lc.png"
    assert plot_learning_curves.main(["--exp", str(exp), "--stat", "train/loss", "--out",
                                      str(out)]) == 0
    assert out.stat().st_size > 1000
    assert out.with_suffix(".tsv").read_text().splitlines()[1:] == [
        "enh_x\ttrain/loss\t1\t5", "enh_x\ttrain/loss\t2\t4"]
    assert plot_learning_curves.main(["--exp", str(exp), "--stat", "valid/nope", "--out",
                                      str(out)]) == 1


def test_two_groups_compared_on_the_same_mixtures(tmp_path):
    exp = tmp_path / "exp"
    write_exp(exp)
    # a second group over the same two models, listed in the other column order, with
    # other picks on a_test: b, b, a, b (SD-SDR 1, 9, 2, 0; the dc picks give 10, 9, 2, 6)
    select = exp / "select" / "mask" / "a_test"
    select.mkdir(parents=True)
    rows = ["utt_id\tenh_b\tenh_a\tchosen"] + [
        f"{u}\t{0.9 if c == 'b' else 0.1}\t{0.9 if c == 'a' else 0.1}\tenh_{c}"
        for u, c in zip(UTTS, "bbab", strict=True)]
    (select / "confidence.tsv").write_text("\n".join(rows) + "\n")
    out = exp / "RESULTS.md"
    assert make_selection_results.main(["--expdir", str(exp), "--out", str(out),
                                        "--pair", "a=a_test"]) == 0
    rows = {(r.model, r.family, r.subset, r.metric): r
            for r in read_summary(exp / "results" / "summary.tsv")}
    diff = rows["mask_confidence-dc_confidence", "analysis", "a_test", "sdr_diff"]
    assert diff.n == 4 and diff.mean == pytest.approx((-9 + 0 + 0 - 6) / 4)
    assert np.isclose(diff.stderr, np.std([-9, 0, 0, -6], ddof=1) / 2)
    assert ("mask_confidence-dc_confidence", "analysis", "b_test", "sdr_diff") not in rows
    assert rows["mask_oracle", "oracle", "a_test", "sdr"].mean == pytest.approx(7.0)
    assert rows["mask_confidence", "analysis", "a_test", "oracle_pick_rate"].mean == 0.25
    text = out.read_text()
    assert "## Selection groups compared on the same mixtures" in text
    assert "### Table 2, mask" in text and "### Table 2, dc" in text
    assert "|mask - dc|-3.75 ± " in text
