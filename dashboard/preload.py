"""Warm the pages' caches once per server process, in a background thread.

A page's first visit pays for imports (torch, librosa, plotly), librosa's first STFT/ISTFT
(JIT compilation) and the cached loaders of its first view: the Mask explorer's first demo
track and its DNN mask, the Composer's shipped models and their first composition, the Metrics
page's shipped results run. :func:`start_preload` runs those steps once per process in a daemon
thread, started by the router (``dashboard/app.py``) after the first script run, so a page
opened later finds them in the same ``st.cache_data`` / ``st.cache_resource`` caches it uses
(caches are per process, not per session; a page arriving while a value is being computed waits
for it instead of computing it twice).

Each step is guarded: a failure is logged and reported (Home → System, via
:func:`preload_status`), never raised, so a broken asset cannot take the app down. The steps
call only the page modules' public loaders, imported inside the step.

``GENEX_PRELOAD=0`` switches it off (the cold baseline of ``bench/bench_cold_start.py``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

#: The preload thread's name (its Streamlit "missing ScriptRunContext" warnings are dropped).
THREAD_NAME = "genex-preload"


class _QuietPreloadThread(logging.Filter):
    """Drop Streamlit's "missing ScriptRunContext" warnings raised in the preload thread.

    The cached loaders ask for a script context (to show their spinners); the preload runs
    outside any session on purpose, so the warning says nothing there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


PreloadState = Literal["off", "not started", "running", "done"]

#: The Mask explorer's first view: the page's default method, rule and frequency range.
FIRST_METHOD, FIRST_RULE = "dnn", "paper"
#: The Composer's first view: its default model, bars, seed and tempo.
FIRST_MODEL, FIRST_BARS, FIRST_SEED, FIRST_TEMPO = "exp2", 48, 0, 120.0


@dataclass(frozen=True)
class PreloadStep:
    """One preload step, as it went.

    Attributes
    ----------
    name
        What it warms (shown on Home).
    seconds
        Wall time it took.
    error
        ``""`` when it worked; the exception (``"TypeError: ..."``), or ``"skipped: ..."`` when
        a step it needs failed.
    """

    name: str
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        """The step ran without an error."""
        return not self.error


@dataclass(frozen=True)
class PreloadReport:
    """Where the process's preload is.

    Attributes
    ----------
    state
        ``"off"`` (``GENEX_PRELOAD=0``), ``"not started"``, ``"running"`` or ``"done"``.
    steps
        The steps finished so far, in order.
    seconds
        Time since the start (running) or the whole preload's time (done).
    """

    state: PreloadState
    steps: tuple[PreloadStep, ...] = ()
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[PreloadStep, ...]:
        """The steps that did not work (errors and skips)."""
        return tuple(s for s in self.steps if not s.ok)

    def text(self) -> str:
        """One line for Home's System section, e.g. ``done in 6.1 s (7 steps, 0 failed)``."""
        if self.state == "off":
            return "off (GENEX_PRELOAD=0): each page loads its models on its first visit"
        if self.state == "not started":
            return "not started"
        n, bad = len(self.steps), len(self.failed)
        if self.state == "running":
            return f"running for {self.seconds:.1f} s ({n} steps done)"
        failed = "; ".join(f"{s.name}: {s.error}" for s in self.failed)
        return f"done in {self.seconds:.1f} s ({n} steps, {bad} failed)" + (
            f": {failed}" if failed else ""
        )


@dataclass(frozen=True)
class Step:
    """A preload step: ``run(ctx)`` may read and fill the shared ``ctx`` dict.

    ``needs`` names the ``ctx`` entries it reads; it is skipped when an earlier step did not
    provide them.
    """

    name: str
    run: Callable[[dict[str, Any]], None]
    needs: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# the steps (each imports the page module it warms: other modules may change, a step may fail)
# --------------------------------------------------------------------------------------------


def _stft_warmup(ctx: dict[str, Any]) -> None:
    """Pay for librosa's first STFT/ISTFT: it compiles (≈ 1–2 s); later calls take ms."""
    from core.signal.stft import istft, stft

    y = np.random.default_rng(0).standard_normal((1, 22050)).astype(np.float32)  # (1, samples)
    istft(stft(y), length=y.shape[-1])


