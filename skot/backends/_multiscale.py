"""Block-sparse kernels for squared Euclidean costs in dimension 1 to 3 (multiscale Sinkhorn).

A :class:`BlockCloud` sorts points into the leaves of a k-d tree (stored contiguously,
consecutive leaves make a block). A soft-min over one cloud, for each block J of outputs,
bounds ``h_i - |x_i - y|^2`` over every input block I and the box of J by ``U_IJ``, then sums
the input blocks from the largest bound down, one eps-wide bucket at a time, and stops as
soon as the bounded mass of the blocks left, sum |I| exp(U_IJ / eps), is at most ``budget``
times the smallest partial sum over J, a certified lower bound on every full sum. It returns
a bound on the relative mass it neglected:

    neglected_j <= sum over skipped I of |I| exp((U_IJ - S_j) / eps),
    S_j = eps log sum over visited i of exp((h_i - |x_i - y_j|^2) / eps).

The bound: with c the centre and r the radius of block I, p_i = x_i - c, a slope beta fitted
to phi_i = h_i - |p_i|^2 by least squares and A = max_i (phi_i - <beta, p_i>),

    h_i - |x_i - y|^2 = phi_i - 2 <p_i, c - y> - |c - y|^2 <= A + r |beta - 2 (c - y)| - |c - y|^2,

which is tight near the transport map (where beta ~ 2 (c - y)); over the box of J, the
middle term is at most r (|beta - 2 (c - c_J)| + 2 r_J) and |c - y| at least the distance
from c to the box.
"""

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ._base import Geometry
from ._numba import CUTOFF, FASTMATH, _exp_nonpositive
from ._threads import run_chunks

MAX_DIM = 3
# Bounds are bucketed by whole eps below the largest, down to N_LEVELS.
N_LEVELS = 64
# A column sum below this (its largest term over 30 eps under the bound, or terms clamped at
# exp(-CUTOFF) dominating) is recomputed below its exact maximum.
UNDERFLOW_GUARD = math.exp(-0.5 * CUTOFF)
# A block d eps below the top bound weighs at most exp(-d) of it: bounded from a table by
# exp(-k / MASS_STEPS), k = floor(d MASS_STEPS), no exponential per pair of blocks.
MASS_STEPS = 4
MASS_BOUNDS = np.exp(-np.arange(700 * MASS_STEPS) / MASS_STEPS)


@dataclass(frozen=True)
class BlockCloud:
    """Points sorted into the blocks of a k-d tree.

    Attributes
    ----------
    coordinates : ndarray of shape (3, n)
        Sorted points, one row per coordinate (zero rows pad d < 3).
    order : ndarray of shape (n,)
        ``coordinates[:, k]`` is input row ``order[k]``.
    starts : ndarray of shape (n_blocks + 1,)
        Block ``I`` holds sorted points ``starts[I]:starts[I + 1]``.
    leaf_starts : ndarray of shape (n_leaves + 1,)
        The k-d tree's leaves, finer than the blocks (consecutive leaves make a block).
    lower, upper : ndarray of shape (n_blocks, 3)
        Bounding boxes of the blocks.
    centres : ndarray of shape (n_blocks, 3)
        Box centres.
    radii : ndarray of shape (n_blocks,)
        Largest distance from a block's centre to its points.
    dim : int
        Dimension of the points (coordinates ``dim:`` are padding).
    """

    coordinates: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    leaf_starts: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    centres: np.ndarray
    radii: np.ndarray
    dim: int

    @property
    def n_blocks(self):
        return self.starts.shape[0] - 1

    def sorted_points(self, dim):
        """The sorted points, shape (n, dim)."""
        return np.ascontiguousarray(self.coordinates[:dim].T)

    def leaf_means(self, weights):
        """Weighted mean point (3, n_leaves) and total weight of each leaf (weights sorted)."""
        totals = np.add.reduceat(weights, self.leaf_starts[:-1])
        sums = np.add.reduceat(self.coordinates * weights, self.leaf_starts[:-1], axis=1)
        return sums / totals, totals


