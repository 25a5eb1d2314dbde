"""Composer: the blues LSTM's composition as a piano roll you can play, steer and measure."""

from __future__ import annotations

import streamlit as st

from core.blues.midi import steps_per_second
from core.blues.priming import BAR_PATTERNS, bar_pattern_prime, corpus_prime, fit_prime
from core.errors import CoreError
from dashboard import composer_view as cv
from dashboard.figures.piano_roll import form_accuracy_chart, loss_figure, piano_roll_figure
from dashboard.player import roll_player
from dashboard.ui import show_error

st.title("Composer")
st.caption(
    "Eck & Schmidhuber's blues LSTM (2002) composing free-running: each chosen step is fed back "
    "as the next input. The measures say whether it keeps the 12-bar form and how much it copies."
)


def train_panel() -> None:
    """Expander: train a small model in the background; it joins the model picker when done.

    The training runs in a thread kept in the session (``comp.train_job``), so changing any
    other control goes on while it trains; a fragment polls it every 2 s (each poll costs the
    training thread some GIL time).
    """
    job = st.session_state.get("comp.train_job")
    if cv.collect_training(job, st.session_state):
        # it finished during this run, after the picker was drawn (no fragment polls it any
        # more): run again so the picker selects the new model
        st.rerun()
    running = job is not None and job.running
    # open while a training runs and after one (its result stays in view), else only when
    # there is no model at all
    with st.expander("Train a quick model", expanded=not choices or job is not None):
        t1, t2, t3, t4 = st.columns(4)
        lock = {"disabled": running, "help": "Locked while a training runs." if running else None}
        exp = t1.selectbox("Experiment", [2, 1, 0], key="comp.train_exp", **lock,
                           format_func=lambda e: {1: "1: chords", 2: "2: chords + melody",
                                                  0: "modern LSTM"}[e])  # fmt: skip
        epochs = t2.number_input("Epochs", 1, 100, 20, key="comp.train_epochs", **lock)
        tseed = t3.number_input("Seed", 0, 10_000, 0, key="comp.train_seed", **lock)
        segments = t4.selectbox("Corpus (choruses)", [128, 512, 1024, 4096], index=1,
                                key="comp.train_segments", **lock)  # fmt: skip
        if not running:
            st.caption(cv.schedule_caption(experiment=exp, epochs=int(epochs)))
        if st.button("Train", key="comp.train_go", type="primary", disabled=running):
            number = st.session_state["comp.train_count"] = (
                st.session_state.get("comp.train_count", 0) + 1
            )
            try:
                job = cv.start_training(experiment=exp, epochs=int(epochs), seed=int(tseed),
                                        n_segments=int(segments), number=number)  # fmt: skip
            except CoreError as exc:
                show_error(exc)
                return
            st.session_state["comp.train_job"] = job
            st.rerun()  # draw the panel locked, with the live progress
        if running:
            live_training()
        elif job is not None:
            finished_training(job)


@st.fragment(run_every=2.0)
def live_training() -> None:
    """Progress of the running training, redrawn every 2 s; a full rerun once it ends."""
    job = st.session_state.get("comp.train_job")
    if job is None:
        return
    if not job.running:  # finished: rerun the page so the model joins the picker
        st.rerun(scope="app")
    st.info(job.status())
    losses, accs, change, planned = cv.training_curve(job)
    st.plotly_chart(loss_figure(losses, accs, stage_change=change, epochs_planned=planned),
                    key="comp.loss_live")  # fmt: skip
    if st.button("Stop training", key="comp.train_stop"):
        job.stop()


def finished_training(job: cv.TrainingJob) -> None:
    """How the last training ended: its model and loss curve, or why there is none."""
    if job.error is not None:
        if not isinstance(job.error, CoreError):
            raise job.error  # a bug: let it surface
        show_error(job.error)
        return
    if job.stopped or job.result is None:
        st.info(job.status())
        return
    run = job.result
    early = " (stopped early: form learned)" if run.stopped_early else ""
    st.success(f"Trained **{run.choice.name}** in {run.seconds:.1f} s{early}. {job.status()}")
    losses, accs, change, planned = cv.training_curve(run=run)
    st.plotly_chart(loss_figure(losses, accs, stage_change=change, epochs_planned=planned),
                    key="comp.loss_last")  # fmt: skip