def _explorer_track(ctx: dict[str, Any]) -> None:
    from dashboard import mask_explorer_view as ev

    demos = ev.demo_tracks()
    if not demos:
        raise FileNotFoundError("no demo track in assets/demo_tracks")
    track = ev.load_track(next(iter(demos.values())))  # the page's default: the first one
    methods = ev.available_methods(track)
    ctx["track"], ctx["key"] = track, ev.track_key(track)
    ctx["method"] = FIRST_METHOD if FIRST_METHOD in methods else methods[0]


def _explorer_mask(ctx: dict[str, Any]) -> None:
    from dashboard import mask_explorer_view as ev

    ev.mask_result(ctx["key"], ctx["method"], None, ctx["track"])


def _explorer_view(ctx: dict[str, Any]) -> None:
    from dashboard import mask_explorer_view as ev

    track, key, method = ctx["track"], ctx["key"], ctx["method"]
    alpha = ev.DEFAULT_ALPHA
    fmax = ev.FMAX_CHOICES[0]  # the page's default frequency range
    ev.static_panels(track, method=method, checkpoint=None, key=key, fmax=fmax)
    ev.canvas_data(key, method, None, fmax, FIRST_RULE, alpha, track)
    ev.stems_at_alpha(key, method, None, alpha, FIRST_RULE, track)


def _explorer_reliability(ctx: dict[str, Any]) -> None:
    from dashboard import mask_explorer_view as ev

    if ev.reliability_note(ctx["track"], ctx["method"]) is None:
        ev.track_reliability(ctx["key"], ctx["method"], None, False, ctx["track"])


def _composer_models(ctx: dict[str, Any]) -> None:
    from dashboard import composer_view as cv

    choices = cv.shipped_models()
    if not choices:
        raise FileNotFoundError("no composer model in assets/composer")
    models = {c.name: (c, cv.get_model(c)) for c in choices}  # all: switching models is free
    ctx["choice"], ctx["model"] = models.get(FIRST_MODEL) or next(iter(models.values()))


def _composer_first(ctx: dict[str, Any]) -> None:
    from dashboard import composer_view as cv

    model, choice = ctx["model"], ctx["choice"]
    comp = cv.composition(
        model, model_key=choice.key, bars=FIRST_BARS, seed=FIRST_SEED, mode="threshold"
    )
    cv.measures(comp)
    cv.render(comp.roll, form=comp.form, tempo=FIRST_TEMPO)
    corpus, corpus_key = cv.training_corpus(model)
    cv.novelty_measures(comp, corpus=corpus, corpus_key=corpus_key)


def _metrics_run(ctx: dict[str, Any]) -> None:
    from core.paths import assets_dir, results_dir
    from dashboard import metrics_view as mv

    runs = mv.find_runs(assets_dir(), results_dir())
    if not runs:
        raise FileNotFoundError("no results run in assets/results or the results folder")
    ctx["run"] = mv.load_run(runs[0])  # the page's default: the first run


def _metrics_figures(ctx: dict[str, Any]) -> None:
    """The page's figures are not cached; building them once pays plotly's first-use cost."""
    from dashboard.figures import metric_curves as mc

    run = ctx["run"]
    stats = run.curve_stats(mc.MEDIAN)
    target, metric = mc.targets_of(run.tidy)[0], mc.metrics_of(run.tidy)[0]
    mc.alpha_curves_figure(stats, metric=metric, target=target, methods=run.methods)
    mc.alpha_panels_figure(stats, methods=run.methods)
    mc.sar_vs_sir_figure(run.sir_sar_means(target), target=target, methods=run.methods)


def _settle_heap(ctx: dict[str, Any]) -> None:
    """Freeze what the preload made (torch, models, figures) out of later garbage collections.

    Streamlit collects garbage after every script run; without this, the first α releases after
    start-up each walk every object the preload created (:func:`dashboard.mask_explorer_view.
    settle_heap`).
    """
    from dashboard.mask_explorer_view import settle_heap

    settle_heap()


