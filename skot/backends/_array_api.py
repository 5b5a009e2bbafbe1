"""Dense backend for any array-API namespace (CuPy, PyTorch, ``array_api_strict``).

The cost matrix is formed once with matrix products, |x|^2 + |y|^2 - 2 <x, y> (clipped
at 0), and reduced with a stable log-sum-exp; everything stays in the inputs' namespace
and on their device. Memory is O(n m): the generic path for moderate sizes.
"""

from ._arrays import array_namespace, device
from ._base import REDUCTIONS, Geometry
from ._costs import metric_of

__all__ = ["ArrayAPIGeometry", "logsumexp"]


def logsumexp(values, axis, xp):
    """log sum exp along ``axis``, shifted by the maximum (rows of -inf give -inf)."""
    top = xp.max(values, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0.0)
    return xp.squeeze(top, axis=axis) + xp.log(xp.sum(xp.exp(values - top), axis=axis))


class ArrayAPIGeometry(Geometry):
    """Geometry on a stored cost matrix in the points' array namespace, float64."""

    provides = REDUCTIONS - {"sample", "largest_weights"}

    def __init__(self, x, y, metric):
        xp = array_namespace(x, y)
        x, y = xp.astype(x, xp.float64), xp.astype(y, xp.float64)
        super().__init__(x, y, metric)
        self._xp = xp
        if callable(metric):
            raise ValueError("A callable metric needs NumPy arrays; the array-API backend takes named metrics.")
        self._cost = metric_of(metric).dense(x, y)

    def _block(self, axis):
        """Cost with the kept axis first."""
        return self._cost if axis == 1 else self._cost.T

    def _vector(self, values):
        return self._xp.asarray(values, dtype=self._xp.float64, device=device(self._cost))

    def _logits(self, h, eps, axis):
        return (self._vector(h)[None, :] - self._block(axis)) / eps

    def softmin(self, h, eps, axis):
        return -eps * logsumexp(self._logits(h, eps, axis), 1, self._xp)

    def _softmax(self, h, eps, axis):
        logits = self._logits(h, eps, axis)
        return self._xp.exp(logits - logsumexp(logits, 1, self._xp)[:, None])

    def barycentric_map(self, h, eps, axis, values=None):
        return self._softmax(h, eps, axis) @ self._xp.asarray(self._averaged(values, axis), dtype=self._xp.float64)

    def argmax(self, h):
        return self._xp.argmax(self._vector(h)[None, :] - self._cost, axis=1)

    def soft_masses(self, h, eps, weights, n_largest=0):
        if n_largest:
            raise ValueError("The array-API backend does not return each row's largest softmax weights.")
        return self._vector(weights) @ self._softmax(h, eps, 1), self.softmin(h, eps, 1)

    def plan(self, hf, hg, eps):
        return self._xp.exp((self._vector(hf)[:, None] + self._vector(hg)[None, :] - self._cost) / eps)

    def plan_cost(self, hf, hg, eps):
        return float(self._xp.sum(self.plan(hf, hg, eps) * self._cost))

    def cost_statistic(self, kind, a, b):
        xp = self._xp
        a, b = self._vector(a), self._vector(b)
        if kind == "mean":
            return float(a @ self._cost @ b)
        if kind == "max":
            kept = (a[:, None] > 0) & (b[None, :] > 0)
            return float(xp.max(xp.where(kept, self._cost, 0.0)))
        if kind == "median":
            order = xp.argsort(xp.reshape(self._cost, (-1,)))
            values = xp.take(xp.reshape(self._cost, (-1,)), order)
            cumulative = xp.cumulative_sum(xp.take(xp.reshape(a[:, None] * b[None, :], (-1,)), order))
            index = int(xp.searchsorted(cumulative, 0.5 * cumulative[-1]))
            return float(values[min(index, values.shape[0] - 1)])
        raise ValueError(f"Unknown cost statistic {kind!r}.")

    def sample(self, h, eps, axis, n_samples, rng):
        raise ValueError("Conditional sampling runs on NumPy arrays; the array-API backend does not sample.")