def stop_page() -> None:
    """End this run early, but keep the training panel (a running training stays visible)."""
    train_panel()
    st.stop()


trained: dict = st.session_state.setdefault("comp.trained", {})  # key -> ComposerModel
st.session_state.setdefault("comp.trained_choices", [])
cv.collect_training(st.session_state.get("comp.train_job"), st.session_state)  # once finished
choices = {c.name: c for c in cv.shipped_models()}
choices.update({c.name: c for c in st.session_state.setdefault("comp.trained_choices", [])})
if not choices:
    st.info("No composer model found in assets/composer: train one below, or run "
            "`genex train-composer --experiment 2 --out assets/composer/exp2.pt`.")  # fmt: skip
if "comp.pending_model" in st.session_state:  # a model trained on the last run
    st.session_state["comp.model"] = st.session_state.pop("comp.pending_model")
elif "exp2" in choices:
    st.session_state.setdefault("comp.model", "exp2")

c1, c2, c3, c4, c5, c6 = st.columns([2, 1, 1, 1.3, 1.3, 1.3])
name = c1.selectbox("Model", list(choices), key="comp.model")
bars_in = c2.number_input("Bars", value=48, step=12, key="comp.bars",
                          help=f"{cv.BARS_RANGE[0]} to {cv.BARS_RANGE[1]} bars.")  # fmt: skip
mode = st.session_state.get("comp.mode", "threshold")  # the radio is drawn after the seed
seed = c3.number_input("Seed", 0, 10_000, 0, key="comp.seed", help=cv.seed_help(mode),
                       disabled=not cv.seed_matters(mode))  # fmt: skip
mode = c4.radio("Generation", ["threshold", "sample"], key="comp.mode", horizontal=True)
threshold = c5.slider("Threshold", 0.05, 0.95, 0.5, 0.05, key="comp.threshold",
                      disabled=mode != "threshold")  # fmt: skip
temperature = c6.slider("Temperature", 0.1, 3.0, 1.0, 0.1, key="comp.temperature",
                        disabled=mode != "sample")  # fmt: skip

p1, p2, p3 = st.columns([1.2, 2, 1])
source = p1.selectbox("Priming", cv.PRIME_SOURCES, key="comp.prime")
tempo = p3.number_input("Tempo (bpm)", 40, 240, 120, step=10, key="comp.tempo")

s1, s2, s3, s4 = st.columns([1.5, 1, 1, 1])
sample_chords = s1.toggle("Sample the chords too", key="comp.sample_chords",
                          disabled=mode != "sample",
                          help="Sample mode: draw each chord as well (the papers thresholded "
                               "them). Does it keep the form while improvising?")  # fmt: skip
perturbed = s2.toggle("Perturb", key="comp.perturb",
                      help="Force wrong chords into some bars and watch the per-chorus chart: "
                           "how many bars until the model is back on the form?")  # fmt: skip
p_bar = s3.number_input("From bar", 1, 199, 25, key="comp.perturb_bar", disabled=not perturbed)
p_n = s4.selectbox("Wrong bars", [1, 2], index=1, key="comp.perturb_bars", disabled=not perturbed)
perturb = (int(p_bar) - 1, int(p_n)) if perturbed else None

model = None
if name is not None:
    try:
        model = cv.get_model(choices[name], trained)
    except CoreError as exc:
        show_error(exc)
if model is None:
    stop_page()
st.caption(f"**{name}** — {cv.model_summary(model)}")
try:
    bars = cv.check_bars(bars_in)
    st.session_state["comp.bars_ok"] = bars
