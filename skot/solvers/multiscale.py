"""Multiscale Sinkhorn for squared Euclidean costs in dimension 1 to 3.

Coarse to fine (Schmitzer 2019; Feydy 2020, ch. 3): each level replaces the blocks of a
k-d tree by their weighted means; the coarsest problem is solved with eps-scaling, then at
each finer level the target potential is prolonged as the c-transform of the coarser source
one, g(y) = softmin_I (F_I + eps log A_I - |X_I - y|^2), and Sinkhorn, started with the
update of f from g, runs on block-sparse truncated soft-mins (:mod:`skot.backends._multiscale`).
Each truncated soft-min bounds the mass it skipped, so the final marginal errors are
certified upper bounds on the errors of the true, untruncated plan; if they exceed ``tol``
the truncation widens and Sinkhorn continues.
"""

from dataclasses import dataclass, replace

import numpy as np

from .._progress import Progress
from ..backends import OnlineGeometry, box_diameter2
from ..backends._multiscale import MAX_DIM, BlockSparseGeometry, block_cloud, reduce_blocks
from .sinkhorn import SinkhornResult, check_weights, log_weighted, sinkhorn
from ._validation import COUNT, NON_NEGATIVE, NON_NEGATIVE_COUNT, POSITIVE, VERBOSE, checked

# multiscale="auto" runs the multiscale solver from this many source-target pairs on, in
# dimension at most AUTO_MAX_DIM, when eps is at most this fraction of the squared
# diameter (sharper kernels truncate more); the measurements are in docs/benchmarks.rst.
AUTO_MIN_PAIRS = 20_000_000
AUTO_MAX_RELATIVE_EPS = 2e-3
AUTO_MAX_DIM = 2


def use_multiscale(option, backend, source, target, eps, *, metric="sqeuclidean", reg_m=None):
    """Whether an entropic problem runs on :func:`skot.solvers.multiscale_sinkhorn`.

    ``option`` is an estimator's ``multiscale`` parameter: False never, True always (a
    ValueError names each condition that fails), "auto" when it pays (constants above).
    """
    if option is False:
        return False
    reasons = []
    if backend != "numba":
        reasons.append(f"it runs on NumPy arrays with the numba backend, not backend {backend!r}")
    if metric != "sqeuclidean":
        reasons.append(f"it needs metric='sqeuclidean', not {metric!r}")
    if source.shape[1] > MAX_DIM:
        reasons.append(f"it is for dimension <= {MAX_DIM}, not {source.shape[1]}")
    if reg_m is not None:
        reasons.append("it solves balanced problems (reg_m=None)")
    if option is True:
        if reasons:
            raise ValueError("multiscale=True cannot run: " + "; ".join(reasons) + ".")
        return True
    if (reasons or source.shape[0] * target.shape[0] < AUTO_MIN_PAIRS
            or source.shape[1] > AUTO_MAX_DIM):
        return False
    return eps <= AUTO_MAX_RELATIVE_EPS * box_diameter2(source, target)


@dataclass(frozen=True)
class MultiscaleResult(SinkhornResult):
    """:class:`SinkhornResult` whose ``error`` and ``marginal_error`` are certified bounds:
    ``error`` on the larger of the two marginal L1 errors (what ``tol`` bounds),
    ``marginal_error`` on the target one.

    Attributes
    ----------
    transport_cost : float or None
        <C, P> of the plan over the visited blocks (``with_cost=True``), else None.
    n_costs : int
        Cost entries computed at the finest level (a dense iteration computes 2 n m).
    """

    transport_cost: float | None = None
    n_costs: int = 0

    def plan_cost(self):
        """``<C, P>``: the one computed over the visited blocks when asked (``with_cost``), else
        the untruncated sum over all pairs."""
        return super().plan_cost() if self.transport_cost is None else self.transport_cost

# Each level coarsens k-d leaves of LEAF_SIZE points into their means; the truncated
# kernels work on blocks of LEAVES_PER_BLOCK leaves (bounds cost (n / block)^2 per sum).
LEAF_SIZE = 16
LEAVES_PER_BLOCK = 4
# Problems with at most this many points on each side are solved without truncation.
COARSEST = 1000
# Coarsest-level eps-scaling: eps_k = max(eps, diameter^2 * EPS_DECAY^k).
EPS_DECAY = 0.25
# Relative mass each truncated sum may skip, as a fraction of tol; divided by TIGHTENING
# while the certified errors exceed tol.
BUDGET_FRACTION = 0.1
TIGHTENING = 10.0
MAX_TIGHTENINGS = 3
# Levels above the finest are solved to this fraction of tol: a sharper prolongation saves
# fine iterations, which cost far more.
COARSE_TOL_FRACTION = 0.3


