"""Results store: one folder per evaluation run, museval-compatible JSON and a tidy table.

Layout of a run folder::

    <run>/config.json              what was evaluated and how (see :data:`IDENTITY_KEYS`)
    <run>/<track>.<method>.json    framewise metrics of one track and method, every α
    <run>/metrics.parquet          tidy table of the finished files, written when a run ends
    <run>/failures.meta.json       failed track x method tasks of the last attempt, if any

``<track>.<method>.json`` follows museval's ``TrackStore`` layout (``musdb.schema.json``)::

    {"museval_version": "...", "track": ..., "method": ..., "alphas": [...], "win": 1.0,
     "hop": 1.0,
     "targets": [{"name": "vocals", "alpha": 0.05,
                  "frames": [{"time": 0.0, "duration": 1.0,
                              "metrics": {"SDR": .., "SIR": .., "SAR": .., "ISR": ..}}]},
                 ...]}

i.e. one ``targets`` entry per (target, α), each carrying an extra ``"alpha"`` key. The file
validates against museval's schema; read it with
``pandas.json_normalize(doc["targets"], ["frames"], ["name", "alpha"])``. museval's own
``json2df`` ignores the ``alpha`` key (so it would pool α values): use :func:`museval_document`
to get a plain single-α museval document, or :func:`export_museval` to write the per-α folder
layout that ``museval.MethodStore().add_eval_dir(...)`` reads. Values are quantised to 1e-5 dB
and ``±inf`` is stored as NaN, as museval does; NaN marks an undefined (silent) window.

Every write is atomic (:mod:`core.io_utils`). A track×method file is written only when all its α
values are done, so a crash leaves every finished track usable and a re-run with the same
configuration resumes; a re-run with a different configuration into the same folder raises
:class:`ResultsError` unless ``overwrite=True``. The tidy table is written once, when a run ends
(:meth:`ResultsRun.write_tidy`, from the JSON files); until then, or when it is stale,
:meth:`ResultsRun.tidy` builds the same table from the JSON files, so a resumed run gives exactly
the table of an uninterrupted one. (Runs of older versions may hold ``metrics.csv``; it is read.)

:func:`summary` is the aggregation the Metrics page shows: the median over windows of each track,
then the median and interquartile range over tracks.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidConfigError, ResultsError
from core.evaluation.bss import METRICS, BssEval
from core.io_utils import LOCK_NAME, atomic_write_bytes, atomic_write_json, atomic_write_text
from core.paths import REPO_ROOT

#: File format marker and version written into ``config.json``.
FORMAT = "genex-results"
FORMAT_VERSION = 1
#: Configuration keys that must agree for a re-run to resume into an existing folder.
IDENTITY_KEYS: tuple[str, ...] = (
    "format_version",
    "methods",
    "alphas",
    "rule",
    "data",
    "split",
    "tracks",
    "checkpoint_sha256",
    "nmf_sha256",
    "stft",
    "win_seconds",
    "hop_seconds",
    "max_seconds",
    "seed",
)
#: Columns of the tidy table.
TIDY_COLUMNS: tuple[str, ...] = (
    "track",
    "method",
    "alpha",
    "target",
    "metric",
    "window",
    "time",
    "value",
)

_CONFIG = "config.json"
_PARQUET = "metrics.parquet"
_CSV = "metrics.csv"  # written by older versions; read, never written
_FAILURES = "failures.meta.json"  # the failed track x method tasks of the last attempt
_ALPHA_DECIMALS = 6
_SUMMARY_KEYS = ("method", "alpha", "target", "metric")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 hex digest of a file, or ``None`` when ``path`` is ``None`` or not a file."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(repo: str | Path = REPO_ROOT) -> str | None:
    """The current git commit of ``repo`` (with ``-dirty`` if modified), or ``None``."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _q(x: float) -> float:
    """Museval's quantisation: 5 decimals, ``±inf`` and NaN stored as NaN."""
    x = float(x)
    if not math.isfinite(x):
        return float("nan")
    return round(x, 5)


