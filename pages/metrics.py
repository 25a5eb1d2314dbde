"""Metrics: SDR / SIR / SAR across the confidence threshold α, from any results run."""

from __future__ import annotations

import streamlit as st

from core.errors import CoreError
from core.paths import assets_dir, repo_relative, results_dir
from dashboard import metrics_view as mv
from dashboard.figures import metric_curves as mc
from dashboard.ui import show_error

st.title("Metrics")
st.caption(
    "BSS Eval v4 (museval) on the fixed two-source set **vocals + accompaniment**, framewise over "
    "1 s windows; each track is summarised by its median over windows (undefined windows "
    "ignored), tracks by their median and interquartile range. Higher is better; α is the "
    "confidence threshold of the binary masks."
)

# --- which run -------------------------------------------------------------------------------
runs = mv.find_runs(assets_dir(), results_dir())
pick, typed = st.columns([2, 3])
with pick:
    chosen = st.selectbox(
        "Results run", runs, key="met.run", format_func=repo_relative,
        placeholder="no runs found",
        help="Shipped runs first, then those under the results folder.",
    )  # fmt: skip
if "met.folder" not in st.session_state and st.query_params.get("run"):
    st.session_state["met.folder"] = st.query_params["run"]  # a link to a run: /metrics?run=DIR
with typed:
    folder = st.text_input(
        "…or any results folder", key="met.folder", placeholder="/path/to/a/genex/results/run",
        help="A folder written by `genex evaluate --out DIR`, also while it is being written; "
        "it overrides the choice on the left. Link to one with `/metrics?run=DIR`.",
    )  # fmt: skip
path = folder.strip() or chosen
if not path:
    st.info(
        "No results run found. Make one with `genex evaluate --data DIR --methods "
        "dnn,traditional,oracle --alphas 0.05:0.95:0.05 --out results/my_run`."
    )
    st.stop()
try:
    live_every = mv.load_run(path).refresh_every
except CoreError as exc:
    show_error(exc)
    st.stop()


def show_run() -> None:
    """Everything below the run picker; reruns on its own while the run is being written."""
    try:
        run = mv.load_run(path)
    except CoreError as exc:
        show_error(exc)
        return
    if run.refresh_every != live_every:  # started or stopped being written: reset the timer
        st.rerun()
    lines = mv.status_lines(run.status)
    for text in lines["caption"]:
        st.caption(text)
    for text in lines["info"]:
        st.info(text)
    if run.status.writing and run.status.expected:
        st.progress(min(run.status.done / run.status.expected, 1.0))
    for text in lines["warning"]:
        st.warning(text)
    for text in lines["error"]:
        st.error(text)
    if run.tidy.empty:
        if not run.status.writing:
            st.warning(f"The run in {path} holds no metrics yet.")
        return

    mv.reset_on_run_change(run, st.session_state)
    with st.expander("Run configuration"):
        st.markdown(
            "\n".join(f"- **{name}**: `{value}`" for name, value in mv.config_rows(run.config))
            or "(no configuration recorded)"
        )

    # --- selectors ---------------------------------------------------------------------------
    c1, c2, c3, c4 = st.columns([3, 2, 2, 1])
    choices = run.method_choices
    methods = c1.multiselect("Methods", choices, default=choices, key="met.methods")

    def follow_track() -> None:
        """The framewise view follows the track chosen above."""
        if st.session_state["met.track"] != mc.MEDIAN:
            st.session_state["met.fw_track"] = st.session_state["met.track"]

    track = c2.selectbox(
        "Track", [mc.MEDIAN, *run.tracks], key="met.track", on_change=follow_track,
        format_func=lambda t: "median over tracks" if t == mc.MEDIAN else t,
    )  # fmt: skip
    target = c3.selectbox(
        "Target", mc.targets_of(run.tidy), key="met.target", format_func=mc.TARGET_LABELS.get
    )
    metric = c4.selectbox(
        "Metric", mc.metrics_of(run.tidy), key="met.metric",
        help="  \n".join(mc.metric_glossary(mc.metrics_of(run.tidy))),
    )  # fmt: skip
    click_track = run.tracks[0] if track == mc.MEDIAN else track

    def show(fig, key: str) -> None:
        """Draw a clickable figure; a click switches to the Mask explorer at that point."""
        event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=key)
        clicked = mv.points_to_target(event, figure=fig, fallback_track=click_track)
        if clicked is not None:
            params = mv.explorer_params(clicked, run.config, assets_dir())
            st.switch_page("../pages/mask_explorer.py", query_params=params)
        note = mv.off_scale_caption(fig)
        if note:
            st.caption(note)

    if not methods:
        st.info("Choose at least one method.")
        return

    # --- α curves ----------------------------------------------------------------------------
    stats = run.curve_stats(track)
    show(
        mc.alpha_curves_figure(
            stats, metric=metric, target=target, track_label=track, methods=methods
        ),
        "met.curves",
    )
    st.caption(
        f"Shaded: interquartile range over {'tracks' if track == mc.MEDIAN else 'windows'}; "
        f"dashed: the oracle mask, a ceiling. Click a point to open the Mask explorer at that "
        f"method and α on track **{click_track}**."
    )
    st.caption("  \n".join(mc.metric_glossary(mc.metrics_of(run.tidy))))

    st.subheader("SDR, SIR and SAR — vocal and non-vocal")
    show(mc.alpha_panels_figure(stats, track_label=track, methods=methods), "met.panels")

    st.subheader("Like to like: SAR as a function of SIR")
    show(
        mc.sar_vs_sir_figure(run.sir_sar_means(target), target=target, methods=methods),
        "met.sarsir",
    )
    st.caption(
        "Each point is one α: the mean over tracks of each track's median SIR and SAR. At "
        "equal SIR, a higher curve has fewer artefacts."
    )

    # --- at one α: per track, and over time ---------------------------------------------------
    st.subheader("At one α: per track, and over time")
    fw_alpha = st.select_slider(
        "α", run.alphas, value=mc.nearest_alpha(run.alphas, 0.5), key="met.fw_alpha",
        format_func=lambda a: f"{a:.2f}",
    )  # fmt: skip
    show(
        mc.per_track_figure(
            run.medians, metric=metric, target=target, alpha=fw_alpha, methods=methods
        ),
        "met.pertrack",
    )
    f1, f2 = st.columns(2)
    if st.session_state.get("met.fw_track") not in run.tracks:
        st.session_state["met.fw_track"] = click_track
    fw_track = f1.selectbox("Track", run.tracks, key="met.fw_track")
    fw_method = f2.selectbox("Method", methods, key="met.fw_method")
    audio = mv.track_audio(run.config, fw_track, assets_dir())
    framewise = mc.framewise_figure(
        run.tidy, track=fw_track, method=fw_method, alpha=fw_alpha, target=target,
        duration=audio.duration if audio else None,
    )  # fmt: skip
    st.plotly_chart(framewise, key="met.framewise")
    note = mv.off_scale_caption(framewise)
    if note:
        st.caption(note)
    if audio is not None:
        st.audio(str(audio.path))


st.fragment(show_run, run_every=live_every)()
