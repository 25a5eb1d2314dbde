"""Reliability curve and ECE (core.karaoke.calibration) and the reliability figure builder.

Closed-form samples: a perfectly calibrated one (ECE 0, curve on the diagonal), an
overconfident one with a known gap, a weighted one computed by hand; a cross-check against a
bin-by-bin loop; one test per bad input; the stems' version against the real oracle mask.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import CoreError, InvalidConfigError
from core.karaoke.calibration import (
    DEFAULT_BINS,
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
    stem_reliability,
)
from core.karaoke.separate import input_stft_config, probability_mask
from dashboard.figures.reliability import ece_text, marker_sizes, reliability_figure


def calibrated_sample() -> tuple[np.ndarray, np.ndarray]:
    """20 samples at each P = 0.05, 0.15, ..., 0.95 with exactly 20 * P ones: calibrated."""
    p, t = [], []
    for k in range(10):
        c = 0.05 + 0.1 * k
        ones = round(20 * c)
        p += [c] * 20
        t += [1.0] * ones + [0.0] * (20 - ones)
    return np.array(p, np.float32), np.array(t, np.float32)


# ----------------------------------------------------------------------------- closed form
def test_perfectly_calibrated_sample_has_zero_ece_and_lies_on_the_diagonal():
    p, t = calibrated_sample()
    curve = reliability_curve(p, t, bins=10)
    assert isinstance(curve, ReliabilityCurve)
    assert curve.ece == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(curve.observed, curve.mean_pred, atol=1e-6)
    np.testing.assert_allclose(curve.mean_pred, np.arange(10) / 10 + 0.05, atol=1e-6)
    np.testing.assert_array_equal(curve.count, np.full(10, 20))
    np.testing.assert_allclose(curve.edges, np.linspace(0, 1, 11))
    assert curve.n == p.size and curve.bins == 10 and not curve.weighted


def test_random_calibrated_sample_has_small_ece(rng):
    p = rng.random(200_000)
    t = (rng.random(p.size) < p).astype(np.float32)
    curve = reliability_curve(p, t)
    assert curve.ece < 0.01
    np.testing.assert_allclose(curve.observed, curve.mean_pred, atol=0.02)


def test_overconfident_sample_has_the_expected_ece():
    # P = 0.9 where the vocal dominates 60% of the time, P = 0.1 where it dominates 40%:
    # every sample is 0.3 away from its observed frequency
    p = np.array([0.9] * 10 + [0.1] * 10)
    t = np.array([1] * 6 + [0] * 4 + [1] * 4 + [0] * 6, np.float32)
    curve = reliability_curve(p, t, bins=10)
    assert curve.ece == pytest.approx(0.3)
    ok = curve.count > 0
    np.testing.assert_allclose(curve.mean_pred[ok], [0.1, 0.9])
    np.testing.assert_allclose(curve.observed[ok], [0.4, 0.6])
    assert np.isnan(curve.mean_pred[~ok]).all() and np.isnan(curve.observed[~ok]).all()


def test_weights_and_valid_mask_change_the_ece_as_computed_by_hand():
    p = np.array([0.9] * 10 + [0.1] * 10)
    t = np.array([1] * 6 + [0] * 4 + [1] * 1 + [0] * 9, np.float32)  # gaps 0.3 and 0.0
    assert reliability_curve(p, t, bins=10).ece == pytest.approx(0.15)
    w = np.array([3.0] * 10 + [1.0] * 10)
    weighted = reliability_curve(p, t, bins=10, weights=w)
    assert weighted.weighted
    assert weighted.ece == pytest.approx((30 * 0.3 + 10 * 0.0) / 40)
    np.testing.assert_array_equal(weighted.count[[1, 9]], [10, 10])  # counts stay counts
    np.testing.assert_allclose(weighted.weight[[1, 9]], [10, 30])
    valid = np.arange(20) < 10  # only the P = 0.9 group
    only_high = reliability_curve(p, t, bins=10, valid=valid)
    assert only_high.ece == pytest.approx(0.3)
    assert only_high.n == 10


def test_counts_sum_to_n_and_edges_of_the_unit_interval(rng):
    p = np.concatenate([rng.random((2, 30, 40)).ravel(), [0.0, 1.0, 0.5]])
    t = (rng.random(p.size) < 0.3).astype(np.float32)
    curve = reliability_curve(p, t, bins=7)
    assert curve.count.sum() == p.size and curve.n == p.size
    assert curve.count.dtype == np.int64
    one = reliability_curve(np.array([1.0]), np.array([1.0]), bins=7)
    assert one.count[-1] == 1  # P = 1 belongs to the last bin
    zero = reliability_curve(np.array([0.0]), np.array([0.0]), bins=7)
    assert zero.count[0] == 1
    single = reliability_curve(p, t, bins=1)
    assert single.ece == pytest.approx(abs(t.mean() - p.mean()))


def test_matches_a_bin_by_bin_loop_and_expected_calibration_error(rng):
    p = rng.random(5000) ** 2
    t = (rng.random(p.size) < np.sqrt(p)).astype(np.float32)
    bins = 12
    curve = reliability_curve(p, t, bins=bins)
    ece = 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        sel = (p >= lo) & ((p < hi) if k < bins - 1 else (p <= hi))
        assert curve.count[k] == sel.sum()
        if sel.any():
            assert curve.mean_pred[k] == pytest.approx(p[sel].mean())
            assert curve.observed[k] == pytest.approx(t[sel].mean())
            ece += sel.sum() / p.size * abs(t[sel].mean() - p[sel].mean())
    assert curve.ece == pytest.approx(ece)
    e, mean_pred, observed, count = expected_calibration_error(p, t, bins=bins)
    assert e == curve.ece
    np.testing.assert_array_equal(mean_pred, curve.mean_pred)
    np.testing.assert_array_equal(observed, curve.observed)
    np.testing.assert_array_equal(count, curve.count)
    # the training ECE (no bins given) is the reliability curve's default
    assert expected_calibration_error(p, t)[0] == reliability_curve(p, t).ece
    assert reliability_curve(p, t).bins == DEFAULT_BINS == 15


def test_no_usable_sample_gives_nan_ece():
    p, t = np.full(4, 0.5), np.ones(4)
    curve = reliability_curve(p, t, valid=np.zeros(4, bool))
    assert np.isnan(curve.ece) and curve.n == 0
    assert np.isnan(reliability_curve(np.zeros(0), np.zeros(0)).ece)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": np.zeros(5)}, "target has shape"),
        ({"prob": np.array([0.1, np.nan, 0.2, 0.3])}, "prob holds NaN"),
        ({"target": np.array([0.0, 1.0, np.inf, 0.0])}, "target holds NaN"),
        ({"prob": np.array([0.1, 1.5, 0.2, 0.3])}, r"prob must lie in \[0, 1\]"),
        ({"target": np.array([0.0, -1.0, 1.0, 0.0])}, r"target must lie in \[0, 1\]"),
        ({"bins": 0}, "bins must be an integer >= 1"),
        ({"bins": 2.5}, "bins must be an integer >= 1"),
        ({"bins": True}, "bins must be an integer >= 1"),
        ({"weights": np.array([1.0, -1.0, 1.0, 1.0])}, "weights must be finite"),
        ({"weights": np.ones(3)}, "weights has shape"),
        ({"valid": np.ones(4)}, "valid must be a boolean mask"),
        ({"valid": np.ones(3, bool)}, "valid has shape"),
    ],
)
def test_bad_input_raises_a_typed_error(kwargs, match):
    args = {"prob": np.array([0.1, 0.9, 0.2, 0.3]), "target": np.array([0.0, 1.0, 1.0, 0.0])}
    args.update(kwargs)
    prob, target = args.pop("prob"), args.pop("target")
    with pytest.raises(InvalidConfigError, match=match) as info:
        reliability_curve(prob, target, **args)
    assert isinstance(info.value, CoreError) and isinstance(info.value, ValueError)


# ----------------------------------------------------------------------------- from stems
SR = 8000


def stems(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """``(2, 1, n)`` [vocals, accompaniment]: a tone in the first half, noise throughout."""
    t = np.arange(int(seconds * SR)) / SR
    vocals = 0.3 * np.sin(2 * np.pi * 440 * t) * (t < seconds / 2)
    acc = 0.05 * rng.standard_normal(t.size)
    return np.stack([vocals, acc])[:, None, :].astype(np.float32)


def test_stem_reliability_of_the_oracle_mask_is_perfect(rng):
    refs = stems(rng)
    res = probability_mask(refs.sum(0), SR, method="oracle", references=refs)
    curve = stem_reliability(res.prob, refs, stft_config=res.stft_config)
    assert curve.ece == pytest.approx(0.0, abs=1e-9)
    assert curve.count[1:-1].sum() == 0  # 0/1 masks fill only the end bins
    assert 0 < curve.n <= res.prob.size
    # P = 1 - IBM is as wrong as can be
    worst = stem_reliability(1.0 - res.prob, refs, stft_config=res.stft_config)
    assert worst.ece == pytest.approx(1.0)
    weighted = stem_reliability(
        1.0 - res.prob, refs, stft_config=res.stft_config, weights=np.abs(res.mixture_stft)
    )
    assert weighted.weighted and weighted.ece == pytest.approx(1.0)


def test_stem_reliability_leaves_out_silent_bins(rng):
    refs = stems(rng)
    refs[:, :, : SR // 2] = 0.0  # both stems digitally silent in the first half
    cfg = input_stft_config(SR)
    prob = np.full((1, cfg.n_bins, 1 + SR // cfg.hop_length), 0.5, np.float32)
    curve = stem_reliability(prob, refs, stft_config=cfg)
    assert 0.3 * prob.size < curve.n < 0.7 * prob.size
    stricter = stem_reliability(prob, refs, stft_config=cfg, silence_db=-6.0)
    assert 0 < stricter.n < curve.n


def test_stem_reliability_errors(rng):
    refs = stems(rng)
    cfg = input_stft_config(SR)
    prob = np.full((1, cfg.n_bins, 1 + SR // cfg.hop_length), 0.5, np.float32)
    with pytest.raises(InvalidConfigError, match="references must be shaped"):
        stem_reliability(prob, refs[0], stft_config=cfg)
    with pytest.raises(InvalidConfigError, match="another grid"):
        stem_reliability(prob[:, :-1], refs, stft_config=cfg)
    with pytest.raises(InvalidConfigError, match="silence_db"):
        stem_reliability(prob, refs, stft_config=cfg, silence_db=3.0)


# ----------------------------------------------------------------------------- figure
def overconfident_curve() -> ReliabilityCurve:
    p = np.array([0.9] * 10 + [0.1] * 30)
    t = np.array([1] * 6 + [0] * 4 + [1] * 12 + [0] * 18, np.float32)
    return reliability_curve(p, t, bins=10)


def test_reliability_figure_traces_hold_the_curve():
    curve = overconfident_curve()
    fig = reliability_figure(curve, title="Song", alpha=0.35)
    names = [tr.name for tr in fig.data]
    assert names == ["Perfect calibration", "Observed", "Share of bins"]
    diag, obs, bars = fig.data
    np.testing.assert_allclose(diag.x, [0, 1])
    np.testing.assert_allclose(diag.y, [0, 1])
    np.testing.assert_allclose(obs.x, [0.1, 0.9])
    np.testing.assert_allclose(obs.y, [0.4, 0.6])
    np.testing.assert_allclose(np.asarray(obs.customdata)[:, 0], [30, 10])
    np.testing.assert_allclose(bars.x, [0.15, 0.95])
    np.testing.assert_allclose(bars.y, [0.75, 0.25])
    assert bars.yaxis == "y2" and fig.layout.yaxis2.type == "log"
    assert obs.marker.size[0] > obs.marker.size[1]  # the heavier bin has the bigger marker
    assert fig.layout.title.text.startswith("Song — ECE 0.300")
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 0.35
    assert fig.layout.annotations[0].text == "α = 0.35"
    json.loads(fig.to_json())  # serialisable (as Streamlit and Jupyter need)


def test_reliability_figure_without_alpha_or_samples():
    fig = reliability_figure(overconfident_curve(), title=None)
    assert not fig.layout.shapes
    assert fig.layout.title.text.startswith("ECE 0.300")
    empty = reliability_curve(np.zeros(0), np.zeros(0))
    fig = reliability_figure(empty)
    assert len(fig.data[1].x) == 0
    assert ece_text(empty) == "ECE undefined"
    assert "ECE undefined" in fig.layout.title.text


def test_marker_sizes_grow_with_weight():
    sizes = marker_sizes(np.array([0.0, 1.0, 4.0]))
    assert sizes[0] < sizes[1] < sizes[2]
    assert marker_sizes(np.zeros(3)).tolist() == [sizes[0]] * 3
