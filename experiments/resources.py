"""What a sweep asks of this machine, checked before anything runs.

A local run holds its customers' state and its result tables in its worker's
memory; ``workers`` runs at a time. :func:`memory_estimate` is that, per
concurrently running run, times the workers; the command line refuses a
sweep whose estimate exceeds the machine's memory (``--ignore-memory``
overrides; runs on a remote Dask cluster are not checked: their memory is
the cluster's).
"""

import os

BYTES_PER_CUSTOMER = 1_000
"""Bytes one customer takes in a running run: the engine's state (about 102 B,
docs/performance.md) plus the per-customer frames of the measurement and the
results (customers.parquet rows, the purchase occasions), rounded up generously."""

BYTES_PER_WORKER = 300_000_000
"""A worker process before its run: the interpreter with numpy, pandas, Mesa and the
engine's compiled kernels."""

WORKERS_PER_CORE = 4
"""``--workers`` (and ``execution.workers``) is at most this many per core: more
processes than that only share the cores and multiply the memory."""


def max_workers() -> int:
    """The most local worker processes allowed on this machine."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def memory_estimate(customers: int, workers: int) -> int:
    """Bytes that ``workers`` runs of ``customers`` customers, run at once, need."""
    return workers * (BYTES_PER_WORKER + customers * BYTES_PER_CUSTOMER)


def machine_memory() -> int | None:
    """The machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gigabytes(count: int) -> str:
    """``12.3 GB``."""
    return f"{count / 1e9:.1f} GB"
