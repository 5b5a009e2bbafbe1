"""OTDomainAdapter: the domain-adaptation step of a pipeline, over any of skot's maps."""

import warnings
from numbers import Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._dask import accepts_dask_arrays
from .._domain import domain_weights, infer_sample_domain, split_source_target
from ..backends import (BACKENDS, FLOAT_DTYPES, METRICS, CostMatrixGeometry, get_geometry, pairwise_cost,
                        resolve_backend)
from ..solvers import (
    PENALTIES,
    barycentric_images,
    class_regularized_transport,
    conditional_class_proportions,
    displacement_extension,
    exact_plan,
    exact_transport,
    label_constrained_cost,
    log_weighted,
    sinkhorn,
    target_class_proportions,
)
from ._barycenter import WassersteinBarycenter
from ._base import (DomainTransformerMixin, check_resolvable_eps, cost_statistic, keeps_model_on_failure,
                    resolve_cost_scale, warn_if_not_converged)
from ._gaussian import GaussianBuresMap
from ._semidiscrete import SemiDiscreteMap
from ._sinkhorn import SinkhornTransport

METHODS = ("sinkhorn", "exact", "gaussian", "semidiscrete", "barycenter")
DIRECTIONS = ("source_to_target", "target_to_source")
# Default entropic reg of the DA map: smoother than SinkhornTransport's 0.05, which a downstream
# classifier generalises from better (measured: docs/benchmarks.rst).
DEFAULT_SINKHORN_REG = 0.3
# Entropic reg (of the mean cost) of the target-shift estimate: its bias grows with reg
# (on two classes 80/20 -> 20/80, 4 cost units apart: 0.224, 0.231, 0.246, 0.349 at 0.01,
# 0.05, 0.1, 0.3 against the true 0.215), and 0.01 still converges in some 50 iterations.
TARGET_SHIFT_REG = 0.01


