"""Fused CUDA kernels (numba-cuda): costs on the fly, online reductions, O(n + m) memory.

One GPU thread per kept row: it streams over the other cloud, computing each cost and
folding it into a running log-sum-exp (the maximum so far and the sum rescaled to it),
an argmax, or weighted sums, so no n x m array exists. The kernels accept any array
with ``__cuda_array_interface__`` (CuPy) or, under numba's simulator
(``NUMBA_ENABLE_CUDASIM=1``), NumPy arrays. Work per reduction: about n m (2 d + 20)
flops for n m (d + 1) reads served from cache, so the kernels are compute bound.

This module imports ``numba.cuda``; nothing imports it unless a CUDA geometry is built.
"""

import math

from numba import cuda

from ._arrays import array_namespace, to_numpy
from ._base import REDUCTIONS, Geometry
from ._costs import median_cost, metric_of

THREADS_PER_BLOCK = 128


@cuda.jit(device=True, inline=True)
def _cost(x, i, y, j, root, scale):
    """c(x_i, y_j): the squared distance of embedded points, square-rooted or not, scaled."""
    total = 0.0
    for k in range(x.shape[1]):
        diff = x[i, k] - y[j, k]
        total += diff * diff
    if root:
        total = math.sqrt(total)
    return scale * total


@cuda.jit
def softmin_kernel(x, y, h, eps, root, scale, out):
    """out_i = -eps log sum_j exp((h_j - c(x_i, y_j)) / eps), one streaming pass."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    top = -math.inf
    total = 0.0
    for j in range(y.shape[0]):
        value = (h[j] - _cost(x, i, y, j, root, scale)) / eps
        if value == -math.inf:  # a zero weight
            continue
        if value > top:
            total = total * math.exp(top - value) + 1.0
            top = value
        else:
            total += math.exp(value - top)
    out[i] = -eps * (top + math.log(total))


@cuda.jit
def argmax_kernel(x, y, h, root, scale, out):
    """out_i = argmax_j (h_j - c(x_i, y_j)), the first on ties."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    top = -math.inf
    chosen = 0
    for j in range(y.shape[0]):
        value = h[j] - _cost(x, i, y, j, root, scale)
        if value > top:
            top = value
            chosen = j
    out[i] = chosen


@cuda.jit
def weighted_sum_kernel(x, y, h, eps, lse, root, scale, values, out):
    """out_i = sum_j exp((h_j - c_ij) / eps - lse_i) values_j, with lse_i from softmin_kernel."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    for k in range(values.shape[1]):
        out[i, k] = 0.0
    for j in range(y.shape[0]):
        weight = math.exp((h[j] - _cost(x, i, y, j, root, scale)) / eps - lse[i])
        for k in range(values.shape[1]):
            out[i, k] += weight * values[j, k]


@cuda.jit
def plan_cost_kernel(x, y, hf, hg, eps, root, scale, out):
    """out_i = sum_j exp((hf_i + hg_j - c_ij) / eps) c_ij, streamed with a running maximum."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    top = -math.inf
    total = 0.0
    for j in range(y.shape[0]):
        cost = _cost(x, i, y, j, root, scale)
        value = (hg[j] - cost) / eps
        if value == -math.inf:
            continue
        if value > top:
            total = total * math.exp(top - value) + cost
            top = value
        else:
            total += math.exp(value - top) * cost
    out[i] = math.exp(hf[i] / eps + top) * total


@cuda.jit
def cost_moments_kernel(x, y, b, root, scale, mean_out, max_out):
    """Per row: sum_j b_j c_ij and the maximum of c_ij over b_j > 0."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    total = 0.0
    top = 0.0
    for j in range(y.shape[0]):
        if b[j] > 0:
            cost = _cost(x, i, y, j, root, scale)
            total += b[j] * cost
            top = max(top, cost)
    mean_out[i] = total
    max_out[i] = top


@cuda.jit
def plan_kernel(x, y, hf, hg, eps, root, scale, out):
    """out_ij = exp((hf_i + hg_j - c_ij) / eps); one thread per row."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    for j in range(y.shape[0]):
        out[i, j] = math.exp((hf[i] + hg[j] - _cost(x, i, y, j, root, scale)) / eps)


