"""The executor for grids of independent points (training runs, RTL simulations, synthesis runs):
dask.distributed, DESIGN.md contract 8.

By default a LocalCluster sized to the machine (one worker process per core, one thread each);
given a scheduler address, an existing cluster (one started with `dask scheduler` and `dask worker`,
or by dask-jobqueue). Points are submitted as independent tasks; when a worker dies, the scheduler
hands its points to another worker (up to `distributed.scheduler.allowed-failures` times), and
`retries` more attempts are made for points that raise. Each point must write its own output
atomically and be safe to run again, so a retried or re-run point gives the same result.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from golden.errors import UserError
from golden.threads import cores


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A distributed.Client: on `scheduler` if given, else on a LocalCluster of `workers` single-
    threaded worker processes (default: one per core); workers = 0 yields None, which run_points
    takes as "in this process, one point after another" (for debugging a point)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None:
            raise UserError("--workers: applies to the local cluster only; --scheduler names a running one")
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise UserError(f"--scheduler: cannot reach a dask scheduler at {scheduler!r} ({exc})") from None
        with client:
            yield client
        return
    count = workers if workers is not None else cores()
    if count == 0:
        yield None
        return
    if count < 0:
        raise UserError(f"--workers: got {count}; expected 0 (in this process) or a positive count")
    cluster = LocalCluster(
        n_workers=count, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    )
    with cluster, Client(cluster) as client:
        yield client


def run_points(
    client: Any,
    fn: Callable[..., Any],
    points: Sequence[tuple],
    labels: Sequence[str],
    progress: bool = True,
    retries: int = 1,
    desc: str = "points",
    on_result: Callable[[int, Any], None] | None = None,
    costs: Sequence[float] | None = None,
) -> list[Any]:
    """fn(*point) for every point on the cluster, results in the points' order; a progress bar counts
    finished points and on_result(index, result) sees each as it arrives (to save it at once). A
    point that fails after its retries raises UserError naming it. costs: an estimate of each
    point's work; the scheduler then starts the costliest first (longest-processing-time-first, so
    that a long point does not start last and run alone on one worker while the others idle)."""
    if client is None:  # in this process (dask_client(workers=0))
        results = []
        for i, point in enumerate(tqdm(points, desc=desc, unit="point", disable=not progress)):
            results.append(fn(*point))
            if on_result is not None:
                on_result(i, results[i])
        return results
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]  # keys unique to this call, so a shared scheduler never hands back old results
    order = range(len(points)) if costs is None else sorted(range(len(points)), key=lambda i: -costs[i])
    index = {}
    futures = []
    for rank, i in enumerate(order):  # submitted costliest first, and ranked so by priority
        key = f"{labels[i]}-{run}"
        futures.append(client.submit(fn, *points[i], key=key, pure=False, retries=retries, priority=-rank))
        index[key] = i
    results: list[Any] = [None] * len(futures)
    with tqdm(total=len(futures), desc=desc, unit="point", disable=not progress) as bar:
        for future in as_completed(futures):
            i = index[future.key]
            try:
                results[i] = future.result()
            except UserError:
                raise
            except Exception as exc:  # the point's own error, raised on a worker
                raise UserError(f"point {labels[i]}: failed on the cluster: {type(exc).__name__}: {exc}") from None
            if on_result is not None:
                on_result(i, results[i])
            bar.update(1)
    return results
