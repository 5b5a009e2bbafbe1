"""Class-regularised optimal transport (Courty et al. 2017), by generalised conditional gradient.

min_P <C, P> + eta Omega(P) + eps KL(P | a (x) b) over the couplings of a and b, with Omega
built from the labels l_i of the source points:

- group lasso: Omega(P) = sum_j sum_c sqrt(b_j sum_{i: l_i = c} P_ij) (l_{1/2}-l_1, concave),
  so that each target point receives its mass from one class;
- l1l2 group lasso: Omega(P) = sum_j sum_c ||P[l == c, j]||_2 (convex; POT's
  ``sinkhorn_l1l2_gl``), with the same aim;
- Laplacian: Omega(P) = sum_ik S_ik |T_i - T_k|^2, with T = diag(1/a) P Y the barycentric
  images and S a same-class Gaussian similarity graph summing to one, so that neighbours
  of one class move together;
- target Laplacian (no labels): the same on the target rows, T = diag(1/b) P^T X and S
  joining all target rows, so that neighbouring target rows receive mass from neighbouring
  source rows.

Generalised conditional gradient (Rakotomamonjy et al. 2015): linearise eta Omega at P,
solve the entropic (or, at eps = 0, exact) problem for the cost C + eta grad Omega(P),
then search the segment between (for the concave group lasso, whose linearisation majorises
it, the solution itself is the next iterate: majorisation-minimisation, as POT's
``sinkhorn_lpl1_mm``, with subproblems solved only as accurately as the gap needs); the
gap <C + eta grad Omega(P), P - Q> + eps (KL(P) - KL(Q)) bounds the suboptimality of P
(convex Laplacian) or measures its stationarity (concave group lasso, where each step
majorises and minimises) and stops the iterations.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import rel_entr

from ..backends import CostMatrixGeometry, pairwise_cost
from ._compiled import mixture_entropy
from .exact import exact_plan
from .sinkhorn import sinkhorn
from ._validation import COUNT, NON_NEGATIVE, checked

PENALTIES = ("group_lasso", "l1l2", "laplacian", "target_laplacian")
# Largest marginal error of the entropic subproblems of majorisation steps (see the loop).
INEXACT_TOL = 1e-4


@dataclass(frozen=True)
class ClassRegularizedResult:
    """Output of :func:`class_regularized_transport`.

    Attributes
    ----------
    plan : ndarray of shape (n, m)
    objective : float
        <C, P> + eta Omega(P) + eps KL(P | a (x) b).
    gap : float
        Conditional-gradient gap, an upper bound on ``objective`` minus the optimum.
    n_iter : int
    converged : bool
    """

    plan: np.ndarray
    objective: float
    gap: float
    n_iter: int
    converged: bool


class _GroupLasso:
    """Omega(P) = sum_j sum_c sqrt(b_j P[l == c, j].sum()), concave in each class's mass.

    The l_{1/2}-l_1 group lasso of Courty et al. 2017, scaled so that Omega = 1 when every
    target point receives one class and sqrt(k) when k classes share every point evenly.
    Its gradient 1/2 sqrt(b_j / (mass_cj + delta_j)) (delta_j = 1e-3 b_j) linearises it
    from above, so each conditional-gradient step is a majorisation-minimisation step.
    """

    concave = True

    def __init__(self, labels, b):
        self.groups = [labels == label for label in np.unique(labels)]
        self.b = b

    def _masses(self, plan):
        return [plan[rows].sum(axis=0) for rows in self.groups]

    def value(self, plan):
        return float(sum(np.sqrt(self.b * mass).sum() for mass in self._masses(plan)))

    def along(self, plan, direction):
        """t -> Omega(plan + t direction), from the class masses of both (O(k m) a value)."""
        start, slope = np.array(self._masses(plan)), np.array(self._masses(direction))
        return lambda t: float(np.sqrt(self.b * np.maximum(start + t * slope, 0.0)).sum())

    def gradient(self, plan):
        grad = np.empty_like(plan)
        for rows, mass in zip(self.groups, self._masses(plan)):
            grad[rows] = 0.5 * np.sqrt(self.b / (mass + 1e-3 * self.b))
        return grad


class _L1L2:
    """Omega(P) = sum_j sum_c ||P[l == c, j]||_2: the convex l1-l2 group lasso (Courty et al. 2017)."""

    concave = False

    def __init__(self, labels):
        self.groups = [labels == label for label in np.unique(labels)]

    def _norms(self, plan):
        return np.array([np.sqrt(np.einsum("ij,ij->j", plan[rows], plan[rows])) for rows in self.groups])

    def value(self, plan):
        return float(self._norms(plan).sum())

    def along(self, plan, direction):
        """t -> Omega(plan + t direction), from three inner products per class and column."""
        pieces = [(np.einsum("ij,ij->j", p, p), np.einsum("ij,ij->j", p, d), np.einsum("ij,ij->j", d, d))
                  for p, d in ((plan[rows], direction[rows]) for rows in self.groups)]
        squares, cross, slopes = (np.array(piece) for piece in zip(*pieces))
        return lambda t: float(np.sqrt(np.maximum(squares + 2.0 * t * cross + t * t * slopes, 0.0)).sum())

    def gradient(self, plan):
        # P_ij / ||P[l == c, j]||; a block of zeros has the subgradient 0.
        grad = np.empty_like(plan)
        for rows, norms in zip(self.groups, self._norms(plan)):
            grad[rows] = plan[rows] / np.where(norms > 0, norms, np.inf)
        return grad


class _Laplacian:
    """Omega(P) = 2 tr(T^T L T), L the Laplacian of a Gaussian similarity graph S of one side's
    points and T their barycentric images: of the source rows, T = diag(1/a) P Y, with S
    joining rows of one class; or (``on_target``) of the target rows, T = diag(1/b) P^T X, with
    S joining all of them (no labels needed)."""

    concave = False

    def __init__(self, points, labels, others, masses, on_target=False):
        squared = pairwise_cost(points, points, "sqeuclidean")
        joined = np.ones(squared.shape, dtype=bool) if labels is None else labels[:, None] == labels[None, :]
        np.fill_diagonal(joined, False)
        bandwidth = np.median(squared[joined]) if joined.any() else 0.0
        similarity = np.where(joined, np.exp(-squared / (2 * bandwidth or 1.0)), 0.0)
        total = similarity.sum()
        if total > 0:
            similarity /= total
        self.laplacian = np.diag(similarity.sum(axis=1)) - similarity
        self.others = np.asarray(others, dtype=np.float64)
        self.masses = masses
        self.on_target = on_target

    def _images(self, plan):
        return (plan.T if self.on_target else plan) @ self.others / self.masses[:, None]

    def value(self, plan):
        images = self._images(plan)
        return float(2.0 * np.sum(images * (self.laplacian @ images)))

    def along(self, plan, direction):
        """t -> Omega(plan + t direction): a quadratic in t, the images being linear in the plan."""
        start, slope = self._images(plan), self._images(direction)
        constant, linear = np.sum(start * (self.laplacian @ start)), np.sum(start * (self.laplacian @ slope))
        quadratic = np.sum(slope * (self.laplacian @ slope))
        return lambda t: float(2.0 * (constant + 2.0 * t * linear + t * t * quadratic))

    def gradient(self, plan):
        gradient = 4.0 * (self.laplacian @ self._images(plan)) @ self.others.T / self.masses[:, None]
        return gradient.T if self.on_target else gradient


def _linear_problem(cost, a, b, eps, init, sinkhorn_options):
    """Plan minimising <cost, P> + eps KL(P | a (x) b); that value's two terms, <cost, P> and
    eps KL(P | a (x) b); and what warm-starts the next problem (the potentials, or the simplex
    basis when eps = 0, whose plan is sparse)."""
    if eps == 0:
        result = exact_plan(cost, a, b, basis=init)
        return result.plan, _inner(cost, result.plan), 0.0, result.basis
    result = sinkhorn(CostMatrixGeometry(cost), a, b, eps, init=init, **sinkhorn_options)
    plan = result.plan()
    linear = float(np.sum(cost * plan))
    # log(P / (a b)) = (f_i + g_j - C_ij) / eps, so eps KL = <f, P 1> + <g, P^T 1> - <C, P>, no logarithm.
    entropy = float(result.potential_source @ plan.sum(axis=1) + result.potential_target @ plan.sum(axis=0)) - linear
    return plan, linear, entropy, (result.potential_source, result.potential_target)


def _along(cost, plan, direction, eps, reference, eta, regulariser):
    """t -> the objective at ``plan + t direction``: its linear and penalty parts from
    precomputed pieces; of KL(Q | a (x) b) = sum Q log Q - sum Q log(a b) (the masses of Q and
    a (x) b being equal), only sum Q log Q is elementwise (the one O(n m) part)."""
    with np.errstate(divide="ignore"):
        log_reference = np.log(reference)
    weighted = cost - eps * np.where(np.isfinite(log_reference), log_reference, 0.0)
    start, slope = float(np.sum(weighted * plan)), float(np.sum(weighted * direction))
    penalty = regulariser.along(plan, direction)

    def value(t):
        if eps == 0:
            return start + t * slope + eta * penalty(t)
        return start + t * slope + eta * penalty(t) + eps * mixture_entropy(plan, direction, t)

    return value


def _inner(dense, plan):
    """<dense, plan> for a dense or sparse plan."""
    return float(plan.multiply(dense).sum()) if sparse.issparse(plan) else float(np.sum(dense * plan))


# Cost of a pair of rows whose known labels differ, in units of the largest cost: the plan
# gives it no mass (a finite value keeps every problem feasible).
MISMATCH_COST = 10.0


def label_constrained_cost(cost, source_labels, target_labels, known):
    """``cost`` with the pairs of a source row and a target row of known, different labels
    raised to ``MISMATCH_COST`` times the largest cost (semi-supervised OT: Courty et al.
    2017, the few target labels one may have).

    Parameters
    ----------
    cost : ndarray of shape (n, m)
    source_labels : ndarray of shape (n,)
    target_labels : ndarray of shape (m,)
        Read where ``known``.
    known : ndarray of bool of shape (m,)

    Returns
    -------
    ndarray of shape (n, m)
        A new array.
    """
    cost = np.array(cost, dtype=np.float64)
    mismatch = known[None, :] & (np.asarray(source_labels)[:, None] != np.asarray(target_labels)[None, :])
    cost[mismatch] = np.maximum(cost[mismatch], MISMATCH_COST * cost.max())
    return cost


@checked(eps=NON_NEGATIVE, eta=NON_NEGATIVE, max_iter=COUNT, tol=NON_NEGATIVE,
         sinkhorn_max_iter=COUNT, sinkhorn_tol=NON_NEGATIVE)
def class_regularized_transport(cost, a, b, labels, eps, eta, penalty="group_lasso", *,
                                source=None, target=None, max_iter=50, tol=1e-5,
                                sinkhorn_max_iter=1000, sinkhorn_tol=1e-9):
    """Class-regularised OT plan (see module docstring).

    Parameters
    ----------
    cost : ndarray of shape (n, m)
    a, b : ndarray of shape (n,), (m,)
        Marginals, each summing to one.
    labels : ndarray of shape (n,) or None
        Class of each source point (None for the target Laplacian, which reads none).
    eps : float
        Entropic regularisation in cost units; 0 for exact linear subproblems.
    eta : float
        Weight of the class penalty.
    penalty : {"group_lasso", "l1l2", "laplacian", "target_laplacian"}
    source, target : ndarray of shape (n, d), (m, d)
        Points; needed by the Laplacian penalties only.
    max_iter, tol : int, float
        Stop when the gap falls below ``tol`` times the objective's magnitude.
    sinkhorn_max_iter, sinkhorn_tol : int, float
        Accuracy of the entropic subproblems.

    Returns
    -------
    ClassRegularizedResult
    """
    if penalty not in PENALTIES:
        raise ValueError(f"Unknown class penalty {penalty!r}; expected one of {PENALTIES}.")
    cost = np.asarray(cost, dtype=np.float64)
    if penalty == "target_laplacian":
        regulariser = _Laplacian(target, None, source, b, on_target=True)
    elif labels is None:
        raise ValueError(f"The {penalty!r} penalty needs the class labels of the source points.")
    elif penalty == "group_lasso":
        regulariser = _GroupLasso(np.asarray(labels), b)
    elif penalty == "l1l2":
        regulariser = _L1L2(np.asarray(labels))
    else:
        regulariser = _Laplacian(source, np.asarray(labels), target, a)
    reference = np.outer(a, b)
    options = {"max_iter": sinkhorn_max_iter, "tol": sinkhorn_tol}
    plan, linear, plan_entropy, potentials = _linear_problem(cost, a, b, eps, None, options)
    plan = plan.toarray() if sparse.issparse(plan) else plan  # the iterates are dense mixtures
    value, gap, converged, n_iter = linear + eta * regulariser.value(plan) + plan_entropy, np.inf, False, 0
    relative_gap = np.inf
    for n_iter in range(1, max_iter + 1):
        linearised = cost + eta * regulariser.gradient(plan)
        # Majorisation steps far from a stationary point need no accurate subproblem: their
        # solves stop at a marginal error of a tenth of the last relative gap (a perturbation of
        # the objective below the gap), at most INEXACT_TOL; the returned plan is re-solved to
        # sinkhorn_tol.
        inner_tol = max(sinkhorn_tol, min(INEXACT_TOL, 0.1 * relative_gap)) if regulariser.concave else sinkhorn_tol
        candidate, candidate_linear, candidate_entropy, potentials = _linear_problem(
            linearised, a, b, eps, potentials, dict(options, tol=inner_tol))
        gap = float(np.sum(linearised * plan)) - candidate_linear + plan_entropy - candidate_entropy
        relative_gap = gap / max(abs(value), np.finfo(float).tiny)
        if regulariser.concave:
            if (relative_gap <= tol or n_iter == max_iter) and inner_tol > sinkhorn_tol:
                candidate, candidate_linear, candidate_entropy, potentials = _linear_problem(
                    linearised, a, b, eps, potentials, options)
            # The linearisation majorises a concave penalty: its minimiser lowers the objective
            # (majorisation-minimisation), no search needed.
            plan, plan_entropy = (candidate.toarray() if sparse.issparse(candidate) else candidate), candidate_entropy
            value = _inner(cost, plan) + eta * regulariser.value(plan) + plan_entropy
            if relative_gap <= tol:
                converged = True
                break
            continue
        if relative_gap <= tol:
            converged = True
            break
        # A step within 1e-3 of the segment's best moves the objective at second order only, far
        # below the gap tolerance, in half the evaluations of a step within 1e-6.
        direction = candidate - plan  # dense, also for a sparse candidate
        step = minimize_scalar(_along(cost, plan, direction, eps, reference, eta, regulariser),
                               bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-3}).x
        plan = plan + step * direction
        plan_entropy = eps * float(rel_entr(plan, reference).sum()) if eps > 0 else 0.0
        value = _inner(cost, plan) + eta * regulariser.value(plan) + plan_entropy
    return ClassRegularizedResult(plan, value, max(gap, 0.0), n_iter, converged)
