"""Network simplex for the transportation problem, costs from points or a matrix (compiled).

min <C, P> over P >= 0 with P 1 = a, P^T 1 = b. A basis is a spanning tree of the
bipartite graph of the n sources and m targets (n + m - 1 arcs, degenerate ones of zero
flow included); dual potentials u, v with u_i + v_j = C_ij on the tree make every basic
reduced cost zero, and the basis is optimal when ``C_ij - u_i - v_j >= -tol`` for every
pair. Costs are computed on the fly from the points (memory O(n + m)) or read from a dense
matrix.

Start: the north-west corner rule along an order of the sources and of the targets (a
spanning tree by construction; along the points sorted by a projection it is the optimal
plan of the projected problem, and in one dimension the optimal plan for every convex cost
of |x - y|). Pricing: block search, blocks of about sqrt(n m) pairs from where the last one
ended, the most negative reduced cost of the first block that has one entering. Leaving
arc: the last blocking arc of the cycle from its apex (Cunningham's rule), which keeps the
tree strongly feasible (every zero-flow arc points away from the root) and so rules out
cycling on degenerate problems. A pivot updates only the subtree that the leaving arc cuts
off (parents, depths, potentials shifted by one number). Certificate: when pricing finds
no entering pair, the potentials are recomputed from the tree and every pair's reduced
cost checked; the least one is returned.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .._progress import Progress
from ._costs import metric_of, pairwise_cost
from ._numba import _cost_from

# Points with at least this many coordinates are priced from their cost matrix (a cdist,
# then one read per pair) when it has at most STORED_COST_MAX_PAIRS entries (256 MiB):
# measured faster than recomputing d-term distances (docs/benchmarks.rst); O(n + m) beyond.
STORED_COST_MIN_DIM = 6
STORED_COST_MAX_PAIRS = 2**25
# With progress reporting, the simplex runs in pieces of this many pivots (a second or two
# at 20000 points a side), each resuming from the last basis.
PROGRESS_PIVOTS = 20000

# Pricing reads finite costs only: no NaN lets the minimum of a segment vectorise.
PRICING_MATH = {"nnan", "nsz", "contract"}


@njit(inline="always")
def _pair_cost(x, yt, i, j, dense, root, scale):
    """C_ij: ``x[i, j]`` when ``dense``, else |x_i - y_j|^2 (square-rooted, scaled)."""
    if dense:
        return x[i, j]
    last = x.shape[1] - 1
    partial = 0.0
    for k in range(last):
        diff = x[i, k] - yt[k, j]
        partial += diff * diff
    return _cost_from(partial, x[i, last], yt[last, j], root, scale)


@njit(cache=True, nogil=True, error_model="numpy")
def north_west_corner(a, b, order_a, order_b, tree_i, tree_j, flow):
    """The north-west corner basis along ``order_a``, ``order_b``.

    The tree is a path; on a tie (a source and a target exhausted together) it moves to the
    next target, so that each zero-flow arc leaves a source nearer the root (the first
    source): a strongly feasible tree.
    """
    n, m = a.shape[0], b.shape[0]
    supply, demand = a[order_a[0]], b[order_b[0]]
    s = t = 0
    for k in range(n + m - 1):
        if k > 0:
            # Next source when this one is exhausted and the target is not (or no target is
            # left), else next target: ties move to the next target.
            if (supply <= 0.0 < demand and s < n - 1) or t == m - 1:
                s += 1
                supply = a[order_a[s]]
            else:
                t += 1
                demand = b[order_b[t]]
        amount = min(supply, demand)
        tree_i[k], tree_j[k], flow[k] = order_a[s], order_b[t], amount
        supply -= amount
        demand -= amount


@njit(cache=True, nogil=True, error_model="numpy")
def _path_potentials(x, yt, dense, root, scale, tree_i, tree_j, w):
    """Potentials of a north-west corner basis, along its path (each arc adds one node)."""
    n = x.shape[0]
    for k in range(tree_i.shape[0]):
        i, j = tree_i[k], tree_j[k]
        c = _pair_cost(x, yt, i, j, dense, root, scale)
        if k == 0:
            w[i], w[n + j] = 0.0, -c
        elif i != tree_i[k - 1]:
            w[i] = c + w[n + j]
        else:
            w[n + j] = w[i] - c


@njit(cache=True, nogil=True, error_model="numpy")
def _root_tree(top, n, tree_i, tree_j, parent, parent_arc, thread, previous, size, last):
    """The tree of arcs ``tree_*`` hung from node ``top``: parents, the preorder as a cyclic
    list (``thread``, ``previous``), subtree sizes and each subtree's last node in preorder."""
    nodes = parent.shape[0]
    degree = np.zeros(nodes + 1, np.int64)
    for k in range(nodes - 1):
        degree[tree_i[k] + 1] += 1
        degree[n + tree_j[k] + 1] += 1
    start = np.cumsum(degree)
    fill = start[:-1].copy()
    incident = np.empty(2 * (nodes - 1), np.int64)
    for k in range(nodes - 1):
        for node in (tree_i[k], n + tree_j[k]):
            incident[fill[node]] = k
            fill[node] += 1
    order = np.empty(nodes, np.int64)
    stack = np.empty(nodes, np.int64)
    parent[top] = parent_arc[top] = -1
    stack[0] = top
    depth_first, count = 1, 0
    while depth_first > 0:
        depth_first -= 1
        node = stack[depth_first]
        order[count] = node
        count += 1
        for e in range(start[node], start[node + 1]):
            k = incident[e]
            if k != parent_arc[node]:
                other = tree_i[k] if node >= n else n + tree_j[k]
                parent[other], parent_arc[other] = node, k
                stack[depth_first] = other
                depth_first += 1
    for t in range(nodes):
        thread[order[t]] = order[(t + 1) % nodes]
        previous[order[(t + 1) % nodes]] = order[t]
        size[order[t]] = 1
    for t in range(nodes - 1, 0, -1):
        size[parent[order[t]]] += size[order[t]]
    for t in range(nodes):
        last[order[t]] = order[t + size[order[t]] - 1]


