"""Metrics page: the pure figure builders (dashboard.figures.metric_curves) and the glue
(dashboard.metrics_view), on a tidy table with the columns and dtypes core.evaluation writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.evaluation.results import (
    TIDY_COLUMNS,
    RunStatus,
    per_track_medians,
    sir_sar_means,
    summary,
    track_summary,
)
from dashboard import metrics_view as mv
from dashboard.figures import metric_curves as mc

ALPHAS = np.round(np.arange(0.05, 0.96, 0.1), 2)  # 10 values
TRACKS = ("song_a", "song_b", "song_c")
METHODS = ("dnn", "traditional", "oracle")


def make_tidy(
    rng: np.random.Generator,
    *,
    tracks=TRACKS,
    methods=METHODS,
    alphas=ALPHAS,
    n_windows: int = 6,
    nan_rate: float = 0.1,
) -> pd.DataFrame:
    """Plausible framewise metrics: SIR rises and SAR falls with α, oracle flat and highest."""
    rows = []
    for ti, track in enumerate(tracks):
        for method in methods:
            for alpha in alphas:
                for target in ("vocals", "accompaniment"):
                    base = {"dnn": 0.0, "traditional": -3.0, "oracle": 6.0}.get(method, -1.0)
                    a = 0.5 if method == "oracle" else float(alpha)
                    sir = base + 5 + 15 * a + ti
                    sar = base + 12 - 10 * a + ti
                    sdr = -10 * np.log10(10 ** (-sir / 10) + 10 ** (-sar / 10))
                    isr = sdr + 3
                    for metric, v in (("SDR", sdr), ("SIR", sir), ("SAR", sar), ("ISR", isr)):
                        for w in range(n_windows):
                            val = v + rng.normal(0, 1.0)
                            if rng.random() < nan_rate:
                                val = np.nan
                            rows.append(
                                {
                                    "track": track, "method": method, "alpha": float(alpha),
                                    "target": target, "metric": metric, "window": w,
                                    "time": float(w), "value": val,
                                }
                            )  # fmt: skip
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


@pytest.fixture
def tidy(rng) -> pd.DataFrame:
    return make_tidy(rng)


@pytest.fixture
def stats(tidy) -> pd.DataFrame:
    return summary(tidy)


def _roles(fig):
    return [(t.meta or {}).get("role") for t in fig.data]


def _curves(fig):
    return [t for t in fig.data if (t.meta or {}).get("role") in ("curve", "ceiling")]


# ----------------------------------------------------------------------- the numbers drawn


def test_curves_draw_the_summary_median_and_band(tidy, stats):
    fig = mc.alpha_curves_figure(stats, metric="SDR", target="vocals")
    dnn = next(t for t in fig.data if (t.meta or {}).get("method") == "dnn")
    q75, q25, curve = (t for t in fig.data if t.meta["method"] == "dnn")
    per_track = per_track_medians(tidy)
    sel = per_track[
        (per_track.metric == "SDR") & (per_track.target == "vocals")
        & (per_track.method == "dnn") & np.isclose(per_track.alpha, 0.45)
    ]["value"]  # fmt: skip
    i = int(np.argmin(np.abs(ALPHAS - 0.45)))
    assert dnn is q75 and q75.meta["edge"] == "q75" and q25.meta["edge"] == "q25"
    assert curve.y[i] == pytest.approx(np.median(sel))
    assert q25.y[i] == pytest.approx(np.quantile(sel, 0.25))
    assert q75.y[i] == pytest.approx(np.quantile(sel, 0.75))


def test_single_track_curves_draw_that_tracks_windows(tidy):
    fig = mc.alpha_curves_figure(
        track_summary(tidy, "song_b"), metric="SIR", target="vocals", track_label="song_b"
    )
    win = tidy[
        (tidy.track == "song_b") & (tidy.method == "dnn") & (tidy.metric == "SIR")
        & (tidy.target == "vocals") & np.isclose(tidy.alpha, 0.05)
    ]["value"]  # fmt: skip
    curve = next(t for t in _curves(fig) if t.meta["method"] == "dnn")
    assert curve.y[0] == pytest.approx(np.nanmedian(win))
    assert "track song_b" in fig.layout.title.text and "IQR over windows" in curve.hovertemplate


def test_all_nan_windows_give_nan_not_a_crash(tidy):
    df = tidy.copy()
    df.loc[df.track == "song_a", "value"] = np.nan
    assert (summary(df)["n_tracks"] == len(TRACKS) - 1).all()
    single = mc.alpha_curves_figure(
        track_summary(df, "song_a"), metric="SDR", target="vocals", track_label="song_a"
    )
    assert _curves(single) and all(np.isnan(np.asarray(t.y, float)).all() for t in _curves(single))


def test_run_data_serves_the_summary_for_the_median_and_a_track_summary_otherwise(tidy, stats):
    run = mv.RunData(path="/r", tidy=tidy, summary=stats)
    assert run.curve_stats() is stats
    pd.testing.assert_frame_equal(run.curve_stats("song_c"), track_summary(tidy, "song_c"))
    pd.testing.assert_frame_equal(run.sir_sar_means("vocals"), sir_sar_means(tidy, target="vocals"))
    assert run.tracks == list(TRACKS) and run.methods == list(METHODS)
    assert run.alphas == pytest.approx(list(ALPHAS))


# ----------------------------------------------------------------------- α curves


def test_alpha_curves_have_one_curve_per_method_and_bands_except_the_ceiling(stats):
    fig = mc.alpha_curves_figure(stats, metric="SDR", target="vocals")
    roles = _roles(fig)
    assert roles.count("curve") == 2  # dnn, traditional
    assert roles.count("ceiling") == 1  # oracle
    assert roles.count("band") == 4  # q75 + q25 for dnn and traditional
    by_method = {t.meta["method"]: t for t in _curves(fig)}
    assert set(by_method) == set(METHODS)
    assert by_method["oracle"].line.dash == "dash"
    assert by_method["dnn"].line.dash == "solid"
    for t in _curves(fig):
        assert "markers" in t.mode  # clickable points
        assert len(t.x) == len(ALPHAS)
        assert np.allclose(t.x, ALPHAS)
    bands = [t for t in fig.data if t.meta["role"] == "band"]
    assert [b.meta["edge"] for b in bands] == ["q75", "q25", "q75", "q25"]
    assert all(b.fill == "tonexty" for b in bands if b.meta["edge"] == "q25")
    # the lower edge lies below the upper edge
    assert np.all(np.asarray(bands[1].y) <= np.asarray(bands[0].y) + 1e-12)


def test_alpha_curve_customdata_is_track_method_alpha(tidy, stats):
    fig = mc.alpha_curves_figure(stats, metric="SIR", target="accompaniment")
    dnn = next(t for t in _curves(fig) if t.meta["method"] == "dnn")
    assert [list(c) for c in dnn.customdata] == [["", "dnn", float(a)] for a in ALPHAS]
    single = mc.alpha_curves_figure(
        track_summary(tidy, "song_c"), metric="SIR", target="vocals", track_label="song_c"
    )
    trad = next(t for t in _curves(single) if t.meta["method"] == "traditional")
    assert trad.customdata[3][0] == "song_c"
    assert trad.customdata[3][1] == "traditional"
    assert trad.customdata[3][2] == pytest.approx(ALPHAS[3])


def test_alpha_curves_follow_the_synthetic_trends(stats):
    sir = mc.alpha_curves_figure(stats, metric="SIR", target="vocals")
    sar = mc.alpha_curves_figure(stats, metric="SAR", target="vocals")
    dnn_sir = next(t for t in _curves(sir) if t.meta["method"] == "dnn").y
    dnn_sar = next(t for t in _curves(sar) if t.meta["method"] == "dnn").y
    assert dnn_sir[-1] > dnn_sir[0] + 5
    assert dnn_sar[-1] < dnn_sar[0] - 5


def test_methods_filter_and_empty_selection(stats):
    fig = mc.alpha_curves_figure(stats, metric="SDR", target="vocals", methods=["traditional"])
    assert [t.meta["method"] for t in _curves(fig)] == ["traditional"]
    empty = mc.alpha_curves_figure(stats, metric="SDR", target="vocals", methods=[])
    assert len(empty.data) == 0 and empty.layout.annotations


def test_panels_figure_has_targets_by_metrics(tidy, stats):
    fig = mc.alpha_panels_figure(stats)
    assert len(fig.layout.annotations) == 6  # subplot titles: 2 targets × 3 metrics
    curves = _curves(fig)
    assert len(curves) == 6 * len(METHODS)
    assert sum(bool(t.showlegend) for t in curves) == len(METHODS)
    assert {t.xaxis for t in curves} == {"x", "x2", "x3", "x4", "x5", "x6"}
    # panel (accompaniment, SIR) = row 2, column 2 → axis 5; same numbers as the single view
    song_b = track_summary(tidy, "song_b")
    single = mc.alpha_curves_figure(
        song_b, metric="SIR", target="accompaniment", track_label="song_b"
    )
    panels = mc.alpha_panels_figure(song_b, track_label="song_b")
    for method in METHODS:
        a = next(t for t in _curves(single) if t.meta["method"] == method)
        b = next(t for t in _curves(panels) if t.meta["method"] == method and t.xaxis == "x5")
        np.testing.assert_allclose(a.y, b.y)


# ----------------------------------------------------------------------- SAR vs SIR


def test_sar_vs_sir_coordinates_are_means_over_tracks_of_per_track_medians(tidy):
    fig = mc.sar_vs_sir_figure(sir_sar_means(tidy, target="vocals"), target="vocals")
    assert len(fig.data) == len(METHODS)
    dnn = next(t for t in fig.data if t.meta["method"] == "dnn")
    med = per_track_medians(tidy)
    sel = med[(med.method == "dnn") & (med.target == "vocals") & np.isclose(med.alpha, 0.25)]
    i = int(np.argmin(np.abs(ALPHAS - 0.25)))
    assert dnn.x[i] == pytest.approx(sel[sel.metric == "SIR"]["value"].mean())
    assert dnn.y[i] == pytest.approx(sel[sel.metric == "SAR"]["value"].mean())
    assert "markers" in dnn.mode
    assert dnn.customdata[i][2] == pytest.approx(0.25)
    assert "α" in dnn.hovertemplate
    assert dnn.text[0] == "α=0.05" and dnn.text[-1] == "α=0.95"
    oracle = next(t for t in fig.data if t.meta["method"] == "oracle")
    assert not any(oracle.text) and oracle.line.dash == "dash"
    # trade-off: higher α, more SIR, less SAR
    assert dnn.x[-1] > dnn.x[0] and dnn.y[-1] < dnn.y[0]


# ----------------------------------------------------------------------- framewise


def test_framewise_x_are_window_times_and_nan_windows_are_gaps(tidy):
    df = tidy.copy()
    df["time"] = df["window"] * 1.0 + 0.0
    mask = (df.track == "song_a") & (df.method == "dnn") & (df.window == 2) & (df.metric == "SAR")
    df.loc[mask, "value"] = np.nan
    fig = mc.framewise_figure(df, track="song_a", method="dnn", alpha=0.44, target="vocals")
    assert [t.meta["metric"] for t in fig.data] == ["SDR", "SIR", "SAR"]
    for t in fig.data:
        assert list(t.x) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        assert "markers" in t.mode
    sar = fig.data[2]
    assert np.isnan(sar.y[2]) and sar.connectgaps is False
    assert "α = 0.45" in fig.layout.title.text  # nearest grid value
    expected = df[
        (df.track == "song_a") & (df.method == "dnn") & (df.metric == "SDR")
        & (df.target == "vocals") & np.isclose(df.alpha, 0.45)
    ].sort_values("time")["value"]  # fmt: skip
    np.testing.assert_allclose(fig.data[0].y, expected.to_numpy(), equal_nan=True)
    assert tuple(fig.layout.xaxis.range) == (0, 6.0)


def test_framewise_unknown_track_gives_a_message(tidy):
    fig = mc.framewise_figure(tidy, track="nope", method="dnn", alpha=0.5, target="vocals")
    assert len(fig.data) == 0 and "No values" in fig.layout.annotations[0].text


# ----------------------------------------------------------------------- selection


def test_points_to_target_reads_customdata_in_every_wrapper():
    point = {"curve_number": 2, "point_index": 3, "customdata": ["song_b", "dnn", 0.35]}
    expected = mv.ClickTarget("song_b", "dnn", 0.35)
    assert mv.points_to_target(point) == expected
    assert mv.points_to_target({"points": [point]}) == expected
    assert mv.points_to_target({"selection": {"points": [point]}}) == expected
    assert expected.query_params() == {"track": "song_b", "method": "dnn", "alpha": "0.35"}


def test_points_to_target_median_point_uses_the_fallback_track():
    point = {"customdata": ["", "traditional", 0.15]}
    assert mv.points_to_target(point) is None  # no track to open
    got = mv.points_to_target(point, fallback_track="song_a")
    assert got == mv.ClickTarget("song_a", "traditional", 0.15)


def test_points_to_target_without_customdata_looks_up_the_figure(tidy):
    fig = mc.alpha_curves_figure(
        track_summary(tidy, "song_a"), metric="SDR", target="vocals", track_label="song_a"
    )
    n = next(i for i, t in enumerate(fig.data) if (t.meta or {}).get("method") == "oracle")
    got = mv.points_to_target({"curve_number": n, "point_index": 4}, figure=fig)
    assert got == mv.ClickTarget("song_a", "oracle", pytest.approx(ALPHAS[4]))
    band = next(i for i, t in enumerate(fig.data) if t.meta["role"] == "band")
    assert mv.points_to_target({"curve_number": band, "point_index": 0}, figure=fig) is None


@pytest.mark.parametrize(
    "selection", [None, {}, {"selection": {"points": []}}, {"points": [{"customdata": None}]}]
)
def test_points_to_target_nothing_selected(selection):
    assert mv.points_to_target(selection, fallback_track="x") is None


# ----------------------------------------------------------------------- misc


def test_orders_follow_the_registry_and_the_metric_list(tidy):
    df = tidy.assign(method=tidy["method"].replace({"traditional": "zz-new"}))
    assert mc.methods_of(df) == ["dnn", "oracle", "zz-new"]
    assert mc.targets_of(tidy) == ["vocals", "accompaniment"]
    assert mc.metrics_of(tidy) == ["SDR", "SIR", "SAR", "ISR"]
    assert mc.nearest_alpha([0.05, 0.45, 0.55], 0.5) == 0.45
    with pytest.raises(ValueError, match="empty"):
        mc.nearest_alpha([], 0.5)


def test_framewise_median_line_is_the_per_track_median(tidy):
    fig = mc.framewise_figure(tidy, track="song_c", method="dnn", alpha=0.05, target="vocals")
    sdr = tidy[
        (tidy.track == "song_c") & (tidy.method == "dnn") & (tidy.metric == "SDR")
        & (tidy.target == "vocals") & np.isclose(tidy.alpha, 0.05)
    ]["value"]  # fmt: skip
    assert fig.layout.shapes[0].y0 == pytest.approx(np.nanmedian(sdr))
    assert f"median {np.nanmedian(sdr):.2f} dB" in fig.layout.annotations[0].text


def test_config_rows_put_key_facts_first():
    rows = mv.config_rows(
        {"seed": 0, "alphas": [0.05, 0.5, 0.95], "command": "genex evaluate", "methods": ["dnn"]}
    )
    assert rows[0] == ("command", "genex evaluate")
    assert ("alphas", "3 values, 0.05 … 0.95") in rows
    assert rows[-1] == ("seed", "0")


def test_explorer_params_name_demo_tracks_and_give_paths_for_dataset_tracks(tmp_path):
    assets = tmp_path / "assets"
    data = tmp_path / "corpus"
    for folder in (assets / "demo_tracks" / "demo_song", data / "test" / "ds_song"):
        folder.mkdir(parents=True)
        sf.write(folder / "mixture.wav", np.zeros(8000, np.float32), 8000)
    config = {"data": str(data)}
    demo = mv.explorer_params(mv.ClickTarget("demo_song", "dnn", 0.3), config, assets)
    assert demo == {"track": "demo_song", "method": "dnn", "alpha": "0.30"}
    ds = mv.explorer_params(mv.ClickTarget("ds_song", "oracle", 0.555), config, assets)
    assert ds["track"] == str(data / "test" / "ds_song") and ds["alpha"] == "0.56"
    unknown = mv.explorer_params(mv.ClickTarget("nowhere", "dnn", 0.5), config, assets)
    assert unknown["track"] == "nowhere"
    audio = mv.track_audio(config, "demo_song", assets)
    assert audio is not None and audio.duration == pytest.approx(1.0)


def test_reset_on_run_change_forgets_run_dependent_selectors(tidy):
    state = {"met.methods": ["dnn"], "met.track": "song_b", "met.target": "vocals"}
    run_a = mv.RunData(path="/a", tidy=tidy)
    assert mv.reset_on_run_change(run_a, state) is True
    assert state == {"met.target": "vocals", "met._run": "/a"}
    state["met.track"] = "song_c"
    assert mv.reset_on_run_change(run_a, state) is False
    assert state["met.track"] == "song_c"
    assert mv.reset_on_run_change(mv.RunData(path="/b", tidy=tidy), state) is True
    assert "met.track" not in state


def test_track_audio_resolves_repo_relative_data_and_caps_at_max_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(mv, "REPO_ROOT", tmp_path)
    folder = tmp_path / "corpus" / "test" / "song"
    folder.mkdir(parents=True)
    sf.write(folder / "mixture.flac", np.zeros(3 * 8000, np.float32), 8000)
    got = mv.track_audio({"data": "corpus"}, "song", tmp_path / "assets")
    assert got is not None and got.path == folder / "mixture.flac"
    assert got.duration == pytest.approx(3.0)
    capped = mv.track_audio({"data": "corpus", "max_seconds": 2.0}, "song", tmp_path / "assets")
    assert capped.duration == pytest.approx(2.0)


# ----------------------------------------------------------------------- metric names


def test_every_metric_is_spelled_out_with_higher_is_better(stats):
    lines = mc.metric_glossary()
    assert [line.split("**")[1] for line in lines] == ["SDR", "SIR", "SAR", "ISR"]
    assert all("higher is better" in line for line in lines)
    assert "signal-to-artefacts ratio" in lines[2] and "artefacts" in mc.METRIC_HELP["SAR"]
    assert mc.metric_label("SIR") == "SIR (signal-to-interference ratio)"
    fig = mc.alpha_curves_figure(stats, metric="SIR", target="vocals")
    assert all(
        "signal-to-interference ratio, higher is better" in t.hovertemplate for t in _curves(fig)
    )
    assert "higher is better" in fig.layout.yaxis.title.text
    sarsir = mc.sar_vs_sir_figure(
        sir_sar_means(make_tidy(np.random.default_rng(0)), target="vocals"), target="vocals"
    )
    assert "signal-to-artefacts ratio" in sarsir.data[0].hovertemplate


# ----------------------------------------------------------------------- outliers


def _with_outlier(tidy, *, method="dnn", alpha=0.05, target="accompaniment", metric="SAR"):
    """museval's ~141 dB SAR (an estimate equal to its reference up to rounding) on every track."""
    df = tidy.copy()
    at = (
        (df.method == method) & np.isclose(df.alpha, alpha) & (df.target == target)
        & (df.metric == metric)
    )  # fmt: skip
    df.loc[at, "value"] = 141.3
    return df


