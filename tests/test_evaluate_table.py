"""The tidy table without pandas (issue 12 item 3): ``genex evaluate`` writes ``metrics.parquet``
through pyarrow's buffer-level API and ranks α with numpy; both must equal the pandas versions.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.evaluation.results import (
    TIDY_COLUMNS,
    _best_alphas,
    _read_parquet_columns,
    create_run,
    describe,
    summary,
)
from tests.test_results import _fake_eval

REPO_ROOT = Path(__file__).resolve().parent.parent
TRACKS = ("Ünïcode α song", "b", "a-track")
CONFIG = {"methods": ["dnn", "oracle"], "alphas": [0.25, 0.5, 0.75], "tracks": list(TRACKS)}


def _run(tmp_path, rng):
    run = create_run(tmp_path / "run", CONFIG)
    for track in TRACKS:
        for method in ("dnn", "oracle"):
            evals = {a: _fake_eval(rng, n_win=4) for a in CONFIG["alphas"]}
            run.write_track(track, method, evals)
    return run


def test_table_equals_the_one_pandas_writes(tmp_path, rng):
    run = _run(tmp_path, rng)
    run.write_tidy()
    path = run.path / "metrics.parquet"
    ours = pd.read_parquet(path)
    expected = run._tidy_from_json()  # built with pandas from the JSON files
    pd.testing.assert_frame_equal(ours, expected)
    assert set(ours["track"]) == set(TRACKS)
    # the file itself: pandas' schema (large_string text) and NaN stored as null, as before
    buf = io.BytesIO()
    expected.to_parquet(buf, index=False, compression="zstd")
    theirs = pq.read_table(io.BytesIO(buf.getvalue()))
    mine = pq.read_table(path)
    assert mine.schema.remove_metadata() == theirs.schema.remove_metadata()
    assert mine.column("value").null_count == theirs.column("value").null_count > 0
    assert mine.drop_columns("value").equals(theirs.drop_columns("value"))


def test_a_table_written_by_pandas_is_read_back_column_for_column(tmp_path, rng):
    run = _run(tmp_path, rng)
    df = run._tidy_from_json()
    path = tmp_path / "pandas.parquet"
    df.to_parquet(path, index=False, compression="zstd")  # how earlier versions wrote it
    cols = _read_parquet_columns(path)
    assert cols is not None and list(cols) == list(TIDY_COLUMNS)
    for c in TIDY_COLUMNS:
        if cols[c].dtype == object:
            assert cols[c].tolist() == df[c].tolist()
        else:
            np.testing.assert_array_equal(cols[c], df[c].to_numpy())
    assert cols["window"].dtype == np.int64
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 truncated")
    assert _read_parquet_columns(tmp_path / "bad.parquet") is None
    assert _read_parquet_columns(tmp_path / "missing.parquet") is None


def test_best_alpha_ranking_equals_the_pandas_summary(tmp_path, rng):
    run = _run(tmp_path, rng)
    cols = run.tidy_columns()
    s = summary(run._tidy_from_json())
    for metric in ("SDR", "SIR", "SAR", "ISR"):
        ours = _best_alphas(cols, metric)
        sel = s[s["metric"] == metric].dropna(subset=["median"])
        expected = {}
        for (method, target), g in sel.groupby(["method", "target"], sort=True):
            best = g.loc[g["median"].idxmax()]
            expected[(method, target)] = (best["alpha"], best["median"])
        assert list(ours) == list(expected)
        for key, (alpha, median) in expected.items():
            assert ours[key][0] == alpha
            np.testing.assert_allclose(ours[key][1], median, rtol=1e-12)
    text = describe(run)
    assert "dnn          accompaniment  best median SDR" in text
    assert text.index("dnn          vocals") < text.index("oracle       accompaniment")


def test_results_command_and_describe_import_no_pandas(tmp_path, rng):
    run = _run(tmp_path, rng)
    run.write_tidy()
    code = (
        "import sys\n"
        "from core.evaluation.results import open_run, describe\n"
        f"print(describe(open_run({str(run.path)!r})))\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False"
    assert "6 of 6 track×method files complete" in lines[0]
