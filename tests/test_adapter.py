"""OTDomainAdapter: each method's map, directions, class-regularised OT, label propagation."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy import sparse
from scipy.optimize import linear_sum_assignment, minimize
from scipy.special import rel_entr
from sklearn.exceptions import ConvergenceWarning

from sklearn.linear_model import LogisticRegression

from skot import (GaussianBuresMap, OTDomainAdapter, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter,
                  make_da_pipeline, pack)
from skot.backends import DenseGeometry, pairwise_cost
from skot.solvers import class_regularized_transport, sinkhorn, target_class_proportions
from skot.backends import DenseGeometry

from .reference import lp_transport_cost

METHODS = ["sinkhorn", "exact", "gaussian", "semidiscrete", "barycenter"]


def shifted(n=40, m=36, seed=0):
    """Two labelled classes; the target is the source rotated, stretched and moved."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    source = rng.normal(size=(n, 2)) * 0.5 + np.c_[3.0 * labels, np.zeros(n)]
    target_labels = np.arange(m) % 2
    target = (rng.normal(size=(m, 2)) * 0.5 + np.c_[3.0 * target_labels, np.zeros(m)]) @ [[0.9, 0.3], [-0.3, 1.1]] + [1.0, 2.0]
    X, y, domain = pack(source, target, labels)
    return X, y, domain, target_labels


@pytest.mark.parametrize("method", METHODS)
def test_source_to_target_maps_source_rows_and_leaves_target_rows(method):
    X, y, domain, _ = shifted()
    source, target = domain >= 0, domain < 0
    adapter = OTDomainAdapter(method, random_state=0)
    out = adapter.fit_transform(X, y)
    # The same rows with sample_domain (routing on) as with masked labels (routing off).
    np.testing.assert_allclose(adapter.transform(X, sample_domain=domain), out, atol=1e-12)
    if method == "barycenter":
        # Every domain goes onto the barycenter; target rows at predict time by the target's map.
        np.testing.assert_allclose(adapter.transform(X[target]), out[target], atol=1e-12)
        assert np.linalg.norm(out[source].mean(0) - out[target].mean(0)) < 0.1
        return
    np.testing.assert_array_equal(out[target], X[target])
    np.testing.assert_array_equal(adapter.transform(X[target]), X[target])
    # Mapped source rows have the target's mean (exactly for the plan-based and Gaussian maps).
    assert np.linalg.norm(out[source].mean(0) - X[target].mean(0)) < 0.05


@pytest.mark.parametrize("method", ["sinkhorn", "exact", "gaussian", "semidiscrete"])
def test_target_to_source_maps_target_rows_at_predict_time(method):
    X, y, domain, _ = shifted()
    source, target = domain >= 0, domain < 0
    adapter = OTDomainAdapter(method, direction="target_to_source", random_state=0)
    out = adapter.fit_transform(X, y)
    np.testing.assert_array_equal(out[source], X[source])
    np.testing.assert_allclose(adapter.transform(X[target]), out[target], atol=1e-12)
    assert np.linalg.norm(out[target].mean(0) - X[source].mean(0)) < 0.05


def test_each_method_is_the_estimator_it_names():
    X, y, domain, _ = shifted()
    source = domain >= 0
    cases = [
        (OTDomainAdapter(reg=0.1), SinkhornTransport(reg=0.1)),
        (OTDomainAdapter("gaussian"), GaussianBuresMap()),
        (OTDomainAdapter("semidiscrete"), SemiDiscreteMap()),
    ]
    for adapter, estimator in cases:
        expected = estimator.fit(X, sample_domain=domain).transform(X[source])
        np.testing.assert_allclose(adapter.fit_transform(X, y)[source], expected, rtol=1e-12, atol=1e-12)
    barycenter = WassersteinBarycenter(map_reg=0.05, random_state=3).fit(X, sample_domain=domain)
    adapter = OTDomainAdapter("barycenter", reg=0.05, random_state=3).fit(X, y)
    np.testing.assert_allclose(adapter.transform(X, sample_domain=domain),
                               barycenter.transform(X, sample_domain=domain), atol=1e-12)


def test_target_to_source_is_the_inverse_problem():
    X, y, domain, _ = shifted()
    target = domain < 0
    adapter = OTDomainAdapter(reg=0.1, direction="target_to_source").fit(X, sample_domain=domain)
    reverse = SinkhornTransport(reg=0.1).fit(X, sample_domain=-domain - 1)
    np.testing.assert_allclose(adapter.transform(X[target]), reverse.transform(X[target]), atol=1e-12)


