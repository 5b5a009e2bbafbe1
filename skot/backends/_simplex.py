"""Network simplex for the transportation problem on a dense cost matrix (compiled).

min <C, P> over P >= 0 with P 1 = a, P^T 1 = b. A basis is a spanning tree of the
bipartite graph of the n sources and m targets (n + m - 1 arcs, degenerate ones of zero
flow included); dual potentials u, v with u_i + v_j = C_ij on the tree make every basic
reduced cost zero, and the basis is optimal when ``C_ij - u_i - v_j >= -tol`` for every
pair. Start: the north-west corner rule (a spanning tree by construction). Pricing: block
search, blocks of about sqrt(n m) pairs from where the last one ended, the most negative
reduced cost of the first block that has one entering. A pivot updates only the subtree
that the leaving arc cuts off (parents, depths, potentials shifted by one number).
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _north_west_corner(a, b, tree_i, tree_j, flow):
    n, m = a.shape[0], b.shape[0]
    supply, demand = a.copy(), b.copy()
    i = j = 0
    for k in range(n + m - 1):
        amount = min(supply[i], demand[j])
        tree_i[k], tree_j[k], flow[k] = i, j, amount
        supply[i] -= amount
        demand[j] -= amount
        if (supply[i] <= demand[j] and i < n - 1) or j == m - 1:
            i += 1
        else:
            j += 1


@njit(cache=True, error_model="numpy")
def _link(half, node, head, next_half, previous_half, half_node):
    """Put half-arc ``half`` at the head of ``node``'s list."""
    half_node[half] = node
    previous_half[half] = -1
    next_half[half] = head[node]
    if head[node] >= 0:
        previous_half[head[node]] = half
    head[node] = half


@njit(cache=True, error_model="numpy")
def _unlink(half, head, next_half, previous_half, half_node):
    if previous_half[half] >= 0:
        next_half[previous_half[half]] = next_half[half]
    else:
        head[half_node[half]] = next_half[half]
    if next_half[half] >= 0:
        previous_half[next_half[half]] = previous_half[half]


@njit(cache=True, error_model="numpy")
def _hang(root, cost, n, shift, head, next_half, half_node, tree_i, tree_j, parent, parent_arc, depth, u, v,
          stack):
    """Walk the subtree below ``root`` (its parent already set): parents, depths, and the
    potentials shifted by ``shift`` (+ on sources, - on targets), or set from the arcs when
    ``shift`` is NaN."""
    stack[0] = root
    size = 1
    while size > 0:
        size -= 1
        node = stack[size]
        half = head[node]
        while half >= 0:
            other = half_node[half ^ 1]
            k = half >> 1
            if other != parent[node]:
                parent[other], parent_arc[other], depth[other] = node, k, depth[node] + 1
                stack[size] = other
                size += 1
            half = next_half[half]
        if math.isnan(shift):
            if node >= n:
                if parent[node] >= 0:
                    v[node - n] = cost[tree_i[parent_arc[node]], node - n] - u[parent[node]]
            elif parent[node] >= 0:
                u[node] = cost[node, tree_j[parent_arc[node]]] - v[parent[node] - n]
        elif node >= n:
            v[node - n] -= shift
        else:
            u[node] += shift


@njit(cache=True, error_model="numpy")
def _entering(cost, u, v, tol, block, position):
    """Block search from ``position`` (a flat pair index) for a pair of reduced cost below
    -tol: the most negative of the first block that has one. Returns (reduced, p, q,
    position) with p = -1 when no pair has one."""
    n, m = cost.shape
    pairs = n * m
    i, j = position // m, position % m
    best, p, q = -tol, -1, -1
    scanned = 0
    while scanned < pairs:
        stop = min(scanned + block, pairs)
        for _ in range(scanned, stop):
            reduced = cost[i, j] - u[i] - v[j]
            if reduced < best:
                best = reduced
                p = i
                q = j
            j += 1
            if j == m:
                j = 0
                i = i + 1 if i + 1 < n else 0
        scanned = stop
        if p >= 0:
            break
    return best, p, q, i * m + j


@njit(cache=True, error_model="numpy")
def _cycle(p, q, parent, parent_arc, depth, path_arcs):
    """Tree arcs of the cycle closed by the pair (p, q) (node ids), in order from q: the q
    side in ``path_arcs[:count_q]``, the p side from ``path_arcs[-1]`` down. Returns
    (count_q, count_p)."""
    last = path_arcs.shape[0] - 1
    count_q = count_p = 0
    x, y = q, p
    while depth[x] > depth[y]:
        path_arcs[count_q] = parent_arc[x]
        count_q += 1
        x = parent[x]
    while depth[y] > depth[x]:
        path_arcs[last - count_p] = parent_arc[y]
        count_p += 1
        y = parent[y]
    while x != y:
        path_arcs[count_q] = parent_arc[x]
        count_q += 1
        x = parent[x]
        path_arcs[last - count_p] = parent_arc[y]
        count_p += 1
        y = parent[y]
    return count_q, count_p


