"""SemiDiscreteMap: OT from a continuous (sampled) source onto a discrete target."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, validate_data

from .._domain import infer_sample_domain, split_source_target
from ..backends import (BACKENDS, FLOAT_DTYPES, array_namespace_of, as_dtype, as_float64, check_representable,
                        get_geometry, like, namespace, take_rows, to_numpy)
from ..solvers import (
    cell_barycenters,
    fit_gaussian,
    learn_target_points,
    log_weighted,
    psd_power,
    semidiscrete_dual,
    semidiscrete_newton,
    semidiscrete_sgd,
    semidual_objective,
    SGDState,
)
from ..solvers.semidiscrete import SGD_BATCH
from ._base import (
    keeps_model_on_failure,
    check_resolvable_eps,
    DomainTransformerMixin,
    warn_if_not_converged,
)

MAX_QUANTIZATION_ROUNDS = 30
# solver="auto": Newton between these numbers of target points. Below, L-BFGS's cheap steps win;
# above, the dense m x m Hessian costs too much (measured: docs/benchmarks.rst).
NEWTON_MIN_POINTS = 100
NEWTON_MAX_POINTS = 4000


class SemiDiscreteMap(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Semi-discrete optimal transport from the source samples onto target points.

    Solves the semi-dual max_g <b, g> + E_x[min_j c(x, y_j) - g_j] (L-BFGS, annealed
    smoothing); x is sent to its Laguerre cell argmin_j c(x, y_j) - g_j. With an integer
    ``target`` the k points are learned too (capacity-constrained quantization: each
    point moves to the barycenter of its cell, cells keeping equal masses).

    Parameters
    ----------
    target : int or array-like, default=8
        Target rows in the data take precedence; otherwise an array of points (uniform
        weights) or a number of points to learn.
    reg : float, default=0.0
        Entropic smoothing in units of the mean cost; 0 gives hard Laguerre cells.
    metric : {"sqeuclidean"}, default="sqeuclidean"
    solver : {"auto", "newton", "lbfgs", "sgd"}, default="auto"
        Damped Newton with the Laguerre-cell Hessian ("auto" picks it for 100 to 4000
        target points: dense m x m Hessian) or L-BFGS, both annealing the smoothing and
        solving the semi-dual of the fit samples to ``tol``; or averaged SGD, one pass
        over the samples taken as a stream of draws (``max_iter`` and ``tol`` unused):
        its cells are as accurate on new data as the sample size allows, at the cost of
        one pass, where Newton costs ten or more (the choice for large samples in high
        dimension). ``partial_fit`` continues the SGD over each new batch.
    max_iter : int, default=200
        Iterations per annealing stage.
    tol : float, default=1e-4
        Relative accuracy of the cell masses on the fit samples.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
    verbose : int, default=0
        Progress of the solvers (iteration, error against the tolerance, elapsed time)
        through the ``"skot"`` logger at INFO level, a line every ``5 / verbose`` seconds
        at most (a handler on standard error is added when logging is not configured);
        from 2, bars of the stages known in advance.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial points of a learned target (drawn from the source's Gaussian fit).

    Attributes
    ----------
    target_points_, target_weights_ : ndarray
    potential_ : ndarray of shape (n_targets,)
        One weight per target point.
    n_batches_ : int
        Batches learned from (1 after ``fit``; see :meth:`partial_fit`).
    cell_masses_ : ndarray of shape (n_targets,)
        Mass of the fit samples in each cell.
    labels_ : ndarray of int
        Cell of each fit row.
    cost_scale_, epsilon_ : float
    n_iter_ : int
    backend_ : str
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import SemiDiscreteMap
    >>> rng = np.random.default_rng(0)
    >>> samples, points = rng.uniform(size=(20000, 2)), rng.uniform(size=(5, 2))
    >>> cells = SemiDiscreteMap(target=points, tol=1e-3).fit(samples).predict(samples)
    >>> np.round(np.bincount(cells) / len(samples), 3)        # equal masses by default
    array([0.2, 0.2, 0.2, 0.2, 0.2])
    """

    _parameter_constraints = {
        "target": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "reg": [Interval(Real, 0, None, closed="left")],
        "metric": [StrOptions({"sqeuclidean"})],
        "solver": [StrOptions({"auto", "newton", "lbfgs", "sgd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "backend": [StrOptions(set(BACKENDS))],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _fitted_attribute = "potential_"
    _supports_array_api = True

    def _array_api_supported(self):
        return self.solver in ("auto", "lbfgs")  # Newton and SGD use compiled NumPy kernels

    def __init__(self, target=8, *, reg=0.0, metric="sqeuclidean", solver="auto", max_iter=200, tol=1e-4,
                 backend="auto", verbose=0, random_state=None):
        self.target = target
        self.reg = reg
        self.metric = metric
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.verbose = verbose
        self.random_state = random_state

    def _geometry(self, x, y, backend=None):
        return get_geometry(backend or self.backend_, x, y, self.metric)

    def _check_target(self):
        # A bool is an Integral to the parameter constraints: True would mean one point.
        if isinstance(self.target, (bool, np.bool_)):
            raise ValueError("target must be a number of points to learn or an array of points, "
                             f"not {self.target!r}.")

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        self._check_target()
        X, backend, data = self._prepare_fit(X, y, sample_domain, sample_weight, self.metric)
        source, a = as_float64(data.source), data.source_weights
        if data.target is not None:
            learn, points, b = False, as_float64(data.target), data.target_weights
        else:
            learn, points, b = self._starting_target(X, source, a)
        if backend == "array_api":  # points and weights given or drawn on the host
            points, b = like(points, source), like(b, source)
        scale, eps = self._scale_and_eps(source, a, points, b, backend)

        def solve(points, previous):
            return self._solve(source, a, points, b, eps, scale, backend, previous)

        if learn:
            points, result, sgd_state, n_iter = learn_target_points(solve, source, points, scale=scale, tol=self.tol,
                                                                    max_rounds=MAX_QUANTIZATION_ROUNDS)
        else:
            result, sgd_state = solve(points, None)
            n_iter = result.n_iter
        warn_if_not_converged(self, result, self.tol)
        _warn_if_empty_cells(result.cell_masses, source.shape[0])
        self.backend_, self.cost_scale_, self.epsilon_ = backend, scale, eps
        self.target_points_, self.target_weights_ = as_dtype(points, X.dtype), b
        self.potential_, self.cell_masses_, self.n_iter_ = result.potential, result.cell_masses, n_iter
        self.n_batches_, self._sgd_state = 1, sgd_state
        # The solver's cells of the samples are the labels when every row is a source sample.
        same_rows = result.labels is not None and result.labels.shape[0] == X.shape[0] and eps == 0
        self.labels_ = result.labels if same_rows else self.predict(X)
        return X, infer_sample_domain(X.shape[0], y, sample_domain)

    def _starting_target(self, X, source, a):
        """(whether the points are learned, the target points, their weights) from ``target``."""
        if isinstance(self.target, Integral):
            return (True, *self._initial_points(source, a))
        return (False, *self._given_target(X))

    def _initial_points(self, source, a):
        """Points to learn, drawn from the Gaussian fit of the source, with equal masses."""
        mean, cov = fit_gaussian(source, a)
        rng = check_random_state(self.random_state)
        draws = like(rng.standard_normal((self.target, source.shape[1])), source)
        return mean + draws @ psd_power(cov, 0.5), np.full(self.target, 1.0 / self.target)

    def _given_target(self, X):
        points = check_array(self.target, dtype=np.float64)
        if points.shape[1] != X.shape[1]:
            raise ValueError(f"target has {points.shape[1]} features, but X has {X.shape[1]} features.")
        return points, np.full(len(points), 1.0 / len(points))

    def _scale_and_eps(self, source, a, points, b, backend):
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing costs: refused just below
            scale = self._geometry(source, points, backend).cost_statistic("mean", a, b)
        scale = check_representable(scale, "mean source-target cost")
        return scale, check_resolvable_eps(self.reg * scale, scale)

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_model_on_failure(copy_arrays=True)
    def partial_fit(self, X, y=None, sample_domain=None, sample_weight=None):
        """Learn from one batch of fresh source draws (a stream, or a sampler's output).

        Each batch's semi-dual is solved by Newton, warm-started from the running average
        of the batch solutions, which becomes ``potential_``: its error falls like
        sqrt(n_targets / all draws so far), with no floor set by one fixed sample (as ``fit``
        has). With ``solver="sgd"`` the batch continues the averaged SGD instead (one
        step per 32 draws). Rows of X are source draws. With an integer ``target`` the points are learned
        online: each batch moves them to their cells' barycenters by a running average.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y, sample_domain : ignored beyond marking target rows, which are not accepted here
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        first = not hasattr(self, "n_batches_")
        if first:
            self._check_target()
        if array_namespace_of(X) is not np:
            raise ValueError("partial_fit runs on NumPy arrays; fit takes arrays of other namespaces.")
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=first)
        data = split_source_target(X, y, sample_domain, sample_weight)
        if data.target is not None:
            raise ValueError("partial_fit takes source draws only; give the target points as `target`.")
        source, a = np.asarray(data.source, dtype=np.float64), data.source_weights
        if first:
            backend = self._backend_for(X, self.metric)
            _, points, b = self._starting_target(X, source, a)
            scale, eps = self._scale_and_eps(source, a, points, b, backend)
            average, n_iter, n_batches, sgd_state = None, 0, 0, None
        else:
            backend, points, b = self.backend_, np.asarray(self.target_points_, dtype=np.float64), self.target_weights_
            scale, eps = self.cost_scale_, self.epsilon_
            average, n_iter, n_batches = self.potential_, self.n_iter_, self.n_batches_
            # After a Newton or L-BFGS fit, SGD resumes from its answer with small steps, as
            # if the fit's samples had been streamed.
            steps = len(self.labels_) // SGD_BATCH
            sgd_state = getattr(self, "_sgd_state", None) or SGDState(average, average, steps, steps)
        make_geometry = lambda u, v: self._geometry(u, v, backend)  # noqa: E731
        n_batches += 1
        if self.solver == "sgd":
            result, sgd_state = semidiscrete_sgd(make_geometry, source, points, b, eps, scale=scale, a=a,
                                                 state=sgd_state, random_state=self.random_state,
                                                 verbose=self.verbose)
            average = result.potential
        else:
            # Below the batch's own sampling noise, a tighter fit only fits that noise.
            tol = max(self.tol, min(1.0, np.sqrt(len(b) / len(source))))
            result = semidiscrete_newton(make_geometry, source, a, points, b, eps,
                                         scale=scale, max_iter=self.max_iter, tol=tol, init=average,
                                         verbose=self.verbose)
            average = result.potential if average is None else average + (result.potential - average) / n_batches
        if isinstance(self.target, Integral):
            moved = cell_barycenters(result, source, points)
            points = points + (moved - points) / n_batches
        self.backend_, self.cost_scale_, self.epsilon_ = backend, scale, eps
        self.target_points_, self.target_weights_ = points.astype(X.dtype, copy=False), b
        self.potential_, self.cell_masses_ = average, result.cell_masses
        self.n_iter_, self.n_batches_ = n_iter + result.n_iter, n_batches
        self._sgd_state = sgd_state if self.solver == "sgd" else None
        self.labels_ = self.predict(X)
        return self

    def _solve(self, source, a, points, b, eps, scale, backend, previous):
        """Solve the semi-dual, warm-started from a previous result (quantization rounds).

        Returns the result and, for SGD, the state that ``partial_fit`` continues from.
        """
        if backend == "array_api":
            return semidiscrete_dual(self._geometry(source, points, backend), a, b, eps, scale=scale,
                                     max_iter=self.max_iter, tol=self.tol, verbose=self.verbose,
                                     init=None if previous is None else previous.potential), None
        if self.solver == "sgd":
            return semidiscrete_sgd(lambda x, y: self._geometry(x, y, backend), source, points, b, eps,
                                    scale=scale, a=a, random_state=self.random_state, verbose=self.verbose)
        init = None if previous is None else previous.potential
        if self.solver == "newton" or (self.solver == "auto" and NEWTON_MIN_POINTS <= len(points) <= NEWTON_MAX_POINTS):
            return semidiscrete_newton(lambda x, y: self._geometry(x, y, backend), source, a, points, b, eps,
                                       scale=scale, max_iter=self.max_iter, tol=self.tol, init=init,
                                       start=None if previous is None else previous.smoothing,
                                       verbose=self.verbose), None
        return semidiscrete_dual(self._geometry(source, points, backend), a, b, eps, scale=scale,
                                 max_iter=self.max_iter, tol=self.tol, init=init, verbose=self.verbose), None

    def _cell_logits(self):
        return log_weighted(self.potential_, self.target_weights_, self.epsilon_)

    def predict(self, X):
        """Index of the Laguerre cell of each row: argmax_j g_j - c(x, y_j) (+ eps log b_j if reg > 0)."""
        X = self._validate_fitted_input(X, "predict")
        return self._geometry(X, self.target_points_).argmax(self._cell_logits())

    def fit_predict(self, X, y=None, sample_domain=None, sample_weight=None):
        """Fit, then return the cell of each row (``labels_``)."""
        return self.fit(X, y, sample_domain=sample_domain, sample_weight=sample_weight).labels_

    def _map(self, X):
        geometry = self._geometry(X, self.target_points_)
        if self.epsilon_ > 0:
            mapped = geometry.barycentric_map(self._cell_logits(), self.epsilon_, axis=1)
        else:
            mapped = namespace(X).take(self.target_points_, geometry.argmax(self.potential_), axis=0)
        return as_dtype(mapped, X.dtype)

    def score(self, X, y=None, sample_domain=None):
        """Semi-dual objective of the fitted weights on the source rows of X (higher is better)."""
        X, domains, is_source, a = self._source_rows_for_score(X, y, sample_domain)
        geometry = self._geometry(as_float64(take_rows(X, is_source)), self.target_points_)
        return semidual_objective(geometry, like(a, X), self.target_weights_, self.potential_, self.epsilon_)


def _warn_if_empty_cells(cell_masses, n_samples):
    """A UserWarning when some target points received no sample: their mass is not
    transported (more target points than samples, or too few samples to fill every cell)."""
    empty = int(np.count_nonzero(to_numpy(cell_masses) <= 0))
    if empty:
        warnings.warn(
            f"{empty} of {len(cell_masses)} target points have empty cells: none of the {n_samples} samples "
            "reaches them, so their mass is not transported; use more samples or fewer target points.",
            UserWarning,
            stacklevel=4,
        )
