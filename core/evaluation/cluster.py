"""Run independent tasks on a Dask cluster: a local one of N worker processes, or an existing one.

:func:`core.evaluation.sweep.evaluate_tracks` uses it with ``workers > 1`` or ``scheduler`` set:
one task is one track x method (:func:`core.evaluation.sweep.evaluate_task`), and the client
(this process) receives each result as it arrives and writes it, so the results folder, its lock,
resume and config refusal stay the in-process ones.

``dask.distributed`` is imported only here, inside :func:`run_tasks`: the default in-process
path never pays for it. Workers import ``core`` themselves (install the project on every worker
machine) and read tracks by path, so every worker needs the paths the client gives it (a shared
filesystem; see ``docs/SCALING.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from core.errors import DependencyError, InvalidConfigError

#: ``(key, kwargs)`` of one call of the task function.
Call = tuple[Hashable, Mapping[str, Any]]
#: The Dask setting that makes worker processes trim freed memory eagerly (see docs/SCALING.md).
UNTRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def check_cluster_options(*, workers: int = 1, scheduler: str | None = None) -> bool:
    """Validate ``--workers`` / ``--scheduler``; whether a cluster is asked for.

    Raises
    ------
    InvalidConfigError
        ``workers`` is not a positive integer, ``scheduler`` is not ``tcp://HOST:PORT``-like, or
        both a scheduler and ``workers > 1`` are given (the cluster's workers are its own).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidConfigError(f"--workers must be a positive integer, got {workers!r}")
    if scheduler is not None:
        if not (isinstance(scheduler, str) and "://" in scheduler and scheduler.split("://")[1]):
            raise InvalidConfigError(
                f"--scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}"
            )
        if workers != 1:
            raise InvalidConfigError(
                "give --workers or --scheduler, not both (an existing cluster has its own workers)"
            )
    return workers > 1 or scheduler is not None


def run_tasks(
    fn: Callable[..., Any],
    calls: Sequence[Call],
    *,
    on_done: Callable[[Hashable, Any], None],
    on_error: Callable[[Hashable, BaseException], None],
    workers: int = 1,
    scheduler: str | None = None,
    retries: int = 0,
) -> None:
    """Submit ``fn(**kwargs)`` for every call and hand each outcome over as it arrives.

    Parameters
    ----------
    fn : callable
        A module-level function (workers import it by name).
    calls : sequence of (key, kwargs)
        One task each; keys are passed back to the callbacks.
    on_done : callable
        ``on_done(key, value)`` in this process, in completion order.
    on_error : callable
        ``on_error(key, exception)`` for a task that raised (or whose workers kept dying:
        ``KilledWorker``); raising from it cancels the remaining tasks and propagates.
    workers : int
        Worker processes of a local cluster (one thread each, no dashboard).
    scheduler : str, optional
        Address of an existing scheduler (``tcp://HOST:PORT``); ``workers`` is then unused.
    retries : int
        Times a failing task is re-run (Dask's ``retries``; 0: a failure in the task's own code
        is deterministic). A task whose worker dies is re-run by the scheduler anyway, up to
        ``distributed.scheduler.allowed-failures`` times (3 by default).

    Raises
    ------
    DependencyError
        ``dask.distributed`` is not installed.
    InvalidConfigError
        The scheduler cannot be reached.
    """
    try:
        # lazy: dask.distributed is heavy (tornado, msgpack, ...); only cluster runs need it
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise DependencyError(
            "--workers/--scheduler need dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    cluster = None
    if scheduler is None:
        # Dask exports MALLOC_TRIM_THRESHOLD_=65536 to its workers; glibc then returns freed
        # memory at once and fixes the mmap threshold, and the sweep (large numpy temporaries)
        # ran 1.7x slower per task (bench/bench_scale.py): keep glibc's defaults
        with dask.config.set({UNTRIM: None}):
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
        address: Any = cluster
    else:
        address = scheduler
    try:
        try:
            client = Client(address, timeout="20s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise InvalidConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
        with client:
            keys = {}
            futures = []
            for key, kwargs in calls:
                # pure=False: a re-run is a new task, never a cached result of an earlier one
                future = client.submit(fn, **kwargs, pure=False, retries=retries)
                keys[future.key] = key
                futures.append(future)
            pending = as_completed(futures)  # type: ignore[no-untyped-call]
            try:
                for future in pending:
                    key = keys[future.key]
                    if future.status == "finished":
                        value = future.result()
                        future.release()
                        on_done(key, value)
                    else:
                        on_error(key, future.exception())
            except BaseException:
                client.cancel(futures)  # type: ignore[no-untyped-call]
                raise
    finally:
        if cluster is not None:
            cluster.close()
