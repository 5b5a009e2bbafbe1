"""The network simplex against scipy's LP solver (HiGHS), on random and degenerate problems."""

import numpy as np
import pytest
from skot.backends import transport_simplex

from .reference import lp_transport_cost


def _problem(rng, trial):
    n, m = (int(k) for k in rng.integers(1, 25, 2))
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    if trial % 3 == 0:
        y[: m // 2] = y[0]  # duplicate points
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    if trial % 4 == 0:
        cost = np.round(cost)  # ties
    a = rng.random(n) if trial % 2 else np.ones(n)
    b = rng.random(m) if trial % 5 else np.ones(m)
    if trial % 7 == 0 and n > 2:
        a[0] = 0.0  # a point without mass
    return cost, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("seed", range(4))
def test_optimal_with_a_dual_certificate(seed):
    rng = np.random.default_rng(seed)
    for trial in range(40):
        cost, a, b = _problem(rng, trial)
        plan, u, v, basis = transport_simplex(cost, a, b)
        assert plan.min() >= 0
        np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-14)
        np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-14)
        reduced = cost - u[:, None] - v[None, :]
        assert reduced.min() >= -1e-12 * cost.max()
        assert np.abs(reduced[plan > 0]).max(initial=0.0) <= 1e-12 * max(cost.max(), 1.0)
        assert abs((plan * cost).sum() - lp_transport_cost(cost, a, b)) <= 1e-9 * max(cost.max(), 1.0)
        moved = cost * (1 + 0.1 * rng.random(cost.shape))  # a warm start from this basis: same optimum
        warm, *_ = transport_simplex(moved, a, b, basis=basis)
        cold, *_ = transport_simplex(moved, a, b)
        np.testing.assert_allclose(warm.sum(axis=0), b, atol=1e-14)
        assert abs((warm * moved).sum() - (cold * moved).sum()) <= 1e-12 * max(moved.max(), 1.0)


def test_a_pivot_limit_is_a_clear_error():
    rng = np.random.default_rng(0)
    cost = rng.random((30, 40))
    with pytest.raises(RuntimeError, match="pivots"):
        transport_simplex(cost, np.full(30, 1 / 30), np.full(40, 1 / 40), max_iter=1)