def test_robust_range_ignores_far_outliers_only():
    rng = np.random.default_rng(0)
    normal = rng.normal(10, 4, 60)
    assert mc.robust_range(normal) is None  # nothing far out: plotly's autorange
    assert mc.robust_range([1.0, 2.0, 140.0]) is None  # too few values to tell
    lo, hi = mc.robust_range(np.r_[normal, 141.3, np.nan, np.inf])
    assert lo <= normal.min() and normal.max() <= hi < 60
    # a quiet window a few dB under tightly grouped values is not an outlier
    assert mc.robust_range(np.r_[np.full(20, 12.0), 12.5, 11.5, 3.0]) is None
    lo, hi = mc.robust_range(np.r_[normal, -90.0])
    assert -90 < lo <= normal.min()


def test_alpha_curves_keep_a_readable_range_and_name_the_off_scale_point(tidy):
    fig = mc.alpha_curves_figure(summary(_with_outlier(tidy)), metric="SAR", target="accompaniment")
    lo, hi = fig.layout.yaxis.range
    dnn = next(t for t in _curves(fig) if t.meta["method"] == "dnn")
    inside = np.asarray(dnn.y[1:], float)
    assert hi < 60 and lo <= inside.min() and inside.max() <= hi  # normal values readable
    assert dnn.y[0] == pytest.approx(141.3)  # the value itself is kept (hover, clicks)
    off = [t for t in fig.data if t.meta["role"] == "off_scale"]
    assert len(off) == 1 and off[0].meta["method"] == "dnn"
    assert lo < off[0].y[0] <= hi and off[0].marker.symbol[0] == "triangle-up"
    assert "SAR 141.3 dB, dnn, α 0.05, median over tracks (off scale)" == off[0].hovertext[0]
    assert list(off[0].customdata[0]) == ["", "dnn", 0.05]  # clickable like the curve
    assert "SAR 141.3 dB" in fig.layout.annotations[0].text
    assert mc.off_scale_notes(fig) == [off[0].hovertext[0]]
    caption = mv.off_scale_caption(fig)
    assert caption.startswith("Off scale") and "141.3 dB" in caption
    # the same table without the outlier: no range forced, nothing reported
    plain = mc.alpha_curves_figure(summary(tidy), metric="SAR", target="accompaniment")
    assert plain.layout.yaxis.range is None and not mc.off_scale_notes(plain)
    assert mv.off_scale_caption(plain) is None