def _alpha_key(alpha: float) -> float:
    return round(float(alpha), _ALPHA_DECIMALS)


def _safe_name(name: str, what: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise ResultsError(f"{what} name {name!r} cannot be used in a file name")
    return name


def _readable(path: Path) -> bool:
    """Whether ``path`` parses as a track document (a JSON object with a ``targets`` list)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("targets"), list)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and paths in a config to JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _identity(config: Mapping[str, Any]) -> dict[str, Any]:
    ident = {k: _jsonable(config.get(k)) for k in IDENTITY_KEYS}
    if ident.get("alphas") is not None:
        ident["alphas"] = [_alpha_key(a) for a in ident["alphas"]]
    return ident


# --------------------------------------------------------------------------------------------
# documents
# --------------------------------------------------------------------------------------------


def track_document(
    track: str,
    method: str,
    results: Mapping[float, BssEval],
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``<track>.<method>.json`` document from ``{alpha: BssEval}``.

    Parameters
    ----------
    track, method : str
        Names written into the document.
    results : mapping of float to :class:`core.evaluation.bss.BssEval`
        Framewise metrics per α.
    extra : mapping, optional
        More top-level keys (e.g. timing).

    Returns
    -------
    dict
        A museval-schema document with one ``targets`` entry per (target, α).
    """
    alphas = [_alpha_key(a) for a in results]
    first = next(iter(results.values()))
    try:
        mv = version("museval")
    except PackageNotFoundError:  # pragma: no cover - museval is a dependency
        mv = "unknown"
    doc: dict[str, Any] = {
        "museval_version": mv,
        "track": track,
        "method": method,
        "alphas": alphas,
        "win": float(first.win_seconds),
        "hop": float(first.hop_seconds),
        "targets": [],
    }
    if extra:
        doc.update(_jsonable(dict(extra)))
    for a, res in results.items():
        for s, name in enumerate(res.sources):
            frames = []
            for w, t in enumerate(res.window_starts):
                frames.append(
                    {
                        "time": round(float(t), 6),
                        "duration": float(res.win_seconds),
                        "metrics": {m: _q(res.metric(m)[s, w]) for m in METRICS},
                    }
                )
            doc["targets"].append({"name": name, "alpha": _alpha_key(a), "frames": frames})
    return doc


def document_to_tidy(doc: Mapping[str, Any], *, track: str, method: str) -> pd.DataFrame:
    """Tidy rows (:data:`TIDY_COLUMNS`) of one track document."""
    rows: dict[str, list[Any]] = {c: [] for c in TIDY_COLUMNS}
    for tgt in doc.get("targets", []):
        alpha = _alpha_key(tgt.get("alpha", float("nan")))
        for w, fr in enumerate(tgt["frames"]):
            for m in METRICS:
                v = fr["metrics"].get(m)
                rows["track"].append(track)
                rows["method"].append(method)
                rows["alpha"].append(alpha)
                rows["target"].append(tgt["name"])
                rows["metric"].append(m)
                rows["window"].append(w)
                rows["time"].append(float(fr["time"]))
                rows["value"].append(float("nan") if v is None else float(v))
    df = pd.DataFrame(rows)
    return _tidy_dtypes(df)


def _tidy_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(
        {
            "track": str,
            "method": str,
            "alpha": "float64",
            "target": str,
            "metric": str,
            "window": "int64",
            "time": "float64",
            "value": "float64",
        }
    )
    return df.reset_index(drop=True)


def _empty_tidy() -> pd.DataFrame:
    return _tidy_dtypes(pd.DataFrame({c: [] for c in TIDY_COLUMNS}))


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


class ResultsRun:
    """A results run folder (see the module docstring).

    Attributes
    ----------
    path : Path
        The run folder.
    config : dict
        The parsed ``config.json``.
    """

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = config

    def __repr__(self) -> str:
        return f"ResultsRun({str(self.path)!r}, finished={len(self.finished())})"

    # -- files --------------------------------------------------------------------------------
    def track_path(self, track: str, method: str) -> Path:
        """Path of ``<track>.<method>.json``."""
        return self.path / f"{_safe_name(track, 'track')}.{_safe_name(method, 'method')}.json"

    def _track_files(self) -> list[tuple[str, str, Path, bool]]:
        """``(track, method, path, readable)`` of every ``<track>.<method>.json``, sorted."""
        out = []
        for p in sorted(self.path.glob("*.json")):
            if p.name == _CONFIG or p.name.startswith(".") or p.name.endswith(".meta.json"):
                continue
            stem = p.name[: -len(".json")]
            if "." not in stem:
                continue
            track, method = stem.rsplit(".", 1)
            out.append((track, method, p, _readable(p)))
        return out

    def finished(self) -> list[tuple[str, str]]:
        """``(track, method)`` pairs with a complete, readable file, sorted."""
        return [(t, m) for t, m, _, ok in self._track_files() if ok]

    def corrupt(self) -> list[Path]:
        """Track × method files that exist but cannot be read (truncated, not JSON, no targets).

        They count as not finished: re-running the run's command redoes them.
        """
        return [p for _, _, p, ok in self._track_files() if not ok]

    def expected(self) -> list[tuple[str, str]]:
        """``(track, method)`` pairs the configuration asks for (empty if it lists no tracks)."""
        tracks, methods = self.config.get("tracks"), self.config.get("methods")
        if not isinstance(tracks, list) or not isinstance(methods, list):
            return []
        return [(str(t), str(m)) for t in tracks for m in methods]

    def is_done(self, track: str, method: str) -> bool:
        """Whether ``track`` × ``method`` is finished (its file exists and parses)."""
        p = self.track_path(track, method)
        return p.is_file() and _readable(p)

    def read_track(self, track: str, method: str) -> dict[str, Any]:
        """The parsed ``<track>.<method>.json``.

        Raises
        ------
        ResultsError
            If the file is missing or malformed.
        """
        p = self.track_path(track, method)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ResultsError(
                f"no results for track {track!r}, method {method!r} in {self.path}"
            ) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsError(f"malformed results file {p}: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("targets"), list):
            raise ResultsError(f"malformed results file {p}: no 'targets' list")
        return doc

    # -- writing ------------------------------------------------------------------------------
    def write_track(
        self,
        track: str,
        method: str,
        results: Mapping[float, BssEval],
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Atomically write one finished track × method.

        The tidy table is not touched (:meth:`write_tidy` writes it once, when the run ends).

        Parameters
        ----------
        track, method : str
            Names (used in the file name).
        results : mapping of float to :class:`core.evaluation.bss.BssEval`
            Metrics for every α of the run.
        extra : mapping, optional
            More top-level keys for the document.

        Returns
        -------
        Path
            The written JSON file.

        Raises
        ------
        ResultsError
            If ``results`` is empty or a name cannot be used in a file name.
        """
        if not results:
            raise ResultsError(f"no α results to write for track {track!r}, method {method!r}")
        path = self.track_path(track, method)
        doc = track_document(track, method, results, extra=extra)
        text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
        atomic_write_text(path, text + "\n")
        return path

    def write_failures(self, failures: list[str]) -> None:
        """Record the failed tasks of this attempt (``"track (method): error"``), atomically.

        An empty list removes the record: every task of the run has succeeded since.
        """
        path = self.path / _FAILURES
        if failures:
            atomic_write_json(path, {"failures": [str(f) for f in failures]})
        else:
            path.unlink(missing_ok=True)

    def failures(self) -> list[str]:
        """The failed tasks recorded by the last attempt (empty when none or unreadable)."""
        try:
            doc = json.loads((self.path / _FAILURES).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return []
        items = doc.get("failures") if isinstance(doc, dict) else None
        return [str(f) for f in items] if isinstance(items, list) else []

    def write_tidy(self) -> Path:
        """Write ``metrics.parquet`` from the finished JSON files (once per run, at its end).

        Returns
        -------
        Path
            The written table.
        """
        buf = io.BytesIO()
        self._tidy_from_json().to_parquet(buf, index=False, compression="zstd")
        path = atomic_write_bytes(self.path / _PARQUET, buf.getvalue())
        (self.path / _CSV).unlink(missing_ok=True)
        return path

    # -- reading ------------------------------------------------------------------------------
    def _tidy_from_json(self) -> pd.DataFrame:
        parts = [
            document_to_tidy(self.read_track(t, m), track=t, method=m) for t, m in self.finished()
        ]
        if not parts:
            return _empty_tidy()
        return pd.concat(parts, ignore_index=True)

    def tidy(self) -> pd.DataFrame:
        """The tidy table (:data:`TIDY_COLUMNS`), one row per framewise value.

        Read from ``metrics.parquet``/``metrics.csv`` when it covers every finished file, else
        rebuilt from the JSON files (e.g. after a crash between the two writes).
        """
        finished = set(self.finished())
        for name in (_PARQUET, _CSV):
            p = self.path / name
            if not p.is_file():
                continue
            try:
                df = pd.read_parquet(p) if name == _PARQUET else pd.read_csv(p)
            except (OSError, ValueError):  # corrupt table (pyarrow's errors subclass these)
                continue
            if set(TIDY_COLUMNS) - set(df.columns):
                continue
            have = set(zip(df["track"].astype(str), df["method"].astype(str), strict=True))
            if have == finished:
                return _tidy_dtypes(df[list(TIDY_COLUMNS)])
        return self._tidy_from_json()

    def summary(self) -> pd.DataFrame:
        """:func:`summary` of this run's tidy table."""
        return summary(self.tidy())


# --------------------------------------------------------------------------------------------
# opening and creating runs
# --------------------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / _CONFIG
    if not path.is_dir():
        raise ResultsError(f"not a results run: {path} is not a folder")
    if not cfg_path.is_file():
        raise ResultsError(f"not a results run: {path} has no {_CONFIG}")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"not a results run: {cfg_path} is not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ResultsError(
            f"not a results run: {cfg_path} is not a GenEx results config "
            f'(expected "format": "{FORMAT}")'
        )
    for key in ("methods", "alphas"):
        if not isinstance(cfg.get(key), list):
            raise ResultsError(f"not a results run: {cfg_path} lacks a {key!r} list")
    return cfg


def open_run(path: str | Path) -> ResultsRun:
    """Open an existing results run.

    Parameters
    ----------
    path : str or Path
        The run folder (holding ``config.json``).

    Returns
    -------
    ResultsRun

    Raises
    ------
    ResultsError
        ``"not a results run: ..."`` when the folder is missing, has no ``config.json`` or the
        config is malformed.
    """
    p = Path(path).expanduser()
    return ResultsRun(p, _read_config(p))


def create_run(
    path: str | Path, config: Mapping[str, Any], *, overwrite: bool = False
) -> ResultsRun:
    """Create (or resume) a results run in ``path``.

    Parameters
    ----------
    path : str or Path
        The run folder; created if missing.
    config : mapping
        The run configuration; ``format``, ``format_version`` and ``created`` are added.
    overwrite : bool, optional
        Replace an existing run with a different configuration (its results files are deleted).

    Returns
    -------
    ResultsRun
        A new run, or the existing one when its configuration matches (resume: finished
        track×method files are kept and can be skipped).

    Raises
    ------
    ResultsError
        If ``path`` holds a run with a different configuration (the message names the first
        differing keys) and ``overwrite`` is false, or holds other files and no ``config.json``.
    """
    p = Path(path).expanduser()
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, **_jsonable(dict(config))}
    cfg.setdefault("created", _now())
    if (p / _CONFIG).is_file():
        try:
            existing = _read_config(p)
        except ResultsError:
            if not overwrite:
                raise
            existing = None
        if existing is not None:
            old, new = _identity(existing), _identity(cfg)
            if old == new:
                return ResultsRun(p, existing)
            if not overwrite:
                diff = [k for k in IDENTITY_KEYS if old.get(k) != new.get(k)]
                detail = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:3])
                raise ResultsError(
                    f"{p} holds a results run with a different configuration ({detail}); "
                    "pass --overwrite (overwrite=True) to replace it, or choose another --out"
                )
        _clear_run(p)
    elif p.is_dir() and any(f.name != LOCK_NAME for f in p.iterdir()) and not overwrite:
        raise ResultsError(
            f"{p} is not empty and is not a results run; choose an empty or new folder for --out"
        )
    p.mkdir(parents=True, exist_ok=True)
    atomic_write_json(p / _CONFIG, cfg)
    return ResultsRun(p, cfg)


