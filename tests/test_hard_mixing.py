"""Global hard-sample mining: the pair table, the Pearson analysis, the ``hard_dm`` draw.

Speaker parameters are made up (planted F0s, random embeddings), so nothing here computes
audio features; the preprocessor mixes short noise files written with soundfile.
"""

from __future__ import annotations

import json
import random
from argparse import Namespace
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from espnet2.train.preprocessor import DynamicMixingPreprocessor
from scipy import stats

from sepplug.enh.preprocessor.hard_mixing import HardMixingPreprocessor
from sepplug.errors import DataError
from sepplug.mixing.pair_table import (
    check_covers,
    hard_mask,
    read_pair_table,
    write_pair_table,
)
from sepplug.mixing.pair_table import main as pair_table_main
from sepplug.recipes.hard_mining.hardness import (
    HardnessPredictor,
    build_pair_table,
    fit_linear_predictor,
    main,
    pearson_analysis,
    plot_analysis,
)
from sepplug.recipes.hard_mining.speaker_params import SpeakerParams

FS = 8000
#: three close-pitch pairs; g has no utterance in the source list (and is closest to a)
F0S = {"a": 100.0, "b": 104.0, "c": 150.0, "d": 156.0, "e": 220.0, "f": 228.0, "g": 101.0}
HARD = {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("e", "f"), ("f", "e")}
UTTS = {"a": 1, "b": 2, "c": 3, "d": 3, "e": 3, "f": 3}  # utterances in the source list
DRAWS = 3000


