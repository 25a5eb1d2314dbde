"""Results store: one folder per evaluation run, museval-compatible JSON and a tidy table.

Layout of a run folder::

    <run>/config.json              what was evaluated and how (see :data:`IDENTITY_KEYS`)
    <run>/<track>.<method>.json    framewise metrics of one track and method, every α
    <run>/metrics.parquet          tidy table of the finished files, written when a run ends
    <run>/failures.meta.json       failed track x method tasks of the last attempt, if any
                                   (written as each failure arrives)

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

pandas is imported only by the functions that return DataFrames (the Metrics page, notebooks):
``genex evaluate`` writes the table with pyarrow from numpy columns (:data:`Columns`) and
:func:`describe` ranks α with numpy, so the command never pays pandas' import.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InvalidConfigError, ResultsError
from core.evaluation.bss import METRICS, BssEval
from core.io_utils import LOCK_NAME, atomic_write_bytes, atomic_write_json, atomic_write_text
from core.paths import REPO_ROOT

if TYPE_CHECKING:
    import pandas as pd

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
_TEXT_COLUMNS = ("track", "method", "target", "metric")

#: The tidy table as numpy columns: :data:`TIDY_COLUMNS` to 1-D arrays of one length (text
#: columns hold ``str`` objects, ``window`` int64, the others float64).
Columns = dict[str, np.ndarray]


def _pandas() -> Any:
    """pandas, imported on first use (about half a second; the evaluation never needs it)."""
    import pandas  # noqa: PLC0415

    return pandas


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
        read_track_document(path)
    except (OSError, ResultsError):
        return False
    return True


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # no /proc (not Linux): trust kill()
        return True
    fields = stat.rsplit(")", 1)[-1].split()
    return not fields or fields[0] != "Z"


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
    """Tidy rows (:data:`TIDY_COLUMNS`) of one track document.

    Rows run over the document's targets, then windows, then :data:`METRICS`; a missing or
    ``null`` value is NaN.
    """
    return _frame(document_columns(doc, track=track, method=method))


def document_columns(doc: Mapping[str, Any], *, track: str, method: str) -> Columns:
    """:func:`document_to_tidy` as numpy columns (:data:`Columns`), without pandas."""
    alphas: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    windows: list[np.ndarray] = []
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    n_metrics = len(METRICS)
    for tgt in doc.get("targets", []):
        frames = tgt["frames"]
        n = len(frames) * n_metrics
        vals = [fr["metrics"].get(m) for fr in frames for m in METRICS]
        values.append(np.array([np.nan if v is None else v for v in vals], dtype=np.float64))
        times.append(
            np.repeat(np.array([fr["time"] for fr in frames], dtype=np.float64), n_metrics)
        )
        windows.append(np.repeat(np.arange(len(frames), dtype=np.int64), n_metrics))
        alphas.append(np.full(n, _alpha_key(tgt.get("alpha", float("nan")))))
        targets.append(np.full(n, str(tgt["name"]), dtype=object))
    if not values:
        return _empty_columns()
    value = np.concatenate(values)
    n_rows = value.size
    return {
        "track": np.full(n_rows, str(track), dtype=object),
        "method": np.full(n_rows, str(method), dtype=object),
        "alpha": np.concatenate(alphas).astype(np.float64),
        "target": np.concatenate(targets),
        "metric": np.tile(np.array(METRICS, dtype=object), n_rows // n_metrics),
        "window": np.concatenate(windows),
        "time": np.concatenate(times),
        "value": value,
    }


def read_track_document(path: str | Path) -> dict[str, Any]:
    """Parse one ``<track>.<method>.json`` file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ResultsError
        If it is malformed: truncated, not JSON, not UTF-8, or without a ``targets`` list.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"malformed results file {p}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), list):
        raise ResultsError(f"malformed results file {p}: no 'targets' list")
    for i, tgt in enumerate(doc["targets"]):
        frames = tgt.get("frames") if isinstance(tgt, dict) else None
        if not isinstance(frames, list) or "name" not in tgt:
            raise ResultsError(f"malformed results file {p}: target {i} has no name or frames")
        if not all(isinstance(fr, dict) and isinstance(fr.get("metrics"), dict) for fr in frames):
            raise ResultsError(f"malformed results file {p}: a frame of target {i} has no metrics")
    return doc


def read_track_table(path: str | Path, *, track: str, method: str) -> pd.DataFrame:
    """Tidy rows (:data:`TIDY_COLUMNS`) of one ``<track>.<method>.json`` file.

    Raises
    ------
    ResultsError
        If the file is missing or malformed (truncated, not JSON, frames without metrics).
    """
    return _frame(read_track_columns(path, track=track, method=method))


