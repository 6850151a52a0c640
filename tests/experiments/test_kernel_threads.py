"""Sweep workers split the cores between them: workers x kernel threads <= cores.

They are forked from the command when it runs no other thread, else started
by a fork server.
"""

import signal
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from experiments import sweep


def kernel_threads(_):
    return numba.get_num_threads()


def test_process_pool_workers_run_the_kernel_on_their_share_of_the_cores():
    cores = sweep.default_workers()
    expected = max(1, min(cores // 2, numba.config.NUMBA_NUM_THREADS))
    with sweep.process_pool(2, "sim") as pool:
        assert set(pool.map(kernel_threads, range(4))) == {expected}


def signal_handlers(_):
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_pool_workers_leave_ctrl_c_to_the_command_and_end_quietly_on_sigterm():
    """A forked worker must not inherit the command's SIGTERM-as-Ctrl-C handler.

    Else the command, stopping on SIGTERM, terminates its idle workers and each
    prints a KeyboardInterrupt traceback.
    """
    before = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        with sweep.process_pool(1, "sim") as pool:
            handlers = pool.submit(signal_handlers, None).result()
    finally:
        signal.signal(signal.SIGTERM, before)
    assert handlers == (signal.SIG_IGN, signal.SIG_DFL)


def test_dask_tasks_run_the_kernel_on_their_own_thread_only():
    before = numba.get_num_threads()
    assert sweep.in_one_kernel_thread(kernel_threads, None) == 1
    assert numba.get_num_threads() == before


START_METHOD = """
import sys, threading
from experiments import sweep
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
elif sys.argv[1] == "kernel":
    import sim
    sim.warm_up()  # a model period: the kernel's thread pool starts
print(sweep.start_method())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="forking is used on Linux only")
@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("alone", "fork"),
        ("thread", "forkserver"),
        ("kernel", "forkserver"),
    ],
)
def test_workers_are_forked_only_from_a_process_that_runs_no_other_thread(state, expected):
    done = subprocess.run(
        [sys.executable, "-c", START_METHOD, state],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.strip() == expected
