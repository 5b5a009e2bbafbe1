"""A stored Gibbs kernel: soft-mins of the numba backend as matrix-vector products.

Below a memory budget the online geometry keeps K_ij = exp((u_i + v_j - C_ij) / eps), with
potentials u, v absorbed (stabilised scaling: Schmitzer 2019) and entries below ``FLOOR``
set to zero. Then, with t = (h - v) / eps and s = max_j t_j,

    softmin_eps(h)_i = -eps log sum_j exp((h_j - C_ij) / eps) = u_i - eps (s + log sum_j K_ij e^(t_j - s)),

one product with K instead of n m exponentials. Every row of K (or every column, when it is
built from a column reduction) has its largest entry 1, and weights e^(t_j - s) below
``FLOOR`` are zero too, so the terms left out weigh at most 2 m FLOOR: a sum below
``RESOLVED_SUM`` per term, where they could show at double precision (the potentials moved
some 300 eps from u, v), is refused, and the geometry rebuilds K around the new potentials.
Products of entries and weights above ``FLOOR`` stay normal numbers (subnormal arithmetic is
some hundred times slower).
"""

import math

import numpy as np
from numba import njit

from ._base import Geometry
from ._costs import weighted_median
from ._exp import FASTMATH, FLOOR, LOG_FLOOR, _exp_floored, _log_from_parts, split_floats
from ._numpy import DenseGeometry
from ._threads import one_blas_thread, run_chunks

RESOLVED_SUM = 2.0 * FLOOR / np.finfo(np.float64).eps
# Plan scalings spanning up to e^PLAN_SPAN: their products with entries above FLOOR stay normal.
PLAN_SPAN = 300.0
# A product with K reads an entry where a reduction computes a cost: a thread pays from
# this many times more entries.
PRODUCT_WORK = 0.25
# Barycentric maps of at most this many values per point (labels, low-dimensional points)
# take their weighted sums in one compiled pass over K, each row of K read once from cache
# for all of them (1.1-2x faster than BLAS from 400 to 3000 points on 2 cores; even at 8).
FUSED_MAX_VALUES = 4


@njit(cache=True, nogil=True)
def plan_from_cost_kernel(cost, hf, hg, eps, out, start, stop):
    """out_ij = exp((hf_i + hg_j - cost_ij) / eps), rows ``start`` to ``stop``."""
    for i in range(start, stop):
        for j in range(cost.shape[1]):
            out[i, j] = math.exp((hf[i] + hg[j] - cost[i, j]) / eps)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def exponentiate_rows_kernel(logits, inv_eps, row_max, row_sums, start, stop):
    """In place: logits_ij <- exp((logits_ij - max_j logits_ij) / eps), floored; the maxima and
    the row sums out."""
    for i in range(start, stop):
        top = -np.inf
        for j in range(logits.shape[1]):
            top = max(top, logits[i, j])
        row_max[i] = top
        total = 0.0
        for j in range(logits.shape[1]):
            entry = _exp_floored((logits[i, j] - top) * inv_eps)
            logits[i, j] = entry
            total += entry
        row_sums[i] = total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def exponentiate_columns_kernel(logits, inv_eps, column_max, start, stop):
    """In place: logits_ij <- exp((logits_ij - column_max_j) / eps), floored; returns the column
    sums over these rows."""
    sums = np.zeros(logits.shape[1])
    for i in range(start, stop):
        for j in range(logits.shape[1]):
            entry = _exp_floored((logits[i, j] - column_max[j]) * inv_eps)
            logits[i, j] = entry
            sums[j] += entry
    return sums


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def logits_from_products_kernel(products, row_offsets, column_offsets, row_norms, column_norms, start, stop):
    """In place: products_ij <- row_offsets_i + column_offsets_j - c_ij, with the squared distance
    c_ij = max(row_norms_i + column_norms_j - 2 products_ij, 0) of centred points; returns the
    column maxima over these rows."""
    column_max = np.full(products.shape[1], -np.inf)
    for i in range(start, stop):
        for j in range(products.shape[1]):
            cost = max(row_norms[i] + column_norms[j] - 2.0 * products[i, j], 0.0)
            logit = row_offsets[i] + column_offsets[j] - cost
            products[i, j] = logit
            column_max[j] = max(column_max[j], logit)
    return column_max


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def row_products_kernel(matrix, weights, out, start, stop):
    """out_i = sum_j matrix_ij weights_j, four rows at a time (each load of a weight serves
    four rows)."""
    m = matrix.shape[1]
    blocked = start + (stop - start) // 4 * 4
    for i in range(start, blocked, 4):
        t0 = t1 = t2 = t3 = 0.0
        for j in range(m):
            weight = weights[j]
            t0 += matrix[i, j] * weight
            t1 += matrix[i + 1, j] * weight
            t2 += matrix[i + 2, j] * weight
            t3 += matrix[i + 3, j] * weight
        out[i], out[i + 1], out[i + 2], out[i + 3] = t0, t1, t2, t3
    for i in range(blocked, stop):
        total = 0.0
        for j in range(m):
            total += matrix[i, j] * weights[j]
        out[i] = total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def column_products_kernel(matrix, weights, start, stop):
    """sum_i weights_i matrix_ij over the rows start..stop, four rows at a time (each load and
    store of a partial sum serves four rows), in order: the same bits every call. A fresh
    accumulator lets the loop vectorise."""
    out = np.zeros(matrix.shape[1])
    blocked = start + (stop - start) // 4 * 4
    for i in range(start, blocked, 4):
        w0, w1, w2, w3 = weights[i], weights[i + 1], weights[i + 2], weights[i + 3]
        for j in range(matrix.shape[1]):
            out[j] += w0 * matrix[i, j] + w1 * matrix[i + 1, j] + w2 * matrix[i + 2, j] + w3 * matrix[i + 3, j]
    for i in range(blocked, stop):
        weight = weights[i]
        for j in range(matrix.shape[1]):
            out[j] += weight * matrix[i, j]
    return out


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def row_products_many_kernel(matrix, weights, out, start, stop):
    """out_ic = sum_j matrix_ij weights_cj for each of the k rows of ``weights`` (k, m)."""
    for i in range(start, stop):
        row = matrix[i]
        for c in range(weights.shape[0]):
            total = 0.0
            for j in range(row.shape[0]):
                total += row[j] * weights[c, j]
            out[i, c] = total


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def column_products_many_kernel(matrix, weights, start, stop):
    """sum_i weights_ci matrix_ij over the rows start..stop, shape (k, m), for each of the k rows
    of ``weights`` (k, n); in order: the same bits every call."""
    out = np.zeros((weights.shape[0], matrix.shape[1]))
    for i in range(start, stop):
        row = matrix[i]
        for c in range(weights.shape[0]):
            weight = weights[c, i]
            if weight != 0.0:
                for j in range(row.shape[0]):
                    out[c, j] += weight * row[j]
    return out