except CoreError as exc:
    bars = st.session_state.get("comp.bars_ok", 48)
    show_error(exc)
    st.warning(f"Bar count {bars_in:g} refused: still showing the last valid length, "
               f"{bars} bars.")  # fmt: skip
corpus, corpus_key = cv.training_corpus(model)

prime = None
try:
    if source == "corpus chorus":
        idx = p2.number_input("Chorus of the training corpus", 0, corpus.sequences.shape[0] - 1,
                              0, key="comp.prime_chorus")  # fmt: skip
        prime = corpus_prime(corpus, idx)
    elif source == "uploaded MIDI":
        up = p2.file_uploader("MIDI file (first 12 bars prime the model)", type=["mid", "midi"],
                              key="comp.prime_midi")  # fmt: skip
        if up is not None:
            prime = cv.midi_prime(up.getvalue(), form=model.form)
    elif source == "first-bar pattern":
        pattern = p2.selectbox("First bar", list(BAR_PATTERNS), key="comp.prime_pattern")
        prime = bar_pattern_prime(pattern, form=model.form)
except CoreError as exc:
    show_error(exc)
    prime = None
if prime is not None:
    prime = fit_prime(prime, model.form.n_units, max_steps=12 * model.form.steps_per_bar)

try:
    comp = cv.composition(
        model, model_key=choices[name].key, bars=bars, seed=int(seed), mode=mode,
        threshold=threshold, temperature=temperature, prime=prime,
        sample_chords=bool(sample_chords), perturb=perturb,
    )  # fmt: skip
    m = cv.measures(comp)
except CoreError as exc:
    show_error(exc)
    stop_page()

roll_col, measure_col = st.columns([3, 1])
with roll_col:
    primed = comp.n_prime_steps if prime is not None else 0  # not the default 1-step prime
    rows, probs = cv.shown_rows(comp)  # no empty melody rows for a chords-only model
    fig = piano_roll_figure(rows, form=comp.form, probs=probs, n_prime_steps=primed,
                            plot_width=cv.ROLL_PLOT_WIDTH_PX, playhead="comp-player")  # fmt: skip
    st.plotly_chart(fig, key="comp.roll_chart")
    try:
        audio = cv.render(comp.roll, form=comp.form, tempo=float(tempo))
    except CoreError as exc:
        show_error(exc)
        stop_page()
    roll_player(
        audio.player_audio, roll=rows, mime=audio.player_mime, key="comp-player",
        steps_per_second=steps_per_second(comp.form, float(tempo)),
        n_chord=comp.form.n_chord, steps_per_bar=comp.form.steps_per_bar,
    )  # fmt: skip
    synth = ("FluidSynth with the General MIDI soundfont" if audio.synth == "fluidsynth" else
             "sine waves (FluidSynth not available: apt-get install libfluidsynth3)")  # fmt: skip
    st.caption(f"Audio: {audio.seconds:.0f} s rendered with {synth}. Click the small roll to "
               "seek; the red line follows the audio on both rolls.")  # fmt: skip
    d1, d2 = st.columns(2)
    d1.download_button("Download MIDI", audio.midi, file_name="blues.mid", mime="audio/midi",
                       key="comp.dl_midi")  # fmt: skip
    d2.download_button("Download WAV", audio.wav, file_name="blues.wav", mime="audio/wav",
                       key="comp.dl_wav")  # fmt: skip
with measure_col:
    st.subheader("Measures")
    for label, value, help_ in cv.measure_cards(m):
        st.metric(label, value, help=help_)
    st.plotly_chart(form_accuracy_chart(m["per_chorus"], perturb=perturb,
                                        bars_per_chorus=comp.form.n_bars),
                    key="comp.chorus_chart")  # fmt: skip
    novelty_box = st.container()

with novelty_box, st.spinner("Comparing with the training corpus…"):  # slowest: drawn last
    for label, value, help_ in cv.measure_cards(
        cv.novelty_measures(comp, corpus=corpus, corpus_key=corpus_key)
    ):
        st.metric(label, value, help=help_)

train_panel()
