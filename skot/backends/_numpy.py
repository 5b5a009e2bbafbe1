"""Dense NumPy reference backend: simple, exact, float64 throughout."""

import numpy as np
from scipy.special import softmax

from ._base import Geometry
from ._costs import far_point_assignment, median_cost, pairwise_cost

# Cost matrices up to this many entries are stored; larger ones are recomputed
# block by block, so that the reference also maps many new points in bounded memory.
STORE_LIMIT = 2**24
BLOCK_ENTRIES = 2**22


def _row_logsumexp(logits):
    """``log sum_j exp(logits_ij)`` per row, shifted by the row's maximum (-inf for a row of
    -inf). SciPy's ``logsumexp`` computes the same, with a generality that costs it several
    times as long on the small blocks of the solvers' iterations."""
    top = logits.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


class DenseGeometry(Geometry):
    """Geometry that reduces dense cost blocks by a log-sum-exp shifted by each row's maximum."""

    def __init__(self, x, y, metric):
        super().__init__(
            np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), metric
        )
        n, m = self.shape
        self._cost = pairwise_cost(self.x, self.y, metric) if n * m <= STORE_LIMIT else None

    @classmethod
    def from_cost_matrix(cls, cost):
        """Geometry of a given cost matrix, with no points: for reductions and plans only."""
        cost = np.asarray(cost, dtype=np.float64)
        geometry = cls.__new__(cls)
        Geometry.__init__(geometry, np.empty((cost.shape[0], 0)), np.empty((cost.shape[1], 0)), None)
        geometry._cost = cost
        return geometry

    def _blocks(self, axis):
        """Yield ``(rows, C_block)``; block rows index the axis kept by the reduction."""
        n, m = self.shape
        n_rows = n if axis == 1 else m
        step = max(1, BLOCK_ENTRIES // max(n + m - n_rows, 1))
        for start in range(0, n_rows, step):
            rows = slice(start, min(start + step, n_rows))
            if self._cost is not None:
                block = self._cost[rows] if axis == 1 else self._cost[:, rows].T
            elif axis == 1:
                block = pairwise_cost(self.x[rows], self.y, self.metric)
            else:
                block = pairwise_cost(self.x, self.y[rows], self.metric).T
            yield rows, block

    def _n_rows(self, axis):
        return self.shape[0] if axis == 1 else self.shape[1]

    def softmin(self, h, eps, axis):
        out = np.empty(self._n_rows(axis))
        for rows, block in self._blocks(axis):
            out[rows] = -eps * _row_logsumexp((h - block) / eps)
        return out

    def barycentric_map(self, h, eps, axis, values=None):
        points = np.asarray(self._averaged(values, axis), dtype=np.float64)
        own = self.x if axis == 1 else self.y
        out = np.empty((self._n_rows(axis), points.shape[1]))
        for rows, block in self._blocks(axis):
            logits = (h - block) / eps
            far = ~np.isfinite(logits.max(axis=1))
            logits[far] = 0.0
            out[rows] = softmax(logits, axis=1) @ points
            if far.any():
                idx = np.arange(rows.start, rows.stop)[far]
                out[idx] = points[self._far_assignment(own[idx], axis)]
        return out

    def _far_assignment(self, points, axis):
        if axis == 0 and callable(self.metric):
            return far_point_assignment(points, self.x, lambda u, v: self.metric(v, u).T)
        return far_point_assignment(points, self._other_points(axis), self.metric)

    def sample(self, h, eps, axis, n_samples, rng):
        out = np.empty((self._n_rows(axis), n_samples), dtype=np.intp)
        uniforms = rng.uniform(size=out.shape)
        own = self.x if axis == 1 else self.y
        for rows, block in self._blocks(axis):
            logits = (h - block) / eps
            far = ~np.isfinite(logits.max(axis=1))
            logits[far] = 0.0
            cdf = np.cumsum(softmax(logits, axis=1), axis=1)
            for k, row in enumerate(range(rows.start, rows.stop)):
                picked = np.searchsorted(cdf[k], uniforms[row] * cdf[k, -1], side="right")
                out[row] = np.minimum(picked, cdf.shape[1] - 1)
            if far.any():
                idx = np.arange(rows.start, rows.stop)[far]
                out[idx] = self._far_assignment(own[idx], axis)[:, None]
        return out

    def argmax(self, h):
        out = np.empty(self.shape[0], dtype=np.intp)
        for rows, block in self._blocks(1):
            values = h - block
            out[rows] = np.argmax(values, axis=1)
            far = ~np.isfinite(values.max(axis=1))
            if far.any():
                idx = np.arange(rows.start, rows.stop)[far]
                out[idx] = self._far_assignment(self.x[idx], 1)
        return out

    def soft_masses(self, h, eps, weights, n_largest=0):
        total = np.zeros(self.shape[1])
        top_index = np.full((self.shape[0], n_largest), -1, dtype=np.int64)
        top_prob = np.zeros((self.shape[0], n_largest))
        for rows, block in self._blocks(1):
            probabilities = softmax((h - block) / eps, axis=1)
            total += weights[rows] @ probabilities
            if n_largest:
                order = np.argsort(-probabilities, axis=1, kind="stable")[:, :n_largest]
                top_index[rows, : order.shape[1]] = order
                top_prob[rows, : order.shape[1]] = np.take_along_axis(probabilities, order, axis=1)
        if n_largest:
            return total, self.softmin(h, eps, axis=1), top_index, top_prob
        return total, self.softmin(h, eps, axis=1)

    def plan(self, hf, hg, eps):
        plan = np.empty(self.shape)
        for rows, block in self._blocks(1):
            plan[rows] = np.exp((hf[rows, None] + hg - block) / eps)
        return plan

    def plan_cost(self, hf, hg, eps):
        total = 0.0
        for rows, block in self._blocks(1):
            total += float(np.sum(np.exp((hf[rows, None] + hg - block) / eps) * block))
        return total

    def cost_statistic(self, kind, a, b):
        if kind == "mean":
            return float(sum(a[rows] @ block @ b for rows, block in self._blocks(1)))
        keep_x, keep_y = a > 0, b > 0
        if kind == "max":
            return float(max(block[:, keep_y][keep_x[rows]].max(initial=0.0)
                             for rows, block in self._blocks(1)))
        if kind == "median":
            return median_cost(self.x, self.y, a, b, self.metric)
        raise ValueError(f"Unknown cost statistic {kind!r}.")