def read_track_columns(path: str | Path, *, track: str, method: str) -> Columns:
    """:func:`read_track_table` as numpy columns (:data:`Columns`), without pandas.

    Raises
    ------
    ResultsError
        If the file is missing or malformed (truncated, not JSON, frames without metrics).
    """
    try:
        doc = read_track_document(path)
    except FileNotFoundError as exc:
        raise ResultsError(f"no results file {path}") from exc
    try:
        return document_columns(doc, track=track, method=method)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"malformed results file {path}: {exc!r}") from exc


def _empty_columns() -> Columns:
    cols = {c: np.empty(0, dtype=object) for c in _TEXT_COLUMNS}
    cols.update(
        alpha=np.empty(0), window=np.empty(0, dtype=np.int64), time=np.empty(0),
        value=np.empty(0),
    )  # fmt: skip
    return {c: cols[c] for c in TIDY_COLUMNS}


def _concat_columns(parts: list[Columns]) -> Columns:
    if not parts:
        return _empty_columns()
    return {c: np.concatenate([p[c] for p in parts]) for c in TIDY_COLUMNS}


def _take(cols: Columns, rows: np.ndarray) -> Columns:
    return {c: v[rows] for c, v in cols.items()}


def _group_rows(cols: Columns, keys: tuple[str, ...]) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """Rows of each distinct value of ``keys``: ``[(key values, row indices)]``.

    Groups are sorted by their key values; rows keep their order within a group (as pandas'
    ``groupby``).
    """
    n = len(cols[keys[0]])
    if n == 0:
        return []
    code = np.zeros(n, dtype=np.int64)
    for k in keys:
        inv, size = _factorize(cols[k])
        code = code * size + inv
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    out = []
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        rows = order[a:b]
        first = rows[0]
        out.append((tuple(cols[k][first] for k in keys), rows))
    return out


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes ``(n,)`` int64 numbering the distinct values in sorted order, and their count.

    Text columns go through a dict (linear time: they hold a few distinct values, repeated),
    numbers through :func:`numpy.unique`.
    """
    if values.dtype != object:
        uniq, inv = np.unique(values, return_inverse=True)
        return inv.reshape(-1).astype(np.int64), len(uniq)
    index: dict[Any, int] = {}
    first = np.fromiter(
        (index.setdefault(v, len(index)) for v in values.tolist()), dtype=np.int64,
        count=len(values),
    )  # fmt: skip
    rank = np.empty(len(index), dtype=np.int64)  # first-seen number -> sorted position
    rank[[index[v] for v in sorted(index)]] = np.arange(len(index))
    return rank[first], len(index)


def _frame(cols: Columns) -> pd.DataFrame:
    return _tidy_dtypes(_pandas().DataFrame({c: cols[c] for c in TIDY_COLUMNS}))


# The table goes through pyarrow's buffer-level API: its array constructors, ``pq.read_table``
# and ``Array.to_numpy`` import pandas (a second or so of a one-track ``genex evaluate``).


def _arrow_column(name: str, values: np.ndarray) -> Any:
    """One tidy column as a pyarrow array: text ``large_string``, NaN values as nulls."""
    import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415 - lazy

    n = len(values)
    if name in _TEXT_COLUMNS:
        codes, _ = _factorize(values)
        cats = sorted({str(v) for v in values.tolist()}) if n else []
        raw = [c.encode("utf-8") for c in cats]
        lens = np.array([len(r) for r in raw], dtype=np.int64)
        cat_start = np.concatenate([[0], np.cumsum(lens)])[:-1] if raw else lens
        row_lens = lens[codes] if n else np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(row_lens)]).astype(np.int64)
        flat = np.frombuffer(b"".join(raw), dtype=np.uint8)
        # byte i of row r is byte (i - offsets[r]) of its category
        shift = np.repeat(cat_start[codes] - offsets[:-1], row_lens) if n else row_lens
        data = flat[shift + np.arange(int(offsets[-1]))]
        return pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())
        )
    if name == "window":
        return pa.Array.from_buffers(
            pa.int64(), n, [None, pa.py_buffer(np.ascontiguousarray(values, dtype=np.int64))]
        )
    x = np.ascontiguousarray(values, dtype=np.float64)
    nan = np.isnan(x)
    if not nan.any():
        return pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(x)])
    valid = pa.py_buffer(np.packbits(~nan, bitorder="little"))
    return pa.Array.from_buffers(
        pa.float64(), n, [valid, pa.py_buffer(x)], null_count=int(nan.sum())
    )


def _parquet_bytes(cols: Columns) -> bytes:
    """The tidy table as Parquet (zstd), as pandas writes it (text ``large_string``, NaN null)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415

    table = pa.Table.from_arrays(
        [_arrow_column(c, cols[c]) for c in TIDY_COLUMNS], names=list(TIDY_COLUMNS)
    )
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf, compression="zstd")
    return bytes(buf.getvalue().to_pybytes())