def _launch(kernel, rows, *args):
    blocks = max(1, -(-rows // THREADS_PER_BLOCK))
    kernel[blocks, THREADS_PER_BLOCK](*args)


class CudaGeometry(Geometry):
    """Geometry whose reductions run as the fused CUDA kernels above, in float64.

    ``x`` and ``y`` are device arrays (CuPy) or, under the simulator, NumPy arrays; the
    results are arrays of the same library. ``sample`` (conditional draws) is not
    available on the GPU.
    """

    provides = REDUCTIONS - {"sample", "largest_weights"}

    def sample(self, h, eps, axis, n_samples, rng):
        raise ValueError("Conditional sampling runs on NumPy arrays; the CUDA backend does not sample.")

    def __init__(self, x, y, metric):
        super().__init__(x, y, metric)
        self._xp = array_namespace(x, y)
        description = metric_of(metric)
        x, y = description.embed(self._float64(x), 0), description.embed(self._float64(y), 1)
        self._points = (y, x)  # (columns, rows) for axis=1
        self._root, self._scale = description.root, float(description.scale)

    def _float64(self, array):
        return self._xp.asarray(array, dtype=self._xp.float64)

    def _oriented(self, axis):
        """(rows, columns) of a reduction along ``axis``."""
        return (self._points[1], self._points[0]) if axis == 1 else (self._points[0], self._points[1])

    def softmin(self, h, eps, axis):
        rows, columns = self._oriented(axis)
        out = self._xp.empty(rows.shape[0], dtype=self._xp.float64)
        _launch(softmin_kernel, rows.shape[0], rows, columns, self._float64(h), float(eps), self._root,
                self._scale, out)
        return out

    def barycentric_map(self, h, eps, axis, values=None):
        rows, columns = self._oriented(axis)
        lse = -self.softmin(h, eps, axis) / eps
        points = self._float64(self._averaged(values, axis))
        out = self._xp.empty((rows.shape[0], points.shape[1]), dtype=self._xp.float64)
        _launch(weighted_sum_kernel, rows.shape[0], rows, columns, self._float64(h), float(eps), lse, self._root,
                self._scale, points, out)
        return out

    def argmax(self, h):
        rows, columns = self._oriented(1)
        out = self._xp.empty(rows.shape[0], dtype=self._xp.int64)
        _launch(argmax_kernel, rows.shape[0], rows, columns, self._float64(h), self._root, self._scale, out)
        return out

    def soft_masses(self, h, eps, weights, n_largest=0):
        if n_largest:
            raise ValueError("The CUDA backend does not return each row's largest softmax weights.")
        # masses_j = sum_i w_i exp((h_j - c_ij) / eps - lse_i): a weighted sum along the other axis.
        # With f = softmin(h) (lse_i = -f_i / eps): masses = exp((h - softmin_0(f + eps log w)) / eps).
        xp, weights = self._xp, self._float64(weights)
        softmins = self.softmin(h, eps, axis=1)
        log_weights = xp.where(weights > 0, xp.log(xp.where(weights > 0, weights, 1.0)), -math.inf)
        column = self.softmin(softmins + eps * log_weights, eps, axis=0)
        return self._xp.exp((self._float64(h) - column) / eps), softmins

    def plan(self, hf, hg, eps):
        rows, columns = self._oriented(1)
        out = self._xp.empty(self.shape, dtype=self._xp.float64)
        _launch(plan_kernel, rows.shape[0], rows, columns, self._float64(hf), self._float64(hg), float(eps),
                self._root, self._scale, out)
        return out

    def plan_cost(self, hf, hg, eps):
        rows, columns = self._oriented(1)
        out = self._xp.empty(rows.shape[0], dtype=self._xp.float64)
        _launch(plan_cost_kernel, rows.shape[0], rows, columns, self._float64(hf), self._float64(hg), float(eps),
                self._root, self._scale, out)
        return float(self._xp.sum(out))

    def cost_statistic(self, kind, a, b):
        if kind == "median":
            return median_cost(to_numpy(self.x), to_numpy(self.y), to_numpy(a), to_numpy(b), self.metric)
        if kind not in ("mean", "max"):
            raise ValueError(f"Unknown cost statistic {kind!r}.")
        rows, columns = self._oriented(1)
        means = self._xp.empty(rows.shape[0], dtype=self._xp.float64)
        maxima = self._xp.empty(rows.shape[0], dtype=self._xp.float64)
        _launch(cost_moments_kernel, rows.shape[0], rows, columns, self._float64(b), self._root, self._scale,
                means, maxima)
        a = self._float64(a)
        if kind == "mean":
            return float(self._xp.sum(a * means))
        return float(self._xp.max(self._xp.where(a > 0, maxima, 0.0)))

