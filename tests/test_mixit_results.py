"""sepplug.recipes.mixit.make_results: fractional sparsity weights, the plain projection
(refine_sweeps 0) against the local search, and an earlier run's models carried over."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import yaml

from sepplug.recipes.mixit import make_results
from sepplug.results.summary import ResultRow, read_summary, write_summary

# per test mixture: (number of sources, SI-SNRi per source, active flags)
SINGLE = [f"s{i}" for i in range(4)]
MULTI = [f"m{i}" for i in range(5)]


def write_model(exp, name, *, family, weight=None, refine=16, msi_shift=0.0, over=(),
                train_times=(0.5, 0.6), num_out=8, separator="rnn_softmax"):
    """A scored model: config.yaml, family, train.log, summary.json and per_example.tsv
    (SI-SNRi of multi-source mixture k's sources: k + shift, k + 1 + shift; single-source
    mixtures in ``over`` over-separated)."""
    model = exp / f"enh_{name}"
    scoring = model / "enhanced_test" / "scoring"
    scoring.mkdir(parents=True)
    criterions = [{"name": "si_snr", "wrapper": "mixit_efficient",
                   "wrapper_conf": {"weight": 1.0} | ({} if refine is None
                                                      else {"refine_sweeps": refine})}]
    if weight is not None:
        criterions.append({"name": "mixit_sparsity", "wrapper": "output_regularizer",
                           "wrapper_conf": {"weight": weight}})
    (model / "config.yaml").write_text(yaml.safe_dump(
        {"separator": separator, "separator_conf": {"num_spk": num_out},
         "criterions": criterions}))
    (model / "family").write_text(family + "\n")
    (model / "train.log").write_text("".join(
        f"[vm] x (trainer:394) INFO: {e}epoch results: [train] iter_time=0.004, "
        f"si_snr_loss=-1.0, loss=-1.0, train_time={t}, time=57.31 seconds, total_count=100, "
        f"[valid] si_snr_loss=-1.0, loss=-1.0, time=7.2 seconds, total_count=50\n"
        for e, t in enumerate(train_times, 1)))
    lines = ["utt\tnum_sources\tnum_active\tover\tunder\tsi_snri\tpit_active"]
    for utt in SINGLE:
        lines.append(f"{utt}\t1\t{2 if utt in over else 1}\t{int(utt in over)}\t0\t0.000\t1")
    msi = []
    for k, utt in enumerate(MULTI):
        values = [k + msi_shift, k + 1 + msi_shift]
        msi += values
        lines.append(f"{utt}\t2\t2\t0\t0\t{values[0]:.3f},{values[1]:.3f}\t1,1")
    (scoring / "per_example.tsv").write_text("\n".join(lines) + "\n")
    os_1s = len(over) / len(SINGLE)
    summary = {key: 0.0 for key in make_results.REQUIRED_KEYS} | {
        "metric_set": "fuss", "num_single": len(SINGLE), "num_multi": len(MULTI),
        "num_estimates": num_out, "msi": float(np.mean(msi)), "msi_n": len(msi),
        "msi_stderr": float(np.std(msi, ddof=1) / math.sqrt(len(msi))),
        "msi_all_pairs": float(np.mean(msi)), "over_separation_single": os_1s,
        "over_separation_single_n": len(SINGLE), "mean_active_single": 1 + os_1s,
        "mean_active_multi": 2.0}
    (scoring / "summary.json").write_text(json.dumps(summary))
    return model


@pytest.fixture
def exp(tmp_path):
    exp = tmp_path / "exp"
    write_model(exp, "w0", family="mixit", over=SINGLE)
    write_model(exp, "w6", family="mixit_sparse", weight=6.0, msi_shift=0.5,
                over=SINGLE[:3])
    write_model(exp, "w12", family="mixit_sparse", weight=12.0, msi_shift=-3.0)
    write_model(exp, "w6p5", family="mixit_sparse", weight=6.5, msi_shift=0.25,
                over=SINGLE[:2], refine=None)  # the wrapper's default: 16
    write_model(exp, "w6_plain", family="mixit_sparse_plain_projection", weight=6.0,
                refine=0, msi_shift=0.2, over=SINGLE[1:], train_times=(0.4, 0.5))
    return exp


def test_default_refine_sweeps_is_the_wrappers():
    from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver
    default = inspect.signature(EfficientMixITSolver).parameters["refine_sweeps"].default
    assert make_results.DEFAULT_REFINE_SWEEPS == default
    assert make_results.refine_sweeps({"criterions": [
        {"name": "si_snr", "wrapper": "mixit_efficient", "wrapper_conf": {}}]}) == default
    assert make_results.refine_sweeps({"criterions": [
        {"name": "si_snr", "wrapper": "pit_hungarian", "wrapper_conf": {}}]}) is None


def test_sweep_orders_fractional_weights_and_leaves_out_the_plain_projection(exp, tmp_path):
    out = tmp_path / "RESULTS.md"
    assert make_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    sweep = out.read_text().split("## Sparsity sweep")[1].split("\n## ")[0]
    models = [line.split("|")[4] for line in sweep.splitlines() if line.startswith("|rnn")]
    assert models == ["w0", "w6", "w6p5", "w12"]
    row = sweep.split("|rnn_softmax|8|6.5|w6p5|")[1].split("|")
    assert row[1].startswith("+0.25 ± 0.00 (5)")  # paired against weight 0
    assert row[4] == "0.50"  # OS 1S / weight 0: 0.5 / 1.0
    # halved at +0.25 dB; weight 6 does not halve OS 1S, weight 12 costs 3 dB
    assert "(paired mean):\n- test, rnn_softmax, M = 8: 6.5 (US MS 0.00)\n" in sweep + "\n"


def test_plain_projection_against_the_local_search(exp, tmp_path):
    out = tmp_path / "RESULTS.md"
    assert make_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    section = out.read_text().split("## Plain projection vs local search")[1]
    assert "|w6|test|8|6|16|3.00|reference|" in section
    plain = section.split("|w6_plain|test|8|6|0|2.70|")[1].split("\n")[0].split("|")
    assert plain[0] == "-0.30 ± 0.00 (5)"  # 0.2 - 0.5 on every mixture
    # OS 1S per single-source mixture: s0 0 - 1, s1/s2 1 - 1, s3 1 - 0
    assert plain[3].startswith("+0.00 ± 0.41 (4)")
    assert "|w6|train|16|0.550 ± 0.05|2|" in section
    assert "|w6_plain|train|0|0.450 ± 0.05|2|" in section
    rows = {(r.model, r.subset, r.metric): r for r in read_summary(exp / "results" /
                                                                   "summary.tsv")}
    diff = rows[("w6_plain", "test", "msi_diff_local_search")]
    assert (diff.n, diff.family) == (5, "mixit_sparse_plain_projection")
    assert diff.mean == pytest.approx(-0.3)
    over = rows[("w6_plain", "test", "os_rate_1s_diff_local_search")]
    assert over.n == 4 and over.mean == 0.0
    assert rows[("w6", "train", "train_step_s")].mean == pytest.approx(0.55)
    assert rows[("w6_plain", "train", "train_step_s")].n == 2
    assert ("w6p5", "train", "train_step_s") not in rows  # not in a pair


def test_a_plain_projection_without_partner_has_no_section(tmp_path):
    exp = tmp_path / "exp"
    write_model(exp, "w0", family="mixit")
    write_model(exp, "w6_plain", family="mixit_sparse_plain_projection", weight=6.0, refine=0)
    out = tmp_path / "RESULTS.md"
    assert make_results.main(["--expdir", str(exp), "--out", str(out)]) == 0
    assert "Plain projection" not in out.read_text()


def test_an_earlier_run_is_carried_over_and_reruns_show_both(exp, tmp_path):
    earlier = tmp_path / "recipe" / "history" / "run_1"
    old = [ResultRow("sup", "supervised", "test", "msi", 500, 2.5250, 0.0734),
           ResultRow("sup", "supervised", "test", "os_rate_1s", 100, 1.0, 0.0),
           ResultRow("w0", "mixit", "test", "msi", 500, 9.1234, 0.1114),
           ResultRow("w0", "mixit", "test", "1s", 97, 4.7166, 0.2271)]
    assert make_results.main(["--expdir", str(exp), "--out", str(tmp_path / "R0.md")]) == 0
    old += [r for r in read_summary(exp / "results" / "summary.tsv")  # reproduced exactly
            if r.model == "w6" and r.subset == "test"]
    write_summary(earlier / "results" / "summary.tsv", old)
    out = tmp_path / "recipe" / "RESULTS.md"
    summary = tmp_path / "recipe" / "results" / "summary.tsv"
    assert make_results.main(["--expdir", str(exp), "--out", str(out), "--summary",
                              str(summary), "--earlier", str(earlier)]) == 0
    text = out.read_text()
    carried = text.split("## Models of the earlier run `run_1`, not re-run")[1]
    assert "[RESULTS.md](history/run_1/RESULTS.md)" in carried
    assert "|sup|test|run_1|supervised|2.52 ± 0.07|n/a|n/a|1.00|n/a|n/a|" in carried
    rerun = text.split("## Re-run models: `run_1` and this run")[1]
    assert "|w0|test|run_1|mixit|9.12 ± 0.11|n/a|4.72|" in rerun
    assert "|w0|test|this run|mixit|2.50 ± 0.50|2.50|0.00|1.00|" in rerun
    assert "decimals):\n`w6` (test);\ndifferent: `w0` (test)." in rerun
    rows = read_summary(summary)
    assert [r for r in rows if r.model == "sup"] == old[:2]  # unchanged
    w0 = {r.metric: r for r in rows if r.model == "w0"}
    assert w0["msi"].mean == pytest.approx(2.5)  # this run's, not the earlier 9.12
    assert [r.model for r in rows] == sorted(r.model for r in rows)
    # every summary row is in a table row of RESULTS.md (tests/test_committed_results.py)
    lines = [line for line in text.splitlines() if line.startswith("|")]
    for r in rows:
        cells = [c for line in lines if line.startswith(f"|{r.model}|{r.subset}|")
                 for c in line.strip("|").split("|")]
        assert any(c.split() and c.split()[0].replace(".", "", 1).lstrip("+-").isdigit()
                   and abs(float(c.split()[0]) - r.mean) <= 0.0051 for c in cells), r


def test_an_earlier_dir_without_summary_is_an_error(exp, tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    assert make_results.main(["--expdir", str(exp), "--out", str(out), "--earlier",
                              str(tmp_path / "nope")]) == 1
    assert "--earlier" in capsys.readouterr().err and not out.exists()
