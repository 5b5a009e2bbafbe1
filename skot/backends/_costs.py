"""Ground costs c(x, y): the one description of each metric that every backend reads.

A named metric is ``scale * |u - v|^power`` (power 1 or 2) of embedded points ``u =
embed(x, 0)``, ``v = embed(y, 1)``: the compiled kernels evaluate squared distances of the
embedded points and read ``power`` and ``scale``, the dense backends may use the metric's own
``exact`` formula. Adding a metric is one entry of ``METRIC_DESCRIPTIONS``.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.spatial.distance import cdist

from ._arrays import array_namespace, namespace


@dataclass(frozen=True)
class Metric:
    """A ground cost ``c(x, y) = scale * |embed(x, 0) - embed(y, 1)|^power``.

    Parameters
    ----------
    name : str
    power : {1, 2}
        2: squared distances; 1: their square root.
    scale : float
    embedding : callable ``(points, side) -> points`` or None
        Row-wise map of the points (``side`` 0 for ``x``, 1 for ``y``) in their own array
        namespace and dtype; None for the points themselves.
    degree : float or None
        ``c(t x, t y) = t^degree c(x, y)`` for t > 0 (None: not homogeneous); the exact solver
        prices costs of data rescaled by a power of two when it is known.
    exact : callable ``(x, y, xp) -> C`` or None
        A dense formula the reference backends use instead of the embedded distances.
    """

    name: str
    power: int = 2
    scale: float = 1.0
    embedding: Callable | None = None
    degree: float | None = 2.0
    exact: Callable | None = None

    @property
    def root(self):
        """Whether the kernels take the square root of the squared distance."""
        return self.power == 1

    @property
    def plain_squared(self):
        """Whether c is |x - y|^2 of the points themselves (BLAS products and moments apply)."""
        return self.power == 2 and self.scale == 1.0 and self.embedding is None

    def embed(self, points, side):
        """The points the kernels measure distances between (``side`` 0: x, 1: y)."""
        return points if self.embedding is None else self.embedding(points, side)

    def from_squared(self, squared, xp=np):
        """The cost from squared distances of embedded points."""
        return self.scale * (xp.sqrt(squared) if self.root else squared)

    def dense(self, x, y):
        """``C[i, j] = c(x_i, y_j)`` in the points' namespace: ``exact``, else the distances of
        the embedded points (SciPy's for NumPy, matrix products for other namespaces)."""
        xp = array_namespace(x, y)
        if self.exact is not None:
            return self.exact(x, y, xp)
        u, v = self.embed(x, 0), self.embed(y, 1)
        if namespace(u, v) is np:
            return self.from_squared(cdist(u, v, "sqeuclidean"))
        squared = xp.sum(u * u, axis=1)[:, None] + xp.sum(v * v, axis=1)[None, :] - 2.0 * (u @ v.T)
        return self.from_squared(xp.clip(squared, min=0.0), xp)


def _unit_rows(x, xp):
    """(rows scaled to unit Euclidean norm, zero rows staying zero; the norms)."""
    norms = xp.linalg.vector_norm(x, axis=1, keepdims=True)
    return x / xp.where(norms > 0, norms, 1.0), norms


def cosine_embedding(points, side):
    """Unit rows plus two flags, so that 1 - cos(x, y) = |x~ - y~|^2 / 2.

    A zero row of ``x`` gets flag (1, 0), of ``y`` (0, 1): its cost to anything is 1.
    """
    xp = array_namespace(points)
    unit, norms = _unit_rows(points, xp)
    zero = xp.astype(norms == 0, points.dtype)
    flags = [zero, xp.zeros_like(zero)]
    return xp.concat([unit, *(flags if side == 0 else flags[::-1])], axis=1)


def _cosine_cost(x, y, xp):
    """1 - <x, y> / (|x| |y|), in [0, 2]; a zero vector has cosine 0 with all."""
    return xp.clip(1.0 - _unit_rows(x, xp)[0] @ _unit_rows(y, xp)[0].T, min=0.0, max=2.0)


METRIC_DESCRIPTIONS = {
    "sqeuclidean": Metric("sqeuclidean"),
    "euclidean": Metric("euclidean", power=1, degree=1.0),
    "cosine": Metric("cosine", scale=0.5, embedding=cosine_embedding, degree=0.0, exact=_cosine_cost),
}
METRICS = tuple(METRIC_DESCRIPTIONS)


def metric_of(name):
    """The :class:`Metric` named ``name``, or a ValueError listing the named metrics."""
    try:
        return METRIC_DESCRIPTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown metric {name!r}; expected one of {tuple(METRIC_DESCRIPTIONS)} or a "
                         "callable.") from None

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


def pairwise_cost(x, y, metric):
    """Dense cost matrix ``C[i, j] = c(x_i, y_j)`` in float64.

    ``"sqeuclidean"``: |x - y|^2; ``"euclidean"``: |x - y|;
    ``"cosine"``: 1 - <x, y> / (|x| |y|) (a zero vector has cosine 0 with all);
    a callable ``metric(x, y)`` must return the ``(len(x), len(y))`` matrix.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not callable(metric):
        return metric_of(metric).dense(x, y)
    cost = np.asarray(metric(x, y), dtype=np.float64)
    if cost.shape != (x.shape[0], y.shape[0]):
        raise ValueError(
            f"The metric callable returned shape {cost.shape}; expected "
            f"{(x.shape[0], y.shape[0])}."
        )
    if not np.all(np.isfinite(cost)):
        raise ValueError("The metric callable returned non-finite costs.")
    return cost


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
