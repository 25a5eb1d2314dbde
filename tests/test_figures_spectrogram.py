"""The mask explorer's pure figure builders (dashboard.figures.spectrogram), on synthetic
arrays and on a real oracle mask of a tiny signal."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from core.errors import InvalidConfigError
from core.karaoke.separate import probability_mask
from dashboard.figures import spectrogram as sg


def decode(png: bytes | str) -> np.ndarray:
    if isinstance(png, str):
        assert png.startswith("data:image/png;base64,")
        png = base64.b64decode(png.split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


# ----------------------------------------------------------------------------- PNG helpers
def test_downsample_mean_matches_block_means_including_partial_blocks():
    a = np.arange(7 * 5, dtype=np.float32).reshape(7, 5)
    out = sg.downsample(a, max_bins=3, max_frames=2)  # blocks of 3 x 3
    assert out.shape == (3, 2)
    assert out[0, 0] == pytest.approx(a[:3, :3].mean())
    assert out[2, 1] == pytest.approx(a[6:, 3:].mean())  # partial 1 x 2 block
    assert out.dtype == np.float32


def test_downsample_max_and_channel_mean():
    a = np.zeros((2, 4, 4), np.float32)
    a[0, 0, 0] = 1.0
    out = sg.downsample(a, max_bins=2, max_frames=2, reduce="max")
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(0.5)  # channels averaged, then max-pooled


def test_downsample_small_input_is_unchanged_copy():
    a = np.random.default_rng(0).random((10, 20)).astype(np.float32)
    out = sg.downsample(a)
    np.testing.assert_array_equal(out, a)
    assert out is not a


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.zeros((1, 2, 3, 4))])
def test_downsample_rejects_bad_shapes(bad):
    with pytest.raises(InvalidConfigError):
        sg.downsample(bad)


def test_full_size_spectrogram_png_within_display_limits_and_fast(rng):
    a = rng.random((1025, 2600)).astype(np.float32)
    t0 = time.perf_counter()
    png = sg.array_png(a, vmin=0.0, vmax=1.0)
    elapsed = time.perf_counter() - t0
    w, h = sg.png_size(png)
    assert h <= sg.MAX_BINS and w <= sg.MAX_FRAMES
    assert (h, w) == (205, 1300)
    assert decode(png).shape == (205, 1300, 3)
    assert elapsed < 1.0  # generous: ~20 ms unloaded


def test_colours_follow_the_lut_and_low_bins_are_at_the_bottom():
    a = np.zeros((4, 3), np.float32)
    a[0] = 1.0  # lowest frequency bin -> bottom row of the image
    rgb = decode(sg.encode_png(sg.to_indices(a, vmin=0, vmax=1), cmap="viridis"))
    lut = sg.colormap_lut("viridis")
    np.testing.assert_array_equal(rgb[-1, 0], lut[255])
    np.testing.assert_array_equal(rgb[0, 0], lut[0])
    assert tuple(lut[0]) == (0x44, 0x01, 0x54) and tuple(lut[255]) == (0xFD, 0xE7, 0x25)


def test_unknown_colormap_and_bad_range_raise():
    with pytest.raises(InvalidConfigError, match="colormap"):
        sg.colormap_lut("jet")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="vmax"):
        sg.to_indices(np.zeros((2, 2)), vmin=1.0, vmax=1.0)


def test_power_to_db_range():
    p = np.array([[1.0, 1e-3, 0.0]], np.float32)
    db = sg.power_to_db(p, top_db=80.0)
    np.testing.assert_allclose(db, [[0.0, -30.0, -80.0]], atol=1e-4)
    assert (sg.power_to_db(np.zeros((2, 2))) == -80.0).all()


# ----------------------------------------------------------------------------- α images
def _display(rng, bins=300, frames=400) -> sg.Display:
    prob = rng.random((bins, frames)).astype(np.float32)
    power = rng.random((bins, frames)).astype(np.float32)
    return sg.Display(
        power=sg.downsample(power), prob=sg.downsample(prob), ref_power=1.0, duration_s=3.0,
        max_hz=4000.0,
    )  # fmt: skip


def test_binary_image_changes_with_alpha_and_is_monotone(rng):
    d = _display(rng)
    lo_mask, lo_est = sg.alpha_images(d, alpha=0.2, rule="paper")
    hi_mask, hi_est = sg.alpha_images(d, alpha=0.8, rule="paper")
    assert lo_mask != hi_mask and lo_est != hi_est
    vocal = sg.colormap_lut("mask")[255]
    share_lo = (decode(lo_mask) == vocal).all(-1).mean()
    share_hi = (decode(hi_mask) == vocal).all(-1).mean()
    assert share_lo > share_hi  # a higher α keeps fewer vocal bins
    # the binary mask is the threshold of the *pooled* probability
    assert share_hi == pytest.approx((d.prob > 0.8).mean())


def test_exact_alpha_images_pool_the_full_resolution_mask(rng):
    """With the display's codes, each pixel is the share of its cell's bins with P > α."""
    from core.karaoke.masks import threshold_masks
    from core.karaoke.separate import MaskResult
    from core.signal.stft import StftConfig

    bins, frames = 257, 900
    prob = rng.random((1, bins, frames)).astype(np.float32)
    stft = (rng.standard_normal((1, bins, frames)) + 0j).astype(np.complex64)
    res = MaskResult(
        prob=prob, mixture_stft=stft, stft_config=StftConfig(n_fft=512, hop_length=128),
        sr=8000, length=frames * 128, method="dnn",
    )  # fmt: skip
    d = sg.pooled_display(res, exact_alpha=True)
    assert d.panels is not None
    fb, ff, _ = d.panels.cell
    for alpha in (0.25, 0.5, 0.8):
        mask, _est = sg.alpha_images(d, alpha=alpha, rule="paper")
        got = decode(mask)
        vocal, _ = threshold_masks(prob[0], alpha=alpha, rule="paper")
        rows, cols = d.panels.shape
        full = np.pad(vocal, ((0, rows * fb - bins), (0, cols * ff - frames)), mode="edge")
        share = full.reshape(rows, fb, cols, ff).mean(axis=(1, 3))[::-1]  # row 0 on top
        level = np.where(share == 0, 0, np.where(share < 0.5, 1, np.where(share < 1, 2, 3)))
        lut = sg.colormap_lut("mask")
        assert np.array_equal(got, lut[(level * 85).astype(np.uint8)])
    # the pooled-P fallback (no codes) is a different image: it thresholds averages
    assert base64.b64encode(sg.alpha_images(d, alpha=0.5, rule="paper")[0]) != base64.b64encode(
        sg.alpha_images(sg.pooled_display(res), alpha=0.5, rule="paper")[0]
    )
    with pytest.raises(InvalidConfigError):
        sg.alpha_images(d, alpha=1.5, rule="paper")


def test_soft_rule_ignores_alpha(rng):
    d = _display(rng)
    assert sg.alpha_images(d, alpha=0.2, rule="soft") == sg.alpha_images(d, alpha=0.8, rule="soft")
    assert sg.binary_title(0.3, "soft").startswith("Soft")
    assert sg.binary_title(0.3, "paper") == "Binary vocal mask at α = 0.30"


# ----------------------------------------------------------------------------- figure
def _images(n, rng):
    return [sg.array_png(rng.random((64, 80)), vmin=0, vmax=1) for _ in range(n)]


def test_spectrogram_panels_layout_images_axes_and_shared_x(rng):
    titles = ["mix", "ibm", "prob", "bin", "est"]
    fig = sg.spectrogram_panels(_images(5, rng), duration_s=12.5, max_hz=11025.0, titles=titles)
    assert isinstance(fig, go.Figure)
    lay = fig.to_plotly_json()["layout"]
    assert len(lay["images"]) == 5
    for i, im in enumerate(lay["images"]):
        ax = "" if i == 0 else str(i + 1)
        assert im["source"].startswith("data:image/png;base64,")
        assert im["xref"] == f"x{ax}" and im["yref"] == f"y{ax}"
        assert (im["x"], im["sizex"]) == (0.0, 12.5)
        assert (im["y"], im["sizey"]) == (11025.0, 11025.0)
        assert im["name"] == titles[i]
        assert lay[f"xaxis{ax}"]["range"] == [0.0, 12.5]
        assert lay[f"yaxis{ax}"]["range"] == [0.0, 11025.0]
        if i:
            assert lay[f"xaxis{ax}"]["matches"] == "x"
            assert lay[f"yaxis{ax}"]["matches"] == "y"
    assert lay["xaxis5"]["title"]["text"] == "time (s)"
    assert lay["uirevision"] == "mask-explorer"
    # panels do not overlap and stay inside the figure
    doms = [lay[f"yaxis{'' if i == 0 else i + 1}"]["domain"] for i in range(5)]
    assert all(0.0 <= d[0] < d[1] <= 1.0 for d in doms)
    assert all(doms[i + 1][1] <= doms[i][0] for i in range(4))
    # the unvalidated construction is nevertheless a valid plotly figure
    go.Figure(fig.to_dict())


def test_spectrogram_panels_per_panel_nyquist_and_display_limit(rng):
    fig = sg.spectrogram_panels(
        _images(2, rng), duration_s=2.0, max_hz=[8000.0, 11025.0], titles=["a", "b"],
        display_hz=5000.0,
    )  # fmt: skip
    lay = fig.to_plotly_json()["layout"]
    assert [im["sizey"] for im in lay["images"]] == [8000.0, 11025.0]
    assert lay["yaxis"]["range"] == [0.0, 5000.0]


def test_spectrogram_panels_validates():
    with pytest.raises(InvalidConfigError):
        sg.spectrogram_panels([b"x"], duration_s=1.0, max_hz=100.0, titles=["a", "b"])
    with pytest.raises(InvalidConfigError):
        sg.spectrogram_panels([], duration_s=1.0, max_hz=100.0, titles=[])
    with pytest.raises(InvalidConfigError):
        sg.spectrogram_panels(["data:"], duration_s=0.0, max_hz=100.0, titles=["a"])


def test_crop_bins_keeps_the_band_below_fmax():
    a = np.arange(2 * 513 * 3, dtype=np.float32).reshape(2, 513, 3)  # n_fft 1024 at 22050 Hz
    full, top = sg.crop_bins(a, sr=22050, n_fft=1024, fmax=None)
    assert full.shape == a.shape and top == 11025.0
    low, top = sg.crop_bins(a, sr=22050, n_fft=1024, fmax=4000.0)
    assert low.shape == (2, 186, 3)  # bins 0..185 (185 * 21.5 Hz = 3984 Hz)
    assert top == pytest.approx(186 * 22050 / 1024)
    np.testing.assert_array_equal(low, a[:, :186])


def test_pooled_display_of_a_real_oracle_mask_and_its_alpha_figure(rng):
    sr = 8000
    t = np.arange(sr) / sr  # 1 s
    vocals = 0.3 * np.sin(2 * np.pi * 1500 * t)
    accomp = 0.3 * np.sin(2 * np.pi * 200 * t) + 0.01 * rng.standard_normal(sr)
    refs = np.stack([vocals, accomp])[:, None, :].astype(np.float32)
    res = probability_mask(refs.sum(0), sr, method="oracle", references=refs)
    d = sg.pooled_display(res, ibm=res, fmax=2000.0)
    assert list(d.static) == [sg.MIXTURE_TITLE, sg.IBM_TITLE, sg.PROB_TITLE]
    assert d.duration_s == pytest.approx(1.0)
    assert 2000.0 <= d.max_hz < 2100.0 and d.prob.shape == d.power.shape
    # the vocal tone's band (1.5 kHz) is vocal in the pooled mask, the 200 Hz band is not
    bin_hz = d.max_hz / d.prob.shape[0]
    assert d.prob[int(1500 / bin_hz)].mean() > 0.9 and d.prob[int(200 / bin_hz)].mean() < 0.1
    lay = sg.alpha_figure(d, alpha=0.5, rule="paper").to_plotly_json()["layout"]
    assert [im["name"] for im in lay["images"]] == [
        *d.static,
        "Binary vocal mask at α = 0.50",
        sg.ESTIMATE_TITLE,
    ]
    with pytest.raises(InvalidConfigError, match="alpha"):
        sg.alpha_figure(d, alpha=1.5, rule="paper")


# ----------------------------------------------------------------------------- live α canvas
def _result(rng, *, channels=2, sr=8000, seconds=1.0, method="dnn", binary=False):
    """A real MaskResult on a real STFT grid with a random (or binary) P."""
    from core.karaoke.separate import input_stft_config, mask_result_from_prob
    from core.signal.stft import stft

    y = (0.1 * rng.standard_normal((channels, int(sr * seconds)))).astype(np.float32)
    shape = stft(y, input_stft_config(sr)).shape
    prob = rng.random(shape).astype(np.float32)
    if binary:
        prob = (prob > 0.5).astype(np.float32)
    return mask_result_from_prob(y, sr, prob, method=method)


def _pooled_real_levels(res, panels, alpha: float, fmax=None) -> np.ndarray:
    """Threshold the full-resolution P at α (the real mask), then pool it into the cells."""
    from core.karaoke.masks import threshold_masks

    prob, _ = sg.crop_bins(res.prob, sr=res.sr, n_fft=res.stft_config.n_fft, fmax=fmax)
    vocal, _ = threshold_masks(prob, alpha=alpha, rule="paper")
    fb, ff, _ = panels.cell
    kept = sg._cells(vocal, fb, ff).sum(axis=-1)  # kept bins per display cell
    n = vocal.shape[0] * fb * ff
    levels = (kept >= 1).astype(np.uint8) + (kept >= (n + 1) // 2) + (kept >= n)
    return levels[::-1]  # row 0 = highest frequency, as the panels


def test_alpha_codes_threshold_exactly_like_the_masks(rng):
    grid = np.asarray(sg.ALPHA_GRID, dtype=np.float32)
    p = rng.random((3, 50, 120)).astype(np.float32)
    p[0, 0, : grid.size] = grid  # values equal to a threshold: P > α is false there
    p[0, 1, :4] = [0.0, 1.0, np.nextafter(grid[0], 1), np.nextafter(grid[-1], 0)]
    codes = sg.alpha_codes(p)
    assert codes.dtype == np.uint8 and codes.shape == p.shape
    for k, alpha in enumerate(sg.ALPHA_GRID, start=1):
        np.testing.assert_array_equal(codes >= k, p > alpha)
    odd = [0.1, 0.15, 0.5, 0.9]  # a non-uniform grid
    np.testing.assert_array_equal(
        sg.alpha_codes(p, grid=odd), np.searchsorted(np.float32(odd), p, side="left")
    )
    with pytest.raises(InvalidConfigError, match="increasing"):
        sg.alpha_codes(p, grid=[0.5, 0.4])


@pytest.mark.parametrize(("channels", "fmax"), [(1, None), (2, None), (2, 2000.0)])
def test_alpha_panels_levels_are_the_pooled_real_mask(rng, channels, fmax):
    res = _result(rng, channels=channels)
    panels = sg.alpha_panels(res, fmax=fmax, max_bins=40, max_frames=9)  # cells of several bins
    rows, cols = panels.shape
    assert panels.codes.shape == (3, rows, cols) and panels.estimate.shape == (3, rows, cols)
    assert rows <= 40 and cols <= 9 and panels.cell[2] == channels
    assert panels.cell[0] * panels.cell[1] > 1
    seen = set()
    for alpha in (0.01, 0.2, 0.37, 0.5, 0.63, 0.99):
        step = round(alpha * 100)
        got = sg.mask_levels(panels, step=step)
        np.testing.assert_array_equal(got, _pooled_real_levels(res, panels, alpha, fmax))
        seen |= set(np.unique(got).tolist())
    assert seen == {0, 1, 2, 3}  # the four levels all occur: the test can tell them apart


def test_thresholding_the_pooled_probability_would_not_be_the_real_mask(rng):
    """The bug of issue 11 item 2: a threshold of pooled P differs from the pooled real mask."""
    res = _result(rng)
    panels = sg.alpha_panels(res, max_bins=40, max_frames=9)
    real_any = _pooled_real_levels(res, panels, 0.8) >= 1
    pooled_p = sg.downsample(res.prob, max_bins=40, max_frames=9)[::-1]
    assert not np.array_equal(pooled_p > 0.8, real_any)


def test_alpha_panels_of_a_binary_mask_are_identical_across_alpha(rng):
    res = _result(rng, binary=True, method="oracle")
    panels = sg.alpha_panels(res, max_bins=40, max_frames=9)
    first = sg.mask_levels(panels, step=1)
    for step in range(2, 100):
        np.testing.assert_array_equal(sg.mask_levels(panels, step=step), first)
    assert not sg.alpha_has_effect(res.prob)
    assert sg.alpha_has_effect(_result(rng).prob)
    assert not sg.alpha_has_effect(np.array([0.0, 0.005, 1.0]))
    assert sg.alpha_has_effect(np.array([0.0, 0.5, 1.0]))


def test_alpha_panels_estimate_levels(rng):
    res = _result(rng)
    panels = sg.alpha_panels(res, max_bins=40, max_frames=9)
    fb, ff, _ = panels.cell
    power = sg._cells(np.abs(res.mixture_stft) ** 2, fb, ff).mean(axis=-1)[::-1]
    expected = sg.to_indices(
        sg.power_to_db(power, ref=float(power.max())), vmin=-sg.TOP_DB, vmax=0.0
    )[::-1]  # to_indices flips: undo, the panels are already flipped
    np.testing.assert_array_equal(panels.estimate[2], expected)  # level 3 (all kept) = mixture
    # a higher level keeps at least as much energy
    assert (panels.estimate[1] >= panels.estimate[0]).all()
    assert (panels.estimate[2] >= panels.estimate[1]).all()


def test_soft_planes_are_mean_p_and_masked_power(rng):
    res = _result(rng, channels=1)
    mask, est = sg.soft_planes(res, max_bins=40, max_frames=9)
    panels = sg.alpha_panels(res, max_bins=40, max_frames=9)
    assert mask.shape == est.shape == panels.shape and mask.dtype == np.uint8
    fb, ff, _ = panels.cell
    mean_p = sg._cells(res.prob, fb, ff).mean(axis=-1)
    np.testing.assert_array_equal(mask, sg.to_indices(mean_p, vmin=0.0, vmax=1.0))
    assert (est <= panels.estimate[2]).all()  # |X|^2 P never exceeds |X|^2


def test_static_figure_has_a_colour_bar_per_panel(rng):
    res = _result(rng)
    d = sg.pooled_display(res, ibm=res)
    fig = sg.static_figure(d, uirevision="u")
    spec = fig.to_plotly_json()
    assert [im["name"] for im in spec["layout"]["images"]] == list(d.static)
    bars = [tr for tr in spec["data"] if tr.get("marker", {}).get("showscale")]
    assert len(bars) == len(d.static) == 3
    assert [b["colorbar"]["title"]["text"] for b in (t["marker"] for t in bars)] == [
        "dB",
        "vocal",
        "P",
    ]
    mix = bars[0]["marker"]
    assert (mix["cmin"], mix["cmax"]) == (-sg.TOP_DB, 0.0)
    go.Figure(spec)  # validates
