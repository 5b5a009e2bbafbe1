"""Model selection without target labels: domain-aware scorers and splitters.

Each scorer is a callable ``scorer(estimator, X, y, sample_domain=None)`` for
``GridSearchCV(scoring=...)`` and ``cross_validate``: the target rows of a test fold are
those with ``sample_domain < 0`` (routed when metadata routing is on) or, routing off,
those with a masked label (-1 or NaN); their labels are never read. Predictions pass
every pipeline step that accepts ``sample_domain`` the rows' domains, so source rows are
adapted as at fit time and target rows as at predict time.
"""

import inspect
from numbers import Integral, Real

import numpy as np
import sklearn
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.model_selection._split import BaseShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing, check_random_state, indexable
from sklearn.utils._metadata_requests import _MetadataRequester
from sklearn.utils.metadata_routing import MetadataRequest
from scipy.special import entr, logsumexp

from ._domain import infer_sample_domain

__all__ = [
    "CircularValidationScorer",
    "DeepEmbeddedValidationScorer",
    "ImportanceWeightedScorer",
    "PredictionEntropyScorer",
    "SoftNeighborhoodDensityScorer",
    "DomainShuffleSplit",
    "LeaveOneDomainOut",
    "SourceTargetShuffleSplit",
]


def _parameters_repr(obj):
    """``Name(parameter=value, ...)`` from the object's public attributes."""
    params = ", ".join(f"{key}={value!r}" for key, value in vars(obj).items() if not key.startswith("_"))
    return f"{type(obj).__name__}({params})"


def _accepts_domain(method):
    return "sample_domain" in inspect.signature(method).parameters