def _coarsen(points, weights, cloud):
    """Weighted leaf means and leaf weights of ``cloud`` (the next coarser level); a side of
    at most COARSEST points stays as it is (with n >> m, m would otherwise shrink to a point)."""
    if points.shape[0] <= COARSEST:
        return points, weights
    means, totals = cloud.leaf_means(weights[cloud.order])
    return np.ascontiguousarray(means[: points.shape[1]].T), totals


def _coarsest_solve(x, a, y, b, eps, *, max_iter, tol, anderson_memory):
    """Online Sinkhorn with eps-scaling from the squared diameter down to ``eps``."""
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    diameter2 = box_diameter2(x, y)
    schedule = [eps]
    while schedule[-1] < diameter2:
        schedule.append(schedule[-1] / EPS_DECAY)
    init = None
    for stage_eps in schedule[:0:-1]:
        result = sinkhorn(geometry, a, b, stage_eps, max_iter=max_iter, tol=max(tol, 1e-3), init=init,
                          anderson_memory=anderson_memory)
        init = (result.potential_source, result.potential_target)
    return sinkhorn(geometry, a, b, eps, max_iter=max_iter, tol=tol, init=init, anderson_memory=anderson_memory)


def _check_problem(x, y, a, b):
    """ValueError naming what makes (x, a), (y, b) no pair of finite measures."""
    for name, points, weights in (("source", x, a), ("target", y, b)):
        if points.ndim != 2:
            raise ValueError(f"The {name} points must be (n, d); got {points.shape}.")
        check_weights(weights, points.shape[0], name)
        if not np.isfinite(points).all():
            raise ValueError(f"The {name} points hold NaN or infinite values.")


def _c_transform(points, potential, weights, at, eps, budget):
    """softmin_i (potential_i + eps log weights_i - |points_i - y|^2) at each row y of ``at``
    (input order), by a block-sparse soft-min."""
    cloud, target = block_cloud(points, LEAF_SIZE, LEAVES_PER_BLOCK), block_cloud(at, LEAF_SIZE, LEAVES_PER_BLOCK)
    values = reduce_blocks(cloud, log_weighted(potential, weights, eps)[cloud.order], target, eps, budget)[0]
    out = np.empty_like(values)
    out[target.order] = values
    return out


def _certified_errors(geometry, f, g, a, b, eps):
    """Upper bounds on the L1 errors of both marginals of the untruncated plan of (f, g).

    ``f`` is the last row update, so the truncated row marginal is ``a`` and the true one
    exceeds it by at most ``a_i neglected_i``; the column marginal is computed from the last
    column soft-min, plus its own neglected mass.
    """
    (_, row_neglected), (column_softmin, column_neglected) = geometry.last[1], geometry.last[0]
    column = b * np.exp((g - column_softmin) / eps)
    row_error = float(a @ row_neglected)
    column_error = float(np.abs(column - b).sum() + column @ column_neglected)
    return row_error, column_error, float(column.sum())


@checked(eps=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE, budget=POSITIVE + [None],
         anderson_memory=NON_NEGATIVE_COUNT, with_cost=["boolean"], verbose=VERBOSE)
