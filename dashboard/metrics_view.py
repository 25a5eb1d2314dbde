"""Metrics page glue: cached loading of a results run, run picking, clicks into the explorer.

The numbers come from :mod:`core.evaluation.results` (the tidy table and its
:func:`~core.evaluation.results.summary`), the figures from
:mod:`dashboard.figures.metric_curves`; this module holds what ties them to the page: the
cached :class:`RunData`, the runs on offer, where a track's audio is, the (track, method, α) a
click stands for, and the selector state that must be forgotten when another run is opened.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import soundfile as sf
import streamlit as st

from core.errors import DatasetError, ResultsError
from core.evaluation.results import (
    ResultsRun,
    RunStatus,
    open_run,
    per_track_medians,
    read_track_table,
    sir_sar_means,
    summary,
    track_summary,
)
from core.inventory import scan
from core.karaoke.methods import METHODS
from core.karaoke.tracks import AUDIO_SUFFIXES, list_tracks
from core.paths import REPO_ROOT
from dashboard.figures.metric_curves import (
    MEDIAN,
    alphas_of,
    methods_of,
    off_scale_notes,
    tracks_of,
)

#: Seconds between two refreshes of the Metrics view while its run is being written.
REFRESH_SECONDS = 3.0

# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunData:
    """A results run as the page needs it.

    Attributes
    ----------
    path
        The run folder.
    config
        Its configuration (command, methods, α grid, code version, ...).
    tidy
        The tidy metrics table (:data:`core.evaluation.results.TIDY_COLUMNS`) of the readable
        track files.
    summary
        :func:`core.evaluation.results.summary` of ``tidy`` (median and IQR over tracks).
    medians
        :func:`core.evaluation.results.per_track_medians` of ``tidy``.
    status
        How far the run is: results in of those expected, corrupt files, recorded failures,
        and the pid of the ``genex`` process writing it now (see :func:`load_run`).
    """

    path: str
    config: dict[str, Any] = field(default_factory=dict)
    tidy: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    medians: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: RunStatus = field(default_factory=lambda: RunStatus(done=0, expected=0))

    @property
    def tracks(self) -> list[str]:
        """Tracks, sorted."""
        return tracks_of(self.tidy)

    @property
    def methods(self) -> list[str]:
        """Methods in the registry's order."""
        return methods_of(self.tidy)

    @property
    def method_choices(self) -> list[str]:
        """Methods with results or asked for by the configuration, in the registry's order.

        A run being written may not have them all yet; offering them from the start keeps
        the page's method selection stable while results arrive.
        """
        asked = self.config.get("methods")
        names = [str(m) for m in asked] if isinstance(asked, list) else []
        both = list(dict.fromkeys([*names, *self.methods]))
        return [m for m in METHODS if m in both] + sorted(m for m in both if m not in METHODS)

    @property
    def alphas(self) -> list[float]:
        """The α grid, ascending."""
        return alphas_of(self.tidy)

    @property
    def refresh_every(self) -> float | None:
        """Seconds between refreshes: :data:`REFRESH_SECONDS` while being written, else None."""
        return REFRESH_SECONDS if self.status.writing else None

    def curve_stats(self, track: str = MEDIAN) -> pd.DataFrame:
        """What the α curves draw: the run's summary, or one track's (IQR over its windows)."""
        return self.summary if track == MEDIAN else track_summary(self.tidy, track)

    def sir_sar_means(self, target: str) -> pd.DataFrame:
        """What the SAR-vs-SIR view draws (:func:`core.evaluation.results.sir_sar_means`)."""
        return sir_sar_means(self.tidy, target=target)


@st.cache_data(max_entries=4096, show_spinner=False)
def _track_table(
    path: str, mtime_ns: int, size: int, track: str, method: str
) -> pd.DataFrame | None:
    """One track file's tidy rows, cached per file version; ``None`` when it is corrupt.

    While a run is being written, each refresh then parses only the files that are new.
    """
    del mtime_ns, size  # part of the cache key only
    try:
        return read_track_table(path, track=track, method=method)
    except ResultsError:
        return None


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st_ = path.stat()
    except OSError:  # removed between listing and reading
        return (0, -1)
    return (st_.st_mtime_ns, st_.st_size)


