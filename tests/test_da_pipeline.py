"""make_da_pipeline, the unsupervised scorers and the splitter; interoperability with skada."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy.special import entr
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.preprocessing import StandardScaler

import skot
from skot import OTDomainAdapter, SourceOnlyEstimator, make_da_pipeline, pack
from skot.model_selection import (
    CircularValidationScorer,
    DeepEmbeddedValidationScorer,
    ImportanceWeightedScorer,
    PredictionEntropyScorer,
    SoftNeighborhoodDensityScorer,
    SourceTargetShuffleSplit,
)

# skada's dataset maker warns about its own default argument.
pytestmark = pytest.mark.filterwarnings("ignore:The `return_X_y` parameter is deprecated:DeprecationWarning")

SCORERS = [PredictionEntropyScorer(), ImportanceWeightedScorer(), CircularValidationScorer(),
           SoftNeighborhoodDensityScorer(), DeepEmbeddedValidationScorer(random_state=0)]


def shifted_classes(n=60, seed=0, shift=(2.0, 1.0)):
    """Two Gaussian classes; the target domain is moved by ``shift``."""
    rng = np.random.default_rng(seed)

    def draw(count):
        labels = rng.integers(0, 2, count)
        return rng.normal(size=(count, 2)) * 0.7 + np.c_[2.0 * labels, 0.0 * labels], labels

    source, y_source = draw(n)
    target, y_target = draw(n)
    X, y_masked, domain = pack(source, target + shift, y_source)
    return X, y_masked, domain, np.r_[y_source, y_target]


@pytest.fixture(scope="module")
def skada():
    """skada, imported without leaving its global metadata-routing switch on."""
    routing = sklearn.get_config()["enable_metadata_routing"]
    module = pytest.importorskip("skada")
    sklearn.set_config(enable_metadata_routing=routing)
    return module


def test_pipeline_names_steps_and_trains_the_final_estimator_on_source_rows():
    X, y, domain, y_true = shifted_classes()
    source = domain >= 0
    model = make_da_pipeline(StandardScaler(), OTDomainAdapter(), LogisticRegression())
    assert list(model.named_steps) == ["standardscaler", "otdomainadapter", "logisticregression"]
    assert isinstance(model[-1], SourceOnlyEstimator)
    model.fit(X, y)
    adapted = model[:-1].fit_transform(X, y)
    reference = LogisticRegression().fit(adapted[source], y[source])
    np.testing.assert_allclose(model[-1].estimator_.coef_, reference.coef_)
    # Predict time: target rows go through the scaler and the identity map.
    np.testing.assert_array_equal(model.predict(X[~source]), reference.predict(model[:-1].transform(X[~source])))
    np.testing.assert_array_equal(model.classes_, [0, 1])
    # Adaptation helps on this shift.
    baseline = LogisticRegression().fit(X[source], y[source]).score(X[~source], y_true[~source])
    assert model.score(X[~source], y_true[~source]) > baseline + 0.1


def test_routing_off_and_on_give_the_same_model():
    X, y, domain, _ = shifted_classes()
    off = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    y_unmasked = np.where(domain >= 0, y, 1)  # target labels present but never used
    with sklearn.config_context(enable_metadata_routing=True):
        on = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y_unmasked, sample_domain=domain)
        np.testing.assert_allclose(on[-1].estimator_.coef_, off[-1].estimator_.coef_)
        np.testing.assert_array_equal(on.predict(X), off.predict(X))
    assert sklearn.get_config()["enable_metadata_routing"] is False


def test_source_only_estimator_slices_per_row_fit_parameters():
    X, y, domain, _ = shifted_classes()
    weights = np.linspace(1, 2, len(X))
    model = SourceOnlyEstimator(LogisticRegression()).fit(X, y, sample_weight=weights)
    source = domain >= 0
    reference = LogisticRegression().fit(X[source], y[source], sample_weight=weights[source])
    np.testing.assert_allclose(model.estimator_.coef_, reference.coef_)
    with pytest.raises(ValueError, match="No source rows"):
        SourceOnlyEstimator(LogisticRegression()).fit(X, np.full(len(X), -1))
    with pytest.raises(ValueError, match="rows but y has"):
        SourceOnlyEstimator(LogisticRegression()).fit(X, y[:-1])


def test_splitter_keeps_every_domain_in_train_and_test():
    X, y, domain, _ = shifted_classes(n=50)
    splitter = SourceTargetShuffleSplit(n_splits=4, test_size=0.3, random_state=0)
    folds_masked = list(splitter.split(X, y))
    folds_domain = list(splitter.split(X, sample_domain=domain))
    assert splitter.get_n_splits() == 4 and len(folds_masked) == 4
    for (train, test), (train_d, test_d) in zip(folds_masked, folds_domain):
        np.testing.assert_array_equal(train, train_d)
        np.testing.assert_array_equal(test, test_d)
        assert not set(train) & set(test)
        for rows in (train, test):
            share = np.mean(domain[rows] < 0)
            assert 0.45 <= share <= 0.55


def test_soft_neighborhood_density_is_the_mean_entropy_of_the_target_neighbourhoods(monkeypatch):
    """Against the dense definition of Saito et al. 2021 (row softmax over the other target
    rows), by blocks of rows or in one; a constant prediction gives log(n_target - 1)."""
    X, y, domain, _ = shifted_classes()
    model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    proba = model.predict_proba(X[domain < 0])
    unit = proba / np.linalg.norm(proba, axis=1, keepdims=True)
    similarity = unit @ unit.T / 0.05
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.exp(similarity - similarity.max(axis=1, keepdims=True))
    neighbours /= neighbours.sum(axis=1, keepdims=True)
    expected = float(np.mean(entr(neighbours).sum(axis=1)))
    scorer = SoftNeighborhoodDensityScorer()
    assert scorer(model, X, y) == pytest.approx(expected, rel=1e-12)
    monkeypatch.setattr(SoftNeighborhoodDensityScorer, "ROWS", 7)
    assert scorer(model, X, None, sample_domain=domain) == pytest.approx(expected, rel=1e-12)
    # One prediction for every row: each neighbourhood is uniform over the other target rows.
    constant = DummyClassifier(strategy="prior").fit(X[domain >= 0], y[domain >= 0])
    assert scorer(constant, X, y) == pytest.approx(np.log((domain < 0).sum() - 1), rel=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        SoftNeighborhoodDensityScorer(temperature=0)


def test_prediction_entropy_scorer_is_minus_the_mean_target_entropy():
    X, y, domain, _ = shifted_classes()
    model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    proba = model.predict_proba(X[domain < 0])
    expected = -np.mean(entr(proba).sum(axis=1))
    assert PredictionEntropyScorer()(model, X, y) == pytest.approx(expected, rel=1e-12)
    assert PredictionEntropyScorer()(model, X, None, sample_domain=domain) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="source and target rows"):
        PredictionEntropyScorer()(model, X[domain >= 0], y[domain >= 0])


def test_importance_weighted_scorer_weights_by_the_density_ratio():
    X, y, domain, _ = shifted_classes()
    model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    source = domain >= 0
    # Source rows are predicted after adaptation, as at fit time.
    adapted = model["otdomainadapter"].transform(X, sample_domain=domain)
    prediction = model[-1].predict(adapted[source])
    # A domain classifier that cannot tell the domains apart gives weights 1: plain accuracy.
    flat = ImportanceWeightedScorer(domain_classifier=DummyClassifier(strategy="prior"))
    assert flat(model, X, y) == pytest.approx(np.mean(prediction == y[source]))
    # With the default classifier, the weights favour source rows that look like target rows.
    score = ImportanceWeightedScorer()(model, X, y)
    assert 0.0 <= score <= 1.0


def test_deep_embedded_validation_is_the_control_variate_weighted_risk():
    """DEV written out: split, domain classifier in the adapted features, weighted log loss."""
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    X, y, domain, _ = shifted_classes(n=80, seed=2)
    model = make_da_pipeline(StandardScaler(), OTDomainAdapter(), LogisticRegression()).fit(X, y)
    score = DeepEmbeddedValidationScorer(random_state=3)(model, X, y)
    source = np.flatnonzero(domain >= 0)
    fit_rows, validation_rows = train_test_split(source, test_size=0.33, random_state=3)
    # Source rows scaled and adapted, target rows scaled.
    features = model[1].transform(model[0].transform(X), sample_domain=domain)
    classifier = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        np.vstack([features[fit_rows], features[domain < 0]]), np.r_[np.zeros(len(fit_rows)), np.ones(80)])
    p_target = classifier.predict_proba(features[validation_rows])[:, 1]
    weights = p_target / (1 - p_target) * len(fit_rows) / 80
    losses = -np.log(model[-1].predict_proba(features[validation_rows])[np.arange(len(validation_rows)),
                                                                       y[validation_rows]])
    eta = -np.cov(weights * losses, weights)[0, 1] / np.var(weights, ddof=1)
    assert score == pytest.approx(-(np.mean(weights * losses) + eta * np.mean(weights) - eta))
    # The control variate changes the plain weighted mean here (the test can tell them apart).
    assert abs(eta) > 1e-3
    with pytest.raises(ValueError, match="validation_size"):
        DeepEmbeddedValidationScorer(validation_size=1.5)


def test_circular_validation_scorer_scores_the_reverse_model():
    X, y, domain, _ = shifted_classes()
    model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    source = domain >= 0
    pseudo = model.predict(X[~source])
    y_reverse = np.full(len(y), -1)
    y_reverse[~source] = pseudo
    reverse = clone(model).fit(X, y_reverse)
    expected = np.mean(reverse.predict(X[source]) == y[source])
    assert CircularValidationScorer()(model, X, y) == pytest.approx(expected)
    with sklearn.config_context(enable_metadata_routing=True):
        assert CircularValidationScorer()(model, X, y, sample_domain=domain) == pytest.approx(expected)


@pytest.mark.parametrize("scorer", SCORERS, ids=lambda s: type(s).__name__)
def test_grid_search_with_masked_labels_only_and_with_sample_domain(scorer):
    X, y, domain, _ = shifted_classes()
    copies = [X.copy(), y.copy(), domain.copy()]
    grid = {"otdomainadapter__reg": [0.1, 1.0]}

    def search():
        return GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()), grid, scoring=scorer,
                            cv=SourceTargetShuffleSplit(n_splits=2, test_size=0.4, random_state=0))

    off = search().fit(X, y)
    assert np.all(np.isfinite(off.cv_results_["mean_test_score"]))
    with sklearn.config_context(enable_metadata_routing=True):
        on = search().fit(X, y, sample_domain=domain)
    np.testing.assert_allclose(on.cv_results_["mean_test_score"], off.cv_results_["mean_test_score"])
    assert on.best_params_ == off.best_params_
    for before, after in zip(copies, (X, y, domain)):
        np.testing.assert_array_equal(before, after)


def test_cross_validate_with_several_scorers():
    X, y, _, _ = shifted_classes()
    scoring = {type(s).__name__: s for s in SCORERS}
    results = cross_validate(make_da_pipeline(OTDomainAdapter(), LogisticRegression()), X, y, scoring=scoring,
                             cv=SourceTargetShuffleSplit(n_splits=2, random_state=0))
    assert all(np.all(np.isfinite(results[f"test_{name}"])) for name in scoring)


def test_circular_validation_selects_a_reg_near_the_best_target_accuracy(skada):
    """Acceptance: the reg chosen without target labels is within 0.05 of the grid's best."""
    from skada.datasets import make_shifted_datasets

    # Large reg collapses the mapped source towards the target mean: on conditional shift a
    # bad choice costs more than 0.05 (checked below, so that this test can fail).
    grid = [0.01, 0.1, 1.0, 10.0, 100.0]
    spreads = []
    for shift in ("covariate_shift", "conditional_shift"):
        for seed in range(3):
            X, y, domain = make_shifted_datasets(n_samples_source=30, n_samples_target=30, shift=shift,
                                                 noise=0.3, random_state=seed)
            target = domain < 0
            y_masked = np.where(target, -1, y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                accuracy = {reg: make_da_pipeline(OTDomainAdapter(reg=reg), LogisticRegression())
                            .fit(X, y_masked).score(X[target], y[target]) for reg in grid}
                search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                                      {"otdomainadapter__reg": grid}, scoring=CircularValidationScorer(),
                                      cv=SourceTargetShuffleSplit(n_splits=3, test_size=0.5, random_state=0))
                search.fit(X, y_masked)
            chosen = search.best_params_["otdomainadapter__reg"]
            assert accuracy[chosen] >= max(accuracy.values()) - 0.05, (shift, seed, chosen, accuracy)
            spreads.append(max(accuracy.values()) - min(accuracy.values()))
    assert max(spreads) > 0.08


