"""SemiDiscreteMap against independent truths: fresh-sample masses, 1-D quantiles, exact LP."""

import warnings
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning

from skot import SemiDiscreteMap, pack
from skot.backends import OnlineGeometry, pairwise_cost
from skot.solvers._compiled import semidual_sgd
from skot.solvers import cell_barycenters, hard_cell_masses, semidiscrete_dual, semidiscrete_sgd

from .reference import textbook_semidual_sgd


def test_cell_masses_hold_on_fresh_samples():
    rng = np.random.default_rng(0)
    source = rng.uniform(size=(200_000, 2))
    points = rng.uniform(size=(30, 2))
    weights = rng.uniform(0.5, 1.5, 30)
    X, _, sd = pack(source, points)
    est = SemiDiscreteMap(tol=1e-3).fit(X, sample_domain=sd, sample_weight=np.r_[np.ones(len(source)), weights])
    np.testing.assert_allclose(est.target_weights_, weights / weights.sum())
    fresh = rng.uniform(size=(200_000, 2))
    masses = np.bincount(est.predict(fresh), minlength=30) / len(fresh)
    relative = np.abs(masses - est.target_weights_) / est.target_weights_
    # Sampling noise alone is ~1.2% per cell here (binomial, 200000 draws of p ~ 1/30).
    assert relative.mean() < 0.03 and relative.max() < 0.08
    # The fit masses themselves are exact to the tolerance.
    np.testing.assert_allclose(est.cell_masses_, est.target_weights_, rtol=2e-3)


def test_one_dimensional_map_is_the_monotone_rearrangement():
    rng = np.random.default_rng(1)
    source = np.sort(rng.normal(size=1000))
    points = np.sort(rng.exponential(size=10) * 3)
    est = SemiDiscreteMap(target=points[:, None], tol=1e-6).fit(source[:, None])
    # Quantile function of the uniform discrete target at the source's empirical quantiles.
    expected = points[np.minimum((np.arange(1000) * 10) // 1000, 9)]
    np.testing.assert_array_equal(est.transform(source[:, None])[:, 0], expected)


def test_transport_cost_agrees_with_an_exact_assignment():
    rng = np.random.default_rng(2)
    n = 400
    source = rng.normal(size=(n, 2))
    points = rng.uniform(-1, 1, size=(20, 2))
    est = SemiDiscreteMap(target=points, tol=1e-6).fit(source)
    semi_discrete = np.mean(np.sum((est.transform(source) - source) ** 2, axis=1))
    # Exact OT from the n samples to the target with each point repeated n / 20 times.
    repeated = np.repeat(points, n // 20, axis=0)
    cost = pairwise_cost(source, repeated, "sqeuclidean")
    exact = cost[linear_sum_assignment(cost)].mean()
    assert semi_discrete == pytest.approx(exact, rel=0.02)


def test_learned_points_quantize_with_equal_cells_and_cluster_api():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(300, 2)) * 0.3 + c for c in ([0, 0], [4, 0], [0, 4], [4, 4])])
    est = SemiDiscreteMap(target=4, random_state=0)
    labels = est.fit_predict(X)
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_allclose(np.bincount(labels, minlength=4) / len(X), 0.25, atol=0.01)
    # Each learned point sits at the barycenter of its (equal-mass) cell: here the blob centres.
    centres = np.sort(est.target_points_.round(0), axis=0)
    np.testing.assert_allclose(centres, np.sort(np.array([[0, 0], [4, 0], [0, 4], [4, 4.0]]), axis=0), atol=0.5)
    # score is the semi-dual objective: maximal at the fitted weights.
    from skot.solvers import semidual_objective

    geometry = OnlineGeometry(X, est.target_points_, "sqeuclidean")
    a, b = np.full(len(X), 1 / len(X)), est.target_weights_
    assert est.score(X) == pytest.approx(semidual_objective(geometry, a, b, est.potential_, 0.0))
    for shift in np.eye(4) * 0.5:  # flat near the optimum (the cells do not move) ...
        assert semidual_objective(geometry, a, b, est.potential_ + shift, 0.0) <= est.score(X) + 1e-12
    for shift in np.eye(4) * 30:  # ... and strictly lower once they do.
        assert semidual_objective(geometry, a, b, est.potential_ + shift, 0.0) < est.score(X) - 1e-3


