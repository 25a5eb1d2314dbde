"""The α slider's frames-major fast path gives exactly the stems of the plain path."""

from __future__ import annotations

import numpy as np
import pytest

from core.karaoke.masks import reconstruct, threshold_masks
from core.karaoke.separate import mask_result_from_prob, separate_at_alpha
from core.signal.stft import StftConfig, stft


@pytest.mark.parametrize("rule", ["paper", "complement", "soft"])
@pytest.mark.parametrize("hop", [256, 300])  # 300 does not divide n_fft: the fallback path
def test_separate_at_alpha_equals_reconstruct_of_threshold_masks(rng, rule, hop):
    sr = 16000
    y = (0.1 * rng.standard_normal((2, sr))).astype(np.float32)
    cfg = StftConfig(n_fft=1024, hop_length=hop)
    prob = rng.random(stft(y, cfg).shape).astype(np.float32)
    res = mask_result_from_prob(y, sr, prob, stft_config=cfg)
    fast = separate_at_alpha(res, alpha=0.3, rule=rule)
    masks = threshold_masks(res.prob, alpha=0.3, rule=rule)
    plain = reconstruct(res.mixture_stft, masks, config=cfg, length=res.length)
    assert fast.shape == (2, 2, sr)
    np.testing.assert_allclose(fast, plain, atol=1e-6)
    # an all-ones vocal mask (alpha 0 under the complement rule) gives back the mixture
    ones = separate_at_alpha(res, alpha=0.0, rule="complement")[0]
    np.testing.assert_allclose(ones, y, atol=1e-4)
