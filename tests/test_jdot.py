"""JDOT: the alternation against a textbook one (assignment plans, classifiers refitted from
scratch), what it buys on a shifted problem, entropic plans, pipelines with routing on and off."""

import numpy as np
import pytest
import sklearn
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.linear_model import LinearRegression, LogisticRegression

from skot import JDOTClassifier, JDOTRegressor, make_da_pipeline, pack
from skot.solvers import jdot_classification, jdot_regression
from skot.solvers._refits import WarmRefits


def shifted(seed=0, n=60, shift=(2.5, 1.0)):
    """Two classes of 2-D points, and the same law shifted: the target domain."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    source = rng.normal(size=(n, 2)) * 0.6 + np.where(labels[:, None] == 1, [1.5, 0.0], [-1.5, 0.0])
    target_labels = rng.integers(0, 2, n)
    target = (rng.normal(size=(n, 2)) * 0.6 + np.where(target_labels[:, None] == 1, [1.5, 0.0], [-1.5, 0.0])
              + np.asarray(shift))
    return source, labels, target, target_labels


def textbook_jdot(source, labels, target, alpha, max_iter, tol):
    """JDOT for equal numbers of uniform rows: each plan an optimal assignment, each classifier
    fitted from scratch on the target rows with the labels assigned to them."""
    features = cdist(source, target, "sqeuclidean")
    features /= features.mean()
    cost, previous, objective, classifier = (1 - alpha) * features, None, None, None
    for _ in range(max_iter):
        rows, columns = linear_sum_assignment(cost)
        assignment = rows[np.argsort(columns)]  # source row of each target row
        value = cost[rows, columns].sum() / len(rows)
        if previous is not None and np.array_equal(assignment, previous):
            break
        classifier = LogisticRegression(tol=1e-10, max_iter=10000).fit(target, labels[assignment])
        log_proba = classifier.predict_log_proba(target)
        cost = (1 - alpha) * features + alpha * -log_proba[:, np.searchsorted(classifier.classes_, labels)].T
        change = None if objective is None else abs(value - objective)
        objective, previous = value, assignment
        if change is not None and change <= tol:
            break
    return classifier, assignment


def test_jdot_equals_the_textbook_alternation():
    source, labels, target, _ = shifted()
    result = jdot_classification(LogisticRegression(tol=1e-10, max_iter=10000), source, labels, target, alpha=0.5,
                                 tol=1e-9)
    reference, assignment = textbook_jdot(source, labels, target, alpha=0.5, max_iter=100, tol=1e-9)
    assert result.converged
    plan = result.plan.toarray()
    np.testing.assert_allclose(plan, np.eye(len(target))[assignment].T / len(target), atol=1e-15)
    np.testing.assert_array_equal(result.estimator.predict(target), reference.predict(target))
    np.testing.assert_allclose(result.estimator.predict_proba(target), reference.predict_proba(target), atol=1e-6)


def test_jdot_learns_the_target_domain_where_the_source_classifier_fails():
    source, labels, target, target_labels = shifted(seed=1)
    X, y, _ = pack(source, target, labels)
    model = JDOTClassifier().fit(X, y)
    source_only = LogisticRegression().fit(source, labels)
    assert (source_only.predict(target) == target_labels).mean() < 0.75
    assert (model.predict(target) == target_labels).mean() > 0.9
    assert model.n_iter_ >= 2 and list(model.classes_) == [0, 1]


def test_entropic_plans_keep_their_marginals_and_reach_the_same_classifier():
    source, labels, target, target_labels = shifted(seed=2)
    b = np.linspace(1.0, 2.0, len(target))
    exact = jdot_classification(LogisticRegression(), source, labels, target, b=b)
    entropic = jdot_classification(LogisticRegression(), source, labels, target, b=b, eps=0.01)
    assert entropic.converged
    np.testing.assert_allclose(entropic.plan.sum(axis=1), np.full(len(source), 1 / len(source)), atol=1e-9)
    np.testing.assert_allclose(entropic.plan.sum(axis=0), b / b.sum(), atol=1e-8)
    assert (entropic.estimator.predict(target) == exact.estimator.predict(target)).mean() > 0.95


def test_without_target_rows_jdot_is_the_source_classifier():
    source, labels, _, _ = shifted(seed=3)
    model = JDOTClassifier().fit(source, labels)
    reference = LogisticRegression().fit(source, labels)
    np.testing.assert_allclose(model.predict_proba(source), reference.predict_proba(source), rtol=1e-10)
    assert model.n_iter_ == 1 and model.objective_ is None


def test_bad_input_is_a_clear_error():
    source, labels, target, _ = shifted(seed=4)
    X, y, domain = pack(source, target, labels)
    with pytest.raises(ValueError, match="requires y to be passed"):
        JDOTClassifier().fit(X, sample_domain=domain)
    with pytest.raises(ValueError, match="No source rows"):
        JDOTClassifier().fit(X, y, sample_domain=-np.ones(len(X), dtype=int))
    with pytest.raises(ValueError, match="alpha"):
        JDOTClassifier(alpha=1.5).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        JDOTClassifier().fit(X, np.r_[np.linspace(0, 1, len(source)), np.full(len(target), np.nan)])


@pytest.mark.parametrize("routing", [False, True])
def test_a_pipeline_ends_with_jdot_as_it_is(routing):
    """make_da_pipeline does not wrap JDOT in SourceOnlyEstimator: it needs the target rows."""
    source, labels, target, target_labels = shifted(seed=5)
    X, y, domain = pack(source, target, labels)
    pipeline = make_da_pipeline(JDOTClassifier())
    assert isinstance(pipeline.steps[-1][1], JDOTClassifier)
    with sklearn.config_context(enable_metadata_routing=routing):
        fitted = pipeline.fit(X, y, sample_domain=domain) if routing else pipeline.fit(X, y)
        accuracy = (fitted.predict(target) == target_labels).mean()
    assert accuracy > 0.9


def test_jdot_regression_equals_the_textbook_alternation_and_learns_the_shift():
    """Assignment plans: each target row takes the value of its source row; the regressor
    refitted on them. A shifted sine: the source-only fit misses the target, JDOT follows it."""
    rng = np.random.default_rng(6)
    source = rng.uniform(-1, 1, size=(80, 1))
    values = np.sin(2 * source[:, 0])
    target = rng.uniform(-1, 1, size=(80, 1)) + 1.5
    target_values = np.sin(2 * (target[:, 0] - 1.5))
    result = jdot_regression(LinearRegression(), source, values, target, alpha=0.5, tol=1e-12)
    features = cdist(source, target, "sqeuclidean")
    features /= features.mean()
    cost, previous = 0.5 * features, None
    for _ in range(100):
        rows, columns = linear_sum_assignment(cost)
        assignment = rows[np.argsort(columns)]
        if previous is not None and np.array_equal(assignment, previous):
            break
        reference = LinearRegression().fit(target, values[assignment])
        cost = 0.5 * features + 0.5 * (values[:, None] - reference.predict(target)[None, :]) ** 2
        previous = assignment
    assert result.converged
    np.testing.assert_allclose(result.plan.toarray(), np.eye(80)[assignment].T / 80, atol=1e-15)
    np.testing.assert_allclose(result.estimator.predict(target), reference.predict(target), rtol=1e-9, atol=1e-12)
    X, y, domain = pack(source, target, values)
    model = JDOTRegressor().fit(X, y)  # NaN marks the target rows
    error = np.mean((model.predict(target) - target_values) ** 2)
    source_only = np.mean((LinearRegression().fit(source, values).predict(target) - target_values) ** 2)
    assert error < 0.5 * source_only


def test_warm_refits_start_from_the_last_fit_unless_the_classes_changed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    three, two = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0), (X[:, 0] > 0).astype(int)
    refits = WarmRefits(LogisticRegression())
    first = refits.fit(X, three)
    assert first.get_params()["warm_start"] and first.classes_.tolist() == [0, 1, 2]
    # Other classes: the three-class coefficients cannot start this fit (scikit-learn would
    # raise); a fresh clone fits it, as a cold fit does.
    second = refits.fit(X, two)
    assert second is not first
    np.testing.assert_allclose(second.coef_, LogisticRegression().fit(X, two).coef_, rtol=1e-3)
    # The same classes: the same estimator, refitted from its coefficients to the cold solution.
    third = refits.fit(X + 0.01, two)
    assert third is second
    np.testing.assert_allclose(third.coef_, LogisticRegression().fit(X + 0.01, two).coef_, rtol=1e-3)
