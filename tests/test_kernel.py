"""The stored kernel of the numba backend against its online reductions and the dense reference."""

import numpy as np
import pytest
from scipy.special import softmax

from skot import SinkhornTransport
from skot.backends import CostMatrixGeometry, DenseGeometry, OnlineGeometry, pairwise_cost
from skot.backends._exp import FLOOR, LOG_FLOOR, _exp_floored
from skot.backends._kernel import RESOLVED_SUM, StoredKernel
from skot.backends._kernel import column_products_kernel, plan_moments_kernel, row_products_kernel
from skot.solvers import sinkhorn


def test_floored_exponential_is_accurate_and_zero_below_the_floor():
    t = np.concatenate([-np.geomspace(1e-12, -LOG_FLOOR, 4001), [0.0, -1 / 64, -1.0, -345.0]])
    values = np.array([_exp_floored(v) for v in t])
    np.testing.assert_allclose(values, np.exp(t), rtol=4.5e-16, atol=0)
    assert _exp_floored(LOG_FLOOR - 1e-9) == 0.0 and _exp_floored(-1e300) == 0.0
    assert _exp_floored(-np.inf) == 0.0 and _exp_floored(np.nan) == 0.0


def test_entropy_pass_takes_logarithms_to_the_last_digits():
    """sum_j K_ij beta_j log K_ij from the exponent bits and a series: np.log's value to 5e-16
    (relative) over the whole kept range, and 0 log 0 = 0."""
    values = np.concatenate([np.geomspace(FLOOR, 1.0, 3001), [0.0, 0.5, 1.0, np.sqrt(2.0), np.nextafter(1.0, 0)]])
    matrix = np.diag(values)  # one entry a row, so each row's entropy is one term
    beta = np.ones(len(values))
    row_sums, entropies = np.empty(len(values)), np.empty(len(values))
    columns = plan_moments_kernel(matrix, np.full(len(values), 2.0), beta, row_sums, entropies, 0, len(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(values > 0, values * np.log(values), 0.0)
    np.testing.assert_allclose(entropies, expected, rtol=5e-16, atol=0)
    np.testing.assert_array_equal(row_sums, values)
    np.testing.assert_array_equal(columns, 2.0 * values)


@pytest.mark.parametrize("start, stop", [(0, 12), (1, 12), (2, 11), (3, 9), (5, 6), (4, 4)])
def test_products_over_any_row_range_equal_numpy(start, stop):
    """Four rows at a time, then the rows left over: every range gives NumPy's products."""
    rng = np.random.default_rng(start)
    matrix, row_weights, column_weights = rng.random((12, 37)), rng.random(12), rng.random(37)
    out = np.full(12, np.nan)
    row_products_kernel(matrix, column_weights, out, start, stop)
    np.testing.assert_allclose(out[start:stop], matrix[start:stop] @ column_weights, rtol=1e-14)
    assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()
    np.testing.assert_allclose(column_products_kernel(matrix, row_weights, start, stop),
                               row_weights[start:stop] @ matrix[start:stop], rtol=1e-14, atol=0)


def _problem(metric, d, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(130, d)).astype(dtype)
    y = (rng.normal(size=(90, d)) + 0.5).astype(dtype)
    return x, y


CASES = [("sqeuclidean", 2), ("sqeuclidean", 20), ("euclidean", 3), ("cosine", 4), ("sqeuclidean", 1)]


@pytest.mark.parametrize("metric, d", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stored_kernel_gives_the_online_reductions(metric, d, dtype):
    """Soft-mins along both axes, barycentric maps and the plan cost equal the online kernels'
    to 1e-13, at a smooth eps, and at a sharp one where potentials far from those K was built
    around (its entries below the floor then matter) rebuild it."""
    x, y = _problem(metric, d, dtype)
    for reg in (0.1, 0.002):
        _check_reductions(x, y, metric, reg, rebuilt=reg < 0.01)


def _check_reductions(x, y, metric, reg, rebuilt):
    stored, online = OnlineGeometry(x, y, metric), OnlineGeometry(x, y, metric, kernel_memory=0)
    rng = np.random.default_rng(1)
    eps = reg * online.cost_statistic("mean", np.full(130, 1 / 130), np.full(90, 1 / 90))
    kernels = []  # each kernel the geometry held (kept alive, so that none is mistaken for another)
    for axis, scale in [(0, 1.0), (1, 1.0), (0, 2.0), (1, 3.0), (1, 1000.0), (0, 1000.0)]:
        h = scale * eps * rng.normal(size=130 if axis == 0 else 90)
        np.testing.assert_allclose(stored.softmin(h, eps, axis), online.softmin(h, eps, axis),
                                   rtol=1e-13, atol=1e-13 * eps)
        if not kernels or stored._kernel is not kernels[-1]:
            kernels.append(stored._kernel)
        np.testing.assert_allclose(stored.barycentric_map(h, eps, axis), online.barycentric_map(h, eps, axis),
                                   rtol=1e-12, atol=1e-12)
    assert stored._kernel is not None and online._kernel is None
    assert (len(kernels) > 1) == rebuilt
    stored = OnlineGeometry(x, y, metric)
    result = sinkhorn(stored, np.full(130, 1 / 130), np.full(90, 1 / 90), eps, tol=1e-12)
    hf = result.potential_source + eps * np.log(1 / 130)
    hg = result.potential_target + eps * np.log(1 / 90)
    # The plan cost from the kernel (at the sharp eps, maybe from costs recomputed online).
    assert rebuilt or stored._kernel.plan_scalings(hf, hg) is not None
    np.testing.assert_allclose(stored.plan_cost(hf, hg, eps), online.plan_cost(hf, hg, eps), rtol=1e-13)


def test_sinkhorn_on_the_stored_kernel_matches_the_dense_reference():
    x, y = _problem("sqeuclidean", 30)
    a, b = np.full(130, 1 / 130), np.full(90, 1 / 90)
    for reg in (0.5, 0.01):
        dense = DenseGeometry(x, y, "sqeuclidean")
        eps = reg * dense.cost_statistic("mean", a, b)
        expected = sinkhorn(dense, a, b, eps, tol=1e-11)
        got = sinkhorn(OnlineGeometry(x, y, "sqeuclidean"), a, b, eps, tol=1e-11)
        np.testing.assert_allclose(got.potential_source, expected.potential_source, rtol=1e-9, atol=1e-9 * eps)
        np.testing.assert_allclose(got.potential_target, expected.potential_target, rtol=1e-9, atol=1e-9 * eps)
        assert got.marginal_error <= 1e-11


def test_points_without_mass_keep_the_online_path_exact():
    """Offsets of -inf (points without mass) never build a kernel; a kernel built before gives
    them no weight, and the potentials of the massless points stay exact."""
    x, y = _problem("sqeuclidean", 2)
    a = np.full(130, 1 / 120)
    a[:10] = 0.0
    b = np.full(90, 1 / 90)
    eps = 0.2
    online = sinkhorn(OnlineGeometry(x, y, "sqeuclidean", kernel_memory=0), a, b, eps, tol=1e-12)
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    geometry.softmin(np.zeros(90), eps, 1)  # a kernel from finite offsets first
    assert geometry._kernel is not None
    stored = sinkhorn(geometry, a, b, eps, tol=1e-12)
    np.testing.assert_allclose(stored.potential_source, online.potential_source, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stored.potential_target, online.potential_target, rtol=1e-12, atol=1e-12)


def test_unresolved_sums_are_refused():
    """A soft-min whose sums fall where the floored entries could weigh is not answered from K."""
    logits = np.array([[0.0, -400.0], [-1.0, 0.0]])
    kernel = StoredKernel(logits.copy(), np.zeros(2), np.zeros(2), 1.0)
    assert kernel.matrix[0, 1] == 0.0 and kernel.matrix[1, 0] == np.exp(-1.0)
    # h moves the weight of row 0 onto its floored entry: the true soft-min is about -400 + 400.
    assert kernel.softmin(np.array([-500.0, 0.0]), 1) is None
    assert RESOLVED_SUM > 2 * FLOOR
    np.testing.assert_allclose(kernel.softmin(np.array([0.0, 0.0]), 1),
                               [-np.log(1 + np.exp(-400.0)), -np.log(1 + np.exp(-1.0))], rtol=1e-15)


def test_budget_decides_whether_the_kernel_is_stored():
    x, y = _problem("sqeuclidean", 2)
    assert OnlineGeometry(x, y, "sqeuclidean", kernel_memory=130 * 90 * 8 / 2**20)._kernel_fits
    small = OnlineGeometry(x, y, "sqeuclidean", kernel_memory=130 * 90 * 8 / 2**20 * 0.99)
    small.softmin(np.zeros(90), 1.0, 1)
    assert small._kernel is None


def test_estimator_fits_equal_with_and_without_the_kernel():
    x, y = _problem("sqeuclidean", 20)
    X = np.vstack([x, y])
    domain = np.r_[np.ones(130, int), -np.ones(90, int)]
    stored = SinkhornTransport(reg=0.05).fit(X, sample_domain=domain)
    online = SinkhornTransport(reg=0.05, kernel_memory=0).fit(X, sample_domain=domain)
    np.testing.assert_allclose(stored.potential_source_, online.potential_source_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stored.transform(x), online.transform(x), rtol=1e-10, atol=1e-10)
    assert stored.transport_cost_ == pytest.approx(online.transport_cost_, rel=1e-12)


def test_barycentric_map_from_blas_products_matches_the_dense_reference():
    """From 16 coordinates (squared Euclidean), maps of new points come from BLAS products: the
    dense reference's, along both axes; with a point at 1e160, whose squared norm the products
    cannot resolve, from the online kernels, and its row goes to its nearest point."""
    x, y = _problem("sqeuclidean", 20)
    online = OnlineGeometry(x, y, "sqeuclidean", kernel_memory=0)
    assert online._products_resolve(5.0)
    _check_maps(online, DenseGeometry(x, y, "sqeuclidean"))
    x[3] = 1e160
    online = OnlineGeometry(x, y, "sqeuclidean", kernel_memory=0)
    assert not online._products_resolve(5.0)
    _check_maps(online, DenseGeometry(x, y, "sqeuclidean"))


def _check_maps(online, dense):
    rng = np.random.default_rng(2)
    for axis, size in ((1, 90), (0, 130)):
        h = rng.normal(size=size)
        if axis == 0:
            h[3] = -np.inf  # the far point carries no mass
        with np.errstate(over="ignore", invalid="ignore"):
            expected = dense.barycentric_map(h, 5.0, axis)
        got = online.barycentric_map(h, 5.0, axis)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_a_cost_matrix_geometry_solves_as_the_dense_reference():
    """Sinkhorn through the stored kernel of a given cost matrix: the reference's potentials, at
    a sharp eps (rebuilds) and with a zero weight (potentials with -inf: the dense fallback)."""
    rng = np.random.default_rng(7)
    cost = rng.uniform(0.0, 4.0, size=(40, 30)) + np.add.outer(rng.normal(size=40), rng.normal(size=30)) ** 2
    a, b = rng.uniform(0.5, 1.0, 40), rng.uniform(0.5, 1.0, 30)
    a[3] = 0.0
    a, b = a / a.sum(), b / b.sum()
    for eps in (1.0, 0.02):
        stored = sinkhorn(CostMatrixGeometry(cost), a, b, eps, tol=1e-12, max_iter=5000)
        dense = sinkhorn(DenseGeometry.from_cost_matrix(cost), a, b, eps, tol=1e-12, max_iter=5000)
        assert stored.converged and dense.converged
        np.testing.assert_allclose(stored.plan(), dense.plan(), atol=1e-12)
        assert stored.plan_cost() == pytest.approx(dense.plan_cost(), rel=1e-10)
    geometry = CostMatrixGeometry(cost)
    h = np.full(30, -np.inf)
    h[:5] = 0.0
    np.testing.assert_allclose(geometry.softmin(h, 0.5, 1), DenseGeometry.from_cost_matrix(cost).softmin(h, 0.5, 1),
                               rtol=1e-13)


def test_barycentric_map_of_values_from_the_stored_kernel_on_threads():
    """Averages of a few values per point (one compiled pass over K, in row chunks on the
    kernel threads at this size) equal the softmax averages written out, along both axes."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(700, 2)), rng.normal(size=(650, 2)) + 0.5
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    cost = pairwise_cost(x, y, "sqeuclidean")
    eps = 0.05 * cost.mean()
    for axis, size in ((1, 650), (0, 700)):
        h = eps * rng.normal(size=size)
        geometry.softmin(h, eps, axis)  # stores the kernel
        values = rng.normal(size=(size, 3))
        weights = softmax((h - (cost if axis == 1 else cost.T)) / eps, axis=1)
        np.testing.assert_allclose(geometry.barycentric_map(h, eps, axis, values=values), weights @ values,
                                   rtol=1e-10, atol=1e-12)
        assert geometry._kernel is not None and geometry._kernel.eps == eps
        # Without its kernel (freed), the geometry computes the same averages online.
        geometry.clear_cache()
        assert geometry._kernel is None
        np.testing.assert_allclose(geometry.barycentric_map(h, eps, axis, values=values), weights @ values,
                                   rtol=1e-10, atol=1e-12)