def test_only_the_panel_with_the_outlier_gets_a_range(tidy):
    fig = mc.alpha_panels_figure(summary(_with_outlier(tidy)))
    ranged = [k for k in ("yaxis", *(f"yaxis{i}" for i in range(2, 7))) if fig.layout[k].range]
    assert ranged == ["yaxis6"]  # accompaniment (row 2) x SAR (column 3)
    notes = mc.off_scale_notes(fig)
    assert len(notes) == 1 and notes[0].startswith("SAR 141.3 dB, dnn, α 0.05")
    assert len(fig.layout.annotations) == 6 + 1  # subplot titles + the note


def test_single_track_and_framewise_outliers_are_named_with_the_track(tidy):
    df = _with_outlier(tidy)
    one = mc.alpha_curves_figure(
        track_summary(df, "song_b"), metric="SAR", target="accompaniment", track_label="song_b"
    )
    assert mc.off_scale_notes(one)[0].startswith("SAR 141.3 dB, dnn, α 0.05, on track song_b")
    fw = df.copy()
    fw.loc[(fw.track == "song_a") & (fw.method == "dnn") & (fw.window == 3), "value"] = 140.2
    fig = mc.framewise_figure(fw, track="song_a", method="dnn", alpha=0.45, target="vocals")
    notes = mc.off_scale_notes(fig)
    assert len(notes) == 3  # one window in each of the SDR, SIR and SAR panels
    assert notes[0] == "SDR 140.2 dB, at 3 s on track song_a (off scale)"
    assert [t.meta["metric"] for t in fig.data if t.meta["role"] == "framewise"] == [
        "SDR", "SIR", "SAR"
    ]  # fmt: skip
    assert all(fig.layout[k].range[1] < 60 for k in ("yaxis", "yaxis2", "yaxis3"))


