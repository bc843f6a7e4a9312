"""sepplug.recipes.mixit_semantic.make_results: families, paired differences, classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sepplug.recipes.mixit_semantic import make_results
from sepplug.results.summary import read_summary

HEADER = ("utt\tnum_sources\tnum_active\tover\tunder\tsi_snr\tsi_snri\tpit_index\tpit_active\t"
          "remix_si_snr\tremix_si_snri\tremix_groups\tnum_classes\tpure_outputs\tclass_purity")


def _model(expdir, family, seed, shift, purity=True):
    name = f"train_enh_{family}_rnn_m8_cpu" + (f"_seed{seed}" if seed else "")
    scoring = expdir / f"enh_{name}" / "enhanced_test" / "scoring"
    scoring.mkdir(parents=True)
    (expdir / f"enh_{name}" / "family").write_text(family + "\n")
    (expdir / f"enh_{name}" / "config.yaml").write_text(f"seed: {seed}\n")
    rng = np.random.default_rng(seed)
    lines = [HEADER if purity else HEADER.rsplit("\tnum_classes", 1)[0]]
    for i in range(24):
        k = 1 + i % 3
        active = k + (i % 2)
        snri = ",".join(f"{v:.3f}" for v in rng.normal(3 + shift, 1, k))
        cells = [f"u{i:02d}", k, active, int(active > k), 0, ",".join(["5"] * k), snri,
                 ",".join(map(str, range(k))), ",".join(["1"] * k), "1", "1", "0"]
        if purity:
            cells += [min(k, 2), 1, f"{min(1.0, 0.5 + shift / 4):.3f}"]
        lines.append("\t".join(map(str, cells)))
    (scoring / "per_example.tsv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def expdir(tmp_path):
    exp = tmp_path / "exp"
    for seed in (0, 1):
        for family, shift in (("supervised", 2.0), ("mixit", 0.0), ("mixit_sparse", 0.5),
                              ("mixit_sparse_semantic", 1.0), ("mixit_semantic", 0.2)):
            _model(exp, family, seed, shift)
    (exp / "classifier").mkdir()
    (exp / "classifier" / "accuracy.json").write_text(json.dumps(
        {"dev": {"top1": 0.99, "n": 40, "stderr": 0.01, "per_class": {"speech": 1.0}},
         "test": {"top1": 0.975, "n": 40, "stderr": 0.02, "per_class": {"speech": 0.9}}}))
    return exp


def test_summary_has_families_pairs_ratio_and_classifier(expdir):
    out = expdir / "RESULTS.md"
    assert make_results.main(["--expdir", str(expdir), "--out", str(out)]) == 0
    rows = read_summary(expdir / "results" / "summary.tsv")
    families = {r.family for r in rows}
    assert set(make_results.FAMILIES) <= families
    assert {r.metric for r in rows if r.family in make_results.FAMILIES} == {
        "msi", "1s", "os_1s", "class_purity", "active_outputs"}
    pair = {(r.model, r.metric): r for r in rows if r.family == "paired"}
    purity = pair[("mixit_sparse_semantic-mixit_sparse", "class_purity")]
    assert purity.n == 16 and purity.mean == pytest.approx(0.125, abs=1e-3)
    ratio = {r.model: r.mean for r in rows if r.metric == "msi_over_supervised"}
    assert 0 < ratio["mixit"] < 1
    acc = {r.subset: r for r in rows if r.family == "classifier"}
    assert acc["test_clips"].mean == 0.975 and acc["test_clips"].n == 40
    text = out.read_text()
    for r in rows:  # every row is in a table line that starts with its model and subset
        assert any(line.startswith(f"|{r.model}|{r.subset}|") for line in text.splitlines())
    assert (expdir / "semantic_mixit.png").stat().st_size > 0


def test_scores_without_class_purity_are_refused(tmp_path, capsys):
    exp = tmp_path / "exp"
    _model(exp, "mixit", 0, 0.0, purity=False)
    assert make_results.main(["--expdir", str(exp), "--out", str(exp / "R.md")]) == 1
    assert "class_purity" in capsys.readouterr().err
