"""Online numba CPU backend: costs computed on the fly, O(n + m) memory.

Every kernel is a serial ``nogil`` loop over a range of rows of the kept axis, run in row
chunks on the kernel threads of :mod:`skot.backends._threads` when the work pays, and reduces with a
two-pass log-sum-exp: pass 1 finds the row maximum of ``h_j - c_ij``, pass 2 sums
``exp((h_j - c_ij - max) / eps)``, skipping terms below ``exp(-CUTOFF)`` (1e-22 of the
largest: below double precision for any m < 1e6). At small ``eps`` most terms are
skipped, so the cost of an iteration falls as the kernel sharpens.

Every named metric is a squared distance between embedded points, square-rooted or not and
scaled (the ``root`` and ``scale`` arguments of the kernels; see
:class:`skot.backends._costs.Metric`).
"""

import math
import threading

import numpy as np
from numba import njit

from ._base import REDUCTIONS, Geometry
from ._threads import one_blas_thread, run_chunks
from ._costs import far_point_assignment, max_sqeuclidean, median_cost, metric_of
from ._exp import CUTOFF, FASTMATH, _exp_nonpositive
from ._kernel import StoredKernel, logits_from_products_kernel

# Squared Euclidean reductions of points with at least GEMM_MIN_DIM coordinates use BLAS
# products |x - y|^2 = |x|^2 + |y|^2 - 2 <x, y> of centred points, PRODUCT_CHUNK rows at a
# time, when the squared norms stay below PRODUCTS_MAX_NORM eps: the products' rounding, 2^-52
# of the norms, is then below 1e-10 eps in each exponent.
GEMM_MIN_DIM = 16
PRODUCT_CHUNK = 1024
PRODUCTS_MAX_NORM = 1e5
SHIFT_SPAN = 20.0
NO_SHIFT = np.empty(0)
# Largest stored kernel, in MiB (see OnlineGeometry).
KERNEL_MEMORY = 256


@njit(inline="always", fastmath=FASTMATH)
def _partial_distances(x, i, yt, buf):
    """buf_j = sum over all coordinates but the last of (x_ik - y_jk)^2, vectorised along j.

    The last coordinate is added by the caller inside its own pass (see :func:`_cost_from`),
    which saves two passes over ``buf`` for d = 2.
    """
    d, m = yt.shape
    if d == 1:
        for j in range(m):
            buf[j] = 0.0
        return
    xk = np.float64(x[i, 0])
    for j in range(m):
        diff = xk - yt[0, j]
        buf[j] = diff * diff
    for k in range(1, d - 1):
        xk = np.float64(x[i, k])
        for j in range(m):
            diff = xk - yt[k, j]
            buf[j] += diff * diff