def test_adapter_inside_skada_pipeline_with_skada_scorers(skada):
    from skada.datasets import make_shifted_datasets
    from skada.metrics import CircularValidation, ImportanceWeightedScorer as SkadaIW, PredictionEntropyScorer as SkadaPE
    from skada.model_selection import SourceTargetShuffleSplit as SkadaSplit

    X, y, domain = make_shifted_datasets(n_samples_source=20, n_samples_target=20, shift="covariate_shift",
                                         noise=0.3, random_state=0)
    y_masked = np.where(domain < 0, -1, y)
    copies = [X.copy(), y_masked.copy(), domain.copy()]
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = skada.make_da_pipeline(OTDomainAdapter(), LogisticRegression().set_score_request(sample_weight=True))
        pipe.fit(X, y_masked, sample_domain=domain)
        ours = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y_masked)
        np.testing.assert_array_equal(pipe.predict(X, sample_domain=domain), ours.predict(X, sample_domain=domain))
        for scorer in (SkadaPE(), SkadaIW(), CircularValidation()):
            search = GridSearchCV(pipe, {"otdomainadapter__reg": [0.1, 1.0]}, scoring=scorer,
                                  cv=SkadaSplit(n_splits=2, random_state=0), error_score="raise")
            search.fit(X, y_masked, sample_domain=domain)
            assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    for before, after in zip(copies, (X, y_masked, domain)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("scorer", SCORERS, ids=lambda s: type(s).__name__)
def test_scorers_request_sample_domain_for_routing(scorer):
    from sklearn.utils.metadata_routing import get_routing_for_object

    assert get_routing_for_object(scorer).score.requests == {"sample_domain": True}


def test_routing_on_default_score_and_unmasked_labels():
    """Routing on: the pipeline's own score runs (it is routed sample_weight), and labels left
    unmasked on the target rows give what masked ones give, sample_domain saying which is which."""
    X, y, domain, y_true = shifted_classes()
    pipe = make_da_pipeline(OTDomainAdapter(), LogisticRegression())
    cv = SourceTargetShuffleSplit(n_splits=2, random_state=0)
    off = cross_validate(pipe, X, y, cv=cv, error_score="raise")["test_score"]
    with sklearn.config_context(enable_metadata_routing=True):
        on_without_domains = cross_validate(pipe, X, y, cv=cv, error_score="raise")["test_score"]
        on = cross_validate(pipe, X, y, cv=cv, params={"sample_domain": domain}, error_score="raise")["test_score"]
        masked, unmasked = (cross_validate(pipe, X, labels, cv=cv, scoring=PredictionEntropyScorer(),
                                           params={"sample_domain": domain}, error_score="raise")["test_score"]
                            for labels in (y, y_true))
    np.testing.assert_allclose(on_without_domains, off)
    assert np.all(np.isfinite(on))
    np.testing.assert_allclose(unmasked, masked)


def test_single_domain_folds_say_which_splitter_to_use():
    X, y, domain, _ = shifted_classes()
    source = domain >= 0
    model = make_da_pipeline(OTDomainAdapter(), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="only target rows.*SourceTargetShuffleSplit"):
        PredictionEntropyScorer()(model, X[~source], y[~source])
    with pytest.raises(ValueError, match="only source rows.*SourceTargetShuffleSplit"):
        ImportanceWeightedScorer()(model, X[source], y[source])
    transport = skot.SinkhornTransport().fit(X, y)
    with pytest.raises(ValueError, match="SourceTargetShuffleSplit"):
        transport.score(X[~source], y[~source])


@pytest.mark.parametrize("name", ["SinkhornTransport", "GaussianBuresMap", "SemiDiscreteMap",
                                  "WassersteinBarycenter", "OTDomainAdapter"])
def test_target_points_passed_as_y_are_an_error_that_says_how_to_pack(name):
    estimator = getattr(skot, name)()
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"y has shape \(20, 2\).*skot.pack"):
        estimator.fit(source, target)
    with pytest.raises(ValueError, match=r"y has shape \(20,\)"):
        estimator.fit(source, target[:, 0])


