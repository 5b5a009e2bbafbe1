"""Ground costs c(x, y) shared by every backend (dense NumPy reference)."""

import math

import numpy as np
from scipy.spatial.distance import cdist

METRICS = ("sqeuclidean", "euclidean", "cosine")

# Costs (and covariances) outside this range leave the solvers' eps, potentials and
# exponents without float64 room (denormal or overflowing): refused with a message.
REPRESENTABLE_COSTS = (1e-280, 1e280)


def check_representable(value, what, *, if_zero="rescale X, e.g. with sklearn.preprocessing.StandardScaler"):
    """``value``, a cost-like statistic of the data, or a ValueError saying what to do."""
    if value == 0:
        raise ValueError(
            f"The {what} is 0: the points coincide, or lie so close together that their squared "
            f"distances underflow float64; {if_zero}."
        )
    if not REPRESENTABLE_COSTS[0] <= value <= REPRESENTABLE_COSTS[1]:
        raise ValueError(
            f"The {what} is {value:.3g}: costs of these data are not representable in float64 "
            "(the points are too close together or too far apart for their squared distances); "
            "rescale X, e.g. with sklearn.preprocessing.StandardScaler."
        )
    return value


def power_of_two(value):
    """A power of two within a factor 2 of ``value`` (1 for 0): dividing by it is exact, so
    it brings data to unit scale and back without rounding."""
    return math.ldexp(1.0, math.frexp(value)[1])


def _unit_rows(x):
    """Rows scaled to unit Euclidean norm; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def pairwise_cost(x, y, metric):
    """Dense cost matrix ``C[i, j] = c(x_i, y_j)`` in float64.

    ``"sqeuclidean"``: |x - y|^2; ``"euclidean"``: |x - y|;
    ``"cosine"``: 1 - <x, y> / (|x| |y|) (a zero vector has cosine 0 with all);
    a callable ``metric(x, y)`` must return the ``(len(x), len(y))`` matrix.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if callable(metric):
        cost = np.asarray(metric(x, y), dtype=np.float64)
        if cost.shape != (x.shape[0], y.shape[0]):
            raise ValueError(
                f"The metric callable returned shape {cost.shape}; expected "
                f"{(x.shape[0], y.shape[0])}."
            )
        if not np.all(np.isfinite(cost)):
            raise ValueError("The metric callable returned non-finite costs.")
        return cost
    if metric == "cosine":
        return np.clip(1.0 - _unit_rows(x) @ _unit_rows(y).T, 0.0, 2.0)
    if metric in ("sqeuclidean", "euclidean"):
        return cdist(x, y, metric)
    raise ValueError(f"Unknown metric {metric!r}; expected one of {METRICS} or a callable.")


def cosine_embedding(points, side):
    """Unit rows plus two flags, so that 1 - cos(x, y) = |x~ - y~|^2 / 2.

    A zero row of ``x`` gets flag (1, 0), of ``y`` (0, 1): its cost to anything is 1.
    """
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    unit = np.divide(points, norms, out=np.zeros_like(points), where=norms > 0)
    flags = np.zeros((len(points), 2), dtype=points.dtype)
    flags[:, side] = (norms[:, 0] == 0)
    return np.ascontiguousarray(np.hstack([unit, flags]))


def weighted_median(values, weights):
    """Smallest value whose cumulative weight reaches half the total."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def median_cost(x, y, a, b, metric, max_points=2000):
    """Weighted median of ``c(x_i, y_j)`` under ``a (x) b``.

    Exact up to ``max_points`` points a side; beyond, on evenly spaced subsamples
    (deterministic, and identical for every backend).
    """
    keep_x, keep_y = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    keep_x = keep_x[np.linspace(0, len(keep_x) - 1, min(len(keep_x), max_points)).astype(int)]
    keep_y = keep_y[np.linspace(0, len(keep_y) - 1, min(len(keep_y), max_points)).astype(int)]
    cost = pairwise_cost(x[keep_x], y[keep_y], metric)
    return weighted_median(cost.ravel(), np.outer(a[keep_x], b[keep_y]).ravel())


def far_point_assignment(x, y, metric):
    """Index of the ``y_j`` that the soft-min picks for points so far that costs overflow.

    For x = t u with t -> infinity, ``c(x, y_j) - g_j`` is ordered by
    ``-<u, y_j>`` for both Euclidean costs (|x - y|^2 = t^2 - 2 t <u, y> + O(1)),
    so the map tends to the support point furthest along the direction of x.
    """
    if callable(metric):
        cost = np.asarray(metric(x, y), dtype=np.float64)
        return np.argmin(np.where(np.isnan(cost), np.inf, cost), axis=1)
    directions = x / np.max(np.abs(x), axis=1, keepdims=True)
    return np.argmax(directions @ np.asarray(y, dtype=np.float64).T, axis=1)


def _hull_vertices(points):
    """Points that can be farthest from anything: convex hull vertices (all points if flat)."""
    from scipy.spatial import ConvexHull, QhullError

    if points.shape[1] == 1:
        return points[[points.argmin(), points.argmax()]]
    try:
        return points[ConvexHull(points).vertices]
    except QhullError:
        return points


def max_sqeuclidean(x, y, chunk=2048):
    """max_ij |x_i - y_j|^2, exactly; in dimension <= 3 over convex hull vertices only.

    A convex function on a polytope peaks at a vertex, so the farthest pair are hull vertices.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[1] <= 3:
        x, y = _hull_vertices(x), _hull_vertices(y)
    return max(float(cdist(x[start:start + chunk], y, "sqeuclidean").max()) for start in range(0, len(x), chunk))


def box_diameter2(*clouds):
    """Squared diagonal of the bounding box of all the points: |max - min|^2 over coordinates."""
    lows = np.min([cloud.min(axis=0) for cloud in clouds], axis=0)
    highs = np.max([cloud.max(axis=0) for cloud in clouds], axis=0)
    return float(((highs - lows) ** 2).sum())
