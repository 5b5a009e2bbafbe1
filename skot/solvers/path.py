"""Entropic OT along a decreasing sequence of eps, on the cross-validation folds of one problem.

A fold is the problem restricted to its training rows: the same geometry with the held-out
rows' mass set to zero (a point without mass takes no part in the plan), so the folds share
one geometry, and at each eps one stored kernel. Each fold's potentials at one eps start its
solve at the next, smaller one (eps-scaling).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from .sinkhorn import SinkhornResult, sinkhorn
from ._validation import COUNT, POSITIVE, VERBOSE, checked


@dataclass(frozen=True)
class SinkhornPath:
    """Output of :func:`sinkhorn_path`.

    Attributes
    ----------
    eps : ndarray of shape (k,)
        The entropic regularisations, decreasing, in raw cost units.
    fold_solutions : tuple of tuple of SinkhornResult
        ``fold_solutions[i][j]``: fold j at ``eps[i]`` (its weights zero on the held-out rows).
    fold_masks : tuple of (ndarray, ndarray)
        Training rows of each fold: a boolean mask of the source rows and one of the target rows.
    """

    eps: np.ndarray
    fold_solutions: tuple[tuple[SinkhornResult, ...], ...]
    fold_masks: tuple

    @property
    def n_iter(self):
        """Sinkhorn iterations over the whole path."""
        return sum(r.n_iter for row in self.fold_solutions for r in row)


def _restricted(weights, mask):
    """``weights`` set to zero off ``mask`` and scaled back to unit mass."""
    kept = np.where(mask, weights, 0.0)
    total = kept.sum()
    if not total > 0:
        raise ValueError("A fold keeps no mass on one side: every training row of that side has zero weight.")
    return kept / total


@checked(max_iter=COUNT, tol=POSITIVE, verbose=VERBOSE)
def sinkhorn_path(geometry, a, b, eps_values, *, folds=(), max_iter=1000, tol=1e-3, verbose=0):
    """Solve entropic OT on each fold at each of ``eps_values``, largest first, each from the last.

    Parameters
    ----------
    geometry : skot.backends.Geometry
        Source rows by target rows.
    a, b : ndarray of shape (n,), (m,)
        Weights of the whole problem (restricted and rescaled on each fold).
    eps_values : array-like of float
        Entropic regularisations in raw cost units (any order; solved decreasing).
    folds : sequence of (ndarray of bool (n,), ndarray of bool (m,))
        The training rows of each fold, source and target.
    max_iter, tol : int, float
        Of each Sinkhorn solve (see :func:`sinkhorn`).
    verbose : int

    Returns
    -------
    SinkhornPath
    """
    eps_values = np.sort(np.asarray(eps_values, dtype=np.float64).ravel())[::-1]
    if eps_values.size == 0 or not np.all(eps_values > 0) or not np.all(np.isfinite(eps_values)):
        raise ValueError(f"eps_values must be finite positive numbers, got {eps_values!r}.")
    masks = tuple((np.asarray(source, dtype=bool), np.asarray(target, dtype=bool)) for source, target in folds)
    fold_weights = [(_restricted(a, source), _restricted(b, target)) for source, target in masks]
    fold_solutions, starts = [], [None] * len(masks)
    for eps in eps_values:
        solutions = tuple(sinkhorn(geometry, fold_a, fold_b, eps, max_iter=max_iter, tol=tol, init=start,
                                   verbose=verbose) for (fold_a, fold_b), start in zip(fold_weights, starts))
        starts = [(solution.potential_source, None) for solution in solutions]
        fold_solutions.append(solutions)
    return SinkhornPath(eps_values, tuple(fold_solutions), masks)


def _class_softmins(geometry, h, codes, n_classes, eps, axis, offsets=None):
    """Soft-mins of ``h`` restricted to each class's points along ``axis``: shape (other side, k).

    ``offsets`` (reduced side, k) are added per class: ``softmin(h + offsets[:, c])``.
    """
    columns = []
    for label in range(n_classes):
        values = np.where(codes == label, h, -np.inf) if codes is not None else h + offsets[:, label]
        columns.append(geometry.softmin(values, eps, axis=axis))
    return np.column_stack(columns)


def circular_label_accuracy(geometry, held_out_geometry, solution, labels, source_mask):
    """Held-out accuracy of the source labels carried to the target and back by an entropic plan.

    The labels of the source rows in ``source_mask`` go to each target point j by the plan's
    column ``q_j(c) = pi(c | y_j)``; a held-out source row x takes back
    ``p(c | x) = sum_j pi(y_j | x) q_j(c)`` through the entropic map's conditional
    ``pi(y_j | x) ~ b_j exp((g_j - C(x, y_j)) / eps)``. The score is the share of held-out
    source rows whose most likely class is their own (circular validation, with the plan
    as the classifier).

    Parameters
    ----------
    geometry : Geometry
        All source rows by all target rows.
    held_out_geometry : Geometry
        The held-out source rows (those off ``source_mask``, in order) by all target rows.
    solution : SinkhornResult
        A fold's solution on ``geometry`` (zero weights on the held-out rows).
    labels : array-like of shape (n,)
        Class of every source row.
    source_mask : ndarray of bool of shape (n,)
        The fold's training source rows; the others are scored.

    Returns
    -------
    float
    """
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    held_out = ~np.asarray(source_mask, dtype=bool)
    if not held_out.any():
        raise ValueError("The fold holds out no source row to score.")
    eps = solution.eps
    log_a, log_b = solution.log_potentials
    # q_j(c): the plan's class proportions at each target point.
    forward = _class_softmins(geometry, log_a, np.where(held_out, -1, codes), len(classes), eps, axis=0)
    with np.errstate(divide="ignore"):
        log_q = np.log(softmax(-forward / eps, axis=1))
    backward = _class_softmins(held_out_geometry, log_b, None, len(classes), eps, axis=1, offsets=eps * log_q)
    predicted = np.argmin(backward, axis=1)
    return float(np.mean(predicted == codes[held_out]))


def path_circular_scores(path, geometry, held_out_geometry, labels):
    """:func:`circular_label_accuracy` of every solution of ``path``: shape (n_eps, n_folds).

    ``held_out_geometry(mask)`` gives the geometry of the source rows off ``mask`` by all
    target rows.
    """
    scores = np.empty((len(path.eps), len(path.fold_masks)))
    for j, (source_mask, _) in enumerate(path.fold_masks):
        held_out = held_out_geometry(source_mask)
        for i, solutions in enumerate(path.fold_solutions):
            scores[i, j] = circular_label_accuracy(geometry, held_out, solutions[j], labels, source_mask)
    return scores
