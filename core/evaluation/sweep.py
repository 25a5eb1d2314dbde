"""Evaluate separation methods across the confidence threshold α on a set of tracks.

For each track the references are fixed, so one :class:`core.evaluation.bss.SweepEngine` serves
every method and α of that track. Each method's probabilistic mask is computed once
(:func:`core.karaoke.separate.probability_mask`), turned into stems at every α
(:func:`core.karaoke.separate.separate_at_alpha`) and scored with BSS Eval v4 (museval-exact).
Results go to a :mod:`core.evaluation.results` run folder, one track × method at a time, so an
interrupted run resumes where it stopped.

The mask and separation functions are injectable (``mask_fn``, ``separate_fn``) so tests and
notebooks can evaluate any method without the trained models. The tidy table of the run is
written once, when every track is done.

:func:`evaluate_tracks` reads as its three steps: validate the request
(:func:`parse_methods`, :func:`parse_alphas`, the rule and the track names), record the
configuration (:func:`run_config`), then score track after track (:func:`_evaluate_track`).
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from core import __version__
from core.errors import (
    CheckpointError,
    CoreError,
    DatasetError,
    DependencyError,
    InvalidConfigError,
    ResultsError,
)
from core.evaluation.bss import BssEval, SweepEngine, compute_threads
from core.evaluation.cluster import Call, check_cluster_options, run_tasks
from core.evaluation.results import ResultsRun, create_run, file_sha256, git_commit
from core.io_utils import check_output_dir, output_lock
from core.karaoke.methods import (
    MAX_ALPHAS,
    METHODS,
    ORACLE_METHODS,
    Rule,
    check_alpha,
    check_rule,
)
from core.karaoke.separate import (
    MODEL_SR,
    MODEL_STFT,
    default_model_file,
    probability_mask,
    separate_at_alpha,
)
from core.karaoke.tracks import Split, Track, list_tracks, load_track, split_tracks
from core.paths import repo_relative
from core.signal.audio import DEFAULT_MAX_SECONDS, check_max_seconds
from core.types import Progress, ProgressEvent

#: ``mask_fn(mixture, sr, *, method, references, checkpoint) -> MaskResult``.
MaskFn = Callable[..., Any]
#: ``separate_fn(mask_result, *, alpha, rule) -> (2, channels, samples)``.
SeparateFn = Callable[..., Any]
#: A track folder (or ``.stem.mp4`` file), or a loaded track.
TrackLike = str | Path | Track


@dataclass(frozen=True)
class EvalOptions:
    """How each track x method of a run is scored: the in-process loop and every cluster task.

    Built once by :func:`evaluate_tracks` from its validated arguments; a Dask task receives it
    whole (it pickles: the injected functions must be module-level).

    Attributes
    ----------
    alphas : tuple of float
        The α grid (:func:`parse_alphas`).
    rule
        Thresholding rule (:data:`core.karaoke.methods.RULES`).
    models : dict
        Model file per method (``"dnn"``, ``"traditional"``); ``None`` for the shipped one.
    win_seconds, hop_seconds
        BSS Eval window and hop, seconds.
    max_seconds
        Longest track accepted, seconds (``None``: the default limit).
    mask_fn, separate_fn
        Injected replacements of :func:`core.karaoke.separate.probability_mask` and
        :func:`core.karaoke.separate.separate_at_alpha` (``None``: those).
    """

    alphas: tuple[float, ...]
    rule: Rule
    models: Mapping[str, Path | None]
    win_seconds: float
    hop_seconds: float
    max_seconds: float | None = None
    mask_fn: MaskFn | None = None
    separate_fn: SeparateFn | None = None

    @property
    def mask(self) -> MaskFn:
        """The mask function in use."""
        return probability_mask if self.mask_fn is None else self.mask_fn

    @property
    def separate(self) -> SeparateFn:
        """The separation function in use."""
        return separate_at_alpha if self.separate_fn is None else self.separate_fn


def parse_alphas(spec: str | Sequence[float], *, max_values: int = MAX_ALPHAS) -> list[float]:
    """Parse an α grid: ``"start:stop:step"`` (inclusive) or ``"a,b,c"`` or a sequence.

    Parameters
    ----------
    spec : str or sequence of float
        E.g. ``"0.05:0.95:0.05"`` (19 values) or ``"0.25,0.5,0.75"``.
    max_values : int
        Most values accepted (``--max-alphas``), checked before the grid is built.

    Returns
    -------
    list of float
        Sorted, unique values in [0, 1], rounded to 6 decimals.

    Raises
    ------
    InvalidConfigError
        On a malformed spec, a non-positive step, a value outside [0, 1]
        (:func:`core.karaoke.methods.check_alpha`), or more than ``max_values`` values.
    """
    if not (isinstance(max_values, int) and max_values >= 1):
        raise InvalidConfigError(f"--max-alphas must be a positive integer, got {max_values!r}")
    values = _alpha_values(spec, max_values) if isinstance(spec, str) else [float(x) for x in spec]
    grid = sorted({round(check_alpha(v, name="α"), 6) for v in values})
    if not grid:
        raise InvalidConfigError(f"the α grid {spec!r} is empty")
    _check_count(len(grid), max_values, spec)
    return grid


def _check_count(n: int, max_values: int, spec: object) -> None:
    if n > max_values:
        shown = spec if isinstance(spec, str) else f"a list of {n} values"
        raise InvalidConfigError(
            f"--alphas {shown!s} gives {n:,} α values; at most {max_values:,} are allowed "
            "(each one is a separation and a BSS Eval of every track). Use a coarser step, "
            "or raise the cap with --max-alphas (max_values)"
        )


def _alpha_values(spec: str, max_values: int = MAX_ALPHAS) -> list[float]:
    """The numbers of an α spec string (unchecked)."""
    text = spec.strip()
    try:
        if ":" not in text:
            return [float(x) for x in text.split(",") if x.strip()]
        parts = [float(x) for x in text.split(":")]
        if len(parts) != 3:
            raise ValueError("expected start:stop:step")
    except ValueError as exc:
        raise InvalidConfigError(
            f"--alphas must be 'start:stop:step' or a comma list of numbers, got {spec!r}"
        ) from exc
    start, stop, step = parts
    if not all(np.isfinite(parts)):
        raise InvalidConfigError(f"--alphas must hold finite numbers, got {spec!r}")
    if step <= 0:
        raise InvalidConfigError(f"α step must be positive, got {step} in {spec!r}")
    count = np.floor((stop - start) / step + 1e-9) + 1
    if count < 1:
        raise InvalidConfigError(f"the α range {spec!r} is empty (stop below start)")
    # before building the list: a tiny step would hang here (the values are checked after)
    _check_count(int(min(count, 2**62)), max_values, spec)
    return [start + i * step for i in range(int(count))]


def parse_methods(spec: str | Sequence[str]) -> list[str]:
    """Parse ``"dnn,traditional,oracle"`` into a list of methods of the registry.

    Parameters
    ----------
    spec : str or sequence of str
        Comma list or sequence of ids of :data:`core.karaoke.methods.METHODS`.

    Returns
    -------
    list of str
        The methods, duplicates dropped, in the order given.

    Raises
    ------
    InvalidConfigError
        On an empty list or an unknown method.
    """
    items = [m.strip() for m in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [m for m in items if m]
    if not items:
        raise InvalidConfigError("--methods is empty; choose from " + ", ".join(METHODS))
    unknown = [m for m in items if m not in METHODS]
    if unknown:
        raise InvalidConfigError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(items))


def track_name(track: TrackLike) -> str:
    """The name a track is stored under: its folder name (``.stem.mp4`` dropped) or ``.name``."""
    if isinstance(track, Track):
        return track.name
    return Path(track).name.removesuffix(".stem.mp4")


def find_tracks(data: str | Path, *, split: str | None = None) -> list[Path]:
    """Track folders under ``data`` (one split of it when ``split`` is given).

    Raises
    ------
    InvalidConfigError
        ``split`` is not one of :data:`core.karaoke.tracks.SPLITS`.
    DatasetError
        ``data`` is not a folder, has no such split, or holds no tracks.
    """
    # split_tracks checks the split name itself (InvalidConfigError)
    tracks = list_tracks(data) if split is None else split_tracks(data, cast(Split, split))
    if not tracks:
        where = f"{data} ({split})" if split else str(data)
        raise DatasetError(f"no track folders found under {where}")
    return tracks


def run_config(
    *,
    methods: Sequence[str],
    alphas: Sequence[float],
    rule: str,
    tracks: Sequence[str],
    checkpoint: Path | None,
    nmf: Path | None,
    win_seconds: float,
    hop_seconds: float,
    data: str | Path | None,
    split: str | None,
    max_seconds: float | None,
    seed: int,
    command: str | None,
) -> dict[str, Any]:
    """The ``config.json`` of a run: what is evaluated, with which files and code.

    Paths inside the repository are recorded relative to it (portable configs); model files
    with their SHA-256, so a changed model cannot resume into old results.
    """
    return {
        "command": command or " ".join(["genex", *map(shlex.quote, sys.argv[1:])]),
        "methods": list(methods),
        "alphas": list(alphas),
        "rule": rule,
        "data": None if data is None else repo_relative(data),
        "split": split,
        "tracks": list(tracks),
        "checkpoint": None if checkpoint is None else repo_relative(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "nmf": None if nmf is None else repo_relative(nmf),
        "nmf_sha256": file_sha256(nmf),
        "stft": {"model_sr": MODEL_SR, **MODEL_STFT.to_dict()},
        "win_seconds": float(win_seconds),
        "hop_seconds": float(hop_seconds),
        "max_seconds": max_seconds,
        "seed": int(seed),
        "metric": "BSS Eval v4 images, framewise (museval.evaluate-equal sweep engine)",
        "code_version": __version__,
        "git_commit": git_commit(),
    }


def evaluate_tracks(
    tracks: Sequence[TrackLike],
    *,
    methods: Sequence[str],
    alphas: Sequence[float],
    out: str | Path,
    checkpoint: str | Path | None = None,
    nmf: str | Path | None = None,
    rule: str = "paper",
    win_seconds: float = 1.0,
    hop_seconds: float = 1.0,
    data: str | Path | None = None,
    split: str | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
    command: str | None = None,
    progress: Progress | None = None,
    mask_fn: MaskFn | None = None,
    separate_fn: SeparateFn | None = None,
    max_alphas: int = MAX_ALPHAS,
    workers: int = 1,
    scheduler: str | None = None,
) -> ResultsRun:
    """Score ``methods`` × ``alphas`` on ``tracks`` and store the results in ``out``.

    Parameters
    ----------
    tracks : sequence of path or :class:`core.karaoke.tracks.Track`
        Track folders (loaded with :func:`core.karaoke.tracks.load_track`) or loaded tracks; each
        needs reference stems.
    methods : sequence of str
        Method ids of :data:`core.karaoke.methods.METHODS`.
    alphas : sequence of float
        Thresholds in [0, 1].
    out : str or Path
        The results run folder.
    checkpoint : path, optional
        DNN checkpoint (default: the shipped ``assets/separator/dnn.pt``; no default when
        ``mask_fn`` is given).
    nmf : path, optional
        NMF bases for ``"traditional"`` (default: the shipped ``assets/separator/nmf.npz``; no
        default when ``mask_fn`` is given).
    rule : {"paper", "complement", "soft"}
        Thresholding rule of :data:`core.karaoke.methods.RULES`.
    win_seconds, hop_seconds : float
        BSS Eval window and hop (1 s, as SiSEC).
    data, split : optional
        Recorded in the config (the corpus folder and split the tracks came from).
    max_seconds : float, optional
        Passed to :func:`core.karaoke.tracks.load_track` (its default when ``None``).
    seed : int
        Recorded in the config (evaluation itself is deterministic).
    overwrite : bool
        Replace a run with a different configuration in ``out``.
    command : str, optional
        The command line recorded in the config (default: this process's argv).
    progress : callable, optional
        Receives a :class:`core.types.ProgressEvent` with stage ``"track"`` after each track
        and ``"alpha"`` after each α (``metrics`` holds ``{"alpha": α}``, ``message`` names
        the track, method and α).
    mask_fn, separate_fn : callable, optional
        Replace :func:`core.karaoke.separate.probability_mask` /
        :func:`core.karaoke.separate.separate_at_alpha` (tests, notebooks).
    max_alphas : int
        Most α values accepted (:func:`parse_alphas`).
    workers : int
        1 (default): score in this process. More: on a local Dask cluster of that many worker
        processes (:mod:`core.evaluation.cluster`), one task per track x method; results are
        written here as they arrive, and ``progress`` receives stage ``"task"`` events.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing Dask cluster to run the tasks on instead (its
        workers must see the track paths and any injected functions).

    Returns
    -------
    ResultsRun
        The run, with one ``<track>.<method>.json`` per track × method and its tidy table.

    Raises
    ------
    InvalidConfigError
        Unknown method or rule, bad α grid (or more than ``max_alphas`` values), bad window,
        hop or ``max_seconds``, no tracks, duplicate track names, bad ``workers`` or
        ``scheduler`` (or the scheduler cannot be reached).
    OutputError
        ``out`` is a file or not writable, or another run is writing to it (nothing is written
        then, and nothing before the options are valid).
    ResultsError
        ``out`` holds a run with a different configuration (and not ``overwrite``), or some
        tracks failed (unreadable, no reference stems, a reference stem silent throughout):
        they are skipped, the rest of the run completes, and the error lists them at the end.
        On a cluster, any failing task is recorded so (its worker's error, or a worker that
        kept dying).
    CheckpointError
        A model file is missing or corrupt.
    """
    # 1. validate, before any expensive work
    methods = parse_methods(methods)
    alphas = parse_alphas(alphas, max_values=max_alphas)
    rule_ = check_rule(rule)
    for what, seconds in (("--win", win_seconds), ("--hop", hop_seconds)):
        if not (isinstance(seconds, int | float) and np.isfinite(seconds) and seconds > 0):
            raise InvalidConfigError(f"{what} must be a positive number of seconds, got {seconds}")
    if max_seconds is not None:
        max_seconds = check_max_seconds(max_seconds)
    on_cluster = check_cluster_options(workers=workers, scheduler=scheduler)
    out = check_output_dir(out, what="--out")
    if not tracks:
        raise InvalidConfigError("no tracks to evaluate")
    names = [track_name(t) for t in tracks]
    if len(set(names)) != len(names):
        raise InvalidConfigError(f"track names are not unique: {names}")

    # 2. resolve the model files and record the configuration
    shipped = mask_fn is None  # the real methods need model files; an injected one may not
    ck_path = nm_path = None
    if "dnn" in methods:
        ck_path = default_model_file("dnn") if checkpoint is None and shipped else _path(checkpoint)
    if "traditional" in methods:
        nm_path = default_model_file("traditional") if nmf is None and shipped else _path(nmf)
    config = run_config(
        methods=methods, alphas=alphas, rule=rule_, tracks=names, checkpoint=ck_path,
        nmf=nm_path, win_seconds=win_seconds, hop_seconds=hop_seconds, data=data, split=split,
        max_seconds=max_seconds, seed=seed, command=command,
    )  # fmt: skip
    options = EvalOptions(
        alphas=tuple(alphas), rule=rule_, models={"dnn": ck_path, "traditional": nm_path},
        win_seconds=win_seconds, hop_seconds=hop_seconds, max_seconds=max_seconds,
        mask_fn=mask_fn, separate_fn=separate_fn,
    )  # fmt: skip
    # one run at a time per folder: two evaluations would interleave their files
    with output_lock(out, what="--out"):
        run = create_run(out, config, overwrite=overwrite)
        if on_cluster:
            _evaluate_on_cluster(
                run, tracks, names, methods, options, progress=progress, workers=workers,
                scheduler=scheduler,
            )  # fmt: skip
        else:
            _evaluate_all(run, tracks, names, methods, options, progress=progress)
    return run


def _evaluate_all(
    run: ResultsRun,
    tracks: Sequence[TrackLike],
    names: Sequence[str],
    methods: Sequence[str],
    options: EvalOptions,
    *,
    progress: Progress | None,
) -> None:
    """Step 3 of :func:`evaluate_tracks`: every unfinished track x method, then the table.

    A track that fails with a :class:`CoreError` (unreadable, a silent reference stem, ...) is
    recorded and skipped, so one bad track does not cost the rest of the run; the failures are
    raised together at the end, after the table of the finished tracks is written.

    Raises
    ------
    ResultsError
        One or more tracks failed (the message lists them; re-running retries only them).
    """
    # 3. score track after track; finished track x method files are skipped (resume)
    failed = _FailureLog(run)
    for done, (track, name) in enumerate(zip(tracks, names, strict=True), start=1):
        todo = [m for m in methods if not run.is_done(name, m)]
        if todo:
            try:
                loaded = _load(track, options.max_seconds)
                _evaluate_track(run, loaded, name, todo, options, progress=progress)
            except (CheckpointError, DependencyError):
                raise  # the same for every track: stop now
            except CoreError as exc:
                failed.add(f"{name}: {' '.join(str(exc).split())}")
        if progress is not None:
            progress(ProgressEvent("track", done, len(tracks), message=name))
    _finish_run(run, failed.items, f"{len(tracks)} track(s)")


class _FailureLog:
    """The failures of this attempt, recorded in the run (``failures.meta.json``) as they arrive.

    Created when the attempt starts, which clears the previous attempt's record (its failed
    tasks are being retried now); each :meth:`add` rewrites the record atomically, so a watcher
    (the Metrics page's live view, ``genex results``) lists a failure while the run goes on.
    """

    def __init__(self, run: ResultsRun) -> None:
        self.run = run
        self.items: list[str] = []
        run.write_failures([])

    def add(self, failure: str) -> None:
        """Record one failure (``"track: error"`` or ``"track (method): error"``)."""
        self.items.append(failure)
        self.run.write_failures(self.items)


def _finish_run(run: ResultsRun, failed: list[str], of_what: str) -> None:
    """The end of an evaluation: the tidy table once, the failures, then the failures raised.

    The failures are recorded already, as they arrived (:class:`_FailureLog`).

    Raises
    ------
    ResultsError
        ``failed`` is not empty (``"<n> of <of_what> failed and were skipped ..."``).
    """
    run.write_tidy()
    if failed:
        raise ResultsError(
            f"{len(failed)} of {of_what} failed and were skipped (the others are complete in "
            f"{run.path}): " + "; ".join(failed)
        )


def _evaluate_on_cluster(
    run: ResultsRun,
    tracks: Sequence[TrackLike],
    names: Sequence[str],
    methods: Sequence[str],
    options: EvalOptions,
    *,
    progress: Progress | None,
    workers: int = 1,
    scheduler: str | None = None,
) -> None:
    """Step 3 of :func:`evaluate_tracks` on a Dask cluster: one task per unfinished track x method.

    Each result is written by this process as it arrives (atomically, as in-process), so an
    interrupted run resumes; a failing task is recorded and the others go on.

    Raises
    ------
    ResultsError
        One or more tasks failed (the message lists them; re-running retries only them).
    CheckpointError, DependencyError
        A model file or a library is missing (the same for every task: the run stops).
    """
    calls: list[Call] = [
        ((name, method), {"track": track, "method": method, "options": options})
        for track, name in zip(tracks, names, strict=True)
        for method in methods
        if not run.is_done(name, method)
    ]
    total = len(tracks) * len(methods)
    done = total - len(calls)
    failed = _FailureLog(run)

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(ProgressEvent("task", done, total, message=label))

    def on_done(key: Any, value: tuple[dict[float, BssEval], dict[str, Any]]) -> None:
        name, method = key
        run.write_track(name, method, value[0], extra=value[1])
        tick(f"{name} {method}")

    def on_error(key: Any, exc: BaseException) -> None:
        if isinstance(exc, CheckpointError | DependencyError):
            raise exc  # the same for every task: stop now
        name, method = key
        failed.add(f"{name} ({method}): {type(exc).__name__}: {' '.join(str(exc).split())}")
        tick(f"{name} {method} FAILED")

    if progress is not None:
        progress(ProgressEvent("task", done, total, message="resumed" if done else "starting"))
    if calls:
        run_tasks(
            evaluate_task, calls, on_done=on_done, on_error=on_error, workers=workers,
            scheduler=scheduler,
        )  # fmt: skip
    _finish_run(run, failed.items, f"{total} track x method task(s)")


def _path(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path)


def _load(track: TrackLike, max_seconds: float | None) -> Track:
    if isinstance(track, Track):
        return track
    return load_track(
        track, max_seconds=DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    )


def _evaluate_track(
    run: ResultsRun,
    track: Track,
    name: str,
    methods: Sequence[str],
    options: EvalOptions,
    *,
    progress: Progress | None,
) -> None:
    """Score every α of ``methods`` on one track and write one results file per method.

    Raises
    ------
    DatasetError
        The track has no reference stems.
    """
    # the references are fixed: one engine serves every method and α of this track; it is set
    # up in a second thread while the first method's mask is computed
    with _soon(_engine, track, name, options) as engine:
        for method in methods:
            results, extra = score_method(
                track, method, options.alphas, engine=engine, rule=options.rule,
                checkpoint=options.models.get(method), mask_fn=options.mask,
                separate_fn=options.separate, progress=progress, name=name,
            )  # fmt: skip
            run.write_track(name, method, results, extra=extra)


def _engine(track: Track, name: str, options: EvalOptions) -> SweepEngine:
    references = _references(track, name)
    return SweepEngine(
        references, sr=track.sr, win_seconds=options.win_seconds, hop_seconds=options.hop_seconds
    )


def _references(track: Track, name: str) -> np.ndarray:
    """The track's reference stems ``(2, channels, samples)``.

    Raises
    ------
    DatasetError
        The track has none.
    """
    if track.references is None:
        raise DatasetError(
            f"track {name!r} has no reference stems (vocals, accompaniment); BSS Eval needs them"
        )
    return np.asarray(track.references)


class _soon:  # noqa: N801 - used as a function: ``with _soon(fn, *args) as get``
    """``fn(*args)`` started in a second thread; the context value returns its result.

    Used for the engine set-up, which then runs while the mask is computed. ``fn``'s cheap
    checks (``_references``) run at once, so a track without stems fails before any work. With
    a single CPU (``OMP_NUM_THREADS=1``) ``fn`` runs in the caller's thread, at once. Leaving
    the block waits for the thread.
    """

    def __init__(self, fn: Callable[..., Any], track: Track, name: str, *args: Any) -> None:
        _references(track, name)
        self.fn, self.args = fn, (track, name, *args)
        self.pool: Any = None
        self.future: Any = None
        self.value: Any = None

    def __enter__(self) -> Callable[[], Any]:
        if compute_threads() <= 1:
            self.value = self.fn(*self.args)
            return lambda: self.value
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genex-soon")
        self.future = self.pool.submit(self.fn, *self.args)
        return lambda: self.future.result()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def score_method(
    track: Track,
    method: str,
    alphas: Sequence[float],
    *,
    engine: SweepEngine | Callable[[], SweepEngine],
    rule: Rule,
    checkpoint: Path | None,
    mask_fn: MaskFn,
    separate_fn: SeparateFn,
    progress: Progress | None = None,
    name: str | None = None,
) -> tuple[dict[float, BssEval], dict[str, Any]]:
    """One track x method: the mask once, then stems and BSS Eval at every α.

    Parameters
    ----------
    track : Track
        A loaded track with reference stems (``references`` is ``(2, channels, samples)``).
    method : str
        Method id of :data:`core.karaoke.methods.METHODS`.
    alphas : sequence of float
        Thresholds in [0, 1].
    engine : SweepEngine or callable
        BSS Eval engine built on the track's references, or a function returning it (called
        once the mask is computed: the engine can be set up meanwhile).
    rule, checkpoint, mask_fn, separate_fn, progress
        As :func:`evaluate_tracks` (``checkpoint`` is the method's model file).
    name : str, optional
        Track name for progress messages (default ``track.name``).

    Returns
    -------
    results : dict of float to BssEval
        Metrics at every α (each ``(sources, windows)``, float64 dB).
    extra : dict
        Track facts and timing for the results file.

    Raises
    ------
    CoreError
        Whatever the mask or separation raises (e.g. :class:`CheckpointError`).
    """
    label = track.name if name is None else name
    t0 = time.perf_counter()
    mask = mask_fn(
        track.mixture,
        track.sr,
        method=method,
        references=track.references if method in ORACLE_METHODS else None,
        checkpoint=checkpoint,
    )
    t_mask = time.perf_counter() - t0
    t1 = time.perf_counter()
    if not isinstance(engine, SweepEngine):
        engine = engine()
    t_wait = time.perf_counter() - t1
    results: dict[float, BssEval] = {}
    t_stems = t_sweep = 0.0
    # α scored together share one filter solve; a few at a time, so that the stems of the next
    # few (inverse STFTs) are made in a second thread while these are scored
    batch = min(engine.batch_size(), PIPELINE_BATCH)
    chunks = [alphas[i : i + batch] for i in range(0, len(alphas), batch)]

    def make_stems(chunk: Sequence[float]) -> tuple[list[np.ndarray], float]:
        t1 = time.perf_counter()
        stems = [np.asarray(separate_fn(mask, alpha=a, rule=rule)) for a in chunk]
        return stems, time.perf_counter() - t1

    with _ahead(make_stems, chunks) as made:
        done = 0
        for chunk, (stems, seconds) in zip(chunks, made, strict=True):
            t_stems += seconds
            t1 = time.perf_counter()
            scored = engine.evaluate_many(stems)
            t_sweep += time.perf_counter() - t1
            del stems
            for alpha, one in zip(chunk, scored, strict=True):
                results[alpha] = one
                done += 1
                if progress is not None:
                    message = f"{label} {method} α={alpha:.2f}"
                    progress(ProgressEvent("alpha", done, len(alphas), {"alpha": alpha}, message))
    extra = {
        "sr": int(track.sr),
        "channels": track.channels,
        "seconds": round(track.seconds, 3),
        "rule": rule,
        "timing": {
            "mask_seconds": round(t_mask, 3),
            "engine_setup_seconds": round(engine.setup_seconds, 3),
            "engine_wait_seconds": round(t_wait, 3),
            "stems_seconds": round(t_stems, 3),
            "sweep_seconds": round(t_sweep, 3),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
    }
    return results, extra


#: α per :meth:`SweepEngine.evaluate_many` call in :func:`score_method` (at most the engine's
#: memory-bound :meth:`SweepEngine.batch_size`).
PIPELINE_BATCH = 4


class _ahead:  # noqa: N801 - used as a function: ``with _ahead(fn, items) as results``
    """``fn(item)`` for each item, in order, one item ahead in a second thread.

    Iterating yields each result when it is ready, while the next one is computed; a raise in
    ``fn`` is raised by the iteration. With a single CPU (``OMP_NUM_THREADS=1``, as Dask
    workers and single-thread benchmarks set it) everything runs in the caller's thread.
    """

    def __init__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> None:
        self.fn, self.items = fn, items
        self.pool: Any = None

    def __enter__(self) -> Iterator[Any]:
        if compute_threads() <= 1 or len(self.items) <= 1:
            return (self.fn(item) for item in self.items)
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genex-ahead")
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        pending = self.pool.submit(self.fn, self.items[0])
        for i in range(len(self.items)):
            value = pending.result()
            if i + 1 < len(self.items):
                pending = self.pool.submit(self.fn, self.items[i + 1])
            yield value

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def evaluate_task(
    track: TrackLike, method: str, options: EvalOptions
) -> tuple[dict[float, BssEval], dict[str, Any]]:
    """One cluster task: load ``track`` (by path), mask once, score every α of ``method``.

    Runs on a Dask worker (:mod:`core.evaluation.cluster`); the client writes what it returns
    with :meth:`core.evaluation.results.ResultsRun.write_track`, so the numbers are those of the
    in-process path.

    Returns
    -------
    tuple
        As :func:`score_method`.

    Raises
    ------
    CoreError
        The track cannot be read or scored (no reference stems, a silent stem, bad model file).
    """
    loaded = _load(track, options.max_seconds)
    name = track_name(track)
    with _soon(_engine, loaded, name, options) as engine:
        return score_method(
            loaded, method, options.alphas, engine=engine, rule=options.rule,
            checkpoint=options.models.get(method), mask_fn=options.mask,
            separate_fn=options.separate, name=name,
        )  # fmt: skip