def _features(estimator, X, domains):
    """The rows as a pipeline's final step sees them (its earlier steps' transforms, given
    ``domains`` where they take them), and that final step; ``X`` and the estimator itself
    for an estimator that is no pipeline."""
    if not isinstance(estimator, Pipeline):
        return X, estimator
    for _, step in estimator.steps[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        X = step.transform(X, sample_domain=domains) if _accepts_domain(step.transform) else step.transform(X)
    return X, estimator.steps[-1][1]


def _predict(estimator, method, X, domains):
    """``estimator.<method>(X)``, passing ``domains`` to each pipeline step that takes them."""
    features, final = _features(estimator, X, domains)
    if final is estimator and _accepts_domain(getattr(estimator, method)):
        return getattr(estimator, method)(X, sample_domain=domains)
    return getattr(final, method)(features)


def _density_ratio(classifier, source, target, rows):
    """p(target | x) / p(source | x) n_source / n_target at ``rows``, from a clone of
    ``classifier`` (None: standardisation then logistic regression) fitted to tell the
    ``source`` rows from the ``target`` rows."""
    classifier = clone(classifier or make_pipeline(StandardScaler(), LogisticRegression()))
    classifier.fit(np.vstack([source, target]), np.r_[np.zeros(len(source)), np.ones(len(target))])
    p_target = np.clip(classifier.predict_proba(rows)[:, 1], 1e-6, 1 - 1e-6)
    return p_target / (1 - p_target) * (len(source) / len(target))


class _DomainAwareScorer(_MetadataRequester):
    """Base: splits the rows of a fold into source and target (see module docstring).

    Requests ``sample_domain`` for ``score``, the method under which scikit-learn routes a
    scorer's metadata; the request is built here since a scorer has no ``score`` method
    for a class-level request to attach to.
    """

    def _get_metadata_request(self):
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_domain", alias=True)
        return request

    def _split(self, X, y, sample_domain):
        domains = infer_sample_domain(len(X), y, sample_domain)
        source = domains >= 0
        if source.all() or not source.any():
            raise ValueError(
                f"{type(self).__name__} needs source and target rows in each test fold; this one has "
                f"{'only source' if source.all() else 'only target'} rows. Pass "
                "cv=skot.model_selection.SourceTargetShuffleSplit(), which keeps both in every fold."
            )
        return domains, source

    __repr__ = _parameters_repr


class PredictionEntropyScorer(_DomainAwareScorer):
    """Minus the mean entropy of the predicted class probabilities on target rows.

    Confident predictions on the target score higher (Morerio et al. 2018); the
    estimator needs ``predict_proba``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline
    >>> from skot.model_selection import PredictionEntropyScorer, SourceTargetShuffleSplit
    >>> search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
    ...                       {"otdomainadapter__reg": [0.05, 0.5]}, scoring=PredictionEntropyScorer(),
    ...                       cv=SourceTargetShuffleSplit(n_splits=2, random_state=0))
    """

    def __call__(self, estimator, X, y=None, sample_domain=None):
        domains, source = self._split(X, y, sample_domain)
        target = np.flatnonzero(~source)
        proba = _predict(estimator, "predict_proba", _safe_indexing(X, target), domains[target])
        return -float(np.mean(entr(proba).sum(axis=1)))


class SoftNeighborhoodDensityScorer(_DomainAwareScorer):
    """Mean entropy of the target rows' soft neighbourhoods in prediction space (Saito et al. 2021).

    With ``p_i`` the predicted class probabilities of target row i scaled to unit norm, each
    row's neighbourhood is ``softmax_j(<p_i, p_j> / temperature)`` over the other target rows;
    the score is the mean entropy of these distributions: high when predictions form dense
    clusters rather than isolated points. The estimator needs ``predict_proba``.

    Parameters
    ----------
    temperature : float, default=0.05
        The paper's value.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline
    >>> from skot.model_selection import SoftNeighborhoodDensityScorer, SourceTargetShuffleSplit
    >>> search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
    ...                       {"otdomainadapter__reg": [0.05, 0.5]}, scoring=SoftNeighborhoodDensityScorer(),
    ...                       cv=SourceTargetShuffleSplit(n_splits=2, random_state=0))
    """

    # Rows of the similarity matrix at a time: memory O(ROWS n_target), not O(n_target^2).
    ROWS = 1024

    def __init__(self, temperature=0.05):
        if not (isinstance(temperature, Real) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}.")
        self.temperature = temperature

    def __call__(self, estimator, X, y=None, sample_domain=None):
        domains, source = self._split(X, y, sample_domain)
        target = np.flatnonzero(~source)
        if len(target) < 2:
            raise ValueError("SoftNeighborhoodDensityScorer needs two target rows or more in each test fold.")
        proba = np.asarray(_predict(estimator, "predict_proba", _safe_indexing(X, target), domains[target]),
                           dtype=np.float64)
        unit = proba / np.linalg.norm(proba, axis=1, keepdims=True)
        entropies = []
        for start in range(0, len(unit), self.ROWS):
            similarity = unit[start:start + self.ROWS] @ unit.T / self.temperature
            rows = np.arange(similarity.shape[0])
            similarity[rows, start + rows] = -np.inf  # not one's own neighbour
            log_norm = logsumexp(similarity, axis=1, keepdims=True)
            weights = np.exp(similarity - log_norm)
            entropies.append(log_norm[:, 0] - np.sum(weights * np.where(weights > 0, similarity, 0.0), axis=1))
        return float(np.mean(np.concatenate(entropies)))


class ImportanceWeightedScorer(_DomainAwareScorer):
    """Source score weighted by the density ratio target/source (Sugiyama et al. 2007).

    The ratio comes from a domain classifier: w(x) = p(target | x) / p(source | x) times
    n_source / n_target; the score is ``score_func(y_source, prediction, sample_weight=w)``.

    Parameters
    ----------
    score_func : callable, default=accuracy_score
        ``score_func(y_true, y_pred, sample_weight=...)``, greater is better.
    domain_classifier : classifier or None, default=None
        With ``predict_proba``; None: standardisation then logistic regression.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline, pack
    >>> from skot.model_selection import ImportanceWeightedScorer
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(80, 2))
    >>> X, y, _ = pack(Xs, rng.normal(size=(80, 2)) + 1.0, (Xs[:, 0] > 0).astype(int))
    >>> model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    >>> 0.0 <= ImportanceWeightedScorer()(model, X, y) <= 1.0
    True
    """

    def __init__(self, score_func=accuracy_score, domain_classifier=None):
        self.score_func = score_func
        self.domain_classifier = domain_classifier

    def __call__(self, estimator, X, y, sample_domain=None):
        domains, source = self._split(X, y, sample_domain)
        rows = np.flatnonzero(source)
        X_source = _safe_indexing(X, rows)
        weights = _density_ratio(self.domain_classifier, X_source, _safe_indexing(X, np.flatnonzero(~source)),
                                 X_source)
        prediction = _predict(estimator, "predict", X_source, domains[rows])
        return float(self.score_func(_safe_indexing(y, rows), prediction, sample_weight=weights))


class DeepEmbeddedValidationScorer(_DomainAwareScorer):
    """Minus the importance-weighted source loss in the final step's features, with a control
    variate: deep embedded validation (You et al. 2019).

    The test fold's source rows are split in two; a domain classifier told the first part
    from the target rows in the features the final step sees (after the pipeline's earlier
    steps, source rows adapted), and gives the other part density-ratio weights ``w``; with
    ``L`` the per-row loss of the estimator there, the risk is
    ``mean(w L) + eta mean(w) - eta`` for ``eta = -Cov(w L, w) / Var(w)`` (the control variate
    that cancels the weights' variance along ``w L``). Higher is better. The estimator
    needs ``predict_proba``.

    Parameters
    ----------
    domain_classifier : classifier or None, default=None
        With ``predict_proba``; None: standardisation then logistic regression.
    loss_func : callable or None, default=None
        ``loss_func(y_true, proba, classes) -> per-row losses``; None: the log loss.
    validation_size : float, default=0.33
        Share of the source rows weighted and scored (the rest train the domain classifier).
    random_state : int, RandomState instance or None, default=None
        Of the split of the source rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline, pack
    >>> from skot.model_selection import DeepEmbeddedValidationScorer
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(80, 2))
    >>> X, y, _ = pack(Xs, rng.normal(size=(80, 2)) + 1.0, (Xs[:, 0] > 0).astype(int))
    >>> model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    >>> bool(DeepEmbeddedValidationScorer(random_state=0)(model, X, y) < 0)
    True
    """

    def __init__(self, domain_classifier=None, loss_func=None, validation_size=0.33, random_state=None):
        if not (isinstance(validation_size, Real) and 0 < validation_size < 1):
            raise ValueError(f"validation_size must be in (0, 1), got {validation_size!r}.")
        self.domain_classifier = domain_classifier
        self.loss_func = loss_func
        self.validation_size = validation_size
        self.random_state = random_state

    @staticmethod
    def _classes(estimator, source_labels, n_columns):
        """The classes of the columns of ``predict_proba``: ``classes_``, or for an estimator that
        exposes none (skada's pipelines), the sorted source labels when they are as many."""
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            classes = np.unique(source_labels)
            if len(classes) != n_columns:
                raise ValueError(f"DeepEmbeddedValidationScorer cannot tell the classes of the {n_columns} columns "
                                 f"of predict_proba: the estimator has no classes_.")
        return np.asarray(classes)

    @staticmethod
    def _log_loss(y_true, proba, classes):
        codes = np.searchsorted(classes, y_true)
        if not np.array_equal(classes[np.minimum(codes, len(classes) - 1)], y_true):
            raise ValueError("DeepEmbeddedValidationScorer: a source label is not among the estimator's classes_.")
        return -np.log(np.clip(proba[np.arange(len(codes)), codes], 1e-15, None))

    def __call__(self, estimator, X, y, sample_domain=None):
        domains, source = self._split(X, y, sample_domain)
        y = np.asarray(y)
        fit_rows, validation_rows = train_test_split(np.flatnonzero(source), test_size=self.validation_size,
                                                     random_state=self.random_state)
        target_rows = np.flatnonzero(~source)

        def features(rows):
            return np.asarray(_features(estimator, _safe_indexing(X, rows), domains[rows])[0], dtype=np.float64)

        weights = _density_ratio(self.domain_classifier, features(fit_rows), features(target_rows),
                                 features(validation_rows))
        proba = np.asarray(_predict(estimator, "predict_proba", _safe_indexing(X, validation_rows),
                                    domains[validation_rows]))
        losses = (self.loss_func or self._log_loss)(y[validation_rows], proba, self._classes(estimator, y[source],
                                                                                              proba.shape[1]))
        weighted = weights * losses
        variance = np.var(weights, ddof=1)
        eta = -np.cov(weighted, weights)[0, 1] / variance if variance > 0 else 0.0
        return -float(np.mean(weighted) + eta * np.mean(weights) - eta)


class CircularValidationScorer(_DomainAwareScorer):
    """Reverse validation (Bruzzone & Marconcini 2010; Zhong et al. 2010).

    Predict pseudo-labels on the target rows, fit a clone of the estimator on the
    reversed problem (pseudo-labelled target rows as source, source rows as unlabelled
    target), predict the source rows with it and score against their true labels.

    Parameters
    ----------
    score_func : callable, default=accuracy_score
        ``score_func(y_true, y_pred)``, greater is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skot import OTDomainAdapter, make_da_pipeline, pack
    >>> from skot.model_selection import CircularValidationScorer
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(80, 2))
    >>> X, y, _ = pack(Xs, Xs + 2.0, (Xs[:, 0] > 0).astype(int))
    >>> model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    >>> CircularValidationScorer()(model, X, y) > 0.9
    True
    """

    def __init__(self, score_func=accuracy_score):
        self.score_func = score_func

    def __call__(self, estimator, X, y, sample_domain=None):
        domains, source = self._split(X, y, sample_domain)
        y = np.asarray(y)
        target_rows, source_rows = np.flatnonzero(~source), np.flatnonzero(source)
        pseudo = _predict(estimator, "predict", _safe_indexing(X, target_rows), domains[target_rows])
        if is_classifier(estimator) and len(np.unique(pseudo)) < 2:
            # A classifier cannot be fitted on one class: the reverse model predicts it.
            prediction = np.full(len(source_rows), pseudo[0])
        else:
            masked = np.nan if y.dtype.kind == "f" else -1
            y_reverse = np.full(len(y), masked, dtype=np.result_type(y.dtype, np.asarray(pseudo).dtype))
            y_reverse[target_rows] = pseudo
            reverse_domains = -domains - 1
            params = {}
            if sample_domain is not None and sklearn.get_config()["enable_metadata_routing"]:
                params["sample_domain"] = reverse_domains
            reverse = clone(estimator).fit(X, y_reverse, **params)
            prediction = _predict(reverse, "predict", _safe_indexing(X, source_rows), reverse_domains[source_rows])
        return float(self.score_func(y[source_rows], prediction))


def _by_domain_split(rows, domains, test_size, train_size, rng):
    """One ``(train, test)`` split of ``rows``, stratified by their ``domains`` (test share 0.1
    when neither size is given, as ShuffleSplit)."""
    if test_size is None and train_size is None:
        test_size = 0.1
    splitter = StratifiedShuffleSplit(1, test_size=test_size, train_size=train_size,
                                      random_state=rng.randint(np.iinfo(np.int32).max))
    train, test = next(splitter.split(rows, domains[rows]))
    return rows[train], rows[test]


class _DomainSplitter:
    """Base of the domain-aware splitters: ``sample_domain`` requested for ``split``, domains
    read from it or, routing off, from masked labels."""

    __metadata_request__split = {"sample_domain": True}

    def _domains(self, X, y, sample_domain):
        X, y = indexable(X, y)
        return infer_sample_domain(len(X), y, sample_domain)

    __repr__ = _parameters_repr


class SourceTargetShuffleSplit(BaseShuffleSplit):
    """Random splits that keep every domain's share in both the train and the test rows.

    Domains come from ``sample_domain`` (routed when metadata routing is on) or masked
    labels in ``y``; the split is stratified by domain, so each fold has source and
    target rows.

    Parameters
    ----------
    n_splits : int, default=5
    test_size, train_size : float, int or None
        As in :class:`~sklearn.model_selection.ShuffleSplit` (default test share 0.1).
    random_state : int, RandomState instance or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from skot.model_selection import SourceTargetShuffleSplit
    >>> y = np.array([0, 1] * 10 + [-1] * 10)
    >>> train, test = next(SourceTargetShuffleSplit(n_splits=1, test_size=0.5, random_state=0).split(np.zeros((30, 1)), y))
    >>> int((y[test] == -1).sum()), len(test)
    (5, 15)
    """

    __metadata_request__split = {"sample_domain": True}

    def __init__(self, n_splits=5, *, test_size=None, train_size=None, random_state=None):
        if not (isinstance(n_splits, Integral) and not isinstance(n_splits, bool) and n_splits >= 1):
            raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}.")
        super().__init__(n_splits=n_splits, test_size=test_size, train_size=train_size, random_state=random_state)

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays, stratified by domain.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Masked labels (target rows -1 or NaN) when ``sample_domain`` is absent.
        groups : ignored
        sample_domain : array-like of int of shape (n_samples,), optional
        """
        X, y = indexable(X, y)
        domains = infer_sample_domain(len(X), y, sample_domain)
        splitter = StratifiedShuffleSplit(self.n_splits, test_size=self.test_size,
                                          train_size=self.train_size, random_state=self.random_state)
        yield from splitter.split(X, domains)

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None):
        """Number of splits, ``n_splits``."""
        return self.n_splits

    def _iter_indices(self, X, y=None, groups=None):
        yield from self.split(X, y)


class DomainShuffleSplit(_DomainSplitter, _MetadataRequester):
    """Random splits of a random share of every domain, each domain's share kept in train and test.

    Each split first draws ``under_sampling`` of every domain's rows (without replacement),
    then splits the draw stratified by domain (as :class:`SourceTargetShuffleSplit`), so that
    training sets differ more from split to split than shuffling alone makes them (skada's
    splitter of the same name, with every domain stratified rather than the pooled source and
    target rows). Domains come from ``sample_domain`` or masked labels.

    Parameters
    ----------
    n_splits : int, default=10
    test_size, train_size : float, int or None
        Of each draw, as in :class:`~sklearn.model_selection.ShuffleSplit` (default test
        share 0.1).
    under_sampling : float, default=0.8
        Share of each domain's rows drawn for a split, in (0, 1].
    random_state : int, RandomState instance or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from skot.model_selection import DomainShuffleSplit
    >>> y = np.array([0, 1] * 10 + [-1] * 10)
    >>> train, test = next(DomainShuffleSplit(n_splits=1, test_size=0.25, random_state=0).split(np.zeros((30, 1)), y))
    >>> len(train) + len(test), int((y[test] == -1).sum()), len(test)
    (24, 2, 6)
    """

    def __init__(self, n_splits=10, *, test_size=None, train_size=None, under_sampling=0.8, random_state=None):
        if not (isinstance(n_splits, Integral) and not isinstance(n_splits, bool) and n_splits >= 1):
            raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}.")
        if not (isinstance(under_sampling, Real) and 0 < under_sampling <= 1):
            raise ValueError(f"under_sampling must be in (0, 1], got {under_sampling!r}.")
        self.n_splits = n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.under_sampling = under_sampling
        self.random_state = random_state

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Masked labels (target rows -1 or NaN) when ``sample_domain`` is absent.
        groups : ignored
        sample_domain : array-like of int of shape (n_samples,), optional
        """
        domains = self._domains(X, y, sample_domain)
        rng = check_random_state(self.random_state)
        by_domain = [np.flatnonzero(domains == value) for value in np.unique(domains)]
        for _ in range(self.n_splits):
            drawn = np.sort(np.concatenate([
                rng.choice(rows, max(1, int(self.under_sampling * len(rows))), replace=False) for rows in by_domain]))
            yield _by_domain_split(drawn, domains, self.test_size, self.train_size, rng)

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None):
        """Number of splits, ``n_splits``."""
        return self.n_splits


