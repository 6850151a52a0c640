"""Plan the runs of a scenario, execute them (here, in processes or on Dask), store parts.

Seeds. A run's identity is its sweep point (the swept values) and its
replication number. Its seed is drawn from
``numpy.random.SeedSequence(entropy=scenario seed, spawn_key=(point digest...,
replication))``, so it does not depend on the order in which runs are queued,
on the number of workers or on the engine, and adding a value to a sweep does
not change the seeds of the other points. Swept retention policies are left
out of the digest (:func:`seed_key`): points that differ only in policies
share their seeds (common random numbers), and so do the cells of a
sensitivity design at one sweep point (:attr:`experiments.schema.Point.common`).
``CRMModel(point config, rng=seed)`` reproduces any run on its own.

Failures. A run that raises is recorded (error, traceback, seed) and the
others go on; :class:`SweepReport` lists the failures.

Executors. :class:`SerialExecutor` (in this process), :class:`ProcessExecutor`
(a local process pool, the default) and :class:`DaskExecutor` (an existing
Dask distributed cluster, or a ``LocalCluster`` started for the sweep) all
yield :class:`Outcome` objects as runs finish; the sweep writes each one as
its own part (:mod:`store.parts`) in this process, so workers need no
access to the results folder.
"""

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numba.np.ufunc import parallel as numba_parallel
from tqdm import tqdm

from sim import kernel
from sim.config import Config
from store.parts import PartStore

from .runner import RunResult, run_once
from .scenario import Scenario

# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs for one run, and the run's identity.

    Attributes:
        run_id: ``p<point>-r<replication>``, zero-padded so that it sorts.
        point: index of the sweep point.
        replication: replication number within the point, from 0.
        seed: the model seed (see the module docstring).
        values: the swept values, as they appear in the result columns.
        config: the point's configuration.
        keep_customers: whether the run's end-of-run customer table is kept
            (:func:`keeps_customers`).
    """

    run_id: str
    point: int
    replication: int
    seed: int
    values: dict[str, Any]
    config: Config
    keep_customers: bool = True


def run_seed(scenario_seed: int, point_key: str, replication: int) -> int:
    """The seed of one run, from the scenario seed and the run's identity.

    Args:
        scenario_seed: ``simulation.seed`` of the point's configuration.
        point_key: canonical text of the point's swept values
            (:attr:`experiments.schema.Point.key`).
        replication: the replication number.

    Returns:
        A non-negative 63-bit integer.
    """
    digest = hashlib.sha256(point_key.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    sequence = np.random.SeedSequence(entropy=scenario_seed, spawn_key=(*words, replication))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


LEVER_PATHS = re.compile(r"firms\.\d+\.policies(\..*)?")
"""Swept paths left out of the seed: a firm's retention policies.

Points that differ only in policies get the same run seeds, so a policy's
effect is measured on common random numbers (the engine draws policy
randomness from a stream of its own: a zero budget is the same run as no
policy). Every other swept value, strategies included, changes the seeds.
"""


def seed_key(values: dict[str, Any]) -> str:
    """The text the run seeds derive from: the point's swept values minus :data:`LEVER_PATHS`.

    Without swept policies this is :attr:`experiments.schema.Point.key` itself.
    """
    kept = {path: value for path, value in values.items() if not LEVER_PATHS.fullmatch(path)}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)


def _column_value(value: Any, as_text: bool) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if as_text else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plan_runs(scenario: Scenario) -> list[RunSpec]:
    """Every run of the scenario: each point times its replications, in run-id order."""
    points = scenario.points
    replications = max(p.config.simulation.replications for p in points)
    point_width = max(3, len(str(len(points) - 1)))
    replication_width = max(3, len(str(replications - 1)))
    # a swept column holds one type: numbers, text or booleans; anything else becomes JSON text
    as_text = {}
    for path in scenario.sweep_paths:
        values = [p.values[path] for p in points]
        as_text[path] = not (
            all(_is_number(v) for v in values)
            or all(isinstance(v, str) for v in values)
            or all(isinstance(v, bool) for v in values)
        )
    specs = []
    for point in points:
        values = {
            path: _column_value(point.values[path], as_text[path]) for path in scenario.sweep_paths
        }
        for replication in range(point.config.simulation.replications):
            specs.append(
                RunSpec(
                    run_id=f"p{point.index:0{point_width}d}-r{replication:0{replication_width}d}",
                    point=point.index,
                    replication=replication,
                    seed=run_seed(
                        point.config.simulation.seed, seed_key(point.seed_values), replication
                    ),
                    values=values,
                    config=point.config,
                    keep_customers=replication == 0 and scenario.sensitivity is None,
                )
            )
    return specs


# ---------------------------------------------------------------------------
# One run in a worker
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What came back from one run: a result, or the error it raised."""

    run_id: str
    result: RunResult | None = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    """Time the run took in the worker (``run`` itself, without queueing or transfer)."""

    @property
    def ok(self) -> bool:
        """True if the run finished."""
        return self.error is None

    @classmethod
    def from_exception(cls, run_id: str, error: BaseException) -> "Outcome":
        """A failed outcome carrying the error's type, message and traceback."""
        text = "".join(traceback.format_exception(error))
        return cls(run_id, error=f"{type(error).__name__}: {error}", traceback=text)


