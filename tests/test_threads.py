"""Thread discipline of the compiled kernels: serial below the size that pays, never more
threads than the process's share of the cores, the same answers either way, and safe to
fork after a fit and to call from many threads."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from joblib import Parallel, delayed

from skot import SinkhornTransport, pack, thread_limit
from skot.backends import OnlineGeometry, max_threads
from skot.backends import _threads


def _problem(n, m, seed=0):
    rng = np.random.default_rng(seed)
    return pack(rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 1.0)


def _fit_and_map(n):
    X, _, domain = _problem(n, n // 2)
    return SinkhornTransport(reg=0.1).fit(X, sample_domain=domain).transform(X[:5])


def test_small_calls_run_inline_and_large_ones_on_the_pool():
    assert _threads.threads_for(_threads.MIN_PAIRS_PER_THREAD - 1) == 1
    assert _threads.threads_for(10**12) == max_threads()


def test_thread_count_follows_numba_num_threads_and_omp_num_threads():
    code = "from skot.backends import max_threads; print(max_threads())"
    for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        env = dict(os.environ, **{variable: "1"})
        output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert output.stdout.strip() == "1"


def test_thread_limit_is_per_thread_and_nests():
    with thread_limit(1):
        assert max_threads() == 1
        with ThreadPoolExecutor(1) as other:
            assert other.submit(max_threads).result() == _threads._cpus()
        with thread_limit(4):
            assert max_threads() == 1
    assert max_threads() == _threads._cpus()
    with pytest.raises(ValueError, match="positive"):
        with thread_limit(0):
            pass


def test_chunked_and_serial_reductions_agree(monkeypatch):
    """Chunks on two threads give the bits of one serial pass (each row is computed alone): the
    online kernels (no stored kernel, whose column sums add per-chunk partial sums)."""
    import skot.backends._numba as numba_backend

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(700, 2)), rng.normal(size=(600, 2))
    h, eps, weights = rng.normal(size=600), 0.05, np.full(700, 1 / 700)

    def reductions():
        geometry = OnlineGeometry(x, y, "sqeuclidean", kernel_memory=0)
        return (geometry.softmin(h, eps, 1), geometry.softmin(h + 0.01, eps, 1), geometry.barycentric_map(h, eps, 1),
                geometry.soft_masses(h, eps, weights)[0], geometry.argmax(h), geometry.plan_cost(weights, h, eps))

    with thread_limit(1):
        alone = reductions()
    chunk_counts = []

    def on_two_threads(task, n_rows, pairs_per_row, n_threads=None):
        chunk_counts.append(n_rows)
        _threads.run_chunks(task, n_rows, pairs_per_row, n_threads=2)

    monkeypatch.setattr(numba_backend, "run_chunks", on_two_threads)
    chunked = reductions()
    assert len(chunk_counts) >= 6
    for got, expected in zip(chunked, alone):
        np.testing.assert_array_equal(got, expected)


def _fit_in_child(queue):
    queue.put(_fit_and_map(300))


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux only")
def test_a_forked_child_fits_after_a_fit_in_the_parent():
    expected = _fit_and_map(1200)  # large enough to start the kernel threads
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    result = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_allclose(result, _fit_and_map(300))
    results = Parallel(n_jobs=2, backend="multiprocessing")(delayed(_fit_and_map)(1200) for _ in range(2))
    for result in results:
        np.testing.assert_allclose(result, expected)


def test_transform_from_many_threads_matches_one_thread():
    X, _, domain = _problem(900, 800)
    model = SinkhornTransport(reg=0.1).fit(X, sample_domain=domain)
    points = [np.random.default_rng(seed).normal(size=(700, 2)) for seed in range(8)]
    expected = [model.transform(p) for p in points]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(model.transform, points))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_no_numba_threading_layer_and_no_more_threads_than_cores():
    code = (
        "import threading, numpy as np\n"
        "from skot import SinkhornTransport, pack\n"
        "rng = np.random.default_rng(0)\n"
        "X, _, d = pack(rng.normal(size=(1500, 2)), rng.normal(size=(1500, 2)))\n"
        "SinkhornTransport().fit(X, sample_domain=d).transform(X)\n"
        "import numba.np.ufunc.parallel as layer\n"
        "from skot.backends import _threads\n"
        "print(layer._is_initialized, threading.active_count() <= _threads._cpus())\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.split() == ["False", "True"]


def test_loky_workers_use_their_share_of_the_cores():
    """joblib's default backend (GridSearchCV(n_jobs=2)) sets each worker's thread variables
    to its share: the workers' kernels never use more threads than the cores in total."""
    shares = Parallel(n_jobs=2, backend="loky")(delayed(max_threads)() for _ in range(2))
    assert all(share == max(1, _threads._cpus() // 2) for share in shares)

