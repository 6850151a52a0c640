"""Figures drawn to PNG, on the other cores where that is safe.

Drawing is most of a report's time (about ten figures, one of them sixteen
panels), and every figure is independent of the others. A :class:`Renderer`
hands each figure to a small pool of worker processes forked from this one,
so that the report's tables are computed while its figures are drawn; the
PNG bytes are the same as when drawn here (Agg draws deterministically, and
every worker runs the same matplotlib with the same settings).

The workers are forked when the renderer starts, before the report reads its
tables, so they begin with everything this process has imported (no second
start-up of Python and matplotlib) and never copy a half-held lock: forking
is done only on Linux while this process runs one Python thread and has not
started the engine's kernel threads. Anywhere else, or with ``workers=1``,
figures are drawn here, one after the other.
"""

import concurrent.futures
import gc
import io
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable

import matplotlib
from matplotlib.figure import Figure

import i18n
from i18n import fonts

from . import plots

Plot = Callable[[], Figure]
"""A figure still to draw: e.g. ``functools.partial(plots.lorenz, customers, ...)``."""

MAX_WORKERS = 2
"""Enough for a report's ten figures: more workers would wait on the same cores."""


def png(plot: Plot, lang: str = i18n.DEFAULT) -> bytes:
    """Draw ``plot`` in ``lang`` and return the PNG bytes (the figure is closed).

    The plot's own labels are translated into ``lang`` (:func:`i18n.language`)
    and its text set in a font that has the language's glyphs (:mod:`i18n.fonts`).
    """
    buffer = io.BytesIO()
    with i18n.language(lang), matplotlib.rc_context(fonts.rc(lang)):
        figure = plot()
        # zlib level 1: the same pixels, about 5% more bytes, most of the encoding time saved
        figure.savefig(buffer, format="png", dpi=110, pil_kwargs={"compress_level": 1})
    plots.plt.close(figure)
    return buffer.getvalue()


def start_worker() -> None:
    """What a drawing worker does first: fewer garbage collections.

    A figure allocates hundreds of thousands of objects; at Python's default
    threshold (700) the collector ran about 250 times while a worker drew
    the policy comparison's figures, a twentieth of its time, for objects
    that are freed when the figure is closed.
    """
    gc.set_threshold(10_000, 10, 10)


def can_fork() -> bool:
    """Whether forking this process now is safe: Linux, one Python thread, no kernel threads."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    kernel_threads = parallel is not None and getattr(parallel, "_is_initialized", False)
    return sys.platform == "linux" and threading.active_count() == 1 and not kernel_threads


def default_workers() -> int:
    """Up to :data:`MAX_WORKERS`, and no more than the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1))


class Renderer:
    """Draws figures to PNG, in forked workers when :func:`can_fork` (a context manager).

    Args:
        workers: worker processes; ``None`` for :func:`default_workers`, 1 to
            draw every figure in this process.
    """

    def __init__(self, workers: int | None = None):
        workers = default_workers() if workers is None else workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if workers > 1 and can_fork():
            self._pool = concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"), initializer=start_worker
            )
            self._pool.submit(int).result()  # fork now, while this process is alone

    @property
    def parallel(self) -> bool:
        """Whether figures are drawn by worker processes."""
        return self._pool is not None

    def submit(self, plot: Plot, lang: str = i18n.DEFAULT) -> concurrent.futures.Future:
        """Start drawing ``plot`` in ``lang``; the future's result is its PNG bytes."""
        return self.call(png, plot, lang)

    def call(self, function: Callable, *args) -> concurrent.futures.Future:
        """Start ``function(*args)`` in a worker (here, at once, without workers).

        For the report's other independent work too (pooling the cohort table
        while the other tables are read). Arguments and result travel pickled.
        """
        if self._pool is not None:
            try:
                return self._pool.submit(function, *args)
            except concurrent.futures.process.BrokenProcessPool:
                self.close()  # a worker died (killed, out of memory): work here from now on
        done = concurrent.futures.Future()
        try:
            done.set_result(function(*args))
        except Exception as error:  # raised by result(), as from a worker
            done.set_exception(error)
        return done

    def close(self) -> None:
        """Stop the workers (figures already submitted are finished first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
