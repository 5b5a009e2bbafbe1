"""JDOTClassifier and JDOTRegressor: predictors for the target domain, by joint distribution OT."""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from .._domain import domain_weights, infer_sample_domain
from .._progress import fitted
from ..solvers import jdot_classification, jdot_regression
from ._base import FittedPredictorMixin, keeps_model_on_failure, warn_if_not_converged

_PARAMETERS = """
    Parameters
    ----------
    estimator : {kind}, default=None
        Fitted with ``sample_weight``. None: ``{default}()``. A ``warm_start`` parameter is
        switched on between refits.
    alpha : float, default=0.5
        Weight of the label loss in the joint cost, in [0, 1] (0: the feature plan only).
    reg : float, default=0.0
        Entropic regularisation of the plans, in units of the mean feature cost; 0 for exact
        plans (network simplex, each warm-started from the last).
    max_iter : int, default=100
        Plans solved at most.
    tol : float, default=1e-5
        Stop when the joint objective changes by at most this much (it is in units of the
        mean feature cost), or when the plan repeats.
    verbose : int, default=0
        Progress through the ``"skot"`` logger at INFO level.

    Attributes
    ----------
    estimator_ : {kind}
        Fitted on the target rows (on the source rows when there are no target rows).
    objective_ : float or None
        The joint objective of the last plan (None without target rows).
    n_iter_ : int
        Plans solved (1 without target rows: the one fit on the source rows).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
"""


class _JDOT(FittedPredictorMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit of a predictor for the target rows by JDOT; subclasses name the task."""

    __metadata_request__fit = {"sample_domain": True}

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "reg": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    # Final step of make_da_pipeline as it is: it learns from the target rows too.
    _learns_from_target_rows = True

    def __init__(self, estimator=None, *, alpha=0.5, reg=0.0, max_iter=100, tol=1e-5, verbose=0):
        self.estimator = estimator
        self.alpha = alpha
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_model_on_failure
    def fit(self, X, y=None, sample_domain=None, sample_weight=None):
        """Fit the predictor of the target rows of ``X`` from its labelled source rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Source and target rows together.
        y : array-like of shape (n_samples,)
            Labels of the source rows; without ``sample_domain``, NaN (and, for classes, -1)
            marks target rows.
        sample_domain : array-like of int of shape (n_samples,), optional
            >= 0 for source rows, < 0 for target rows.
        sample_weight : array-like of shape (n_samples,), optional
            Mass of each row, normalised within its domain.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        X = validate_data(self, X, dtype=np.float64)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None (y holds "
                             "the labels of the source rows).")
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        is_source = domains >= 0
        if not is_source.any():
            raise ValueError("No source rows: every row is marked as target (sample_domain < 0 or masked label).")
        a = domain_weights(X, sample_weight, domains, is_source, "source", min_samples=1)
        source, labels = X[is_source][a > 0], self._checked_labels(y[is_source][a > 0])
        if (~is_source).any():
            b = domain_weights(X, sample_weight, domains, ~is_source, "target", min_samples=1)
            result = self._solver(self._base(), source, labels, X[~is_source][b > 0], a[a > 0], b[b > 0],
                                  alpha=self.alpha, eps=self.reg, max_iter=self.max_iter, tol=self.tol,
                                  verbose=self.verbose)
            warn_if_not_converged(self, result, self.tol, "change of the objective")
            estimator, objective, n_iter = result.estimator, result.objective, result.n_iter
        else:
            # The rows' own weights, not their normalised masses: the predictor's penalty keeps
            # its strength against them.
            weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[is_source][a > 0]
            estimator, objective, n_iter = clone(self._base()).fit(source, labels, sample_weight=weights), None, 1
        self.estimator_, self.objective_, self.n_iter_ = estimator, objective, n_iter
        self._fitted_from(estimator)
        fitted(self, start)
        return self

    def _fitted_from(self, estimator):
        """Attributes taken from the fitted predictor."""


class JDOTClassifier(ClassifierMixin, _JDOT):
    __doc__ = """Classifier for the target rows, trained by joint distribution optimal transport (JDOT).

    Alternates the optimal coupling of source and target rows for the joint cost
    ``(1 - alpha) |x - x'|^2 / mean cost + alpha * (-log p(y | x'))`` with a refit of the
    classifier on the target rows, each labelled by the classes the coupling brings to it
    (Courty et al. 2017; :func:`skot.solvers.jdot_classification`). Source rows are those
    with ``sample_domain >= 0`` or, without it, with a label (target rows have ``y`` -1 or
    NaN); without target rows the classifier is fitted on the source rows. The classifier
    must give ``predict_log_proba`` or ``predict_proba``: a log-loss model such as
    LogisticRegression is JDOT's.
    """ + _PARAMETERS.format(kind="classifier", default="LogisticRegression") + """    classes_ : ndarray
        The classes of ``estimator_``.

    Examples
    --------
    >>> import numpy as np
    >>> from skot import JDOTClassifier, pack
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 2))
    >>> ys = (Xs[:, 0] > 0).astype(int)
    >>> X, y, _ = pack(Xs, Xs + [3.0, 0.0], ys)      # target rows: the source shifted, unlabelled
    >>> model = JDOTClassifier().fit(X, y)
    >>> bool((model.predict(Xs + [3.0, 0.0]) == ys).mean() > 0.9)
    True
    """

    _solver = staticmethod(jdot_classification)

    def _base(self):
        return LogisticRegression() if self.estimator is None else self.estimator

    @staticmethod
    def _checked_labels(labels):
        check_classification_targets(labels)
        return labels

    def _fitted_from(self, estimator):
        self.classes_ = estimator.classes_

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against the labels ``y`` (of target rows, when known)."""
        return super().score(X, y, sample_weight=sample_weight)


class JDOTRegressor(RegressorMixin, _JDOT):
    __doc__ = """Regressor for the target rows, trained by joint distribution optimal transport (JDOT).

    Alternates the optimal coupling of source and target rows for the joint cost
    ``(1 - alpha) |x - x'|^2 / mean cost + alpha (y - f(x'))^2`` with a refit of the
    regressor on the target rows, each given the value the coupling brings to it (Courty et
    al. 2017; :func:`skot.solvers.jdot_regression`). Source rows are those with
    ``sample_domain >= 0`` or, without it, whose ``y`` is not NaN; without target rows the
    regressor is fitted on the source rows. The label loss is in the units of ``y``
    squared: scale ``y`` (or ``alpha``) so that it compares with the feature cost of one.
    """ + _PARAMETERS.format(kind="regressor", default="LinearRegression") + """
    Examples
    --------
    >>> import numpy as np
    >>> from skot import JDOTRegressor, pack
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.uniform(-1, 1, size=(100, 1))
    >>> X, y, domain = pack(Xs, Xs + 2.0, np.sin(3 * Xs[:, 0]))
    >>> model = JDOTRegressor().fit(X, y, sample_domain=domain)
    >>> model.n_iter_ >= 2
    True
    """

    _solver = staticmethod(jdot_regression)

    def _base(self):
        return LinearRegression() if self.estimator is None else self.estimator

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of ``predict(X)`` against the values ``y``."""
        return super().score(X, y, sample_weight=sample_weight)

    @staticmethod
    def _checked_labels(labels):
        labels = np.asarray(labels, dtype=np.float64)
        if not np.all(np.isfinite(labels)):
            raise ValueError("The source rows' values y must be finite.")
        return labels