def block_cloud(points, leaf_size, leaves_per_block=1):
    """Sort ``points`` (n, d <= 3) into the leaves of a k-d tree of ``leaf_size`` points at most.

    Each split halves a set of points at the median of its widest coordinate, so leaves
    are small where the points are dense and come out in spatial order; blocks are runs of
    ``leaves_per_block`` consecutive leaves (siblings in a balanced tree).
    """
    n, dim = points.shape
    if dim > MAX_DIM:
        raise ValueError(f"Block clouds are for dimension <= {MAX_DIM}, got {dim}.")
    coordinates = np.zeros((MAX_DIM, n))
    coordinates[:dim] = points.T
    order, leaf_starts = _kd_leaves(coordinates, max(int(leaf_size), 1))
    starts = np.r_[leaf_starts[:-1:leaves_per_block], n]
    coordinates = np.ascontiguousarray(coordinates[:, order])
    lower = np.minimum.reduceat(coordinates, starts[:-1], axis=1).T.copy()
    upper = np.maximum.reduceat(coordinates, starts[:-1], axis=1).T.copy()
    centres = 0.5 * (lower + upper)
    offsets = coordinates - np.repeat(centres.T, np.diff(starts), axis=1)
    radii = np.sqrt(np.maximum.reduceat((offsets**2).sum(axis=0), starts[:-1]))
    return BlockCloud(coordinates, order, starts, leaf_starts, lower, upper, centres, radii, dim)


@njit(cache=True)
def _kd_leaves(coordinates, leaf_size):
    """Row order and leaf starts of a median-split k-d tree (leaves in depth-first order)."""
    n = coordinates.shape[1]
    order = np.arange(n)
    leaf_starts = []
    stack = [(0, n)]
    while len(stack) > 0:
        start, stop = stack.pop()
        if stop - start <= leaf_size:
            leaf_starts.append(start)
            continue
        segment = order[start:stop].copy()
        widest, best = 0, -1.0
        for k in range(MAX_DIM):
            values = coordinates[k, segment]
            extent = values.max() - values.min()
            if extent > best:
                widest, best = k, extent
        middle = (start + stop) // 2
        order[start:stop] = segment[np.argpartition(coordinates[widest, segment], middle - start)]
        stack.append((middle, stop))
        stack.append((start, middle))
    leaf_starts.append(n)
    return order, np.array(leaf_starts, dtype=np.int64)


@njit(cache=True, nogil=True)
def _block_models(coordinates, h, starts, centres, slopes, offsets, peaks, first, last):
    """Per block from ``first`` to ``last``: least-squares slope of phi_i = h_i - |p_i|^2 on
    p_i, A (module docstring) and max h."""
    for block in range(first, last):
        start, stop = starts[block], starts[block + 1]
        count = stop - start
        mean_p = np.zeros(MAX_DIM)
        mean_phi = 0.0
        for i in range(start, stop):
            norm2 = 0.0
            for k in range(MAX_DIM):
                p = coordinates[k, i] - centres[block, k]
                mean_p[k] += p
                norm2 += p * p
            mean_phi += h[i] - norm2
        mean_p /= count
        mean_phi /= count
        gram = np.zeros((MAX_DIM, MAX_DIM))
        moment = np.zeros(MAX_DIM)
        for i in range(start, stop):
            norm2 = 0.0
            centred = np.empty(MAX_DIM)
            for k in range(MAX_DIM):
                p = coordinates[k, i] - centres[block, k]
                norm2 += p * p
                centred[k] = p - mean_p[k]
            phi = h[i] - norm2 - mean_phi
            for k in range(MAX_DIM):
                moment[k] += centred[k] * phi
                for l in range(MAX_DIM):
                    gram[k, l] += centred[k] * centred[l]
        slope = _solve_ridge(gram, moment)
        top = -np.inf
        peak = -np.inf
        for i in range(start, stop):
            peak = max(peak, h[i])
            value = h[i]
            for k in range(MAX_DIM):
                p = coordinates[k, i] - centres[block, k]
                value -= p * p + slope[k] * p
            top = max(top, value)
        slopes[block] = slope
        offsets[block] = top
        peaks[block] = peak


@njit(cache=True)
def _solve_ridge(gram, moment):
    """(gram + ridge I)^-1 moment by Cholesky; directions of no spread get slope 0."""
    size = gram.shape[0]
    ridge = 1e-12 * (np.trace(gram) + 1e-300)
    lower = np.zeros((size, size))
    for k in range(size):
        for l in range(k + 1):
            total = gram[k, l] + (ridge if k == l else 0.0)
            for t in range(l):
                total -= lower[k, t] * lower[l, t]
            lower[k, l] = math.sqrt(max(total, 1e-300)) if k == l else total / lower[l, l]
    solution = moment.copy()
    for k in range(size):
        for t in range(k):
            solution[k] -= lower[k, t] * solution[t]
        solution[k] /= lower[k, k]
    for k in range(size - 1, -1, -1):
        for t in range(k + 1, size):
            solution[k] -= lower[t, k] * solution[t]
        solution[k] /= lower[k, k]
    return solution