@njit(cache=True, nogil=True, error_model="numpy")
def _set_potentials(top, x, yt, dense, root, scale, n, tree_i, tree_j, parent_arc, thread, w):
    """Potentials from the tree's costs in preorder (parents first): ``C_ij - w_i + w_{n+j}
    = 0`` on every arc (``w_top = 0``; u = w on the sources, v = -w on the targets)."""
    w[top] = 0.0
    node = thread[top]
    while node != top:
        k = parent_arc[node]
        c = _pair_cost(x, yt, tree_i[k], tree_j[k], dense, root, scale)
        w[node] = c + w[n + tree_j[k]] if node < n else w[tree_i[k]] - c
        node = thread[node]


@njit(cache=True, nogil=True, error_model="numpy")
def _rehang(inner, outer, cut, new_arc, parent, parent_arc, thread, previous, size, last, stem, scratch):
    """Move the part cut off at ``cut`` below ``outer``, re-rooted at ``inner`` (its end of
    the entering arc ``new_arc``): the stem from inner up to cut reverses.

    In preorder the cut part is one run [cut .. last[cut]]. Re-rooted, it reads A_0, A_1,
    ..., A_k for the stem s_0 = inner, ..., s_k = cut, A_t being s_t and its old subtree
    without s_{t-1}'s: s_t, the run X before that subtree, the run Y after it. The new run
    goes right after outer. Sizes and last nodes change on the stem and on the ancestors of
    both ends. ``stem`` and ``scratch`` (3 x nodes) are work space.
    """
    k = 0
    stem[0] = inner
    while stem[k] != cut:
        stem[k + 1] = parent[stem[k]]
        k += 1
    # The old order around each stem node, read before any link changes.
    for t in range(1, k + 1):
        child = stem[t - 1]
        scratch[0, t] = previous[child]  # last of X (the node itself when X is empty)
        scratch[1, t] = thread[last[child]]  # first of Y (when Y is not empty)
        scratch[2, t] = last[stem[t]]
    moved = size[cut]
    # Out of the old order; the old ancestors lose the run.
    before, after, old_last = previous[cut], thread[last[cut]], last[cut]
    thread[before], previous[after] = after, before
    node = parent[cut]
    while node >= 0:
        size[node] -= moved
        if last[node] == old_last:
            last[node] = before
        node = parent[node]
    tail = last[inner]  # A_0: inner's whole old run
    below_size = size[inner]
    for t in range(1, k + 1):
        node, child = stem[t], stem[t - 1]
        x_last, y_first, node_last = scratch[0, t], scratch[1, t], scratch[2, t]
        has_x, has_y = x_last != node, last[child] != node_last
        if has_y:
            if has_x:
                thread[x_last], previous[y_first] = y_first, x_last
            else:
                thread[node], previous[y_first] = y_first, node
        thread[tail], previous[node] = node, tail
        tail = node_last if has_y else (x_last if has_x else node)
        own_size = size[node] - below_size
        below_size = size[node]
        size[node] = own_size
    for t in range(k - 1, -1, -1):
        size[stem[t]] += size[stem[t + 1]]
    for t in range(k + 1):
        last[stem[t]] = tail
    # Parents along the stem reverse; inner hangs from outer by the entering arc.
    upper, arc = outer, new_arc
    for t in range(k + 1):
        node = stem[t]
        old_arc = parent_arc[node]
        parent[node], parent_arc[node] = upper, arc
        upper, arc = node, old_arc
    # Into the new order right after outer; the new ancestors gain the run.
    after = thread[outer]
    thread[outer], previous[inner] = inner, outer
    thread[tail], previous[after] = after, tail
    extends = last[outer] == outer
    node = outer
    while node >= 0:
        size[node] += moved
        if extends and last[node] == outer:
            last[node] = tail
        else:
            extends = False
        node = parent[node]