def _clear_run(p: Path) -> None:
    """Delete the files a run consists of (never anything else)."""
    run = ResultsRun(p, {})
    for track, method in run.finished():
        run.track_path(track, method).unlink(missing_ok=True)
    for name in (_CONFIG, _PARQUET, _CSV, _FAILURES):
        (p / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def tidy(run: ResultsRun | str | Path) -> pd.DataFrame:
    """The tidy table of a run (a :class:`ResultsRun` or its folder)."""
    if not isinstance(run, ResultsRun):
        run = open_run(run)
    return run.tidy()


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """SiSEC aggregation: median over windows per track, then median and IQR over tracks.

    Parameters
    ----------
    df : DataFrame
        A tidy table (:data:`TIDY_COLUMNS`).

    Returns
    -------
    DataFrame
        One row per ``method, alpha, target, metric`` with ``median``, ``q25``, ``q75`` (over
        tracks of the per-track medians, NaN ignored) and ``n_tracks`` (tracks with a value).
    """
    return _quartiles(per_track_medians(df), "n_tracks")


def per_track_medians(df: pd.DataFrame) -> pd.DataFrame:
    """Median over windows (NaN ignored) of each ``track, method, alpha, target, metric``.

    Parameters
    ----------
    df : DataFrame
        A tidy table (:data:`TIDY_COLUMNS`).

    Returns
    -------
    DataFrame
        Columns ``track, method, alpha, target, metric, value``; ``value`` is NaN only when every
        window of that track is NaN.
    """
    keys = ["track", *_SUMMARY_KEYS]
    if df.empty:
        return pd.DataFrame(columns=[*keys, "value"])
    return df.groupby(keys, sort=True)["value"].median().reset_index()


def track_summary(df: pd.DataFrame, track: str) -> pd.DataFrame:
    """Median and IQR over the windows of one track (the Metrics page's single-track view).

    Parameters
    ----------
    df : DataFrame
        A tidy table (:data:`TIDY_COLUMNS`).
    track : str
        The track.

    Returns
    -------
    DataFrame
        As :func:`summary`, with ``n_windows`` (windows with a value) instead of ``n_tracks``.
    """
    return _quartiles(df[df["track"] == track], "n_windows")


def _quartiles(df: pd.DataFrame, count: str) -> pd.DataFrame:
    """Median, quartiles and count of ``value`` per ``method, alpha, target, metric``."""
    cols = [*_SUMMARY_KEYS, "median", "q25", "q75", count]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby(list(_SUMMARY_KEYS), sort=True)["value"]
    out = pd.DataFrame(
        {"median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75), count: g.count()}
    ).reset_index()
    return out[cols]


def sir_sar_means(df: pd.DataFrame, *, target: str) -> pd.DataFrame:
    """Mean over tracks of the per-track medians of SIR and SAR, per ``method, alpha``.

    The paper's means over songs, for the like-to-like view (SAR as a function of SIR).

    Parameters
    ----------
    df : DataFrame
        A tidy table (:data:`TIDY_COLUMNS`).
    target : str
        E.g. ``"vocals"``.

    Returns
    -------
    DataFrame
        Columns ``method, alpha, SIR, SAR, n`` (``n`` tracks with both values defined).
    """
    sub = df[(df["target"] == target) & (df["metric"].isin(["SIR", "SAR"]))]
    wide = per_track_medians(sub).pivot_table(
        index=["method", "alpha", "track"], columns="metric", values="value", dropna=False
    )
    wide = wide.reindex(columns=["SIR", "SAR"]).dropna().reset_index()
    g = wide.groupby(["method", "alpha"], sort=True)
    return pd.DataFrame(
        {"SIR": g["SIR"].mean(), "SAR": g["SAR"].mean(), "n": g["SIR"].count()}
    ).reset_index()


def museval_document(run: ResultsRun, track: str, method: str, alpha: float) -> dict[str, Any]:
    """A plain museval ``TrackStore`` document of one α (for ``museval.aggregate.json2df``).

    Raises
    ------
    ResultsError
        If the track, method or α is not in the run.
    """
    doc = run.read_track(track, method)
    a = _alpha_key(alpha)
    targets = [
        {"name": t["name"], "frames": t["frames"]}
        for t in doc["targets"]
        if _alpha_key(t.get("alpha", float("nan"))) == a
    ]
    if not targets:
        raise ResultsError(f"α={alpha} is not in {run.track_path(track, method).name}")
    return {"museval_version": doc.get("museval_version", "unknown"), "targets": targets}


def export_museval(run: ResultsRun, out: str | Path) -> list[Path]:
    """Write ``<out>/<method>/alpha-<α>/test/<track>.json``, one plain museval file per α.

    Each ``<out>/<method>/alpha-<α>`` folder can be read with
    ``museval.MethodStore().add_eval_dir(folder)``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    written = []
    for track, method in run.finished():
        doc = run.read_track(track, method)
        for a in doc.get("alphas", []):
            plain = museval_document(run, track, method, a)
            dest = out / method / f"alpha-{a:.2f}" / "test" / f"{track}.json"
            written.append(atomic_write_json(dest, plain))
    return written


def describe(run: ResultsRun, *, metric: str = "SDR") -> str:
    """A short text summary: per method and target, the α with the best median ``metric``.

    Raises
    ------
    InvalidConfigError
        ``metric`` is not one of :data:`core.evaluation.bss.METRICS`.
    """
    if metric not in METRICS:
        raise InvalidConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    finished, expected = run.finished(), run.expected()
    if expected:
        done = len(set(finished) & set(expected))
        head = f"{run.path}: {done} of {len(expected)} track×method files complete"
    else:
        head = f"{run.path}: {len(finished)} track×method files"
    warnings = [
        f"  warning: {p.name} is corrupt (truncated or not a results file) and is left out; "
        "re-run the run's genex evaluate command to redo it"
        for p in run.corrupt()
    ]
    warnings += [f"  failed: {f}" for f in run.failures()]
    s = run.summary()
    if s.empty:
        return "\n".join([f"{run.path}: no finished tracks", *warnings])
    lines = [head, *warnings]
    sel = s[s["metric"] == metric]
    for (method, target), g in sel.groupby(["method", "target"], sort=False):
        g = g.dropna(subset=["median"])
        if g.empty:
            continue
        best = g.loc[g["median"].idxmax()]
        lines.append(
            f"  {method:12s} {target:14s} best median {metric} {best['median']:6.2f} dB "
            f"at α={best['alpha']:.2f}"
        )
    return "\n".join(lines)
