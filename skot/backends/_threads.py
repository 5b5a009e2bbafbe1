"""Threads for the compiled kernels: how many, and the one pool that runs them.

The kernels are serial ``nogil`` numba functions over a range of rows; a kernel call is
split into row chunks that a process-wide pool of Python threads takes in turn (dynamic
scheduling: a thread that the OS deschedules on a busy machine delays one chunk, not the
call). No numba threading layer is ever started, so there is no OpenMP runtime in the
process, and a ``fork()`` after a fit is safe (the pool is rebuilt in the child).

A call runs in the calling thread alone below ``MIN_PAIRS_PER_THREAD`` cost evaluations per
thread, where waking threads costs more than it saves. The thread count is the smallest of:
the CPUs this process may run on (its affinity), ``NUMBA_NUM_THREADS`` when set (joblib's
workers set it to their share of the cores), ``OMP_NUM_THREADS`` when set, and
:func:`thread_limit` in the calling thread.
"""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache

from threadpoolctl import OpenBLASController, ThreadpoolController

# A chunk of fewer cost evaluations than this runs in the calling thread: measured on 2 cores
# (docs/benchmarks.rst), two threads beat one from about this many per thread.
MIN_PAIRS_PER_THREAD = 100_000
# Chunks per thread: more than one, so that a thread held up by the OS leaves its share to
# the others.
CHUNKS_PER_THREAD = 4

_local = threading.local()
_pool_lock = threading.Lock()
_pool = None


@cache
def _cpus():
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            cpus = min(cpus, int(value))
    return max(1, cpus)


def max_threads():
    """The threads a kernel call may use in the calling thread (see the module docstring)."""
    limit = getattr(_local, "limit", None)
    return _cpus() if limit is None else max(1, min(limit, _cpus()))


@contextmanager
def thread_limit(n_threads):
    """Context manager: at most ``n_threads`` threads for skot's kernels called from this thread.

    >>> import skot
    >>> with skot.thread_limit(1):
    ...     pass  # fits here run serially
    """
    if int(n_threads) < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}.")
    previous = getattr(_local, "limit", None)
    _local.limit = int(n_threads) if previous is None else min(previous, int(n_threads))
    try:
        yield
    finally:
        _local.limit = previous


def _shared_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _cpus() - 1), thread_name_prefix="skot")
        return _pool


_blas_lock = threading.Lock()
_blas_hold = {"count": 0, "limiter": None}  # holders of the one-thread BLAS limit, and its limiter


def _reset_in_child():
    # The parent's other threads do not exist in a forked child: its pool would wait on its
    # workers, and a lock or a BLAS hold of theirs would never be released.
    global _pool, _pool_lock, _blas_lock
    _pool, _pool_lock = None, threading.Lock()
    _cpus.cache_clear()
    _blas_lock = threading.Lock()
    _blas_hold.update(count=0, limiter=None)


os.register_at_fork(after_in_child=_reset_in_child)


def in_background(function, *args):
    """``function(*args)`` on a thread of the shared pool: a future of its result."""
    return _shared_pool().submit(function, *args)


def at_once(function, *args):
    """``function(*args)`` run now, in the calling thread, as a finished future."""
    future = Future()
    future.set_result(function(*args))
    return future


def threads_for(pairs):
    """Threads worth using for a call of ``pairs`` cost evaluations (1: run inline)."""
    return max(1, min(max_threads(), int(pairs // MIN_PAIRS_PER_THREAD)))


def run_chunks(task, n_rows, pairs_per_row, n_threads=None):
    """Call ``task(start, stop)`` over chunks covering ``range(n_rows)``.

    ``task`` must release the GIL for most of its time (a ``nogil`` kernel) and write only
    its own rows. When the work pays for it (:func:`threads_for`), the calling thread and
    ``n_threads - 1`` threads of the shared pool take the chunks in turn; else it runs inline.
    """
    if n_threads is None:
        n_threads = threads_for(n_rows * pairs_per_row)
    n_threads = max(1, min(n_threads, n_rows))
    if n_threads == 1:
        task(0, n_rows)
        return
    n_chunks = min(n_rows, n_threads * CHUNKS_PER_THREAD)
    bounds = [n_rows * k // n_chunks for k in range(n_chunks + 1)]
    chunks, lock = iter(range(n_chunks)), threading.Lock()

    def take_chunks():
        while True:
            with lock:
                k = next(chunks, None)
            if k is None:
                return
            task(bounds[k], bounds[k + 1])

    helpers = [_shared_pool().submit(take_chunks) for _ in range(n_threads - 1)]
    try:
        take_chunks()
    finally:
        for helper in helpers:
            helper.result()


@cache
def _controller():
    # Scanning the loaded libraries is slow next to a small kernel call, so it runs once per
    # process (skot's imports have loaded NumPy's and SciPy's BLAS by the first call).
    return ThreadpoolController()


@contextmanager
def one_blas_thread():
    """Context manager holding BLAS to one thread, whose spin-waits between calls would
    otherwise take cores from the kernels' threads.

    The BLAS limit is process-wide: the first of overlapping holders (fits in several
    threads) sets it and the last one restores what was there before, so concurrent fits
    never leave the process at one BLAS thread.
    """
    with _blas_lock:
        if _blas_hold["count"] == 0:
            _take_blas_control()
            _blas_hold["limiter"] = _controller().limit(limits=1, user_api="blas")
        _blas_hold["count"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_hold["count"] -= 1
            if _blas_hold["count"] == 0:
                _take_blas_control()
                _blas_hold["limiter"].restore_original_limits()
                _blas_hold["limiter"] = None
                _take_blas_control()  # hand control back, for the user's own limits


def _take_blas_control():
    """Let the calling thread change OpenBLAS's limit. threadpoolctl (3.6 on) lets only one
    thread at a time do so and silently ignores the others, while the last holder of the
    limit need not be the thread that set it."""
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