def test_sar_vs_sir_outlier_is_off_scale_on_its_axis(tidy):
    df = _with_outlier(tidy, target="vocals", alpha=0.95)
    fig = mc.sar_vs_sir_figure(sir_sar_means(df, target="vocals"), target="vocals")
    assert fig.layout.yaxis.range is not None and fig.layout.yaxis.range[1] < 60
    assert fig.layout.xaxis.range is None
    assert mc.off_scale_notes(fig)[0].startswith("mean SAR 141.3 dB, dnn, α 0.95")


# ----------------------------------------------------------------------- per track


def test_per_track_figure_has_a_point_per_track_and_method(tidy):
    medians = per_track_medians(tidy)
    fig = mc.per_track_figure(medians, metric="SDR", target="vocals", alpha=0.5)
    traces = [t for t in fig.data if t.meta["role"] == "per_track"]
    assert [t.meta["method"] for t in traces] == list(METHODS)
    dnn = traces[0]
    assert list(dnn.x) == list(TRACKS)
    sel = medians[
        (medians.method == "dnn") & (medians.metric == "SDR") & (medians.target == "vocals")
        & np.isclose(medians.alpha, 0.45)
    ].sort_values("track")  # fmt: skip
    np.testing.assert_allclose(dnn.y, sel["value"])
    assert list(dnn.customdata[1]) == ["song_b", "dnn", pytest.approx(0.45)]
    assert "α = 0.45" in fig.layout.title.text and "3 track(s)" in fig.layout.title.text
    # a run being written: fewer tracks, fewer points
    part = mc.per_track_figure(
        medians[medians.track != "song_c"], metric="SDR", target="vocals", alpha=0.5
    )
    assert sum(len(t.x) for t in part.data) == 2 * len(METHODS)
    empty = mc.per_track_figure(medians.iloc[:0], metric="SDR", target="vocals", alpha=0.5)
    assert len(empty.data) == 0 and "No SDR values" in empty.layout.annotations[0].text


