"""Domain-adaptation pipelines: the final estimator learns from source rows only."""

from collections import Counter

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils._tags import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._domain import infer_sample_domain

__all__ = ["SourceOnlyEstimator", "make_da_pipeline"]


def _inner_has(method):
    return lambda self: hasattr(self.estimator, method)


def _rows(X, rows):
    """``X[rows]`` for arrays, lists, data frames, any sparse format and array-likes."""
    if issparse(X):
        X = X.tocsr()
    elif not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    return _safe_indexing(X, rows)


def _per_row(value, n_samples, rows):
    """``value[rows]`` for per-row fit parameters (length ``n_samples``), else ``value``."""
    if hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n_samples:
        return _safe_indexing(value, rows)
    return value


class SourceOnlyEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit ``estimator`` on the source rows only; predict on any rows.

    Source rows are those with ``sample_domain >= 0`` (routing on) or, without it, those
    whose label is not masked (``y != -1`` / not NaN, routing off), so the same
    pipeline works in both modes. Prediction methods delegate to the fitted copy.

    Parameters
    ----------
    estimator : estimator
        The supervised (or unsupervised) final estimator.

    Attributes
    ----------
    estimator_ : estimator
        Fitted clone of ``estimator``.
    classes_ : ndarray
        Of the fitted classifier, when it has them.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import SourceOnlyEstimator
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0]])
    >>> y = np.array([0, 0, 1, 1, -1, -1])          # the last two rows are target rows
    >>> SourceOnlyEstimator(LogisticRegression()).fit(X, y).estimator_.n_features_in_
    1
    """

    __metadata_request__fit = {"sample_domain": True}
    # Pipeline.score routes its sample_weight (None or not) once routing is on: requested
    # here, so that the pipeline's score works in both modes. allow_source: what skada's
    # importance-weighted scorer passes to score the source rows (they are what is scored).
    __metadata_request__score = {"sample_domain": True, "sample_weight": True, "allow_source": True}

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y=None, sample_domain=None, **fit_params):
        """Fit a clone of ``estimator`` on the source rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Labels, with target rows masked (-1 or NaN) when ``sample_domain`` is absent.
        sample_domain : array-like of int of shape (n_samples,), optional
        **fit_params : dict
            Passed on; per-row arrays are restricted to the source rows.

        Returns
        -------
        self
        """
        n_samples = _num_samples(X)
        if y is not None and _num_samples(y) != n_samples:
            raise ValueError(f"X has {n_samples} rows but y has {_num_samples(y)} labels.")
        rows = np.flatnonzero(infer_sample_domain(n_samples, y, sample_domain, labels_only=False) >= 0)
        if len(rows) == 0:
            raise ValueError("No source rows to fit the final estimator on: every row is marked as target.")
        params = {key: _per_row(value, n_samples, rows) for key, value in fit_params.items()}
        estimator = clone(self.estimator)
        estimator.fit(_rows(X, rows), None if y is None else _rows(y, rows), **params)
        self.estimator_ = estimator
        if hasattr(estimator, "classes_"):
            self.classes_ = estimator.classes_
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        return self

    @available_if(_inner_has("predict"))
    def predict(self, X, **params):
        """``estimator_.predict``."""
        check_is_fitted(self)
        return self.estimator_.predict(X, **params)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X, **params):
        """``estimator_.predict_proba``."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X, **params)

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """``estimator_.predict_log_proba``."""
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X, **params)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X, **params):
        """``estimator_.decision_function``."""
        check_is_fitted(self)
        return self.estimator_.decision_function(X, **params)

    @available_if(_inner_has("transform"))
    def transform(self, X, **params):
        """``estimator_.transform``."""
        check_is_fitted(self)
        return self.estimator_.transform(X, **params)

    @available_if(_inner_has("score"))
    def score(self, X, y=None, sample_domain=None, sample_weight=None, allow_source=True, **params):
        """``estimator_.score`` on the rows with known labels (source rows), weighted by
        their ``sample_weight`` when given (``allow_source``: skada's flag, always true here)."""
        check_is_fitted(self)
        rows = np.flatnonzero(infer_sample_domain(_num_samples(X), y, sample_domain, labels_only=False) >= 0)
        if sample_weight is not None:
            params["sample_weight"] = sample_weight
        params = {key: _per_row(value, _num_samples(X), rows) for key, value in params.items()}
        y_rows = None if y is None else _rows(y, rows)
        return self.estimator_.score(_rows(X, rows), y_rows, **params)

    def __sklearn_tags__(self):
        tags = get_tags(self.estimator)
        # The source-row selection reads labels and domains with NumPy.
        tags.array_api_support = False
        return tags


def _step_names(estimators):
    """Lower-case class names, numbered when repeated (as :func:`sklearn.pipeline.make_pipeline`)."""
    names = [type(estimator).__name__.lower() for estimator in estimators]
    counts = Counter(names)
    seen = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(f"{name}-{seen[name]}" if counts[name] > 1 else name)
    return out


def make_da_pipeline(*steps, memory=None, verbose=False):
    """A :class:`~sklearn.pipeline.Pipeline` whose final estimator learns from source rows only.

    Intermediate steps (adapters, scalers) see every row; the final estimator is wrapped
    in :class:`SourceOnlyEstimator` (its parameters are ``<name>__estimator__<param>``),
    unless it learns from the target rows too (:class:`JDOTClassifier`).
    Works with routing off (masked labels mark the target rows) and on (``sample_domain``).

    Parameters
    ----------
    *steps : estimators
        Transformers, then the final estimator.
    memory, verbose :
        As in :func:`sklearn.pipeline.make_pipeline`.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline, pack
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 2))
    >>> X, y, _ = pack(Xs, Xs + 2.0, (Xs[:, 0] > 0).astype(int))
    >>> model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    >>> bool((model.predict(Xs + 2.0) == (Xs[:, 0] > 0)).mean() > 0.9)
    True
    """
    if not steps:
        raise ValueError("make_da_pipeline needs at least one step.")
    # An estimator that learns from the target rows too (JDOTClassifier) ends the pipeline as it is.
    final = steps[-1] if getattr(steps[-1], "_learns_from_target_rows", False) else SourceOnlyEstimator(steps[-1])
    estimators = list(steps[:-1]) + [final]
    names = _step_names(list(steps))
    return Pipeline(list(zip(names, estimators)), memory=memory, verbose=verbose)
