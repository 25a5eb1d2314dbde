from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidConfigError
from core.karaoke.masks import (
    apply_masks,
    context_windows,
    ideal_binary_mask,
    ideal_ratio_mask,
    mask_shares,
    n_windows,
    overlap_average,
    reconstruct,
    threshold_masks,
)
from core.signal.stft import StftConfig, stft


def test_ibm_on_disjoint_sources_is_exact(rng):
    sr = 8000
    t = np.arange(sr) / sr
    vocals = (0.5 * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32)
    accomp = (0.5 * np.sin(2 * np.pi * 250 * t))[None].astype(np.float32)
    cfg = StftConfig(n_fft=512, hop_length=128)
    V, A = np.abs(stft(vocals, cfg)), np.abs(stft(accomp, cfg))
    ibm = ideal_binary_mask(V, A)
    assert ibm.dtype == np.float32 and ibm.shape == V.shape
    # bins where one source dominates by far are labelled exactly
    assert np.all(ibm[V > 10 * A + 1e-3] == 1)
    assert np.all(ibm[A > 10 * V + 1e-3] == 0)
    # reconstructing with the IBM recovers each tone almost exactly
    mix = vocals + accomp
    S = stft(mix, cfg)
    est = reconstruct(S, (ibm, 1 - ibm), config=cfg, length=sr)
    for j, ref in enumerate((vocals, accomp)):
        err = np.sum((est[j] - ref)[:, 1000:-1000] ** 2) / np.sum(ref[:, 1000:-1000] ** 2)
        assert err < 1e-3


