"""Sweep workers split the cores between them: workers x kernel threads <= cores."""

import numba

from analysis import sweep


def kernel_threads(_):
    return numba.get_num_threads()


def test_process_pool_workers_run_the_kernel_on_their_share_of_the_cores():
    cores = sweep.default_workers()
    expected = max(1, min(cores // 2, numba.config.NUMBA_NUM_THREADS))
    with sweep.process_pool(2, "sim") as pool:
        assert set(pool.map(kernel_threads, range(4))) == {expected}


def test_dask_tasks_run_the_kernel_on_their_own_thread_only():
    before = numba.get_num_threads()
    assert sweep.in_one_kernel_thread(kernel_threads, None) == 1
    assert numba.get_num_threads() == before