@njit(inline="always")
def _pair_bound(source_lower, source_upper, radius, slope, offset, peak, lower, upper, centre,
                target_radius):
    """U_IJ: upper bound on h_i - |x_i - y|^2 over block I and the box of block J.

    The smaller of the linear-model bound (module docstring) and max_I h - dist^2(boxes).
    """
    gap2 = 0.0
    box_gap2 = 0.0
    tilt2 = 0.0
    for k in range(MAX_DIM):
        c = 0.5 * (source_lower[k] + source_upper[k])
        gap = max(lower[k] - c, 0.0, c - upper[k])
        gap2 += gap * gap
        box_gap = max(lower[k] - source_upper[k], 0.0, source_lower[k] - upper[k])
        box_gap2 += box_gap * box_gap
        tilt = slope[k] - 2.0 * (c - centre[k])
        tilt2 += tilt * tilt
    return min(offset + radius * (math.sqrt(tilt2) + 2.0 * target_radius) - gap2, peak - box_gap2)


@njit(inline="always", fastmath=FASTMATH)
def _squared_distance(x0, x1, x2, i, y0, y1, y2, dim):
    d0 = x0[i] - y0
    if dim == 1:
        return d0 * d0
    d1 = x1[i] - y1
    if dim == 2:
        return d0 * d0 + d1 * d1
    d2 = x2[i] - y2
    return d0 * d0 + d1 * d1 + d2 * d2


@njit(fastmath=FASTMATH, cache=True)
def _run_sum(coordinates, h, start, stop, y0, y1, y2, shift, inv_eps, dim, with_cost):
    """sum over i in [start, stop) of w_i = exp((h_i - |x_i - y|^2 - shift) / eps), vectorised,
    and (``with_cost``) of w_i |x_i - y|^2.

    The loops run over views from 0 to their length, so numba knows the indices are not
    negative and emits contiguous vector loads (a runtime start halves the speed); the
    branches on ``dim`` and ``with_cost`` are hoisted out of the loop by the compiler.
    """
    x0, x1, x2, values = coordinates[0, start:stop], coordinates[1, start:stop], coordinates[2, start:stop], h[start:stop]
    total = 0.0
    cost_total = 0.0
    for i in range(values.shape[0]):
        cost = _squared_distance(x0, x1, x2, i, y0, y1, y2, dim)
        exponent = (values[i] - cost - shift) * inv_eps
        # Terms below exp(-CUTOFF) count as 0, not as the clamped exp(-CUTOFF): the sum may lie
        # up to exp(-30) below the shift, where clamped terms would no longer be negligible.
        weight = _exp_nonpositive(max(min(exponent, 0.0), -CUTOFF)) if exponent > -CUTOFF else 0.0
        total += weight
        if with_cost:
            cost_total += weight * cost
    return total, cost_total


@njit(inline="always")
def _blocks_sum(coordinates, h, starts, blocks, y0, y1, y2, shift, inv_eps, dim, with_cost):
    """:func:`_run_sum` over the listed blocks, consecutive blocks merged into one run."""
    total = 0.0
    cost_total = 0.0
    k = 0
    while k < blocks.shape[0]:
        first = starts[blocks[k]]
        last = starts[blocks[k] + 1]
        k += 1
        while k < blocks.shape[0] and starts[blocks[k]] == last:
            last = starts[blocks[k] + 1]
            k += 1
        run_total, run_cost = _run_sum(coordinates, h, first, last, y0, y1, y2, shift, inv_eps, dim, with_cost)
        total += run_total
        cost_total += run_cost
    return total, cost_total


@njit(inline="always")
def _add_blocks(source, h, source_starts, blocks, target, start, stop, shift, inv_eps, dim, with_cost, totals,
                cost_totals):
    """Add the sums over the listed source blocks to those of target points start:stop."""
    if blocks.shape[0] == 0:
        return
    for j in range(start, stop):
        total, cost_total = _blocks_sum(source, h, source_starts, blocks, target[0, j], target[1, j], target[2, j],
                                        shift, inv_eps, dim, with_cost)
        totals[j - start] += total
        cost_totals[j - start] += cost_total


