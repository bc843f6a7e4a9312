"""hardness_analysis: dev-fitted predictor, test correlations, hard subset, pair table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sepplug.mixing.pair_table import read_pair_table
from sepplug.recipes.hard_mining import hardness_analysis
from sepplug.recipes.hard_mining.speaker_params import SpeakerParams
from sepplug.results.summary import read_summary

SPEAKERS = [f"spk{i:02d}" for i in range(8)]


def write_params(path):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((len(SPEAKERS), 5))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    params = SpeakerParams(SPEAKERS, np.linspace(90, 300, len(SPEAKERS)),
                           np.full(len(SPEAKERS), 4), emb, np.zeros(5), np.ones(5))
    params.save(path)
    return params


def write_set(root, name, params, n, seed):
    """Mixtures of random pairs whose SI-SNRi rises with |ΔF0| (plus noise)."""
    rng = np.random.default_rng(seed)
    lines, scores = ["utt\tspk1\tspk2\tutt1\tutt2\tsir_db"], ["utt\tsi_sdri\tsdri"]
    for k in range(n):
        a, b = rng.choice(len(SPEAKERS), 2, replace=False)
        y = 0.03 * abs(params.median_f0[a] - params.median_f0[b]) + rng.normal(0, 0.5)
        lines.append(f"{name}_{k:04d}\t{SPEAKERS[a]}\t{SPEAKERS[b]}\tu1\tu2\t0.0")
        scores.append(f"{name}_{k:04d}\t{y}\t{y}")
    (root / f"{name}_mixtures.tsv").write_text("\n".join(lines) + "\n")
    (root / f"{name}_per_utt.tsv").write_text("\n".join(scores[:1] + scores[1:][::-1]) + "\n")
    return root / f"{name}_mixtures.tsv", root / f"{name}_per_utt.tsv"


def test_analysis_outputs(tmp_path):
    params = write_params(tmp_path / "params")
    dev = write_set(tmp_path, "dev", params, 60, 1)
    test = write_set(tmp_path, "test", params, 200, 2)
    out = tmp_path / "out"
    argv = ["--params_dir", str(tmp_path / "params"), "--fit", *map(str, dev),
            "--eval", *map(str, test), "--out_dir", str(out)]
    assert hardness_analysis.main(argv) == 0
    report = json.loads((out / "analysis.json").read_text())
    assert report["eval"]["f0"]["r"] > 0.8 and report["eval"]["f0"]["p"] < 1e-10
    assert report["eval"]["linear"]["r"] > 0.8
    assert report["predictor"]["coef"][1] == pytest.approx(0.03, abs=0.01)
    hard = (out / "test_hard.list").read_text().split()
    # 25 % of 200, plus the mixtures tied with the last one (the same speaker pair)
    assert 50 <= len(hard) < 80 and report["hard_eval_mixtures"] == len(hard)
    assert report["hard_eval_mean"] < report["rest_eval_mean"] - 1.0
    dev_hard = (out / "dev_hard.list").read_text().split()  # the same share of the fit set
    assert 15 <= len(dev_hard) < 30 and set(dev_hard) <= set(
        line.split("\t")[0] for line in dev[0].read_text().splitlines()[1:])
    assert report["predictor"]["fit_method"] == "nonneg"
    assert report["predictor"]["terms_used"][0] == "|delta_f0|"
    table = read_pair_table(out / "pairs.tsv")
    assert len(table.spk1) == len(SPEAKERS) * (len(SPEAKERS) - 1)
    # the hard pairs (lowest predicted SI-SNRi) are the close ones in F0
    assert table.hard.any() and table.delta_f0[table.hard].max() < np.median(table.delta_f0)
    rows = {(r.subset, r.metric): r for r in read_summary(out / "analysis.tsv")}
    assert rows["test", "pearson_r_f0"].mean == pytest.approx(report["eval"]["f0"]["r"], abs=1e-4)
    assert rows["test", "pearson_r_f0"].n == 200 and ("dev", "pearson_r_xvector") in rows
    pairs = rows["test_pairs", "pearson_r_f0"]
    assert 10 < pairs.n <= 28 and pairs.mean > 0.8  # one value per unordered speaker pair
    assert (out / "analysis.png").stat().st_size > 1000


def test_a_fit_set_of_three_mixtures_gives_no_p_value_but_no_error(tmp_path):
    """Three mixtures and three fitted parameters: r is defined, its F test is not."""
    params = write_params(tmp_path / "params")
    dev = write_set(tmp_path, "dev", params, 3, 1)
    test = write_set(tmp_path, "test", params, 4, 2)
    out = tmp_path / "out"
    assert hardness_analysis.main(["--params_dir", str(tmp_path / "params"), "--fit",
                                   *map(str, dev), "--eval", *map(str, test), "--out_dir",
                                   str(out)]) == 0
    fit = json.loads((out / "analysis.json").read_text())["fit"]["linear"]
    assert fit["n"] == 3 and math.isnan(fit["p"])


def test_missing_score_is_a_clear_error(tmp_path, capsys):
    params = write_params(tmp_path / "params")
    dev = write_set(tmp_path, "dev", params, 20, 1)
    test = write_set(tmp_path, "test", params, 20, 2)
    lines = test[1].read_text().splitlines()
    test[1].write_text("\n".join(lines[:-1]) + "\n")
    argv = ["--params_dir", str(tmp_path / "params"), "--fit", *map(str, dev),
            "--eval", *map(str, test), "--out_dir", str(tmp_path / "out")]
    assert hardness_analysis.main(argv) == 1
    assert "no score of mixture" in capsys.readouterr().err
    assert not (tmp_path / "out" / "pairs.tsv").exists()


# ---- stage 8's choice of the hard share on dev -------------------------------------------


def _dev_scores(exp, run, values):
    scoring = exp / f"enh_{run}" / "enhanced_dev" / "scoring"
    scoring.mkdir(parents=True)
    (scoring / "per_utt.tsv").write_text("utt\tsi_sdri\n" + "".join(
        f"d{i}\t{v}\n" for i, v in enumerate(values)))


def _choice_exp(tmp_path, candidates):
    exp = tmp_path / "exp"
    _dev_scores(exp, "dm_long", [5.0, 5.0, 1.0, 1.0])
    for share, values in candidates.items():
        _dev_scores(exp, f"dm_hm_share{share}", values)
    (exp / "hardness").mkdir()
    (exp / "hardness" / "dev_hard.list").write_text("d2\nd3\n")
    return exp


def test_the_share_with_the_best_hard_gain_within_the_overall_budget_is_chosen(tmp_path):
    from sepplug.recipes.hard_mining import choose_share

    exp = _choice_exp(tmp_path, {
        "0.2": [5.0, 5.0, 1.4, 1.2],   # overall +0.15, hard +0.3
        "0.35": [4.9, 4.9, 1.8, 1.6],  # overall +0.25, hard +0.7
        "0.5": [3.0, 3.0, 3.0, 3.0]})  # overall (-2 - 2 + 2 + 2) / 4 = 0, hard +2.0: chosen
    out = exp / "hardness" / "hm_share"
    assert choose_share.main(["--expdir", str(exp), "--shares", "0.2", "0.35", "0.5",
                              "--out_dir", str(out)]) == 0
    assert (out / "chosen").read_text() == "0.5\n"
    _dev_scores(exp, "dm_hm_share0.6", [2.0, 2.0, 3.0, 3.0])  # overall -0.5: not eligible
    assert choose_share.main(["--expdir", str(exp), "--shares", "0.2", "0.35", "0.6",
                              "--out_dir", str(out)]) == 0
    assert (out / "chosen").read_text() == "0.35\n"
    rows = (out / "choice.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["share", "dev_diff", "dev_diff_se"]
    assert rows[3].split("\t")[-1] == "False"


def test_no_share_within_the_budget_takes_the_smallest_loss(tmp_path):
    from sepplug.recipes.hard_mining import choose_share

    exp = _choice_exp(tmp_path, {"0.2": [4.0, 4.0, 1.0, 1.0], "0.5": [3.0, 3.0, 2.0, 2.0]})
    chosen, rows = choose_share.choose(exp, ["0.2", "0.5"])
    assert chosen == "0.2" and not any(r["eligible"] for r in rows)


@pytest.mark.parametrize(("case", "message"), [
    ("missing_run", "enh_dm_hm_share0.5/enhanced_dev/scoring/per_utt.tsv is missing"),
    ("share", "--shares: 1.5 is not in (0, 1)"),
    ("no_hard_list", "dev_hard.list is missing: run stage 7"),
])
def test_bad_choice_input_is_refused_and_writes_nothing(tmp_path, capsys, case, message):
    from sepplug.recipes.hard_mining import choose_share

    exp = _choice_exp(tmp_path, {"0.2": [5.0, 5.0, 1.0, 1.0]})
    shares = ["0.2", "0.5" if case == "missing_run" else "0.2"]
    if case == "share":
        shares = ["0.2", "1.5"]
    if case == "no_hard_list":
        (exp / "hardness" / "dev_hard.list").unlink()
    out = exp / "hardness" / "hm_share"
    assert choose_share.main(["--expdir", str(exp), "--shares", *shares,
                              "--out_dir", str(out)]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