class LeaveOneDomainOut(_DomainSplitter, _MetadataRequester):
    """Each domain in turn is the target: the other domains' source rows and its target rows.

    For data where every domain d appears twice, as source rows (``sample_domain = d``) and
    as unlabelled target rows (``-d``; the layout of skada's multi-domain datasets), split k
    keeps the source rows of every domain but d_k and the target rows of d_k, and splits them
    stratified by domain (as :class:`SourceTargetShuffleSplit`): a scorer that may read
    labels then sees how well a model adapts to a domain it did not learn from.

    Parameters
    ----------
    max_n_splits : int, default=10
        At most this many domains (chosen at random) are left out.
    test_size, train_size : float, int or None
        As in :class:`~sklearn.model_selection.ShuffleSplit` (default test share 0.1).
    random_state : int, RandomState instance or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from skot.model_selection import LeaveOneDomainOut
    >>> domain = np.array([1, 2, 3, -1, -2, -3]).repeat(10)
    >>> splits = list(LeaveOneDomainOut(random_state=0).split(np.zeros((60, 1)), sample_domain=domain))
    >>> sorted(np.unique(domain[np.r_[train, test]]).tolist() for train, test in splits)
    [[-3, 1, 2], [-2, 1, 3], [-1, 2, 3]]
    """

    def __init__(self, max_n_splits=10, *, test_size=None, train_size=None, random_state=None):
        if not (isinstance(max_n_splits, Integral) and not isinstance(max_n_splits, bool) and max_n_splits >= 1):
            raise ValueError(f"max_n_splits must be a positive integer, got {max_n_splits!r}.")
        self.max_n_splits = max_n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.random_state = random_state

    def _left_out(self, domains):
        sources = np.unique(domains[domains >= 0])
        paired = [d for d in sources if np.any(domains == -d) and d != 0]
        if len(paired) < 2 or len(paired) < len(sources):
            raise ValueError(
                "LeaveOneDomainOut needs two domains or more, each as source rows (sample_domain = d > 0) and as "
                f"target rows (-d); got source domains {sources.tolist()} and target domains "
                f"{np.unique(domains[domains < 0]).tolist()}. For one source and one target domain, use "
                "SourceTargetShuffleSplit."
            )
        return paired

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays, one pair per left-out domain.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Masked labels when ``sample_domain`` is absent (one source and one target domain:
            an error says to use another splitter).
        groups : ignored
        sample_domain : array-like of int of shape (n_samples,)
        """
        domains = self._domains(X, y, sample_domain)
        paired = self._left_out(domains)
        rng = check_random_state(self.random_state)
        for target in rng.permutation(paired)[: self.max_n_splits]:
            rows = np.flatnonzero((domains == -target) | ((domains >= 0) & (domains != target)))
            yield _by_domain_split(rows, domains, self.test_size, self.train_size, rng)

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None):
        """Number of splits: the paired domains (at most ``max_n_splits``); ``max_n_splits``
        without data."""
        if X is None:
            return self.max_n_splits
        return min(self.max_n_splits, len(self._left_out(self._domains(X, y, sample_domain))))
