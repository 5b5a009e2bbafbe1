"""OTLabelPropagation: a classifier of the target rows, trained on labels carried by a coupling."""

import time
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from .._domain import domain_weights, infer_sample_domain
from .._progress import fitted
from ..backends import BACKENDS, METRICS
from ._adapter import OTDomainAdapter
from ._base import FittedPredictorMixin, keeps_model_on_failure

PROPAGATION_METHODS = ("sinkhorn", "exact")


class OTLabelPropagation(ClassifierMixin, FittedPredictorMixin, MetaEstimatorMixin, BaseEstimator):
    """Classifier of the target rows, trained on the labels an OT coupling carries to them.

    The coupling of the labelled source rows and the unlabelled target rows
    (:class:`OTDomainAdapter`, entropic or exact) gives each target row the class
    proportions of the source mass it receives (label propagation by optimal transport,
    Solomon et al. 2014; :meth:`OTDomainAdapter.transform_labels`); the classifier is then
    fitted on the target rows with their most likely class. The final step of a DA pipeline:
    :func:`skot.make_da_pipeline` keeps it as it is, since it learns from the target rows.
    Without target rows the classifier is fitted on the source rows.

    Parameters
    ----------
    estimator : classifier, default=None
        Fitted with ``sample_weight``. None: ``LogisticRegression()``.
    method : {"sinkhorn", "exact"}, default="sinkhorn"
        The coupling: entropic (its conditional at each target row) or exact (network simplex).
    reg : float or None, default=None
        Entropic ``reg`` of "sinkhorn" (cost-scale units; None: :class:`OTDomainAdapter`'s default).
    target_shift : bool, default=False
        Estimate the target's class proportions and reweight the source classes first
        (:class:`OTDomainAdapter` ``target_shift``), so that the propagated labels follow the
        target's class balance rather than the source's.
    metric : {"sqeuclidean", "euclidean", "cosine"}, default="sqeuclidean"
    backend : {"auto", "numpy", "numba"}, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    estimator_ : classifier
        Fitted on the target rows and their propagated labels (on the source rows when there
        are no target rows).
    adapter_ : OTDomainAdapter or None
        The fitted coupling (None without target rows).
    target_labels_ : ndarray or None
        The propagated label of each target row of the fit (of positive weight), in order.
    classes_ : ndarray
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import OTLabelPropagation, pack
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 2))
    >>> ys = (Xs[:, 0] > 0).astype(int)
    >>> X, y, _ = pack(Xs, Xs + [3.0, 0.0], ys)      # target rows: the source shifted, unlabelled
    >>> model = OTLabelPropagation().fit(X, y)
    >>> bool((model.predict(Xs + [3.0, 0.0]) == ys).mean() > 0.9)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "method": [StrOptions(set(PROPAGATION_METHODS))],
        "reg": [None, Interval(Real, 0, None, closed="neither")],
        "target_shift": ["boolean"],
        "metric": [StrOptions(set(METRICS))],
        "backend": [StrOptions(set(BACKENDS) - {"cupy"})],
        "verbose": ["verbose"],
    }

    # Final step of make_da_pipeline as it is: it learns from the target rows too.
    _learns_from_target_rows = True
    __metadata_request__fit = {"sample_domain": True}

    def __init__(self, estimator=None, *, method="sinkhorn", reg=None, target_shift=False, metric="sqeuclidean",
                 backend="auto", verbose=0):
        self.estimator = estimator
        self.method = method
        self.reg = reg
        self.target_shift = target_shift
        self.metric = metric
        self.backend = backend
        self.verbose = verbose

    def _base(self):
        return LogisticRegression() if self.estimator is None else self.estimator

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_model_on_failure
    def fit(self, X, y, sample_domain=None, sample_weight=None):
        """Propagate the source labels to the target rows of ``X``, then fit the classifier there.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Source and target rows together.
        y : array-like of shape (n_samples,)
            Labels of the source rows; without ``sample_domain``, -1 marks target rows.
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
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        is_source = domains >= 0
        if not is_source.any():
            raise ValueError("No source rows: every row is marked as target (sample_domain < 0 or masked label).")
        check_classification_targets(y[is_source])
        domain_weights(X, sample_weight, domains, is_source, "source", min_samples=1)  # checks the weights
        if (~is_source).any():
            adapter = OTDomainAdapter(self.method, reg=self.reg, target_shift=self.target_shift, metric=self.metric,
                                      backend=self.backend, verbose=self.verbose)
            adapter.fit(X, y, sample_domain=domains, sample_weight=sample_weight)
            b = domain_weights(X, sample_weight, domains, ~is_source, "target", min_samples=1)
            rows = X[~is_source][b > 0]
            labels = adapter.classes_[np.argmax(adapter.transform_labels(rows), axis=1)]
            # The rows' masses, scaled to a mean weight of one: the classifier's penalty keeps its strength.
            estimator = clone(self._base()).fit(rows, labels, sample_weight=b[b > 0] * np.count_nonzero(b))
        else:
            adapter = labels = None
            weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[is_source]
            estimator = clone(self._base()).fit(X[is_source], y[is_source], sample_weight=weights)
        self.adapter_, self.target_labels_, self.estimator_ = adapter, labels, estimator
        self.classes_ = estimator.classes_
        fitted(self, start)
        return self

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against the labels ``y`` (of target rows, when known)."""
        return super().score(X, y, sample_weight=sample_weight)