def make_params(f0s: dict[str, float], dim: int = 8, seed: int = 0) -> SpeakerParams:
    """Speakers with the given median F0s and random unit embeddings."""
    rng = np.random.default_rng(seed)
    speakers = sorted(f0s)
    vectors = rng.standard_normal((len(speakers), dim))
    return SpeakerParams(speakers, np.array([f0s[s] for s in speakers]),
                         np.ones(len(speakers), dtype=int),
                         vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                         np.zeros(dim), np.ones(dim))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data dir (spk1.scp, utt2spk of UTTS) and the f0 pair table of F0S (q = 0.2 of the
    30 pairs among a-f = exactly the three planted pairs)."""
    root = tmp_path_factory.mktemp("hard_dm")
    rng = np.random.default_rng(1)
    scp, utt2spk = [], []
    for spk, n in UTTS.items():
        for i in range(n):
            path = root / f"{spk}{i}.wav"
            sf.write(path, (0.1 * rng.standard_normal(FS // 10)).astype("float32"), FS)
            scp.append(f"{spk}{i} {path}\n")
            utt2spk.append(f"{spk}{i} {spk}\n")
    (root / "spk1.scp").write_text("".join(scp))
    (root / "utt2spk").write_text("".join(utt2spk))
    write_pair_table(build_pair_table(make_params(F0S), HardnessPredictor.named("f0"), 0.2),
                     root / "pairs.tsv")
    return root


def make(world, train: bool = True, **conf) -> HardMixingPreprocessor:
    conf = {"source_scp": str(world / "spk1.scp"), "utt2spk": str(world / "utt2spk"),
            "pair_table": str(world / "pairs.tsv"), **conf}
    return HardMixingPreprocessor(train=train, **conf)


def draw(pre, n: int = DRAWS) -> list[tuple[str, list[str]]]:
    """(anchor key, partner keys) of n draws, anchors cycling over the source list."""
    keys = pre.source_keys
    return [(keys[i % len(keys)], pre._pick_source_utterances_(keys[i % len(keys)]))
            for i in range(n)]


# ---- pair table and analysis -------------------------------------------------------------


def test_pair_table_has_every_ordered_pair_with_symmetric_features():
    params = make_params(F0S)
    table = build_pair_table(params, HardnessPredictor.named("xvector"), 0.2)
    s = len(F0S)
    assert len(table.spk1) == s * (s - 1)
    assert all(a != b for a, b in zip(table.spk1, table.spk2, strict=True))
    rows = {(a, b): (d, c, h) for a, b, d, c, h in zip(
        table.spk1, table.spk2, table.delta_f0, table.cos_dist, table.hardness, strict=True)}
    for (a, b), values in rows.items():
        assert rows[(b, a)] == values
    assert rows[("a", "c")][0] == pytest.approx(50.0)
    np.testing.assert_allclose(table.hardness, -table.cos_dist)  # embedding predictor
    hard = {(a, b) for a, b, h in zip(table.spk1, table.spk2, table.hard, strict=True) if h}
    assert {(b, a) for a, b in hard} == hard  # ties included: ceil(0.2 * 42) = 9 -> 10 rows
    assert len(hard) == 10


def test_f0_predictor_marks_the_close_pitch_pairs_hard_and_round_trips(tmp_path):
    params = make_params({k: v for k, v in F0S.items() if k != "g"})
    table = build_pair_table(params, HardnessPredictor.named("f0"), 0.2)
    hard = {(a, b) for a, b, h in zip(table.spk1, table.spk2, table.hard, strict=True) if h}
    assert hard == HARD
    write_pair_table(table, tmp_path / "sub" / "pairs.tsv")
    back = read_pair_table(tmp_path / "sub" / "pairs.tsv")
    assert back.spk1 == table.spk1 and back.hard.tolist() == table.hard.tolist()
    np.testing.assert_allclose(back.hardness, table.hardness, atol=1e-6)
    assert hard_mask(np.array([3.0, 1.0, 2.0, 2.0]), 0.5).tolist() == [True, False, True, True]


def _analysis_set(n: int = 400, slope_cos: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    f0s = {f"s{i:02d}": float(rng.uniform(80, 300)) for i in range(30)}
    params = make_params(f0s, seed=seed)
    pairs = [rng.choice(params.speakers, 2, replace=False) for _ in range(n)]
    spk1, spk2 = [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]
    df0 = np.abs(np.array([f0s[a] - f0s[b] for a, b in pairs]))
    cos = 1 - np.sum(params.embeddings[[params.index(a) for a in spk1]]
                     * params.embeddings[[params.index(b) for b in spk2]], axis=1)
    si_snri = 2.0 + 0.04 * df0 + slope_cos * cos + rng.standard_normal(n)
    return params, spk1, spk2, si_snri


def test_pearson_analysis_recovers_a_planted_correlation(tmp_path):
    params, spk1, spk2, si_snri = _analysis_set()
    result = pearson_analysis(si_snri, spk1, spk2, params)
    f0, emb, lin = (result.correlations[k] for k in ("f0", "embedding", "linear"))
    expected = stats.pearsonr(result.features[:, 0], si_snri)
    assert f0.r == pytest.approx(expected.statistic) and f0.r > 0.8 and f0.p < 1e-20
    assert abs(emb.r) < 0.15 and emb.p > 1e-3  # no planted embedding effect
    assert lin.r >= f0.r - 1e-9 and lin.p < 1e-20
    assert result.predictor.coef[1] == pytest.approx(0.04, abs=0.005)
    plot_analysis(result, tmp_path / "plots" / "pearson.png")
    assert (tmp_path / "plots" / "pearson.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(json.dumps(result.as_dict()))["n"] == len(si_snri)


def test_linear_predictor_ranks_by_predicted_si_snri():
    params, spk1, spk2, si_snri = _analysis_set(slope_cos=8.0, seed=1)
    predictor = pearson_analysis(si_snri, spk1, spk2, params).predictor
    assert predictor.coef[2] == pytest.approx(8.0, abs=1.0)
    features = np.array([[10.0, 0.2], [10.0, 1.5], [200.0, 1.5]])
    assert np.argsort(-predictor.hardness(features)).tolist() == [0, 1, 2]


def _collinear(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Features whose cos distance follows |ΔF0| and an SI-SNRi driven by |ΔF0| alone,
    so that a free fit may give the distance a negative weight (as on the recipe's dev set)."""
    rng = np.random.default_rng(seed)
    df0 = rng.uniform(0, 120, n)
    cos = 0.004 * df0 + 0.3 + 0.05 * rng.standard_normal(n)
    y = 1.0 + 0.06 * df0 - 3.0 * (cos - 0.004 * df0) + 0.5 * rng.standard_normal(n)
    return np.column_stack([df0, cos]), y


def test_the_default_fit_keeps_the_papers_signs_and_drops_a_useless_distance():
    features, y = _collinear()
    free = fit_linear_predictor(features, y, constrained=False, allow_contradicting_signs=True)
    assert free.coef[2] < -1.0  # the free fit: distant voices "harder"
    fit = fit_linear_predictor(features, y)
    assert fit.coef[1] > 0.04 and fit.coef[2] == 0.0  # |ΔF0| alone
    # larger distances never predict a harder pair
    grid = np.array([[10.0, 0.3], [10.0, 0.9], [80.0, 0.9]])
    assert np.all(np.diff(fit.hardness(grid)) <= 0)
    with pytest.raises(DataError, match="against the paper's finding"):
        fit_linear_predictor(features, y, constrained=False)