@njit(cache=True, nogil=True, error_model="numpy")
def _shift_run(first, count, shift, thread, w):
    """w += shift on ``count`` nodes of the preorder from ``first`` (a subtree)."""
    node = first
    for _ in range(count):
        w[node] += shift
        node = thread[node]


@njit(inline="always", fastmath=PRICING_MATH)
def _reduced_segment(x, yt, dense, root, scale, i, start, stop, w_target, buf):
    """buf[:stop - start] = C_ij + w_{n+j} for j in [start, stop), vectorised along j;
    returns its minimum (the reduced costs plus w_i). The loops index views from 0, which
    numba knows non-negative (an offset index costs a wraparound test that blocks SIMD)."""
    width = stop - start
    w_j = w_target[start:stop]
    if dense:
        row = x[i, start:stop]
        for t in range(width):
            buf[t] = row[t] + w_j[t]
    elif x.shape[1] == 2 and not root and scale == 1.0:
        # The common plane case in one pass.
        x_0, x_1 = x[i, 0], x[i, 1]
        y_0, y_1 = yt[0, start:stop], yt[1, start:stop]
        for t in range(width):
            diff_0 = x_0 - y_0[t]
            diff_1 = x_1 - y_1[t]
            buf[t] = diff_0 * diff_0 + diff_1 * diff_1 + w_j[t]
    else:
        x_0 = x[i, 0]
        y_k = yt[0, start:stop]
        for t in range(width):
            diff = x_0 - y_k[t]
            buf[t] = diff * diff
        for k in range(1, x.shape[1]):
            x_k = x[i, k]
            y_k = yt[k, start:stop]
            for t in range(width):
                diff = x_k - y_k[t]
                buf[t] += diff * diff
        if root:
            for t in range(width):
                buf[t] = math.sqrt(buf[t])
        if scale != 1.0:
            for t in range(width):
                buf[t] *= scale
        for t in range(width):
            buf[t] += w_j[t]
    return _least(buf, width)


@njit(inline="always", fastmath=PRICING_MATH)
def _least(buf, width):
    """min(buf[:width]) with eight running minima: one is a chain of dependent
    comparisons that LLVM does not vectorise."""
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = np.inf
    full = width - width % 8
    for t in range(0, full, 8):
        l0, l1, l2, l3 = min(l0, buf[t]), min(l1, buf[t + 1]), min(l2, buf[t + 2]), min(l3, buf[t + 3])
        l4, l5, l6, l7 = min(l4, buf[t + 4]), min(l5, buf[t + 5]), min(l6, buf[t + 6]), min(l7, buf[t + 7])
    for t in range(full, width):
        l0 = min(l0, buf[t])
    return min(min(min(l0, l1), min(l2, l3)), min(min(l4, l5), min(l6, l7)))


