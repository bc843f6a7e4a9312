"""Recipe tools: training lists, channel selection, scoring, RESULTS.md, FEABASE swaps."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.bin import make_results, score_separation, select_channel
from sepplug.datadir.kaldi_dir import read_table, write_table
from sepplug.enh.preprocessor.feabase import FeabasePreprocessor
from sepplug.recipes.spatialvctk import make_train_list
from sepplug.results.summary import (
    format_mean_se,
    format_summary,
    read_summary,
    row_from_values,
    write_summary,
)
from sepplug.utils.scoring import score_utterance

FS = 8000


def make_dir(root: Path, name: str, cats: dict[str, str], channels: int = 3,
             seed: int = 0, suffix: str = "") -> Path:
    """A small SpatialVCTK-like data dir: mixture = spk1_mc + spk2_mc."""
    rng = np.random.default_rng(seed)
    d = root / name
    (d / "wav").mkdir(parents=True)
    tables: dict[str, dict[str, str]] = {f: {} for f in
                                          ("wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp",
                                           "spk2_mc.scp", "utt2spk", "utt2category")}
    for utt, cat in cats.items():
        key = utt + suffix
        srcs = [rng.standard_normal((FS // 2, channels)).astype(np.float32) * 0.1
                for _ in range(2)]
        paths = {}
        for i, s in enumerate(srcs, 1):
            paths[f"spk{i}_mc"] = d / "wav" / f"{key}_s{i}_mc.wav"
            paths[f"spk{i}"] = d / "wav" / f"{key}_s{i}.wav"
            sf.write(paths[f"spk{i}_mc"], s, FS, subtype="FLOAT")
            sf.write(paths[f"spk{i}"], s[:, 0], FS, subtype="FLOAT")
        paths["mix"] = d / "wav" / f"{key}_mix.wav"
        sf.write(paths["mix"], srcs[0] + srcs[1], FS, subtype="FLOAT")
        tables["wav.scp"][key] = str(paths["mix"])
        for i in (1, 2):
            tables[f"spk{i}.scp"][key] = str(paths[f"spk{i}"])
            tables[f"spk{i}_mc.scp"][key] = str(paths[f"spk{i}_mc"])
        tables["utt2spk"][key] = key
        tables["utt2category"][key] = cat
    for f, t in tables.items():
        write_table(d / f, t)
    return d


CATS = {"u1": "easy", "u2": "hard", "u3": "both", "u4": "both"}


def test_oracle_reweighting_replicates_by_category(tmp_path):
    src = make_dir(tmp_path, "train", CATS)
    out = tmp_path / "train_re"
    assert make_train_list.main(["--in_dir", str(src), "--out_dir", str(out),
                                 "--weights", "easy=1,hard=3,both=0"]) == 0
    keys = sorted(read_table(out / "wav.scp"))
    assert keys == ["u1", "u2", "u2-r1", "u2-r2"]
    assert read_table(out / "utt2category")["u2-r2"] == "hard"
    assert read_table(out / "wav.scp")["u2-r1"] == read_table(src / "wav.scp")["u2"]
    assert read_table(out / "spk2utt")["u2-r1"] == "u2-r1"


def test_oracle_data_union_and_bad_weights(tmp_path, capsys):
    a = make_dir(tmp_path, "train", CATS)
    b = make_dir(tmp_path, "extra", {"x1": "hard", "x2": "hard"}, seed=1)
    out = tmp_path / "union"
    assert make_train_list.main(["--in_dir", str(a), "--in_dir", str(b),
                                 "--out_dir", str(out)]) == 0
    assert len(read_table(out / "wav.scp")) == 6
    assert make_train_list.main(["--in_dir", str(a), "--in_dir", str(a),
                                 "--out_dir", str(tmp_path / "dup")]) == 1
    assert "already in another --in_dir" in capsys.readouterr().err
    assert not (tmp_path / "dup").exists()
    assert make_train_list.main(["--in_dir", str(a), "--out_dir", str(tmp_path / "w"),
                                 "--weights", "easy=1,hard=2"]) == 1
    assert "must give all of" in capsys.readouterr().err


def test_oracle_data_extra_limit_takes_a_seeded_subset_of_the_extra(tmp_path, capsys):
    a = make_dir(tmp_path, "train", CATS)
    b = make_dir(tmp_path, "extra", {f"x{i}": "hard" for i in range(5)}, seed=1)
    args = ["--in_dir", str(a), "--in_dir", str(b), "--extra_limit", "2"]
    assert make_train_list.main([*args, "--out_dir", str(tmp_path / "o1")]) == 0
    assert make_train_list.main([*args, "--out_dir", str(tmp_path / "o2")]) == 0
    keys = sorted(read_table(tmp_path / "o1" / "wav.scp"))
    assert len(keys) == len(CATS) + 2 and set(CATS) < set(keys)  # train whole, 2 extra
    assert keys == sorted(read_table(tmp_path / "o2" / "wav.scp"))  # deterministic
    assert sorted(read_table(tmp_path / "o1" / "spk2utt")) == sorted(
        read_table(tmp_path / "o1" / "utt2spk"))
    assert make_train_list.main([*args[:4], "--extra_limit", "6",
                                 "--out_dir", str(tmp_path / "o3")]) == 1
    assert "--extra_limit 6 but it has 5 utterances" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


def test_select_channel_keeps_the_requested_mic(tmp_path, capsys):
    src = make_dir(tmp_path, "test", CATS, channels=3)
    out = tmp_path / "test_ch2"
    assert select_channel.main(["--in_dir", str(src), "--out_dir", str(out),
                                "--channel", "2"]) == 0
    mix, _ = sf.read(read_table(src / "wav.scp")["u3"], dtype="float32")
    ch2, _ = sf.read(read_table(out / "wav.scp")["u3"], dtype="float32")
    np.testing.assert_array_equal(ch2, mix[:, 2])
    assert (out / "utt2category").read_text() == (src / "utt2category").read_text()
    assert select_channel.main(["--in_dir", str(src), "--out_dir", str(tmp_path / "bad"),
                                "--channel", "5"]) == 1
    assert "has 3 channels, channel 5 requested" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_score_utterance_known_values():
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((2, 4000))
    mix = refs.sum(0)
    # Perfect estimates, swapped: the permutation is found, SI-SDR is very high.
    perfect = score_utterance(refs, refs[::-1].copy(), mix)
    assert perfect["si_sdr"] > 80
    # Estimates = ref + noise at 10 dB: SI-SDR close to 10 dB.
    noise = rng.standard_normal((2, 4000)) * np.sqrt(0.1)
    noisy = score_utterance(refs, refs + noise, mix)
    assert 9.0 < noisy["si_sdr"] < 11.0
    # Mixture of two equal-power sources: about 0 dB, so SI-SDRi = SI-SDR - ~0.
    assert abs(noisy["si_sdr_mix"]) < 1.0
    assert noisy["si_sdri"] == pytest.approx(noisy["si_sdr"] - noisy["si_sdr_mix"])
    with pytest.raises(ValueError, match="u9: 2 references but 3 estimates"):
        score_utterance(refs, np.zeros((3, 4000)), mix, key="u9")


def test_scoring_cli_and_results_table(tmp_path):
    data = make_dir(tmp_path, "test_hard", {"u1": "hard", "u2": "hard"})
    exp = tmp_path / "exp" / "enh_toy" / "enhanced_test_hard"
    exp.mkdir(parents=True)
    # "Separated" outputs: the mixture's reference channel for both sources (no separation).
    for i in (1, 2):
        scp = {}
        for utt, path in read_table(data / "wav.scp").items():
            mix, fs = sf.read(path, dtype="float32")
            out = exp / f"{utt}_{i}.wav"
            sf.write(out, mix[:, 0], fs, subtype="FLOAT")
            scp[utt] = str(out)
        write_table(exp / f"spk{i}.scp", scp)
    rc = score_separation.main([
        "--ref_scp", str(data / "spk1.scp"), "--ref_scp", str(data / "spk2.scp"),
        "--inf_scp", str(exp / "spk1.scp"), "--inf_scp", str(exp / "spk2.scp"),
        "--mix_scp", str(data / "wav.scp"), "--out_dir", str(exp / "scoring")])
    assert rc == 0
    summary = json.loads((exp / "scoring" / "summary.json").read_text())
    assert summary["num_utts"] == 2
    assert abs(summary["si_sdri_mean"]) < 1e-6  # the mixture itself improves nothing
    # --data_dir (enh.sh's interface) stands for the same mixture and references.
    assert score_separation.main([
        "--data_dir", str(data), "--inf_scp", str(exp / "spk1.scp"),
        "--inf_scp", str(exp / "spk2.scp"), "--out_dir", str(tmp_path / "scoring2")]) == 0
    assert ((tmp_path / "scoring2" / "per_utt.tsv").read_text()
            == (exp / "scoring" / "per_utt.tsv").read_text())
    (exp.parent / "family").write_text("erm\n")
    out_md = tmp_path / "exp" / "RESULTS.md"
    png = tmp_path / "exp" / "bars.png"
    assert make_results.main(["--expdir", str(tmp_path / "exp"), "--out", str(out_md),
                              "--plot", str(png)]) == 0
    text = out_md.read_text()
    assert "|toy|test_hard|2|" in text and text.count("|erm|") == 1
    assert png.stat().st_size > 1000
    # Results as data, from the same per-utterance numbers as the table.
    rows = {r.metric: r for r in read_summary(tmp_path / "exp" / "results" / "summary.tsv")}
    assert sorted(rows) == ["sdr", "sdri", "si_sdr", "si_sdri"]
    per_utt = np.loadtxt(exp / "scoring" / "per_utt.tsv", skiprows=1, usecols=1)
    si_sdr = per_utt
    assert rows["si_sdr"].model == "toy" and rows["si_sdr"].family == "erm"
    assert rows["si_sdr"].subset == "test_hard" and rows["si_sdr"].n == 2
    assert rows["si_sdr"].mean == pytest.approx(si_sdr.mean(), abs=1e-4)
    assert rows["si_sdr"].stderr == pytest.approx(si_sdr.std(ddof=1) / np.sqrt(2), abs=1e-4)
    assert f"|{si_sdr.mean():.2f}|" in text


def test_summary_tsv_round_trip_and_bad_files(tmp_path):
    rows = [row_from_values("m", "erm", "test", "si_sdri", [1.0, 2.0, 4.0]),
            row_from_values("m", "erm", "test", "sdr", [3.0]),
            row_from_values("m", "erm", "test", "msi", [])]
    path = tmp_path / "results" / "summary.tsv"
    write_summary(path, rows)
    assert path.read_text().splitlines()[0] == "model\tfamily\tsubset\tmetric\tn\tmean\tstderr"
    back = read_summary(path)
    assert back[0].n == 3 and back[0].mean == pytest.approx(7 / 3, abs=1e-4)
    assert back[0].stderr == pytest.approx(np.std([1, 2, 4], ddof=1) / np.sqrt(3), abs=1e-4)
    assert np.isnan(back[1].stderr) and back[2].n == 0 and np.isnan(back[2].mean)
    path.write_text("model\tmean\n")
    with pytest.raises(ValueError, match="summary.tsv:1: header"):
        read_summary(path)
    path.write_text(format_summary(rows[:1]) + "m\term\ttest\n")
    with pytest.raises(ValueError, match="summary.tsv:3: 3 fields"):
        read_summary(path)


def test_feabase_swaps_the_requested_share(tmp_path):
    train = make_dir(tmp_path, "train", {f"u{i}": "both" if i % 2 else "easy"
                                         for i in range(200)})
    fs_dir = make_dir(tmp_path, "train_fs", {f"u{i}": "fs" for i in range(200) if i % 2},
                      seed=5, suffix="_fs")
    args = argparse.Namespace(
        preprocessor_conf={"fs_dir": str(fs_dir), "p": 0.25, "seed": 1},
        train_data_path_and_name_and_type=[(str(train / "wav.scp"), "speech_mix", "sound")],
        separator_conf={"num_spk": 2},
    )
    pre = FeabasePreprocessor.from_task_args(args, train=True)
    assert pre.rate == pytest.approx(0.5)  # half of train is transformable
    mixes = read_table(train / "wav.scp")
    swapped = 0
    for utt, path in mixes.items():
        mix, _ = sf.read(path, dtype="float32")
        ref1, _ = sf.read(read_table(train / "spk1.scp")[utt], dtype="float32")
        out = pre(utt, {"speech_mix": mix, "speech_ref1": ref1, "speech_ref2": ref1})
        if not np.array_equal(out["speech_mix"], mix):
            swapped += 1
            fs_mix, _ = sf.read(read_table(fs_dir / "wav.scp")[utt + "_fs"], dtype="float32")
            np.testing.assert_array_equal(out["speech_mix"], fs_mix)
            assert int(utt[1:]) % 2 == 1
    assert 30 <= swapped <= 70  # 200 * 0.25 = 50 expected
    valid = FeabasePreprocessor.from_task_args(args, train=False)
    mix, _ = sf.read(mixes["u1"], dtype="float32")
    assert valid("u1", {"speech_mix": mix})["speech_mix"] is mix


def test_feabase_bad_config(tmp_path):
    fs_dir = make_dir(tmp_path, "train_fs", {"u1": "fs"}, suffix="_fs")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        FeabasePreprocessor(train=True, fs_dir=str(fs_dir), p=1.5)
    with pytest.raises(FileNotFoundError, match="spk2.scp not found"):
        (fs_dir / "spk2.scp").unlink()
        FeabasePreprocessor(train=True, fs_dir=str(fs_dir), p=0.5)


def test_pareto_front_and_plot(tmp_path):
    from sepplug.recipes.spatialvctk import plot_pareto

    pts = [{"tag": t, "family": "erm", "easy": e, "hard": h}
           for t, e, h in [("a", 1.0, 5.0), ("b", 3.0, 3.0), ("c", 2.0, 2.0), ("d", 5.0, 1.0)]]
    assert [p["tag"] for p in plot_pareto.pareto_front(pts)] == ["a", "b", "d"]
    assert plot_pareto.family_of("mc_feabase_p0.5") == "feabase"
    assert plot_pareto.family_of("mc_oracle_re_easy_1_hard_4") == "oracle_re"
    assert plot_pareto.family_of("mc_erm") == "erm"
    re_point = {"tag": "mc_oracle_re_hard_4", "family": "oracle_re"}
    assert plot_pareto.point_label(re_point) == "hard_4"
    assert plot_pareto.point_label({"tag": "mc_1ch", "family": "erm"}) == "erm"
    for tag, easy, hard in [("mc_erm", 3.0, 0.5), ("mc_feabase_p0.5", 2.5, 2.0),
                            ("other_erm", 0.0, 1.0)]:
        for subset, value in (("test_easy", easy), ("test_hard", hard)):
            d = tmp_path / "exp" / f"enh_{tag}" / f"enhanced_{subset}" / "scoring"
            d.mkdir(parents=True)
            (d / "summary.json").write_text(json.dumps({"si_sdri_mean": value}))
    # per-utterance scores of one point: values 1, 3 -> standard error 1
    (tmp_path / "exp" / "enh_mc_erm" / "enhanced_test_hard" / "scoring" / "per_utt.tsv"
     ).write_text("utt\tsi_sdr\tsi_sdri\na\t0\t1\nb\t0\t3\n")
    png, md = tmp_path / "p.png", tmp_path / "p.md"
    assert plot_pareto.main(["--expdir", str(tmp_path / "exp"), "--out", str(png),
                             "--table", str(md), "--include", "mc_*"]) == 0
    assert png.stat().st_size > 1000
    assert "|mc_feabase_p0.5|feabase|2.50|2.00|" in md.read_text()
    assert "|mc_erm|erm|3.00|0.50 ± 1.00|" in md.read_text()
    assert "other_erm" not in md.read_text()
    assert plot_pareto.main(["--expdir", str(tmp_path / "exp"), "--out", str(png),
                             "--table", str(md), "--exclude", "*feabase*"]) == 0
    assert "other_erm" in md.read_text() and "feabase" not in md.read_text()
    def baseline_table() -> list[str]:
        assert plot_pareto.main(["--expdir", str(tmp_path / "exp"), "--out", str(png),
                                 "--table", str(md), "--include", "mc_*",
                                 "--baseline", "mc_erm"]) == 0
        return md.read_text().splitlines()

    # paired differences to a baseline, over the utterances both scored: (3-1, 6-3) -> 2.5 ± 0.5
    (tmp_path / "exp" / "enh_mc_feabase_p0.5" / "enhanced_test_hard" / "scoring" / "per_utt.tsv"
     ).write_text("utt\tsi_sdr\tsi_sdri\na\t0\t3\nb\t0\t6\nc\t0\t9\n")
    rows = baseline_table()
    assert rows[0].endswith("|Δ easy vs mc_erm|Δ hard vs mc_erm|")
    assert "|mc_feabase_p0.5|feabase|2.50|2.00 ± 1.73|n/a|+2.50 ± 0.50|" in rows
    # with an oracle_data run above the baseline on hard: each run's share of that gap
    # (oracle data: (6-1, 8-3) -> +5.0; FEABASE: +2.5 -> 0.50)
    for subset, value in (("test_easy", 2.0), ("test_hard", 5.5)):
        d = tmp_path / "exp" / "enh_mc_oracle_data" / f"enhanced_{subset}" / "scoring"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({"si_sdri_mean": value}))
    (d / "per_utt.tsv").write_text("utt\tsi_sdr\tsi_sdri\na\t0\t6\nb\t0\t8\n")
    rows = baseline_table()
    assert rows[0].endswith("|Δ hard vs mc_erm|share of the oracle-data gap (hard)|")
    assert "|mc_feabase_p0.5|feabase|2.50|2.00 ± 1.73|n/a|+2.50 ± 0.50|0.50|" in rows
    assert any(r.startswith("|mc_oracle_data|") and r.endswith("|1.00|") for r in rows)
    assert plot_pareto.main(["--expdir", str(tmp_path / "none"), "--out", str(png)]) == 1


def test_fs_table2_reads_both_test_sets_and_names_what_is_missing(tmp_path, capsys):
    from sepplug.recipes.spatialvctk import fs_table2

    for tag, orig, fs in [("spatial", 8.0, 1.5), ("timbre", 3.0, 2.75)]:
        for subset, value in (("test_both", orig), ("test_both_fs", fs)):
            d = tmp_path / "exp" / f"enh_{tag}" / f"enhanced_{subset}" / "scoring"
            d.mkdir(parents=True)
            (d / "summary.json").write_text(json.dumps({"si_sdri_mean": value, "num_utts": 4}))
    out = tmp_path / "t.md"
    args = ["--expdir", str(tmp_path / "exp"), "--model", "spatial=spatial-only",
            "--model", "timbre=timbre-only", "--out", str(out)]
    assert fs_table2.main(args) == 0
    text = out.read_text()
    assert "|spatial-only|8.00|1.50|-6.50|4|" in text
    assert "|timbre-only|3.00|2.75|-0.25|4|" in text
    assert fs_table2.main([*args[:2], "--model", "nothere=x"]) == 1
    err = capsys.readouterr().err
    assert "enh_nothere/enhanced_test_both/scoring/summary.json not found" in err
    assert fs_table2.main([*args[:2], "--model", "spatial"]) == 1
    assert "expected TAG=LABEL" in capsys.readouterr().err


def test_format_mean_se_cells():
    """The one formatter of every results table's ``mean ± s.e.`` cells."""
    assert format_mean_se(4.356, 0.2249) == "4.36 ± 0.22"
    assert format_mean_se(-0.27, 0.09, fmt="+.2f") == "-0.27 ± 0.09"
    assert format_mean_se(0.22, 0.26, fmt="+.2f") == "+0.22 ± 0.26"
    assert format_mean_se(1.5, math.nan) == "1.50"          # one value: no standard error
    assert format_mean_se(math.nan, math.nan) == "n/a"
    assert format_mean_se(math.nan, 0.1, missing="-") == "-"