@njit(cache=True)
def _blocks_max(coordinates, h, starts, blocks, y0, y1, y2):
    """max over the listed blocks of h_i - |x_i - y|^2."""
    top = -np.inf
    for block in blocks:
        for i in range(starts[block], starts[block + 1]):
            d0 = coordinates[0, i] - y0
            d1 = coordinates[1, i] - y1
            d2 = coordinates[2, i] - y2
            top = max(top, h[i] - (d0 * d0 + d1 * d1 + d2 * d2))
    return top


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def block_softmin_kernel(source, h, source_starts, source_lower, source_upper, source_radii, slopes,
                         offsets, peaks, target, target_starts, target_lower, target_upper, target_centres,
                         target_radii, eps, budget, dim, with_cost, out, costs, neglected, visited, first, last):
    """out_j = -eps log sum_i exp((h_i - |x_i - y_j|^2) / eps) over visited blocks, and
    (``with_cost``) costs_j = the softmax_i-weighted mean of |x_i - y_j|^2.

    Per target block J, the source blocks are bucketed by whole eps below the largest bound
    and summed bucket by bucket, from the top, until the bounded mass of the buckets left is
    at most ``budget`` times the smallest partial sum over J (a certified lower bound on
    every full sum). ``neglected[j]`` bounds the skipped terms relative to the visited ones
    (module docstring); ``visited[J]`` counts the pairs computed for target block J. Target
    blocks ``first`` to ``last``.
    """
    inv_eps = 1.0 / eps
    n_source = source_starts.shape[0] - 1
    for block in range(first, last):
        start, stop = target_starts[block], target_starts[block + 1]
        bounds = np.empty(n_source)
        top = -np.inf
        for source_block in range(n_source):
            bound = _pair_bound(source_lower[source_block], source_upper[source_block],
                                source_radii[source_block], slopes[source_block], offsets[source_block],
                                peaks[source_block], target_lower[block],
                                target_upper[block], target_centres[block], target_radii[block])
            bounds[source_block] = bound
            top = max(top, bound)
        # Counting sort of the source blocks by depth below top (index order kept within a
        # bucket, so neighbours merge into runs), and the bounded mass of each bucket and below.
        buckets = np.empty(n_source, dtype=np.int64)
        level_starts = np.zeros(N_LEVELS + 1, dtype=np.int64)
        tails = np.zeros(N_LEVELS + 1)
        for source_block in range(n_source):
            depth = (top - bounds[source_block]) * inv_eps
            if not depth < 700.0:  # (also a NaN: never an index out of the tables)
                depth = 700.0
            level = min(int(depth), N_LEVELS - 1)
            buckets[source_block] = level
            level_starts[level + 1] += 1
            count = source_starts[source_block + 1] - source_starts[source_block]
            step = min(int(depth * MASS_STEPS), MASS_BOUNDS.shape[0] - 1)
            tails[level] += count * MASS_BOUNDS[step]
        for level in range(N_LEVELS - 1, -1, -1):
            tails[level] += tails[level + 1]
        for level in range(N_LEVELS):
            level_starts[level + 1] += level_starts[level]
        ordered = np.empty(n_source, dtype=np.int64)
        filled = level_starts[:-1].copy()
        for source_block in range(n_source):
            ordered[filled[buckets[source_block]]] = source_block
            filled[buckets[source_block]] += 1
        totals = np.zeros(stop - start)
        cost_totals = np.zeros(stop - start)
        # The top bucket first: its partial sums bound every full sum from below, which sets
        # the floor; then every bucket above the floor in one pass over the blocks in index
        # order (long runs of consecutive blocks).
        n_kept = level_starts[1]
        _add_blocks(source, h, source_starts, ordered[:n_kept], target, start, stop, top, inv_eps, dim, with_cost,
                    totals, cost_totals)
        floor = 1
        while floor < N_LEVELS and tails[floor] > budget * totals.min():
            floor += 1
        kept_blocks = np.empty(n_source, dtype=np.int64)
        kept_blocks[:n_kept] = ordered[:n_kept]
        for source_block in range(n_source):
            if 1 <= buckets[source_block] < floor:
                kept_blocks[n_kept] = source_block
                n_kept += 1
        _add_blocks(source, h, source_starts, kept_blocks[level_starts[1]:n_kept], target, start, stop, top,
                    inv_eps, dim, with_cost, totals, cost_totals)
        kept_blocks = kept_blocks[:n_kept]
        lowest = np.inf
        for j in range(start, stop):
            total, cost_total, shift = totals[j - start], cost_totals[j - start], top
            if total < UNDERFLOW_GUARD:
                # The bounds overshot the largest term by over 30 eps: sum again below the
                # exact maximum of the visited terms.
                shift = _blocks_max(source, h, source_starts, kept_blocks, target[0, j], target[1, j],
                                    target[2, j])
                total, cost_total = _blocks_sum(source, h, source_starts, kept_blocks, target[0, j],
                                                target[1, j], target[2, j], shift, inv_eps, dim, with_cost)
            if with_cost:
                costs[j] = cost_total / total
            value = shift + eps * math.log(total)
            out[j] = -value
            lowest = min(lowest, value)
        skipped = tails[floor] * math.exp(min((top - lowest) * inv_eps, 700.0))
        for j in range(start, stop):
            neglected[j] = skipped
        kept = 0
        for source_block in kept_blocks:
            kept += source_starts[source_block + 1] - source_starts[source_block]
        visited[block] = kept * (stop - start)


