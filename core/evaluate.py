"""Evaluate separation methods across the confidence threshold α on a set of tracks.

For each track the references are fixed, so one :class:`core.metrics.SweepEngine` serves every
method and α of that track. Each method's probabilistic mask is computed once
(:func:`core.separation.probability_mask`), turned into stems at every α
(:func:`core.separation.separate_at_alpha`) and scored with BSS Eval v4 (museval-exact). Results
go to a :mod:`core.results` run folder, one track × method at a time, so an interrupted run
resumes where it stopped.

The mask and separation functions are injectable (``mask_fn``, ``separate_fn``) so tests and
notebooks can evaluate any method without the trained models.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.errors import DatasetError, InvalidConfigError
from core.results import ResultsRun, create_run, file_sha256, git_commit

#: Progress callback: ``progress(kind, done, total, label)`` with kind ``"track"`` or ``"alpha"``.
Progress = Callable[[Literal["track", "alpha"], int, int, str], None]
#: ``mask_fn(mixture, sr, *, method, references, checkpoint) -> MaskResult``.
MaskFn = Callable[..., Any]
#: ``separate_fn(mask_result, *, alpha, rule) -> (2, channels, samples)``.
SeparateFn = Callable[..., Any]

ORACLE_METHODS = ("oracle", "oracle-irm")


def parse_alphas(spec: str | Sequence[float]) -> list[float]:
    """Parse an α grid: ``"start:stop:step"`` (inclusive) or ``"a,b,c"`` or a sequence.

    Parameters
    ----------
    spec : str or sequence of float
        E.g. ``"0.05:0.95:0.05"`` (19 values) or ``"0.25,0.5,0.75"``.

    Returns
    -------
    list of float
        Sorted, unique values in [0, 1], rounded to 6 decimals.

    Raises
    ------
    InvalidConfigError
        On a malformed spec, a non-positive step, or a value outside [0, 1].
    """
    if isinstance(spec, str):
        text = spec.strip()
        try:
            if ":" in text:
                parts = [float(x) for x in text.split(":")]
                if len(parts) != 3:
                    raise ValueError("expected start:stop:step")
                start, stop, step = parts
                if step <= 0:
                    raise InvalidConfigError(f"α step must be positive, got {step} in {spec!r}")
                n = int(np.floor((stop - start) / step + 1e-9)) + 1
                if n < 1:
                    raise ValueError("empty range")
                values = [start + i * step for i in range(n)]
            else:
                values = [float(x) for x in text.split(",") if x.strip()]
        except ValueError as exc:
            raise InvalidConfigError(
                f"--alphas must be 'start:stop:step' or a comma list of numbers, got {spec!r}"
            ) from exc
    else:
        values = [float(x) for x in spec]
    values = sorted({round(v, 6) for v in values})
    if not values:
        raise InvalidConfigError(f"the α grid {spec!r} is empty")
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise InvalidConfigError(f"α values must lie in [0, 1], got {bad} from {spec!r}")
    return values


def parse_methods(spec: str | Sequence[str]) -> list[str]:
    """Parse ``"dnn,traditional,oracle"`` into a list of known method names.

    Raises
    ------
    InvalidConfigError
        On an empty list or an unknown method.
    """
    from core.separation import METHODS

    items = [m.strip() for m in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [m for m in items if m]
    if not items:
        raise InvalidConfigError("--methods is empty; choose from " + ", ".join(METHODS))
    unknown = [m for m in items if m not in METHODS]
    if unknown:
        raise InvalidConfigError(
            f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}"
        )
    return list(dict.fromkeys(items))


def _load(track: Any, max_seconds: float | None) -> Any:
    if isinstance(track, (str, Path)):
        from core.corpus import load_track

        if max_seconds is None:
            return load_track(track)
        return load_track(track, max_seconds=max_seconds)
    return track


def _track_name(track: Any) -> str:
    if isinstance(track, (str, Path)):
        p = Path(track)
        name = p.name
        for suffix in (".stem.mp4",):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        return name
    return str(track.name)


def evaluate_tracks(
    tracks: Sequence[Any],
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
) -> ResultsRun:
    """Score ``methods`` × ``alphas`` on ``tracks`` and store the results in ``out``.

    Parameters
    ----------
    tracks : sequence of path or :class:`core.corpus.Track`
        Track folders (loaded with :func:`core.corpus.load_track`) or loaded tracks; each
        needs reference stems.
    methods : sequence of str
        Method names of :data:`core.separation.METHODS`.
    alphas : sequence of float
        Thresholds in [0, 1].
    out : str or Path
        The results run folder.
    checkpoint : path, optional
        DNN checkpoint (default: the shipped ``assets/separator/dnn.pt``).
    nmf : path, optional
        NMF bases for ``"traditional"`` (default: the shipped ``assets/separator/nmf.npz``).
    rule : {"paper", "complement", "soft"}
        Thresholding rule of :func:`core.masking.threshold_masks`.
    win_seconds, hop_seconds : float
        BSS Eval window and hop (1 s, as SiSEC).
    data, split : optional
        Recorded in the config (the corpus folder and split the tracks came from).
    max_seconds : float, optional
        Passed to :func:`core.corpus.load_track` (its default when ``None``).
    seed : int
        Recorded in the config (evaluation itself is deterministic).
    overwrite : bool
        Replace a run with a different configuration in ``out``.
    command : str, optional
        The command line recorded in the config (default: this process's argv).
    progress : callable, optional
        ``progress(kind, done, total, label)``; ``kind`` is ``"track"`` or ``"alpha"``.
    mask_fn, separate_fn : callable, optional
        Replace :func:`core.separation.probability_mask` / :func:`separate_at_alpha` (tests).

    Returns
    -------
    ResultsRun
        The run, with one ``<track>.<method>.json`` per finished track × method.

    Raises
    ------
    InvalidConfigError
        Unknown method or rule, bad α grid, no tracks.
    DatasetError
        A track without reference stems (or unreadable).
    ResultsError
        ``out`` holds a run with a different configuration (and not ``overwrite``).
    MetricsError
        A reference stem is silent throughout a track.
    CheckpointError
        A model file is missing or corrupt.
    """
    from core.metrics import SweepEngine

    methods = parse_methods(methods)
    alphas = parse_alphas(alphas)
    if rule not in ("paper", "complement", "soft"):
        raise InvalidConfigError(f"rule must be 'paper', 'complement' or 'soft', got {rule!r}")
    if not tracks:
        raise InvalidConfigError("no tracks to evaluate")
    names = [_track_name(t) for t in tracks]
    if len(set(names)) != len(names):
        raise InvalidConfigError(f"track names are not unique: {names}")
    if mask_fn is None or separate_fn is None:
        from core import separation

        mask_fn = mask_fn or separation.probability_mask
        separate_fn = separate_fn or separation.separate_at_alpha

    ck_path = nm_path = None
    if "dnn" in methods:
        if checkpoint is None and mask_fn is _default_mask_fn():
            from core.separation import default_checkpoint

            checkpoint = default_checkpoint()
        ck_path = None if checkpoint is None else Path(checkpoint)
    if "traditional" in methods:
        if nmf is None and mask_fn is _default_mask_fn():
            from core.separation import default_nmf

            nmf = default_nmf()
        nm_path = None if nmf is None else Path(nmf)

    import core

    try:
        from core.separation import MODEL_SR, MODEL_STFT

        stft = {"model_sr": MODEL_SR, **MODEL_STFT.to_dict()}
    except Exception:  # pragma: no cover - separation not importable
        stft = None
    config = {
        "command": command or " ".join(["genex", *map(shlex.quote, sys.argv[1:])]),
        "methods": methods,
        "alphas": alphas,
        "rule": rule,
        "data": _rel(data),
        "split": split,
        "tracks": names,
        "checkpoint": _rel(ck_path),
        "checkpoint_sha256": file_sha256(ck_path),
        "nmf": _rel(nm_path),
        "nmf_sha256": file_sha256(nm_path),
        "stft": stft,
        "win_seconds": float(win_seconds),
        "hop_seconds": float(hop_seconds),
        "max_seconds": max_seconds,
        "seed": int(seed),
        "metric": "BSS Eval v4 images, framewise (museval.evaluate-equal sweep engine)",
        "code_version": core.__version__,
        "git_commit": git_commit(),
    }
    run = create_run(out, config, overwrite=overwrite)

    n_tracks = len(tracks)
    for ti, (track, name) in enumerate(zip(tracks, names, strict=True)):
        todo = [m for m in methods if not run.is_done(name, m)]
        if not todo:
            if progress:
                progress("track", ti + 1, n_tracks, name)
            continue
        tr = _load(track, max_seconds)
        if tr.references is None:
            raise DatasetError(
                f"track {name!r} has no reference stems (vocals, accompaniment); "
                "BSS Eval needs them"
            )
        engine = SweepEngine(
            tr.references, sr=tr.sr, win_seconds=win_seconds, hop_seconds=hop_seconds
        )
        for method in todo:
            t0 = time.perf_counter()
            ck = ck_path if method == "dnn" else nm_path if method == "traditional" else None
            mask = mask_fn(
                tr.mixture,
                tr.sr,
                method=method,
                references=tr.references if method in ORACLE_METHODS else None,
                checkpoint=ck,
            )
            t_mask = time.perf_counter() - t0
            results = {}
            for ai, a in enumerate(alphas):
                stems = np.asarray(separate_fn(mask, alpha=a, rule=rule))
                results[a] = engine.evaluate(stems)
                if progress:
                    progress("alpha", ai + 1, len(alphas), f"{name} {method} α={a:.2f}")
            run.write_track(
                name,
                method,
                results,
                extra={
                    "sr": int(tr.sr),
                    "channels": int(tr.mixture.shape[0]),
                    "seconds": round(tr.mixture.shape[-1] / tr.sr, 3),
                    "rule": rule,
                    "timing": {
                        "mask_seconds": round(t_mask, 3),
                        "total_seconds": round(time.perf_counter() - t0, 3),
                    },
                },
            )
        if progress:
            progress("track", ti + 1, n_tracks, name)
    return run


def _rel(path: str | Path | None) -> str | None:
    """A path as text, relative to the repository when inside it (portable configs)."""
    if path is None:
        return None
    from core.paths import REPO_ROOT

    p = Path(path)
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


def _default_mask_fn() -> Any:
    from core import separation

    return separation.probability_mask


def find_tracks(data: str | Path, *, split: str | None = None) -> list[Path]:
    """Track folders under ``data`` (one split of it when ``split`` is given).

    Raises
    ------
    DatasetError
        ``data`` is not a folder, has no such split, or holds no tracks.
    """
    from core.corpus import list_tracks, split_tracks

    tracks = split_tracks(data, split) if split else list_tracks(data)  # type: ignore[arg-type]
    if not tracks:
        where = f"{data} ({split})" if split else str(data)
        raise DatasetError(f"no track folders found under {where}")
    return list(tracks)