@njit(cache=True, nogil=True, error_model="numpy", fastmath=PRICING_MATH)
def _entering(x, yt, dense, root, scale, w, threshold, block, position, buf):
    """Block search from ``position`` (a flat pair index) for a pair of reduced cost below
    ``threshold``: the most negative of the first block that has one. Returns (reduced, p,
    q, position) with p = -1 when no pair has one. Each row segment is priced in a buffer
    (vectorised); only a segment holding a new best is searched for its index."""
    m = buf.shape[0]
    n = w.shape[0] - m
    w_target = w[n:]
    pairs = n * m
    i, j = position // m, position % m
    best, p, q = threshold, -1, -1
    scanned = in_block = 0
    while scanned < pairs:
        stop = min(m, j + block - in_block, j + pairs - scanned)
        least = _reduced_segment(x, yt, dense, root, scale, i, j, stop, w_target, buf)
        if least - w[i] < best:
            best, p = least - w[i], i
            for t in range(stop - j):
                if buf[t] == least:
                    q = j + t
                    break
        scanned += stop - j
        in_block += stop - j
        j = stop
        if j == m:
            j = 0
            i = i + 1 if i + 1 < n else 0
        if in_block >= block:
            if p >= 0:
                break
            in_block = 0
    return best, p, q, i * m + j


@njit(cache=True, nogil=True, error_model="numpy")
def _cycle(p, q, parent, parent_arc, mark, stamp, path_arcs):
    """Tree arcs of the cycle closed by the pair (p, q) (node ids), in order from q: the q
    side in ``path_arcs[:count_q]``, the p side from ``path_arcs[-1]`` (next to p) down.
    The apex is the first node reached from both, climbing alternately (``mark``: the side
    that reached a node, stamps ``stamp`` for q and ``stamp + 1`` for p). Returns
    (count_q, count_p)."""
    mark[q], mark[p] = stamp, stamp + 1
    x, y = q, p
    while True:
        if parent[x] >= 0:
            x = parent[x]
            if mark[x] == stamp + 1:
                apex = x
                break
            mark[x] = stamp
        if parent[y] >= 0:
            y = parent[y]
            if mark[y] == stamp:
                apex = y
                break
            mark[y] = stamp + 1
    last = path_arcs.shape[0] - 1
    count_q = count_p = 0
    x = q
    while x != apex:
        path_arcs[count_q] = parent_arc[x]
        count_q += 1
        x = parent[x]
    y = p
    while y != apex:
        path_arcs[last - count_p] = parent_arc[y]
        count_p += 1
        y = parent[y]
    return count_q, count_p


@njit(cache=True, nogil=True, error_model="numpy")
def _push_around(flow, path_arcs, count_q, count_p):
    """Push the largest feasible amount theta around the cycle p -> q -> apex -> p.

    From q up to the apex and down to p the tree arcs alternate -, +, -, ... (the first and
    the last lose theta). The leaving arc is the last blocking one met from the apex along
    the cycle: on q's side the blocking arc nearest the apex, else on p's side the one
    nearest p. Returns (theta, the leaving arc, whether it lies on q's side).
    """
    last = path_arcs.shape[0] - 1
    length = count_q + count_p
    theta = np.inf
    leave = -1
    # p's side first (t = length - 1 is next to p), then q's side, each with <= so that
    # q's side wins ties, and within a side the arc met last from the apex.
    for t in range(length - 1, count_q - 1, -1):
        if (length - 1 - t) % 2 == 0:
            k = path_arcs[last - (length - 1 - t)]
            if flow[k] < theta:
                theta, leave = flow[k], k
    on_q_side = False
    for t in range(0, count_q, 2):
        k = path_arcs[t]
        if flow[k] <= theta:
            theta, leave, on_q_side = flow[k], k, True
    for t in range(length):
        k = path_arcs[t] if t < count_q else path_arcs[last - (length - 1 - t)]
        if t % 2 == 1:
            flow[k] += theta
        else:
            flow[k] -= theta
    return theta, leave, on_q_side


