"""OTDomainAdapterCV: the entropic adapter with its reg chosen along a warm-started path."""

import inspect
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._domain import infer_sample_domain, split_source_target
from ..backends import BACKENDS, FLOAT_DTYPES, METRICS, get_geometry, resolve_backend
from ..solvers import circular_path_score, one_standard_error_choice, reverse_validation_path_score, sinkhorn_path
from ._adapter import DIRECTIONS, OTDomainAdapter, _source_labels
from ._base import DomainTransformerMixin, check_resolvable_eps, keeps_model_on_failure, resolve_cost_scale

# The default grid: from sharp plans (close to exact OT) to smooth ones that blur the classes.
REG_RANGE = (0.01, 3.0)
DEFAULT_SPLITS = 5


class OTDomainAdapterCV(DomainTransformerMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Entropic :class:`OTDomainAdapter` whose ``reg`` is chosen by cross-validation without target labels.

    Every fold solves entropic OT along the grid of ``reg`` values from the largest to the
    smallest, each solve starting from the last one's potentials (eps-scaling), on the fold's
    own geometry, whose stored kernel at each reg serves its solve and its score. Each
    (reg, fold) is scored by circular validation: without ``estimator``, through the plan
    alone (the training source labels are carried to the target points by the plan and back
    to the held-out source rows by the entropic map's conditional, and the score is the share
    of held-out rows that get their own label back); with a classifier, by reverse
    validation of that classifier on the fold's mapped rows (the choice then follows the
    classifier's taste for smooth or sharp maps, at the cost of two fits per reg and fold).
    Target labels are never read. The chosen
    ``reg_`` is the largest whose mean score is within one standard error of the best (the
    smoothest plan that does as well), and the adapter is refitted with it on all rows.

    Parameters
    ----------
    regs : int or array-like of float, default=8
        The grid of entropic ``reg`` values (in units of ``cost_scale``), or their number,
        spaced geometrically from 0.01 to 3.
    estimator : classifier or None, default=None
        Scores each reg and fold by reverse validation
        (:func:`skot.solvers.reverse_validation_path_score`) with clones of it; None: by the
        plan's label round trip (:func:`skot.solvers.circular_path_score`).
    cv : int, splitter, iterable or None, default=5
        Number of folds of a shuffled k-fold split stratified by domain (each fold keeps its
        share of every domain's rows out, and scores each held-out source row once), or a splitter
        whose ``split(X, y[, sample_domain=...])`` keeps source and target rows in every fold,
        or an iterable of (train, test) index arrays; None: 5.
    direction : {"source_to_target", "target_to_source"}, default="source_to_target"
        Which side the refitted adapter maps.
    metric : {"sqeuclidean", "euclidean", "cosine"}, default="sqeuclidean"
    cost_scale : {"mean", "median", "max"}, float or None, default="mean"
        Unit of ``regs``.
    path_tol : float, default=1e-2
        Marginal error (L1) at which the path's fold solves stop: the scores count labels,
        which plans this close to the optimum give alike.
    tol : float, default=1e-9
        Marginal error of the refit at ``reg_``.
    backend : {"auto", "numpy", "numba"}, default="auto"
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
        Seeds the default splitter.

    Attributes
    ----------
    reg_ : float or None
        The chosen ``reg`` (None when fit saw no target rows: the adapter is the identity).
    regs_ : ndarray of shape (n_regs,)
        The grid, largest first.
    cv_scores_ : ndarray of shape (n_regs, n_splits) or None
        Circular-validation accuracy of each reg (rows, as ``regs_``) on each fold.
    adapter_ : OTDomainAdapter
        Refitted on all rows with ``reg_``.
    path_n_iter_ : int
        Sinkhorn iterations of the path (all folds and regs).
    n_iter_ : int
        Iterations of the refit.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from skot import OTDomainAdapterCV, pack
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 2))
    >>> X, y, _ = pack(Xs, Xs + 3.0, (Xs[:, 0] > 0).astype(int))
    >>> adapter = OTDomainAdapterCV(regs=4, cv=3, random_state=0).fit(X, y)
    >>> adapter.regs_.round(3).tolist(), adapter.cv_scores_.shape
    ([3.0, 0.448, 0.067, 0.01], (4, 3))
    """

    _parameter_constraints = {
        "regs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "cv": ["cv_object"],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "direction": [StrOptions(set(DIRECTIONS))],
        "metric": [StrOptions(set(METRICS))],
        "cost_scale": [StrOptions({"mean", "median", "max"}), Interval(Real, 0, None, closed="neither"), None],
        "path_tol": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "backend": [StrOptions(set(BACKENDS) - {"cupy"})],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _fitted_attribute = "adapter_"

    def __init__(self, regs=8, *, estimator=None, cv=5, direction="source_to_target", metric="sqeuclidean",
                 cost_scale="mean", path_tol=1e-2, tol=1e-9, backend="auto", verbose=0, random_state=None):
        self.regs = regs
        self.estimator = estimator
        self.cv = cv
        self.direction = direction
        self.metric = metric
        self.cost_scale = cost_scale
        self.path_tol = path_tol
        self.tol = tol
        self.backend = backend
        self.verbose = verbose
        self.random_state = random_state

    def _grid(self):
        if isinstance(self.regs, Integral):
            return np.geomspace(*REG_RANGE, self.regs)[::-1]
        regs = np.sort(np.asarray(self.regs, dtype=np.float64).ravel())[::-1]
        if regs.size == 0 or not (np.all(np.isfinite(regs)) and np.all(regs > 0)):
            raise ValueError(f"regs must be positive finite numbers, got {self.regs!r}.")
        return regs

    def _splits(self, X, y, domains):
        if self.cv is None or isinstance(self.cv, Integral):  # each domain's share kept in every fold
            n_splits = DEFAULT_SPLITS if self.cv is None else self.cv
            return list(StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state).split(X, domains))
        if not hasattr(self.cv, "split"):
            return list(self.cv)  # (train, test) index pairs, as scikit-learn's cv accepts
        splitter = self.cv
        if "sample_domain" in inspect.signature(splitter.split).parameters:
            return list(splitter.split(X, y, sample_domain=domains))
        return list(splitter.split(X, y))

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_model_on_failure
    def _fit(self, X, y, sample_domain, sample_weight):
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        domains = infer_sample_domain(X.shape[0], y, sample_domain)
        regs = self._grid()
        fitted = {"reg_": None, "regs_": regs, "cv_scores_": None, "path_n_iter_": 0}
        if (domains >= 0).any() and (domains < 0).any():
            scores, path_n_iter = self._path_scores(X, y, domains, sample_weight, regs)
            fitted.update(reg_=float(regs[one_standard_error_choice(scores)]), cv_scores_=scores,
                          path_n_iter_=path_n_iter)
        # Without target (or source) rows the adapter warns and is the identity.
        adapter = OTDomainAdapter(
            "sinkhorn", reg=fitted["reg_"], direction=self.direction, metric=self.metric,
            cost_scale=self.cost_scale, solver_params={"tol": self.tol},
            backend=self.backend, verbose=self.verbose, random_state=self.random_state,
        ).fit(X, y, sample_domain=domains, sample_weight=sample_weight)
        for name, value in fitted.items():
            setattr(self, name, value)
        self.n_iter_ = adapter.n_iter_
        self.adapter_ = adapter
        return X, domains

    def _path_scores(self, X, y, domains, sample_weight, regs):
        """Circular-validation accuracy of each reg on each fold, and the path's iterations."""
        labels = _source_labels(y, domains, sample_weight)
        if labels is None or len(np.unique(labels)) < 2:
            raise ValueError("OTDomainAdapterCV scores each reg by the source labels carried through the plan: "
                             "pass y with class labels (two classes or more) for the source rows.")
        backend = resolve_backend(self.backend, self.metric)
        data = split_source_target(X, None, domains, sample_weight)
        geometry = get_geometry(backend, data.source, data.target, self.metric)
        a, b = data.source_weights, data.target_weights
        cost_scale = resolve_cost_scale(self.cost_scale, geometry, a, b)
        check_resolvable_eps(regs[-1] * cost_scale, geometry.cost_statistic("mean", a, b), "regs")
        # Rows of zero weight are not in the problem (split_source_target drops them).
        kept = np.ones(len(X), dtype=bool) if sample_weight is None else np.asarray(sample_weight) > 0
        in_source, in_target = kept & (domains >= 0), kept & (domains < 0)
        folds = []
        for train, _ in self._splits(X, y, domains):
            training = np.zeros(len(X), dtype=bool)
            training[train] = True
            folds.append((training[in_source], training[in_target]))
        def make_geometry(source_rows, target_rows):
            return get_geometry(backend, data.source[source_rows], data.target[target_rows], self.metric)

        if self.estimator is None:
            score = circular_path_score(make_geometry, labels, folds)
        else:
            score = reverse_validation_path_score(self.estimator, make_geometry, data.source, data.target, labels,
                                                  folds, direction=self.direction)
        path = sinkhorn_path(make_geometry, a, b, regs * cost_scale, folds=folds, score=score, tol=self.path_tol,
                             verbose=self.verbose)
        return path.scores, path.n_iter

    def _transform_fitted(self, X, domains):
        return self.adapter_._transform_fitted(X, domains)

    def transform(self, X, sample_domain=None):
        """Adapt rows as :meth:`OTDomainAdapter.transform` does (without ``sample_domain``: target rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of int of shape (n_samples,), optional

        Returns
        -------
        X_adapted : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_fitted_input(X)
        # The adapter's own transform would wrap its output for set_output a second time.
        domains = np.full(X.shape[0], -1) if sample_domain is None else infer_sample_domain(X.shape[0], None,
                                                                                             sample_domain)
        return self.adapter_._adapt(X, domains)

    def transform_labels(self, X):
        """Class proportions carried to target rows by the refitted plan (:meth:`OTDomainAdapter.transform_labels`)."""
        return self.adapter_.transform_labels(self._validate_fitted_input(X))