def test_exact_method_is_the_optimal_assignment_and_extends_by_displacement():
    rng = np.random.default_rng(1)
    source, target = rng.normal(size=(25, 2)), rng.normal(size=(25, 2)) + 2.0
    X, y, domain = pack(source, target)
    adapter = OTDomainAdapter("exact").fit(X, sample_domain=domain)
    rows, cols = linear_sum_assignment(pairwise_cost(source, target, "sqeuclidean"))
    np.testing.assert_allclose(adapter.transform(source, sample_domain=np.zeros(25, int)), target[cols[np.argsort(rows)]],
                               atol=1e-12)
    # A new point moves as its nearest source point does.
    new = source[:3] + 1e-3
    moved = adapter.transform(new, sample_domain=np.zeros(3, int))
    np.testing.assert_allclose(moved - new, target[cols[:3]] - source[:3], atol=1e-12)


def test_exact_method_on_unequal_sizes_matches_the_linear_program():
    X, y, domain, _ = shifted(n=12, m=9)
    adapter = OTDomainAdapter("exact").fit(X, y)
    plan = adapter.plan_
    a, b = np.full(12, 1 / 12), np.full(9, 1 / 9)
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-9)
    cost = pairwise_cost(X[domain >= 0], X[domain < 0], "sqeuclidean")
    optimum = lp_transport_cost(cost, a, b)
    assert abs(np.sum(plan * cost) - optimum) < 1e-9 * optimum
    # The plan is sparse (a basis: at most n + m - 1 nonzeros); dense on request.
    assert sparse.issparse(adapter.transport_plan()) and plan.nnz <= 12 + 9 - 1
    np.testing.assert_array_equal(adapter.transport_plan(dense=True), plan.toarray())
    with pytest.raises(ValueError, match="map, not a plan"):
        OTDomainAdapter("gaussian").fit(X, y).transport_plan()


def dense_objective(plan, cost, a, b, eps, eta, penalty, labels, target):
    """The class-regularised objective written out directly, for an independent check."""
    if penalty == "group_lasso":
        omega = sum(np.sqrt(b * plan[labels == c].sum(0)).sum() for c in np.unique(labels))
    elif penalty == "l1l2":
        omega = sum(np.linalg.norm(plan[labels == c], axis=0).sum() for c in np.unique(labels))
    elif penalty == "target_laplacian":
        images = plan.T @ SOURCE_POINTS / b[:, None]
        squared = pairwise_cost(target, target, "sqeuclidean")
        similarity = np.exp(-squared / (2 * np.median(squared[~np.eye(len(b), dtype=bool)])))
        np.fill_diagonal(similarity, 0.0)
        similarity /= similarity.sum()
        omega = sum(similarity[j, k] * np.sum((images[j] - images[k]) ** 2)
                    for j in range(len(b)) for k in range(len(b)))
    else:
        images = plan @ target / a[:, None]
        omega = 0.0
        similarity = np.zeros((len(a), len(a)))
        for i in range(len(a)):
            for k in range(len(a)):
                if i != k and labels[i] == labels[k]:
                    similarity[i, k] = 1.0
        squared = pairwise_cost(SOURCE_POINTS, SOURCE_POINTS, "sqeuclidean")
        bandwidth = np.median(squared[similarity > 0])
        similarity *= np.exp(-squared / (2 * bandwidth))
        similarity /= similarity.sum()
        omega = sum(similarity[i, k] * np.sum((images[i] - images[k]) ** 2)
                    for i in range(len(a)) for k in range(len(a)))
    return np.sum(cost * plan) + eta * omega + eps * rel_entr(plan, np.outer(a, b)).sum()


SOURCE_POINTS = np.random.default_rng(5).normal(size=(6, 2))


