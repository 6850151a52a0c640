"""A stop (SIGTERM, Ctrl-C) while the command waits on its process pool is raised where it is safe.

An exception raised inside ``concurrent.futures.wait`` can leave some of the
futures' locks held; the pool's shutdown at exit then waits for them
forever: a stopped ``run`` printed its message and never ended (seen once in
CI, in tests/hostile/test_processes.py). ``experiments.sweep.interrupt_safely``
notes a stop that arrives during the wait and raises it when the wait
returns.
"""

import os
import subprocess
import sys
import time
import traceback
from collections import namedtuple

import pytest

from cli.main import _terminate_as_interrupt
from experiments.sweep import ProcessExecutor, interrupt_safely

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to oneself")

Spec = namedtuple("Spec", "run_id")


def _slow(spec):
    time.sleep(5)
    return spec


# Python 3.12's pool forks its worker after starting its own manager thread
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_sigterm_during_the_pools_wait_is_raised_when_the_wait_returns():
    executor = ProcessExecutor(1)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as stopped, executor, _terminate_as_interrupt():
        # from another process: a thread here would make the pool's fork unsafe
        subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -TERM {os.getpid()}"])
        list(executor.imap_unordered(_slow, [Spec("a"), Spec("b")]))
    assert time.monotonic() - started < 3  # not after the 5-second run
    innermost = traceback.extract_tb(stopped.value.__traceback__)[-1]
    assert innermost.name == "_first_done"  # raised by the sweep, not inside concurrent.futures
    manager = executor._pool._executor_manager_thread
    if manager is not None:
        manager.join(timeout=10)
        assert not manager.is_alive()  # the pool's shutdown finished: nothing left to hang the exit


def test_outside_a_wait_the_stop_is_raised_at_once():
    with pytest.raises(KeyboardInterrupt) as stopped:
        interrupt_safely()
    assert traceback.extract_tb(stopped.value.__traceback__)[-1].name == "interrupt_safely"