@njit(inline="always", fastmath=FASTMATH)
def _cost_from(partial, x_last, y_last, root, scale):
    """The cost from a partial squared distance and the last coordinates."""
    diff = x_last - y_last
    c = partial + diff * diff
    if root:
        c = math.sqrt(c)
    if scale != 1.0:
        return scale * c
    return c


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _fill_logits(x, i, yt, h, root, scale, buf):
    """buf_j = h_j - c(x_i, y_j) for all j; returns max_j buf_j."""
    _partial_distances(x, i, yt, buf)
    last = yt.shape[0] - 1
    x_last = np.float64(x[i, last])
    top = -np.inf
    for j in range(yt.shape[1]):
        value = h[j] - _cost_from(buf[j], x_last, yt[last, j], root, scale)
        buf[j] = value
        top = max(top, value)
    return top


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _softmax_weights(buf, top, inv_eps):
    """buf_j <- exp((buf_j - top) / eps), 0 below exp(-CUTOFF) (a point without mass, far away,
    then adds nothing to a barycentric map); returns the sum."""
    total = 0.0
    for j in range(buf.shape[0]):
        exponent = (buf[j] - top) * inv_eps
        weight = _exp_nonpositive(max(exponent, -CUTOFF)) if exponent > -CUTOFF else 0.0
        buf[j] = weight
        total += weight
    return total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def softmin_kernel(x, yt, h, eps, shift, root, scale, out, start, stop):
    """out_i = -eps log sum_j exp((h_j - c(x_i, y_j)) / eps).

    Without ``shift`` (an empty array), two passes: the row maximum, then the sum. Given
    upper bounds ``shift_i >= max_j (h_j - c_ij)`` within 20 eps, one pass, fully
    vectorised (scalar max reductions do not vectorise): terms are clamped to
    [exp(-CUTOFF), 1], harmless since the sum is at least exp(-SHIFT_SPAN).
    """
    inv_eps = 1.0 / eps
    last = yt.shape[0] - 1
    buf = np.empty(yt.shape[1])
    for i in range(start, stop):
        if shift.shape[0] == 0:
            top = _fill_logits(x, i, yt, h, root, scale, buf)
            out[i] = -(top + eps * math.log(_softmax_weights(buf, top, inv_eps)))
            continue
        _partial_distances(x, i, yt, buf)
        x_last = np.float64(x[i, last])
        top = shift[i]
        total = 0.0
        for j in range(yt.shape[1]):
            c = _cost_from(buf[j], x_last, yt[last, j], root, scale)
            total += _exp_nonpositive(min(max((h[j] - c - top) * inv_eps, -CUTOFF), 0.0))
        out[i] = -(top + eps * math.log(total))


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def barycentric_kernel(x, yt, h, eps, root, scale, values_t, out, start, stop):
    """out_i = sum_j w_ij v_j, w_i = softmax_j((h_j - c(x_i, y_j)) / eps); NaN rows overflowed."""
    inv_eps = 1.0 / eps
    buf = np.empty(yt.shape[1])
    for i in range(start, stop):
        top = _fill_logits(x, i, yt, h, root, scale, buf)
        if not np.isfinite(top):
            out[i, :] = np.nan
            continue
        total = _softmax_weights(buf, top, inv_eps)
        for k in range(values_t.shape[0]):
            acc = 0.0
            for j in range(values_t.shape[1]):
                acc += buf[j] * values_t[k, j]
            out[i, k] = acc / total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def argmax_kernel(x, yt, h, root, scale, out, start, stop):
    """out_i = argmax_j (h_j - c(x_i, y_j)): the Laguerre cell of x_i when h = g; -1 for rows
    whose costs overflowed."""
    buf = np.empty(yt.shape[1])
    for i in range(start, stop):
        top = _fill_logits(x, i, yt, h, root, scale, buf)
        if not np.isfinite(top):
            out[i] = -1
            continue
        chosen = 0
        for j in range(yt.shape[1]):
            if buf[j] == top:
                chosen = j
                break
        out[i] = chosen


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def soft_masses_kernel(x, yt, h, eps, weights, n_chunks, masses, softmins, top_index, top_prob, first, last):
    """Per chunk c of rows: masses[c, j] = sum_i weights_i softmax_j((h_j - c_ij) / eps);
    softmins[i] = -eps log sum_j exp((h_j - c_ij) / eps), from the same pass; and the
    ``K = top_index.shape[1]`` largest softmax weights of each row (index -1: none); chunks
    ``first`` to ``last``."""
    n = x.shape[0]
    n_top = top_index.shape[1]
    inv_eps = 1.0 / eps
    for chunk in range(first, last):
        buf = np.empty(yt.shape[1])
        for i in range(chunk * n // n_chunks, (chunk + 1) * n // n_chunks):
            top = _fill_logits(x, i, yt, h, False, 1.0, buf)
            total = _softmax_weights(buf, top, inv_eps)
            softmins[i] = -(top + eps * math.log(total))
            scale = weights[i] / total
            for j in range(yt.shape[1]):
                masses[chunk, j] += scale * buf[j]
            if n_top > 0:
                _largest(buf, top_index[i], top_prob[i])
                for t in range(n_top):
                    top_prob[i, t] /= total


@njit(inline="always")
def _largest(values, index, largest):
    """The ``len(index)`` largest entries of ``values`` (descending) and their indices."""
    k = index.shape[0]
    for t in range(k):
        index[t] = -1
        largest[t] = 0.0
    for j in range(values.shape[0]):
        value = values[j]
        if value > largest[k - 1]:
            t = k - 1
            while t > 0 and largest[t - 1] < value:
                largest[t] = largest[t - 1]
                index[t] = index[t - 1]
                t -= 1
            largest[t] = value
            index[t] = j


@njit(cache=True, nogil=True)
def sample_kernel(x, yt, h, eps, root, scale, sorted_uniforms, out, start, stop):
    """Inverse-CDF draws from softmax_j((h_j - c(x_i, y_j)) / eps); uniforms sorted per row;
    -1 for rows whose costs overflowed."""
    inv_eps = 1.0 / eps
    n_samples = sorted_uniforms.shape[1]
    m = yt.shape[1]
    buf = np.empty(m)
    for i in range(start, stop):
        top = _fill_logits(x, i, yt, h, root, scale, buf)
        if not np.isfinite(top):
            out[i, :] = -1
            continue
        total = _softmax_weights(buf, top, inv_eps)
        cumulative = 0.0
        s = 0
        for j in range(m):
            cumulative += buf[j]
            while s < n_samples and sorted_uniforms[i, s] * total < cumulative:
                out[i, s] = j
                s += 1
        while s < n_samples:
            out[i, s] = m - 1
            s += 1


@njit(cache=True, nogil=True)
def plan_kernel(x, yt, hf, hg, eps, root, scale, out, start, stop):
    """out_ij = exp((hf_i + hg_j - c_ij) / eps)."""
    for i in range(start, stop):
        _fill_logits(x, i, yt, hg, root, scale, out[i])
        for j in range(yt.shape[1]):
            out[i, j] = math.exp((hf[i] + out[i, j]) / eps)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def plan_cost_kernel(x, yt, hf, hg, eps, root, scale, out, start, stop):
    """out_i = sum_j exp((hf_i + hg_j - c_ij) / eps) c_ij (row sums of P * C).

    With top_i = max_j (hg_j - c_ij): exp((hf_i + top_i) / eps) times a vectorised sum of
    exponents <= 0 (any plan, unconverged or unbalanced ones included). Terms below
    exp(-CUTOFF) are left out: the cost hg_j - (hg_j - c_ij) of a column without mass
    (hg_j = -inf) is not a number.
    """
    inv_eps = 1.0 / eps
    buf = np.empty(yt.shape[1])
    for i in range(start, stop):
        top = _fill_logits(x, i, yt, hg, root, scale, buf)
        total = 0.0
        for j in range(yt.shape[1]):
            exponent = (buf[j] - top) * inv_eps
            if exponent > -CUTOFF:
                total += _exp_nonpositive(min(exponent, 0.0)) * (hg[j] - buf[j])
        out[i] = math.exp((hf[i] + top) * inv_eps) * total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def logits_kernel(x, yt, row_offsets, column_offsets, root, scale, out, start, stop):
    """out_ij = row_offsets_i + column_offsets_j - c(x_i, y_j); returns the column maxima over
    these rows."""
    column_max = np.full(yt.shape[1], -np.inf)
    for i in range(start, stop):
        _fill_logits(x, i, yt, column_offsets, root, scale, out[i])
        for j in range(yt.shape[1]):
            logit = out[i, j] + row_offsets[i]
            out[i, j] = logit
            column_max[j] = max(column_max[j], logit)
    return column_max


@njit(cache=True, nogil=True)
def cost_moments_kernel(x, yt, a, b, root, scale, mean_out, max_out, start, stop):
    """Per row: sum_j b_j c_ij (weighted mean) and max over b_j > 0 of c_ij."""
    zero = np.zeros(yt.shape[1])
    buf = np.empty(yt.shape[1])
    for i in range(start, stop):
        _fill_logits(x, i, yt, zero, root, scale, buf)
        total = 0.0
        top = 0.0
        for j in range(yt.shape[1]):
            if b[j] > 0:
                total -= b[j] * buf[j]
                top = max(top, -buf[j])
        mean_out[i] = total
        max_out[i] = top if a[i] > 0 else 0.0


class OnlineGeometry(Geometry):
    """Geometry that recomputes costs inside compiled kernels (float32 or float64 points).

    When the n x m kernel fits in ``kernel_memory`` MiB, the first soft-min stores it (as much
    work as one soft-min), and soft-mins, barycentric maps and the plan cost at that eps become
    products with it (:mod:`skot.backends._kernel`); beyond, memory stays O(n + m).
    """

    def __init__(self, x, y, metric, kernel_memory=KERNEL_MEMORY):
        dtype = np.float32 if (x.dtype == np.float32 and y.dtype == np.float32) else np.float64
        x = np.ascontiguousarray(x, dtype=dtype)
        y = np.ascontiguousarray(y, dtype=dtype)
        description = metric_of(metric)
        # The kernels index by these shapes: a mismatch would read outside the arrays.
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or x.shape[1] == 0:
            raise ValueError(f"OnlineGeometry needs points of shapes (n, d) and (m, d), d >= 1; got {x.shape} "
                             f"and {y.shape}.")
        super().__init__(x, y, metric)
        x, y = description.embed(x, 0), description.embed(y, 1)
        # Rows of one side and the other side transposed, so kernels vectorise along it; the
        # transposes are made on first use (a semi-discrete fit never needs the samples').
        self._rows = (np.ascontiguousarray(y), np.ascontiguousarray(x))
        self._columns = [None, None]
        self._root, self._scale, self._description = description.root, float(description.scale), description
        # Last (h, eps, result) of softmin along each axis, to skip the maximum pass.
        self._last_softmin = {0: None, 1: None}
        self._by_products = description.plain_squared and x.shape[1] >= GEMM_MIN_DIM
        if self._root or self._scale != 1.0:
            self.provides = REDUCTIONS - {"soft_masses", "largest_weights"}
        self._centred = None
        self._kernel_fits = x.shape[0] * y.shape[0] * 8 <= kernel_memory * 2**20
        self._kernel = None

    def clear_cache(self):
        self._kernel = None
        self._last_softmin = {0: None, 1: None}

    def _oriented(self, axis):
        """(row points, transposed column points) for a reduction along ``axis``."""
        side = 1 if axis == 1 else 0
        if self._columns[side] is None:
            self._columns[side] = np.ascontiguousarray(self._rows[1 - side].T)
        return self._rows[side], self._columns[side]

    def _axis_values(self, values, axis):
        """``values`` (potentials or weights, one per point of a side) as contiguous float64,
        checked against the number of points they belong to."""
        values = _float64(values)
        size = self.shape[1 if axis == 1 else 0]
        if values.shape != (size,):
            raise ValueError(f"The potential has shape {values.shape}; the reduced axis has {size} points.")
        return values

    def softmin(self, h, eps, axis):
        """Two-pass kernel, or one pass when the last call on this axis bounds the maximum.

        If the last call had the same ``eps`` and returned ``f_prev`` for ``h_prev``, then
        with ``delta = h - h_prev``, ``shift = -f_prev + max(delta)`` bounds every row
        maximum from above and the row sums lie in [exp(-span(delta) / eps), 1].
        """
        h, eps = self._axis_values(h, axis), float(eps)
        kernel = self._kernel_at(eps)
        out = None if kernel is None else kernel.softmin(h, axis)
        if out is None and self._kernel_fits and np.all(np.isfinite(h)):
            # K cannot resolve this soft-min (or none is stored): one built around h gives it.
            self._kernel = None  # freed before its successor is allocated
            self._kernel = self._build_kernel(h, eps, axis)
            out = self._kernel.first_softmin
        if out is not None:
            return out
        if self._products_resolve(eps):
            return self._softmin_by_products(h, eps, axis)
        rows, cols = self._oriented(axis)
        h = h.copy()
        out = np.empty(rows.shape[0])
        last = self._last_softmin[axis]
        if last is not None and last[1] == eps:
            with np.errstate(invalid="ignore"):  # -inf (no mass) in both: no change there
                delta = np.where(h == last[0], 0.0, h - last[0])
            if delta.max() - delta.min() <= SHIFT_SPAN * eps:
                shift = delta.max() - last[2]
                _run_rows(softmin_kernel, rows, cols, h, eps, shift, self._root, self._scale, out)
                self._last_softmin[axis] = (h, eps, out)
                return out
        _run_rows(softmin_kernel, rows, cols, h, eps, NO_SHIFT, self._root, self._scale, out)
        self._last_softmin[axis] = (h, eps, out)
        return out

    def _build_kernel(self, h, eps, axis):
        """The kernel at ``eps`` around the finite offsets ``h``: rows normalised for a reduction
        along axis 1 (h on the columns), columns for one along axis 0."""
        n, m = self.shape
        row_offsets, column_offsets = (np.zeros(n), h) if axis == 1 else (h, np.zeros(m))
        logits = np.empty((n, m))
        maxima = []  # column maxima of the row chunks (list.append is atomic)
        if self._products_resolve(eps):
            points, others, row_norms, column_norms = self._centred_points(1)
            _for_row_products(points, others, lambda start, products: maxima.append(logits_from_products_kernel(
                products, row_offsets[start:], column_offsets, row_norms[start:], column_norms, 0, len(products))),
                out=logits)
        else:
            rows, cols = self._oriented(1)
            run_chunks(lambda start, stop: maxima.append(logits_kernel(
                rows, cols, row_offsets, column_offsets, self._root, self._scale, logits, start, stop)),
                n, _pairs_per_row(cols))
        return StoredKernel(logits, row_offsets, column_offsets, eps, np.max(maxima, axis=0) if axis == 0 else None)

    def _products_resolve(self, eps):
        """Whether reductions at ``eps`` may take costs from BLAS products (see PRODUCTS_MAX_NORM)."""
        if not self._by_products:
            return False
        _, _, row_norms, column_norms = self._centred_points(1)
        return row_norms.max() + column_norms.max() <= PRODUCTS_MAX_NORM * eps

    def _centred_points(self, axis):
        """(rows, columns, their squared norms) for a reduction along ``axis``, both clouds
        centred on one point, in float64 (made on first use)."""
        if self._centred is None:
            centre = 0.5 * (self.x.mean(axis=0, dtype=np.float64) + self.y.mean(axis=0, dtype=np.float64))
            clouds = [_float64(points) - centre for points in (self.x, self.y)]
            self._centred = [(cloud, np.einsum("ij,ij->i", cloud, cloud)) for cloud in clouds]
        (points, row_norms), (others, column_norms) = self._centred if axis == 1 else self._centred[::-1]
        return points, others, row_norms, column_norms

    def _softmin_by_products(self, h, eps, axis):
        """The soft-min from BLAS products: h_j - |x_i - y_j|^2 = (h_j - |y_j|^2) + 2 <x_i, y_j>
        - |x_i|^2, with both clouds centred on one point (the squared norms then stay of the
        order of the costs, and so does the cancellation)."""
        points, others, row_norms, column_norms = self._centred_points(axis)
        offset = h - column_norms
        out = np.empty(points.shape[0])
        _for_row_products(points, others, lambda start, products: softmin_products_kernel(
            products, row_norms[start:start + len(products)], offset, eps, out[start:start + len(products)]))
        return out

    def _kernel_at(self, eps):
        """The stored kernel if it was built at ``eps``, else None."""
        return self._kernel if self._kernel is not None and self._kernel.eps == eps else None

    def barycentric_map(self, h, eps, axis, values=None):
        rows, cols = self._oriented(axis)
        points = _float64(self._averaged(values, axis))
        h, eps = self._axis_values(h, axis), float(eps)
        kernel = self._kernel_at(eps)
        mapped = None if kernel is None else kernel.barycentric_map(h, points, axis)
        if mapped is not None:
            return mapped
        if self._products_resolve(eps):
            return self._barycentric_map_by_products(h, eps, axis, points)
        out = np.empty((rows.shape[0], points.shape[1]))
        _run_rows(barycentric_kernel, rows, cols, h, eps, self._root, self._scale, np.ascontiguousarray(points.T), out)
        far = np.isnan(out[:, 0])
        if far.any():
            out[far] = points[self._far_assignment(far, axis)]
        return out

    def _barycentric_map_by_products(self, h, eps, axis, points):
        """The barycentric map from BLAS products of centred points: per row chunk, the softmax
        weights from ``(h_j - |y_j|^2) + 2 <x_i, y_j>`` (the row's own norm cancels), then a
        product of the weights with the other side's points."""
        rows, others, _, column_norms = self._centred_points(axis)
        offset = h - column_norms
        out = np.empty((rows.shape[0], points.shape[1]))
        sums = np.empty(rows.shape[0])

        def reduce_chunk(start, products):
            stop = start + len(products)
            softmax_products_kernel(products, offset, eps, sums[start:stop])
            np.matmul(products, points, out=out[start:stop])

        _for_row_products(rows, others, reduce_chunk)
        out /= sums[:, None]
        far = np.isnan(sums)
        if far.any():
            out[far] = points[self._far_assignment(far, axis)]
        return out

    def _far_assignment(self, far, axis):
        """The other cloud's point that rows ``far`` (mask), whose costs overflowed, tend to."""
        own, other = self._rows[::-1] if axis == 1 else self._rows
        return far_point_assignment(own[far], other, self.metric)

    def sample(self, h, eps, axis, n_samples, rng):
        rows, cols = self._oriented(axis)
        uniforms = np.sort(rng.uniform(size=(rows.shape[0], n_samples)), axis=1)
        out = np.empty((rows.shape[0], n_samples), dtype=np.intp)
        _run_rows(sample_kernel, rows, cols, self._axis_values(h, axis), float(eps), self._root, self._scale, uniforms, out)
        far = out[:, 0] < 0
        if far.any():
            out[far] = self._far_assignment(far, axis)[:, None]
        # Sorting the uniforms ordered the draws; a random permutation makes them i.i.d. again.
        return np.take_along_axis(out, np.argsort(rng.uniform(size=out.shape), axis=1), axis=1)

    def argmax(self, h):
        rows, points = self._rows[1], self._rows[0]
        out = np.empty(rows.shape[0], dtype=np.intp)
        if self._by_products:
            # argmax_j h_j - |x_i - y_j|^2 = argmax_j (h_j - |y_j|^2) + 2 <x_i, y_j>: BLAS products.
            offset = self._axis_values(h, 1) - np.einsum("ij,ij->i", points, points, dtype=np.float64)
            _for_row_products(rows, points, lambda start, products: argmax_products_kernel(
                products, offset, out[start:start + len(products)]))
            return out
        _run_rows(argmax_kernel, rows, self._oriented(1)[1], self._axis_values(h, 1), self._root, self._scale, out)
        far = out < 0
        if far.any():
            out[far] = self._far_assignment(far, 1)
        return out

    def soft_masses(self, h, eps, weights, n_largest=0):
        rows, cols = self._oriented(1)
        if self._root or self._scale != 1.0:
            raise ValueError("soft cell masses are implemented for squared distances.")
        n_chunks = max(1, min(64, rows.shape[0]))
        masses = np.zeros((n_chunks, cols.shape[1]))
        softmins = np.empty(rows.shape[0])
        top_index = np.empty((rows.shape[0], n_largest), dtype=np.int64)
        top_prob = np.empty((rows.shape[0], n_largest))
        h, weights = self._axis_values(h, 1), self._axis_values(weights, 0)
        run_chunks(lambda first, last: soft_masses_kernel(rows, cols, h, float(eps), weights, n_chunks, masses,
                                                          softmins, top_index, top_prob, first, last),
                   n_chunks, -(-rows.shape[0] // n_chunks) * _pairs_per_row(cols))
        if n_largest:
            return masses.sum(axis=0), softmins, top_index, top_prob
        return masses.sum(axis=0), softmins

    def plan(self, hf, hg, eps):
        rows, cols = self._oriented(1)
        out = np.empty(self.shape)
        _run_rows(plan_kernel, rows, cols, self._axis_values(hf, 0), self._axis_values(hg, 1), float(eps), self._root, self._scale, out)
        return out

    def plan_cost(self, hf, hg, eps):
        hf, hg = self._axis_values(hf, 0), self._axis_values(hg, 1)
        kernel = self._kernel_at(float(eps))
        scalings = None if kernel is None else kernel.plan_scalings(hf, hg)
        if scalings is not None:
            return kernel.plan_cost(*scalings)
        out = np.empty(self.shape[0])
        if self._products_resolve(float(eps)):
            points, others, row_norms, column_norms = self._centred_points(1)
            _for_row_products(points, others, lambda start, products: plan_cost_products_kernel(
                products, row_norms[start:start + len(products)], column_norms, hf[start:start + len(products)], hg,
                float(eps), out[start:start + len(products)]))
            return float(out.sum())
        rows, cols = self._oriented(1)
        _run_rows(plan_cost_kernel, rows, cols, hf, hg, float(eps), self._root, self._scale, out)
        return float(out.sum())

    def _mean_cost_of_centred_points(self, a, b):
        """sum_ij a_i b_j |x_i - y_j|^2 = B <a, |x|^2> + A <b, |y|^2> - 2 <x^T a, y^T b> (A, B the
        masses), O((n + m) d), with the clouds the BLAS products use, centred on one point: the
        cross term is then at most the other two (no cancellation beyond a factor 2)."""
        points, others, row_norms, column_norms = self._centred_points(1)
        # One BLAS thread: a woken BLAS pool would spin on a core through the kernels that follow.
        with one_blas_thread():
            return float(b.sum() * (a @ row_norms) + a.sum() * (b @ column_norms) - 2.0 * (a @ points) @ (b @ others))

    def cost_statistic(self, kind, a, b):
        if kind == "median":
            return median_cost(self.x, self.y, a, b, self.metric)
        if kind not in ("mean", "max"):
            raise ValueError(f"Unknown cost statistic {kind!r}.")
        if kind == "mean" and self._description.plain_squared:
            return self._mean_cost_of_centred_points(_float64(a), _float64(b))
        columns, rows = self._rows
        if kind == "max" and rows.shape[1] <= 3:
            return float(self._description.from_squared(max_sqeuclidean(rows[np.asarray(a) > 0],
                                                                        columns[np.asarray(b) > 0])))
        rows, cols = self._oriented(1)
        mean_rows, max_rows = np.empty(self.shape[0]), np.empty(self.shape[0])
        _run_rows(cost_moments_kernel, rows, cols, self._axis_values(a, 0), self._axis_values(b, 1), self._root, self._scale, mean_rows,
                  max_rows)
        return float(a @ mean_rows) if kind == "mean" else float(max_rows.max())


def _float64(array):
    return np.ascontiguousarray(array, dtype=np.float64)


def _pairs_per_row(columns):
    """Work of one row of a reduction, in units of 2-D cost evaluations."""
    d, m = columns.shape
    return m * max(1, d // 2)


def _run_rows(kernel, rows, columns, *args):
    """``kernel(rows, columns, *args, start, stop)`` over all rows, in chunks on the kernel threads."""
    run_chunks(lambda start, stop: kernel(rows, columns, *args, start, stop), rows.shape[0],
               _pairs_per_row(columns))


def _for_row_products(x, y, reduce_chunk, out=None):
    """Call ``reduce_chunk(start, x[start:start + k] @ y.T)`` over chunks of k <= PRODUCT_CHUNK rows.

    The chunks run on the kernel threads (the same size rule as every kernel), each thread
    with one BLAS thread and one (k, m) buffer allocated once per call (fresh pages of a
    large array cost more than the product), or the rows of ``out`` (n, m) when given;
    ``reduce_chunk`` must release the GIL (a ``nogil`` kernel) for the threads to overlap.
    """
    y = _float64(y)
    buffers = {}

    def run(first, last):
        buffer = buffers.get(threading.get_ident())
        if buffer is None and out is None:
            buffer = buffers[threading.get_ident()] = np.empty((min(PRODUCT_CHUNK, last - first), y.shape[0]))
        step = PRODUCT_CHUNK if out is not None else len(buffer)
        for start in range(first, last, step):
            rows = _float64(x[start:min(start + step, last)])
            target = out[start:start + len(rows)] if out is not None else buffer[:len(rows)]
            reduce_chunk(start, np.matmul(rows, y.T, out=target))

    with one_blas_thread():
        run_chunks(run, x.shape[0], y.shape[0] * x.shape[1])


@njit(inline="always", fastmath=FASTMATH)
def _largest_logit(products, i, offset):
    """max_j offset_j + 2 products_ij."""
    top = -np.inf
    for j in range(products.shape[1]):
        top = max(top, offset[j] + 2.0 * products[i, j])
    return top


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def softmin_products_kernel(products, row_norms, offset, eps, out):
    """out_i = -eps log sum_j exp((offset_j + 2 products_ij - row_norms_i) / eps), two passes."""
    inv_eps = 1.0 / eps
    for i in range(products.shape[0]):
        top = _largest_logit(products, i, offset)
        total = 0.0
        for j in range(products.shape[1]):
            total += _exp_nonpositive(min(max((offset[j] + 2.0 * products[i, j] - top) * inv_eps, -CUTOFF), 0.0))
        out[i] = row_norms[i] - (top + eps * math.log(total))


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def softmax_products_kernel(products, offset, eps, sums):
    """In place: products_ij <- exp((offset_j + 2 products_ij - top_i) / eps), top_i the row
    maximum, clamped to [exp(-CUTOFF), 1]; sums_i the row sums, NaN (and the row 0) where it
    overflowed."""
    inv_eps = 1.0 / eps
    for i in range(products.shape[0]):
        top = _largest_logit(products, i, offset)
        if not np.isfinite(top):
            products[i, :] = 0.0
            sums[i] = np.nan
            continue
        total = 0.0
        for j in range(products.shape[1]):
            weight = _exp_nonpositive(min(max((offset[j] + 2.0 * products[i, j] - top) * inv_eps, -CUTOFF), 0.0))
            products[i, j] = weight
            total += weight
        sums[i] = total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def plan_cost_products_kernel(products, row_norms, column_norms, hf, hg, eps, out):
    """out_i = sum_j exp((hf_i + hg_j - c_ij) / eps) c_ij, c_ij = row_norms_i + column_norms_j
    - 2 products_ij (centred points); as :func:`plan_cost_kernel`, from the row maximum."""
    inv_eps = 1.0 / eps
    for i in range(products.shape[0]):
        top = -np.inf
        for j in range(products.shape[1]):
            top = max(top, hg[j] - (row_norms[i] + column_norms[j] - 2.0 * products[i, j]))
        total = 0.0
        for j in range(products.shape[1]):
            cost = max(row_norms[i] + column_norms[j] - 2.0 * products[i, j], 0.0)
            exponent = (hg[j] - cost - top) * inv_eps
            if exponent > -CUTOFF:
                total += _exp_nonpositive(min(exponent, 0.0)) * cost
        out[i] = math.exp((hf[i] + top) * inv_eps) * total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def argmax_products_kernel(products, offset, out):
    """out_i = argmax_j offset_j + 2 products_ij (first on ties)."""
    for i in range(products.shape[0]):
        top = _largest_logit(products, i, offset)
        chosen = 0
        for j in range(products.shape[1]):
            if offset[j] + 2.0 * products[i, j] == top:
                chosen = j
                break
        out[i] = chosen
