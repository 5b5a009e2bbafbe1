"""Compiled kernels of the solvers (numba), beside the geometries' own in the backends.

Semi-discrete OT: averaged SGD on the semi-dual over BLAS products of sample chunks, the
Hessian of the soft semi-dual from sparse softmax rows, and groups of duplicate rows.
"""

import numpy as np
from numba import njit

from ..backends import max_threads, one_blas_thread
from ..backends._exp import CUTOFF, FASTMATH, _exp_nonpositive
from ..backends._numba import _float64
from ..backends._threads import at_once, in_background, run_chunks


@njit(cache=True)
def _duplicate_groups_kernel(x, order, first, group):
    """Along ``order``: group index of each row (consecutive equal rows share one), and the
    position in ``order`` of each group's first row; returns the number of groups."""
    count = 0
    for k in range(order.shape[0]):
        same = k > 0
        if same:
            for c in range(x.shape[1]):
                if x[order[k], c] != x[order[k - 1], c]:
                    same = False
                    break
        if not same:
            first[count] = k
            count += 1
        group[k] = count - 1
    return count


def duplicate_groups(x, order):
    """(first, group): consecutive equal rows of ``x`` along ``order`` form one group."""
    first = np.empty(len(order), dtype=np.int64)
    group = np.empty(len(order), dtype=np.int64)
    count = _duplicate_groups_kernel(np.ascontiguousarray(x), np.asarray(order, dtype=np.int64), first, group)
    return first[:count], group


@njit(inline="always", fastmath=FASTMATH)
def _add_cell_weights(products, i, offset, potential, log_b, eps, row, weights):
    """weights_j += softmax_j((g_j - c_ij) / eps + log b_j), or 1 for the hard cell at eps = 0."""
    top = -np.inf
    for j in range(row.shape[0]):
        value = potential[j] + offset[j] + 2.0 * products[i, j]
        row[j] = value
        top = max(top, value)
    if eps > 0:
        inv_eps = 1.0 / eps
        total = 0.0
        for j in range(row.shape[0]):
            weight = _exp_nonpositive(max((row[j] - top) * inv_eps + log_b[j], -CUTOFF))
            row[j] = weight
            total += weight
        inv_total = 1.0 / total
        for j in range(row.shape[0]):
            weights[j] += row[j] * inv_total
        return
    for j in range(row.shape[0]):
        if row[j] == top:
            weights[j] += 1.0
            return


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def semidual_sgd_kernel(products, offset, b, log_b, potential, average, step, batch_size, schedule):
    """Averaged SGD steps on the semi-dual, one per ``batch_size`` rows of ``products`` (the last may be short).

    Step t: eps_t = max(eps_min, eps0 t^-beta), g <- g - lr0 t^-alpha (mean_rows w - b) with w
    the (soft) cell weights of each row, average <- average + (g - average) / t.
    ``schedule = (lr0, alpha, eps0, beta, eps_min, t0)``: the average is over the iterates
    t > t0 (the first t0 steps are a burn-in). Updates in place; returns the last t.
    """
    lr0, alpha, eps0, beta, eps_min, burn_in = schedule
    m = b.shape[0]
    row = np.empty(m)
    weights = np.empty(m)
    for start in range(0, products.shape[0], batch_size):
        stop = min(start + batch_size, products.shape[0])
        step += 1
        eps = max(eps_min, eps0 / step ** beta)
        weights[:] = 0.0
        for i in range(start, stop):
            _add_cell_weights(products, i, offset, potential, log_b, eps, row, weights)
        rate = lr0 / step ** alpha
        for j in range(m):
            potential[j] -= rate * (weights[j] / (stop - start) - b[j])
            average[j] += (potential[j] - average[j]) / max(1.0, step - burn_in)
    return step


def semidual_sgd(chunks, points, b, potential, average, step, batch_size, schedule):
    """Run :func:`semidual_sgd_kernel` over an iterable of sample chunks (rows: draws).

    The BLAS products of the next chunk are computed on a second thread (one BLAS thread)
    while the compiled steps run on the current one, when two threads are allowed. Updates
    ``potential`` and ``average`` in place; returns the step count.
    """
    points = _float64(points)
    offset = -np.einsum("ij,ij->i", points, points)
    b = _float64(b)
    log_b = np.log(b)

    buffers = []

    def products_of(chunk, index):
        """Products of one chunk, in buffer ``index % 2`` (the other one is being read)."""
        if chunk is None:
            return None
        chunk = _float64(chunk)
        if len(buffers) <= index % 2 or buffers[index % 2].shape[0] < len(chunk):
            buffers[index % 2:index % 2 + 1] = [np.empty((len(chunk), len(points)))]
        return np.matmul(chunk, points.T, out=buffers[index % 2][:len(chunk)])

    chunks = iter(chunks)
    submit = in_background if max_threads() > 1 else at_once
    with one_blas_thread():
        index = 0
        pending = submit(products_of, next(chunks, None), index)
        while (products := pending.result()) is not None:
            index += 1
            pending = submit(products_of, next(chunks, None), index)
            step = semidual_sgd_kernel(products, offset, b, log_b, potential, average, step, batch_size,
                                       schedule)
    return step


@njit(cache=True)
def _softmax_hessian_kernel(weights, index, prob, out):
    """out += sum_i w_i (diag(p_i) - p_i p_i^T) over the listed entries of each row."""
    for i in range(index.shape[0]):
        for k in range(index.shape[1]):
            j = index[i, k]
            if j < 0:
                break
            mass = weights[i] * prob[i, k]
            out[j, j] += mass
            for l in range(index.shape[1]):
                other = index[i, l]
                if other < 0:
                    break
                out[j, other] -= mass * prob[i, l]


def softmax_hessian(weights, index, prob, m):
    """Dense ``sum_i w_i (diag(p_i) - p_i p_i^T)`` from sparse softmax rows (index -1 pads).

    The Hessian of the soft semi-dual (times eps); O(n K^2) work, m x m memory.
    """
    index, weights, prob = np.ascontiguousarray(index, dtype=np.int64), _float64(weights), _float64(prob)
    # The kernel reads weights[i], prob[i, k] and writes out[index, index]: shapes checked first.
    if index.ndim != 2 or prob.shape != index.shape or weights.shape != index.shape[:1]:
        raise ValueError(f"softmax_hessian needs index and prob of one shape (n, K) and n weights; got "
                         f"{index.shape}, {prob.shape} and {weights.shape}.")
    if index.size and index.max() >= m:
        raise ValueError(f"softmax indices reach {index.max()}, beyond the {m} columns.")
    out = np.zeros((m, m))
    _softmax_hessian_kernel(weights, index, prob, out)
    return out


@njit(cache=True, nogil=True)
def _mixture_entropy_rows(plan, direction, step, start, stop):
    total = 0.0
    for i in range(start, stop):
        for j in range(plan.shape[1]):
            x = plan[i, j] + step * direction[i, j]
            if x > 0.0:
                total += x * np.log(x)
    return total


def mixture_entropy(plan, direction, step):
    """sum_ij x log x for x = plan + step direction (0 log 0 = 0), in one pass without a
    temporary, rows on the kernel threads: the line searches of class-regularised OT evaluate
    it some 30 times a step."""
    parts = []  # list.append is atomic
    run_chunks(lambda start, stop: parts.append(_mixture_entropy_rows(plan, direction, float(step), start, stop)),
               plan.shape[0], plan.shape[1])
    return float(sum(parts))