# ----------------------------------------------------------------------- run state


def test_method_choices_include_methods_still_to_come(tidy):
    run = mv.RunData(
        path="/r", config={"methods": ["oracle", "dnn", "zz-new"]}, tidy=tidy[tidy.method == "dnn"]
    )
    assert run.methods == ["dnn"]
    assert run.method_choices == ["dnn", "oracle", "zz-new"]


def test_status_lines_say_live_incomplete_corrupt_and_failed():
    live = mv.status_lines(RunStatus(done=3, expected=8, writer_pid=4242))
    assert live["info"][0].startswith("Run in progress: 3 of 8 track×method files complete")
    assert "pid 4242" in live["info"][0] and "refreshes every 3 s" in live["info"][0]
    assert not live["warning"] and not live["error"]
    stopped = mv.status_lines(
        RunStatus(
            done=3, expected=8, corrupt=("b.dnn.json",),
            failures=("c (oracle): InvalidAudioError: silent vocals",),
        )
    )  # fmt: skip
    assert not stopped["info"]
    assert stopped["warning"][0].startswith("Incomplete run: 3 of 8")
    assert "`b.dnn.json`" in stopped["warning"][1] and "genex evaluate" in stopped["warning"][1]
    assert "- c (oracle): InvalidAudioError: silent vocals" in stopped["error"][0]
    done = mv.status_lines(RunStatus(done=8, expected=8))
    assert done == {
        "caption": ["8 of 8 track×method files complete."], "info": [], "warning": [], "error": []
    }  # fmt: skip
    assert mv.RunData(path="/r", status=RunStatus(0, 8, writer_pid=1)).refresh_every == 3.0
    assert mv.RunData(path="/r", status=RunStatus(0, 8)).refresh_every is None