def keeps_customers(spec: RunSpec) -> bool:
    """Whether the run's customer and relationship tables are kept: replication 0 of each point.

    One replication shows the customer-level distributions; keeping every
    replication's would make the results folder grow with customers x runs.
    A sensitivity design keeps none: its hundreds of cells are read through
    their outcomes, and their customer tables would double the folder.
    """
    return spec.keep_customers


def execute(spec: RunSpec, run: Callable[[Config, int], RunResult] = run_once) -> Outcome:
    """Run one spec, catching any error so that the sweep goes on.

    Runs in the worker, which drops the customer and relationship tables of
    runs that do not keep them (:func:`keeps_customers`) before the result
    travels back (with :func:`run_once`, such a run does not log its
    relationships at all).
    """
    start = time.perf_counter()
    if run is run_once:  # the relationship log only where its table is kept
        run = functools.partial(run_once, relationships=keeps_customers(spec))
    try:
        result = run(spec.config, spec.seed)
        if not keeps_customers(spec):
            for name in ("customers", "relationships"):
                if getattr(result, name, None) is not None:
                    result = dataclasses.replace(result, **{name: None})
        return Outcome(spec.run_id, result=result, seconds=time.perf_counter() - start)
    except Exception as error:
        return dataclasses.replace(
            Outcome.from_exception(spec.run_id, error), seconds=time.perf_counter() - start
        )


# ---------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SerialExecutor:
    """Runs one after another in this process (one worker, no start-up cost)."""

    name = "serial"
    workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, function, specs: Iterable[RunSpec]) -> Iterator[Outcome]:
        """Yield each run's outcome as it finishes."""
        for spec in specs:
            yield function(spec)


WATCH_SECONDS = 0.5
"""How often a pool worker checks that the command that started it still runs."""

PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process gets when its parent process ends."""


def _start_worker(kernel_threads: int, command: int) -> None:
    """In pool workers: leave Ctrl-C to the command, run the kernel on a share of the cores.

    The command stops the sweep on Ctrl-C and keeps the parts written so far.
    SIGTERM gets its default back: a forked worker inherits the command's
    handler (SIGTERM as Ctrl-C), and when the stopping command terminates its
    workers, that handler would print a traceback from each idle one.
    The worker ends with the command, whose process id is ``command``
    (:func:`die_with_parent`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(command)
    kernel.set_threads(kernel_threads)


def die_with_parent(command: int) -> None:
    """Make this pool worker end when the command that started it ends, kill -9 included.

    Two ways, so that no worker outlives its command however the command ends:

    - on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the
      worker the moment its parent process ends. The parent is the command
      (forked workers) or the fork server, which exits as soon as the
      command does (the pipe it watches closes);
    - everywhere, a daemon thread that checks every :data:`WATCH_SECONDS`
      that the worker still has the parent it started with and that the
      process ``command`` still runs, and ends the worker at once if not.
      It also covers the moment between the fork and the ``prctl`` call.
    """
    parent = os.getppid()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def command_gone() -> bool:
        if os.getppid() != parent:  # orphaned: adopted by init or a subreaper
            return True
        try:
            os.kill(command, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def watch() -> None:
        while not command_gone():
            time.sleep(WATCH_SECONDS)
        os._exit(1)  # the command is gone: nobody will read this worker's results

    threading.Thread(target=watch, name="crm-sim-watch-command", daemon=True).start()


def process_pool(workers: int, preload: str) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``workers`` processes that leave Ctrl-C to the command.

    Each runs the kernel on ``cores // workers`` threads (at least one), so
    that workers x kernel threads does not exceed the cores. How they start
    (:func:`start_method`): forked from this process when that is safe, so
    that they begin with everything it has imported; else from a fork server
    that imports ``preload`` once, about 1.5 s before the first run starts.
    """
    method = start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([preload])
    threads = max(1, default_workers() // workers)
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(threads, os.getpid())
    )


def start_method() -> str:
    """``"fork"`` if this process can be forked safely, else ``"forkserver"``.

    Forking copies only the calling thread: it is safe on Linux while this
    process runs no other thread, Python's (progress bars, Dask clients) or
    the kernel's (numba starts its pool at the first parallel run).
    """
    kernel_threads = getattr(numba_parallel, "_is_initialized", True)
    alone = threading.active_count() == 1 and not kernel_threads
    return "fork" if sys.platform == "linux" and alone else "forkserver"


def in_one_kernel_thread(function: Callable, spec: RunSpec) -> Outcome:
    """``function(spec)`` with the engine's kernel on the calling thread only.

    For Dask: each worker thread runs a model, so the kernel must not start
    threads of its own on top. The thread's setting is restored afterwards.
    """
    before = numba.get_num_threads()
    kernel.set_threads(1)
    try:
        return function(spec)
    finally:
        kernel.set_threads(before)


class _Stop:
    """A stop asked for while the command waits on its pool (see :func:`interrupt_safely`)."""

    waiting = False
    asked = False


def interrupt_safely() -> None:
    """For a signal handler (SIGTERM, Ctrl-C): stop the command, at a point where that is safe.

    Raises ``KeyboardInterrupt`` at once, unless the command is waiting on its
    process pool (:meth:`ProcessExecutor.imap_unordered`): an exception raised
    inside ``concurrent.futures.wait`` can leave some of the futures' locks
    held, and the pool's shutdown at exit then waits for them forever (a
    stopped command that printed its message and never ended). There the stop
    is noted and raised when the wait returns, within a quarter of a second.
    """
    if _Stop.waiting:
        _Stop.asked = True
        return
    raise KeyboardInterrupt


def _first_done(pending) -> set:
    """The futures of ``pending`` done first; a stop asked meanwhile raised here, safely."""
    _Stop.waiting = True
    try:
        done = set()
        while not done and not _Stop.asked:
            done, _ = concurrent.futures.wait(pending, timeout=0.25, return_when="FIRST_COMPLETED")
    finally:
        _Stop.waiting = False
    if _Stop.asked:
        _Stop.asked = False
        raise KeyboardInterrupt
    return done


class ProcessExecutor:
    """A local process pool (``concurrent.futures``) with ``workers`` processes.

    Workers are forked from this process when it runs no other thread, else
    started by a fork server, which is safe whatever threads this process runs
    (progress bars, Dask clients); see :func:`process_pool`.
    """

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self):
        self._pool = process_pool(self.workers, "experiments.runner")
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:  # Ctrl-C, SIGTERM, a full disk: the runs in flight are lost anyway
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)
        return False

    def imap_unordered(self, function, specs: Iterable[RunSpec]) -> Iterator[Outcome]:
        """Yield each run's outcome as it finishes; at most two runs per worker are queued.

        If a worker process dies (killed, out of memory), the pool is broken: the
        runs in flight and those not yet started are reported as failed, so that
        ``--resume`` can run them again.
        """
        pending: dict[concurrent.futures.Future, str] = {}
        queue = iter(specs)
        window = 2 * self.workers
        broken: BrokenProcessPool | None = None
        while True:
            while broken is None and len(pending) < window:
                spec = next(queue, None)
                if spec is None:
                    break
                try:
                    pending[self._pool.submit(function, spec)] = spec.run_id
                except BrokenProcessPool as error:
                    broken = error
                    yield Outcome.from_exception(spec.run_id, error)
            if not pending:
                break
            for future in _first_done(pending):
                run_id = pending.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    broken = error
                yield Outcome.from_exception(run_id, error) if error else future.result()
        for spec in queue if broken is not None else ():  # nothing more can start
            yield Outcome.from_exception(spec.run_id, broken)


class DaskExecutor:
    """Runs on a Dask distributed cluster.

    Give ``address`` (an existing scheduler), ``client`` (an existing
    ``distributed.Client``) or neither to start a ``LocalCluster`` with
    ``workers`` single-threaded worker processes on 127.0.0.1 (threads in this
    process with ``processes=False``).
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        client=None,
        workers: int | None = None,
        processes: bool = True,
    ):
        self.address = address
        self.workers = workers
        self.processes = processes
        self._client = client
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        import logging

        from distributed import Client, LocalCluster

        if self._client is None:
            if self.address is None:
                where = {"host": "127.0.0.1"} if self.processes else {}  # else in-process
                cluster = self._stack.enter_context(
                    LocalCluster(
                        n_workers=self.workers or default_workers(),
                        threads_per_worker=1,
                        processes=self.processes,
                        dashboard_address="127.0.0.1:0",  # this computer only, any free port
                        silence_logs=logging.ERROR,
                        **where,
                    )
                )
                self.address = cluster.scheduler_address
                self._client = self._stack.enter_context(Client(cluster))
            else:
                self._client = self._stack.enter_context(Client(self.address, timeout="5s"))
        if self.workers is None:
            self.workers = sum(self._client.nthreads().values())
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False

    def imap_unordered(self, function, specs: Iterable[RunSpec]) -> Iterator[Outcome]:
        """Yield each run's outcome as it finishes; a few runs per worker thread are queued."""
        from distributed import as_completed

        client = self._client
        window = max(4 * (self.workers or 1), 16)
        queue = iter(specs)
        pending = {}

        def submit(spec):
            key = f"crm-sim-{spec.run_id}-{uuid.uuid4().hex}"
            future = client.submit(in_one_kernel_thread, function, spec, pure=False, key=key)
            pending[future.key] = spec.run_id
            return future

        futures = as_completed([submit(spec) for spec in itertools.islice(queue, window)])
        for future in futures:
            run_id = pending.pop(future.key)
            try:
                outcome = future.result()
            except Exception as error:  # the worker died or the task was lost
                outcome = Outcome.from_exception(run_id, error)
            future.release()
            yield outcome
            spec = next(queue, None)
            if spec is not None:
                futures.add(submit(spec))


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------


