"""Entropic OT along a decreasing sequence of eps, on the cross-validation folds of one problem.

Each fold (its training rows) solves the grid from the largest eps to the smallest, each
solve starting from the last one's potentials (eps-scaling); a fold's geometry, and its
stored kernel at each eps, serve all of the fold's solves and scores.
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
        ``fold_solutions[i][j]``: fold j at ``eps[i]``, on the fold's training rows (in order).
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
    """``weights`` of the rows in ``mask``, scaled back to unit mass."""
    kept = weights[mask]
    total = kept.sum()
    if not total > 0:
        raise ValueError("A fold keeps no mass on one side: its training rows there have no weight.")
    return kept / total


@checked(make_geometry=[callable], max_iter=COUNT, tol=POSITIVE, verbose=VERBOSE)
def sinkhorn_path(make_geometry, a, b, eps_values, *, folds, max_iter=1000, tol=1e-3, verbose=0):
    """Solve entropic OT on each fold at each of ``eps_values``, largest first, each from the last.

    Parameters
    ----------
    make_geometry : callable
        ``make_geometry(source_rows, target_rows)``: the geometry of the source rows in the
        boolean mask ``source_rows`` by the target rows in ``target_rows``.
    a, b : ndarray of shape (n,), (m,)
        Weights of all source and target rows (restricted and rescaled on each fold).
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
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    masks = tuple((np.asarray(source, dtype=bool), np.asarray(target, dtype=bool)) for source, target in folds)
    by_fold = []
    for source, target in masks:
        geometry, fold_a, fold_b = make_geometry(source, target), _restricted(a, source), _restricted(b, target)
        solutions, start = [], None
        for eps in eps_values:
            solutions.append(sinkhorn(geometry, fold_a, fold_b, eps, max_iter=max_iter, tol=tol, init=start,
                                      verbose=verbose))
            start = (solutions[-1].potential_source, None)
        by_fold.append(solutions)
    return SinkhornPath(eps_values, tuple(zip(*by_fold)), masks)


class _RoundTrip:
    """The geometries of one fold's label round trip, reused at every eps of a path.

    Forward, one geometry per class of the training source rows (together one pass over the
    training rows, where masking the other classes would cost a pass per class), by the
    training target rows; backward, the held-out source rows by the training target rows.
    """

    def __init__(self, make_geometry, codes, n_classes, source_mask, target_mask):
        source_mask = np.asarray(source_mask, dtype=bool)
        held_out = ~source_mask
        if not held_out.any():
            raise ValueError("The fold holds out no source row to score.")
        training_codes = codes[source_mask]
        self.class_rows = [training_codes == label for label in range(n_classes)]
        self.class_geometries = [make_geometry(source_mask & (codes == label), target_mask) if rows.any() else None
                                 for label, rows in enumerate(self.class_rows)]
        self.held_out_geometry = make_geometry(held_out, target_mask)
        self.held_out_codes = codes[held_out]

    def accuracy(self, solution):
        eps = solution.eps
        log_a, log_b = solution.log_potentials
        # -eps log of each class's share of the plan's column at every target point (a class
        # without training rows has none: +inf).
        forward = np.column_stack([
            np.full(len(log_b), np.inf) if geometry is None else geometry.softmin(log_a[rows], eps, axis=0)
            for rows, geometry in zip(self.class_rows, self.class_geometries)])
        with np.errstate(divide="ignore"):
            log_q = np.log(softmax(-forward / eps, axis=1))
        backward = np.column_stack([self.held_out_geometry.softmin(log_b + eps * log_q[:, label], eps, axis=1)
                                    for label in range(log_q.shape[1])])
        return float(np.mean(np.argmin(backward, axis=1) == self.held_out_codes))


@checked(make_geometry=[callable])
def circular_label_accuracy(make_geometry, solution, labels, source_mask, target_mask):
    """Held-out accuracy of the source labels carried to the target and back by an entropic plan.

    The labels of the training source rows go to each training target point j by the plan's
    column ``q_j(c) = pi(c | y_j)``; a held-out source row x takes back
    ``p(c | x) = sum_j pi(y_j | x) q_j(c)`` through the entropic map's conditional
    ``pi(y_j | x) ~ b_j exp((g_j - C(x, y_j)) / eps)``. The score is the share of held-out
    source rows whose most likely class is their own (circular validation, with the plan
    as the classifier).

    Parameters
    ----------
    make_geometry : callable
        As for :func:`sinkhorn_path`.
    solution : SinkhornResult
        The fold's solution, on its training rows (in order).
    labels : array-like of shape (n,)
        Class of every source row.
    source_mask, target_mask : ndarray of bool of shape (n,), (m,)
        The fold's training rows; the source rows off ``source_mask`` are scored.

    Returns
    -------
    float
    """
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return _RoundTrip(make_geometry, codes, len(classes), source_mask, target_mask).accuracy(solution)


@checked(make_geometry=[callable])
def path_circular_scores(path, make_geometry, labels):
    """:func:`circular_label_accuracy` of every solution of ``path``: shape (n_eps, n_folds).

    ``make_geometry`` as for :func:`sinkhorn_path`; each fold's geometries serve all its eps.
    """
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    scores = np.empty((len(path.eps), len(path.fold_masks)))
    for j, (source_mask, target_mask) in enumerate(path.fold_masks):
        round_trip = _RoundTrip(make_geometry, codes, len(classes), source_mask, target_mask)
        scores[:, j] = [round_trip.accuracy(solutions[j]) for solutions in path.fold_solutions]
    return scores


def one_standard_error_choice(scores):
    """Index of the largest reg whose mean fold score is within one standard error of the best.

    ``scores`` has one row per reg, largest reg first, one column per fold. The smoothest
    plan that scores as well as the best within the folds' noise (the one-standard-error
    rule of Hastie, Tibshirani & Friedman).
    """
    means = scores.mean(axis=1)
    best = int(np.argmax(means))
    standard_error = scores[best].std() / np.sqrt(scores.shape[1])
    return int(np.flatnonzero(means >= means[best] - standard_error)[0])
