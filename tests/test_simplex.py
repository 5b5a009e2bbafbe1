"""Exact OT (network simplex, sorted 1-D) against scipy's LP solver and the 1-D quantile coupling."""

import numpy as np
import pytest
from scipy import sparse
from skot.backends import pairwise_cost, transport_simplex
from skot.solvers import exact_plan, exact_transport

from .reference import lp_transport_cost


def _problem(rng, trial):
    """Small random problems with duplicates, ties, zero weights, n != m, d in 1..7 (from 6 on,
    priced from the stored cost matrix)."""
    n, m = (int(k) for k in rng.integers(1, 25, 2))
    d = int(rng.integers(1, 8))
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    if trial % 3 == 0:
        y[: m // 2] = y[0]  # duplicate points
    if trial % 4 == 0:
        x, y = np.round(x), np.round(y)  # ties
    a = rng.random(n) if trial % 2 else np.ones(n)
    b = rng.random(m) if trial % 5 else np.ones(m)
    if trial % 7 == 0 and n > 2:
        a[0] = 0.0  # a point without mass
    if trial % 11 == 0 and m > 2:
        b[-1] = 0.0
    return x, y, a / a.sum(), b / b.sum()


def _check_certified(result, cost, a, b):
    plan = result.plan.toarray()
    assert sparse.issparse(result.plan) and result.plan.nnz <= sum(cost.shape) - 1
    assert plan.min() >= 0
    np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-14)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-14)
    scale = max(np.abs(cost).max(), 1e-300)
    reduced = cost - result.potential_source[:, None] - result.potential_target[None, :]
    # Dual feasibility over all pairs, complementary slackness, strong duality, the LP optimum.
    assert reduced.min() >= -5e-12 * scale
    if result.dual_violation is not None:
        assert result.dual_violation <= 4e-12 * scale
        assert reduced.min() >= -result.dual_violation - 1e-15 * scale
    assert np.abs(reduced[plan > 0]).max(initial=0.0) <= 1e-12 * scale
    assert result.cost == pytest.approx(np.sum(plan * cost), rel=1e-12, abs=1e-14 * scale)
    dual = a @ result.potential_source + b @ result.potential_target
    assert dual == pytest.approx(result.cost, rel=1e-9, abs=1e-12 * scale)
    assert result.cost == pytest.approx(lp_transport_cost(cost, a, b), rel=1e-9, abs=1e-12 * scale)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine"])
def test_points_and_matrix_solutions_are_certified_optima(metric):
    rng = np.random.default_rng(0)
    for trial in range(60):
        x, y, a, b = _problem(rng, trial)
        cost = pairwise_cost(x, y, metric)
        _check_certified(exact_transport(x, y, a, b, metric=metric), cost, a, b)
        _check_certified(exact_plan(cost, a, b), cost, a, b)


def test_one_dimension_is_the_quantile_coupling():
    """In 1-D the sorted plan is optimal for convex costs: W_p^p is the integral of |F^-1 - G^-1|^p."""
    rng = np.random.default_rng(1)
    n, m = 300, 170
    x, y = rng.normal(size=(n, 1)), rng.exponential(size=(m, 1))
    a, b = rng.random(n), rng.random(m)
    a, b = a / a.sum(), b / b.sum()
    levels = np.union1d(np.cumsum(a[np.argsort(x[:, 0])]), np.cumsum(b[np.argsort(y[:, 0])]))
    levels = levels[levels < 1 - 1e-12]
    widths = np.diff(np.r_[0.0, levels, 1.0])
    def quantile(points, weights, t):
        order = np.argsort(points[:, 0])
        index = np.minimum(np.searchsorted(np.cumsum(weights[order]), t, side="left"), len(points) - 1)
        return points[order, 0][index]
    middles = np.r_[0.0, levels] + widths / 2
    gaps = np.abs(quantile(x, a, middles) - quantile(y, b, middles))
    for metric, power in (("sqeuclidean", 2), ("euclidean", 1)):
        result = exact_transport(x, y, a, b, metric=metric)
        assert result.n_iter == 0 and result.dual_violation is None
        assert result.cost == pytest.approx(np.sum(widths * gaps**power), rel=1e-12)
        cost = pairwise_cost(x, y, metric)
        reduced = cost - result.potential_source[:, None] - result.potential_target[None, :]
        assert reduced.min() >= -1e-12 * cost.max()
        assert result.cost == pytest.approx(lp_transport_cost(cost, a, b), rel=1e-9)


def test_a_warm_start_reaches_the_same_optimum_in_fewer_pivots():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(150, 2)), rng.normal(size=(120, 2))
    a, b = rng.random(150), rng.random(120)
    a, b = a / a.sum(), b / b.sum()
    first = exact_transport(x, y, a, b)
    moved = x + 0.01 * rng.normal(size=x.shape)
    warm, cold = exact_transport(moved, y, a, b, basis=first.basis), exact_transport(moved, y, a, b)
    assert warm.cost == pytest.approx(cold.cost, rel=1e-12)
    assert warm.n_iter < cold.n_iter / 3
    np.testing.assert_allclose(warm.plan.sum(axis=0), b, atol=1e-14)


def test_degenerate_uniform_assignment_is_a_permutation():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    result = exact_transport(x, y)
    plan = result.plan.toarray()
    assert np.count_nonzero(plan) == 200
    np.testing.assert_allclose(plan.max(axis=1), 1 / 200)
    from scipy.optimize import linear_sum_assignment

    cost = pairwise_cost(x, y, "sqeuclidean")
    assert result.cost == pytest.approx(cost[linear_sum_assignment(cost)].mean(), rel=1e-12)


def test_limits_and_bad_weights_are_clear_errors():
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 2)), rng.random((40, 2))
    with pytest.raises(RuntimeError, match="pivots"):
        exact_transport(x, y, max_iter=1)
    with pytest.raises(ValueError, match="equal sums"):
        exact_transport(x, y, np.full(30, 1 / 30), np.full(40, 1 / 20))
    with pytest.raises(ValueError, match="non-negative"):
        exact_transport(x, y, -np.full(30, 1 / 30), np.full(40, 1 / 40))
    with pytest.raises(ValueError, match="shapes"):
        exact_plan(np.ones((3, 4)), np.full(4, 0.25), np.full(4, 0.25))
    # The backend's own entry point checks sizes too (its kernels would read outside the arrays).
    a, b = np.full(30, 1 / 30), np.full(40, 1 / 40)
    for given in ({"x": x[:20], "y": y}, {"x": x, "y": y[:, :1]}, {"cost": np.ones((30, 39))}):
        with pytest.raises(ValueError, match="transport_simplex needs weights"):
            transport_simplex(a, b, **given)


def test_progress_runs_resume_from_the_last_basis_to_the_same_optimum(monkeypatch, caplog):
    import logging

    from skot.backends import _simplex

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(90, 2))
    a, b = rng.random(120), rng.random(90)
    a, b = a / a.sum(), b / b.sum()
    quiet = exact_transport(x, y, a, b)
    monkeypatch.setattr(_simplex, "PROGRESS_PIVOTS", 50)  # many runs of 50 pivots
    with caplog.at_level(logging.INFO, logger="skot"):
        reported = exact_transport(x, y, a, b, verbose=1)
    assert reported.cost == pytest.approx(quiet.cost, rel=1e-12)
    assert reported.dual_violation <= 4e-12 * pairwise_cost(x, y, "sqeuclidean").max()
    assert any("network simplex" in record.getMessage() for record in caplog.records)
    with pytest.raises(RuntimeError, match="pivots"):
        exact_transport(x, y, a, b, verbose=1, max_iter=120)
