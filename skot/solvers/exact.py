"""Exact (unregularised) discrete optimal transport and out-of-sample extensions of plans.

min <C, P> over P >= 0 with P 1 = a, P^T 1 = b, by the network simplex (costs from the
points on the fly, O(n + m) memory, or a given cost matrix), certified optimal by dual
potentials checked against every pair; in one dimension, for costs convex in |x - y|, by
sorting. The plan is sparse: a basis has at most n + m - 1 nonzero entries.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..backends import transport_simplex
from ..backends._costs import check_representable, metric_of, power_of_two
from ._validation import COUNT_OR_NONE, VERBOSE, checked


@dataclass(frozen=True)
class ExactTransportResult:
    """Output of :func:`exact_transport` and :func:`exact_plan`.

    Attributes
    ----------
    plan : scipy.sparse.csr_array of shape (n, m)
        The optimal coupling, at most n + m - 1 nonzeros (``plan.toarray()`` for a dense one).
    potential_source, potential_target : ndarray of shape (n,), (m,)
        Dual potentials u, v: ``u_i + v_j <= C_ij + dual_violation`` for every pair, with
        equality where ``P_ij > 0``.
    cost : float
        <C, P>, equal to ``a . u + b . v`` (strong duality).
    dual_violation : float or None
        ``max(0, max_ij u_i + v_j - C_ij)``, checked over all pairs (at most 4e-12 of the
        largest cost); None for the sorted one-dimensional solution, optimal by construction.
    n_iter : int
        Simplex pivots.
    basis : tuple
        Warm start for a problem with the same weights (``basis=``).
    """

    plan: sparse.csr_array
    potential_source: np.ndarray
    potential_target: np.ndarray
    cost: float
    dual_violation: float | None
    n_iter: int
    basis: tuple


def _marginals(a, b, n, m):
    a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64)
    if a.shape != (n,) or b.shape != (m,):
        raise ValueError(f"The weights have shapes {a.shape} and {b.shape}; expected ({n},) and ({m},).")
    for name, weights in (("a", a), ("b", b)):
        if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError(f"The weights {name} must be finite, non-negative and not all zero.")
    if abs(a.sum() - b.sum()) > 1e-8 * a.sum():
        raise ValueError(f"The weights must have equal sums; got {a.sum()!r} and {b.sum()!r}.")
    return a, b


def _result(solution, shape, unit=1.0):
    """The result of a solve at costs divided by ``unit`` (a power of two), in the original units."""
    # The basic arcs of positive flow: distinct pairs, so the conversion has nothing to sum.
    carrying = solution.flow > 0
    plan = sparse.coo_array((solution.flow[carrying], (solution.rows[carrying], solution.cols[carrying])),
                            shape=shape).tocsr()
    plan.sort_indices()
    violation = None if solution.least_reduced is None else unit * max(0.0, -solution.least_reduced)
    return ExactTransportResult(plan, unit * solution.u, unit * solution.v,
                                unit * float(solution.flow @ solution.arc_cost), violation,
                                solution.pivots, solution.basis)


def _extent(x, y):
    """A power of two near the largest coordinate range of the points together (1 if none)."""
    if not (len(x) and len(y)):
        return 1.0
    return power_of_two(float(np.max(np.maximum(x.max(axis=0), y.max(axis=0)) - np.minimum(x.min(axis=0),
                                                                                       y.min(axis=0)))))


def _point_unit(x, y, metric):
    """A power of two near the points' extent, and the cost unit it gives ``metric``.

    The optimal plan does not change when the points are divided by a power of two, so the
    simplex prices costs of order one whatever the magnitude of the data; the potentials and
    the cost are scaled back, and refused when float64 cannot hold them.
    """
    degree = metric_of(metric).degree
    if not degree:
        return 1.0, 1.0
    length = _extent(x, y)
    with np.errstate(over="ignore"):  # an infinite unit is refused just below
        unit = float(np.float64(length) ** degree)
    if unit > 1.0:
        check_representable(unit, f"{metric} cost unit of the points")
    return length, unit


@checked(max_iter=COUNT_OR_NONE, verbose=VERBOSE)
def exact_transport(x, y, a=None, b=None, *, metric="sqeuclidean", basis=None, max_iter=None, verbose=0):
    """Optimal plan between point clouds, costs ``c(x_i, y_j)`` computed on the fly.

    Parameters
    ----------
    x, y : ndarray of shape (n, d), (m, d)
    a, b : ndarray of shape (n,), (m,), optional
        Weights with equal sums (uniform if absent); zero weights are allowed.
    metric : {"sqeuclidean", "euclidean", "cosine"}, default="sqeuclidean"
        In one dimension "sqeuclidean" and "euclidean" are solved by sorting.
    basis : tuple, optional
        ``basis`` of an earlier result with the same weights: few pivots when the points
        moved little.
    max_iter : int, optional
        Pivot limit (default ``50 (n + m)^2``); reaching it raises a RuntimeError.
    verbose : int, default=0
        Progress (pivots made) through the ``"skot"`` logger.

    Returns
    -------
    ExactTransportResult
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a, b = _marginals(a, b, len(x), len(y))
    length, unit = _point_unit(x, y, metric)
    if length != 1.0:
        x, y = x / length, y / length
    solution = transport_simplex(a, b, x=x, y=y, metric=metric, basis=basis, max_iter=max_iter,
                                 verbose=verbose)
    return _result(solution, (len(x), len(y)), unit)