@njit(cache=True, nogil=True, error_model="numpy")
def simplex_kernel(x, yt, dense, root, scale, tol, max_iter, top, tree_i, tree_j, flow, w):
    """Optimal basis from the feasible one in ``tree_*``, ``flow`` (rooted at source
    ``top``); potentials into ``w`` (see :func:`_set_potentials`). Returns (pivots, least
    reduced cost over all pairs); pivots = -1 when ``max_iter`` pivots did not reach
    optimality.

    The tree is kept as parent pointers and its preorder (a cyclic list, with subtree sizes
    and last nodes), so that a subtree is a run of the list: a pivot shifts the potentials
    of the cut-off part by the entering reduced cost along its run and splices the run
    back (:func:`_rehang`), in time linear in the stem and the depth, not the part's size.
    """
    nodes, n = w.shape[0], x.shape[0]
    parent = np.empty(nodes, np.int64)
    parent_arc = np.empty(nodes, np.int64)
    thread = np.empty(nodes, np.int64)
    previous = np.empty(nodes, np.int64)
    size = np.empty(nodes, np.int64)
    last = np.empty(nodes, np.int64)
    stem = np.empty(nodes, np.int64)
    scratch = np.empty((3, nodes), np.int64)
    mark = np.full(nodes, -1, np.int64)
    path_arcs = np.empty(nodes, np.int64)
    buf = np.empty(nodes - n)
    _root_tree(top, n, tree_i, tree_j, parent, parent_arc, thread, previous, size, last)
    block = np.int64(max(64, int(math.sqrt(n * (nodes - n)))))
    position = np.int64(0)
    pivots = 0
    _set_potentials(top, x, yt, dense, root, scale, n, tree_i, tree_j, parent_arc, thread, w)
    exact_potentials = True
    while True:
        if not exact_potentials:
            # Potentials from the tree's costs (shifts accumulate rounding), then every pair.
            _set_potentials(top, x, yt, dense, root, scale, n, tree_i, tree_j, parent_arc, thread, w)
            best, p, q, _ = _entering(x, yt, dense, root, scale, w, np.inf, n * (nodes - n), np.int64(0), buf)
            if best >= -tol:
                return pivots, best
            exact_potentials = True
        else:
            best, p, q, position = _entering(x, yt, dense, root, scale, w, -tol, block, position, buf)
            if p < 0:
                exact_potentials = False
                continue
        if pivots == max_iter:
            return -1, best
        q += n
        count_q, count_p = _cycle(p, q, parent, parent_arc, mark, 2 * pivots, path_arcs)
        pivots += 1
        theta, leave, on_q_side = _push_around(flow, path_arcs, count_q, count_p)
        # The leaving arc's lower end heads the part cut off from the root, which hangs again
        # below the entering arc from its end inside (q or p).
        end = tree_i[leave]
        cut = end if parent_arc[end] == leave else n + tree_j[leave]
        inner = q if on_q_side else p
        # Entering reduced cost C_pq - w_p + w_q = best < 0 becomes 0: the cut part's
        # potentials rise by best when it holds p, fall by best when it holds q.
        _shift_run(cut, size[cut], best if inner == p else -best, thread, w)
        _rehang(inner, p if on_q_side else q, cut, leave, parent, parent_arc, thread, previous, size, last, stem,
                scratch)
        tree_i[leave], tree_j[leave], flow[leave] = p, q - n, theta


@njit(cache=True, nogil=True, error_model="numpy")
def _arc_costs(x, yt, dense, root, scale, rows, cols, out):
    for k in range(rows.shape[0]):
        out[k] = _pair_cost(x, yt, rows[k], cols[k], dense, root, scale)


@njit(cache=True, nogil=True, error_model="numpy")
def _c_transform(x, yt, dense, root, scale, rows, v, out):
    """``out[k] = min_j C_{rows[k], j} - v_j``: the dual potential of a row left out."""
    for k in range(rows.shape[0]):
        best = np.inf
        for j in range(v.shape[0]):
            best = min(best, _pair_cost(x, yt, rows[k], j, dense, root, scale) - v[j])
        out[k] = best


class SimplexSolution(NamedTuple):
    """An optimal basis: arcs ``(rows[k], cols[k])`` carrying ``flow[k]`` at ``arc_cost[k]``
    (n + m - 1 of them, zero flows included), potentials ``u``, ``v``, the pivots made, the
    least reduced cost over all pairs (None when optimal by sorting) and the ``basis`` that
    warm-starts a problem with the same weights."""

    rows: np.ndarray
    cols: np.ndarray
    flow: np.ndarray
    arc_cost: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pivots: int
    least_reduced: float | None
    basis: tuple


