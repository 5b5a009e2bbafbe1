"""Joint distribution optimal transport (JDOT, Courty et al. 2017): classification, regression.

A predictor f for the target domain, learnt without target labels: minimise over f and the
couplings P of the source and target weights

    <(1 - alpha) C + alpha L(f), P>,   C_ij = |x_i - x'_j|^2 / mean cost,
                                       L_ij = -log p_f(y_i | x'_j)  (or (y_i - f(x'_j))^2),

by block coordinate descent: the plan for the current f (exact, network simplex warm-started
from the last basis; or entropic), then f refitted on the target rows, each carrying the
labels that the plan brings to it: the class masses ``m P^T Y`` (Y the one-hot source
labels) as sample weights, or the value ``(P^T y)_j / b_j``. The first plan has no
predictor yet: it is the feature-only plan. The iterations
stop when the objective changes by at most ``tol`` (in units of the mean feature cost) or
when the plan no longer changes, a fixed point of both blocks.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .._progress import Progress
from ..backends import CostMatrixGeometry, one_blas_thread, pairwise_cost
from .exact import exact_plan, exact_transport
from .sinkhorn import sinkhorn
from ._refits import WarmRefits
from ._validation import COUNT, NON_NEGATIVE, VERBOSE, checked


@dataclass(frozen=True)
class JDOTResult:
    """Output of :func:`jdot_classification` and :func:`jdot_regression`.

    Attributes
    ----------
    estimator : classifier or regressor
        Fitted on the target rows with the labels of the last plan.
    plan : scipy.sparse.csr_array or ndarray of shape (n, m)
        The last coupling (sparse when exact).
    objective : float
        ``<(1 - alpha) C + alpha L(f), P>`` of the last plan, in units of the mean feature cost.
    n_iter : int
        Plans solved.
    converged : bool
    error : float
        The last change of the objective (what ``tol`` bounds); 0 when the plan repeated.
    """

    estimator: object
    plan: object
    objective: float
    n_iter: int
    converged: bool
    error: float


def _label_loss(estimator, target, classes, codes):
    """``L_ij = -log p(y_i | x'_j)`` (n, m) for source labels ``classes[codes]``; a class the
    classifier has not seen (no target row carried it) has probability ``tiny``."""
    floor = np.log(np.finfo(float).tiny)
    with np.errstate(divide="ignore"):
        log_proba = (estimator.predict_log_proba(target) if hasattr(estimator, "predict_log_proba")
                     else np.log(estimator.predict_proba(target)))
    full = np.full((len(target), len(classes)), floor)
    seen = np.isin(classes, estimator.classes_)
    full[:, seen] = np.maximum(log_proba[:, np.searchsorted(estimator.classes_, classes[seen])], floor)
    return -full[:, codes].T


def _carried_labels(plan, one_hot, min_weight):
    """(target rows, class indices, weights): the class mass ``m P^T Y`` the plan brings to
    each target row, entries below ``min_weight`` of the largest left out."""
    carried = np.asarray((plan.T @ one_hot) * plan.shape[1])
    rows, classes = np.nonzero(carried > min_weight * carried.max())
    return rows, classes, carried[rows, classes]


_COMMON = dict(alpha=NON_NEGATIVE, eps=NON_NEGATIVE, max_iter=COUNT, tol=NON_NEGATIVE, verbose=VERBOSE)


@checked(min_weight=NON_NEGATIVE, **_COMMON)
def jdot_classification(estimator, source, labels, target, a=None, b=None, *, alpha=0.5, eps=0.0, max_iter=100,
                        tol=1e-5, min_weight=1e-6, verbose=0):
    """Fit a classifier for ``target`` from labelled ``source`` rows by JDOT (module docstring).

    Parameters
    ----------
    estimator : classifier
        Cloned, then fitted with ``sample_weight``; it must give ``predict_log_proba`` or
        ``predict_proba`` (a log-loss model such as LogisticRegression is JDOT's). A
        ``warm_start`` parameter is switched on, so that each refit starts from the last.
    source, target : ndarray of shape (n, d), (m, d)
    labels : array-like of shape (n,)
        Class of each source row.
    a, b : ndarray of shape (n,), (m,), optional
        Weights of the rows (uniform by default), normalised to sum to one.
    alpha : float, default=0.5
        Weight of the label loss against the feature cost, in [0, 1].
    eps : float, default=0.0
        Entropic regularisation of the plans, in units of the mean feature cost; 0 for exact
        plans.
    max_iter : int, default=100
        Plans solved at most.
    tol : float, default=1e-5
        Stop when the objective changes by at most this much.
    min_weight : float, default=1e-6
        Label masses below this fraction of the largest are not trained on.
    verbose : int, default=0
        Progress (iteration, change of the objective) through the ``"skot"`` logger.

    Returns
    -------
    JDOTResult
    """
    problem = _Problem(source, target, a, b, alpha)
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    one_hot = np.eye(len(classes))[codes]
    refits = WarmRefits(estimator)

    def refit(plan):
        rows, classes_of_rows, weights = _carried_labels(plan, one_hot, min_weight)
        fitted = refits.fit(problem.target[rows], classes[classes_of_rows], sample_weight=weights)
        return _label_loss(fitted, problem.target, classes, codes)

    return problem.alternate(refit, refits, alpha, eps, max_iter, tol, "JDOT classification", verbose)


@checked(**_COMMON)
def jdot_regression(estimator, source, values, target, a=None, b=None, *, alpha=0.5, eps=0.0, max_iter=100, tol=1e-5,
                    verbose=0):
    """Fit a regressor for ``target`` from ``source`` rows with real ``values`` by JDOT.

    The label loss is ``L_ij = (y_i - f(x'_j))^2``; each target row is refitted on the value
    the plan brings to it, ``(P^T y)_j / b_j``, with weight ``m b_j``. Parameters as in
    :func:`jdot_classification` (``estimator`` a regressor fitted with ``sample_weight``).

    Returns
    -------
    JDOTResult
    """
    problem = _Problem(source, target, a, b, alpha)
    values = np.asarray(values, dtype=np.float64)
    refits = WarmRefits(estimator)
    weights = problem.b * len(problem.b)

    def refit(plan):
        carried = np.asarray(plan.T @ values).ravel() / problem.b
        fitted = refits.fit(problem.target, carried, sample_weight=weights)
        return (values[:, None] - np.asarray(fitted.predict(problem.target), dtype=np.float64)[None, :]) ** 2

    return problem.alternate(refit, refits, alpha, eps, max_iter, tol, "JDOT regression", verbose)


class _Problem:
    """The rows, weights and feature cost (in units of its mean) of a JDOT problem."""

    def __init__(self, source, target, a, b, alpha):
        if alpha > 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
        self.source = np.asarray(source, dtype=np.float64)
        self.target = np.asarray(target, dtype=np.float64)
        n, m = len(self.source), len(self.target)
        self.a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64) / np.sum(a)
        self.b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64) / np.sum(b)
        self.features = pairwise_cost(self.source, self.target, "sqeuclidean")
        self.unit = max(float(self.a @ self.features @ self.b), np.finfo(float).tiny)
        self.features /= self.unit

    def plan(self, cost, first, eps, warm):
        """(plan, what warm-starts the next, <cost, plan>): exact or entropic; the first exact
        plan (the feature plan) from the points, whose simplex starts along their principal axis."""
        if eps > 0:
            solution = sinkhorn(CostMatrixGeometry(cost), self.a, self.b, eps, init=warm)
            plan = solution.plan()
            return plan, (solution.potential_source, solution.potential_target), float(np.sum(cost * plan))
        if first:
            solution = exact_transport(self.source, self.target, self.a, self.b)
            return solution.plan, solution.basis, float(solution.plan.multiply(cost).sum())
        solution = exact_plan(cost, self.a, self.b, basis=warm)
        return solution.plan, solution.basis, solution.cost

    def alternate(self, refit, refits, alpha, eps, max_iter, tol, name, verbose):
        """The block coordinate descent: plan for the current loss, then ``refit(plan)``, which
        fits the estimator (``refits``) and returns the next label loss (n, m)."""
        # One BLAS thread: the refits' many tiny products would wake (and spin) a pool each time.
        with one_blas_thread():
            loss, warm, previous_plan, objective = None, None, None, None
            converged, change, n_iter = False, None, 0
            progress = Progress(name, verbose, tol)
            for n_iter in range(1, max_iter + 1):
                cost = (1.0 - alpha) * self.features if loss is None else (1.0 - alpha) * self.features + alpha * loss
                plan, warm, value = self.plan(cost, loss is None, eps, warm)
                if previous_plan is not None and _same_plan(plan, previous_plan):
                    # The estimator was fitted on this very plan: both blocks are at a fixed point.
                    converged, change, objective = True, 0.0, value
                    break
                loss = refit(plan)
                change = None if objective is None else abs(value - objective)
                objective, previous_plan = value, plan
                if change is not None and change <= tol:
                    converged = True
                    break
                progress(n_iter, change)
            progress.done(n_iter, change, converged)
        return JDOTResult(refits.fitted, plan, float(objective), n_iter, converged,
                          float(np.inf if change is None else change))


def _same_plan(plan, other):
    """Whether two couplings are equal (exactly: a repeated simplex basis gives the same flows)."""
    if sparse.issparse(plan):
        return plan.shape == other.shape and (plan != other).nnz == 0
    return bool(np.array_equal(plan, other))
