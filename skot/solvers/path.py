"""Entropic OT along a decreasing sequence of eps, on the cross-validation folds of one problem.

Each fold (its training rows) solves the grid from the largest eps to the smallest, each
solve starting from the last one's potentials (eps-scaling); a fold's geometry serves all of
its solves, and each solution is scored right after its solve, while the geometry's stored
kernel is the one of that eps.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils._param_validation import HasMethods, StrOptions

from ..backends import one_blas_thread
from ._refits import WarmRefits
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
    scores : ndarray of shape (k, n_folds) or None
        ``score(fold, solution)`` of each solution (None without ``score``).
    """

    eps: np.ndarray
    fold_solutions: tuple[tuple[SinkhornResult, ...], ...]
    fold_masks: tuple
    scores: np.ndarray | None = None

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


@checked(make_geometry=[callable], score=[callable, None], max_iter=COUNT, tol=POSITIVE, verbose=VERBOSE)
def sinkhorn_path(make_geometry, a, b, eps_values, *, folds, score=None, max_iter=1000, tol=1e-3, verbose=0):
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
    score : callable, optional
        ``score(fold, solution)`` (fold: its index in ``folds``), called right after each
        solve, while the fold's geometry stores that eps's kernel (see
        :func:`circular_path_score`).
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
    scores = None if score is None else np.empty((len(eps_values), len(masks)))
    # One hold of the BLAS limit for the many short solves and scores (each would take it anew).
    with one_blas_thread():
        for fold, (source, target) in enumerate(masks):
            geometry, fold_a, fold_b = make_geometry(source, target), _restricted(a, source), _restricted(b, target)
            solutions, start = [], None
            for step, eps in enumerate(eps_values):
                solutions.append(sinkhorn(geometry, fold_a, fold_b, eps, max_iter=max_iter, tol=tol, init=start,
                                          verbose=verbose))
                if score is not None:
                    scores[step, fold] = score(fold, solutions[-1])
                start = (solutions[-1].potential_source, None)
            # The solutions keep the geometry (for their plans), not its kernel: one fold's at a time.
            geometry.clear_cache()
            by_fold.append(solutions)
    return SinkhornPath(eps_values, tuple(zip(*by_fold)), masks, scores)


class _RoundTrip:
    """One fold's label round trip: forward through the fold's own geometry (a soft average of
    the training rows' one-hot labels, from the kernel its solve left), backward through the
    geometry of the held-out source rows by the training target rows, built once for the
    fold's every eps."""

    def __init__(self, make_geometry, codes, n_classes, source_mask, target_mask):
        source_mask = np.asarray(source_mask, dtype=bool)
        held_out = ~source_mask
        if not held_out.any():
            raise ValueError("The fold holds out no source row to score.")
        self.training_labels = np.eye(n_classes)[codes[source_mask]]
        self.held_out_geometry = make_geometry(held_out, target_mask)
        self.held_out_codes = codes[held_out]

    def accuracy(self, solution):
        eps = solution.eps
        log_a, log_b = solution.log_potentials
        # q_j(c): the share of class c in the plan's column at each target point (0 for a class
        # without training rows), then p(c | x) = sum_j pi(y_j | x) q_j(c).
        shares = solution.geometry.barycentric_map(log_a, eps, axis=0, values=self.training_labels)
        back = self.held_out_geometry.barycentric_map(log_b, eps, axis=1, values=shares)
        return float(np.mean(np.argmax(back, axis=1) == self.held_out_codes))


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
        The fold's solution, on its training rows (in order), with its geometry.
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
def circular_path_score(make_geometry, labels, folds):
    """The ``score`` of :func:`sinkhorn_path` that is :func:`circular_label_accuracy`.

    ``score(fold, solution)`` scores fold ``fold`` of ``folds`` (the path's masks); each fold's
    held-out geometry serves all its eps.
    """
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return _fold_score(lambda fold: _RoundTrip(make_geometry, codes, len(classes), *folds[fold]))


def _fold_score(build):
    """``score(fold, solution)``: the accuracy of ``build(fold)``, built when the fold changes (the
    path solves fold after fold: one fold's geometries are kept at a time)."""
    current = {}

    def score(fold, solution):
        if fold not in current:
            current.clear()  # freed before its successor is built
            current[fold] = build(fold)
        return current[fold].accuracy(solution)

    return score