def _kernel_data(cost, x, y, metric):
    """(rows, transposed columns, dense, root, scale) for the compiled cost of a problem."""
    if cost is not None:
        return np.ascontiguousarray(cost, dtype=np.float64), np.empty((1, 1)), True, False, 1.0
    description = metric_of(metric)
    x = description.embed(np.asarray(x, dtype=np.float64), 0)
    y = description.embed(np.asarray(y, dtype=np.float64), 1)
    return np.ascontiguousarray(x), np.ascontiguousarray(y.T), False, description.root, float(description.scale)


def _principal_order(x, y):
    """Orders of ``x`` and ``y`` along the principal axis of all the points.

    einsum, not BLAS: these products are tiny, and a BLAS call wakes its thread pool, whose
    threads then spin beside the simplex."""
    centre = 0.5 * (x.mean(axis=0) + y.mean(axis=0))
    scatter = np.einsum("ij,ik->jk", x - centre, x - centre) + np.einsum("ij,ik->jk", y - centre, y - centre)
    axis = np.linalg.eigh(scatter)[1][:, -1]
    return (np.argsort(np.einsum("ij,j->i", x, axis), kind="stable"),
            np.argsort(np.einsum("ij,j->i", y, axis), kind="stable"))


def _cost_bound(data):
    """An upper bound of every cost, at most four times the largest (the tolerance's unit)."""
    x, yt, dense, root, scale = data
    if dense:
        return float(np.abs(x).max())
    centre = 0.5 * (x.mean(axis=0) + yt.mean(axis=1))
    reach = np.sqrt(((x - centre) ** 2).sum(axis=1).max()) + np.sqrt(((yt.T - centre) ** 2).sum(axis=1).max())
    return float(scale * (reach if root else reach**2))