def test_a_fit_with_no_signal_falls_back_to_delta_f0_alone():
    features = np.array([[10.0, 0.5], [50.0, 0.6], [90.0, 0.7], [30.0, 0.2]])
    y = np.array([8.0, 4.0, 1.0, 5.0])  # larger distances, lower SI-SNRi
    fit = fit_linear_predictor(features, y)
    assert fit.coef[1:] == (1.0, 0.0)
    assert np.argmax(fit.hardness(features)) == 0  # the smallest |ΔF0|


def test_a_pair_table_must_list_every_training_speaker(tmp_path, capsys):
    params = make_params(F0S)
    write_pair_table(build_pair_table(params, HardnessPredictor.named("f0")),
                     tmp_path / "pairs.tsv")
    (tmp_path / "utt2spk").write_text("u1 a\nu2 b\nu3 c\n")
    assert check_covers(tmp_path / "pairs.tsv", tmp_path / "utt2spk") == 3
    (tmp_path / "other").write_text("u1 a\nu2 zed\nu3 yan\n")
    with pytest.raises(DataError, match=r"lacks 2 of the 3 speakers of .*other \(e.g. yan\)"):
        check_covers(tmp_path / "pairs.tsv", tmp_path / "other")
    assert pair_table_main([str(tmp_path / "pairs.tsv"), str(tmp_path / "other")]) == 1
    assert "made for other speakers" in capsys.readouterr().err


def test_pair_hardness_cli_fits_linear_and_writes_table_report_plot(tmp_path):
    params, spk1, spk2, si_snri = _analysis_set(n=60)
    params.save(tmp_path / "spk")
    rows = zip(spk1, spk2, si_snri, strict=True)
    (tmp_path / "mix.tsv").write_text("utt\tspk1\tspk2\tsi_snri\n" + "".join(
        f"m{i}\t{a}\t{b}\t{y:.3f}\n" for i, (a, b, y) in enumerate(rows)))
    args = ["--params_dir", str(tmp_path / "spk"), "--out", str(tmp_path / "pairs.tsv"),
            "--analysis", str(tmp_path / "mix.tsv"), "--predictor", "linear",
            "--report", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]
    assert main(args) == 0
    assert len(read_pair_table(tmp_path / "pairs.tsv").spk1) == 30 * 29
    assert json.loads((tmp_path / "r.json").read_text())["correlations"]["f0"]["r"] > 0.5
    assert (tmp_path / "r.png").is_file()
    (tmp_path / "bad.tsv").write_text("spk1\tspk2\tsdr\n")
    assert main(args[:4] + ["--analysis", str(tmp_path / "bad.tsv")]) == 1
    with pytest.raises(DataError, match="need >= 4 mixtures"):
        pearson_analysis([1.0], ["s00"], ["s01"], params)
    with pytest.raises(DataError, match="speaker x has no parameters"):
        pearson_analysis([1.0] * 4, ["x"] * 4, ["s01"] * 4, params)


# ---- the hard_dm preprocessor -------------------------------------------------------------


def _expected_hard_pairs(pre, draws, share: float) -> tuple[float, float]:
    """Expected count and variance of draws landing on a hard pair."""
    p = []
    for anchor_key, _ in draws:
        anchor = pre.utt2spk[anchor_key]
        others = sum(n for s, n in UTTS.items() if s != anchor)
        uniform_hard = sum(UTTS[s] for s in pre.hard_partners[anchor]) / others
        p.append(share + (1 - share) * uniform_hard)
    p = np.array(p)
    return float(p.sum()), float((p * (1 - p)).sum())


@pytest.mark.parametrize("share", [0.3, 0.8])
def test_realised_hard_share_matches_hard_share(world, share):
    pre = make(world, hard_share=share, hard_quantile=0.2)
    assert pre.hard_partners == {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"],
                                 "e": ["f"], "f": ["e"]}  # g: not in the source list
    draws = draw(pre)
    hard_branch = pre.draw_counts["hard"]
    assert abs(hard_branch - share * DRAWS) < 4 * np.sqrt(DRAWS * share * (1 - share))
    assert pre.draw_counts["uniform"] == DRAWS - hard_branch
    pairs = [(pre.utt2spk[a], pre.utt2spk[k[0]]) for a, k in draws]
    assert all(x != y for x, y in pairs)
    mean, var = _expected_hard_pairs(pre, draws, share)
    assert abs(sum(p in HARD for p in pairs) - mean) < 4 * np.sqrt(var)


