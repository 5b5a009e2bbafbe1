"""SinkhornTransport: entropic OT between source and target, with its maps."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._domain import domain_weights, infer_sample_domain, reference_points
from ..backends import (BACKENDS, KERNEL_MEMORY, METRICS, array_namespace_of, as_dtype, copy_rows, device,
                        get_geometry, take_rows)
from ..solvers import (
    conditional_langevin,
    log_weighted,
    multiscale_sinkhorn,
    sinkhorn,
    sinkhorn_divergence,
    use_multiscale,
)
from ._base import (
    keeps_model_on_failure,
    DomainTransformerMixin,
    check_resolvable_eps,
    cost_statistic,
    resolve_cost_scale,
    warn_if_not_converged,
)

PLAN_SIZE_LIMIT = 50_000_000
SCORE_REG = 0.05


class SinkhornTransport(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Entropic optimal transport from source rows to target rows.

    Solves min_P <C, P> + eps KL(P | a (x) b) over couplings of the source and
    target empirical measures (log-domain Sinkhorn), with
    ``eps = reg * cost_scale_``; ``transform`` is the entropic map
    T(x) = sum_j softmax_j((g_j + eps log b_j - c(x, y_j)) / eps) y_j.

    Parameters
    ----------
    reg : float, default=0.05
        Entropic regularisation in units of the cost scale.
    reg_m : float or None, default=None
        KL marginal relaxation (unbalanced OT), in units of the cost scale.
    metric : {"sqeuclidean", "euclidean", "cosine"} or callable, default="sqeuclidean"
        Ground cost; a callable ``metric(X, Y)`` returns the cost matrix.
    cost_scale : {"mean", "median", "max"}, float or None, default="mean"
        Unit of ``reg``: a statistic of the source-target costs, a float, or None (1).
    max_iter : int, default=1000
        Maximum Sinkhorn iterations.
    tol : float, default=1e-9
        Tolerance on the L1 marginal error.
    target : {"normal", "uniform"} or array-like, default="normal"
        Reference target used when the data carry no target rows.
    n_target_samples : int, default=1000
        Number of reference points drawn for ``target="normal"`` or ``"uniform"``.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Array backend; "auto" picks the fastest one for the input.
    multiscale : "auto" or bool, default="auto"
        Coarse-to-fine Sinkhorn with certified truncated kernels (squared Euclidean cost,
        d <= 3, balanced, NumPy inputs on the numba backend; see
        :func:`skot.solvers.multiscale_sinkhorn`). "auto" uses it in dimension 1 and 2 from
        2 10^7 source-target pairs when eps is at most 2e-3 times the squared diameter of the
        points; True forces it (an error says which condition fails), False forbids it.
    kernel_memory : float, default=256
        Largest n x m kernel stored during the fit on the numba backend, in MiB (n, m: source
        and target rows, 8 bytes an entry). Where it fits, the kernel is computed once and each
        iteration is a matrix-vector product, several times faster; beyond, costs are recomputed
        on the fly in O(n + m) memory. 0 never stores it.
    verbose : int, default=0
        Progress of the solvers (iteration, error against the tolerance, elapsed time)
        through the ``"skot"`` logger at INFO level, a line every ``5 / verbose`` seconds
        at most (a handler on standard error is added when logging is not configured);
        from 2, bars of the stages known in advance.
    random_state : int, RandomState instance or None, default=None
        Seeds the reference target draws.

    Attributes
    ----------
    potential_source_, potential_target_ : ndarray
        Dual potentials f and g (raw cost units).
    support_source_, support_target_ : ndarray
        Points of the source and target measures (rows of zero weight dropped).
    weights_source_, weights_target_ : ndarray
        Their masses, each summing to one.
    transport_cost_ : float
        <C, P> in raw cost units.
    cost_scale_ : float
        The raw cost unit of ``reg``; ``epsilon_ = reg * cost_scale_``.
    epsilon_ : float
        Entropic regularisation in raw cost units.
    backend_ : str
        Backend that ran.
    multiscale_ : bool
        Whether the multiscale solver ran.
    n_iter_ : int
        Sinkhorn iterations run.
    marginal_error_ : float
        L1 error of the plan's target marginal (its source marginal is exact).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import SinkhornTransport, pack
    >>> rng = np.random.default_rng(0)
    >>> X, _, domain = pack(rng.normal(size=(100, 2)), rng.normal(size=(80, 2)) + 5.0)
    >>> ot = SinkhornTransport(reg=0.01).fit(X, sample_domain=domain)
    >>> bool(np.allclose(ot.transform(X[:100]).mean(axis=0), X[100:].mean(axis=0), atol=0.05))
    True
    >>> ot.transport_plan().shape
    (100, 80)
    """

    _parameter_constraints = {
        "reg": [Interval(Real, 0, None, closed="neither")],
        "reg_m": [None, Interval(Real, 0, None, closed="neither")],
        "metric": [StrOptions(set(METRICS)), callable],
        "cost_scale": [StrOptions({"mean", "median", "max"}), Interval(Real, 0, None, closed="neither"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "target": [StrOptions({"normal", "uniform"}), "array-like"],
        "n_target_samples": [Interval(Integral, 2, None, closed="left")],
        "backend": [StrOptions(set(BACKENDS))],
        "multiscale": [StrOptions({"auto"}), "boolean"],
        "kernel_memory": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _fitted_attribute = "potential_target_"
    _supports_array_api = True
    _runs_cuda_kernels = True
    _fits_dask_arrays = True

    def __init__(
        self,
        reg=0.05,
        *,
        reg_m=None,
        metric="sqeuclidean",
        cost_scale="mean",
        max_iter=1000,
        tol=1e-9,
        target="normal",
        n_target_samples=1000,
        backend="auto",
        multiscale="auto",
        kernel_memory=KERNEL_MEMORY,
        verbose=0,
        random_state=None,
    ):
        self.reg = reg
        self.reg_m = reg_m
        self.metric = metric
        self.cost_scale = cost_scale
        self.max_iter = max_iter
        self.tol = tol
        self.target = target
        self.n_target_samples = n_target_samples
        self.backend = backend
        self.multiscale = multiscale
        self.kernel_memory = kernel_memory
        self.verbose = verbose
        self.random_state = random_state

    def _geometry(self, x, y, backend=None):
        return get_geometry(backend or self.backend_, x, y, self.metric, kernel_memory=self.kernel_memory)

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        X, backend, data = self._prepare_fit(X, y, sample_domain, sample_weight, self.metric)
        xp = array_namespace_of(X)
        if data.target is None:
            points = reference_points(self.target, X.shape[1], self.n_target_samples, self.random_state)
            data.target = points.astype(X.dtype, copy=False) if xp is np else xp.asarray(points, dtype=X.dtype,
                                                                                           device=device(X))
            data.target_weights = xp.full(points.shape[0], 1.0 / points.shape[0], dtype=xp.float64, device=device(X))
        geometry = self._geometry(data.source, data.target, backend)
        cost_scale = resolve_cost_scale(self.cost_scale, geometry, data.source_weights, data.target_weights)
        mean_cost = cost_scale if self.cost_scale == "mean" else cost_statistic(
            geometry, data.source_weights, data.target_weights
        )
        eps = check_resolvable_eps(self.reg * cost_scale, mean_cost)
        multiscale = use_multiscale(self.multiscale, backend, data.source, data.target, eps, metric=self.metric,
                                    reg_m=self.reg_m)
        if multiscale:
            result = multiscale_sinkhorn(
                data.source, data.target, data.source_weights, data.target_weights, eps,
                max_iter=self.max_iter, tol=self.tol, with_cost=True, verbose=self.verbose,
            )
            transport_cost = result.transport_cost
        else:
            result = sinkhorn(
                geometry, data.source_weights, data.target_weights, eps,
                reg_m=None if self.reg_m is None else self.reg_m * cost_scale,
                max_iter=self.max_iter, tol=self.tol, verbose=self.verbose,
            )
            transport_cost = result.plan_cost()
        warn_if_not_converged(self, result, self.tol)
        divergence_eps = SCORE_REG * mean_cost
        # Fitted attributes only once everything succeeded (an interrupted fit leaves none);
        # supports are copies, so that the model does not follow later changes to X.
        self.backend_, self.cost_scale_, self.epsilon_ = backend, cost_scale, eps
        self.multiscale_ = multiscale
        # (np.array computes a dask array's rows: the maps need them in memory, O(n + m).)
        self.support_source_, self.weights_source_ = copy_rows(data.source), data.source_weights
        self.support_target_, self.weights_target_ = copy_rows(data.target), data.target_weights
        self.potential_source_ = result.potential_source
        self.potential_target_ = result.potential_target
        self.n_iter_ = result.n_iter
        self.marginal_error_ = result.marginal_error
        self.transport_cost_ = transport_cost
        self._divergence_eps = divergence_eps
        return X, infer_sample_domain(X.shape[0], y, sample_domain)

    def _log_weighted_potentials(self):
        return (log_weighted(self.potential_source_, self.weights_source_, self.epsilon_),
                log_weighted(self.potential_target_, self.weights_target_, self.epsilon_))

    def _map(self, X):
        _, log_b = self._log_weighted_potentials()
        mapped = self._geometry(X, self.support_target_).barycentric_map(log_b, self.epsilon_, axis=1)
        return as_dtype(mapped, X.dtype)

    def inverse_transform(self, X):
        """Entropic map from the target to the source measure, at the rows of ``X``."""
        X = self._validate_fitted_input(X, "inverse_transform")
        log_a, _ = self._log_weighted_potentials()
        mapped = self._geometry(self.support_source_, X).barycentric_map(log_a, self.epsilon_, axis=0)
        return as_dtype(mapped, X.dtype)

    def transport_plan(self):
        """Dense coupling P (source support x target support), summing to the total mass.

        Raises a ValueError beyond ``PLAN_SIZE_LIMIT`` entries: use the maps instead.
        """
        check_is_fitted(self)
        n, m = self.support_source_.shape[0], self.support_target_.shape[0]
        if n * m > PLAN_SIZE_LIMIT:
            raise ValueError(
                f"The transport plan would have {n} x {m} = {n * m} entries, beyond the "
                f"limit of {PLAN_SIZE_LIMIT}; use transform, sample or the potentials instead."
            )
        geometry = self._geometry(self.support_source_, self.support_target_)
        return geometry.plan(*self._log_weighted_potentials(), self.epsilon_)

    def sample(self, X, n_samples=1, *, method="discrete", score=None, n_steps=500,
               step_size=None, random_state=None):
        """Draw from the conditional coupling pi(. | x) for each row x of X.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
        n_samples : int, default=1
            Draws per row.
        method : {"discrete", "langevin"}, default="discrete"
            "discrete": target support points drawn from the conditional plan (the exact
            conditional of the empirical problem). "langevin": unadjusted Langevin
            dynamics on pi(y | x) ~ exp((g(y) - c(x, y)) / eps) nu(y) with g extended to
            any y, for a continuous target nu (squared Euclidean cost), started from
            discrete draws.
        score : callable, "kde" or None, default=None
            Langevin only: grad log nu, as ``score(Y) -> (k, n_features)`` (e.g. a
            trained diffusion model's score), or "kde" (None): a Gaussian kernel
            density estimate of the target support (Scott's bandwidth, which smooths
            thin structures: pass a callable for a sharp target).
        n_steps : int, default=500
            Langevin steps.
        step_size : float, optional
            Langevin step; default 5% of eps / 2 (and of the squared KDE bandwidth),
            the variance scale of pi(. | x). Sharp user scores need smaller steps.
        random_state : int, RandomState instance or None

        Returns
        -------
        samples : ndarray of shape (n_rows, n_samples, n_features)
        """
        X = self._validate_fitted_input(X)
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        if method not in ("discrete", "langevin"):
            raise ValueError(f"method must be 'discrete' or 'langevin', got {method!r}.")
        rng = check_random_state(random_state)
        _, log_b = self._log_weighted_potentials()
        indices = self._geometry(X, self.support_target_).sample(log_b, self.epsilon_, 1, n_samples, rng)
        draws = self.support_target_[indices].astype(np.float64)
        if method == "langevin":
            draws = self._langevin(X, draws, score, n_steps, step_size, rng)
        return draws.astype(X.dtype, copy=False)

    def _langevin(self, X, draws, score, n_steps, step_size, rng):
        if self.metric != "sqeuclidean":
            raise ValueError("method='langevin' needs metric='sqeuclidean'.")
        log_a, _ = self._log_weighted_potentials()
        return conditional_langevin(self._geometry, X, draws, self.support_source_, log_a, self.support_target_,
                                    self.weights_target_, self.epsilon_, score=score, n_steps=n_steps,
                                    step_size=step_size, rng=rng)

    def score(self, X, y=None, sample_domain=None):
        """Minus the debiased Sinkhorn divergence between mapped source rows and the target.

        Target rows of ``X`` (by ``sample_domain`` or masked ``y``) are the target;
        without any, the fitted target support is. Higher is better; the divergence
        uses ``eps = 0.05 * mean cost`` of the fitted problem, whatever ``reg``,
        so scores compare across hyper-parameters.
        """
        X, domains, is_source, a = self._source_rows_for_score(X, y, sample_domain)
        xp = array_namespace_of(X)
        if (~is_source).any():
            reference = take_rows(X, ~is_source)
            b = domain_weights(X, None, domains, ~is_source, "target", min_samples=1)
        else:
            reference, b = self.support_target_, self.weights_target_
        if xp is not np:
            a, b = xp.asarray(a, device=device(X)), xp.asarray(b, device=device(X))
        divergence = sinkhorn_divergence(
            self._geometry, self._map(take_rows(X, is_source)), reference, a, b, self._divergence_eps,
            max_iter=self.max_iter, tol=1e-6,
        )
        return -divergence
