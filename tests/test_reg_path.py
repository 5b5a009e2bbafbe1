"""The warm-started reg path (sinkhorn_path), its circular score, and OTDomainAdapterCV."""

import tracemalloc

import numpy as np
import pytest
import sklearn
from scipy.special import softmax
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from skot import OTDomainAdapter, OTDomainAdapterCV, make_da_pipeline, pack
from skot.backends import DenseGeometry, get_geometry, pairwise_cost
from skot.solvers import (circular_label_accuracy, circular_path_score, one_standard_error_choice,
                          reverse_validation_path_score, sinkhorn, sinkhorn_path)


def two_classes(n=40, seed=0, shift=(3.0, 1.0)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    source = rng.normal(size=(n, 2)) * 0.6 + np.c_[2.5 * labels, 0 * labels]
    target_labels = rng.integers(0, 2, n)
    target = rng.normal(size=(n, 2)) * 0.6 + np.c_[2.5 * target_labels, 0 * target_labels] + shift
    return source, target, labels, target_labels


def fold_masks(n, m, seed):
    rng = np.random.default_rng(seed)
    return rng.random(n) > 0.25, rng.random(m) > 0.25


def geometry_maker(source, target, backend="numba"):
    def make_geometry(source_rows, target_rows):
        return get_geometry(backend, source[source_rows], target[target_rows], "sqeuclidean")

    return make_geometry


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_each_fold_of_the_path_solves_the_problem_on_its_training_rows(backend):
    source, target, _, _ = two_classes(n=30)
    n, m = len(source), len(target)
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    folds = [fold_masks(n, m, seed) for seed in range(3)]
    mean_cost = float(a @ pairwise_cost(source, target, "sqeuclidean") @ b)
    eps_values = np.array([0.02, 1.0, 0.2]) * mean_cost
    path = sinkhorn_path(geometry_maker(source, target, backend), a, b, eps_values, folds=folds, tol=1e-10)
    np.testing.assert_allclose(path.eps, np.sort(eps_values)[::-1])
    assert len(path.fold_solutions) == 3 and all(len(row) == 3 for row in path.fold_solutions)
    cold_iterations = 0
    for eps, row in zip(path.eps, path.fold_solutions):
        for (rows, columns), solution in zip(folds, row):
            # The textbook problem on the training rows alone, from a cold start.
            sub = DenseGeometry(source[rows], target[columns], "sqeuclidean")
            weights = np.full(rows.sum(), 1 / rows.sum()), np.full(columns.sum(), 1 / columns.sum())
            alone = sinkhorn(sub, *weights, eps, tol=1e-12, anderson_memory=0)
            np.testing.assert_allclose(solution.plan(), alone.plan(), atol=1e-9)
            cold_iterations += sinkhorn(sub, *weights, eps, tol=1e-10).n_iter
    # Warm starts: the path takes fewer iterations than cold solves at each eps.
    assert path.n_iter < cold_iterations


def test_the_path_keeps_one_folds_kernel_at_a_time():
    """Five folds of 320 x 320 rows: at its peak the path holds about one fold's stored kernel
    (plus the smaller held-out geometries), and after it none, where keeping each fold's would
    take five; the solutions still give their plans."""
    source, target, labels, _ = two_classes(n=400, seed=0)
    n = m = 400
    folds = [fold_masks(n, m, seed) for seed in range(5)]
    make_geometry = geometry_maker(source, target)
    eps_values = np.array([0.05, 0.5]) * float(pairwise_cost(source, target, "sqeuclidean").mean())
    a = np.full(n, 1 / n)

    def run():
        return sinkhorn_path(make_geometry, a, a, eps_values, folds=folds,
                             score=circular_path_score(make_geometry, labels, folds), tol=1e-3)

    run()  # compiled beforehand
    tracemalloc.start()
    try:
        path = run()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kernel_bytes = 8 * max(rows.sum() * columns.sum() for rows, columns in folds)
    assert peak < 2 * kernel_bytes and kept < 0.5 * kernel_bytes
    solution, (rows, columns) = path.fold_solutions[0][0], folds[0]
    np.testing.assert_allclose(solution.plan().sum(axis=0), np.full(columns.sum(), 1 / columns.sum()), atol=1e-3)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_circular_label_accuracy_is_the_round_trip_of_the_labels_through_the_plan(backend):
    source, target, labels, _ = two_classes(n=24, seed=1)
    # Noisy labels, so that the round trip gets some wrong.
    labels = np.where(np.random.default_rng(3).random(len(labels)) < 0.2, 1 - labels, labels)
    n, m = len(source), len(target)
    rows, columns = fold_masks(n, m, 4)
    cost = pairwise_cost(source[rows], target[columns], "sqeuclidean")
    a, b = np.full(rows.sum(), 1 / rows.sum()), np.full(columns.sum(), 1 / columns.sum())
    eps = 0.3 * float(a @ cost @ b)
    solution = sinkhorn(get_geometry(backend, source[rows], target[columns], "sqeuclidean"), a, b, eps, tol=1e-12)
    # Dense textbook: q = P^T Y / P^T 1, then p(c | x) = sum_j pi(j | x) q_j(c).
    plan = solution.plan()
    q = plan.T @ np.eye(2)[labels[rows]] / plan.sum(axis=0)[:, None]
    held_out_cost = pairwise_cost(source[~rows], target[columns], "sqeuclidean")
    conditional = softmax((solution.potential_target + eps * np.log(b) - held_out_cost) / eps, axis=1)
    expected = np.mean(np.argmax(conditional @ q, axis=1) == labels[~rows])
    make_geometry = geometry_maker(source, target, backend)
    score = circular_label_accuracy(make_geometry, solution, labels, rows, columns)
    assert score == pytest.approx(expected)
    assert 0 < score < 1  # the case tells right from wrong
    # The path scores each solution right after its solve: the same function of each of them
    # (recomputed here after the path, each fold's geometry rebuilding the kernel of that eps).
    folds = [(rows, columns), (~rows, columns)]
    path = sinkhorn_path(make_geometry, np.full(n, 1 / n), np.full(m, 1 / m), [eps, 3 * eps], folds=folds,
                         score=circular_path_score(make_geometry, labels, folds), tol=1e-12)
    expected_scores = [[circular_label_accuracy(make_geometry, solution, labels, *masks)
                        for solution, masks in zip(row, path.fold_masks)] for row in path.fold_solutions]
    np.testing.assert_allclose(path.scores, expected_scores)
    assert path.scores[1, 0] == pytest.approx(expected)


def textbook_reverse_validation(estimator, solution, source, target, labels, rows, columns, direction):
    """Reverse validation through the dense plan, written out with fresh clones."""
    plan, eps = solution.plan(), solution.eps
    to_target = plan @ target[columns] / plan.sum(axis=1)[:, None]
    to_source = plan.T @ source[rows] / plan.sum(axis=0)[:, None]
    if direction == "source_to_target":
        pseudo = clone(estimator).fit(to_target, labels[rows]).predict(target[columns])
        return np.mean(clone(estimator).fit(to_source, pseudo).predict(source[~rows]) == labels[~rows])
    pseudo = clone(estimator).fit(source[rows], labels[rows]).predict(to_source)
    # The held-out rows by the entropic map: pi(y_j | x) ~ b_j exp((g_j - C(x, y_j)) / eps).
    held_out_cost = pairwise_cost(source[~rows], target[columns], "sqeuclidean")
    conditional = softmax((solution.log_potentials[1] - held_out_cost) / eps, axis=1)
    prediction = clone(estimator).fit(target[columns], pseudo).predict(conditional @ target[columns])
    return np.mean(prediction == labels[~rows])


@pytest.mark.parametrize("direction", ["source_to_target", "target_to_source"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_reverse_validation_score_fits_the_classifier_on_the_plans_images(backend, direction):
    source, target, labels, _ = two_classes(n=50, seed=3, shift=(1.5, 0.5))
    labels = np.where(np.random.default_rng(5).random(len(labels)) < 0.2, 1 - labels, labels)
    n, m = len(source), len(target)
    rows, columns = fold_masks(n, m, 6)
    make_geometry = geometry_maker(source, target, backend)
    eps_values = np.array([0.05, 0.5, 2.0]) * float(pairwise_cost(source, target, "sqeuclidean").mean())
    folds = [(rows, columns)]
    for estimator in (KNeighborsClassifier(3), LogisticRegression()):
        # The path's scores come from one copy each way, refitted along the path (warm-started
        # where the classifier can be): the same as fresh fits on each solution's images.
        score = reverse_validation_path_score(estimator, make_geometry, source, target, labels, folds,
                                              direction=direction)
        path = sinkhorn_path(make_geometry, np.full(n, 1 / n), np.full(m, 1 / m), eps_values, folds=folds,
                             score=score, tol=1e-12)
        expected = [textbook_reverse_validation(estimator, row[0], source, target, labels, rows, columns, direction)
                    for row in path.fold_solutions]
        np.testing.assert_allclose(path.scores[:, 0], expected)
        assert len(set(expected)) > 1 and 0 < min(expected) < 1  # the case tells the regs and right from wrong


def test_one_standard_error_rule_picks_the_smoothest_reg_that_scores_as_well():
    scores = np.array([[0.5, 0.6, 0.55], [0.9, 0.8, 0.85], [0.92, 0.85, 0.83], [0.95, 0.95, 0.94]])
    # The best mean is the last row (0.947, standard error 0.0027): nothing else is within it.
    assert one_standard_error_choice(scores) == 3
    scores[3] = [0.99, 0.8, 0.87]  # mean 0.887, standard error 0.045: row 1 (0.85) is within it
    assert one_standard_error_choice(scores) == 1


def shifted_problem(seed=0):
    source, target, labels, target_labels = two_classes(n=60, seed=seed)
    X, y, domain = pack(source, target, labels)
    return X, y, domain, np.r_[labels, target_labels]


def test_adapter_cv_refits_the_adapter_at_the_chosen_reg():
    X, y, domain, _ = shifted_problem()
    X_before = X.copy()
    model = OTDomainAdapterCV(regs=[0.03, 0.3, 3.0], cv=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_allclose(model.regs_, [3.0, 0.3, 0.03])
    assert model.cv_scores_.shape == (3, 4) and model.reg_ in model.regs_
    assert model.path_n_iter_ > 0
    reference = OTDomainAdapter(reg=model.reg_).fit(X, y)
    np.testing.assert_allclose(model.fit_transform(X, y), reference.fit_transform(X, y), atol=1e-8)
    np.testing.assert_allclose(model.transform(X[domain < 0]), X[domain < 0])  # target rows: identity
    np.testing.assert_allclose(model.transform_labels(X[domain < 0]), reference.transform_labels(X[domain < 0]),
                               atol=1e-8)
    # Well-separated classes: the sharp plans carry the labels back, the blurring reg 3 does not.
    assert model.cv_scores_[0].mean() < model.cv_scores_[2].mean()
    assert model.reg_ < 3.0


def test_adapter_cv_routing_on_and_off_and_splitters_choose_alike():
    X, y, domain, y_true = shifted_problem(seed=1)
    off = OTDomainAdapterCV(regs=4, cv=3, random_state=0).fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        y_unmasked = np.where(domain >= 0, y, 1)  # target labels present, never read
        on = OTDomainAdapterCV(regs=4, cv=3, random_state=0).fit(X, y_unmasked, sample_domain=domain)
        pipeline = make_da_pipeline(OTDomainAdapterCV(regs=4, cv=3, random_state=0), LogisticRegression())
        pipeline.fit(X, y_unmasked, sample_domain=domain)
    np.testing.assert_array_equal(on.cv_scores_, off.cv_scores_)
    assert on.reg_ == off.reg_ == pipeline[0].reg_
    # Routing off, inside a plain pipeline (masked labels), and a splitter without sample_domain.
    model = make_da_pipeline(OTDomainAdapterCV(regs=4, cv=3, random_state=0), LogisticRegression()).fit(X, y)
    assert model.score(X[domain < 0], y_true[domain < 0]) > 0.8
    shuffled = KFold(3, shuffle=True, random_state=0)
    assert OTDomainAdapterCV(regs=4, cv=shuffled).fit(X, y).cv_scores_.shape == (4, 3)


@pytest.mark.parametrize("direction", ["source_to_target", "target_to_source"])
def test_adapter_cv_with_a_classifier_scores_each_fold_by_its_reverse_validation(direction):
    X, y, domain, y_true = shifted_problem(seed=2)
    X_before = X.copy()
    model = OTDomainAdapterCV(regs=3, estimator=KNeighborsClassifier(3), cv=3, direction=direction,
                              random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    # The same folds and grid by hand: the rows of each side in the order of X.
    source, target, labels = X[domain >= 0], X[domain < 0], y[domain >= 0]
    folds = []
    for train, _ in StratifiedKFold(3, shuffle=True, random_state=0).split(X, domain):
        training = np.isin(np.arange(len(X)), train)
        folds.append((training[domain >= 0], training[domain < 0]))
    n, m = len(source), len(target)
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    mean_cost = float(a @ pairwise_cost(source, target, "sqeuclidean") @ b)
    make_geometry = geometry_maker(source, target)
    score = reverse_validation_path_score(KNeighborsClassifier(3), make_geometry, source, target, labels, folds,
                                          direction=direction)
    path = sinkhorn_path(make_geometry, a, b, model.regs_ * mean_cost, folds=folds, score=score, tol=1e-2)
    np.testing.assert_allclose(model.cv_scores_, path.scores)
    assert model.reg_ == model.regs_[one_standard_error_choice(path.scores)]
    # Routing on: the same scores from sample_domain, target labels present but never read.
    with sklearn.config_context(enable_metadata_routing=True):
        on = OTDomainAdapterCV(regs=3, estimator=KNeighborsClassifier(3), cv=3, direction=direction,
                               random_state=0).fit(X, np.where(domain >= 0, y, 1 - y_true), sample_domain=domain)
    np.testing.assert_array_equal(on.cv_scores_, model.cv_scores_)


@pytest.mark.parametrize("direction", ["source_to_target", "target_to_source"])
def test_adapter_cv_with_a_classifier_refits_when_the_predicted_classes_change_along_the_path(direction):
    # Three classes; at reg 30 the blurred plan predicts fewer of them than at the sharp regs, so
    # the classifier refitted along the path meets new class sets (its warm start must not carry
    # coefficients of another shape).
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    labels, target_labels = rng.integers(0, 3, 90), rng.integers(0, 3, 90)
    source = centres[labels] + 0.5 * rng.normal(size=(90, 2))
    target = centres[target_labels] + 0.5 * rng.normal(size=(90, 2)) + [2.0, 1.0]
    X, y, _ = pack(source, target, labels)
    model = OTDomainAdapterCV(regs=[0.02, 0.3, 3.0, 30.0], estimator=LogisticRegression(), cv=3,
                              direction=direction, random_state=0).fit(X, y)
    assert model.cv_scores_[0].mean() < model.cv_scores_[2].mean()  # reg 30 blurs the classes
    assert model.reg_ < 30.0


def test_adapter_cv_bad_input_says_what_is_wrong():
    X, y, domain, _ = shifted_problem()
    with pytest.raises(ValueError, match="class labels"):
        OTDomainAdapterCV(regs=3, cv=2).fit(X, sample_domain=domain)
    with pytest.raises(ValueError, match="regs must be positive"):
        OTDomainAdapterCV(regs=[0.1, -1.0]).fit(X, y)
    with pytest.raises(ValueError, match="'estimator' parameter"):
        OTDomainAdapterCV(estimator="logistic").fit(X, y)
    with pytest.warns(UserWarning, match="no target rows"):
        identity = OTDomainAdapterCV(regs=3).fit(X[domain >= 0], y[domain >= 0])
    assert identity.reg_ is None and identity.cv_scores_ is None
    np.testing.assert_array_equal(identity.transform(X[:5]), X[:5])
