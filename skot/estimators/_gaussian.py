"""GaussianBuresMap: closed-form OT between Gaussian fits of source and target."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._domain import domain_weights, infer_sample_domain, reference_points
from ..backends import BACKENDS, array_namespace_of, device, take_rows
from ..solvers import bures_wasserstein_distance, fit_gaussian, gaussian_ot
from ..solvers.gaussian import COVARIANCE_ESTIMATORS, fit_subspace_gaussians, subspace_gaussian_ot, use_subspace
from ._base import DomainTransformerMixin, keeps_model_on_failure

# Mean and covariance of the reference targets, per unit dimension.
REFERENCE_MOMENTS = {"normal": (0.0, 1.0), "uniform": (0.5, 1.0 / 12.0)}


class GaussianBuresMap(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Optimal transport map between Gaussian fits of the source and the target.

    T(x) = m_t + A (x - m_s) with A = C_s^-1/2 (C_s^1/2 C_t C_s^1/2)^1/2 C_s^-1/2 (the
    Bures-Wasserstein map), its entropic counterpart when ``entropic_reg > 0``, and
    the McCann interpolation x -> (1 - t) x + t T(x).

    Parameters
    ----------
    covariance : {"empirical", "ledoit_wolf", "oas"} or estimator, default="empirical"
        How covariances are estimated; an estimator is any scikit-learn covariance
        estimator (``fit`` then ``location_``, ``covariance_``).
    reg : float, default=1e-6
        Ridge added to each covariance, in units of its total variance (trace). With
        ``reg=0`` a rank-deficient source covariance is inverted on its range (eigenvalues
        below 1e-12 of the largest raised to that floor), and ``inverse_transform`` of a
        singular map is a ValueError.
    t : float in [0, 1], default=1.0
        Point on the McCann geodesic: 0 is the identity, 1 the full map.
    entropic_reg : float, default=0.0
        Epsilon of min E|X - Y|^2 + eps KL(pi | mu (x) nu) (raw squared-distance units);
        0 gives the unregularised map.
    target : {"normal", "uniform"} or array-like, default="normal"
        Reference when the data carry no target rows: N(0, I), the uniform law on
        [0, 1]^d (exact moments), or points whose Gaussian fit is used.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Array backend (the closed form is dense linear algebra on every CPU backend).
    verbose : int, default=0
        The fit's time through the ``"skot"`` logger at INFO level (a handler on standard error
        is added when logging is not configured).

    Attributes
    ----------
    mean_source_, covariance_source_, mean_target_, covariance_target_ : ndarray
        The Gaussian fits.
    coef_ : ndarray of shape (n_features, n_features)
        Linear part of the map, interpolated by ``t``: (1 - t) I + t A (symmetric).
    intercept_ : ndarray of shape (n_features,)
        So that ``transform(X) = X @ coef_.T + intercept_``.
    distance_ : float
        Bures-Wasserstein distance W2 between the two Gaussian fits.
    backend_ : str
    n_iter_ : int
        1: the map is in closed form.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import GaussianBuresMap
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2)) @ [[2.0, 0.0], [1.0, 0.5]] + 3.0
    >>> Z = GaussianBuresMap().fit_transform(X)     # no target rows: onto N(0, I)
    >>> np.round(np.cov(Z.T, bias=True), 4).tolist(), bool(np.allclose(Z.mean(axis=0), 0.0))
    ([[1.0, 0.0], [0.0, 1.0]], True)
    """

    _parameter_constraints = {
        "covariance": [StrOptions(set(COVARIANCE_ESTIMATORS)), HasMethods(["fit"])],
        "reg": [Interval(Real, 0, None, closed="left")],
        "t": [Interval(Real, 0, 1, closed="both")],
        "entropic_reg": [Interval(Real, 0, None, closed="left")],
        "target": [StrOptions(set(REFERENCE_MOMENTS)), "array-like"],
        "backend": [StrOptions(set(BACKENDS))],
        "verbose": ["verbose"],
    }

    _fitted_attribute = "coef_"
    _supports_array_api = True

    def _array_api_supported(self):
        return isinstance(self.covariance, str) and self.covariance == "empirical"  # sklearn's estimators: NumPy

    def __init__(self, *, covariance="empirical", reg=1e-6, t=1.0, entropic_reg=0.0,
                 target="normal", backend="auto", verbose=0):
        self.covariance = covariance
        self.reg = reg
        self.t = t
        self.entropic_reg = entropic_reg
        self.target = target
        self.backend = backend
        self.verbose = verbose

    def _target_moments(self, X):
        xp, n_features = array_namespace_of(X), X.shape[1]
        if isinstance(self.target, str):
            mean, variance = REFERENCE_MOMENTS[self.target]
            return (xp.full(n_features, mean, dtype=xp.float64, device=device(X)),
                    variance * xp.eye(n_features, dtype=xp.float64, device=device(X)))
        points = reference_points(self.target, n_features, None, None)
        if xp is not np:
            points = xp.asarray(points, device=device(X))
        return fit_gaussian(points, np.ones(points.shape[0]), self.covariance, self.reg)

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        X, backend, data = self._prepare_fit(X, y, sample_domain, sample_weight)
        xp = array_namespace_of(X)
        _check_source_spread(data.source, xp)
        if self._in_subspace(xp, data):
            (mean_source, cov_source), (mean_target, cov_target), result = self._subspace_fit(data, X.shape[1])
        else:
            mean_source, cov_source = fit_gaussian(data.source, data.source_weights, self.covariance, self.reg)
            if data.target is None:
                mean_target, cov_target = self._target_moments(X)
            else:
                mean_target, cov_target = fit_gaussian(data.target, data.target_weights, self.covariance, self.reg)
            result = gaussian_ot(mean_source, cov_source, mean_target, cov_target, self.entropic_reg)
        # Fitted attributes only once everything succeeded.
        self.backend_ = backend
        self.mean_source_, self.covariance_source_ = mean_source, cov_source
        self.mean_target_, self.covariance_target_ = mean_target, cov_target
        identity = np.eye(X.shape[1]) if xp is np else xp.eye(X.shape[1], dtype=xp.float64, device=device(X))
        self.coef_ = (1.0 - self.t) * identity + self.t * result.linear
        self.intercept_ = self.t * (mean_target - result.linear @ mean_source)
        self.distance_ = result.distance
        self.n_iter_ = 1
        return X, infer_sample_domain(X.shape[0], y, sample_domain)

    def _in_subspace(self, xp, data):
        """Whether the rows are few enough next to the features for the subspace solve."""
        rows = data.source.shape[0] + (0 if data.target is None else data.target.shape[0])
        reference = data.target is not None or isinstance(self.target, str)
        empirical = isinstance(self.covariance, str) and self.covariance == "empirical"
        return xp is np and empirical and reference and use_subspace(rows, data.source.shape[1])

    def _subspace_fit(self, data, n_features):
        """Moments and map in the span of the centred rows (the rest is the ridge, or the
        reference's isotropic variance): O(d q^2), not O(d^3)."""
        if data.target is None:
            gaussians = fit_subspace_gaussians([data.source], [data.source_weights], self.reg)
            mean, variance = REFERENCE_MOMENTS[self.target]
            gaussians = gaussians.with_isotropic(np.full(n_features, mean), variance)
        else:
            gaussians = fit_subspace_gaussians([data.source, data.target], [data.source_weights,
                                                                            data.target_weights], self.reg)
        moments = [(gaussians.means[k], gaussians.covariance(k)) for k in (0, 1)]
        return moments[0], moments[1], subspace_gaussian_ot(gaussians, 0, 1, self.entropic_reg)

    def _map(self, X):
        xp = array_namespace_of(X)
        if xp is not np:
            return X @ xp.astype(self.coef_, X.dtype).T + xp.astype(self.intercept_, X.dtype)
        mapped = X @ self.coef_.T.astype(X.dtype, copy=False)
        mapped += self.intercept_.astype(X.dtype, copy=False)
        return mapped

    def inverse_transform(self, X):
        """Inverse of the affine map: ``(X - intercept_) @ inv(coef_).T``.

        With ``reg=0`` and a rank-deficient covariance (fewer rows than features, or data on
        a subspace) ``coef_`` is singular and the map has no inverse: a ValueError says so
        (any ``reg > 0`` makes both covariances, hence the map, invertible).
        """
        X = self._validate_fitted_input(X, "inverse_transform")
        xp = array_namespace_of(X)
        try:
            inverse = xp.linalg.solve(self.coef_, (X - self.intercept_).T).T
        except np.linalg.LinAlgError:
            inverse = None
        if inverse is None or not bool(xp.all(xp.isfinite(inverse))):
            raise ValueError("coef_ is singular (a rank-deficient covariance fitted with reg=0): the map has no "
                             "inverse; fit with reg > 0.")
        return xp.astype(inverse, X.dtype)

    def score(self, X, y=None, sample_domain=None):
        """Minus the squared Bures-Wasserstein distance between mapped source rows and the target.

        Target rows of ``X`` (by ``sample_domain`` or masked ``y``) give the target
        Gaussian; without any, the fitted target Gaussian is used. Higher is better.
        """
        X, domains, is_source, weights = self._source_rows_for_score(X, y, sample_domain)
        if int(np.count_nonzero(is_source)) < 2:
            raise ValueError("score needs at least 2 source rows: it compares the Gaussian fit of the "
                             "mapped source rows with the target's.")
        mean, cov = fit_gaussian(self._map(take_rows(X, is_source)), weights)
        if (~is_source).any():
            target_weights = domain_weights(X, None, domains, ~is_source, "target")
            mean_target, cov_target = fit_gaussian(take_rows(X, ~is_source), target_weights)
        else:
            mean_target, cov_target = self.mean_target_, self.covariance_target_
        return -bures_wasserstein_distance(mean, cov, mean_target, cov_target) ** 2


def _check_source_spread(source, xp):
    """A ValueError for source rows that coincide to float64 precision: no map pushes a
    point onto a spread target (the ridge alone would give a linear part of 1e17 and more)."""
    spread = float(xp.max(xp.max(source, axis=0) - xp.min(source, axis=0)))
    size = float(xp.max(xp.abs(source)))
    if not spread > 1e-12 * size:
        raise ValueError(
            f"The source rows coincide (to {spread:.3g} in coordinates of size {size:.3g}): the map from a "
            "single point is not defined; check the source rows and their sample_domain."
        )
