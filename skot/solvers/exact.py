"""Exact (unregularised) discrete optimal transport and out-of-sample extensions of plans."""

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array, vstack

from ..backends import optimal_assignment


def exact_plan(cost, a, b):
    """Optimal plan of the discrete Kantorovich problem.

    An assignment (auction) when both sides are uniform of equal size (the optimum is a
    permutation), otherwise the transportation LP by ``scipy.optimize.linprog`` (HiGHS).
    """
    n, m = cost.shape
    if n == m and np.allclose(a, 1.0 / n) and np.allclose(b, 1.0 / m):
        plan = np.zeros((n, m))
        plan[np.arange(n), optimal_assignment(cost)] = 1.0 / n
        return plan
    index = np.arange(n * m).reshape(n, m)
    row_constraints = coo_array((np.ones(n * m), (np.repeat(np.arange(n), m), index.ravel())), shape=(n, n * m))
    col_constraints = coo_array((np.ones(n * m), (np.tile(np.arange(m), n), index.ravel())), shape=(m, n * m))
    result = linprog(cost.ravel(), A_eq=vstack([row_constraints, col_constraints]),
                     b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs",
                     options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if result.status != 0:
        raise RuntimeError(f"The transport linear program failed: {result.message}")
    return result.x.reshape(n, m)


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