@pytest.mark.parametrize("penalty", ["group_lasso", "l1l2", "laplacian", "target_laplacian"])
def test_class_regularised_plan_is_the_minimiser(penalty):
    """GCG against SLSQP on the objective written out independently (6 x 5 problem)."""
    rng = np.random.default_rng(5)
    source = SOURCE_POINTS
    target = rng.normal(size=(5, 2)) + 1.0
    labels = np.array([0, 0, 0, 1, 1, 1])
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    cost = pairwise_cost(source, target, "sqeuclidean")
    eps, eta = 0.1, 1.0
    result = class_regularized_transport(cost, a, b, labels, eps, eta, penalty, source=source, target=target,
                                         tol=1e-9, max_iter=500)
    np.testing.assert_allclose(result.plan.sum(1), a, atol=1e-8)
    np.testing.assert_allclose(result.plan.sum(0), b, atol=1e-8)
    objective = dense_objective(result.plan, cost, a, b, eps, eta, penalty, labels, target)
    assert abs(objective - result.objective) < 1e-10
    constraints = [{"type": "eq", "fun": lambda p: p.reshape(6, 5).sum(1) - a},
                   {"type": "eq", "fun": lambda p: p.reshape(6, 5).sum(0)[:-1] - b[:-1]}]
    # The Laplacian and l1l2 problems are convex: SLSQP from the independent point a b^T finds the same
    # minimum. The group lasso is concave: SLSQP started at our plan finds no better point nearby.
    start = result.plan if penalty == "group_lasso" else np.outer(a, b)
    reference = minimize(lambda p: dense_objective(p.reshape(6, 5), cost, a, b, eps, eta, penalty, labels, target),
                         start.ravel(), method="SLSQP", bounds=[(1e-12, 1)] * 30,
                         constraints=constraints, options={"ftol": 1e-14, "maxiter": 1000})
    assert result.objective <= reference.fun + 1e-7
    if penalty != "group_lasso":
        assert reference.fun <= result.objective + 1e-6
    # The penalty changed the answer: the plain entropic plan is worse for this objective.
    geometry = DenseGeometry.from_cost_matrix(cost)
    plain = sinkhorn(geometry, a, b, eps, tol=1e-12)
    plain_plan = geometry.plan(plain.potential_source + eps * np.log(a), plain.potential_target + eps * np.log(b), eps)
    assert dense_objective(plain_plan, cost, a, b, eps, eta, penalty, labels, target) > result.objective + 1e-4


