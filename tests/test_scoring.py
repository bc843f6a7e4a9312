"""``sepplug.utils.scoring``: the SI-SDR-only scores equal :func:`score_utterance`'s."""

from __future__ import annotations

import numpy as np
import pytest

from sepplug.utils.scoring import score_si_sdr, score_utterance


def test_score_si_sdr_matches_score_utterance():
    rng = np.random.default_rng(1)
    refs, ests = rng.standard_normal((2, 500)), rng.standard_normal((2, 480))
    mix = rng.standard_normal(510)
    ests[1, :400] += 3 * refs[0, :400]  # the best permutation swaps the estimates
    full, fast = score_utterance(refs, ests, mix), score_si_sdr(refs, ests, mix)
    assert set(fast) == {"si_sdr", "si_sdr_mix", "si_sdri"}
    for name, value in fast.items():
        assert value == pytest.approx(full[name], abs=1e-9)
    assert fast["si_sdri"] == pytest.approx(fast["si_sdr"] - fast["si_sdr_mix"], abs=1e-12)


def test_score_si_sdr_checks_as_score_utterance():
    rng = np.random.default_rng(2)
    refs, mix = rng.standard_normal((2, 300)), rng.standard_normal(300)
    with pytest.raises(ValueError, match="u1: 2 references but 3 estimates"):
        score_si_sdr(refs, rng.standard_normal((3, 300)), mix, key="u1")
    refs[1] = 0
    with pytest.raises(ValueError, match="u2: a reference source is all zeros"):
        score_si_sdr(refs, rng.standard_normal((2, 300)), mix, key="u2")
