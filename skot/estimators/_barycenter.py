"""WassersteinBarycenter: barycenter of the domains in the data, and maps onto it."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._dask import accepts_dask_arrays
from .._domain import by_domain, domain_measures, infer_sample_domain
from ..backends import (BACKENDS, array_namespace_of, as_dtype, as_float64, device, float_dtypes,
                        get_geometry, like, namespace, to_numpy)
from ..solvers import (
    barycenter_map_plans,
    bures_barycenter_maps,
    fit_gaussian,
    free_support_barycenter,
    gaussian_ot,
    log_weighted,
    psd_power,
    use_multiscale,
)
from ._base import (
    keeps_model_on_failure,
    check_resolvable_eps,
    DomainTransformerMixin,
    warn_if_not_converged,
)

DEFAULT_SUPPORT_SIZE = 100
# covariance_reg="auto" for a domain with no more weighted rows than features.
RANK_DEFICIENT_RIDGE = 1e-4
MAP_MAX_ITER = 5000


class WassersteinBarycenter(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Wasserstein barycenter of the domains of the data, with each domain's map onto it.

    Minimises sum_k w_k W2^2(nu, mu_k) over nu, the mu_k being the domains (distinct
    ``sample_domain`` values, or masked labels, or one domain). ``"free_support"``: nu has
    ``n_support`` points of equal mass, moved by the fixed point z <- sum_k w_k T_k(z)
    (exact plans when ``reg = 0``, debiased entropic plans otherwise); each domain is
    mapped onto it by its entropic map. ``"gaussian"``: Bures barycenter of Gaussian fits
    and affine OT maps.

    Parameters
    ----------
    n_support : int or None, default=None
        Support size of a free-support barycenter (None: 100).
    method : {"free_support", "gaussian"}, default="free_support"
    reg : float, default=0.0
        Entropic regularisation of the barycenter's plans in units of the data's mean
        squared distance (2 tr Cov); 0 gives exact plans (network simplex).
    weights : array-like of shape (n_domains,) or None, default=None
        Domain weights, in the order of the sorted domain labels; uniform if None.
    covariance_reg : float or "auto", default="auto"
        Gaussian method: ridge added to each domain's covariance, in units of its total
        variance (trace); it keeps the maps well conditioned when a domain has fewer
        samples than features. "auto": 1e-4 for such domains (their sample covariance is
        singular), none for the others, whose barycenter is then the exact Bures fixed point.
    map_reg : float, default=0.05
        Entropic regularisation of the maps from each domain onto a free support, in the
        same units; it makes ``transform`` defined at any point.
    max_iter : int, default=100
        Fixed-point iterations.
    tol : float, default=1e-7
        Relative change of the support (or covariance) at which to stop.
    new_domains : {"error", "fit"}, default="error"
        ``transform`` of rows whose ``sample_domain`` was not seen in fit: an error, or each
        such domain mapped onto the fitted barycenter by a map fitted on its rows at transform
        (its Gaussian fit's Bures map, or its entropic map onto the support), so that
        cross-validation grouped by domain scores unseen domains.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
    multiscale : "auto" or bool, default="auto"
        Free support: solve the entropic problems (the barycenter's when ``reg > 0``, and the
        maps) with :func:`skot.solvers.multiscale_sinkhorn`; "auto", True and False as in
        :class:`~skot.SinkhornTransport`, decided on the largest domain.
    verbose : int, default=0
        Progress of the solvers (iteration, error against the tolerance, elapsed time)
        through the ``"skot"`` logger at INFO level, a line every ``5 / verbose`` seconds
        at most (a handler on standard error is added when logging is not configured);
        from 2, bars of the stages known in advance.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial support (drawn from the Gaussian fit of the pooled data).

    Attributes
    ----------
    domains_ : ndarray of int
        Domain labels seen in fit.
    domain_weights_ : ndarray
    support_, support_weights_ : ndarray
        Free-support barycenter (``method="free_support"``).
    support_potentials_ : ndarray of shape (n_domains, n_support)
        Support-side potentials of the entropic problems domain -> support (free support).
    mean_, covariance_ : ndarray
        Gaussian barycenter (``method="gaussian"``).
    coefs_, intercepts_ : ndarray of shape (n_domains, d, d) and (n_domains, d)
        Each domain's affine map onto the Gaussian barycenter (``method="gaussian"``).
    n_iter_ : int
    backend_ : str
    multiscale_ : bool
        Whether the multiscale solver ran (free support).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import WassersteinBarycenter
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 4.0])
    >>> batch = np.repeat([0, 1], 100)
    >>> bary = WassersteinBarycenter(n_support=100, random_state=0).fit(X, sample_domain=batch)
    >>> np.round(bary.support_.mean(axis=0)).tolist()     # halfway between the batches
    [2.0, 2.0]
    >>> Z = bary.transform(X, sample_domain=batch)           # each batch onto the barycenter
    """

    _parameter_constraints = {
        "n_support": [None, Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"free_support", "gaussian"})],
        "reg": [Interval(Real, 0, None, closed="left")],
        "weights": [None, "array-like"],
        "covariance_reg": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "map_reg": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "new_domains": [StrOptions({"error", "fit"})],
        "backend": [StrOptions(set(BACKENDS))],
        "multiscale": [StrOptions({"auto"}), "boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _fitted_attribute = "domains_"
    _supports_array_api = True

    def _namespace_attribute(self):
        return "mean_" if self.method == "gaussian" else "support_"

    def __init__(self, n_support=None, *, method="free_support", reg=0.0, weights=None, covariance_reg="auto",
                 map_reg=0.05, max_iter=100, tol=1e-7, new_domains="error", backend="auto", multiscale="auto",
                 verbose=0, random_state=None):
        self.n_support = n_support
        self.method = method
        self.reg = reg
        self.weights = weights
        self.covariance_reg = covariance_reg
        self.map_reg = map_reg
        self.max_iter = max_iter
        self.tol = tol
        self.new_domains = new_domains
        self.backend = backend
        self.multiscale = multiscale
        self.verbose = verbose
        self.random_state = random_state

    def _domain_weights(self, n_domains):
        if self.weights is None:
            return np.full(n_domains, 1.0 / n_domains)
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n_domains,) or np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError(
                f"weights must hold {n_domains} non-negative numbers (one per domain) with a "
                f"positive sum; got {self.weights!r}."
            )
        return weights / weights.sum()

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        xp = array_namespace_of(X)
        X = validate_data(self, X, dtype=float_dtypes(xp))
        backend = self._backend_for(X)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        labels, measures = domain_measures(X, domains, sample_weight)
        weights = self._domain_weights(len(labels))
        # Fitted arrays follow X's namespace and device (labels included, as scikit-learn asks).
        on_device = (lambda values: values) if xp is np else (lambda values: xp.asarray(values, device=device(X)))
        fitted = {"backend_": backend, "domains_": on_device(labels), "domain_weights_": on_device(weights)}
        if self.method == "gaussian":
            fitted.update(self._fit_gaussian(measures, weights))
        else:
            fitted.update(self._fit_free_support(measures, weights, backend))
        for name, value in fitted.items():
            setattr(self, name, value)
        return X, domains

    def _covariance_ridge(self, masses, n_features):
        if self.covariance_reg != "auto":
            return self.covariance_reg
        # At most d weighted rows span at most d - 1 directions: a singular covariance.
        return RANK_DEFICIENT_RIDGE if int(namespace(masses).count_nonzero(masses)) <= n_features else 0.0

    def _fit_gaussian(self, measures, weights):
        ridges = [self._covariance_ridge(masses, points.shape[1]) for points, masses in measures]
        result, coefs, intercepts = bures_barycenter_maps(measures, weights, ridges, max_iter=self.max_iter,
                                                          tol=self.tol, verbose=self.verbose)
        warn_if_not_converged(self, result, self.tol, "relative change")
        return {"mean_": result.mean, "covariance_": result.covariance, "n_iter_": result.n_iter,
                "multiscale_": False, "coefs_": coefs, "intercepts_": intercepts}

    def _fit_free_support(self, measures, weights, backend):
        pooled_mean, pooled_cov = _pooled_moments(measures, weights)
        scale = max(2.0 * float(namespace(pooled_cov).sum(namespace(pooled_cov).linalg.diagonal(pooled_cov))),
                    np.finfo(float).tiny)
        n_support = DEFAULT_SUPPORT_SIZE if self.n_support is None else self.n_support
        rng = check_random_state(self.random_state)
        draws = like(rng.standard_normal((n_support, pooled_mean.shape[0])), pooled_mean)
        init = pooled_mean + draws @ psd_power(pooled_cov, 0.5)

        def make_geometry(u, v):
            return get_geometry(backend, u, v, "sqeuclidean")

        largest = max((points for points, _ in measures), key=lambda points: points.shape[0])
        eps = check_resolvable_eps(self.reg * scale, scale)
        map_eps = check_resolvable_eps(self.map_reg * scale, scale, "map_reg")
        multiscale = eps > 0 and use_multiscale(self.multiscale, backend, init, largest, eps)
        result = free_support_barycenter(make_geometry, measures, weights, init, eps, max_iter=self.max_iter,
                                         tol=self.tol, multiscale=multiscale, verbose=self.verbose)
        warn_if_not_converged(self, result, self.tol, "relative change")
        map_multiscale = use_multiscale(self.multiscale, backend, largest, result.support, map_eps)
        plans = barycenter_map_plans(make_geometry, measures, result.support, result.weights, map_eps, tol=1e-10,
                                     max_iter=MAP_MAX_ITER, multiscale=map_multiscale, verbose=self.verbose)
        for plan in plans:
            warn_if_not_converged(self, plan, 1e-10)
        return {
            "support_": result.support, "support_weights_": result.weights, "n_iter_": result.n_iter,
            "support_potentials_": namespace(result.support).stack([plan.potential_target for plan in plans]),
            "_map_eps": map_eps,
            "multiscale_": multiscale or map_multiscale,
        }

    def _domain_rows(self, X, sample_domain):
        seen = to_numpy(self.domains_)
        if sample_domain is None:
            # Rows without domain information are target rows (what a pipeline sees at
            # predict time): mapped by the one fitted domain's map, or the one target domain's.
            targets = seen[seen < 0]
            if len(seen) > 1 and len(targets) != 1:
                raise ValueError(
                    f"sample_domain is needed: the barycenter was fitted on {len(seen)} domains, "
                    f"{len(targets)} of them target domains; rows without sample_domain are target "
                    "rows, mapped by the target domain's map when there is exactly one."
                )
            return np.full(X.shape[0], seen[0] if len(seen) == 1 else targets[0])
        domains = infer_sample_domain(X.shape[0], None, sample_domain)
        unseen = np.setdiff1d(domains, seen)
        if len(unseen) and self.new_domains == "error":
            raise ValueError(f"Domains {unseen.tolist()} were not seen in fit (seen: {seen.tolist()}); "
                             "new_domains='fit' maps them by maps fitted on their rows.")
        return domains

    def _map_domain(self, k, points):
        """Rows of the k-th domain mapped onto the barycenter: by its fitted map, or (past the
        fitted domains) by one fitted on these rows."""
        fitted = k < self.domains_.shape[0]
        if self.method == "gaussian":
            coef, intercept = (self.coefs_[k, ...], self.intercepts_[k, ...]) if fitted else self._new_affine_map(points)
            mapped = points @ as_dtype(coef, points.dtype).T + as_dtype(intercept, points.dtype)
        else:
            potential = self.support_potentials_[k, ...] if fitted else self._new_support_potential(points)
            h = log_weighted(potential, self.support_weights_, self._map_eps)
            geometry = get_geometry(self.backend_, points, self.support_, "sqeuclidean")
            mapped = geometry.barycentric_map(h, self._map_eps, axis=1)
        return as_dtype(mapped, points.dtype)

    def _new_affine_map(self, points):
        """(A, b) of the Bures map of the rows' Gaussian fit onto the Gaussian barycenter."""
        masses = like(np.full(points.shape[0], 1.0 / points.shape[0]), points)
        mean, cov = fit_gaussian(as_float64(points), masses, ridge=self._covariance_ridge(masses, points.shape[1]))
        linear = gaussian_ot(mean, cov, self.mean_, self.covariance_).linear
        return linear, self.mean_ - linear @ mean

    def _new_support_potential(self, points):
        """The support potential of the entropic plan from the rows (uniform) to the support."""
        points, masses = as_float64(points), like(np.full(points.shape[0], 1.0 / points.shape[0]), points)
        multiscale = use_multiscale(self.multiscale, self.backend_, points, self.support_, self._map_eps)
        plan, = barycenter_map_plans(lambda u, v: get_geometry(self.backend_, u, v, "sqeuclidean"),
                                     [(points, masses)], self.support_, self.support_weights_, self._map_eps,
                                     tol=1e-10, max_iter=MAP_MAX_ITER, multiscale=multiscale)
        warn_if_not_converged(self, plan, 1e-10)
        return plan.potential_target

    def _transform_fitted(self, X, domains):
        """Every row mapped onto the barycenter by its own domain's map."""
        seen = to_numpy(self.domains_)
        return by_domain(X, domains, np.concatenate([seen, np.setdiff1d(domains, seen)]), self._map_domain)

    @accepts_dask_arrays
    def transform(self, X, sample_domain=None):
        """Map each row onto the barycenter by its domain's map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of int of shape (n_samples,), optional
            Absent: the rows are target rows, mapped by the map of the one target domain
            (or of the one fitted domain); an error when there are several. A domain unseen
            in fit is an error.

        Returns
        -------
        X_mapped : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_fitted_input(X)
        return self._transform_fitted(X, self._domain_rows(X, sample_domain))


def _pooled_moments(measures, weights):
    xp = namespace(measures[0][0])
    concat = np.concatenate if xp is np else xp.concat
    points = concat([p for p, _ in measures])
    masses = concat([float(w) * m for w, (_, m) in zip(weights, measures)])
    return fit_gaussian(points, masses)