def test_skot_scorers_inside_a_skada_pipeline(skada):
    """Routing on: skot's scorers receive sample_domain from GridSearchCV and score skada's pipeline."""
    from skada.datasets import make_shifted_datasets
    from skada.model_selection import SourceTargetShuffleSplit as SkadaSplit

    X, y, domain = make_shifted_datasets(n_samples_source=20, n_samples_target=20, shift="covariate_shift",
                                         noise=0.3, random_state=0)
    y_masked = np.where(domain < 0, -1, y)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = skada.make_da_pipeline(OTDomainAdapter(), LogisticRegression().set_score_request(sample_weight=True))
        for scorer in SCORERS:
            search = GridSearchCV(pipe, {"otdomainadapter__reg": [0.1, 1.0]}, scoring=scorer,
                                  cv=SkadaSplit(n_splits=2, random_state=0), error_score="raise")
            search.fit(X, y_masked, sample_domain=domain)
            assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_skada_scorers_on_a_skot_pipeline(skada):
    """The other way round: skada's scorers select reg for make_da_pipeline, routing on."""
    from skada.datasets import make_shifted_datasets
    from skada.metrics import CircularValidation, ImportanceWeightedScorer as SkadaIW, PredictionEntropyScorer as SkadaPE
    from skada.model_selection import SourceTargetShuffleSplit as SkadaSplit

    X, y, domain = make_shifted_datasets(n_samples_source=20, n_samples_target=20, shift="covariate_shift",
                                         noise=0.3, random_state=0)
    y_masked = np.where(domain < 0, -1, y)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_da_pipeline(OTDomainAdapter(), LogisticRegression())
        for scorer in (SkadaPE(), SkadaIW(), CircularValidation()):
            search = GridSearchCV(pipe, {"otdomainadapter__reg": [0.1, 1.0]}, scoring=scorer,
                                  cv=SkadaSplit(n_splits=2, random_state=0), error_score="raise")
            search.fit(X, y_masked, sample_domain=domain)
            assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
