"""The α slider's frames-major fast path gives exactly the stems of the plain path."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidConfigError
from core.karaoke.masks import reconstruct, separate_frames_major, threshold_masks
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


@pytest.mark.parametrize("rule", ["paper", "complement", "soft"])
@pytest.mark.parametrize(("hop", "block"), [(256, 64), (256, 7), (256, 1), (300, 64)])
def test_blockwise_fast_path_equals_the_straightforward_stems(rng, rule, hop, block):
    """The fused block-wise threshold + inverse gives the plain path's stems (issue 9 item 5)."""
    sr = 16000
    y = (0.1 * rng.standard_normal((2, sr))).astype(np.float32)
    cfg = StftConfig(n_fft=1024, hop_length=hop)
    S = stft(y, cfg)
    prob = rng.random(S.shape).astype(np.float32)
    prob[0, :5, :5] = 0.3  # ties with the threshold: the same comparison must decide them
    prob[1, :5, :5] = 0.7
    res = mask_result_from_prob(y, sr, prob, stft_config=cfg)
    stft_t, prob_t = res.frames_major
    for alpha in (0.3, 0.5, 0.7):
        fast = separate_frames_major(
            stft_t, prob_t, alpha=alpha, rule=rule, config=cfg, length=res.length,
            block_frames=block,
        )  # fmt: skip
        masks = threshold_masks(res.prob, alpha=alpha, rule=rule)
        plain = reconstruct(res.mixture_stft, masks, config=cfg, length=res.length)
        assert fast.shape == (2, 2, sr) and fast.dtype == np.float32
        np.testing.assert_allclose(fast, plain, atol=2e-6)
    # the mask decides: a different α gives different stems
    other = separate_frames_major(stft_t, prob_t, alpha=0.9, rule=rule, config=cfg, length=sr)
    assert rule == "soft" or not np.allclose(other[0], fast[0], atol=1e-4)


def test_blockwise_fast_path_rejects_bad_input(rng):
    cfg = StftConfig(n_fft=256, hop_length=64)
    S = np.zeros((1, 10, cfg.n_bins), dtype=np.complex64)
    P = np.zeros((1, 10, cfg.n_bins), dtype=np.float32)
    with pytest.raises(InvalidConfigError, match="alpha"):
        separate_frames_major(S, P, alpha=1.5, config=cfg, length=100)
    with pytest.raises(InvalidConfigError, match="prob_t"):
        separate_frames_major(S, P[:, :5], alpha=0.5, config=cfg, length=100)
    with pytest.raises(InvalidConfigError, match="block_frames"):
        separate_frames_major(S, P, alpha=0.5, config=cfg, length=100, block_frames=0)


def test_a_one_channel_mask_applies_to_every_channel(rng):
    """``genex separate`` saves a stereo file's mask once (the mono downmix's): it still loads."""
    sr = 16000
    y = (0.1 * rng.standard_normal((2, sr))).astype(np.float32)
    cfg = StftConfig(n_fft=1024, hop_length=256)
    one = rng.random((1, *stft(y, cfg).shape[1:])).astype(np.float32)
    res = mask_result_from_prob(y, sr, one, stft_config=cfg)
    assert res.prob.shape == (2, *one.shape[1:])
    np.testing.assert_array_equal(res.prob[0], one[0])
    np.testing.assert_array_equal(res.prob[1], one[0])
    with pytest.raises(InvalidConfigError, match="another file"):
        mask_result_from_prob(y, sr, one[:, :-1], stft_config=cfg)
