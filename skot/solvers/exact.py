"""Exact (unregularised) discrete optimal transport and out-of-sample extensions of plans."""

import numpy as np

from ..backends import optimal_assignment, transport_simplex


def exact_plan(cost, a, b, basis=None):
    """Optimal plan of the discrete Kantorovich problem, and a basis to warm-start the next.

    An assignment (auction) when both sides are uniform of equal size (the optimum is a
    permutation; the basis is None), otherwise the network simplex on the cost matrix,
    started from ``basis`` (the one returned for the same weights) when given.
    """
    n, m = cost.shape
    if n == m and np.allclose(a, 1.0 / n) and np.allclose(b, 1.0 / m):
        plan = np.zeros((n, m))
        plan[np.arange(n), optimal_assignment(cost)] = 1.0 / n
        return plan, None
    plan, _, _, basis = transport_simplex(cost, a, b, basis=basis)
    return plan, basis


def barycentric_images(plan, points, axis=1):
    """Barycentric projection of a plan: ``T(x_i) = sum_j P_ij y_j / sum_j P_ij`` (``axis=1``).

    ``axis=0`` projects the columns onto the rows' points instead.
    """
    plan = plan if axis == 1 else plan.T
    return plan @ np.asarray(points, dtype=np.float64) / plan.sum(axis=1)[:, None]


def displacement_extension(geometry, support, images):
    """Map new points by the displacement of their nearest support point.

    ``T(x) = x + T(s) - s`` with ``s = argmin_k c(x, s_k)`` (Perrot et al. 2016); exact on
    the support. ``geometry`` holds the new points (rows) and ``support`` (columns).
    """
    nearest = geometry.argmax(np.zeros(len(support)))
    return np.asarray(geometry.x, dtype=np.float64) + images[nearest] - support[nearest]