def _numpy_of(arr: Any, dtype: type) -> np.ndarray:
    """A pyarrow numeric array's values as numpy (from its buffers); nulls become NaN."""
    validity, data = arr.buffers()[:2]
    n, off = len(arr), arr.offset
    values: np.ndarray = (
        np.frombuffer(data, dtype=dtype, count=off + n)[off:] if n else np.empty(0, dtype)
    )
    if arr.null_count:
        bits = np.frombuffer(validity, dtype=np.uint8)
        valid = np.unpackbits(bits, bitorder="little", count=off + n)[off:].astype(bool)
        values = values.astype(np.float64)
        values[~valid] = np.nan
    return values


def _strings_of(arr: Any) -> list[str]:
    """A pyarrow (large) string array without nulls as a list of str (from its buffers)."""
    wide = str(arr.type) == "large_string"
    _, offsets_buf, data = arr.buffers()[:3]
    n, off = len(arr), arr.offset
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if wide else np.int32, count=off + n + 1)
    raw = b"" if data is None else data.to_pybytes()
    o = offsets[off:].tolist()
    return [raw[o[i] : o[i + 1]].decode("utf-8") for i in range(n)]


def _read_parquet_columns(path: Path) -> Columns | None:
    """The tidy columns of a ``metrics.parquet`` (``None``: missing, unreadable or not tidy)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        pf = pq.ParquetFile(path, read_dictionary=list(_TEXT_COLUMNS))
        if set(TIDY_COLUMNS) - set(pf.schema_arrow.names):
            return None
        # text as dictionaries: each row then refers to one of a few str objects
        table = pf.read(columns=list(TIDY_COLUMNS))
    except (OSError, ValueError):  # none yet, or corrupt (pyarrow's errors subclass these)
        return None
    cols = {}
    for c in TIDY_COLUMNS:
        parts = []
        for ch in table.column(c).chunks:
            if c in _TEXT_COLUMNS:
                if ch.null_count or not str(ch.type).startswith("dictionary"):
                    return None  # never written so: not a table of ours
                cats = np.array(_strings_of(ch.dictionary), dtype=object)
                parts.append(cats[_numpy_of(ch.indices, _INDEX_DTYPES[str(ch.indices.type)])])
            elif c == "window":
                if ch.null_count:
                    return None
                parts.append(_numpy_of(ch, np.int64))
            else:
                parts.append(_numpy_of(ch, np.float64))
        empty = np.empty(0, dtype=object if c in _TEXT_COLUMNS else np.float64)
        cols[c] = np.concatenate(parts) if parts else empty
    cols["window"] = cols["window"].astype(np.int64, copy=False)
    return cols


_INDEX_DTYPES: dict[str, type] = {"int8": np.int8, "int16": np.int16, "int32": np.int32}
_INDEX_DTYPES["int64"] = np.int64


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
    return _frame(_empty_columns())


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStatus:
    """How far a results run is (:meth:`ResultsRun.status`).

    Attributes
    ----------
    done : int
        Finished track × method files (of those the configuration expects, when it lists them).
    expected : int
        Track × method results the configuration asks for (0 when it lists no tracks).
    corrupt : tuple of str
        Names of track × method files that cannot be read (truncated, not JSON, no targets):
        left out of the tables, redone by re-running the run's command.
    failures : tuple of str
        Failed tasks of the last attempt (``failures.meta.json``, written as each failure
        arrives, so a run being written lists its failures so far), with their errors.
    writer_pid : int or None
        Process id of the ``genex`` run writing the folder now (``None``: nobody).
    """

    done: int
    expected: int
    corrupt: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    writer_pid: int | None = None

    @property
    def writing(self) -> bool:
        """Whether a ``genex`` run is writing the folder now."""
        return self.writer_pid is not None

    @property
    def complete(self) -> bool:
        """Whether every expected result is in (unknown expectations count as complete)."""
        return self.expected == 0 or self.done >= self.expected

    def headline(self) -> str:
        """One line: ``"k of N track×method files complete"``, and whether it is being written."""
        if self.expected:
            text = f"{self.done} of {self.expected} track×method files complete"
        else:
            text = f"{self.done} track×method files complete"
        if self.writing:
            text += f", being written now (pid {self.writer_pid})"
        elif not self.complete:
            text += ", not being written (interrupted? re-run its command to finish it)"
        return text


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

    def track_files(self) -> list[tuple[str, str, Path]]:
        """``(track, method, path)`` of every ``<track>.<method>.json`` in the folder, sorted.

        Only lists the files (no parsing): whether each is readable is :meth:`finished` /
        :meth:`corrupt`, or :func:`read_track_table` per file.
        """
        out = []
        for p in sorted(self.path.glob("*.json")):
            if p.name == _CONFIG or p.name.startswith(".") or p.name.endswith(".meta.json"):
                continue
            stem = p.name[: -len(".json")]
            if "." not in stem:
                continue
            track, method = stem.rsplit(".", 1)
            out.append((track, method, p))
        return out

    def _track_files(self) -> list[tuple[str, str, Path, bool]]:
        """``(track, method, path, readable)`` of every ``<track>.<method>.json``, sorted."""
        return [(t, m, p, _readable(p)) for t, m, p in self.track_files()]

    def finished(self) -> list[tuple[str, str]]:
        """``(track, method)`` pairs with a complete, readable file, sorted."""
        return [(t, m) for t, m, _, ok in self._track_files() if ok]

    def corrupt(self) -> list[Path]:
        """Track × method files that exist but cannot be read (truncated, not JSON, no targets).

        They count as not finished: re-running the run's command redoes them.
        """
        return [p for _, _, p, ok in self._track_files() if not ok]

    def writer_pid(self) -> int | None:
        """The process id of the ``genex`` run writing this folder now, or ``None``.

        :func:`core.io_utils.output_lock` keeps ``.genex.lock`` (holding the writer's pid) in
        the folder while a run writes it and removes it at the end; a killed run leaves the
        file behind with a pid that no longer runs (or is a zombie), which counts as not
        writing. The pid is checked on this machine: watch a run from the machine that runs
        ``genex evaluate`` (the Dask client, with ``--workers``/``--scheduler``).
        """
        try:
            text = (self.path / LOCK_NAME).read_text(encoding="ascii", errors="replace")
        except OSError:
            return None
        text = text.strip()
        if not text.isdigit():
            return None
        pid = int(text)
        return pid if _process_alive(pid) else None

    def status(self, *, files: list[tuple[str, str, bool]] | None = None) -> RunStatus:
        """How far the run is: finished files of those expected, corrupt files, failures.

        Parameters
        ----------
        files : list of (track, method, readable), optional
            The folder's track files, when the caller already knows which are readable (the
            dashboard caches that per file); default: :meth:`track_files`, each parsed.

        Returns
        -------
        RunStatus
        """
        if files is None:
            files = [(t, m, ok) for t, m, _, ok in self._track_files()]
        finished = {(t, m) for t, m, ok in files if ok}
        expected = self.expected()
        done = len(finished & set(expected)) if expected else len(finished)
        corrupt = tuple(self.track_path(t, m).name for t, m, ok in files if not ok)
        return RunStatus(
            done=done,
            expected=len(expected),
            corrupt=corrupt,
            failures=tuple(self.failures()),
            writer_pid=self.writer_pid(),
        )

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
            return read_track_document(p)
        except FileNotFoundError as exc:
            raise ResultsError(
                f"no results for track {track!r}, method {method!r} in {self.path}"
            ) from exc

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

        An empty list removes the record (an attempt starts, or no task of it failed).
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

        On a resumed run the rows of the files the existing table already holds are kept
        (files written after the table are read again), and only the new files are parsed:
        the table equals one rebuilt from every file.

        Returns
        -------
        Path
            The written table.
        """
        finished = self.finished()
        kept = self._reusable_rows(finished)
        parts = [kept[pair] if pair in kept else self._track_columns(*pair) for pair in finished]
        data = _parquet_bytes(_concat_columns(parts))
        path = atomic_write_bytes(self.path / _PARQUET, data)
        (self.path / _CSV).unlink(missing_ok=True)
        return path

    def _reusable_rows(self, finished: list[tuple[str, str]]) -> dict[tuple[str, str], Columns]:
        """Rows of ``metrics.parquet`` per (track, method) whose file is older than the table."""
        p = self.path / _PARQUET
        try:
            table_ns = p.stat().st_mtime_ns
        except OSError:
            return {}
        cols = _read_parquet_columns(p)
        if cols is None:
            return {}
        kept = {}
        wanted = set(finished)
        for (track, method), rows in _group_rows(cols, ("track", "method")):
            pair = (str(track), str(method))
            if pair not in wanted:
                continue
            try:
                fresh = self.track_path(*pair).stat().st_mtime_ns <= table_ns
            except OSError:
                fresh = False
            if fresh:
                kept[pair] = _take(cols, rows)
        return kept

    # -- reading ------------------------------------------------------------------------------
    def track_table(self, track: str, method: str) -> pd.DataFrame:
        """Tidy rows of one ``<track>.<method>.json`` (:func:`read_track_table`).

        Raises
        ------
        ResultsError
            If the file is missing or malformed (the message names it).
        """
        self.read_track(track, method)  # the missing-file message names track and method
        return read_track_table(self.track_path(track, method), track=track, method=method)

    def _track_columns(self, track: str, method: str) -> Columns:
        """:meth:`track_table` as numpy columns (:func:`read_track_columns`)."""
        self.read_track(track, method)
        return read_track_columns(self.track_path(track, method), track=track, method=method)

    def _tidy_from_json(self) -> pd.DataFrame:
        parts = [self.track_table(t, m) for t, m in self.finished()]
        if not parts:
            return _empty_tidy()
        return _pandas().concat(parts, ignore_index=True)

    def tidy_columns(self) -> Columns:
        """:meth:`tidy` as numpy columns (:data:`Columns`), without pandas.

        From ``metrics.parquet`` when it covers every finished file, else from the JSON files.
        """
        finished = self.finished()
        cols = _read_parquet_columns(self.path / _PARQUET)
        if cols is not None:
            have = set(zip(cols["track"].tolist(), cols["method"].tolist(), strict=True))
            if have == set(finished):
                return cols
        return _concat_columns([self._track_columns(t, m) for t, m in finished])

    def stored_table(self, finished: list[tuple[str, str]] | None = None) -> pd.DataFrame | None:
        """``metrics.parquet`` (or an older run's ``metrics.csv``) if it covers every finished file.

        Parameters
        ----------
        finished : list of (track, method), optional
            The finished pairs, when the caller already knows them (default: :meth:`finished`).

        Returns
        -------
        DataFrame or None
            ``None`` when there is no table, it is unreadable, or it is stale (a run still
            being written, or a crash between the last file and the table).
        """
        pd = _pandas()
        want = set(self.finished() if finished is None else finished)
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
            if have == want:
                return _tidy_dtypes(df[list(TIDY_COLUMNS)])
        return None

    def tidy(self) -> pd.DataFrame:
        """The tidy table (:data:`TIDY_COLUMNS`), one row per framewise value.

        Read from ``metrics.parquet``/``metrics.csv`` when it covers every finished file, else
        rebuilt from the JSON files (a run still being written, or a crash between the two
        writes). Corrupt track files are left out (:meth:`corrupt` names them).
        """
        stored = self.stored_table()
        return self._tidy_from_json() if stored is None else stored

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
        return _pandas().DataFrame(columns=[*keys, "value"])
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
    pd = _pandas()
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
    return _pandas().DataFrame(
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
    status = run.status()
    head = f"{run.path}: {status.headline()}"
    warnings = [
        f"  warning: {name} is corrupt (truncated or not a results file) and is left out; "
        "re-run the run's genex evaluate command to redo it"
        for name in status.corrupt
    ]
    warnings += [f"  failed: {f}" for f in status.failures]
    cols = run.tidy_columns()
    if len(cols["value"]) == 0:
        return "\n".join([f"{head}; no finished tracks", *warnings])
    lines = [head, *warnings]
    for (method, target), (alpha, median) in _best_alphas(cols, metric).items():
        lines.append(
            f"  {method:12s} {target:14s} best median {metric} {median:6.2f} dB at α={alpha:.2f}"
        )
    return "\n".join(lines)


def _nanmedian(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(np.median(kept)) if kept.size else float("nan")


def _best_alphas(cols: Columns, metric: str) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (method, target), sorted: the α with the best :func:`summary` median of ``metric``.

    The median over windows of each track, then over tracks (NaN ignored, as :func:`summary`),
    in numpy; the first α wins a tie; a (method, target) without a defined median is left out.
    """
    sel = _take(cols, np.flatnonzero(cols["metric"] == metric))
    per_track: dict[tuple[Any, ...], list[float]] = {}
    for (method, alpha, target, _), rows in _group_rows(
        sel, ("method", "alpha", "target", "track")
    ):
        per_track.setdefault((method, alpha, target), []).append(_nanmedian(sel["value"][rows]))
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for (method, alpha, target), medians in sorted(per_track.items()):
        median = _nanmedian(np.array(medians))
        key = (str(method), str(target))
        if np.isfinite(median) and (key not in best or median > best[key][1]):
            best[key] = (float(alpha), median)
    return dict(sorted(best.items()))
