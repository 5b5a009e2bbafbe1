"""Validation shared by the estimators: data layout, backends, warnings."""

import copy
import functools
import time
import warnings

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._dask import accepts_dask_arrays
from .._domain import domain_weights, infer_sample_domain, split_source_target
from .._progress import fitted
from ..backends import (FLOAT_DTYPES, array_namespace_of, assemble_rows, check_representable, float_dtypes,
                        is_dask_array, resolve_backend, take_rows)


def warn_if_not_converged(estimator, result, tol, quantity="marginal error"):
    """Issue scikit-learn's ConvergenceWarning when a solver stopped on max_iter.

    ``quantity`` names what ``result.error`` measures against ``tol``.
    """
    if not result.converged:
        warnings.warn(
            f"{type(estimator).__name__} did not converge in {result.n_iter} iterations "
            f"({quantity} {result.error:.3e} > tol={tol:g}); increase max_iter or reg.",
            ConvergenceWarning,
            stacklevel=3,
        )


# An eps below this fraction of the mean cost is under the rounding of potentials of the
# order of the costs (float64 keeps 16 digits): the plan's marginals would be off by more
# than the iterations can measure. Exact OT is the answer there.
MIN_RELATIVE_EPS = 1e-12


def check_resolvable_eps(eps, mean_cost, name="reg"):
    """``eps``, or a ValueError when float64 cannot resolve it against costs of ``mean_cost``."""
    if 0 < eps < MIN_RELATIVE_EPS * mean_cost:
        raise ValueError(
            f"{name} gives eps = {eps:.3g}, below {MIN_RELATIVE_EPS:g} times the mean cost {mean_cost:.3g}: "
            "float64 cannot resolve it (potentials of the order of the costs are rounded by more than "
            f"eps); increase {name}, or solve exact OT (OTDomainAdapter('exact'), skot.solvers.exact_transport)."
        )
    return eps


