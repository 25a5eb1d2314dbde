"""Mask explorer: see and hear a probabilistic vocal mask re-thresholded live at α.

The α panels are thresholded in the browser while the canvas's slider moves
(:mod:`dashboard.alpha_canvas`); the stems follow when it is released.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.errors import CoreError
from core.karaoke.methods import RULES
from dashboard import alpha_canvas as ac
from dashboard import mask_explorer_view as ev
from dashboard import ui

st.title("Mask explorer")
st.caption(
    "Deep Karaoke (Simpson, Roma & Plumbley 2015): a network predicts, for every time-frequency "
    "bin of the mixture, the probability P that the vocal dominates; a threshold α turns P into "
    "a binary mask. Dragging α re-thresholds the cached mask in the browser (the network does "
    "not run again); the stems follow when you release it. "
    "Sources are always the fixed two-source set: **vocals** and **accompaniment**."
)

# ?track=&method=&alpha= from a link (e.g. the Metrics page); α and Frequencies as last drawn
ev.apply_query_params()
if msg := ev.pop_query_warning():
    st.warning(msg)

# ---- track ----------------------------------------------------------------------------
source = st.radio(
    "Track", ev.TRACK_ORIGINS, key="sep.source", format_func=ev.ORIGIN_LABELS.get, horizontal=True
)
track = None
try:
    if source == "demo":
        demos = ev.demo_tracks()
        if not demos:
            st.info("No demo tracks in assets/demo_tracks: pick a dataset folder or upload.")
            ev.stop_without_track()
        ev.fit_choice("sep.demo", list(demos))
        name = st.selectbox("Demo track", list(demos), key="sep.demo")
        track = ev.load_track(demos[name])
    elif source == "dataset":
        root = st.text_input(
            "Dataset folder", key="sep.root",
            help="A MUSDB18-HQ-style folder: <root>/<track>/ or <root>/<split>/<track>/ holding "
            "mixture + vocals + accompaniment (or drums/bass/other) audio files.",
        )  # fmt: skip
        if not root.strip():
            st.info("Type the path of a folder of tracks on this machine.")
            ev.stop_without_track()
        folders = ev.list_track_folders(root.strip())
        if not folders:
            st.warning(f"No track folders found under {root!r}.")
            ev.stop_without_track()
        ev.fit_choice("sep.folder", folders)
        folder = st.selectbox(
            "Dataset track", folders, key="sep.folder",
            format_func=lambda p: ev.folder_label(p, root.strip()),
        )  # fmt: skip
        track = ev.load_track(folder)
    else:
        c1, c2, c3 = st.columns(3)
        mix = c1.file_uploader("Mixture", type=ui.AUDIO_TYPES, key="sep.up.mixture")
        voc = c2.file_uploader("Vocals stem (optional)", type=ui.AUDIO_TYPES, key="sep.up.vocals")
        acc = c3.file_uploader(
            "Accompaniment stem (optional)", type=ui.AUDIO_TYPES, key="sep.up.accompaniment"
        )
        if mix is None:
            st.info("Upload a mixture, optionally with its vocal and/or accompaniment stem.")
            ev.stop_without_track()
        track = ev.track_from_upload(  # stems are brought to the mixture's rate and channels
            Path(mix.name).stem, mix.getvalue(),
            voc.getvalue() if voc else None, acc.getvalue() if acc else None,
        )  # fmt: skip
except CoreError as exc:
    ui.show_error(exc)
    ev.stop_without_track()

# ---- method and rule -------------------------------------------------------------------
methods = ev.available_methods(track)
ev.fit_choice("sep.method", methods)
c1, c2 = st.columns(2)
method = c1.selectbox(
    "Method", methods, key="sep.method", format_func=ev.method_label,
    help="Oracle masks (computed from the reference stems) are upper bounds; they are offered "
    "only when the track's stems are known.",
)  # fmt: skip
rule = c2.selectbox("Threshold rule", RULES, key="sep.rule", format_func=ev.rule_label)
with st.expander("Model file"):
    ckpt = st.text_input(
        "Separator checkpoint (DNN .pt) or NMF bases (.npz)", key="sep.checkpoint",
        placeholder="empty: the shipped assets/separator/dnn.pt or nmf.npz",
        help="Made by `genex train-separator` / `genex train-nmf`. Ignored by the oracles.",
    )  # fmt: skip
checkpoint = ev.checkpoint_for(method, ckpt)
key = ev.track_key(track)
ev.sync_query_params(track=ev.track_param(track), method=method)
try:
    ev.mask_result(key, method, checkpoint, track)  # runs the network once, then cached
except CoreError as exc:
    ui.show_error(exc)
    ev.stop_before_view()

st.markdown(f"**{track.name}** — {track.mixture.shape[-1] / track.sr:.1f} s, {track.sr} Hz, "
            f"{track.mixture.shape[0]} channel(s)")  # fmt: skip
cols = st.columns(3)
with cols[0]:
    st.markdown("Mixture")
    ui.audio_player(track.mixture, track.sr)
if track.references is not None:
    for col, label, ref in zip(cols[1:], ("Vocals reference", "Accompaniment reference"),
                               track.references, strict=True):  # fmt: skip
        with col:
            st.markdown(label)
            ui.audio_player(ref, track.sr)


@st.fragment
def alpha_view() -> None:
    """The frequency range and the α-independent panels; reruns alone when the range changes."""
    active = ev.alpha_effect(key, method, checkpoint, track)
    fmax = st.columns([1, 4])[0].selectbox(
        "Frequencies", ev.FMAX_CHOICES, key="sep.fmax", format_func=ev.fmax_label
    )
    ev.remember_view_state()
    try:
        fig = ev.static_panels(track, method=method, checkpoint=checkpoint, key=key, fmax=fmax)
    except CoreError as exc:
        ui.show_error(exc)
        return
    st.plotly_chart(fig, key="sep.figure", config={"displaylogo": False})
    alpha_panel(fmax, active)


@st.fragment
def alpha_panel(fmax: float | None, active: bool) -> None:
    """The α slider, the live α canvas and everything α drives: stems, players, shares and
    downloads; reruns alone when α moves or is released on the canvas (the panels above and
    their figure are not sent again)."""
    alpha = st.slider(
        "α — vocal confidence threshold", min_value=ev.ALPHA_MIN, max_value=ev.ALPHA_MAX,
        step=ev.ALPHA_STEP, key="sep.alpha", disabled=not active or rule == "soft",
        help="Vocal mask: P > α. Accompaniment mask: P < 1 − α (paper rule). The same α as "
        "the live slider of the α panels below.",
    )  # fmt: skip
    ev.remember_view_state()
    if note := ev.alpha_note(method, rule, active):
        st.caption(note)
    t0 = time.perf_counter()
    try:
        data = ev.canvas_data(key, method, checkpoint, fmax, rule, alpha, track)
    except CoreError as exc:
        ui.show_error(exc)
        return
    ev.sync_query_params(alpha=alpha)
    ac.alpha_canvas(data, key=ev.CANVAS_KEY, on_alpha=ev.on_canvas_alpha)
    t1 = time.perf_counter()
    try:
        ev.stems_at_alpha(key, method, checkpoint, alpha, rule, track)
        t2 = time.perf_counter()
        wavs = ev.stem_wavs(key, method, checkpoint, alpha, rule, track)  # once per α
    except CoreError as exc:
        ui.show_error(exc)
        return
    st.caption(ev.shares_text(ev.mask_shares(key, method, checkpoint, alpha, rule, track)))
    name = track.name or "track"
    for col, label, wav in zip(st.columns(2), ("Vocals", "Accompaniment"), wavs, strict=True):
        with col:
            st.markdown(f"{label} estimate")
            st.audio(wav, format="audio/wav")
            st.download_button(  # the same bytes as the player (encoded once per α)
                f"Download {label.lower()} (WAV)", data=wav,
                file_name=f"{name}.{method}.alpha{alpha:.2f}.{label.lower()}.wav",
                mime="audio/wav", key=f"sep.dl.{label.lower()}",
            )  # fmt: skip
    st.caption(
        f"Server time for this α: panels {1e3 * (t1 - t0):.0f} ms, threshold + reconstruction "
        f"{1e3 * (t2 - t1):.0f} ms, players {1e3 * (time.perf_counter() - t2):.0f} ms."
    )
    with st.expander("Calibration on this track: reliability diagram"):
        if note := ev.reliability_note(track, method):
            st.caption(note)
            return
        weighted = st.checkbox(
            "Weight bins by mixture magnitude", key="sep.rel.weighted",
            help="Off: every non-silent time-frequency bin counts once, as in the ECE stored "
            "in the checkpoint at training. On: loud bins count more.",
        )  # fmt: skip
        try:  # computed once per track and method; α only moves the line
            curve = ev.track_reliability(key, method, checkpoint, weighted, track)
        except CoreError as exc:
            ui.show_error(exc)
            return
        st.plotly_chart(
            ev.reliability_plot(curve, alpha=alpha, rule=rule, key=key, method=method),
            key="sep.reliability", config={"displaylogo": False},
        )  # fmt: skip
        st.caption(ev.reliability_text(curve))


alpha_view()