def test_hard_share_zero_draws_like_espnet(world):
    """Partner speakers follow ESPnet's distribution (uniform over the other speakers'
    utterances): ours and ESPnet's own draw pass the same chi-square test."""
    ours = make(world, hard_share=0.0)
    espnet = DynamicMixingPreprocessor(True, str(world / "spk1.scp"),
                                       utt2spk=str(world / "utt2spk"))
    random.seed(0)
    keys = ours.source_keys
    for pre in (ours, espnet):
        expected, observed = Counter(), Counter()
        for i in range(DRAWS):
            anchor = ours.utt2spk[keys[i % len(keys)]]
            others = sum(n for s, n in UTTS.items() if s != anchor)
            for s, n in UTTS.items():
                expected[(anchor, s)] += 0 if s == anchor else n / others
            partner = pre._pick_source_utterances_(keys[i % len(keys)])[0]
            observed[(anchor, ours.utt2spk[partner])] += 1
        cells = sorted(k for k in expected if expected[k] > 0)
        assert set(observed) <= set(cells)
        test = stats.chisquare([observed[c] for c in cells], [expected[c] for c in cells])
        assert test.pvalue > 1e-3, type(pre).__name__
    assert ours.draw_counts == Counter(uniform=DRAWS)


def test_output_has_the_keys_and_shapes_of_espnets(world):
    rng = np.random.default_rng(0)
    data = {"speech_ref1": rng.standard_normal(600).astype(np.float32),
            "speech_ref2": rng.standard_normal(600).astype(np.float32)}
    data["speech_mix"] = data["speech_ref1"] + data["speech_ref2"]
    espnet = DynamicMixingPreprocessor(True, str(world / "spk1.scp"),
                                       utt2spk=str(world / "utt2spk"))
    theirs = espnet("c0", dict(data))
    ours = make(world, hard_share=1.0)("c0", dict(data))
    assert {k: (v.shape, v.dtype) for k, v in ours.items()} == \
        {k: (v.shape, v.dtype) for k, v in theirs.items()}
    np.testing.assert_allclose(ours["speech_mix"], ours["speech_ref1"] + ours["speech_ref2"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours["speech_ref1"], data["speech_ref1"])
    assert make(world, train=False, hard_share=1.0)("c0", dict(data)).keys() == data.keys()


def test_three_sources_are_three_speakers_and_draws_are_seeded(world):
    pre = make(world, hard_share=0.7, hard_scope="anchor", hard_quantile=0.5, ref_num=3)
    for anchor, partners in draw(pre, 600):
        speakers = {pre.utt2spk[k] for k in [anchor, *partners]}
        assert len(speakers) == 3
    again = make(world, hard_share=0.7, hard_scope="anchor", hard_quantile=0.5, ref_num=3)
    assert draw(again, 50) == draw(make(world, hard_share=0.7, hard_scope="anchor",
                                        hard_quantile=0.5, ref_num=3), 50)
    epoch1, epoch2 = make(world, hard_share=0.5), make(world, hard_share=0.5)
    epoch1.set_epoch(1)
    epoch2.set_epoch(2)
    assert draw(epoch1, 50) != draw(epoch2, 50)


def test_global_scope_falls_back_to_uniform_for_anchors_without_hard_partners(world):
    pre = make(world, hard_share=1.0, hard_quantile=2 / 30)  # only a-b is hard
    assert pre.hard_partners["a"] == ["b"] and pre.hard_partners["c"] == []
    for _ in range(20):
        pre._pick_source_utterances_("c0")
    assert pre.draw_counts == Counter(no_hard_partner=20, uniform=20)


def test_bad_configuration_is_reported(world, tmp_path):
    with pytest.raises(DataError, match="nope.tsv"):
        make(world, pair_table=str(tmp_path / "nope.tsv"), hard_share=0.5)
    partial = build_pair_table(make_params({k: v for k, v in F0S.items() if k != "f"}),
                               HardnessPredictor.named("f0"))
    write_pair_table(partial, tmp_path / "partial.tsv")
    with pytest.raises(DataError, match="speaker f .*not in pair table"):
        make(world, pair_table=str(tmp_path / "partial.tsv"), hard_share=0.5)
    (tmp_path / "cols.tsv").write_text("spk1\tspk2\tdelta_f0\na\tb\t1\n")
    with pytest.raises(DataError, match="hardness"):
        make(world, pair_table=str(tmp_path / "cols.tsv"), hard_share=0.5)
    (tmp_path / "empty_value.tsv").write_text("spk1\tspk2\thardness\na\tb\t\n")
    with pytest.raises(DataError, match="empty_value.tsv:2: not a number"):
        read_pair_table(tmp_path / "empty_value.tsv")
    (tmp_path / "self.tsv").write_text("spk1\tspk2\thardness\na\ta\t1\n")
    with pytest.raises(DataError, match="self.tsv:2: speaker a paired with itself"):
        read_pair_table(tmp_path / "self.tsv")
    with pytest.raises(ValueError, match="needs a pair_table"):
        make(world, pair_table=None, hard_share=0.5)
    with pytest.raises(ValueError, match="hard_share"):
        make(world, hard_share=1.5)
    with pytest.raises(DataError, match="missing.scp"):
        make(world, source_scp=str(tmp_path / "missing.scp"))
    with pytest.raises(DataError, match="utterance zz has no speaker"):
        make(world, hard_share=0.5)._pick_source_utterances_("zz")


def test_the_task_builds_it_from_the_yaml_options(world):
    from sepplug.tasks.enh import SepplugEnhancementTask

    args = Namespace(
        preprocessor="hard_dm", separator_conf={"num_spk": 2}, utt2spk=str(world / "utt2spk"),
        preprocessor_conf={"pair_table": str(world / "pairs.tsv"), "hard_share": 0.5},
        train_data_path_and_name_and_type=[(str(world / "wav.scp"), "speech_mix", "sound")])
    fn = SepplugEnhancementTask.build_preprocess_fn(args, train=True)
    pre = fn.inner
    assert isinstance(pre, HardMixingPreprocessor)
    assert pre.source_scp == str(world / "spk1.scp") and pre.ref_num == 2
    assert pre.hard_share == 0.5 and pre.hard_partners["a"] == ["b"]


def _draw_in_child(pre: HardMixingPreprocessor, anchors: list[str]) -> None:
    for anchor in anchors:
        pre._pick_source_utterances_(anchor)


def test_draws_of_a_forked_worker_reach_the_epoch_report(world):
    """ESPnet's DataLoader workers are forked per epoch: their draws are counted in memory
    the main process's ``epoch_report`` reads, which reports the draws since its last call."""
    import multiprocessing

    from sepplug.train import epoch_reports

    pre = make(world, hard_share=1.0, hard_quantile=2 / 30)  # only a-b is hard
    assert pre in epoch_reports._reporters  # a training preprocessor registers ...
    assert make(world, train=False) not in epoch_reports._reporters  # ... only it
    assert pre.epoch_report() is None  # no draw yet
    child = multiprocessing.get_context("fork").Process(
        target=_draw_in_child, args=(pre, ["a0", "b0", "b1", "c0", "c1"]))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert pre.draw_counts == Counter(hard=3, uniform=2, no_hard_partner=2)
    assert pre.epoch_report() == ("hard_dm partner draws: hard 3 (60.0 %), uniform 2 "
                                  "(40.0 %), no hard partner 2 (40.0 %, in uniform)")
    assert pre.epoch_report() is None  # reported: nothing new
    pre._pick_source_utterances_("d0")
    assert pre.epoch_report() == ("hard_dm partner draws: hard 0 (0.0 %), uniform 1 "
                                  "(100.0 %), no hard partner 1 (100.0 %, in uniform)")
    assert pre.draw_counts == Counter(hard=3, uniform=3, no_hard_partner=3)  # since built


def test_outside_training_the_task_builds_a_pass_through(world, tmp_path):
    """Validation / inference: no source list, utt2spk or pair table is read (all gone)."""
    from sepplug.enh.preprocessor.outside_training import OutsideTrainingMixing
    from sepplug.tasks.enh import SepplugEnhancementTask

    gone = tmp_path / "gone"
    args = Namespace(
        preprocessor="hard_dm", separator_conf={"num_spk": 2}, utt2spk=str(gone / "utt2spk"),
        preprocessor_conf={"pair_table": str(gone / "pairs.tsv"), "hard_share": 0.5,
                           "mixture_source_name": "speech_ref2"},
        train_data_path_and_name_and_type=[(str(gone / "wav.scp"), "speech_mix", "sound")])
    pre = HardMixingPreprocessor.from_task_args(args, train=False)
    assert isinstance(pre, OutsideTrainingMixing) and not pre.train
    fn = SepplugEnhancementTask.build_preprocess_fn(args, train=False)
    assert isinstance(fn.inner, OutsideTrainingMixing) and fn.needs == "speech_ref2"
    with pytest.raises(DataError, match="spk1.scp does not exist"):
        SepplugEnhancementTask.build_preprocess_fn(args, train=True)  # training needs them