def test_smoothed_map_is_barycentric_and_masses_soft():
    rng = np.random.default_rng(4)
    source, points = rng.normal(size=(2000, 2)), rng.normal(size=(15, 2))
    est = SemiDiscreteMap(target=points, reg=0.05).fit(source)
    geometry = OnlineGeometry(source, points, "sqeuclidean")
    h = est.potential_ + est.epsilon_ * np.log(est.target_weights_)
    np.testing.assert_allclose(est.transform(source), geometry.barycentric_map(h, est.epsilon_, axis=1), atol=1e-12)
    masses, softmins = geometry.soft_masses(h, est.epsilon_, np.full(2000, 1 / 2000))
    np.testing.assert_allclose(masses, 1 / 15, rtol=1e-3)
    np.testing.assert_allclose(softmins, geometry.softmin(h, est.epsilon_, axis=1), rtol=1e-12, atol=1e-12)
    hard = hard_cell_masses(geometry, np.full(2000, 1 / 2000), est.potential_)
    assert np.abs(hard - 1 / 15).max() > 1e-4  # soft cells, not hard ones, carry the exact masses


def test_bad_inputs():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="target has 3 features"):
        SemiDiscreteMap(target=np.zeros((4, 3))).fit(X)
    with pytest.raises(ValueError, match="metric"):
        SemiDiscreteMap(metric="cosine").fit(X)
    with pytest.raises(ValueError, match="reg"):
        SemiDiscreteMap(reg=-1.0).fit(X)


def test_newton_and_lbfgs_reach_the_same_smoothed_optimum():
    """The smoothed semi-dual is strictly concave: both solvers find its maximiser."""
    rng = np.random.default_rng(5)
    source, points = rng.uniform(size=(3000, 2)), rng.uniform(size=(40, 2))
    newton = SemiDiscreteMap(target=points, reg=1e-2, solver="newton", tol=1e-10).fit(source)
    with warnings.catch_warnings():  # L-BFGS may stall near 1e-8; the comparison below bounds it
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = SemiDiscreteMap(target=points, reg=1e-2, solver="lbfgs", tol=1e-8, max_iter=5000).fit(source)
    np.testing.assert_allclose(newton.potential_ - newton.potential_.mean(),
                               lbfgs.potential_ - lbfgs.potential_.mean(), atol=1e-7 * newton.cost_scale_)
    # Independent check of optimality: the dense reference's soft cell masses are b.
    from skot.backends import DenseGeometry

    h = newton.potential_ + newton.epsilon_ * np.log(newton.target_weights_)
    masses, _ = DenseGeometry(source, points, "sqeuclidean").soft_masses(h, newton.epsilon_, np.full(3000, 1 / 3000))
    np.testing.assert_allclose(masses, 1 / 40, rtol=1e-9)


def test_softmax_hessian_is_the_jacobian_of_the_soft_masses():
    from skot.backends import DenseGeometry
    from skot.solvers._compiled import softmax_hessian

    rng = np.random.default_rng(6)
    source, points = rng.uniform(size=(200, 2)), rng.uniform(size=(7, 2))
    a, eps, h = np.full(200, 1 / 200), 0.02, rng.normal(size=7) * 0.01
    geometry = DenseGeometry(source, points, "sqeuclidean")
    masses, _, index, prob = geometry.soft_masses(h, eps, a, 7)
    hessian = softmax_hessian(a, index, prob, 7) / eps
    step = 1e-7
    jacobian = np.column_stack([(geometry.soft_masses(h + step * e, eps, a)[0] - masses) / step for e in np.eye(7)])
    np.testing.assert_allclose(hessian, jacobian, atol=1e-5 * np.abs(hessian).max())


def fresh_mass_error(model, fresh):
    m = len(model.target_points_)
    counts = np.bincount(model.predict(fresh), minlength=m) / len(fresh)
    return np.mean(np.abs(counts / model.target_weights_ - 1))


def test_partial_fit_averages_batches_below_one_batch_noise():
    rng = np.random.default_rng(7)
    points = rng.uniform(size=(100, 2))
    fresh = rng.uniform(size=(400_000, 2))
    single = SemiDiscreteMap(target=points).fit(rng.uniform(size=(10_000, 2)))
    streamed = SemiDiscreteMap(target=points)
    for _ in range(8):
        streamed.partial_fit(rng.uniform(size=(10_000, 2)))
    assert streamed.n_batches_ == 8
    # One batch: noise ~ sqrt(100 / 10000) = 10% per cell; eight batches average it down.
    assert fresh_mass_error(streamed, fresh) < 0.6 * fresh_mass_error(single, fresh)
    with pytest.raises(ValueError, match="3 features"):
        streamed.partial_fit(rng.uniform(size=(10, 3)))


