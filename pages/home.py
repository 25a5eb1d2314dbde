"""Home: what GenEx Lab is, its two experiments, and what is available locally."""

from __future__ import annotations

import streamlit as st

from dashboard import home

st.title("GenEx Lab")
st.markdown(
    "A workbench for two classic music-AI experiments: **generation** of 12-bar blues with an "
    "LSTM, and **extraction** of vocals from a mix with a deep network that predicts a "
    "probabilistic binary mask. Every number shown here is computed on this machine, with the "
    "command that produced it."
)

gen, ext = st.columns(2)
with gen:
    st.subheader("Generation — blues LSTM")
    st.markdown(
        "After Eck & Schmidhuber (2002): an LSTM learns the 12-bar blues chord form, then melody "
        "and chords together, by next-step prediction, and composes freely. The lab measures "
        "what the paper only listened to: does it keep the form after 10, 50, 100 bars, and "
        "how much did it copy from its training set?"
    )
    st.page_link("../pages/composer.py", label="Open the Composer", icon=":material/piano:")
with ext:
    st.subheader("Extraction — Deep Karaoke")
    st.markdown(
        "After Simpson, Roma & Plumbley (2015): a feed-forward network reads 20-frame windows "
        "of the mixture spectrogram and predicts the ideal binary mask of the vocal; a "
        "confidence threshold α turns the averaged probabilities into a binary mask. BSS Eval "
        "(museval v4) shows the SDR / SIR / SAR trade-off as α moves."
    )
    st.page_link(
        "../pages/mask_explorer.py", label="Open the Mask explorer", icon=":material/graphic_eq:"
    )
    st.page_link("../pages/metrics.py", label="Open Metrics", icon=":material/monitoring:")

st.header("Available locally")
inv = home.current_inventory()
c1, c2 = st.columns(2)
with c1:
    st.subheader(f"Composer models ({len(inv.composer_models)})")
    st.dataframe(home.models_table(inv.composer_models), hide_index=True)
    st.subheader(f"Demo tracks ({len(inv.demo_tracks)})")
    st.dataframe(home.tracks_table(inv.demo_tracks, made_by=inv.made_by), hide_index=True)
with c2:
    st.subheader(f"Separator models ({len(inv.separator_models)})")
    st.dataframe(home.models_table(inv.separator_models), hide_index=True)
    st.subheader(f"Evaluation runs ({len(inv.results_runs)})")
    st.dataframe(home.runs_table(inv.results_runs, made_by=inv.made_by), hide_index=True)

with st.expander("System"):
    for name, state in home.system_status().items():
        st.markdown(f"- **{name}**: {state}")