@njit(fastmath=FASTMATH, cache=True, nogil=True, error_model="numpy")
def plan_moments_kernel(matrix, alpha, beta, row_sums, row_entropies, start, stop):
    """For rows start..stop: row_sums_i = sum_j K_ij beta_j, row_entropies_i = sum_j K_ij beta_j
    log K_ij (0 log 0 = 0); returns sum_i alpha_i K_ij over these rows. One pass over K."""
    m = matrix.shape[1]
    columns = np.zeros(m)
    fractions = np.empty(m, dtype=np.int64)
    exponents = np.empty(m, dtype=np.int64)
    fraction_values, exponent_values = fractions.view(np.float64), exponents.view(np.float64)
    for i in range(start, stop):
        row = matrix[i]
        split_floats(row, fractions, exponents)
        total = 0.0
        entropy = 0.0
        for j in range(m):
            weighted = row[j] * beta[j]
            total += weighted
            entropy += weighted * _log_from_parts(fraction_values[j], exponent_values[j])
        row_sums[i] = total
        row_entropies[i] = entropy
        weight = alpha[i]
        for j in range(m):
            columns[j] += weight * row[j]
    return columns


def summed_over_row_chunks(partial, n_rows, pairs_per_row):
    """The sum of the arrays ``partial(start, stop)`` over row chunks on the kernel threads,
    added in row order: the same bits every call."""
    parts = {}
    run_chunks(lambda start, stop: parts.__setitem__(start, partial(start, stop)), n_rows, pairs_per_row)
    return np.sum([parts[start] for start in sorted(parts)], axis=0)


def scaled_exponentials(values):
    """(e^(values - s), s) with s = max(values), entries below FLOOR zero; None when s is not finite."""
    top = float(values.max())
    if not math.isfinite(top):
        return None
    weights = np.exp(values - top)
    weights[weights < FLOOR] = 0.0
    return weights, top


