"""Open-domain MixIT data: the clip pool's classes, the weak labels, and class purity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sepplug.errors import DataError
from sepplug.recipes.mixit_semantic import clip_pool
from sepplug.recipes.mixit_semantic.labels import multi_hot, write_labels
from sepplug.utils.class_purity import class_energy_shares, output_purity


@pytest.mark.parametrize("name", clip_pool.CLASSES[1:])
def test_every_non_speech_class_renders_an_audible_clip(name):
    rng = np.random.default_rng(0)
    audio = clip_pool.render_clip(name, rng, 8000, 4000)
    assert audio.shape == (4000,) and np.isfinite(audio).all()
    assert np.abs(audio).max() == pytest.approx(clip_pool.PEAK)


def test_groups_option_is_checked():
    assert clip_pool.parse_groups("3,1,2") == {"train": 3, "dev": 1, "test": 2}
    for bad in ("3,1", "3,0,1", "a,b,c"):
        with pytest.raises(DataError, match="--groups"):
            clip_pool.parse_groups(bad)


def _pool(tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "classes.txt").write_text("speech\nsiren\ndrums\n")
    (pool / "group2class").write_text("spk1 speech\nsiren_train_00 siren\ndrums_train_00 drums\n")
    return pool


def test_labels_of_moms_and_of_single_mixtures(tmp_path):
    pool, data = _pool(tmp_path), tmp_path / "train"
    data.mkdir()
    records = [
        {"key": "mom1", "mom": True,
         "mixtures": [[{"speaker": "spk1"}, {"speaker": "siren_train_00"}],
                      [{"speaker": "drums_train_00"}]]},
        {"key": "mix1", "mom": False, "mixtures": [[{"speaker": "siren_train_00"},
                                                    {"speaker": "siren_train_00"}]]},
    ]
    (data / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert write_labels(data, pool) == 2
    assert (data / "labels_ref1").read_text() == "mix1 0 1 0\nmom1 1 1 0\n"
    assert (data / "labels_ref2").read_text() == "mom1 0 0 1\n"
    assert (data / "utt2source_classes").read_text() == "mix1 siren siren\n"
    assert multi_hot(["drums"], ["speech", "siren", "drums"]) == [0, 0, 1]


def test_labels_refuse_a_group_the_pool_does_not_know(tmp_path):
    pool, data = _pool(tmp_path), tmp_path / "dev"
    data.mkdir()
    (data / "meta.jsonl").write_text(json.dumps(
        {"key": "m", "mom": False, "mixtures": [[{"speaker": "dog_dev_00"}]]}) + "\n")
    with pytest.raises(DataError, match="dog_dev_00.*group2class"):
        write_labels(data, pool)
    assert not (data / "labels_ref1").exists()


def test_pool_classes_must_be_listed(tmp_path):
    pool = _pool(tmp_path)
    (pool / "group2class").write_text("x_train_00 violin\n")
    with pytest.raises(DataError, match="violin"):
        clip_pool.read_group2class(pool)


def test_class_purity_of_outputs():
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((3, 4000))  # classes a, a, b
    classes = ["a", "a", "b"]
    ests = np.stack([refs[0] + refs[1],          # two sources of one class: pure
                     refs[0] + refs[2],          # half a, half b: impure
                     refs[2] + 0.1 * refs[0],    # b with 1 % of a: pure
                     np.zeros(4000)])            # silent (inactive)
    shares, names = class_energy_shares(refs, ests, classes)
    assert names == ["a", "b"] and shares.shape == (4, 2)
    assert shares[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert shares[1, 0] == pytest.approx(0.5, abs=0.05)
    active = np.array([True, True, True, False])
    assert output_purity(refs, ests, classes, active) == (2, 3)