DEFAULT_STEPS: tuple[Step, ...] = (
    Step("Mask explorer: demo track", _explorer_track),
    Step("Mask explorer: DNN mask", _explorer_mask, needs=("track",)),
    Step("Mask explorer: first view", _explorer_view, needs=("track",)),
    Step("Mask explorer: reliability", _explorer_reliability, needs=("track",)),
    Step("Metrics: results run", _metrics_run),
    Step("Metrics: figures", _metrics_figures, needs=("run",)),
    Step("Composer: shipped models", _composer_models),
    Step("Composer: first composition", _composer_first, needs=("model",)),
    # last: the pages' α path uses core's own fast inverse; librosa's ISTFT (uploads, the CLI's
    # paths) compiles on its first call, for seconds
    Step("STFT/ISTFT warm-up", _stft_warmup),
    Step("Heap settled", _settle_heap),
)


# --------------------------------------------------------------------------------------------
# once per process
# --------------------------------------------------------------------------------------------

_lock = threading.Lock()
_thread: threading.Thread | None = None
_steps: list[PreloadStep] = []
_t0: float | None = None
_t1: float | None = None


def preload_enabled() -> bool:
    """False when the environment says ``GENEX_PRELOAD=0`` (or ``false``/``no``/``off``)."""
    return os.environ.get("GENEX_PRELOAD", "1").strip().lower() not in ("0", "false", "no", "off")


def in_server() -> bool:
    """True inside a real ``streamlit run`` server (not in AppTest, not a bare import)."""
    from streamlit import config, runtime

    # AppTest patches ``config.get_option`` (``st.get_option`` keeps the unpatched function)
    return runtime.exists() and not config.get_option("global.appTest")


def run_preload(steps: Sequence[Step] | None = None) -> PreloadReport:
    """Run the preload steps now, in this thread, recording each; never raises.

    Parameters
    ----------
    steps
        The steps to run (default :data:`DEFAULT_STEPS`).

    Returns
    -------
    PreloadReport
        The finished report (also what :func:`preload_status` returns from now on).
    """
    global _t0, _t1
    with _lock:
        _steps.clear()
        _t0, _t1 = time.perf_counter(), None
    ctx: dict[str, Any] = {}
    for step in DEFAULT_STEPS if steps is None else steps:
        t = time.perf_counter()
        missing = [n for n in step.needs if n not in ctx]
        if missing:
            error = f"skipped: needs {', '.join(missing)}"
        else:
            try:
                step.run(ctx)
                error = ""
            except Exception as exc:  # a preload must never take the app down
                error = f"{type(exc).__name__}: {exc}"
                log.warning("preload step %r failed", step.name, exc_info=True)
        with _lock:
            _steps.append(PreloadStep(step.name, time.perf_counter() - t, error))
    with _lock:
        _t1 = time.perf_counter()
    report = preload_status()
    log.info("preload %s", report.text())
    return report


def start_preload(steps: Sequence[Step] | None = None) -> bool:
    """Start :func:`run_preload` in a daemon thread, once per process.

    Returns
    -------
    bool
        True when this call started it; False when it already ran or runs, or when
        ``GENEX_PRELOAD=0``.
    """
    global _thread, _t0
    if not preload_enabled():
        return False
    with _lock:
        if _thread is not None:
            return False
        _t0 = time.perf_counter()  # "running" from now on, even before the thread gets going
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
            _QuietPreloadThread()
        )
        _thread = threading.Thread(target=run_preload, args=(steps,), name=THREAD_NAME, daemon=True)
        _thread.start()
    return True


def preload_status() -> PreloadReport:
    """A snapshot of this process's preload."""
    with _lock:
        steps = tuple(_steps)
        if _t0 is None:
            return PreloadReport("not started" if preload_enabled() else "off")
        if _t1 is None:
            return PreloadReport("running", steps, time.perf_counter() - _t0)
        return PreloadReport("done", steps, _t1 - _t0)