def test_a_live_read_parses_only_new_files_and_names_corrupt_ones(tmp_path, monkeypatch):
    from core.io_utils import output_lock
    from tests.test_page_metrics import write_run

    tidy = make_tidy(np.random.default_rng(4), tracks=("t1", "t2"), methods=("dnn",))
    folder = tmp_path / "run"
    cfg = {"methods": ["dnn"], "alphas": sorted(set(tidy.alpha)), "tracks": ["t1", "t2", "t3"]}
    run = write_run(folder, tidy[tidy.track == "t1"], cfg)
    (folder / "metrics.parquet").unlink()  # a run still being written has no table yet
    parsed = []
    real = mv.read_track_table
    monkeypatch.setattr(
        mv, "read_track_table", lambda p, **kw: parsed.append(Path(p).name) or real(p, **kw)
    )
    mv._track_table.clear()
    with output_lock(folder):
        first = mv.load_run(folder)
        assert first.status.writing and first.refresh_every == mv.REFRESH_SECONDS
        assert (first.status.done, first.status.expected) == (1, 3) and first.tracks == ["t1"]
        write_run(folder, tidy[tidy.track == "t2"], cfg)  # resumes: t1 is left as it was
        (folder / "metrics.parquet").unlink()
        (folder / "t3.dnn.json").write_text('{"targets": [{"name": "vocals", "frames": [')
        parsed.clear()
        second = mv.load_run(folder)
    assert sorted(parsed) == ["t2.dnn.json", "t3.dnn.json"]  # t1 came from the cache
    assert second.tracks == ["t1", "t2"] and second.status.corrupt == ("t3.dnn.json",)
    assert second.status.done == 2 and second.status.writing
    assert not mv.load_run(folder).status.writing  # the lock is gone: looked up on every call
    pd.testing.assert_frame_equal(second.tidy, run.tidy())
