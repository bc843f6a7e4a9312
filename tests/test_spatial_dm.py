"""On-the-fly spatial mixing: RIR bank, sampling policy, mixing, the spatial_dm preprocessor.

A tiny bank (2 rooms x 6 positions, image-source order 2, 8 kHz) and a toy corpus of
noise bursts (4 speakers x 3 utterances, 3 of them in the train split) keep every test
fast. Throughput is a benchmark (``sepplug bench spatial_dm``), not a test.
"""

from __future__ import annotations

import shutil
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from sepplug.enh.preprocessor.spatial_dm import SpatialDMPreprocessor, install_epoch_hook
from sepplug.errors import DataError
from sepplug.mixing.dry_sources import build_source_list, load_source_list
from sepplug.mixing.rir_bank import RirBank, generate_rir_bank
from sepplug.mixing.sampling_policy import SamplingPolicy
from sepplug.mixing.spatial_mix import rotate_channels
from sepplug.simulate.room import SceneConfig, angle_difference, convolve_rirs, simulate_images
from tests.data_fixtures import write_toy_corpus

FS = 8000
SEGMENT = 0.5
N = int(SEGMENT * FS)
TRAIN_SPEAKERS = ["p001", "p002", "p003"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("spatial_dm")
    corpus = write_toy_corpus(root / "corpus", speakers=4, utts=3, fs=16000, seconds=1.0)
    (corpus / "splits").mkdir()
    (corpus / "splits" / "train.spk").write_text("\n".join(TRAIN_SPEAKERS) + "\n")
    dry = build_source_list(corpus, root / "dry")
    bank = generate_rir_bank(root / "bank", fs=FS, n_rooms=2, positions_per_room=6, seed=1,
                             config=SceneConfig(max_order=2))
    return SimpleNamespace(root=root, corpus=corpus, dry=dry, bank=bank)


def make(world, train: bool = True, **conf) -> SpatialDMPreprocessor:
    conf = {"rir_bank": str(world.bank), "source_scp": str(world.dry / "wav.scp"),
            "segment": SEGMENT, **conf}
    return SpatialDMPreprocessor(train=train, **conf)


def batch(channels: int = 6, mc_refs: bool = False) -> dict[str, np.ndarray]:
    """What ESPnet loads for a stored training mixture (replaced in training)."""
    rng = np.random.default_rng(9)
    ref_shape = (N, channels) if mc_refs else (N,)
    return {"speech_mix": rng.uniform(-0.1, 0.1, (N, channels)).astype(np.float32),
            "speech_ref1": rng.uniform(-0.1, 0.1, ref_shape).astype(np.float32),
            "speech_ref2": rng.uniform(-0.1, 0.1, ref_shape).astype(np.float32)}


def bound_policy(world, **kwargs) -> SamplingPolicy:
    spk2utt, _ = load_source_list(world.dry / "wav.scp")
    bank = RirBank.load(world.bank)
    return SamplingPolicy(**kwargs).bind(spk2utt, bank.azimuths)


# ---- RIR bank ------------------------------------------------------------------------------


def test_bank_layout_rerun_and_simulator_equivalence(world):
    bank = RirBank.load(world.bank, fs=FS, num_mics=6)
    assert len(bank.rooms) == 2 and all(len(a) == 6 for a in bank.azimuths)
    assert bank.rirs(0, 0).shape[0] == 6 and bank.rirs(0, 0).dtype == np.float32
    # rerun with the same options is a no-op; other options are refused
    assert generate_rir_bank(world.bank, fs=FS, n_rooms=2, positions_per_room=6, seed=1,
                             config=SceneConfig(max_order=2)) == world.bank
    with pytest.raises(DataError, match="other options"):
        generate_rir_bank(world.bank, fs=FS, n_rooms=2, positions_per_room=6, seed=2,
                          config=SceneConfig(max_order=2))
    # convolving with stored RIRs == the simulator's images of the same two positions
    room = bank.rooms[1]
    scene = {"room": {"dims": room["dims"], "absorption": room["absorption"],
                      "max_order": room["max_order"]},
             "array": room["array"], "sources": [room["sources"][4], room["sources"][1]]}
    dry = np.random.default_rng(0).standard_normal((2, 3000))
    expected = simulate_images(scene, dry, FS)
    got = convolve_rirs(dry, [[bank.rirs(1, 4)[m], bank.rirs(1, 1)[m]] for m in range(6)])
    np.testing.assert_allclose(got, expected, atol=1e-6 * np.abs(expected).max())


def test_bad_banks_are_refused_naming_the_file(world, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        RirBank.load(tmp_path / "nothing")
    with pytest.raises(DataError, match="at 8000 Hz, the data at 16000"):
        RirBank.load(world.bank, fs=16000)
    with pytest.raises(DataError, match="6 mics, the data 4 channels"):
        RirBank.load(world.bank, num_mics=4)
    broken = tmp_path / "bank"
    shutil.copytree(world.bank, broken)
    (broken / "rirs" / "room_000001.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="room_000001.npy"):
        RirBank.load(broken)
    np.save(broken / "rirs" / "room_000001.npy", np.zeros((6, 4, 100), np.float32))
    with pytest.raises(DataError, match=r"room_000001.npy holds float32 \(6, 4, 100\)"):
        RirBank.load(broken)
    (broken / "meta.jsonl").unlink()
    with pytest.raises(DataError, match="meta.jsonl missing"):
        RirBank.load(broken)
    with pytest.raises(DataError, match="at 8000 Hz"):
        make(world, fs=16000)


# ---- sampling policy -----------------------------------------------------------------------


def test_policy_hits_proportions_and_rules(world):
    bank = RirBank.load(world.bank)
    rng = np.random.default_rng(0)
    for kwargs, target in [
        ({"subset_probs": {"easy": 0.4, "hard": 0.05, "both": 0.55}}, (0.4, 0.05, 0.55)),
        ({"subset_probs": {"easy": 0.4, "hard": 0.2, "both": 0.4},
          "category_weights": {"hard": 2.0}}, (1 / 3, 1 / 3, 1 / 3)),
    ]:
        policy = bound_policy(world, **kwargs)
        draws = [policy.draw(rng) for _ in range(3000)]
        counts = Counter(d.category for d in draws)
        for category, share in zip(("easy", "hard", "both"), target, strict=True):
            assert abs(counts[category] / 3000 - share) < 0.03, (kwargs, counts)
        for d in draws:
            angle = angle_difference(bank.azimuths[d.room][d.pos_a], bank.azimuths[d.room][d.pos_b])
            assert d.pos_a != d.pos_b and abs(angle - d.angle) < 1e-9
            assert d.spk_a in TRAIN_SPEAKERS and d.spk_b in TRAIN_SPEAKERS
            assert d.utt_a.startswith(d.spk_a) and d.utt_b.startswith(d.spk_b)
            if d.category == "easy":
                assert d.spk_a == d.spk_b and d.utt_a != d.utt_b and angle >= 20
            elif d.category == "hard":
                assert d.spk_a != d.spk_b and angle < 20
            else:
                assert d.spk_a != d.spk_b and angle >= 20


def test_pair_weights_raise_a_pair(world):
    rng = np.random.default_rng(1)
    policy = bound_policy(world, subset_probs={"both": 0.5, "easy": 0.5},
                          pair_weights={"p001,p002": 4.0, ("p003", "p003"): 0.0})
    draws = [policy.draw(rng) for _ in range(2000)]
    pairs = Counter(frozenset((d.spk_a, d.spk_b)) for d in draws if d.category == "both")
    share = pairs[frozenset(("p001", "p002"))] / sum(pairs.values())
    assert abs(share - 4 / 6) < 0.05  # weights 4, 1, 1 over the three pairs
    assert not [d for d in draws if d.category == "easy" and d.spk_a == "p003"]
    policy.set_pair_weights(np.ones((3, 3)))  # array form, e.g. from a mining step
    assert np.all(policy.pair_weights == 1)


def test_policy_and_speaker_lists_refuse_bad_input(world, tmp_path):
    with pytest.raises(ValueError, match="unknown categories.*medium"):
        SamplingPolicy({"easy": 0.5, "medium": 0.5})
    with pytest.raises(ValueError, match="sum to 1"):
        SamplingPolicy({"easy": 0.5, "hard": 0.4})
    spk2utt = {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    with pytest.raises(DataError, match="bank.x: room 0 has no position pair < 20°"):
        SamplingPolicy({"hard": 1.0}).bind(spk2utt, [[0.0, 90.0, 180.0]], bank_source="bank.x")
    with pytest.raises(DataError, match="list.scp: speaker b has 1 utterance.*easy"):
        SamplingPolicy({"easy": 1.0}).bind({"a": ["a1", "a2"], "b": ["b1"]}, [[0.0, 90.0]],
                                           speakers_source="list.scp")
    with pytest.raises(DataError, match="'p001,p999'"):
        bound_policy(world, subset_probs={"both": 1.0}, pair_weights={"p001,p999": 2.0})
    # speaker lists: unknown speakers, keys missing from a file, single-utterance speakers
    spk_file = tmp_path / "bad.spk"
    spk_file.write_text("p001\np999\n")
    with pytest.raises(DataError, match=r"bad.spk: speaker\(s\) \['p999'\]"):
        build_source_list(world.corpus, tmp_path / "x", speakers_file=spk_file)
    with pytest.raises(DataError, match=r"bad.spk: speaker p999 has no utterance"):
        load_source_list(world.dry / "wav.scp", speakers=spk_file)
    lines = (world.dry / "wav.scp").read_text().splitlines()
    (tmp_path / "wav.scp").write_text("\n".join(lines[:-1]) + "\n")  # drops p003_003
    shutil.copy(world.dry / "utt2spk", tmp_path / "utt2spk")
    with pytest.raises(DataError, match="utt2spk: utterance p003_003 is not in .*wav.scp"):
        load_source_list(tmp_path / "wav.scp")
    single = [line for line in lines if not line.startswith(("p003_001", "p003_002"))]
    (tmp_path / "wav.scp").write_text("\n".join(single) + "\n")
    (tmp_path / "utt2spk").write_text("".join(f"{line.split()[0]} {line[:4]}\n"
                                              for line in single))
    with pytest.raises(DataError, match="wav.scp: speaker p003 has 1 utterance"):
        make(world, source_scp=str(tmp_path / "wav.scp"))


# ---- mixing and the preprocessor -----------------------------------------------------------


def test_same_seed_same_mixture_and_epochs_differ(world):
    one, two = make(world, seed=5), make(world, seed=5)
    one.set_epoch(1)
    two.set_epoch(1)
    a, b = one("train_000001", batch()), two("train_000001", batch())
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    again = one("train_000001", batch())  # second visit within the epoch: a new mixture
    assert not np.array_equal(again["speech_mix"], a["speech_mix"])
    one.set_epoch(2)
    assert not np.array_equal(one("train_000001", batch())["speech_mix"], a["speech_mix"])
    one.set_epoch(1)  # e.g. a resumed run
    np.testing.assert_array_equal(one("train_000001", batch())["speech_mix"], a["speech_mix"])
    other_seed = make(world, seed=6)
    other_seed.set_epoch(1)
    assert not np.array_equal(other_seed("train_000001", batch())["speech_mix"],
                              a["speech_mix"])
    # without set_epoch the epoch is the uid's visit count
    counting = make(world, seed=5)
    for epoch in (1, 2):
        np.testing.assert_array_equal(counting("u", batch())["speech_mix"],
                                      counting.mixture("u", epoch, 0, N).mix)


def test_mixture_is_the_sum_of_the_references(world):
    pre = make(world, categories=["6ch_easy", "6ch_hard", "6ch_hard", "6ch_both", "6ch_fs"])
    out = pre("u1", {**batch(mc_refs=True), "category": "both"})
    assert out["speech_mix"].shape == (N, 6) and out["speech_ref1"].shape == (N, 6)
    assert out["speech_mix"].dtype == np.float32
    np.testing.assert_array_equal(out["speech_mix"], out["speech_ref1"] + out["speech_ref2"])
    assert 0.3 <= np.abs(out["speech_mix"]).max() <= 0.9
    mixture = pre.mixture("u1", 1, 0, N)
    ids = {"easy": 0, "hard": 1, "both": 2}  # ESPnet skips the repeated 6ch_hard
    assert out["utt2category"].tolist() == [ids[mixture.draw.category]]
    assert "category" not in out
    single = make(world)("u1", {**batch(), "category": "both"})
    assert single["speech_ref1"].shape == (N,) and "category" not in single
    np.testing.assert_array_equal(single["speech_ref1"], mixture.images[0][:, 0])
    with pytest.raises(DataError, match="4 channels, the RIR bank .* 6 mics"):
        make(world)("u1", batch(channels=4))
    with pytest.raises(ValueError,
                       match=r"category 'hard' \('6ch_hard' for 6-channel audio\) is not in"):
        make(world, categories=["easy", "both"])


def test_rotating_a_scene_rolls_the_channels():
    """The simulator's array geometry: rotating the scene by k mic steps rolls the channels.

    Anechoic: the source alone turns by k * 60°. Reverberant: the room turns too, which a
    shoebox allows for 180° (k = 3): a point reflection of room, array and source.
    """
    rng = np.random.default_rng(0)
    dry = rng.standard_normal((1, 2000))
    dims, center = np.array([6.0, 7.0, 3.0]), np.array([2.5, 3.1, 1.4])

    def scene(center, source, order):
        return {"room": {"dims": dims.tolist(), "absorption": 0.4, "max_order": order},
                "array": {"center": center.tolist(), "radius": 0.0725, "num_mics": 6},
                "sources": [{"position": source.tolist()}]}

    def at(direction):
        rad = np.radians(direction)
        return center + 1.7 * np.array([np.cos(rad), np.sin(rad), 0.0])

    def assert_rolled(turned, base, k):
        # pyroomacoustics builds RIRs in float32: equal to ~1e-5; a wrong roll is far off
        scale = np.abs(base).max()
        np.testing.assert_allclose(turned, rotate_channels(base, k, axis=0), atol=1e-4 * scale)
        assert np.abs(turned - rotate_channels(base, k + 1, axis=0)).max() > 1e-2 * scale

    base = simulate_images(scene(center, at(33.0), 0), dry, FS)[0]  # (C, T)
    for k in range(1, 6):
        assert_rolled(simulate_images(scene(center, at(33.0 + 60.0 * k), 0), dry, FS)[0], base, k)
    source = at(33.0)
    flip = np.array([dims[0], dims[1], 0.0])
    mirror = np.array([-1.0, -1.0, 1.0])
    reverberant = simulate_images(scene(center, source, 3), dry, FS)[0]
    rotated = simulate_images(scene(flip + mirror * center, flip + mirror * source, 3), dry, FS)[0]
    assert_rolled(rotated, reverberant, 3)


def test_preprocessor_rotation_rolls_mixture_and_references(world):
    rotating, fixed = make(world, rotate=True), make(world, rotate=False)
    uid = next(f"u{i}" for i in range(50) if rotating.mixture(f"u{i}", 1, 0, N).params.rotation)
    turned, plain = rotating.mixture(uid, 1, 0, N), fixed.mixture(uid, 1, 0, N)
    assert turned.draw == plain.draw and turned.params.crops == plain.params.crops
    k = turned.params.rotation
    np.testing.assert_array_equal(turned.images, rotate_channels(plain.images, k))
    np.testing.assert_array_equal(turned.mix, rotate_channels(plain.mix, k))
    out = rotating(uid, batch())
    np.testing.assert_array_equal(out["speech_ref2"], plain.images[1][:, (0 - k) % 6])


def test_eval_mode_passes_data_through(world):
    pre = SpatialDMPreprocessor(train=False, rir_bank="/no/bank", source_scp="/no/wav.scp")
    data = {**batch(), "category": "hard"}
    kept = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in data.items()}
    out = pre("dev_000001", data)
    assert out is data and out.keys() == kept.keys() and out["category"] == "hard"
    for key in ("speech_mix", "speech_ref1", "speech_ref2"):
        np.testing.assert_array_equal(out[key], kept[key])
    # with a categories list the string becomes ESPnet's integer id (ESPnet refuses strings)
    mapping = SpatialDMPreprocessor(train=False, rir_bank="/no/bank", source_scp="/no/wav.scp",
                                    categories=["6ch_easy", "6ch_hard", "6ch_both"])
    out = mapping("dev_000001", data)
    assert out["utt2category"].tolist() == [1] and "category" not in out
    assert out["speech_mix"] is data["speech_mix"] and data["category"] == "hard"


def test_registered_and_built_by_the_task_with_the_epoch_hook(world):
    from espnet2.iterators.sequence_iter_factory import SequenceIterFactory
    from espnet2.tasks.enh import preprocessor_choices

    from sepplug.registry import plugin_preprocessor_names, register_all
    from sepplug.tasks.enh import SepplugEnhancementTask

    register_all()
    assert "spatial_dm" in plugin_preprocessor_names()
    assert preprocessor_choices.classes["spatial_dm"] is SpatialDMPreprocessor
    args = SimpleNamespace(
        preprocessor="spatial_dm", separator_conf={"num_spk": 2},
        categories=["easy", "hard", "both"],
        preprocessor_conf={"rir_bank": str(world.bank), "source_scp": str(world.dry / "wav.scp")})
    built = SepplugEnhancementTask.build_preprocess_fn(args, train=True)
    assert built("u", batch())["speech_mix"].shape == (N, 6)
    pre = getattr(built, "inner", built)  # the task may wrap it (data checks)
    assert isinstance(pre, SpatialDMPreprocessor) and pre.categories == ["easy", "hard", "both"]
    assert pre.num_samples is None  # the loaded mixture's length

    class Dataset:
        preprocess = built

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return index

    install_epoch_hook()  # idempotent
    factory = SequenceIterFactory(dataset=Dataset(), batches=[[0]], seed=0, shuffle=False)
    factory.build_iter(7)
    assert pre.epoch == 7
