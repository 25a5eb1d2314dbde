"""Scaling of ``genex evaluate`` on a Dask cluster: ``--workers 1`` vs ``2`` vs a TCP cluster.

The same corpus of ``--tracks`` tracks (the three 12 s demo tracks of ``assets/demo_tracks``,
repeated under distinct names by symlinks; 22.05 kHz, one stereo) is evaluated with the default
methods (dnn, traditional, oracle) and α grid (19 values), three ways, each a fresh
``genex evaluate`` process timed end to end (imports, cluster start, every task, the table):

1. ``--workers 1``: today's in-process path (no Dask);
2. ``--workers 2``: a local Dask cluster of 2 worker processes started by the command;
3. ``--scheduler tcp://127.0.0.1:PORT``: a ``dask scheduler`` and a ``dask worker --nworkers 2``
   started beforehand as separate processes (their start-up is reported, not timed), with the
   Dask config of ``docs/SCALING.md`` (no ``MALLOC_TRIM_THRESHOLD_`` for the workers).

Every process's resident memory is sampled every 0.1 s (psutil), giving the peak per worker and
of the client. All runs use one BLAS/torch thread per process (``OMP_NUM_THREADS=1`` ..., as Dask
sets for its workers), so speed-up and efficiency compare processes, not thread pools. The tidy
tables of the three runs are compared (they must be identical). The Markdown report goes to
stdout and ``bench/results/scale.md``.

Usage: .venv/bin/python bench/bench_scale.py [--tracks 8] [--methods dnn,traditional,oracle]
    [--alphas 0.05:0.95:0.05] [--no-tcp]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.evaluation.results import open_run  # noqa: E402

BIN = Path(sys.executable).parent
DEMO = REPO_ROOT / "assets" / "demo_tracks"
UNTRIM_YAML = "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n"
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def make_corpus(root: Path, n: int) -> Path:
    """``n`` track folders under ``root``: the demo tracks in turn, files symlinked."""
    demos = sorted(p for p in DEMO.iterdir() if p.is_dir())
    for i in range(n):
        src = demos[i % len(demos)]
        dst = root / f"{i:02d}-{src.name}"
        dst.mkdir(parents=True)
        for f in src.iterdir():
            if f.name.split(".")[0] in ("mixture", "vocals", "accompaniment"):
                (dst / f.name).symlink_to(f.resolve())
    return root


def _is_worker(proc: psutil.Process) -> bool:
    """A Dask worker process (a multiprocessing spawn child; not the resource tracker)."""
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return "spawn_main" in cmd and "resource_tracker" not in cmd


class MemorySampler:
    """Peak RSS (MB) of ``roots`` and their descendants, sampled in a thread."""

    def __init__(self, roots: list[int], interval: float = 0.1) -> None:
        self.roots = roots
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self.workers: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.roots:
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in procs:
                    try:
                        rss = p.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    self.peaks[p.pid] = max(self.peaks.get(p.pid, 0.0), rss)
                    if p.pid not in self.workers and _is_worker(p):
                        self.workers.add(p.pid)
            self._stop.wait(self.interval)


def evaluate(corpus: Path, out: Path, args: argparse.Namespace, extra: list[str],
             watch: list[int]) -> dict[str, Any]:  # fmt: skip
    """One timed ``genex evaluate`` process; wall time and memory peaks."""
    cmd = [str(BIN / "genex"), "evaluate", "--data", str(corpus), "--methods", args.methods,
           "--alphas", args.alphas, "--out", str(out), "--quiet", *extra]  # fmt: skip
    env = {**os.environ, **SINGLE_THREAD}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with MemorySampler([proc.pid, *watch]) as mem:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr.decode()[-3000:]}")
    workers = [mem.peaks[p] for p in mem.workers if p in mem.peaks]
    return {
        "wall": wall,
        "client_mb": mem.peaks.get(proc.pid, float("nan")),
        "worker_mb": workers,
    }


Procs = list[subprocess.Popen[bytes]]


def start_tcp_cluster(tmp: Path, n_workers: int) -> tuple[str, Procs, float]:
    """``dask scheduler`` + ``dask worker --nworkers n`` on loopback: address, processes, start."""
    info = tmp / "scheduler.json"
    # as docs/SCALING.md advises: keep glibc's malloc defaults in the workers (Dask's
    # MALLOC_TRIM_THRESHOLD_ slows the sweep down); --workers N does this itself
    (tmp / "dask-config").mkdir()
    (tmp / "dask-config" / "genex.yaml").write_text(UNTRIM_YAML, encoding="utf-8")
    env = {**os.environ, **SINGLE_THREAD, "DASK_CONFIG": str(tmp / "dask-config")}
    t0 = time.perf_counter()
    log = (tmp / "dask.log").open("wb")
    procs = [
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(info)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    ]
    while not info.is_file():
        time.sleep(0.1)
    address = json.loads(info.read_text())["address"]
    procs.append(
        subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nworkers", str(n_workers), "--nthreads",
             "1", "--no-dashboard", "--host", "127.0.0.1"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    )
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n_workers, timeout=60)
    return address, procs, time.perf_counter() - t0


def _tidy(run: Path) -> Any:
    df = open_run(run).tidy()
    keys = ["track", "method", "alpha", "target", "metric", "window"]
    return df.sort_values(keys).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=8)
    ap.add_argument("--methods", default="dnn,traditional,oracle")
    ap.add_argument("--alphas", default="0.05:0.95:0.05")
    ap.add_argument("--no-tcp", action="store_true", help="skip the scheduler + workers run")
    ap.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "scale.md"))
    args = ap.parse_args()

    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp_:
        tmp = Path(tmp_)
        corpus = make_corpus(tmp / "corpus", args.tracks)
        for label, extra in (("--workers 1 (in-process)", ["--workers", "1"]),
                             ("--workers 2 (local cluster)", ["--workers", "2"])):  # fmt: skip
            res = evaluate(corpus, tmp / label.split()[1], args, extra, [])
            rows.append((label, res))
            print(f"{label}: {res['wall']:.1f} s", file=sys.stderr, flush=True)
        tcp_start = None
        if not args.no_tcp:
            address, procs, tcp_start = start_tcp_cluster(tmp, 2)
            try:
                res = evaluate(corpus, tmp / "tcp", args, ["--scheduler", address],
                               [p.pid for p in procs])  # fmt: skip
                rows.append(("--scheduler (dask scheduler + worker --nworkers 2, TCP)", res))
                print(f"tcp: {res['wall']:.1f} s", file=sys.stderr, flush=True)
            finally:
                for p in reversed(procs):
                    p.terminate()
                for p in procs:
                    p.wait(timeout=30)
        base = _tidy(tmp / "1")
        runs = [tmp / "2"] + ([] if args.no_tcp else [tmp / "tcp"])
        identical = all(_tidy(r).equals(base) for r in runs)
        n_values = len(base)

    n_tasks = args.tracks * len(args.methods.split(","))
    t1 = rows[0][1]["wall"]
    load = os.getloadavg()
    lines = [
        "## Scaling: `genex evaluate` on a Dask cluster (`bench/bench_scale.py`)",
        "",
        f"{args.tracks} tracks (the 12 s demo tracks repeated, 22.05 kHz), methods "
        f"{args.methods}, α {args.alphas} → {n_tasks} track x method tasks, "
        f"{n_values:,} tidy rows. One BLAS/torch thread per process. Wall time of the whole "
        "command (imports, cluster start-up, tasks, table). Peak RSS sampled every 0.1 s.",
        "",
        "| engine | wall (s) | speed-up | efficiency | peak RSS per worker (MB) | client (MB) |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for i, (label, r) in enumerate(rows):
        n = 1 if i == 0 else 2
        workers = r["worker_mb"] if i else [r["client_mb"]]
        mem = ", ".join(f"{m:.0f}" for m in sorted(workers)) or "?"
        lines.append(
            f"| {label} | {r['wall']:.1f} | {t1 / r['wall']:.2f}x | "
            f"{t1 / r['wall'] / n:.0%} | {mem} | {r['client_mb']:.0f} |"
        )
    lines += [
        "",
        f"Per task (one track x method, every α): {t1 / n_tasks:.2f} s in-process, on average. "
        + ("" if tcp_start is None else f"TCP cluster start-up (not timed): {tcp_start:.1f} s. ")
        + f"Tidy tables identical across engines: **{'yes' if identical else 'NO'}**.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average at the end "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min; shared machine).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    Path(args.out).write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