@dataclass
class SweepReport:
    """Counts of a sweep, and its failures.

    Attributes:
        total: runs in the scenario.
        resumed: runs found finished in the parts folder (not run again).
        ok: runs finished (including resumed ones).
        failures: failure records (run id, seed, values, error, traceback).
        run_seconds: time spent inside the runs of this sweep, summed over the
            workers (resumed runs are not counted).
    """

    total: int
    resumed: int = 0
    ok: int = 0
    failures: list[dict] = field(default_factory=list)
    run_seconds: float = 0.0


def failure_record(spec: RunSpec, outcome: Outcome) -> dict:
    """What is kept about a failed run: enough to reproduce it with ``run_once``."""
    return {
        "run_id": spec.run_id,
        "point": spec.point,
        "replication": spec.replication,
        "seed": spec.seed,
        "values": spec.values,
        "error": outcome.error,
        "traceback": outcome.traceback,
    }


def part_frames(spec: RunSpec, result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's result with its identity columns in front (runs part, timeseries part)."""
    runs = result.firms.copy()
    for position, (name, value) in enumerate(
        (
            ("run_id", spec.run_id),
            ("point", spec.point),
            ("replication", spec.replication),
            ("seed", spec.seed),
        )
    ):
        runs.insert(position, name, value)
    timeseries = result.timeseries.copy()
    for position, (name, value) in enumerate(
        (("run_id", spec.run_id), ("point", spec.point), ("replication", spec.replication))
    ):
        timeseries.insert(position, name, value)
    for frame in (runs, timeseries):  # swept values right after the setting
        at = frame.columns.get_loc("setting") + 1
        for offset, (path, value) in enumerate(spec.values.items()):
            frame.insert(at + offset, path, value)
    return runs, timeseries


def extra_frames(spec: RunSpec, result: RunResult) -> dict[str, pd.DataFrame | None]:
    """The run's cohort, policy, customer and relationship tables with its identity in front.

    Identity columns: ``run_id``, ``point``, ``replication``, then the table's
    own columns with the swept values right after ``setting`` (policies have
    no setting column of their own: it is added). The relationship table
    also gets ``customer_key`` after ``replication`` (:func:`customer_keys`).
    """
    frames = {}
    for name in ("cohorts", "policies", "customers", "relationships"):
        frame = getattr(result, name, None)
        if frame is None:
            frames[name] = None
            continue
        frame = frame.copy()
        if "strategy" not in frame.columns:  # policies: firm, strategy, setting, policy...
            strategy_of = {firm.name: firm.strategy for firm in spec.config.firms}
            frame.insert(
                frame.columns.get_loc("firm") + 1, "strategy", frame["firm"].map(strategy_of)
            )
        if "setting" not in frame.columns:
            frame.insert(
                frame.columns.get_loc("strategy") + 1, "setting", spec.config.market.setting
            )
        for position, (column, value) in enumerate(
            (("run_id", spec.run_id), ("point", spec.point), ("replication", spec.replication))
        ):
            frame.insert(position, column, value)
        if name == "relationships":
            frame.insert(3, "customer_key", customer_keys(spec.run_id, frame["customer"]))
        at = frame.columns.get_loc("setting") + 1
        for offset, (path, value) in enumerate(spec.values.items()):
            frame.insert(at + offset, path, value)
        frames[name] = frame
    return frames


def customer_keys(run_id: str, customers) -> pd.api.extensions.ExtensionArray:
    """Keys unique across the runs of a results folder: ``"<run_id>/<customer>"``.

    A customer's identity (``customer``) names it within its run only (every
    run numbers its customers from 0); the run id (``p<point>-r<replication>``)
    makes it unique in the folder, and the same customer keeps its key from
    one firm to the next. Arrow strings: no Python object per row.
    """
    identities = pa.array(np.asarray(customers, dtype=np.int64)).cast(pa.string())
    keys = pc.binary_join_element_wise(run_id, identities, "/")
    return pd.array(keys, dtype=pd.ArrowDtype(pa.string()))


MAX_BUFFERED_RUNS = 16
"""Finished runs whose tables are kept in memory while an earlier run is still running.

Beyond them, a finished run waiting for its turn in the combined tables is
read back from its parts when its turn comes (see :func:`run_sweep`): the
main process holds at most this many runs' tables, whatever the number of
runs or how far a straggler holds the order up.
"""

ON_DISK = "on disk"
"""In :func:`run_sweep`'s waiting room: a finished run whose tables are read back from its parts."""


@contextlib.contextmanager
def _discard_stream_unless_done(store: PartStore) -> Iterator[None]:
    """An interrupted sweep (Ctrl-C, SIGTERM, a full disk) leaves no half-streamed table."""
    try:
        yield
    except BaseException:
        store.discard_stream()
        raise


def run_sweep(
    specs: Sequence[RunSpec],
    store: PartStore,
    executor,
    *,
    run: Callable[[Config, int], RunResult] = run_once,
    progress: bool = True,
    description: str | None = None,
) -> SweepReport:
    """Execute the specs not yet finished in ``store``, writing each as its own part.

    Args:
        specs: every run of the scenario (finished ones are skipped).
        store: the parts folder (already created).
        executor: an entered executor.
        run: the run function (``run_once``; tests pass failing ones).
        progress: show a progress bar (runs done / total, ETA) on stderr.
        description: label of the progress bar.

    Returns:
        The counts and failures of the whole scenario.
    """
    finished = store.finished()
    todo = [spec for spec in specs if spec.run_id not in finished]
    by_id = {spec.run_id: spec for spec in specs}
    report = SweepReport(total=len(specs), resumed=len(specs) - len(todo))
    report.ok = report.resumed
    bar = tqdm(
        total=len(specs),
        initial=report.resumed,
        unit="run",
        desc=description,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    # the combined tables are appended to in run order as the runs finish (see
    # store.parts): ``ready`` holds each run's tables (None: failed; ON_DISK:
    # read back from its parts) until every run before it is in
    store.begin_stream()
    ready: dict[str, dict | str | None] = {}
    order = iter(spec.run_id for spec in specs)
    waiting = next(order, None)

    def stream_in_order():
        nonlocal waiting
        while waiting is not None and (waiting in finished or waiting in ready):
            tables = ON_DISK if waiting in finished else ready.pop(waiting)
            if tables is ON_DISK:
                tables = store.read_tables(waiting)
            if tables is not None:
                store.stream(waiting, tables)
            waiting = next(order, None)

    def held() -> int:
        return sum(isinstance(tables, dict) for tables in ready.values())

    with bar, _discard_stream_unless_done(store):
        stream_in_order()
        for outcome in executor.imap_unordered(functools.partial(execute, run=run), todo):
            spec = by_id[outcome.run_id]
            report.run_seconds += outcome.seconds
            tables = None
            if outcome.ok:
                tables = store.write(
                    spec.run_id,
                    *part_frames(spec, outcome.result),
                    extras=extra_frames(spec, outcome.result),
                )
                report.ok += 1
            else:
                record = failure_record(spec, outcome)
                store.write_failure(spec.run_id, record)
                report.failures.append(record)
                bar.set_postfix(failed=len(report.failures))
            if tables is not None and spec.run_id != waiting and held() >= MAX_BUFFERED_RUNS:
                tables = ON_DISK  # a straggler holds the order up: its parts are on disk
            ready[spec.run_id] = tables
            stream_in_order()
            bar.update(1)
    report.failures.sort(key=lambda record: record["run_id"])
    return report