class StoredKernel:
    """K_ij = exp((u_i + v_j - C_ij) / eps) with its potentials (see the module docstring).

    Parameters
    ----------
    logits : ndarray of shape (n, m)
        ``r_i + k_j - C_ij`` for offsets ``r`` (rows) and ``k`` (columns); overwritten by K.
    row_offsets, column_offsets : ndarray
        ``r`` and ``k``, finite.
    eps : float
    column_max : ndarray of shape (m,), optional
        The column maxima of ``logits``: the columns of K get their largest entry 1; without
        them, the rows do.

    Attributes
    ----------
    first_softmin : ndarray
        The soft-min of the offsets along the normalised side: of ``k`` for each row
        (normalised rows) or of ``r`` for each column, from the sums of the build.
    """

    def __init__(self, logits, row_offsets, column_offsets, eps, column_max=None):
        self.eps = eps
        n, m = logits.shape
        if column_max is None:
            row_max, row_sums = np.empty(n), np.empty(n)
            run_chunks(lambda start, stop: exponentiate_rows_kernel(logits, 1.0 / eps, row_max, row_sums, start,
                                                                    stop), n, m)
            self.row_potential, self.column_potential = row_offsets - row_max, column_offsets
            self.first_softmin = self.row_potential - eps * np.log(row_sums)
        else:
            column_sums = summed_over_row_chunks(
                lambda start, stop: exponentiate_columns_kernel(logits, 1.0 / eps, column_max, start, stop), n, m)
            self.row_potential, self.column_potential = row_offsets, column_offsets - column_max
            self.first_softmin = self.column_potential - eps * np.log(column_sums)
        self.matrix = logits

    def products(self, weights, axis):
        """``K @ weights`` (axis=1) or ``K.T @ weights`` (axis=0), on the kernel threads."""
        n, m = self.matrix.shape
        if axis == 1:
            out = np.empty(n)
            run_chunks(lambda start, stop: row_products_kernel(self.matrix, weights, out, start, stop), n,
                       PRODUCT_WORK * m)
            return out
        return summed_over_row_chunks(lambda start, stop: column_products_kernel(self.matrix, weights, start, stop),
                                      n, PRODUCT_WORK * m)

    def _scaled(self, h, axis):
        """(e^(t - s), s) for ``h`` along ``axis`` (module docstring), or None."""
        offsets = self.column_potential if axis == 1 else self.row_potential
        with np.errstate(invalid="ignore"):  # NaN in h: refused by the sums
            return scaled_exponentials((h - offsets) / self.eps)

    @staticmethod
    def _resolved(sums, weights):
        """Whether the sums of the weighted kernel resolve the soft-min (module docstring)."""
        return sums.min() >= RESOLVED_SUM * weights.shape[0]

    def _weights(self, h, axis):
        """(e^(t - s), s, sums of the weighted kernel, own potential) for ``h`` along ``axis``, or
        None where the sums do not resolve the soft-min."""
        scaled = self._scaled(h, axis)
        if scaled is None:
            return None
        weights, top = scaled
        sums = self.products(weights, axis)
        if not self._resolved(sums, weights):
            return None
        return weights, top, sums, self.row_potential if axis == 1 else self.column_potential

    def softmin(self, h, axis):
        """``-eps log sum exp((h - C) / eps)`` along ``axis``, or None where K cannot resolve it."""
        found = self._weights(h, axis)
        if found is None:
            return None
        _, top, sums, own = found
        return own - self.eps * (top + np.log(sums))

    def _many_products(self, weights, axis):
        """``K @ weights.T`` (axis=1) or ``K.T @ weights.T`` (axis=0) for ``weights`` (k, len), one
        pass over K, on the kernel threads: shape (rows, k)."""
        n, m = self.matrix.shape
        work = PRODUCT_WORK * m * weights.shape[0]
        if axis == 1:
            out = np.empty((n, weights.shape[0]))
            run_chunks(lambda start, stop: row_products_many_kernel(self.matrix, weights, out, start, stop), n, work)
            return out
        return summed_over_row_chunks(
            lambda start, stop: column_products_many_kernel(self.matrix, weights, start, stop), n, work).T

    def barycentric_map(self, h, points, axis):
        """Soft-argmin averages of ``points`` (the other side's, or any values per point; float64)
        along ``axis``, or None: ``K @ (w points) / (K @ w)``, in one compiled pass for a few
        values per point, else BLAS products of row chunks on the kernel threads."""
        if points.shape[1] <= FUSED_MAX_VALUES:
            scaled = self._scaled(h, axis)
            if scaled is None:
                return None
            weights = scaled[0]
            # Rows of C-contiguous memory: the kernel's loops vectorise along them.
            stacked = np.empty((points.shape[1] + 1, weights.shape[0]))
            np.multiply(points.T, weights, out=stacked[:-1])
            stacked[-1] = weights
            sums = self._many_products(stacked, axis)
            if not self._resolved(sums[:, -1], weights):
                return None
            return sums[:, :-1] / sums[:, -1:]
        found = self._weights(h, axis)
        if found is None:
            return None
        weights, _, sums, _ = found
        weighted = points * weights[:, None]
        matrix = self.matrix if axis == 1 else self.matrix.T
        out = np.empty((matrix.shape[0], points.shape[1]))
        with one_blas_thread():
            run_chunks(lambda start, stop: np.matmul(matrix[start:stop], weighted, out=out[start:stop]),
                       matrix.shape[0], PRODUCT_WORK * matrix.shape[1] * points.shape[1])
        return out / sums[:, None]

    def plan_scalings(self, hf, hg):
        """(alpha, beta, log_scale) with P = e^log_scale diag(alpha) K diag(beta) the plan of
        ``hf``, ``hg``; None when the scalings span more than float64 resolves (module docstring)."""
        scalings = []
        for h, offsets in ((hf, self.row_potential), (hg, self.column_potential)):
            values = (h - offsets) / self.eps
            scaled = scaled_exponentials(values)
            finite = values[np.isfinite(values)]
            if scaled is None or finite.min() - scaled[1] < -PLAN_SPAN:
                return None
            scalings.append(scaled)
        (alpha, top_f), (beta, top_g) = scalings
        n, m = self.matrix.shape
        # Entries of K left out weigh FLOOR at most: negligible next to a plan of mass about 1.
        if top_f + top_g > -LOG_FLOOR + math.log(np.finfo(np.float64).eps / (n * m)):
            return None
        return alpha, beta, top_f + top_g

    def plan_cost(self, alpha, beta, log_scale):
        """<C, P> for P = e^log_scale diag(alpha) K diag(beta), from K alone: C_ij = u_i + v_j
        - eps log K_ij, so <C, P> = e^log_scale (<alpha u, K beta> + <beta v, K^T alpha>
        - eps sum_ij alpha_i beta_j K_ij log K_ij), one pass over K."""
        n, m = self.matrix.shape
        row_sums, row_entropies = np.empty(n), np.empty(n)
        column_sums = summed_over_row_chunks(lambda start, stop: plan_moments_kernel(
            self.matrix, alpha, beta, row_sums, row_entropies, start, stop), n, m)
        total = ((alpha * self.row_potential) @ row_sums + (beta * self.column_potential) @ column_sums
                 - self.eps * (alpha @ row_entropies))
        return float(math.exp(log_scale) * total)