def test_l1l2_penalty_reaches_pots_objective():
    """POT's sinkhorn_l1l2_gl solves the same problem (its entropy sum P log P differs from
    KL(P | a b^T) by a constant on the couplings): the same plan, and ours is no worse."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(11)
    source, target = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) + [1.0, 0.0]
    labels = (source[:, 0] > 0).astype(int)
    a, b = np.full(30, 1 / 30), np.full(25, 1 / 25)
    cost = pairwise_cost(source, target, "sqeuclidean")
    eps, eta = 0.2, 0.5
    ours = class_regularized_transport(cost, a, b, labels, eps, eta, "l1l2", tol=1e-10, max_iter=2000)
    theirs = ot.da.sinkhorn_l1l2_gl(a, labels, b, cost, eps, eta, numItermax=2000, numInnerItermax=5000,
                                    stopInnerThr=1e-12)
    # POT's objective, with its entropy sum P log P, is ours shifted by a constant.
    constant = eps * (a @ np.log(a) + b @ np.log(b))
    their_objective = (np.sum(cost * theirs) + eps * np.sum(theirs * np.log(theirs))
                       + eta * sum(np.linalg.norm(theirs[labels == c], axis=0).sum() for c in (0, 1))) - constant
    assert their_objective == pytest.approx(dense_objective(theirs, cost, a, b, eps, eta, "l1l2", labels, target))
    # POT's conditional gradient stops on small objective changes: it ends a little above the
    # minimum that ours certifies by its gap.
    assert ours.objective <= their_objective + 1e-9
    assert their_objective - ours.objective < 1e-3 * ours.objective
    np.testing.assert_allclose(ours.plan, theirs, atol=1e-3)
    # The adapter's l1l2 is this penalty, reg_class in units of the mean cost.
    X, y, _ = pack(source, target, labels)
    adapter = OTDomainAdapter(reg=eps / np.mean(cost), reg_class=eta / np.mean(cost), class_penalty="l1l2",
                              solver_params={"tol": 1e-10, "max_iter": 2000}).fit(X, y)
    np.testing.assert_allclose(adapter.plan_, ours.plan, atol=1e-8)


def test_group_lasso_majorisation_lowers_the_objective_and_returns_accurate_marginals():
    """Each majorisation step lowers the objective; a plan returned before convergence (its
    subproblems solved loosely on the way) has the marginals of sinkhorn_tol all the same."""
    rng = np.random.default_rng(7)
    source, target = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + [1.0, 0.5]
    labels = (source[:, 0] > 0).astype(int)
    a, b = np.full(40, 1 / 40), np.full(30, 1 / 30)
    cost = pairwise_cost(source, target, "sqeuclidean")
    objectives = []
    for steps in range(1, 6):
        result = class_regularized_transport(cost, a, b, labels, 0.05, 2.0, "group_lasso", max_iter=steps, tol=0.0)
        assert result.converged == (steps > 2)  # the third step stops moving: a gap of 0
        np.testing.assert_allclose(result.plan.sum(1), a, atol=1e-9)
        np.testing.assert_allclose(result.plan.sum(0), b, atol=1e-9)
        objectives.append(result.objective)
    assert np.all(np.diff(objectives) <= 1e-12), objectives
    assert objectives[-1] < objectives[0] - 1e-4


def test_exact_class_regularised_transport_uses_linear_programs():
    rng = np.random.default_rng(2)
    source, target = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    labels = np.arange(8) % 2
    a = np.full(8, 1 / 8)
    cost = pairwise_cost(source, target, "sqeuclidean")
    result = class_regularized_transport(cost, a, a, labels, 0.0, 1.0, "group_lasso", tol=1e-8, max_iter=200)
    np.testing.assert_allclose(result.plan.sum(0), a, atol=1e-9)
    exact_cost = np.sum(cost * result.plan)
    rows, cols = linear_sum_assignment(cost)
    assert exact_cost >= cost[rows, cols].sum() / 8 - 1e-12
    assert result.gap <= 1e-8 * result.objective or not result.converged


def test_group_lasso_makes_target_points_receive_one_class():
    X, y, domain, _ = shifted(n=30, m=30, seed=3)

    def purity(adapter):
        plan = adapter.fit(X, y).plan_
        labels = y[domain >= 0]
        per_class = np.stack([plan[labels == c].sum(0) for c in (0, 1)])
        return np.sum(per_class.max(0)) / plan.sum()

    plain = purity(OTDomainAdapter(reg=0.3, reg_class=0.0))
    regularised = purity(OTDomainAdapter(reg=0.3, reg_class=1.0))
    assert plain < 0.9
    assert regularised > 0.999


def test_label_propagation_equals_the_plan_columns():
    X, y, domain, target_labels = shifted()
    source, target = domain >= 0, domain < 0
    adapter = OTDomainAdapter(reg=0.1).fit(X, y)
    plan = SinkhornTransport(reg=0.1).fit(X, sample_domain=domain).transport_plan()
    one_hot = np.eye(2)[y[source]]
    expected = plan.T @ one_hot / plan.sum(0)[:, None]
    proportions = adapter.transform_labels(X[target])
    np.testing.assert_allclose(proportions, expected, rtol=1e-8)
    np.testing.assert_array_equal(adapter.classes_, [0, 1])
    # The well-separated classes are recovered on the target.
    assert np.mean(adapter.classes_[proportions.argmax(1)] == target_labels) > 0.95
    # Reverse direction: the same conditional, computed from the other potential.
    reverse = OTDomainAdapter(reg=0.1, direction="target_to_source").fit(X, y)
    np.testing.assert_allclose(reverse.transform_labels(X[target]), expected, rtol=1e-6)
    # Plan-based fits: the plan's columns at the fitted target points.
    exact = OTDomainAdapter("exact").fit(X, y)
    expected_exact = exact.plan_.T @ one_hot / exact.plan_.sum(0)[:, None]
    np.testing.assert_allclose(exact.transform_labels(X[target]), expected_exact, atol=1e-12)
    with pytest.raises(ValueError, match="transform_labels"):
        OTDomainAdapter("gaussian").fit(X, y).transform_labels(X[target])


def test_barycenter_adapter_needs_sample_domain_with_several_target_domains():
    rng = np.random.default_rng(0)
    X, y, domain = pack(rng.normal(size=(20, 2)), [rng.normal(size=(20, 2)) + 1, rng.normal(size=(20, 2)) - 1])
    adapter = OTDomainAdapter("barycenter", random_state=0).fit(X, sample_domain=domain)
    with pytest.raises(ValueError, match="sample_domain is needed"):
        adapter.transform(X[:3])
    assert np.all(np.isfinite(adapter.transform(X, sample_domain=domain)))


@pytest.mark.parametrize("params, match", [
    ({"method": "gaussian", "metric": "euclidean"}, "squared Euclidean"),
    ({"method": "gaussian", "reg_class": 1.0}, "reg_class"),
    ({"method": "exact", "reg": 0.1}, "takes no reg"),
    ({"reg": 0.0}, "reg > 0"),
    ({"method": "fast"}, "method"),
    ({"direction": "both"}, "direction"),
    ({"solver_params": {"not_a_parameter": 1}}, "not_a_parameter"),
    # The inner estimator validates what solver_params gives it: its fit is not skipped.
    ({"solver_params": {"kernel_memory": -1}}, "kernel_memory"),
])
def test_bad_options_are_named(params, match):
    X, y, _, _ = shifted()
    with pytest.raises(ValueError, match=match):
        OTDomainAdapter(**params).fit(X, y)


def test_reg_class_needs_labels():
    X, _, domain, _ = shifted()
    with pytest.raises(ValueError, match="labels"):
        OTDomainAdapter(reg_class=1.0).fit(X, sample_domain=domain)


def test_solver_params_reach_the_solver():
    X, y, _, _ = shifted()
    with pytest.warns(ConvergenceWarning):
        OTDomainAdapter(reg=0.01, solver_params={"max_iter": 1}).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        OTDomainAdapter(reg=0.3, reg_class=1.0, solver_params={"max_iter": 1, "tol": 0.0}).fit(X, y)


@pytest.mark.parametrize("method", METHODS)
def test_float32_in_float32_out_and_inputs_unchanged(method):
    X, y, domain, _ = shifted()
    X32 = X.astype(np.float32)
    copies = [X32.copy(), y.copy(), domain.copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        adapter = OTDomainAdapter(method, random_state=0)
        out = adapter.fit_transform(X32, y, sample_weight=None)
        assert out.dtype == np.float32
        assert adapter.transform(X32, sample_domain=domain).dtype == np.float32
        adapter.fit(X32, sample_domain=domain)
    for before, after in zip(copies, [X32, y, domain]):
        np.testing.assert_array_equal(before, after)


def test_class_regularised_sinkhorn_is_entropic_by_default_and_warns_of_its_gap():
    """method="sinkhorn" with reg_class and reg=None is the documented entropic default
    (reg=0.3), not exact OT; a stop on max_iter names the relative gap."""
    X, y, _, _ = shifted()
    default = OTDomainAdapter(reg_class=1.0).fit(X, y)
    explicit = OTDomainAdapter(reg=0.3, reg_class=1.0).fit(X, y)
    np.testing.assert_allclose(default.plan_, explicit.plan_)
    assert np.count_nonzero(default.plan_ > 1e-12) > 2 * sum(default.plan_.shape)  # entropic: dense
    with pytest.warns(ConvergenceWarning, match="relative conditional-gradient gap"):
        OTDomainAdapter(reg_class=1.0, solver_params={"max_iter": 1, "tol": 0.0}).fit(X, y)


def _label_shift(seed=0, n=400):
    """Two well-separated classes, 80/20 in the source and 20/80 in the target (no covariate shift)."""
    rng = np.random.default_rng(seed)

    def draw(share_of_ones):
        labels = (rng.random(n) < share_of_ones).astype(int)
        return rng.normal(size=(n, 2)) * 0.8 + np.where(labels[:, None] == 1, [2.0, 0.0], [-2.0, 0.0]), labels

    (source, source_labels), (target, target_labels) = draw(0.2), draw(0.8)
    return source, source_labels, target, target_labels


def test_target_class_proportions_recover_a_label_shift():
    source, labels, target, target_labels = _label_shift()
    a, b = np.full(len(source), 1 / len(source)), np.full(len(target), 1 / len(target))
    eps = 0.01 * float(a @ pairwise_cost(source, target, "sqeuclidean") @ b)
    result = target_class_proportions(DenseGeometry(source, target, "sqeuclidean"), labels, a, b, eps)
    assert result.converged and list(result.classes) == [0, 1]
    np.testing.assert_allclose(result.proportions, np.bincount(target_labels) / len(target), atol=0.05)
    assert result.proportions.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["sinkhorn", "exact"])
def test_target_shift_reweights_the_source_classes(method):
    """The estimated shares, the map and the propagated labels follow the target's balance; the
    unweighted map carries the source's 80/20 onto a 20/80 target."""
    source, labels, target, target_labels = _label_shift(seed=1)
    X, y, domain = pack(source, target, labels)
    truth = np.bincount(target_labels) / len(target)
    shifted = make_da_pipeline(OTDomainAdapter(method, target_shift=True), LogisticRegression()).fit(X, y)
    plain = make_da_pipeline(OTDomainAdapter(method), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(shifted[0].target_class_proportions_, truth, atol=0.05)
    assert plain[0].target_class_proportions_ is None
    accuracy = {name: np.mean(model.predict(target) == target_labels) for name, model in
                (("shifted", shifted), ("plain", plain))}
    assert accuracy["shifted"] >= accuracy["plain"] + 0.05, accuracy
    np.testing.assert_allclose(shifted[0].transform_labels(target).mean(axis=0), truth, atol=0.05)
    assert plain[0].transform_labels(target).mean(axis=0)[0] > 0.6  # the source's 80% of class 0
    with pytest.raises(ValueError, match="target_shift needs class labels"):
        OTDomainAdapter(method, target_shift=True).fit(X, sample_domain=domain)


def test_target_laplacian_needs_no_labels():
    """The adapter fits it from source and target rows alone; the labelled penalties refuse that."""
    rng = np.random.default_rng(9)
    X, _, domain = pack(rng.normal(size=(25, 2)), rng.normal(size=(20, 2)) + 1.0)
    model = OTDomainAdapter(reg=0.05, reg_class=1.0, class_penalty="target_laplacian").fit(X, sample_domain=domain)
    assert model.plan_.shape == (25, 20) and model.classes_ is None
    np.testing.assert_allclose(model.plan_.sum(axis=1), np.full(25, 1 / 25), atol=1e-8)
    with pytest.raises(ValueError, match="needs class labels"):
        OTDomainAdapter(reg=0.05, reg_class=1.0, class_penalty="laplacian").fit(X, sample_domain=domain)


@pytest.mark.parametrize("method", ["exact", "sinkhorn"])
def test_semi_supervised_forbids_pairs_of_known_different_labels(method):
    """A few target labels (routed with sample_domain): no mass between rows of known different
    labels; the exact plan is the assignment of the constrained costs."""
    rng = np.random.default_rng(4)
    n = 30
    ys, yt = rng.integers(0, 2, n), rng.integers(0, 2, n)
    # The target classes sit where the other source class is: unsupervised OT crosses them.
    xs = rng.normal(size=(n, 2)) * 0.5 + np.c_[2.0 * ys, 0 * ys]
    xt = rng.normal(size=(n, 2)) * 0.5 + np.c_[2.0 * (1 - yt), 0 * yt] + [0.3, 0.0]
    known = rng.random(n) < 0.5
    X, _, domain = pack(xs, xt)
    y = np.r_[ys, np.where(known, yt, -1)]
    with sklearn.config_context(enable_metadata_routing=True):
        adapter = OTDomainAdapter(method, semi_supervised=True).fit(X, y, sample_domain=domain)
        plain = OTDomainAdapter(method).fit(X, np.r_[ys, yt], sample_domain=domain)  # target labels unused
    plan = adapter.transport_plan(dense=True)
    mismatch = known[None, :] & (ys[:, None] != yt[None, :])
    assert plan[mismatch].max() < 1e-12
    np.testing.assert_allclose(plan.sum(axis=1), 1 / n, atol=1e-9)
    np.testing.assert_allclose(plan.sum(axis=0), 1 / n, atol=1e-9)
    assert plain.transport_plan(dense=True)[mismatch].sum() > 0.2  # the constraint changed the plan
    if method == "exact":
        cost = pairwise_cost(xs, xt, "sqeuclidean")
        cost[mismatch] = 10 * cost.max()
        rows, columns = linear_sum_assignment(cost)
        assert np.sum(cost * plan) == pytest.approx(cost[rows, columns].sum() / n)
    # Label propagation gives the known target rows their own labels.
    propagated = adapter.classes_[adapter.transform_labels(xt).argmax(1)]
    np.testing.assert_array_equal(propagated[known], yt[known])
    with pytest.raises(ValueError, match="semi_supervised needs class labels"):
        with sklearn.config_context(enable_metadata_routing=True):
            OTDomainAdapter(method, semi_supervised=True).fit(X, sample_domain=domain)
