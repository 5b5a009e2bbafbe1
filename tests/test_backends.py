"""Every backend gives the numpy reference's answer; the numba kernels in detail."""

import subprocess
import sys

import numpy as np
import pytest

from skot import SinkhornTransport, pack
from skot.backends import DenseGeometry, OnlineGeometry, pairwise_cost, resolve_backend
from skot.backends._exp import EXP_TABLE, _exp_nonpositive
from skot.solvers import sinkhorn

METRICS = ["sqeuclidean", "euclidean", "cosine"]


@pytest.fixture
def clouds(rng):
    x, y = rng.normal(size=(70, 3)), rng.normal(size=(50, 3)) + 0.5
    x[0] = 0.0  # a zero vector exercises the cosine convention
    return x, y


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("axis", [0, 1])
def test_online_reductions_match_dense(clouds, rng, metric, axis):
    x, y = clouds
    online, dense = OnlineGeometry(x, y, metric), DenseGeometry(x, y, metric)
    h = rng.normal(size=50 if axis == 1 else 70)
    for eps in [1.0, 0.05, 1e-3]:
        np.testing.assert_allclose(online.softmin(h, eps, axis), dense.softmin(h, eps, axis), rtol=1e-13, atol=1e-13)
        # Second call close to the first takes the one-pass kernel.
        h_near = h + 1e-3 * rng.normal(size=h.shape)
        np.testing.assert_allclose(online.softmin(h_near, eps, axis), dense.softmin(h_near, eps, axis), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(online.barycentric_map(h, eps, axis), dense.barycentric_map(h, eps, axis), atol=1e-12)
    hf, hg = 0.1 * rng.normal(size=70), 0.1 * rng.normal(size=50)
    np.testing.assert_allclose(online.plan(hf, hg, 0.3), dense.plan(hf, hg, 0.3), rtol=1e-12)
    assert online.plan_cost(hf, hg, 0.3) == pytest.approx(dense.plan_cost(hf, hg, 0.3), rel=1e-12)
    a, b = np.full(70, 1 / 70), np.full(50, 1 / 50)
    for kind in ["mean", "max", "median"]:
        assert online.cost_statistic(kind, a, b) == pytest.approx(dense.cost_statistic(kind, a, b), rel=1e-12)


def test_vectorised_exp_is_exact_to_the_last_bits():
    t = np.linspace(-60.0, 0.0, 100001)
    values = np.array([_exp_nonpositive(v) for v in t[::97]])
    np.testing.assert_allclose(values, np.exp(t[::97]), rtol=4e-16, atol=0)
    assert len(EXP_TABLE) > 60 * 64


def test_one_pass_kernel_is_exact_when_the_shift_bound_is_loose(clouds, rng):
    """The shifted kernel stays exact at the edge of its validity (span of delta = 20 eps)."""
    x, y = clouds
    online, dense = OnlineGeometry(x, y, "sqeuclidean"), DenseGeometry(x, y, "sqeuclidean")
    h = rng.normal(size=50)
    eps = 0.1
    online.softmin(h, eps, 1)
    h_far = h + np.linspace(0, 19.9 * eps, 50)
    np.testing.assert_allclose(online.softmin(h_far, eps, 1), dense.softmin(h_far, eps, 1), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("reg_m", [None, 1.0])
@pytest.mark.parametrize("metric", METRICS)
def test_numba_and_numpy_estimators_agree_to_1e_8(rng, metric, reg_m):
    xs, xt = rng.normal(size=(60, 2)), rng.normal(size=(80, 2)) * 0.7 + [2.0, 0.0]
    X, y, _ = pack(xs, xt, (xs[:, 0] > 0).astype(int))
    fits = [SinkhornTransport(reg=0.02, reg_m=reg_m, metric=metric, backend=backend, tol=1e-12,
                              max_iter=5000).fit(X, y) for backend in ("numpy", "numba")]
    reference, fast = fits
    assert fast.backend_ == "numba" and reference.backend_ == "numpy"
    np.testing.assert_allclose(fast.potential_source_, reference.potential_source_, atol=1e-8)
    np.testing.assert_allclose(fast.potential_target_, reference.potential_target_, atol=1e-8)
    new = rng.normal(size=(30, 2)) * 3
    np.testing.assert_allclose(fast.transform(new), reference.transform(new), atol=1e-8)
    np.testing.assert_allclose(fast.inverse_transform(new), reference.inverse_transform(new), atol=1e-8)
    assert fast.transport_cost_ == pytest.approx(reference.transport_cost_, rel=1e-8)


def test_float32_data_fit_and_map_in_float32(rng):
    xs, xt = rng.normal(size=(60, 2)), rng.normal(size=(80, 2)) + 1.0
    X, y, _ = pack(xs, xt, np.zeros(60, dtype=int))
    est64 = SinkhornTransport(reg=0.05).fit(X, y)
    est32 = SinkhornTransport(reg=0.05).fit(X.astype(np.float32), y)
    assert est32.support_source_.dtype == np.float32
    mapped = est32.transform(xs.astype(np.float32))
    assert mapped.dtype == np.float32
    # Costs are accumulated in float64 from the float32 coordinates: only input rounding differs.
    np.testing.assert_allclose(mapped, est64.transform(xs), atol=1e-5)
    np.testing.assert_allclose(est32.potential_source_, est64.potential_source_, atol=1e-5)


def test_auto_backend_is_numba_except_for_callable_metrics():
    assert resolve_backend("auto") == "numba"
    assert resolve_backend("auto", metric=lambda u, v: u @ v.T) == "numpy"


def test_solver_reaches_tol_on_a_sharp_problem_without_nan(rng):
    """reg = 1e-3 of the max cost: log-domain iterations stay finite and converge."""
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 1.0
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    a = np.full(300, 1 / 300)
    eps = 1e-3 * geometry.cost_statistic("max", a, a)
    result = sinkhorn(geometry, a, a, eps, tol=1e-5, max_iter=2000)
    assert result.converged and np.all(np.isfinite(result.potential_source))
    assert result.marginal_error < 1e-5
    plan = geometry.plan(result.potential_source + eps * np.log(a), result.potential_target + eps * np.log(a), eps)
    np.testing.assert_allclose(plan.sum(axis=1), a, rtol=1e-12)


def test_anderson_acceleration_cuts_iterations_and_keeps_the_answer(rng):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1.0
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    a = np.full(200, 1 / 200)
    eps = 5e-3 * geometry.cost_statistic("max", a, a)
    plain = sinkhorn(geometry, a, a, eps, tol=1e-10, max_iter=10000, anderson_memory=0)
    fast = sinkhorn(geometry, a, a, eps, tol=1e-10, max_iter=10000)
    assert fast.n_iter < plain.n_iter / 2
    shift = np.mean(fast.potential_source - plain.potential_source)
    np.testing.assert_allclose(fast.potential_source - shift, plain.potential_source, atol=1e-8 * eps * 1e3)


def test_high_dimensional_argmax_and_mean_from_blas_products_match_dense(rng):
    """d >= 16: cells from BLAS products |y|^2 - 2 <x, y>, the mean cost in closed form."""
    x, y = rng.normal(size=(3000, 20)) + 1e3, rng.normal(size=(40, 20)) + 1e3  # far from 0: cancellation
    online, dense = OnlineGeometry(x, y, "sqeuclidean"), DenseGeometry(x, y, "sqeuclidean")
    h = rng.normal(size=40)
    np.testing.assert_array_equal(online.argmax(h), dense.argmax(h))
    a, b = rng.uniform(size=3000), rng.uniform(size=40)
    a, b = a / a.sum(), b / b.sum()
    assert online.cost_statistic("mean", a, b) == pytest.approx(dense.cost_statistic("mean", a, b), rel=1e-12)
    # Weights of one block of rows (the dask geometry sums such blocks): not summing to one.
    part = np.where(np.arange(3000) < 1000, a, 0.0)
    assert online.cost_statistic("mean", part, b) == pytest.approx(dense.cost_statistic("mean", part, b), rel=1e-12)



def test_one_blas_thread_limits_and_restores():
    from threadpoolctl import threadpool_info

    from skot.backends import one_blas_thread

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() and all(n == 1 for n in blas_threads())
    assert blas_threads() == before
    # Overlapping holders in several threads (concurrent fits): the limit holds while any
    # does, and the last one out restores the original (it was left at one thread).
    import threading

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with one_blas_thread():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second():
        first_in.wait()
        with one_blas_thread():
            second_in.set()
            first_out.wait()
            seen.append(blas_threads())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen and all(n == 1 for n in seen[0])
    assert blas_threads() == before


def test_one_pass_softmin_at_tiny_eps_stays_in_bounds():
    """Twice the same h at eps = 1e-25: the second, one-pass call bounds its exponents on both
    sides (a positive exponent once indexed the exp table out of bounds: a segfault)."""
    code = (
        "import numpy as np\n"
        "from skot.backends import OnlineGeometry\n"
        "for seed in range(10):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    g = OnlineGeometry(rng.normal(size=(300, 2)), rng.normal(size=(250, 2)), 'sqeuclidean')\n"
        "    h = rng.normal(size=250)\n"
        "    first, second = g.softmin(h, 1e-25, axis=1), g.softmin(h, 1e-25, axis=1)\n"
        "    assert np.isfinite(second).all() and np.allclose(first, second, rtol=1e-12)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("relative_eps", [1e-13, 1e-15])
def test_one_pass_softmin_is_as_exact_as_float64_at_tiny_eps(relative_eps):
    """At eps near the rounding of the costs, the one-pass soft-min (repeated h) and the
    two-pass one match the dense reference to the rounding of h - C, not to tens of eps."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    cost = pairwise_cost(x, y, "sqeuclidean")
    eps = relative_eps * cost.mean()
    h = rng.normal(size=200) * cost.mean()
    reference = DenseGeometry(x, y, "sqeuclidean").softmin(h, eps, axis=1)
    online = OnlineGeometry(x, y, "sqeuclidean")
    rounding = 8 * np.finfo(float).eps * (np.abs(h).max() + cost.max())
    for _ in range(2):  # two-pass, then one-pass bounded by the first call
        np.testing.assert_allclose(online.softmin(h, eps, axis=1), reference, rtol=0, atol=rounding + eps)


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_high_dimensional_softmin_and_plan_cost_from_blas_products_match_dense(rng, offset):
    """d >= 16: soft-mins on both axes and the plan cost from BLAS products of centred points
    (far from the origin too: the centring keeps the cancellation at the costs' scale)."""
    x, y = rng.normal(size=(300, 20)) + offset, 0.8 * rng.normal(size=(250, 20)) + 0.3 + offset
    online, dense = OnlineGeometry(x, y, "sqeuclidean"), DenseGeometry(x, y, "sqeuclidean")
    eps = 2.0
    for axis, size in ((1, 250), (0, 300)):
        h = 5.0 * rng.normal(size=size)
        np.testing.assert_allclose(online.softmin(h, eps, axis), dense.softmin(h, eps, axis), rtol=0, atol=1e-11 * eps)
    hg = rng.normal(size=250)
    hf = dense.softmin(hg, eps, axis=1) + eps * np.log(np.full(300, 1 / 300))
    assert online.plan_cost(hf, hg, eps) == pytest.approx(dense.plan_cost(hf, hg, eps), rel=1e-12)