class BlockSparseGeometry(Geometry):
    """Squared Euclidean geometry of two block clouds with truncated, certified soft-mins.

    Its points ``x``, ``y`` are the clouds' sorted points (``dim`` coordinates), and potentials
    and weights are in those orders. It provides what Sinkhorn needs, over the blocks that the
    truncation visits: the mass each skips is at most ``budget`` of the total. After each
    ``softmin`` call, ``last[axis]`` holds its output and the per-output bound on the relative
    mass skipped; ``pairs`` counts the cost entries computed so far.
    """

    provides = frozenset({"softmin", "plan_cost"})

    def __init__(self, x_cloud, y_cloud, budget):
        # (Views of the clouds' coordinates, not copies.)
        super().__init__(x_cloud.coordinates[:x_cloud.dim].T, y_cloud.coordinates[:y_cloud.dim].T, "sqeuclidean")
        self.clouds = (x_cloud, y_cloud)
        self.budget = float(budget)
        self.last = {0: None, 1: None}
        self.pairs = 0

    def softmin(self, h, eps, axis):
        """``-eps log sum_k exp((h_k - C) / eps)`` along ``axis``, over the visited blocks."""
        source, target = (self.clouds[1], self.clouds[0]) if axis == 1 else self.clouds
        out, (neglected, pairs) = reduce_blocks(source, h, target, eps, self.budget)
        self.last[axis] = (out, neglected)
        self.pairs += pairs
        return out

    def plan_cost(self, hf, hg, eps):
        """<C, P> for P_ij = exp((hf_i + hg_j - C_ij) / eps), over the visited blocks."""
        softmin, mean_costs, (_, pairs) = reduce_blocks(self.clouds[0], hf, self.clouds[1], eps, self.budget,
                                                        with_cost=True)
        self.pairs += pairs
        return float(np.exp((hg - softmin) / eps) @ mean_costs)


def reduce_blocks(source, h, target, eps, budget, with_cost=False):
    """Block-sparse soft-min of ``h`` on ``source`` at the points of ``target``.

    Returns ``(softmin, (neglected, pairs))``: per target point, the value and the bound on
    the relative mass skipped; and the number of cost entries computed. With ``with_cost``,
    ``(softmin, mean_costs, (neglected, pairs))``: also the softmax-weighted mean cost.
    """
    h = np.ascontiguousarray(h, dtype=np.float64)
    slopes = np.empty((source.n_blocks, MAX_DIM))
    offsets, peaks = np.empty(source.n_blocks), np.empty(source.n_blocks)
    n_source = source.coordinates.shape[1]
    run_chunks(lambda first, last: _block_models(source.coordinates, h, source.starts, source.centres, slopes,
                                                 offsets, peaks, first, last),
               source.n_blocks, n_source // source.n_blocks)
    n_target = target.coordinates.shape[1]
    out, neglected = np.empty(n_target), np.empty(n_target)
    costs = np.empty(n_target if with_cost else 0)
    visited = np.zeros(target.n_blocks, dtype=np.int64)
    # The work per target block is unknown before the truncation: at most every source point
    # for each of its points.
    run_chunks(lambda first, last: block_softmin_kernel(
        source.coordinates, h, source.starts, source.lower, source.upper, source.radii, slopes, offsets, peaks,
        target.coordinates, target.starts, target.lower, target.upper, target.centres, target.radii, float(eps),
        float(budget), source.dim, with_cost, out, costs, neglected, visited, first, last),
        target.n_blocks, n_source * n_target // target.n_blocks)
    accounting = (neglected, int(visited.sum()))
    return (out, costs, accounting) if with_cost else (out, accounting)