@checked(max_iter=COUNT_OR_NONE, verbose=VERBOSE)
def exact_plan(cost, a, b, *, basis=None, max_iter=None, verbose=0):
    """Optimal plan for a dense cost matrix; see :func:`exact_transport`.

    Parameters
    ----------
    cost : ndarray of shape (n, m)
    a, b : ndarray of shape (n,), (m,)
    basis, max_iter, verbose : see :func:`exact_transport`

    Returns
    -------
    ExactTransportResult
    """
    cost = np.asarray(cost, dtype=np.float64)
    a, b = _marginals(a, b, *cost.shape)
    if not np.all(np.isfinite(cost)):
        raise ValueError("The cost matrix must be finite.")
    # Prices of order one whatever the magnitude of the costs (the plan does not change).
    unit = power_of_two(float(np.max(np.abs(cost))) if cost.size else 0.0)
    solution = transport_simplex(a, b, cost / unit, basis=basis, max_iter=max_iter, verbose=verbose)
    return _result(solution, cost.shape, unit)


def barycentric_images(plan, points, axis=1):
    """Barycentric projection of a plan: ``T(x_i) = sum_j P_ij y_j / sum_j P_ij`` (``axis=1``).

    ``axis=0`` projects the columns onto the rows' points instead; ``plan`` dense or sparse.
    """
    plan = plan if axis == 1 else plan.T
    return plan @ np.asarray(points, dtype=np.float64) / np.asarray(plan.sum(axis=1)).reshape(-1, 1)


def displacement_extension(make_geometry, points, support, images, *, homogeneous=True):
    """Map new points by the displacement of their nearest support point.

    ``T(x) = x + T(s) - s`` with ``s = argmin_k c(x, s_k)`` (Perrot et al. 2016); exact on
    the support. ``make_geometry(u, v)`` builds the geometry of the new points (rows) and the
    support (columns). For costs homogeneous in the points (the named metrics) both are first
    divided by a power of two near their extent: the nearest points stay the same, while
    costs of data at any magnitude neither underflow nor overflow.
    """
    points = np.asarray(points, dtype=np.float64)
    length = _extent(points, support) if homogeneous else 1.0
    geometry = make_geometry(points, support) if length == 1.0 else make_geometry(points / length, support / length)
    nearest = geometry.argmax(np.zeros(len(support)))
    return points + images[nearest] - support[nearest]