def _run_table(run: ResultsRun) -> tuple[pd.DataFrame, list[tuple[str, str, bool]]]:
    """The tidy table of the readable track files and ``(track, method, readable)`` per file.

    The stored ``metrics.parquet`` is used when it holds every track file and is newer than
    each (a finished run: no file is parsed); else every file is read through the per-file
    cache, a corrupt one left out and reported.
    """
    files = run.track_files()
    stamps = {(t, m): _stamp(p) for t, m, p in files}
    table = run.path / "metrics.parquet"
    if files and table.is_file():
        newest = max(ns for ns, _ in stamps.values())
        if table.stat().st_mtime_ns >= newest:
            stored = run.stored_table([(t, m) for t, m, _ in files])
            if stored is not None:
                return stored, [(t, m, True) for t, m, _ in files]
    parts, listing = [], []
    for t, m, p in files:
        part = _track_table(str(p), *stamps[(t, m)], t, m)
        listing.append((t, m, part is not None))
        if part is not None:
            parts.append(part)
    if parts:
        return pd.concat(parts, ignore_index=True), listing
    return run.tidy().iloc[:0], listing


def read_run(path: str | Path) -> RunData:
    """Open a results run with :func:`core.evaluation.results.open_run` (uncached).

    Track files are parsed through a per-file cache; ``status.writer_pid`` is the writer at
    this moment.

    Raises
    ------
    core.errors.ResultsError
        If ``path`` is not a results run (message from :mod:`core.evaluation.results`).
    """
    run = open_run(path)
    tidy, files = _run_table(run)
    return RunData(
        path=str(path),
        config=dict(run.config),
        tidy=tidy,
        summary=summary(tidy),
        medians=per_track_medians(tidy),
        status=run.status(files=files),
    )


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime ns, size) of the run's files, so a re-run or an edit invalidates the cache.

    Only the folder's own files (a run is flat), so pointing at a huge folder stays cheap.
    """
    if not (path / "config.json").is_file():
        return ()
    out = []
    for p in sorted(path.iterdir()):
        if p.is_file() and (p.suffix in (".json", ".parquet", ".csv")):
            st_ = p.stat()
            out.append((p.name, st_.st_mtime_ns, st_.st_size))
    return tuple(out)


@st.cache_data(max_entries=8, show_spinner="Loading results…")
def _load_run_cached(path: str, fingerprint: tuple[tuple[str, int, int], ...]) -> RunData:
    del fingerprint  # part of the cache key only
    return read_run(path)


def load_run(path: str | Path) -> RunData:
    """Cached :func:`read_run`, keyed by the folder and the mtimes/sizes of its files.

    The writer's pid (``status.writer_pid``, from the run's ``.genex.lock``) is looked up on
    every call, so the page sees a run start and stop being written even when no result
    file changed.

    Raises
    ------
    core.errors.ResultsError
        If ``path`` is not a results run.
    """
    p = Path(path).expanduser()
    data = _load_run_cached(str(p.resolve()), _fingerprint(p))
    pid = ResultsRun(p, {}).writer_pid()
    if pid == data.status.writer_pid:
        return data
    return dataclasses.replace(data, status=dataclasses.replace(data.status, writer_pid=pid))


def status_lines(status: RunStatus) -> dict[str, list[str]]:
    """What the page says about a run's state, by kind of message.

    ``caption``: a complete run nobody writes (k of k in); ``info``: the run is being written
    (k of N in, refreshing); ``warning``: it is incomplete and nobody writes it, or some track
    files are corrupt (named, with what to do); ``error``: the failed tasks of the last
    attempt, with their errors.
    """
    out: dict[str, list[str]] = {"caption": [], "info": [], "warning": [], "error": []}
    if status.complete and not status.writing:
        out["caption"].append(status.headline() + ".")
    if status.writing:
        out["info"].append(
            f"Run in progress: {status.headline()}. This view refreshes every "
            f"{REFRESH_SECONDS:g} s; the curves grow as results arrive."
        )
    elif not status.complete:
        out["warning"].append(f"Incomplete run: {status.headline()}.")
    if status.corrupt:
        files = ", ".join(f"`{name}`" for name in status.corrupt)
        out["warning"].append(
            f"{len(status.corrupt)} track file(s) cannot be read (truncated or not a results "
            f"file) and are left out: {files}. Re-run the run's `genex evaluate` command to "
            "redo them."
        )
    if status.failures:
        items = "\n".join(f"- {f}" for f in status.failures)
        out["error"].append(
            f"{len(status.failures)} task(s) failed in the last attempt (re-running the "
            f"command retries them):\n{items}"
        )
    return out


def find_runs(assets: Path, results: Path) -> list[Path]:
    """Results runs to offer: the shipped ``assets/results/*`` runs first, then the user's."""
    return list(scan(assets, results).results_runs)


def config_rows(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's configuration as (name, value) text rows, the key facts first."""
    first = (
        "command", "methods", "alphas", "tracks", "data", "metric", "code_version", "git_commit",
        "created",
    )  # fmt: skip
    keys = [k for k in first if k in config] + [k for k in config if k not in first]
    rows = []
    for k in keys:
        v = config[k]
        if k == "alphas" and isinstance(v, list | tuple) and v:
            text = f"{len(v)} values, {min(v):.2f} … {max(v):.2f}"
        elif isinstance(v, list | tuple):
            text = ", ".join(map(str, v))
        elif isinstance(v, Mapping):
            text = ", ".join(f"{a}={b}" for a, b in v.items())
        else:
            text = str(v)
        rows.append((k, text))
    return rows


# --------------------------------------------------------------------------- audio of a track


@dataclass(frozen=True)
class TrackAudio:
    """A track's mixture file and the duration (s) of its evaluated part."""

    path: Path
    duration: float


def track_audio(config: Mapping[str, Any], track: str, assets: Path) -> TrackAudio | None:
    """Find the mixture of ``track``: in the run's corpus, else among the shipped demo tracks.

    The corpus is the run config's ``data`` entry (a relative one is taken from the repository
    root, as runs record it); its track folders are those
    :func:`core.karaoke.tracks.list_tracks` finds (``<data>/<track>``,
    ``<data>/<split>/<track>``). ``duration`` is the file's, capped at the run's
    ``max_seconds`` (the evaluated part). Returns ``None`` when nothing readable is found.
    """
    roots: list[Path] = []
    for key in ("data", "corpus", "data_dir"):
        value = config.get(key)
        if isinstance(value, str) and value:
            roots.append(Path(value) if Path(value).is_absolute() else REPO_ROOT / value)
    roots.append(assets / "demo_tracks")
    limit = config.get("max_seconds")
    limit = float(limit) if isinstance(limit, int | float) and limit > 0 else math.inf
    for root in roots:
        try:
            folders = [f for f in list_tracks(root) if f.name == track and f.is_dir()]
        except DatasetError:  # no such corpus folder (any more)
            continue
        for folder in folders:
            for suffix in AUDIO_SUFFIXES:
                f = folder / f"mixture{suffix}"
                if not f.is_file():
                    continue
                try:
                    seconds = float(sf.info(str(f)).duration)
                except (RuntimeError, OSError):  # soundfile's LibsndfileError is both
                    continue
                return TrackAudio(path=f, duration=min(seconds, limit))
    return None


def track_folder(config: Mapping[str, Any], track: str, assets: Path) -> Path | None:
    """The folder holding ``track``'s audio (see :func:`track_audio`), or ``None``."""
    audio = track_audio(config, track, assets)
    return None if audio is None else audio.path.parent


def explorer_params(
    clicked: ClickTarget, config: Mapping[str, Any], assets: Path
) -> dict[str, str]:
    """Query parameters opening the Mask explorer at ``clicked``.

    ``track`` is the demo-track name when the track is a shipped demo track (or cannot be
    found), else the path of its folder under the run's data folder, which the explorer opens
    as a dataset track.
    """
    params = clicked.query_params()
    folder = track_folder(config, clicked.track, assets)
    demo_root = (assets / "demo_tracks").resolve()
    if folder is not None and folder.resolve().parent != demo_root:
        params["track"] = str(folder)
    return params


# --------------------------------------------------------------------------- clicks


@dataclass(frozen=True)
class ClickTarget:
    """Where a clicked point sends the user: a track, a method and an α."""

    track: str
    method: str
    alpha: float

    def query_params(self) -> dict[str, str]:
        """The Mask explorer's query parameters (α with two decimals)."""
        return {"track": self.track, "method": self.method, "alpha": f"{self.alpha:.2f}"}


def _selection_points(selection: Any) -> list[Mapping[str, Any]]:
    """Points of a plotly selection event, whichever wrapper it comes in."""
    if selection is None:
        return []
    if isinstance(selection, Mapping) and "selection" in selection:
        selection = selection["selection"]
    if isinstance(selection, Mapping) and "points" in selection:
        return list(selection["points"] or [])
    if isinstance(selection, Mapping) and {"customdata", "curve_number"} & set(selection):
        return [selection]
    return []


def points_to_target(
    selection: Any,
    *,
    figure: go.Figure | None = None,
    fallback_track: str = "",
) -> ClickTarget | None:
    """Map a plotly selection event (or one point) to the (track, method, α) it stands for.

    Parameters
    ----------
    selection
        ``st.plotly_chart``'s event (``{"selection": {"points": [...]}}``), its ``selection``
        dict, or a single point dict. The first point is used. A point carries ``customdata``
        ``[track, method, alpha]``; without it, ``curve_number`` / ``point_index`` are looked up
        in ``figure``.
    figure
        The figure that was clicked (needed only for points without ``customdata``).
    fallback_track
        Track used when the point stands for the median over tracks (``track == ""``).

    Returns
    -------
    ClickTarget or None
        ``None`` when nothing (usable) is selected, e.g. a click on a band.
    """
    for point in _selection_points(selection):
        custom = point.get("customdata")
        if custom is None and figure is not None:
            try:
                trace = figure.data[int(point["curve_number"])]
                idx = int(point.get("point_index", point.get("point_number")))
                custom = None if trace.customdata is None else trace.customdata[idx]
            except (KeyError, IndexError, TypeError, ValueError):
                custom = None
        if custom is None or len(custom) < 3:
            continue
        track, method, alpha = str(custom[0]), str(custom[1]), custom[2]
        try:
            alpha_f = float(alpha)
        except (TypeError, ValueError):
            continue
        track = track or fallback_track
        if not track or not method or not math.isfinite(alpha_f):
            continue
        return ClickTarget(track=track, method=method, alpha=alpha_f)
    return None


# --------------------------------------------------------------------------- selector state


#: Widget keys whose values depend on the run (its tracks, methods and α grid).
RUN_DEPENDENT_KEYS = ("met.methods", "met.track", "met.fw_track", "met.fw_method", "met.fw_alpha")


def reset_on_run_change(run: RunData, state: Any) -> bool:
    """Forget run-dependent selector values when another run is opened (call before widgets).

    Parameters
    ----------
    run
        The run about to be shown.
    state
        ``st.session_state`` (any mutable mapping).

    Returns
    -------
    bool
        Whether the run changed (and the selectors were reset to their defaults).
    """
    if state.get("met._run") == run.path:
        return False
    for key in RUN_DEPENDENT_KEYS:
        if key in state:
            del state[key]
    state["met._run"] = run.path
    return True


def off_scale_caption(fig: go.Figure, *, most: int = 4) -> str | None:
    """A caption naming the values a figure draws off scale (``None`` when there are none)."""
    notes = off_scale_notes(fig)
    if not notes:
        return None
    more = f"; and {len(notes) - most} more" if len(notes) > most else ""
    return (
        "Off scale (triangles on the axis edge; the range is chosen from the bulk of the "
        "values, e.g. museval's ~140 dB when an estimate equals its reference up to rounding): "
        + "; ".join(notes[:most])
        + more
    )