def multiscale_sinkhorn(x, y, a, b, eps, *, max_iter=1000, tol=1e-9, budget=None, anderson_memory=8,
                        with_cost=False, verbose=0):
    """Balanced entropic OT for ``|x - y|^2`` costs, coarse to fine with certified truncation.

    Parameters
    ----------
    x, y : ndarray of shape (n, d), (m, d)
        Points, d <= 3.
    a, b : ndarray of shape (n,), (m,)
        Non-negative weights, each summing to one; points of zero weight get the potentials
        the dense solver gives them (c-transforms of the other side's).
    eps : float
        Entropic regularisation in raw cost units.
    max_iter : int
        Maximum Sinkhorn iterations per level and truncation.
    tol : float
        Target for the certified L1 errors of both marginals.
    budget : float, optional
        Relative mass each truncated soft-min may skip (default ``tol / 10``); brought below
        ``tol / 100``, then divided by 10, while the certified errors exceed ``tol``.
    anderson_memory : int
        Anderson acceleration memory of each Sinkhorn run.
    with_cost : bool
        Also compute the transport cost <C, P> (one more truncated pass).
    verbose : int
        Each level's iterations and certified error through the ``"skot"`` logger when
        positive (see :mod:`skot._progress`).

    Returns
    -------
    MultiscaleResult
        Potentials in the input orders; ``error`` and ``marginal_error`` are certified upper
        bounds on the larger marginal L1 error and the target one, of the untruncated plan.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _check_problem(x, y, a, b)
    with np.errstate(over="ignore"):  # an overflow is the error raised here
        diameter2 = box_diameter2(x, y)
    if not np.isfinite(diameter2):  # (it also bounds the eps-scaling schedule)
        raise ValueError("The squared diameter of the points overflows float64: rescale them.")
    budget = BUDGET_FRACTION * tol if budget is None else float(budget)
    keep_x, keep_y = a > 0, b > 0
    if not (keep_x.all() and keep_y.all()):
        # Points without mass carry no term: solve without them, then give them the
        # potentials the dense solver would, c-transforms of the other side's.
        result = multiscale_sinkhorn(x[keep_x], y[keep_y], a[keep_x], b[keep_y], eps, max_iter=max_iter, tol=tol,
                                     budget=budget, anderson_memory=anderson_memory, with_cost=with_cost,
                                     verbose=verbose)
        f = _c_transform(y[keep_y], result.potential_target, b[keep_y], x, eps, budget)
        g = _c_transform(x[keep_x], result.potential_source, a[keep_x], y, eps, budget)
        f[keep_x], g[keep_y] = result.potential_source, result.potential_target
        return replace(result, potential_source=f, potential_target=g, source_weights=a, target_weights=b,
                       geometry=OnlineGeometry(x, y, "sqeuclidean"))
    levels = []
    level = (x, a, y, b)
    while max(level[0].shape[0], level[2].shape[0]) > COARSEST or not levels:
        x_cloud = block_cloud(level[0], LEAF_SIZE, LEAVES_PER_BLOCK)
        y_cloud = block_cloud(level[2], LEAF_SIZE, LEAVES_PER_BLOCK)
        levels.append((level, x_cloud, y_cloud))
        level = (*_coarsen(level[0], level[1], x_cloud), *_coarsen(level[2], level[3], y_cloud))
    result = _coarsest_solve(*level, eps, max_iter=max_iter, tol=tol, anderson_memory=anderson_memory)
    coarse_cloud = block_cloud(level[0], LEAF_SIZE, LEAVES_PER_BLOCK)
    coarse_a, potential_source = level[1], result.potential_source
    n_iter = result.n_iter
    for depth, ((x_level, a_level, y_level, b_level), x_cloud, y_cloud) in enumerate(reversed(levels), start=1):
        level_tol = tol if x_cloud is levels[0][1] else COARSE_TOL_FRACTION * tol
        # Prolongation: g on the finer targets as the c-transform of the coarser f.
        h = (potential_source + eps * np.log(coarse_a))[coarse_cloud.order]
        init = (None, reduce_blocks(coarse_cloud, h, y_cloud, eps, budget)[0])
        a_sorted, b_sorted = a_level[x_cloud.order], b_level[y_cloud.order]
        level_budget = budget
        for _ in range(MAX_TIGHTENINGS + 1):
            geometry = BlockSparseGeometry(x_cloud, y_cloud, level_budget)
            result = sinkhorn(geometry, a_sorted, b_sorted, eps, max_iter=max_iter, tol=level_tol, init=init,
                              anderson_memory=anderson_memory, verbose=verbose)
            f, g = result.potential_source, result.potential_target
            row_error, column_error, mass = _certified_errors(geometry, f, g, a_sorted, b_sorted, eps)
            n_iter = result.n_iter
            level_progress = Progress(f"multiscale {x_cloud.coordinates.shape[1]} x {y_cloud.coordinates.shape[1]} "
                                      "points", verbose, level_tol)
            level_progress.done(result.n_iter, max(row_error, column_error), result.converged,
                                note=level_progress.bar(depth, len(levels)))
            if max(row_error, column_error) <= level_tol or not result.converged:
                break
            level_budget = min(level_budget, BUDGET_FRACTION * tol) / TIGHTENING
            init = (f,)
        potential_source = np.empty_like(f)
        potential_source[x_cloud.order] = f
        potential_target = np.empty_like(g)
        potential_target[y_cloud.order] = g
        coarse_cloud, coarse_a = x_cloud, a_level
    dual = float(a @ potential_source + b @ potential_target) - eps * (mass - 1.0)
    transport_cost = None
    if with_cost:
        transport_cost = result.plan_cost()
    return MultiscaleResult(
        potential_source=potential_source,
        potential_target=potential_target,
        eps=float(eps),
        reg_m=None,
        n_iter=n_iter,
        converged=max(row_error, column_error) <= tol,
        error=max(row_error, column_error),
        marginal_error=column_error,
        dual_objective=dual,
        transport_cost=transport_cost,
        n_costs=geometry.pairs,
        source_weights=a,
        target_weights=b,
        geometry=OnlineGeometry(x, y, "sqeuclidean"),
    )