def test_ibm_on_exactly_disjoint_bins():
    v = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    a = np.array([[0.0, 3.0], [1.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(ideal_binary_mask(v, a), [[1, 0], [0, 1]])
    np.testing.assert_allclose(ideal_ratio_mask(v, a), [[1, 0], [0, 1]])


def test_irm_in_unit_interval_and_sums_to_one(rng):
    v, a = rng.random((2, 3, 5, 7)).astype(np.float32)
    m = ideal_ratio_mask(v, a)
    assert m.min() >= 0 and m.max() <= 1
    m_other = ideal_ratio_mask(a, v)
    np.testing.assert_allclose(m + m_other, 1, atol=1e-6)
    with pytest.raises(InvalidConfigError):
        ideal_ratio_mask(v, a[:, :2])


def test_context_windows_shape_and_content():
    mag = np.arange(3 * 25, dtype=np.float32).reshape(3, 25)  # (bins, frames)
    win = context_windows(mag, frames=20, step=1)
    assert win.shape == (6, 20, 3)
    np.testing.assert_array_equal(win[2, 0], mag[:, 2])
    np.testing.assert_array_equal(win[5, 19], mag[:, 24])
    # unpacked vector: frames concatenated one after another
    np.testing.assert_array_equal(win[0].reshape(-1)[:3], mag[:, 0])
    win4 = context_windows(mag, frames=5, step=4)
    assert win4.shape == (n_windows(25, frames=5, step=4), 5, 3) == (6, 5, 3)
    np.testing.assert_array_equal(win4[1, 0], mag[:, 4])
    with pytest.raises(InvalidConfigError):
        context_windows(mag, frames=30)


def test_overlap_average_of_windows_of_a_known_mask_is_identity(rng):
    mask = rng.random((4, 30)).astype(np.float32)
    for step in (1, 2, 5):
        win = context_windows(mask, frames=5, step=step)
        n_cov = (win.shape[0] - 1) * step + 5
        out = overlap_average(win, n_frames=30, step=step)
        np.testing.assert_allclose(out[:, :n_cov], mask[:, :n_cov], atol=1e-6)
        assert np.all(out[:, n_cov:] == 0)


def test_overlap_average_known_counts():
    # window i predicts the constant i: frame t is the mean of the windows covering it
    n_win, frames, n_frames = 4, 3, 6
    preds = np.broadcast_to(np.arange(n_win, dtype=np.float32)[:, None, None], (n_win, frames, 1))
    out = overlap_average(preds, n_frames=n_frames)
    expected = [0, 0.5, 1, 2, 2.5, 3]
    np.testing.assert_allclose(out[0], expected)
    paper = overlap_average(preds, n_frames=n_frames, mode="paper-code")
    np.testing.assert_allclose(paper[0], [0, 1, 2, 3, 0, 0])


def test_threshold_rules(rng):
    p = rng.random((2, 6, 9)).astype(np.float32)
    p[0, 0, :3] = 0.5
    v, a = threshold_masks(p, alpha=0.5, rule="paper")
    off = p != 0.5
    np.testing.assert_array_equal((v + a)[off], 1)
    np.testing.assert_array_equal((v + a)[~off], 0)
    v, a = threshold_masks(p, alpha=0.3, rule="complement")
    np.testing.assert_array_equal(v + a, 1)
    v, a = threshold_masks(p, alpha=0.9, rule="soft")
    np.testing.assert_allclose(v + a, 1, atol=1e-7)
    np.testing.assert_array_equal(v, p)
    v, a = threshold_masks(p, alpha=0.8, rule="paper")
    assert np.all(v + a <= 1)  # high alpha: some bins go to neither
    v, a = threshold_masks(p, alpha=0.2, rule="paper")
    assert np.all(v + a >= 1)  # low alpha: some bins go to both
    for v, a in [threshold_masks(p, alpha=0.4, rule=r) for r in ("paper", "complement", "soft")]:
        assert v.dtype == a.dtype == np.float32
    with pytest.raises(InvalidConfigError):
        threshold_masks(p, alpha=1.5)
    with pytest.raises(InvalidConfigError):
        threshold_masks(p, alpha=0.5, rule="hard")  # type: ignore[arg-type]


def test_all_ones_mask_returns_the_mixture(tone):
    y, sr = tone
    cfg = StftConfig(n_fft=512, hop_length=128)
    S = stft(y, cfg)
    ones = np.ones(S.shape, dtype=np.float32)
    out = reconstruct(S, (ones, np.zeros_like(ones)), config=cfg, length=y.shape[1])
    assert out.shape == (2, 2, y.shape[1]) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], y, atol=1e-5)
    np.testing.assert_allclose(out[1], 0, atol=1e-7)
    masked = apply_masks(S, (ones, ones))
    assert masked.shape == (2,) + S.shape and masked.dtype == np.complex64
    with pytest.raises(InvalidConfigError):
        apply_masks(S, (ones[:1, :3],))


@pytest.mark.parametrize("n_fft,hop,n", [(512, 128, 4000), (256, 64, 1001), (300, 100, 999),
                                         (2048, 512, 300)])
def test_fast_reconstruct_matches_core_istft(rng, n_fft, hop, n):
    from core.signal.stft import istft

    cfg = StftConfig(n_fft=n_fft, hop_length=hop)
    y = rng.standard_normal((2, n)).astype(np.float32)
    S = stft(y, cfg)
    m = rng.random(S.shape).astype(np.float32)
    fast = reconstruct(S, (m,), config=cfg, length=n)[0]
    np.testing.assert_allclose(fast, istft(S * m, cfg, length=n), atol=2e-5)


def test_mask_shares_paper_rule_counts_both_and_neither():
    prob = np.array([[[0.1, 0.3, 0.45, 0.55, 0.7, 0.9]]], np.float32)  # (1, 1, 6)
    hi = mask_shares(prob, alpha=0.6, rule="paper")
    assert hi == pytest.approx({"vocals": 2 / 6, "accompaniment": 2 / 6, "both": 0.0,
                                "neither": 2 / 6, "p99": 0.7})  # fmt: skip
    lo = mask_shares(prob, alpha=0.4, rule="paper")
    assert lo["both"] == pytest.approx(2 / 6) and lo["neither"] == 0.0
    assert set(mask_shares(prob, alpha=0.4, rule="soft")) == {"vocals", "accompaniment", "p99"}
    with pytest.raises(InvalidConfigError, match="rule"):
        mask_shares(prob, rule="hard")  # type: ignore[arg-type]
