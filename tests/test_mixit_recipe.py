"""VCTK MixIT recipe tools: MoM/test data generator, FUSS metrics, scorer, RESULTS.md."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import fast_bss_eval
import numpy as np
import pytest
import soundfile as sf
import yaml

from sepplug.bin import score_mixit
from sepplug.datadir.kaldi_dir import read_meta, read_table
from sepplug.datadir.validate import validate
from sepplug.errors import DataError
from sepplug.recipes.mixit import make_data as mixit_data
from sepplug.recipes.mixit import make_results as make_mixit_results
from sepplug.recipes.mixit.make_data import MixitOptions, generate_mixit_data
from sepplug.results.summary import read_summary
from sepplug.utils.fuss_metrics import (
    MetricInputError,
    pairwise_si_snr,
    remix_assignment,
    score_example,
    summarize,
)
from tests.data_fixtures import write_toy_corpus

FS = 8000
T = 8000
OPTIONS = MixitOptions(fs=FS, segment=1.0, seed=5)
SIZES = {"n_train": 8, "n_dev": 4, "n_test": 9}


def tone(freq: float, amplitude: float = 1.0, length: int = T) -> np.ndarray:
    """A sinusoid with an integer number of periods: zero mean, orthogonal to other tones."""
    return amplitude * np.sin(2 * np.pi * freq * np.arange(length) / FS)


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    """10 noise-burst speakers x 3 utterances (splits 4/3/3) -> train/dev/test at 8 kHz."""
    root = tmp_path_factory.mktemp("mixit")
    corpus = write_toy_corpus(root / "corpus", speakers=10, utts=3)
    generate_mixit_data(corpus, root / "data", root / "wav", options=OPTIONS,
                        num_dev_speakers=3, num_test_speakers=3, supervised_sets=True,
                        **SIZES)
    return root


def read(path: str) -> np.ndarray:
    return sf.read(path, dtype="float64")[0]


# ---- data generator --------------------------------------------------------------------------


def test_mom_sets_sum_exactly_and_validate(toy_data):
    splits = {s: set((toy_data / "data" / "splits" / f"{s}.spk").read_text().split())
              for s in ("train", "dev", "test")}
    assert not (splits["train"] & splits["dev"] or splits["train"] & splits["test"]
                or splits["dev"] & splits["test"])
    for name, size in (("train", 8), ("dev", 4)):
        data = toy_data / "data" / name
        assert validate(data, expected_fs=FS, expected_channels=1) == []
        mom, mix1, mix2 = (read_table(data / f) for f in ("wav.scp", "spk1.scp", "spk2.scp"))
        counts = read_table(data / "utt2num_sources")
        meta = read_meta(data / "meta.jsonl")
        assert len(mom) == size and set(mom) == set(mix1) == set(mix2) == set(counts)
        for key in mom:
            x, y1, y2 = read(mom[key]), read(mix1[key]), read(mix2[key])
            assert x.shape == (T,) and np.array_equal(x, y1 + y2)  # exact MoM
            assert np.abs(x).max() <= 0.9 and np.abs(y1).max() > 0 and np.abs(y2).max() > 0
            n1, n2 = map(int, counts[key].split())
            assert 1 <= n1 <= 3 and 1 <= n2 <= 3 and meta[key]["num_sources"] == [n1, n2]
            speakers = [[s["speaker"] for s in m] for m in meta[key]["mixtures"]]
            assert all(len(set(m)) == len(m) for m in speakers)  # distinct within a mixture
            assert {s for m in speakers for s in m} <= splits[name]
            utterances = [s["utterance"] for m in meta[key]["mixtures"] for s in m]
            assert len(set(utterances)) == len(utterances)


def test_test_set_has_balanced_counts_and_exact_sources(toy_data):
    data = toy_data / "data" / "test"
    assert validate(data, expected_fs=FS, expected_channels=1) == []
    mixtures = read_table(data / "wav.scp")
    counts = {k: int(v) for k, v in read_table(data / "utt2num_sources").items()}
    assert sorted(counts.values()) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    sources = {k: read_table(data / f"src{k}.scp") for k in (1, 2, 3)}
    for k in (1, 2, 3):
        assert set(sources[k]) == {key for key, n in counts.items() if n >= k}
    for key, path in mixtures.items():
        refs = [read(sources[k][key]) for k in range(1, counts[key] + 1)]
        assert np.array_equal(read(path), np.sum(refs, axis=0))
        assert all(np.sqrt(np.mean(r**2)) > 1e-3 for r in refs)


def test_supervised_views_hold_the_mom_mixtures_with_their_sources(toy_data):
    for name, size in (("train", 8), ("dev", 4)):
        mom_dir, data = toy_data / "data" / name, toy_data / "data" / f"{name}_sup"
        assert validate(data, expected_fs=FS, expected_channels=1) == []
        mixtures = read_table(data / "wav.scp")
        refs = {k: read_table(data / f"spk{k}.scp") for k in (1, 2, 3)}
        counts = {k: int(v) for k, v in read_table(data / "utt2num_sources").items()}
        mom_counts = read_table(mom_dir / "utt2num_sources")
        mom_mixtures = [read_table(mom_dir / f"spk{n}.scp") for n in (1, 2)]
        assert len(mixtures) == 2 * size
        assert all(set(refs[k]) == set(mixtures) for k in (1, 2, 3))  # every key, every ref
        for key, path in mixtures.items():
            mom_key, n = key.rsplit("_m", 1)
            assert counts[key] == int(mom_counts[mom_key].split()[int(n) - 1])
            mix = read(path)
            sources = [read(refs[k][key]) for k in (1, 2, 3)]
            assert np.array_equal(mix, np.sum(sources, axis=0))  # exact sum
            for k, src in enumerate(sources, 1):  # present sources, then silent padding
                assert (np.abs(src).max() > 0) == (k <= counts[key])
            # the same mixture as in the MoM example, up to its peak scaling
            same = read(mom_mixtures[int(n) - 1][mom_key])
            scale = np.dot(mix, same) / np.dot(same, same)
            assert np.abs(mix - scale * same).max() < 2e-4


def test_generation_is_deterministic_and_rerun_checks_options(toy_data, tmp_path):
    corpus = toy_data / "corpus"
    again = generate_mixit_data(corpus, tmp_path / "data", tmp_path / "wav", options=OPTIONS,
                                num_dev_speakers=3, num_test_speakers=3, **SIZES)
    for name in ("wav.scp", "src3.scp"):
        first = read_table(toy_data / "data" / "test" / name)
        second = read_table(again / "test" / name)
        assert first.keys() == second.keys()
        for key in first:
            assert np.array_equal(read(first[key]), read(second[key]))
    # same options: a no-op; other options: refused, data left as it was
    generate_mixit_data(corpus, again, tmp_path / "wav", options=OPTIONS, num_dev_speakers=3,
                        num_test_speakers=3, **SIZES)
    with pytest.raises(DataError, match="other options"):
        generate_mixit_data(corpus, again, tmp_path / "wav",
                            options=MixitOptions(fs=FS, segment=1.0, seed=6),
                            num_dev_speakers=3, num_test_speakers=3, **SIZES)


def test_float32_sums_are_exact_and_short_utterances_are_padded(tmp_path):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=8, utts=3, seconds=0.5)
    out = generate_mixit_data(corpus, tmp_path / "data", tmp_path / "wav", n_train=3, n_dev=0,
                              n_test=3, options=MixitOptions(fs=FS, segment=1.0,
                                                             dtype="float32"),
                              num_dev_speakers=2, num_test_speakers=3)
    assert not (out / "dev").exists()
    table = read_table(out / "train" / "wav.scp")
    for key, path in table.items():
        x = read(path)
        parts = [read(read_table(out / "train" / f"spk{i}.scp")[key]) for i in (1, 2)]
        assert sf.info(path).subtype == "FLOAT"
        np.testing.assert_allclose(x, parts[0] + parts[1], rtol=0, atol=6e-8)  # float32 ulp
        assert np.any(x == 0)  # 0.5 s utterances padded into 1 s segments


def test_crop_or_pad_positions():
    audio = np.arange(10.0)
    assert np.array_equal(mixit_data.crop_or_pad(audio, 4, 0.0), [0, 1, 2, 3])
    assert np.array_equal(mixit_data.crop_or_pad(audio, 4, 0.999), [6, 7, 8, 9])
    padded = mixit_data.crop_or_pad(audio[:2] + 1, 5, 0.999)
    assert np.array_equal(padded, [0, 0, 0, 1, 2])


def test_generator_bad_input(tmp_path, caplog):
    corpus = write_toy_corpus(tmp_path / "corpus", speakers=6, utts=2)
    with pytest.raises(DataError, match="split has 2 speakers .* --max_sources 3"):
        generate_mixit_data(corpus, tmp_path / "d1", tmp_path / "w1", n_train=2, n_dev=2,
                            n_test=2, options=OPTIONS)
    assert not (tmp_path / "d1").exists() and not (tmp_path / "w1").exists()
    with pytest.raises(DataError, match="min_sources <= --max_sources"):
        generate_mixit_data(corpus, tmp_path / "d2", options=MixitOptions(min_sources=3,
                                                                         max_sources=2))
    with pytest.raises(DataError, match="size of set dev must be >= 0"):
        generate_mixit_data(corpus, tmp_path / "d3", n_dev=-1, options=OPTIONS)
    # the only test speaker's only utterance is silent
    sf.write(corpus / "wav" / "p001" / "p001_001.wav", np.zeros(12000), 16000,
             subtype="PCM_16")
    (corpus / "wav" / "p001" / "p001_002.wav").unlink()
    (corpus / "splits").mkdir()
    for split, speakers in (("test", ["p001"]), ("dev", ["p002"]),
                            ("train", ["p003", "p004", "p005", "p006"])):
        (corpus / "splits" / f"{split}.spk").write_text("\n".join(speakers) + "\n")
    rc = mixit_data.main(["--corpus_dir", str(corpus), "--out_dir", str(tmp_path / "d4"),
                          "--n_train", "0", "--n_dev", "0", "--n_test", "2",
                          "--max_sources", "1", "--segment", "0.5"])
    assert rc == 1 and "silent" in caplog.text and "p001_001.wav" in caplog.text
    assert not (tmp_path / "d4" / "test").exists()


# ---- metrics ---------------------------------------------------------------------------------


def test_si_snr_matches_fast_bss_eval():
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((3, 2000))
    ests = refs[[2, 0, 1]] + 0.3 * rng.standard_normal((3, 2000))
    ours = pairwise_si_snr(refs, ests)
    for k, m in itertools.product(range(3), range(3)):
        expected = fast_bss_eval.si_sdr(refs[k:k + 1], ests[m:m + 1], zero_mean=True)
        assert ours[k, m] == pytest.approx(float(expected[0]), abs=1e-6)


def test_known_si_snri_and_optimal_assignment():
    s1, s2 = tone(200), tone(440)  # orthogonal, equal energy
    # estimate of s1 with s2 leaking at -20 dB; of s2 with s1 at -10 dB; two quiet outputs
    ests = np.stack([0.01 * tone(1000), s2 + 10 ** (-10 / 20) * s1, s1 + 0.1 * s2,
                     0.005 * tone(1500)])
    row = score_example(np.stack([s1, s2]), ests, s1 + s2)
    assert row["pit_index"] == [2, 1]
    assert row["si_snr"] == pytest.approx([20.0, 10.0], abs=1e-6)
    assert row["si_snr_mix"] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert row["si_snri"] == pytest.approx([20.0, 10.0], abs=1e-6)
    # outputs at -40 and -46 dB re the sources: inactive
    assert row["num_active"] == 2 and row["equal"] and not row["over"]


def test_activity_threshold_is_relative_to_the_quietest_source():
    loud, quiet = tone(200), tone(440, amplitude=0.1)  # quiet source at -20 dB
    refs = np.stack([loud, quiet])
    for level_db, active in ((-15.0, True), (-25.0, False)):
        # third output at level_db re the quiet source: -35 / -45 dB re the loud one
        extra = tone(1000, amplitude=0.1 * 10 ** (level_db / 20))
        row = score_example(refs, np.stack([loud, quiet, extra]), loud + quiet)
        assert row["num_active"] == (3 if active else 2)
        assert row["over"] == active


def test_over_separated_single_source_pit_vs_remix():
    half_a, half_b = tone(300), tone(700)
    source = half_a + half_b
    ests = np.stack([half_a, half_b, np.zeros(T), np.zeros(T)])
    row = score_example(source[None], ests, source)
    assert row["num_active"] == 2 and row["over"]
    assert row["si_snr"] == pytest.approx([0.0], abs=1e-6)  # one half against the whole
    assert row["remix_si_snr"] == pytest.approx([100.0])  # the halves sum to the source
    assert row["remix_groups"] == [0, 0, 0, 0]


def test_fuss_leaves_out_pairs_with_inactive_estimates():
    s1, s2 = tone(200), tone(440)
    under = score_example(np.stack([s1, s2]), np.stack([s1 + s2, np.zeros(T)]), s1 + s2)
    assert under["under"] and under["pit_active"].count(False) == 1
    good = score_example(np.stack([s1, s2]), np.stack([s2, s1 + 0.1 * s2]), s1 + s2)
    single = score_example(s1[None], np.stack([s1 + 0.1 * s2, 0.3 * s2]), s1)
    summary = summarize([under, good, single])
    assert summary["num_single"] == 1 and summary["num_multi"] == 2
    assert summary["inactive_pairs"] == 1
    # MSi over the active pairs: under's mixture output (SI-SNRi 0) and good's two pairs
    assert summary["msi"] == pytest.approx(np.mean([0.0, 100.0, 20.0]), abs=1e-6)
    assert summary["msi_all_pairs"] == pytest.approx(np.mean([0.0, -100.0, 100.0, 20.0]),
                                                     abs=1e-6)
    assert summary["one_source_si_snr"] == pytest.approx(20.0, abs=1e-6)
    assert summary["over_separation_single"] == 1.0  # 0.3 s2 (-10 dB) is active
    assert summary["over_separation_multi"] == 0.0
    assert summary["under_separation_multi"] == 0.5
    # n and standard errors of the reported means (results/summary.tsv)
    assert summary["msi_n"] == 3 and summary["msi_all_pairs_n"] == 4
    assert summary["msi_stderr"] == pytest.approx(
        np.std([0.0, 100.0, 20.0], ddof=1) / np.sqrt(3), abs=1e-6)
    assert summary["under_separation_multi_n"] == 2
    assert summary["under_separation_multi_stderr"] == pytest.approx(0.5, abs=1e-9)
    assert summary["one_source_si_snr_n"] == 1 and summary["one_source_si_snr_stderr"] is None


def test_remix_assignment_is_the_brute_force_optimum():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, 500))
    ests = np.stack([refs[0] * 0.6, refs[1] * 0.7, refs[0] * 0.4, refs[1] * 0.3]) \
        + 0.4 * rng.standard_normal((4, 500))
    groups, scores = remix_assignment(refs, ests)
    best = -np.inf
    for assignment in itertools.product(range(2), repeat=4):
        sums = np.stack([ests[np.array(assignment) == k].sum(axis=0) for k in range(2)])
        value = np.mean([pairwise_si_snr(refs[k:k + 1], sums[k:k + 1])[0, 0] for k in range(2)])
        if value > best:
            best, best_assignment, best_sums = value, assignment, sums
    assert tuple(groups) == best_assignment == (0, 1, 0, 1)
    assert scores.mean() == pytest.approx(best, abs=1e-9)
    assert scores[0] == pytest.approx(pairwise_si_snr(refs[:1], best_sums[:1])[0, 0], abs=1e-9)


def test_metric_bad_input():
    s = np.stack([tone(200), tone(440)])
    with pytest.raises(MetricInputError, match="2 references but only 1 estimates"):
        score_example(s, s[:1], s.sum(0), key="ex1")
    with pytest.raises(MetricInputError, match="ex2: reference source 2 is all zeros"):
        score_example(np.stack([tone(200), np.zeros(T)]), s, s.sum(0), key="ex2")
    with pytest.raises(MetricInputError, match="NaN"):
        score_example(s, np.full_like(s, np.nan), s.sum(0))
    with pytest.raises(MetricInputError, match="lengths differ"):
        score_example(s, s[:, :100], s.sum(0))
    with pytest.raises(MetricInputError, match="no examples"):
        summarize([])


# ---- scorer CLI and RESULTS.md ---------------------------------------------------------------


def write_estimates(test_dir: Path, out: Path, num_out: int, split_single: bool,
                    leak: float = 0.0) -> list[Path]:
    """Oracle outputs: the true sources (a single source split over two outputs if asked),
    plus ``leak`` times the mixture."""
    counts = {k: int(v) for k, v in read_table(test_dir / "utt2num_sources").items()}
    tables: list[dict[str, str]] = [{} for _ in range(num_out)]
    out.mkdir(parents=True)
    for key, count in counts.items():
        refs = [read(read_table(test_dir / f"src{k}.scp")[key]) for k in range(1, count + 1)]
        mix = np.sum(refs, axis=0)
        refs = [r + leak * mix for r in refs]
        if count == 1 and split_single:
            refs = [refs[0] * 0.5, refs[0] * 0.5]
        outputs = refs + [np.zeros(T)] * (num_out - len(refs))
        for m, signal in enumerate(outputs):
            path = out / f"{key}_{m}.wav"
            sf.write(path, signal, FS, subtype="FLOAT")
            tables[m][key] = str(path)
    scps = []
    for m, table in enumerate(tables, 1):
        scps.append(out / f"spk{m}.scp")
        scps[-1].write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)))
    return scps


def scorer_args(test_dir: Path, scps: list[Path], out_dir: Path) -> list[str]:
    args = ["--data_dir", str(test_dir), "--out_dir", str(out_dir)]
    for scp in scps:
        args += ["--inf_scp", str(scp)]
    return args


def test_scorer_cli_and_results_table(toy_data, tmp_path):
    test_dir = toy_data / "data" / "test"
    exp = tmp_path / "exp"
    model = exp / "enh_sparse_m4"
    scps = write_estimates(test_dir, model / "enhanced_test", 4, split_single=True)
    out = model / "enhanced_test" / "scoring"
    assert score_mixit.main(scorer_args(test_dir, scps, out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_single"] == 3 and summary["num_multi"] == 6
    assert summary["msi"] > 50 and summary["remix_msi"] > 50  # oracle outputs
    assert summary["over_separation_single"] == 1.0  # each single source in two outputs
    assert summary["over_separation_multi"] == 0.0 and summary["mean_active_multi"] == 2.5
    assert summary["one_source_si_snr"] == pytest.approx(100.0)  # 0.5 s is scale-invariant
    lines = (out / "per_example.tsv").read_text().splitlines()
    assert lines[0].startswith("utt\tnum_sources") and len(lines) == 10
    assert not list(out.glob(".*tmp"))

    config = {"separator_conf": {"num_spk": 4}, "criterions": [
        {"name": "snr", "wrapper": "mixit_efficient", "wrapper_conf": {"weight": 1.0}},
        {"name": "mixit_sparsity", "wrapper": "output_regularizer",
         "wrapper_conf": {"weight": 23.0}}]}
    (model / "config.yaml").write_text(yaml.safe_dump(config))
    results = tmp_path / "RESULTS.md"
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results)]) == 0
    text = results.read_text()
    assert "|sparse_m4|test|4|mixit_sparsity 23|3|6|100.00|" in text
    assert "|1.00|0.00|0.00|2.00/2.50|" in text
    assert "## Environments" in text
    (model / "family").write_text("mixit_sparse\n")
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results)]) == 0
    assert results.read_text().count("|mixit_sparse|") == 1
    notes = tmp_path / "notes.md"
    notes.write_text("## What was run\n\nprobes\n")
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results),
                                    "--notes", str(notes)]) == 0
    assert results.read_text().endswith("## What was run\n\nprobes\n")
    rows = {r.metric: r for r in read_summary(exp / "results" / "summary.tsv")}
    assert sorted(rows) == sorted(make_mixit_results.SUMMARY_METRICS)
    assert {(r.model, r.family, r.subset) for r in rows.values()} == {
        ("sparse_m4", "mixit_sparse", "test")}
    assert rows["os_rate_1s"].n == 3 and rows["os_rate_1s"].mean == 1.0
    assert rows["msi"].mean == pytest.approx(summary["msi"], abs=1e-4)
    assert rows["msi"].stderr == pytest.approx(summary["msi_stderr"], abs=1e-4)


def test_results_compare_with_the_supervised_model_and_sweep_sparsity(toy_data, tmp_path,
                                                                       capsys):
    test_dir = toy_data / "data" / "test"
    exp = tmp_path / "exp"
    models = {  # name: (family, sparsity weight, leak, split single sources, separator)
        "sup": ("supervised", None, 0.0, False, "rnn_softmax"),
        "plain": ("mixit", None, 0.3, True, "rnn_softmax"),
        "sparse6": ("mixit_sparse", 6.0, 0.1, False, "rnn_softmax"),
        "other": ("mixit", None, 0.0, False, "rnn")}  # another backbone: no reference
    for name, (family, weight, leak, split, separator) in models.items():
        model = exp / f"enh_{name}"
        scps = write_estimates(test_dir, model / "enhanced_test", 4, split, leak)
        assert score_mixit.main(scorer_args(test_dir, scps, model / "enhanced_test" /
                                            "scoring")) == 0
        criterions = [{"name": "si_snr", "wrapper": "mixit_efficient", "wrapper_conf": {}}]
        if weight is not None:
            criterions.append({"name": "mixit_sparsity", "wrapper": "output_regularizer",
                               "wrapper_conf": {"weight": weight}})
        (model / "config.yaml").write_text(yaml.safe_dump(
            {"separator": separator, "separator_conf": {"num_spk": 4},
             "criterions": criterions}))
        (model / "family").write_text(f"{family}\n")
    results = tmp_path / "RESULTS.md"
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results)]) == 0
    text = results.read_text()
    summaries = {n: json.loads((exp / f"enh_{n}/enhanced_test/scoring/summary.json").read_text())
                 for n in models}
    pairs = {n: make_mixit_results.read_pair_scores(exp / f"enh_{n}/enhanced_test/scoring")
             for n in models}
    assert len(pairs["sup"]) == 6  # the multi-source test mixtures
    n, mean, _ = make_mixit_results.paired_msi_difference(pairs["plain"], pairs["sup"])
    by_hand = [np.mean(np.subtract(pairs["plain"][u], pairs["sup"][u])) for u in pairs["sup"]]
    assert n == 6 and mean == pytest.approx(np.mean(by_hand)) and mean < -5
    ratio = round(100 * summaries["plain"]["msi"] / summaries["sup"]["msi"])
    assert (f"|plain|test|4|{summaries['plain']['msi']:.2f}|sup|{summaries['sup']['msi']:.2f}|"
            f"{ratio} %|{mean:+.2f} ± ") in text
    against = text.split("## Against the supervised reference")[1].split("##")[0]
    assert "\n|sup|test" not in against and "\n|other|test|4|" in against
    sweep = text.split("## Sparsity sweep")[1]
    assert "|rnn|4|0|other|" in sweep and "|rnn_softmax|4|0|plain|" in sweep
    sparse_row = sweep.split("|rnn_softmax|4|6|sparse6|")[1].split("\n")[0].split("|")
    # columns after the model: MSi, paired diff, 1S, OS 1S, OS 1S / weight 0 (0 / 1), ...
    assert sparse_row[3] == "0.00" and sparse_row[4] == "0.00"
    assert sparse_row[1].startswith("+")  # less leakage than the weight-0 model
    # a malformed or missing per-example table is named
    table = exp / "enh_plain/enhanced_test/scoring/per_example.tsv"
    table.write_text(table.read_text().replace("\t2\t", "\ttwo\t", 1))
    capsys.readouterr()
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results)]) == 1
    assert f"{table}:" in capsys.readouterr().err
    table.unlink()
    assert make_mixit_results.main(["--expdir", str(exp), "--out", str(results)]) == 1
    assert f"{table}: cannot read" in capsys.readouterr().err


def test_scorer_bad_input(toy_data, tmp_path, caplog):
    test_dir = toy_data / "data" / "test"
    scps = write_estimates(test_dir, tmp_path / "est", 3, split_single=False)
    # an output list without one key
    lines = scps[1].read_text().splitlines()
    broken = tmp_path / "broken.scp"
    broken.write_text("\n".join(lines[1:]) + "\n")
    missing_key = lines[0].split()[0]
    assert score_mixit.main(scorer_args(test_dir, [scps[0], broken, scps[2]],
                                        tmp_path / "o1")) == 1
    assert f"{broken}: lacks 1 keys" in caplog.text and missing_key in caplog.text
    assert not (tmp_path / "o1").exists()
    # fewer outputs than sources
    caplog.clear()
    assert score_mixit.main(scorer_args(test_dir, scps[:2], tmp_path / "o2")) == 1
    assert "3 references but only 2 estimates" in caplog.text
    # a MoM training dir is not a test dir
    caplog.clear()
    assert score_mixit.main(scorer_args(toy_data / "data" / "train", scps,
                                        tmp_path / "o3")) == 1
    assert "not a source count" in caplog.text
    # missing scp file
    caplog.clear()
    assert score_mixit.main(scorer_args(test_dir, [tmp_path / "nope.scp"], tmp_path / "o4")) == 1
    assert "missing scp file" in caplog.text
    # no summaries / a summary that is not score_mixit's
    assert make_mixit_results.main(["--expdir", str(tmp_path), "--out",
                                    str(tmp_path / "R.md")]) == 1
    bad = tmp_path / "enh_x" / "enhanced_test" / "scoring" / "summary.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"metric_set": "fuss", "msi": 1.0}))
    assert make_mixit_results.main(["--expdir", str(tmp_path), "--out",
                                    str(tmp_path / "R.md")]) == 1
    assert not (tmp_path / "R.md").exists()
