"""Dask backend: source rows in blocks on the workers, O(n + m) traffic per reduction.

Every reduction is a map over the source blocks, each against all target points (gathered
once into one array on the workers, O(m) memory), run by the online numba kernels (no
n x m block is ever stored): along ``axis=1`` each block returns its rows' soft-mins;
along ``axis=0`` each returns a partial soft-min per target point, and a tree of pairwise
log-add-exp merges reduces them. Per call the driver sends the potential (n or m floats)
and receives n or m floats.
"""

import numpy as np

from ._base import Geometry
from ._numba import OnlineGeometry


def _block_softmin(x, y, h, eps, axis, metric):
    return OnlineGeometry(np.asarray(x), y, metric).softmin(h, eps, axis)


def _merge_softmins(u, v, eps):
    """-eps log(exp(-u / eps) + exp(-v / eps)), stably."""
    low = np.minimum(u, v)
    return low - eps * np.log1p(np.exp(-np.abs(u - v) / eps))


def _block_statistic(x, y, a, b, kind, metric):
    return OnlineGeometry(np.asarray(x), y, metric).cost_statistic(kind, a, b)


def _block_plan_cost(x, y, hf, hg, eps, metric):
    return OnlineGeometry(np.asarray(x), y, metric).plan_cost(hf, hg, eps)


class BlockGeometry(Geometry):
    """Geometry of a dask array of source rows (its row blocks) and target rows.

    ``x`` and ``y`` are dask arrays; ``y`` is gathered into one array on the workers once.
    Only the reductions the Sinkhorn solver needs are distributed: ``softmin``,
    ``plan_cost`` and the ``"mean"`` / ``"max"`` cost statistics.
    """

    provides = frozenset({"softmin", "plan_cost"})

    def __init__(self, x, y, metric):
        import dask
        import dask.array as da

        if not isinstance(y, da.Array):
            y = da.from_array(np.asarray(y))
        super().__init__(x, y, metric)
        self._dask = dask
        # Persisted on the workers; the geometry holds the collection so they stay there.
        self._source = x = x.rechunk({1: -1}).persist()
        self._blocks = list(x.to_delayed().ravel())
        self._bounds = np.cumsum((0,) + x.chunks[0])
        (self._targets,) = dask.persist(dask.delayed(np.ascontiguousarray)(y.rechunk({1: -1})))

    def _map(self, function, per_block, *args):
        """``function(block, targets, per_block(rows), *args)`` for each block, lazily."""
        delayed = self._dask.delayed(function, pure=True)
        return [delayed(block, self._targets, per_block(slice(start, stop)), *args)
                for block, start, stop in zip(self._blocks, self._bounds[:-1], self._bounds[1:])]

    def softmin(self, h, eps, axis):
        h = np.asarray(h, dtype=np.float64)
        if axis == 1:
            parts = self._map(_block_softmin, lambda rows: h, eps, 1, self.metric)
            return np.concatenate(self._dask.compute(*parts))
        parts = self._map(_block_softmin, lambda rows: h[rows], eps, 0, self.metric)
        merge = self._dask.delayed(_merge_softmins, pure=True)
        while len(parts) > 1:  # a tree of pairwise merges, on the workers
            parts = [merge(parts[k], parts[k + 1], eps) if k + 1 < len(parts) else parts[k]
                     for k in range(0, len(parts), 2)]
        return np.asarray(self._dask.compute(parts[0])[0])

    def plan_cost(self, hf, hg, eps):
        hf, hg = np.asarray(hf, dtype=np.float64), np.asarray(hg, dtype=np.float64)
        return float(sum(self._dask.compute(*self._map(_block_plan_cost, lambda rows: hf[rows], hg, eps,
                                                         self.metric))))

    def cost_statistic(self, kind, a, b):
        if kind not in ("mean", "max"):
            raise ValueError(f"The dask backend computes the mean or max cost, not the {kind!r}.")
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        values = self._dask.compute(*self._map(_block_statistic, lambda rows: a[rows], b, kind, self.metric))
        return float(sum(values) if kind == "mean" else max(values))