def cost_statistic(geometry, a, b, kind="mean"):
    """A statistic of the source-target costs; a ValueError when float64 cannot hold it
    (0 is returned: coincident points have a cost unit only when one is given)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing costs: refused just below
        value = geometry.cost_statistic(kind, a, b)
    return value and check_representable(value, f"{kind} source-target cost")


def resolve_cost_scale(cost_scale, geometry, a, b):
    """Raw cost unit of the regularisations: 1 (None), a float, or a statistic of the costs."""
    if cost_scale is None:
        return 1.0
    if not isinstance(cost_scale, str):
        return float(cost_scale)
    return check_representable(cost_statistic(geometry, a, b, cost_scale), f"{cost_scale} source-target cost",
                               if_zero="rescale X, or pass cost_scale as a positive float")


def keeps_model_on_failure(fit=None, *, copy_arrays=False):
    """Decorate a fitting method: if it raises (or is interrupted), the estimator's
    attributes are restored, so a failed refit leaves the previous model whole (validation
    would otherwise have reset ``n_features_in_`` under the old fitted arrays).

    ``copy_arrays``: also restore arrays the method updates in place (``partial_fit``).
    """
    if fit is None:
        return functools.partial(keeps_model_on_failure, copy_arrays=copy_arrays)

    @functools.wraps(fit)
    def guarded(self, *args, **kwargs):
        state = copy.deepcopy(vars(self)) if copy_arrays else dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(state)
            raise

    return guarded


class DomainTransformerMixin(TransformerMixin):
    """fit / fit_transform / transform over source and target rows (docs/conventions.rst).

    Subclasses implement ``_fit(X, y, sample_domain, sample_weight)`` (validating
    ``X`` and returning it with the domain of each row) and ``_map(X)`` (the map
    on validated rows). ``sample_domain`` is requested by default through
    scikit-learn's metadata routing; nothing global is changed. A TransformerMixin itself,
    so that scikit-learn wraps the ``transform`` and ``fit_transform`` defined here for
    ``set_output`` (it wraps only the methods a class defines).
    """

    # The fitted attribute set last by _fit; until it exists the estimator is not fitted
    # (an interrupted fit may already have set n_features_in_).
    _fitted_attribute = None

    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__transform = {"sample_domain": True}
    __metadata_request__score = {"sample_domain": True}

    def fit(self, X, y=None, sample_domain=None, sample_weight=None):
        """Fit the map from the source rows of ``X`` to its target rows (or reference).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Source and target rows together.
        y : array-like of shape (n_samples,), optional
            Masked labels (-1 or NaN mark target rows) when ``sample_domain`` is absent.
        sample_domain : array-like of int of shape (n_samples,), optional
            >= 0 for source rows, < 0 for target rows.
        sample_weight : array-like of shape (n_samples,), optional
            Mass of each row, normalised within its domain.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._fit(X, y, sample_domain, sample_weight)
        fitted(self, start)
        return self

    def fit_transform(self, X, y=None, sample_domain=None, sample_weight=None):
        """Fit, then transform the fitted rows with their domains, as ``transform(X,
        sample_domain)`` does (source rows mapped, target rows as they are, unless the
        estimator's ``transform`` says otherwise). Parameters are those of :meth:`fit`."""
        start = time.perf_counter()
        X, domains = self._fit(X, y, sample_domain, sample_weight)
        fitted(self, start)
        return self._transform_fitted(X, domains)

    def _transform_fitted(self, X, domains):
        """The fitted rows ``X`` (validated) transformed with their ``domains``."""
        if is_dask_array(X):
            return self.transform(X, sample_domain=domains)
        return self._map_source_rows(X, domains)

    @accepts_dask_arrays
    def transform(self, X, sample_domain=None):
        """The map at the rows of ``X`` (source rows only if ``sample_domain`` is given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of int of shape (n_samples,), optional
            When given, rows with ``sample_domain < 0`` are target rows, returned unchanged.

        Returns
        -------
        X_mapped : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_fitted_input(X)
        if sample_domain is None:
            return self._map(X)
        return self._map_source_rows(X, infer_sample_domain(X.shape[0], None, sample_domain))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.array_api_support = self._array_api_supported()
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, self._fitted_attribute)

    # Estimators whose fit keeps a dask array of rows on the workers (block geometry); the
    # others load it.
    _fits_dask_arrays = False

    def _prepare_fit(self, X, y, sample_domain, sample_weight, metric="sqeuclidean"):
        """Validated X, the backend that will run, and the source/target split (the parameters
        are validated by the fit method's ``_fit_context``)."""
        if is_dask_array(X) and not self._fits_dask_arrays:
            X = X.compute()  # estimators without a block geometry fit in memory
        if is_dask_array(X):
            X = self._validate_dask_rows(X)
        else:
            X = validate_data(self, X, dtype=float_dtypes(array_namespace_of(X)))
        return X, self._backend_for(X, metric), split_source_target(X, y, sample_domain, sample_weight)

    # Estimators whose fit runs array-API-generic code on non-NumPy arrays.
    _supports_array_api = False
    # Estimators that run the fused CUDA kernels (backends/_cuda.py) on CuPy arrays; the others
    # take the dense array-API path there.
    _runs_cuda_kernels = False

    def _array_api_supported(self):
        """Whether these parameters run on non-NumPy arrays (the array_api_support tag)."""
        return self._supports_array_api

    def _namespace_attribute(self):
        """A fitted array attribute in the namespace and on the device of the fit's X."""
        return self._fitted_attribute

    def _backend_for(self, X, metric="sqeuclidean"):
        """The backend that runs this estimator on validated rows ``X`` (see ``resolve_backend``)."""
        xp = array_namespace_of(X)
        if xp is not np and not is_dask_array(X) and not self._array_api_supported():
            raise ValueError(
                f"{type(self).__name__} with these parameters does not support {xp.__name__} arrays; "
                "give NumPy arrays or turn array_api_dispatch off."
            )
        return resolve_backend(self.backend, metric, X, cuda_kernels=self._runs_cuda_kernels)

    def _validate_dask_rows(self, X):
        """Checks of a dask array of rows without loading it: 2-D, float, finite (one pass)."""
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"Expected a non-empty 2-D dask array, got shape {X.shape}.")
        if X.dtype not in FLOAT_DTYPES:
            X = X.astype(np.float64)
        validate_data(self, np.zeros((1, X.shape[1]), dtype=X.dtype))  # n_features_in_
        if not bool(X.map_blocks(lambda block: np.isfinite(block).all(keepdims=True), chunks=(1, 1)).all().compute()):
            raise ValueError("Input X contains NaN or infinity.")
        return X

    def _source_rows_for_score(self, X, y, sample_domain):
        """Validated X, its domains, the source mask and uniform per-domain source weights."""
        X = self._validate_fitted_input(X)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        is_source = domains >= 0
        if not is_source.any():
            raise ValueError(
                "score needs source rows; every row of X is marked as target. In a search or "
                "cross-validation this is a fold without source rows (KFold on source rows "
                "followed by target rows): pass cv=skot.model_selection.SourceTargetShuffleSplit(), "
                "which keeps both in every fold."
            )
        return X, domains, is_source, domain_weights(X, None, domains, is_source, "source", min_samples=1)

    def _validate_fitted_input(self, X, method="transform"):
        """X for a fitted ``method``: same namespace and device as at fit, checked like X there."""
        check_is_fitted(self)
        if self._supports_array_api:
            check_same_namespace(X, self, attribute=self._namespace_attribute(), method=f"{type(self).__name__}.{method}()")
        return validate_data(self, X, dtype=float_dtypes(array_namespace_of(X)), reset=False)

    def _map_source_rows(self, X, domains):
        is_source = domains >= 0
        if array_namespace_of(X) is not np:
            return assemble_rows(X, [(np.flatnonzero(is_source), self._map(take_rows(X, is_source))),
                                     (np.flatnonzero(~is_source), take_rows(X, ~is_source))])
        out = X.copy()
        if is_source.any():
            out[is_source] = self._map(X[is_source])
        return out


def _estimator_has(method):
    return lambda self: hasattr(self.estimator_ if hasattr(self, "estimator_") else self._base(), method)


class FittedPredictorMixin:
    """Predictions of an estimator that fits a scikit-learn predictor, ``estimator_``, for the
    target rows (``_base()`` gives the unfitted one): ``predict`` and the classifier's
    probability and decision methods, on rows checked as at fit."""

    def _checked(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def predict(self, X):
        """Predictions at the rows of ``X`` (target rows, or any)."""
        X = self._checked(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the rows of ``X``, columns in the order of ``classes_``."""
        X = self._checked(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the rows of ``X``."""
        X = self._checked(X)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The classifier's decision function at the rows of ``X``."""
        X = self._checked(X)
        return self.estimator_.decision_function(X)