@pytest.mark.parametrize("eps0", [0.0, 0.05])
def test_sgd_kernel_follows_the_textbook_recursion(eps0):
    """Backend SGD (BLAS products, chunks of 3 batches, a short last batch) = dense recursion."""
    rng = np.random.default_rng(10)
    samples, points = rng.normal(size=(1000, 20)), rng.normal(size=(7, 20))
    b = rng.uniform(0.5, 1.5, 7)
    b /= b.sum()
    schedule = (3.0, 2 / 3, eps0, 0.5, 0.0, 5.0)
    potential, average = np.zeros(7), np.zeros(7)
    chunks = (samples[start:start + 96] for start in range(0, 1000, 96))  # 3 batches of 32 per chunk
    step = semidual_sgd(chunks, points, b, potential, average, 0, 32, schedule)
    expected_last, expected_average = textbook_semidual_sgd(samples, points, b, 32, schedule)
    assert step == 32  # 31 full batches and one of 8 draws
    np.testing.assert_allclose(potential, expected_last, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(average, expected_average, rtol=1e-10, atol=1e-12)


def test_sgd_fit_holds_the_cell_masses_on_fresh_samples():
    """One pass over 2e5 draws: the acceptance problem's accuracy, at the cost of one pass."""
    rng = np.random.default_rng(0)
    source = rng.uniform(size=(200_000, 2))
    points = rng.uniform(size=(30, 2))
    weights = rng.uniform(0.5, 1.5, 30)
    X, _, sd = pack(source, points)
    est = SemiDiscreteMap(solver="sgd", random_state=0).fit(
        X, sample_domain=sd, sample_weight=np.r_[np.ones(len(source)), weights])
    assert est.n_iter_ == 200_000 // 32  # one step per 32 draws
    fresh = rng.uniform(size=(200_000, 2))
    masses = np.bincount(est.predict(fresh), minlength=30) / len(fresh)
    relative = np.abs(masses - est.target_weights_) / est.target_weights_
    assert relative.mean() < 0.03 and relative.max() < 0.08
    # The fit's labels and masses are the fitted cells of the source rows.
    np.testing.assert_array_equal(est.labels_[:len(source)], est.predict(source))
    np.testing.assert_allclose(est.cell_masses_, np.bincount(est.labels_[:len(source)], minlength=30) / len(source))
    # SGD and Newton find the same cells up to sampling error.
    newton = SemiDiscreteMap(tol=1e-3).fit(X, sample_domain=sd, sample_weight=np.r_[np.ones(len(source)), weights])
    assert np.mean(est.predict(fresh) == newton.predict(fresh)) > 0.97


def test_sgd_resamples_weighted_samples():
    """Zero weight on the left half: the cells split the right half's mass equally."""
    rng = np.random.default_rng(11)
    source, points = rng.uniform(size=(100_000, 2)), rng.uniform(size=(10, 2))
    est = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(
        source, sample_weight=(source[:, 0] > 0.5).astype(float))
    fresh = rng.uniform(size=(100_000, 2))
    fresh[:, 0] = 0.5 + fresh[:, 0] / 2
    masses = np.bincount(est.predict(fresh), minlength=10) / len(fresh)
    assert np.max(np.abs(masses * 10 - 1)) < 0.1


def test_sgd_takes_a_sampler_and_more_draws_help():
    rng = np.random.default_rng(8)
    points, b = rng.uniform(size=(50, 2)), np.full(50, 1 / 50)

    def make_geometry(u, v):
        return OnlineGeometry(u, v, "sqeuclidean")

    errors = []
    fresh = rng.uniform(size=(200_000, 2))
    for n_steps in (200, 3200):
        result, state = semidiscrete_sgd(make_geometry, lambda k: rng.uniform(size=(k, 2)), points, b, 0.0,
                                         scale=1 / 3, n_steps=n_steps)
        assert state.step == result.n_iter == n_steps
        counts = np.bincount(make_geometry(fresh, points).argmax(result.potential), minlength=50) / len(fresh)
        errors.append(np.mean(np.abs(counts / b - 1)))
    assert errors[1] < 0.5 * errors[0]
    with pytest.raises(ValueError, match="n_steps"):
        semidiscrete_sgd(make_geometry, lambda k: rng.uniform(size=(k, 2)), points, b, 0.0, scale=1 / 3)


def test_sgd_partial_fit_continues_the_stream():
    rng = np.random.default_rng(12)
    points = rng.uniform(size=(100, 2))
    fresh = rng.uniform(size=(400_000, 2))
    single = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(rng.uniform(size=(10_000, 2)))
    streamed = SemiDiscreteMap(target=points, solver="sgd", random_state=0)
    for _ in range(8):
        streamed.partial_fit(rng.uniform(size=(10_000, 2)))
    assert streamed.n_batches_ == 8 and streamed.n_iter_ == 8 * 313  # 312 batches of 32 and one of 16 per call
    assert fresh_mass_error(streamed, fresh) < 0.6 * fresh_mass_error(single, fresh)
    # A Newton fit followed by SGD batches: the stream resumes from the fitted cells.
    resumed = SemiDiscreteMap(target=points, random_state=0).fit(rng.uniform(size=(10_000, 2)))
    before = fresh_mass_error(resumed, fresh)
    resumed.set_params(solver="sgd")
    for _ in range(4):
        resumed.partial_fit(rng.uniform(size=(10_000, 2)))
    assert fresh_mass_error(resumed, fresh) < before


def test_partial_fit_learns_points_online():
    rng = np.random.default_rng(9)
    centres = np.array([[0, 0], [4, 0], [0, 4], [4, 4.0]])
    model = SemiDiscreteMap(target=4, random_state=0)
    for _ in range(10):
        model.partial_fit(centres[rng.integers(0, 4, 2000)] + 0.3 * rng.normal(size=(2000, 2)))
    np.testing.assert_allclose(np.sort(model.target_points_.round(0), axis=0), np.sort(centres, axis=0), atol=0.5)


def test_sgd_answer_depends_on_the_measure_not_on_the_rows_order():
    """Shuffled rows, or a row repeated instead of weighted by 2: the same stream, the same cells."""
    rng = np.random.default_rng(13)
    source, points = rng.normal(size=(3000, 3)), rng.normal(size=(12, 3))
    reference = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(source)
    shuffled = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(source[rng.permutation(3000)])
    # Equal up to the summation order of the mean cost (the step-size unit).
    np.testing.assert_allclose(shuffled.potential_, reference.potential_, rtol=1e-12)
    weights = np.r_[2.0, np.ones(2999)]
    weighted = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(source, sample_weight=weights)
    repeated = SemiDiscreteMap(target=points, solver="sgd", random_state=0).fit(np.vstack([source[:1], source]))
    np.testing.assert_allclose(weighted.potential_, repeated.potential_, rtol=1e-12)
    assert not np.allclose(weighted.potential_, reference.potential_)


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_a_result_gives_its_cells_and_their_barycenters(reg):
    """cells() are the argmax of g + eps log b - c over the dense cost; cell_barycenters, a
    Lloyd step, is each cell's weighted mean of samples (an empty cell keeps its point)."""
    rng = np.random.default_rng(3)
    samples, points = rng.uniform(size=(300, 2)), rng.uniform(size=(6, 2))
    points[5] = [40.0, 40.0]  # far from every sample: an empty cell
    a, b = rng.uniform(0.5, 1.0, 300), np.full(6, 1 / 6)
    a /= a.sum()
    cost = pairwise_cost(samples, points, "sqeuclidean")
    eps = reg * float(a @ cost @ b)
    result = semidiscrete_dual(OnlineGeometry(samples, points, "sqeuclidean"), a, b, eps, scale=float(a @ cost @ b),
                               max_iter=3)
    result = replace(result, potential=np.r_[result.potential[:5], -1e6])  # the far point gets no sample
    logits = result.potential + (eps * np.log(b) if eps else 0.0) - cost
    cells = result.cells()
    np.testing.assert_array_equal(logits[np.arange(300), cells], logits.max(axis=1))
    moved = cell_barycenters(result, samples, points)
    for j in range(6):
        members = cells == j
        expected = a[members] @ samples[members] / a[members].sum() if members.any() else points[j]
        np.testing.assert_allclose(moved[j], expected, rtol=1e-12)
    assert not (cells == 5).any()