class OTDomainAdapter(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Align source rows with target rows (or the reverse) by an optimal transport map.

    The domain-adaptation step of a pipeline (see :func:`skot.make_da_pipeline`): at fit,
    the map between the source and target rows is learned and the source rows are
    mapped; at predict time rows carry no domain and are target data, left as they are
    (``direction="source_to_target"``) or mapped onto the source
    (``"target_to_source"``). Unseen points are mapped by each method's out-of-sample map.

    Parameters
    ----------
    method : {"sinkhorn", "exact", "gaussian", "semidiscrete", "barycenter"}, default="sinkhorn"
        "sinkhorn": entropic map (:class:`SinkhornTransport`); "exact": the barycentric
        projection of an exact plan (network simplex, costs from the points, a sparse plan:
        :meth:`transport_plan`), extended to new
        points by their nearest support point's displacement; "gaussian": the
        Bures-Wasserstein affine map (:class:`GaussianBuresMap`); "semidiscrete": the
        Laguerre-cell map onto the other side's rows (:class:`SemiDiscreteMap`);
        "barycenter": every domain, target included, is mapped onto the Wasserstein
        barycenter of all domains (:class:`WassersteinBarycenter`, multi-source).
    reg : float or None, default=None
        Regularisation of the method: "sinkhorn" entropic ``reg`` in cost-scale units
        (None: 0.3, smoother than for :class:`SinkhornTransport`); "gaussian" ``entropic_reg``; "semidiscrete" smoothing ``reg``;
        "barycenter" ``map_reg``; None leaves each estimator's default. "exact" takes none
        (with ``reg_class``, ``reg`` > 0 gives entropic class-regularised OT).
    reg_class : float or None, default=None
        Weight of the class regulariser built from the source labels (Courty et al.
        2017), methods "sinkhorn" and "exact": the l_{1/2}-l_1 group lasso (each target
        point fed by one class) in cost-scale units, or the Laplacian (same-class
        neighbours kept together) in squared-distance units. Dense: for a few thousand rows.
    class_penalty : {"group_lasso", "l1l2", "laplacian", "target_laplacian"}, default="group_lasso"
        The class regulariser used when ``reg_class`` is set; "l1l2": the convex l1-l2 group
        lasso (sum over target points and classes of the plan's l2 norms, POT's
        ``SinkhornL1l2Transport``), in cost-scale units as "group_lasso"; "target_laplacian"
        (neighbouring target rows fed by neighbouring source rows, in squared-distance units)
        needs no labels.
    semi_supervised : bool, default=False
        Use the labels of the target rows that have one (``y`` not -1 or NaN at a row with
        ``sample_domain < 0``: only with ``sample_domain``, where a labelled row is not taken
        for a source row): the coupling gives no mass to a source row and a target row of
        different known labels (:func:`skot.solvers.label_constrained_cost`; POT's
        ``fit(Xs, ys, Xt, yt)``). The plan is then computed from the cost matrix (a few
        thousand rows), and new rows are mapped as by "exact". Methods "sinkhorn" and "exact".
    target_shift : bool, default=False
        Target (label) shift: estimate the class proportions of the target rows by OT
        (:func:`skot.solvers.target_class_proportions`, JCPOT) and reweight the source classes
        to them before mapping, so that the map and :meth:`transform_labels` do not carry the
        source's class balance to the target. Needs the source labels.
    direction : {"source_to_target", "target_to_source"}, default="source_to_target"
        Which side is mapped (ignored by "barycenter", which maps both).
    metric : {"sqeuclidean", "euclidean", "cosine"} or callable, default="sqeuclidean"
        Ground cost of "sinkhorn" and "exact"; the other methods use "sqeuclidean".
    cost_scale : {"mean", "median", "max"}, float or None, default="mean"
        Unit of ``reg`` and ``reg_class`` for "sinkhorn" and "exact".
    solver_params : dict or None, default=None
        Further parameters of the underlying estimator (e.g. ``{"max_iter": 500}``,
        ``{"covariance": "ledoit_wolf"}``, ``{"multiscale": True}``), or of the class-regularised solver
        (``max_iter``, ``tol``).
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
    verbose : int, default=0
        Progress of the solvers (iteration, error against the tolerance, elapsed time)
        through the ``"skot"`` logger at INFO level, a line every ``5 / verbose`` seconds
        at most (a handler on standard error is added when logging is not configured);
        from 2, bars of the stages known in advance.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    transport_ : estimator or None
        The fitted skot estimator behind the map (None for plan-based fits and the identity).
    plan_ : scipy.sparse.csr_array or ndarray of shape (n_source, n_target), or None
        The coupling of plan-based fits: sparse for "exact" (at most n_source + n_target - 1
        nonzeros), dense for class-regularised ones (see :meth:`transport_plan`).
    support_, support_images_ : ndarray or None
        Mapped side's points of a plan-based fit and their barycentric images.
    classes_ : ndarray or None
        Source classes, when labels were given (see :meth:`transform_labels`).
    target_class_proportions_ : ndarray or None
        With ``target_shift``: the estimated share of each class of ``classes_`` in the target.
    identity_ : bool
        True when fit saw no target (or no source) rows: the adapter is the identity.
    backend_ : str
    n_iter_ : int
        Iterations of the solver (0 for the identity).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import OTDomainAdapter, pack
    >>> rng = np.random.default_rng(0)
    >>> X, y, domain = pack(rng.normal(size=(50, 2)), rng.normal(3, 1, size=(40, 2)), np.arange(50) % 2)
    >>> Xt = OTDomainAdapter().fit_transform(X, y)
    >>> bool(abs(Xt[:50].mean() - 3) < 0.3)
    True
    """

    _parameter_constraints = {
        "method": [StrOptions(set(METHODS))],
        "reg": [None, Interval(Real, 0, None, closed="left")],
        "reg_class": [None, Interval(Real, 0, None, closed="left")],
        "class_penalty": [StrOptions(set(PENALTIES))],
        "semi_supervised": ["boolean"],
        "target_shift": ["boolean"],
        "direction": [StrOptions(set(DIRECTIONS))],
        "metric": [StrOptions(set(METRICS)), callable],
        "cost_scale": [StrOptions({"mean", "median", "max"}), Interval(Real, 0, None, closed="neither"), None],
        "solver_params": [dict, None],
        "backend": [StrOptions(set(BACKENDS))],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _fitted_attribute = "identity_"

    def __init__(self, method="sinkhorn", *, reg=None, reg_class=None, class_penalty="group_lasso",
                 semi_supervised=False, target_shift=False, direction="source_to_target", metric="sqeuclidean", cost_scale="mean",
                 solver_params=None, backend="auto", verbose=0, random_state=None):
        self.method = method
        self.reg = reg
        self.reg_class = reg_class
        self.class_penalty = class_penalty
        self.semi_supervised = semi_supervised
        self.target_shift = target_shift
        self.direction = direction
        self.metric = metric
        self.cost_scale = cost_scale
        self.solver_params = solver_params
        self.backend = backend
        self.verbose = verbose
        self.random_state = random_state

    def _check_options(self):
        if self.metric != "sqeuclidean" and self.method not in ("sinkhorn", "exact"):
            raise ValueError(f"method={self.method!r} uses the squared Euclidean cost; got metric={self.metric!r}.")
        if self.semi_supervised and self.method not in ("sinkhorn", "exact"):
            raise ValueError(f"semi_supervised is used by method='sinkhorn' or 'exact', not {self.method!r}.")
        if self.reg_class is not None and self.method not in ("sinkhorn", "exact"):
            raise ValueError(f"reg_class is used by method='sinkhorn' or 'exact', not {self.method!r}.")
        if self.method == "exact" and self.reg and self.reg_class is None:
            raise ValueError("method='exact' takes no reg (use method='sinkhorn' for entropic OT).")
        if self.method == "sinkhorn" and self.reg == 0:
            raise ValueError("method='sinkhorn' needs reg > 0 (use method='exact' for unregularised OT).")

    @property
    def _plan_based(self):
        return self.method == "exact" or self.reg_class is not None or self.semi_supervised

    def _reversed(self):
        return self.direction == "target_to_source" and self.method != "barycenter"

    def _inner_estimator(self, backend):
        common = {"backend": backend, "verbose": self.verbose}
        if self.method == "sinkhorn":
            estimator = SinkhornTransport(
                self.reg if self.reg is not None else DEFAULT_SINKHORN_REG, metric=self.metric,
                cost_scale=self.cost_scale, random_state=self.random_state, **common)
        elif self.method == "gaussian":
            estimator = GaussianBuresMap(**common)
            if self.reg is not None:
                estimator.set_params(entropic_reg=self.reg)
        elif self.method == "semidiscrete":
            estimator = SemiDiscreteMap(random_state=self.random_state, **common)
            if self.reg is not None:
                estimator.set_params(reg=self.reg)
        else:
            estimator = WassersteinBarycenter(random_state=self.random_state, **common)
            if self.reg is not None:
                estimator.set_params(map_reg=self.reg)
        return estimator.set_params(**(self.solver_params or {}))

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        self._check_options()
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        backend = resolve_backend(self.backend, self.metric)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        fitted = {"transport_": None, "plan_": None, "support_": None, "support_images_": None,
                  "classes_": None, "target_class_proportions_": None, "n_iter_": 0, "identity_": False}
        if not ((domains >= 0).any() and (domains < 0).any()):
            for side, rows in (("source", domains >= 0), ("target", domains < 0)):
                if rows.any():  # the weight checks of a real fit (which its solver's split makes)
                    domain_weights(X, sample_weight, domains, rows, side)
            missing = ("target rows (no negative sample_domain, no masked label -1 or NaN)"
                       if (domains >= 0).any() else "source rows (every row is marked as target)")
            warnings.warn(f"OTDomainAdapter was fitted on data with no {missing}: it is the identity.",
                          UserWarning, stacklevel=3)
            fitted["identity_"] = True
        else:
            labels = _source_labels(y, domains, sample_weight)
            if self.target_shift:
                sample_weight, proportions = self._shifted_weights(X, domains, sample_weight, labels, backend)
                fitted["target_class_proportions_"] = proportions
            if self._plan_based:
                fitted.update(self._fit_plan(X, y, domains, sample_weight, labels, backend))
            else:
                fitted.update(self._fit_estimator(X, domains, sample_weight, labels, backend))
        # Fitted attributes only once everything succeeded; identity_ last (it marks a fitted estimator).
        identity = fitted.pop("identity_")
        self.backend_ = backend
        for name, value in fitted.items():
            setattr(self, name, value)
        self.identity_ = identity
        return X, domains

    def _shifted_weights(self, X, domains, sample_weight, labels, backend):
        """Row weights with the source classes reweighted to the target's estimated class
        shares, and those shares (per class of ``np.unique(labels)``)."""
        if labels is None:
            raise ValueError("target_shift needs class labels for the source rows (y).")
        data = split_source_target(X, None, domains, sample_weight)
        geometry = get_geometry(backend, data.source, data.target, self.metric)
        eps = TARGET_SHIFT_REG * cost_statistic(geometry, data.source_weights, data.target_weights)
        result = target_class_proportions(geometry, labels, data.source_weights, data.target_weights, eps)
        codes = np.searchsorted(result.classes, labels)
        class_mass = np.bincount(codes, weights=data.source_weights, minlength=len(result.classes))
        weights = np.zeros(X.shape[0])
        source_rows = np.flatnonzero(domains >= 0)
        kept = np.ones(len(source_rows), dtype=bool) if sample_weight is None else (
            np.asarray(sample_weight)[source_rows] > 0)
        weights[source_rows[kept]] = data.source_weights * (result.proportions / class_mass)[codes]
        target_rows = np.flatnonzero(domains < 0)
        weights[target_rows] = domain_weights(X, sample_weight, domains, domains < 0, "target")
        return weights, result.proportions

    def _fit_estimator(self, X, domains, sample_weight, labels, backend):
        estimator = self._inner_estimator(backend)
        estimator.fit(X, sample_domain=-domains - 1 if self._reversed() else domains, sample_weight=sample_weight)
        fitted = {"transport_": estimator, "n_iter_": estimator.n_iter_}
        if labels is not None and self.method == "sinkhorn":
            fitted.update(classes_=np.unique(labels), _labels=labels)
        return fitted

    def _fit_plan(self, X, y, domains, sample_weight, labels, backend):
        data = split_source_target(X, None, domains, sample_weight)
        source = np.asarray(data.source, dtype=np.float64)
        target = np.asarray(data.target, dtype=np.float64)
        a, b = data.source_weights, data.target_weights
        if self.reg_class is None and not self.semi_supervised:
            # Sparse plan; costs on the fly from the points unless the metric is a callable.
            result = (exact_plan(pairwise_cost(source, target, self.metric), a, b, verbose=self.verbose)
                      if callable(self.metric)
                      else exact_transport(source, target, a, b, metric=self.metric, verbose=self.verbose))
            return self._plan_fitted(result.plan, result.n_iter, source, target, labels)
        if labels is None and (self.semi_supervised or self.class_penalty != "target_laplacian"):
            raise ValueError(f"{'semi_supervised' if self.semi_supervised else 'reg_class'} needs class labels "
                             "for the source rows (y).")
        cost_scale = resolve_cost_scale(self.cost_scale, get_geometry(backend, source, target, self.metric), a, b)
        cost = pairwise_cost(source, target, self.metric)
        if self.semi_supervised:
            cost = label_constrained_cost(cost, labels, *_target_labels(y, domains, sample_weight))
        # "sinkhorn" is entropic whatever reg_class; its reg=None means the default.
        reg = DEFAULT_SINKHORN_REG if self.reg is None and self.method == "sinkhorn" else (self.reg or 0.0)
        eps = check_resolvable_eps(reg * cost_scale, float(a @ cost @ b))
        options = dict(self.solver_params or {})
        if self.reg_class is None:
            if eps == 0:
                result = exact_plan(cost, a, b, verbose=self.verbose)
                return self._plan_fitted(result.plan, result.n_iter, source, target, labels)
            result = sinkhorn(CostMatrixGeometry(cost), a, b, eps, verbose=self.verbose,
                              **{key: options[key] for key in ("max_iter", "tol") if key in options})
            warn_if_not_converged(self, result, options.get("tol", 1e-9))
            return self._plan_fitted(result.plan(), result.n_iter, source, target, labels)
        eta = self.reg_class * (cost_scale if self.class_penalty in ("group_lasso", "l1l2") else 1.0)
        result = class_regularized_transport(cost, a, b, labels, eps, eta, self.class_penalty,
                                             source=source, target=target, **options)
        warn_if_not_converged(self, _GapResult(result), options.get("tol", 1e-5),
                              quantity="relative conditional-gradient gap")
        return self._plan_fitted(result.plan, result.n_iter, source, target, labels)

    def _plan_fitted(self, plan, n_iter, source, target, labels):
        """The fitted attributes of a plan-based fit."""
        if self._reversed():
            support, images = target, barycentric_images(plan, source, axis=0)
        else:
            support, images = source, barycentric_images(plan, target, axis=1)
        fitted = {"plan_": plan, "support_": support, "support_images_": images, "n_iter_": n_iter,
                  "_plan_target": target}
        if labels is not None:
            fitted.update(classes_=np.unique(labels), _labels=labels)
        return fitted

    def _map(self, X):
        """The fitted map (source to target, or the reverse) at validated rows."""
        if self.transport_ is not None:
            return self.transport_.transform(X)
        def make_geometry(points, support):
            return get_geometry(self.backend_, points, support, self.metric)

        return displacement_extension(make_geometry, X, self.support_, self.support_images_,
                                      homogeneous=not callable(self.metric)).astype(X.dtype, copy=False)

    def _adapt(self, X, domains):
        if self.identity_:
            return X.copy()
        if self.method == "barycenter":
            return self.transport_.transform(X, sample_domain=domains)
        out = X.copy()
        rows = domains < 0 if self._reversed() else domains >= 0
        if rows.any():
            out[rows] = self._map(X[rows])
        return out

    def _transform_fitted(self, X, domains):
        """The rows of the mapped side (source rows, by default) mapped; others unchanged."""
        return self._adapt(X, domains)

    @accepts_dask_arrays
    def transform(self, X, sample_domain=None):
        """Adapt rows; without ``sample_domain`` they are target data (predict time).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of int of shape (n_samples,), optional
            Domain of each row (>= 0 source, < 0 target). Absent: every row is target
            data, returned unchanged for "source_to_target", mapped for
            "target_to_source", mapped by the target domain's map for "barycenter".

        Returns
        -------
        X_adapted : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_fitted_input(X)
        if sample_domain is not None:
            return self._adapt(X, infer_sample_domain(X.shape[0], None, sample_domain))
        if self.method == "barycenter" and not self.identity_:
            return self.transport_.transform(X)  # the barycenter's rule for rows without domain
        return self._adapt(X, np.full(X.shape[0], -1))

    def transport_plan(self, dense=False):
        """The coupling of a plan-based fit (``plan_``), or of the fitted SinkhornTransport.

        Parameters
        ----------
        dense : bool, default=False
            Return an ndarray even where the plan is sparse ("exact").

        Returns
        -------
        plan : scipy.sparse.csr_array or ndarray of shape (n_source, n_target)
        """
        check_is_fitted(self)
        if self.plan_ is not None:
            return self.plan_.toarray() if dense and sparse.issparse(self.plan_) else self.plan_
        if isinstance(self.transport_, SinkhornTransport):
            return self.transport_.transport_plan()
        raise ValueError(f"method={self.method!r} gives a map, not a plan; use 'exact' or 'sinkhorn'.")

    def transform_labels(self, X):
        """Class proportions that the coupling carries to target rows (label propagation).

        For "sinkhorn", the entropic conditional pi(class | y) at any point y; for plan-based
        fits, the plan's column proportions at the nearest fitted target point.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Target rows.

        Returns
        -------
        proportions : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        X = self._validate_fitted_input(X)
        if self.identity_ or self.classes_ is None:
            raise ValueError("transform_labels needs a fit on source rows with class labels and target rows.")
        if self.plan_ is not None:
            one_hot = (self._labels[:, None] == self.classes_[None, :]).astype(np.float64)
            column_classes = self.plan_.T @ one_hot
            column_classes /= column_classes.sum(axis=1, keepdims=True)
            target = self._plan_target
            nearest = get_geometry(self.backend_, X, target, self.metric).argmax(np.zeros(len(target)))
            return column_classes[nearest]
        transport = self.transport_
        if self._reversed():
            support, weights, potential = transport.support_target_, transport.weights_target_, transport.potential_target_
        else:
            support, weights, potential = transport.support_source_, transport.weights_source_, transport.potential_source_
        log_weights = log_weighted(potential, weights, transport.epsilon_)
        def make_geometry(u, v):
            return get_geometry(transport.backend_, u, v, transport.metric, kernel_memory=transport.kernel_memory)

        _, proportions = conditional_class_proportions(
            make_geometry, X, support, log_weights, self._labels, transport.epsilon_,
            support_is_source=not self._reversed())
        return proportions


def _target_labels(y, domains, sample_weight):
    """The labels of the target rows of positive weight, and which are known (not -1 or NaN)."""
    rows = domains < 0
    if sample_weight is not None:
        rows &= np.asarray(sample_weight) > 0
    labels = np.asarray(y)[rows]
    known = labels != -1
    if labels.dtype.kind == "f":
        known &= ~np.isnan(labels)
    return labels, known


def _source_labels(y, domains, sample_weight):
    """Class labels of the source rows of positive weight, or None when there are none."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(domains):
        return None
    rows = domains >= 0
    if sample_weight is not None and np.shape(sample_weight) == rows.shape:  # else the fit's split says why
        rows &= np.asarray(sample_weight) > 0
    labels = y[rows]
    if labels.dtype.kind == "f" and (np.isnan(labels).any() or type_of_target(labels) == "continuous"):
        return None
    return labels


class _GapResult:
    """The fields of a class-regularised result that the convergence warning reads: the
    gap relative to the objective, the quantity its tol bounds."""

    def __init__(self, result):
        self.converged, self.n_iter = result.converged, result.n_iter
        self.error = result.gap / max(abs(result.objective), np.finfo(float).tiny)