def transport_simplex(a, b, cost=None, *, x=None, y=None, metric="sqeuclidean", basis=None, max_iter=None,
                      verbose=0):
    """Optimal plan of min <C, P> over P >= 0, P 1 = a, P^T 1 = b, as its basis.

    ``C`` is the dense ``cost`` matrix, or ``c(x_i, y_j)`` computed on the fly from the points
    (``metric`` "sqeuclidean", "euclidean" or "cosine"). Points start from the north-west
    corner along their principal axis; in one dimension, for "sqeuclidean" and "euclidean"
    (convex in |x - y|), that sorted plan is optimal and no pivot is made. Points with at
    least ``STORED_COST_MIN_DIM`` coordinates are priced from their cost matrix when it has
    at most ``STORED_COST_MAX_PAIRS`` entries.
    Rows and columns of zero weight are left out of the simplex; their potentials are
    c-transforms, which keep every reduced cost non-negative.

    Returns a :class:`SimplexSolution`; its potentials have ``C_ij - u_i - v_j >=
    least_reduced >= -4e-12 max C`` for every pair (equality on the basic arcs), and its
    basis starts a problem with the same weights and another cost (``basis=``). ``b`` is
    rescaled to the sum of ``a``. Raises a RuntimeError after ``max_iter`` pivots (default
    ``50 (n + m)^2``) without optimality. ``verbose``: the pivots made, through the
    ``"skot"`` logger.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    # The kernels index by these sizes: a mismatch would read outside the arrays.
    if cost is not None:
        given, fits = f"a cost of shape {np.shape(cost)}", np.shape(cost) == (a.size, b.size)
    else:
        shapes = np.shape(x), np.shape(y)
        given = f"points of shapes {shapes[0]} and {shapes[1]}"
        fits = len(shapes[0]) == len(shapes[1]) == 2 and shapes[0][1] == shapes[1][1] and (
            shapes[0][0], shapes[1][0]) == (a.size, b.size)
    if a.ndim != 1 or b.ndim != 1 or not fits:
        raise ValueError(f"transport_simplex needs weights a (n,) and b (m,) with a cost (n, m) or points "
                         f"(n, d) and (m, d); got weights {a.shape}, {b.shape} and {given}.")
    b = b * (a.sum() / b.sum())
    kept_a, kept_b = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    all_kept = len(kept_a) == len(a) and len(kept_b) == len(b)
    n, m = len(kept_a), len(kept_b)

    def kept(array, rows):
        return array if all_kept else array[rows]

    if cost is not None:
        data = _kernel_data(cost if all_kept else np.asarray(cost)[np.ix_(kept_a, kept_b)], None, None, metric)
    else:
        x_kept, y_kept = kept(np.asarray(x), kept_a), kept(np.asarray(y), kept_b)
        data = _kernel_data(None, x_kept, y_kept, metric)
        order_a, order_b = _principal_order(data[0], data[1].T)
        if data[0].shape[1] >= STORED_COST_MIN_DIM and n * m <= STORED_COST_MAX_PAIRS:
            data = _kernel_data(pairwise_cost(x_kept, y_kept, metric), None, None, metric)
    a_kept, b_kept = np.ascontiguousarray(kept(a, kept_a)), np.ascontiguousarray(kept(b, kept_b))
    size = n + m - 1
    sorted_1d = cost is None and np.asarray(x).shape[1] == 1 and metric_of(metric).embedding is None
    if basis is not None:
        tree_i, tree_j, flow, top = (np.copy(part) for part in basis)
    else:
        if cost is not None:
            order_a, order_b = np.arange(n), np.arange(m)
        tree_i, tree_j, flow = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size)
        north_west_corner(a_kept, b_kept, order_a, order_b, tree_i, tree_j, flow)
        top = order_a[0]
    w = np.empty(n + m)
    if sorted_1d and basis is None:
        _path_potentials(*data, tree_i, tree_j, w)
        pivots, least_reduced = 0, None
    else:
        tol = 1e-12 * max(_cost_bound(data), np.finfo(float).tiny)
        max_iter = 50 * (n + m) ** 2 if max_iter is None else int(max_iter)
        pivots, least_reduced = _pivot(data, tol, max_iter, top, tree_i, tree_j, flow, w, Progress("network simplex",
                                                                                                    verbose))
        least_reduced = float(least_reduced)
    u, v = w[:n], -w[n:]
    basis = (tree_i.copy(), tree_j.copy(), flow.copy(), top)
    arc_cost = np.empty(size)
    _arc_costs(*data, tree_i, tree_j, arc_cost)
    rows, cols = kept_a[tree_i], kept_b[tree_j]
    if not all_kept:
        u, v = _with_left_out_potentials(a, b, kept_a, kept_b, u, v, cost, x, y, metric)
    return SimplexSolution(rows, cols, flow, arc_cost, u, v, pivots, least_reduced, basis)


def _pivot(data, tol, max_iter, top, tree_i, tree_j, flow, w, progress):
    """:func:`simplex_kernel` to optimality; when ``progress`` reports, in runs of
    PROGRESS_PIVOTS pivots, each resuming from the basis the last one left."""
    run = max_iter if not progress.enabled else min(max_iter, PROGRESS_PIVOTS)
    done = 0
    while True:
        pivots, least_reduced = simplex_kernel(*data, tol, run, top, tree_i, tree_j, flow, w)
        if pivots >= 0:
            progress.done(done + pivots)
            return done + pivots, least_reduced
        done += run
        if done >= max_iter:
            raise RuntimeError(f"The network simplex made {max_iter} pivots without reaching an optimal basis.")
        progress(done, -float(least_reduced), note="pivots made; error: |the entering reduced cost|")
        run = min(run, max_iter - done)


def _with_left_out_potentials(a, b, kept_a, kept_b, u_kept, v_kept, cost, x, y, metric):
    """Full potentials: left-out rows get min over kept columns of C_ij - v_j, then left-out
    columns min over all rows of C_ij - u_i (so that no pair has a negative reduced cost)."""
    u, v = np.empty(len(a)), np.empty(len(b))
    u[kept_a], v[kept_b] = u_kept, v_kept
    left_a, left_b = np.flatnonzero(a <= 0), np.flatnonzero(b <= 0)
    if cost is not None:
        cost = np.asarray(cost, dtype=np.float64)
        rows_data = _kernel_data(cost[:, kept_b], None, None, metric)
        columns_data = _kernel_data(cost.T, None, None, metric)
    else:
        rows_data = _kernel_data(None, x, np.asarray(y)[kept_b], metric)
        columns_data = _kernel_data(None, y, x, metric)
    out = np.empty(len(left_a))
    _c_transform(*rows_data, left_a, v_kept, out)
    u[left_a] = out
    out = np.empty(len(left_b))
    _c_transform(*columns_data, left_b, u, out)
    v[left_b] = out
    return u, v