class CostMatrixGeometry(Geometry):
    """Geometry of a given dense cost matrix (no points), its soft-mins products with a stored
    kernel at each eps (as the online geometry's below its memory budget), the rest dense.

    For solvers whose costs are no distances of points: the linearised costs of
    class-regularised OT, JDOT's joint costs. Soft-mins of potentials with -inf entries
    (zero weights), or that the kernel cannot resolve at double precision and that a kernel
    rebuilt around them could not either, take the dense reference's log-sum-exp.
    """

    provides = frozenset({"softmin", "plan", "plan_cost", "median"})

    def __init__(self, cost):
        self.cost = np.ascontiguousarray(cost, dtype=np.float64)
        self._reference = DenseGeometry.from_cost_matrix(self.cost)
        super().__init__(self._reference.x, self._reference.y, None)
        self._kernel = None

    def clear_cache(self):
        self._kernel = None

    def softmin(self, h, eps, axis):
        h, eps = np.ascontiguousarray(h, dtype=np.float64), float(eps)
        kernel = self._kernel if self._kernel is not None and self._kernel.eps == eps else None
        out = None if kernel is None else kernel.softmin(h, axis)
        if out is None and np.all(np.isfinite(h)):
            self._kernel = None  # freed before its successor is allocated
            row_offsets, column_offsets = (np.zeros(self.shape[0]), h) if axis == 1 else (h, np.zeros(self.shape[1]))
            logits = row_offsets[:, None] + column_offsets[None, :] - self.cost
            self._kernel = StoredKernel(logits, row_offsets, column_offsets, eps,
                                        logits.max(axis=0) if axis == 0 else None)
            out = self._kernel.first_softmin
        return out if out is not None else self._reference.softmin(h, eps, axis)

    def plan(self, hf, hg, eps):
        hf, hg = np.ascontiguousarray(hf, dtype=np.float64), np.ascontiguousarray(hg, dtype=np.float64)
        out = np.empty(self.shape)
        run_chunks(lambda start, stop: plan_from_cost_kernel(self.cost, hf, hg, float(eps), out, start, stop),
                   self.shape[0], self.shape[1])
        return out

    def plan_cost(self, hf, hg, eps):
        return self._reference.plan_cost(hf, hg, eps)

    def cost_statistic(self, kind, a, b):
        if kind != "median":
            return self._reference.cost_statistic(kind, a, b)
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        kept = np.ix_(a > 0, b > 0)
        return weighted_median(self.cost[kept].ravel(), np.outer(a[a > 0], b[b > 0]).ravel())