class _ReverseValidation:
    """One fold's circular validation with a classifier, through the fold's plan both ways."""

    def __init__(self, estimator, make_geometry, source, target, codes, source_mask, target_mask, direction):
        source_mask, target_mask = np.asarray(source_mask, dtype=bool), np.asarray(target_mask, dtype=bool)
        if source_mask.all():
            raise ValueError("The fold holds out no source row to score.")
        # One copy each way per fold, refitted at every eps from its last fit: the mapped rows
        # move little from one eps to the next.
        self.forward, self.backward = WarmRefits(estimator), WarmRefits(estimator)
        self.direction = direction
        self.training_source, self.training_codes = source[source_mask], codes[source_mask]
        self.training_target = target[target_mask]
        self.held_out, self.held_out_codes = source[~source_mask], codes[~source_mask]
        # Held-out source rows are off the fold's plan: mapped to the target by the entropic
        # map's out-of-sample extension (only when the classifier learns in the target's space
        # of the reverse problem).
        self.held_out_geometry = make_geometry(~source_mask, target_mask) if direction == "target_to_source" else None

    def accuracy(self, solution):
        eps, geometry = solution.eps, solution.geometry
        log_a, log_b = solution.log_potentials
        if self.direction == "source_to_target":  # classifiers learn on mapped rows, predict raw ones
            pseudo = self.forward.fit(geometry.barycentric_map(log_b, eps, axis=1), self.training_codes).predict(
                self.training_target)
        else:
            # The source rows do not move with eps: one fit serves the fold.
            if self.forward.fitted is None:
                self.forward.fit(self.training_source, self.training_codes)
            pseudo = self.forward.fitted.predict(geometry.barycentric_map(log_a, eps, axis=0))
        if len(np.unique(pseudo)) < 2:  # a classifier cannot be fitted on one class: it predicts that one
            prediction = np.full(len(self.held_out), pseudo[0])
        elif self.direction == "source_to_target":
            prediction = self.backward.fit(geometry.barycentric_map(log_a, eps, axis=0), pseudo).predict(self.held_out)
        else:
            prediction = self.backward.fit(self.training_target, pseudo).predict(
                self.held_out_geometry.barycentric_map(log_b, eps, axis=1))
        return float(np.mean(prediction == self.held_out_codes))


@checked(estimator=[HasMethods(["fit", "predict"])], make_geometry=[callable],
         direction=[StrOptions({"source_to_target", "target_to_source"})])
def reverse_validation_path_score(estimator, make_geometry, source, target, labels, folds, *,
                                  direction="source_to_target"):
    """A ``score`` of :func:`sinkhorn_path`: circular (reverse) validation with a classifier.

    With a fold's plan on its training rows, ``direction`` "source_to_target": ``estimator``
    is fitted on the training source rows mapped to the target by the plan (barycentric map)
    and predicts the training target rows; a second copy is fitted on those rows mapped back
    to the source by the plan's columns, with these predictions as labels, and predicts the
    held-out source rows. "target_to_source": the first copy learns on the source rows and
    predicts the target rows mapped to the source; the second learns on the target rows and
    predicts the held-out source rows mapped to the target (the entropic map's extension).
    The score is the accuracy on the held-out source rows (Bruzzone & Marconcini 2010; the
    reverse problem's plan is the transpose of the forward one: no second solve). Target
    labels are never read.

    Parameters
    ----------
    estimator : classifier
        Two clones per fold, each refitted at every eps, from its last fit where the
        estimator has a ``warm_start`` parameter (switched on) and the classes are the same.
    make_geometry : callable
        As for :func:`sinkhorn_path`.
    source, target : ndarray of shape (n, d), (m, d)
        All source and target rows (each fold's geometry holds its training rows, in order).
    labels : array-like of shape (n,)
        Class of every source row.
    folds : sequence of (ndarray of bool (n,), ndarray of bool (m,))
        The path's training masks.
    direction : {"source_to_target", "target_to_source"}, default="source_to_target"
        The side that the adapter maps, in whose images the classifier learns.

    Returns
    -------
    callable
        ``score(fold, solution)``.
    """
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    return _fold_score(lambda fold: _ReverseValidation(estimator, make_geometry, source, target, codes,
                                                       *folds[fold], direction))


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