@njit(cache=True, error_model="numpy")
def _push_around(flow, path_arcs, count_q, count_p):
    """Push the largest feasible amount theta around the cycle (walking from q to p the
    arcs alternate -, +, -, ...: the first and last lose theta). Returns (theta, the
    leaving arc, whether it lies on q's side)."""
    last = path_arcs.shape[0] - 1
    length = count_q + count_p
    theta = np.inf
    leave = -1
    on_q_side = True
    for t in range(0, length, 2):
        k = path_arcs[t] if t < count_q else path_arcs[last - (length - 1 - t)]
        if flow[k] < theta:
            theta = flow[k]
            leave = k
            on_q_side = t < count_q
    for t in range(length):
        k = path_arcs[t] if t < count_q else path_arcs[last - (length - 1 - t)]
        if t % 2 == 1:
            flow[k] += theta
        else:
            flow[k] -= theta
    return theta, leave, on_q_side


@njit(cache=True, error_model="numpy")
def transport_simplex_kernel(cost, a, b, tol, max_iter, warm, tree_i, tree_j, flow, u, v):
    """Optimal basis of the transportation problem; returns the pivots made, or -1 when
    ``max_iter`` pivots did not reach optimality (``tree_*``, ``flow``, ``u``, ``v`` filled).
    With ``warm``, ``tree_*`` and ``flow`` hold a feasible basis to start from.

    The tree is kept as doubly linked lists of half-arcs per node (half-arc 2k at the source
    of arc k, 2k + 1 at its target); a pivot re-hangs only the subtree cut off by the leaving
    arc, below the entering one, and shifts its potentials by the entering reduced cost.
    """
    n, m = cost.shape
    nodes = n + m
    if not warm:
        _north_west_corner(a, b, tree_i, tree_j, flow)
    head = np.full(nodes, -1, np.int64)
    next_half = np.empty(2 * (nodes - 1), np.int64)
    previous_half = np.empty(2 * (nodes - 1), np.int64)
    half_node = np.empty(2 * (nodes - 1), np.int64)
    for k in range(nodes - 1):
        _link(2 * k, tree_i[k], head, next_half, previous_half, half_node)
        _link(2 * k + 1, n + tree_j[k], head, next_half, previous_half, half_node)
    parent = np.empty(nodes, np.int64)
    parent_arc = np.empty(nodes, np.int64)
    depth = np.zeros(nodes, np.int64)
    stack = np.empty(nodes, np.int64)
    path_arcs = np.empty(nodes, np.int64)
    parent[0] = parent_arc[0] = -1
    u[0] = 0.0
    _hang(np.int64(0), cost, n, np.nan, head, next_half, half_node, tree_i, tree_j, parent, parent_arc, depth, u, v,
          stack)
    block = np.int64(max(64, int(math.sqrt(n * m))))
    position = np.int64(0)
    for pivot in range(max_iter + 1):
        best, p, q, position = _entering(cost, u, v, tol, block, position)
        if p < 0:
            return pivot
        if pivot == max_iter:
            return -1
        q += n
        count_q, count_p = _cycle(p, q, parent, parent_arc, depth, path_arcs)
        theta, leave, on_q_side = _push_around(flow, path_arcs, count_q, count_p)
        # Cut the leaving arc; the side holding q (or p) hangs again below the entering arc.
        inner = q if on_q_side else p
        outer = p if on_q_side else q
        _unlink(2 * leave, head, next_half, previous_half, half_node)
        _unlink(2 * leave + 1, head, next_half, previous_half, half_node)
        tree_i[leave] = p
        tree_j[leave] = q - n
        flow[leave] = theta
        _link(2 * leave, p, head, next_half, previous_half, half_node)
        _link(2 * leave + 1, q, head, next_half, previous_half, half_node)
        parent[inner] = outer
        parent_arc[inner] = leave
        depth[inner] = depth[outer] + 1
        # Entering reduced cost best < 0: the cut side's sources gain it (targets lose it)
        # when p is inside, the reverse when q is.
        _hang(inner, cost, n, best if inner == p else -best, head, next_half, half_node, tree_i, tree_j, parent,
              parent_arc, depth, u, v, stack)
    return -1


def transport_simplex(cost, a, b, max_iter=None, basis=None):
    """Optimal plan of min <C, P> over P >= 0, P 1 = a, P^T 1 = b (``sum b`` rescaled to ``sum a``).

    Returns ``(plan, u, v, basis)``: the dense plan, dual potentials with ``C_ij - u_i - v_j
    >= -1e-12 max |C|`` for every pair (equality where ``P_ij > 0``), and the optimal basis,
    from which a problem with the same weights and another cost starts (``basis=``): few
    pivots when the cost changed little. Raises a RuntimeError after ``max_iter`` pivots
    (default ``50 (n + m)^2``) without optimality.
    """
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64) * (a.sum() / b.sum())
    n, m = cost.shape
    size = n + m - 1
    if basis is None:
        tree_i, tree_j, flow = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size)
    else:
        tree_i, tree_j, flow = (array.copy() for array in basis)
    u, v = np.empty(n), np.empty(m)
    tol = 1e-12 * max(float(np.abs(cost).max()), np.finfo(float).tiny)
    max_iter = 50 * (n + m) ** 2 if max_iter is None else int(max_iter)
    pivots = transport_simplex_kernel(cost, a, b, tol, max_iter, basis is not None, tree_i, tree_j, flow, u, v)
    if pivots < 0:
        raise RuntimeError(f"The network simplex made {max_iter} pivots without reaching an optimal basis.")
    plan = np.zeros((n, m))
    np.add.at(plan, (tree_i, tree_j), np.maximum(flow, 0.0))
    return plan, u, v, (tree_i, tree_j, flow)
