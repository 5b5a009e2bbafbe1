"""The log-domain solver against independent truths."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.spatial.distance import cdist

from skot.backends import DenseGeometry, OnlineGeometry, pairwise_cost
from skot.solvers import log_weighted, sinkhorn, sinkhorn_divergence

from .reference import textbook_sinkhorn


def small_problem(rng, n=30, m=40, d=3):
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 1.0
    a, b = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, m)
    return x, y, a / a.sum(), b / b.sum()


def dense_plan(result, cost, a, b):
    eps = result.eps
    f, g = result.potential_source, result.potential_target
    return a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - cost) / eps)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine"])
def test_plan_matches_textbook_sinkhorn(rng, metric):
    x, y, a, b = small_problem(rng)
    cost = pairwise_cost(x, y, metric)
    eps = 0.1 * cost.mean()
    result = sinkhorn(DenseGeometry(x, y, metric), a, b, eps, tol=1e-13, max_iter=20000)
    assert result.converged
    np.testing.assert_allclose(dense_plan(result, cost, a, b), textbook_sinkhorn(cost, a, b, eps), atol=1e-8, rtol=0)


@pytest.mark.parametrize("geometry", [DenseGeometry, OnlineGeometry])
def test_the_result_carries_its_problem_plan_and_cost(rng, geometry):
    """plan(), plan_cost() and log_potentials of a result against the textbook plan; a zero
    weight gives log-weight -inf and an empty row."""
    x, y, a, b = small_problem(rng)
    a[4] = 0.0
    a /= a.sum()
    cost = pairwise_cost(x, y, "sqeuclidean")
    eps = 0.1 * cost.mean()
    result = sinkhorn(geometry(x, y, "sqeuclidean"), a, b, eps, tol=1e-13, max_iter=20000)
    reference = textbook_sinkhorn(cost, a, b, eps)
    np.testing.assert_allclose(result.plan(), reference, atol=1e-10, rtol=0)
    assert result.plan_cost() == pytest.approx(float(np.sum(reference * cost)), rel=1e-9)
    log_a, log_b = result.log_potentials
    assert log_a[4] == -np.inf and np.all(np.isfinite(np.delete(log_a, 4))) and np.all(np.isfinite(log_b))
    np.testing.assert_allclose(log_b, result.potential_target + eps * np.log(b), rtol=1e-15)
    assert log_weighted(result.potential_source, a, 0.0) is result.potential_source
    bare = replace(result, geometry=None)
    with pytest.raises(ValueError, match="carries no geometry"):
        bare.plan()


def test_marginals_and_primal_dual_gap(rng):
    x, y, a, b = small_problem(rng)
    cost = cdist(x, y, "sqeuclidean")
    eps = 0.05 * cost.mean()
    result = sinkhorn(DenseGeometry(x, y, "sqeuclidean"), a, b, eps, tol=1e-12, max_iter=50000)
    plan = dense_plan(result, cost, a, b)
    np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-14)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-11)
    assert result.marginal_error == pytest.approx(np.abs(plan.sum(axis=0) - b).sum(), abs=1e-15)
    primal = np.sum(plan * cost) + eps * np.sum(plan * np.log(plan / np.outer(a, b)))
    assert result.dual_objective == pytest.approx(primal, rel=1e-10)


@pytest.mark.parametrize("anderson_memory", [0, 8])
def test_every_stop_returns_a_plan_within_tol(rng, anderson_memory):
    """Whether the run stops on the source side or, for a plain iterate, on the target
    side (a rough warm start, as a coarse-to-fine prolongation gives: the first update
    moves f far, the plan after it is close), the returned plan has an exact source
    marginal and a target one within tol."""
    x, y, a, b = small_problem(rng)
    cost = cdist(x, y, "sqeuclidean")
    eps = 0.05 * cost.mean()
    geometry = DenseGeometry(x, y, "sqeuclidean")
    solution = sinkhorn(geometry, a, b, eps, tol=1e-13, max_iter=50000).potential_source
    sides = set()
    for tol in np.geomspace(3e-1, 1e-8, 16):
        for init in (None, solution + 0.3 * eps * rng.normal(size=solution.shape)):
            result = sinkhorn(geometry, a, b, eps, tol=tol, max_iter=50000, anderson_memory=anderson_memory,
                              init=None if init is None else (init,))
            plan = dense_plan(result, cost, a, b)
            target_error = np.abs(plan.sum(axis=0) - b).sum()
            assert result.converged
            np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-14)
            assert result.marginal_error == pytest.approx(target_error, rel=1e-9, abs=1e-15)
            if result.error == result.marginal_error:
                sides.add("target")
                assert target_error <= tol
            else:
                sides.add("source")
    assert sides == {"source", "target"}


def test_warm_start_from_the_solution_converges_at_once(rng):
    x, y, a, b = small_problem(rng)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    eps = 0.5
    cold = sinkhorn(geometry, a, b, eps, tol=1e-12)
    warm = sinkhorn(geometry, a, b, eps, tol=1e-10, init=(cold.potential_source, cold.potential_target))
    assert cold.n_iter > 5 and warm.n_iter == 1
    np.testing.assert_allclose(warm.potential_source, cold.potential_source, atol=1e-10)
    # From the target potential: one update of f, and its plan is already within tol.
    from_target = sinkhorn(geometry, a, b, eps, tol=1e-10, init=(None, cold.potential_target))
    assert from_target.n_iter == 1 and from_target.converged
    assert from_target.error == from_target.marginal_error <= 1e-10
    np.testing.assert_allclose(from_target.potential_source, cold.potential_source, atol=1e-10)
    np.testing.assert_array_equal(from_target.potential_target, cold.potential_target)


def test_unbalanced_tends_to_balanced(rng):
    x, y, a, b = small_problem(rng)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    cost = pairwise_cost(x, y, "sqeuclidean")
    eps = 0.1 * cost.mean()
    balanced = dense_plan(sinkhorn(geometry, a, b, eps, tol=1e-13, max_iter=10000), cost, a, b)
    gaps = []
    for reg_m in [1.0, 1e2, 1e4, 1e6]:
        result = sinkhorn(geometry, a, b, eps, reg_m=reg_m, tol=1e-13, max_iter=10000)
        gaps.append(np.abs(dense_plan(result, cost, a, b) - balanced).sum())
    assert all(later < earlier / 10 for earlier, later in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-5


def test_unbalanced_fixed_point_is_the_kl_relaxed_optimum(rng):
    """First-order conditions of the unbalanced dual: f = -rho log(P1 / a), same for g."""
    x, y, a, b = small_problem(rng)
    cost = pairwise_cost(x, y, "sqeuclidean")
    eps, rho = 0.2, 0.7
    result = sinkhorn(DenseGeometry(x, y, "sqeuclidean"), a, b, eps, reg_m=rho, tol=1e-14, max_iter=10000)
    plan = dense_plan(result, cost, a, b)
    np.testing.assert_allclose(result.potential_source, -rho * np.log(plan.sum(axis=1) / a), atol=1e-9)
    np.testing.assert_allclose(result.potential_target, -rho * np.log(plan.sum(axis=0) / b), atol=1e-9)


def gaussian_entropic_transport_cost(mean_x, cov_x, mean_y, cov_y, eps):
    """E|X - Y|^2 under the entropic OT plan between Gaussians (Janati et al. 2020).

    With sigma^2 = eps / 2 and D = (4 A^1/2 B A^1/2 + sigma^4 I)^1/2:
    |m_x - m_y|^2 + tr A + tr B - tr D + d sigma^2.
    """
    d = len(mean_x)
    sigma2 = eps / 2
    root = np.real(sqrtm(cov_x))
    middle = np.real(sqrtm(4 * root @ cov_y @ root + sigma2**2 * np.eye(d)))
    return np.sum((mean_x - mean_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - np.trace(middle) + d * sigma2


def gaussian_samples_with_exact_moments(rng, mean, cov, n):
    """Samples whose empirical mean and (biased) covariance equal ``mean`` and ``cov``."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T, bias=True))).T
    return mean + z @ np.linalg.cholesky(cov).T


@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_gaussian_closed_form_transport_cost(eps):
    rng = np.random.default_rng(1)
    d, n = 2, 2000
    mean_x, mean_y = np.zeros(d), np.array([1.0, -0.5])
    cov_x = np.array([[1.0, 0.3], [0.3, 0.5]])
    cov_y = np.array([[0.6, -0.2], [-0.2, 1.2]])
    x = gaussian_samples_with_exact_moments(rng, mean_x, cov_x, n)
    y = gaussian_samples_with_exact_moments(rng, mean_y, cov_y, n)
    weights = np.full(n, 1.0 / n)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    result = sinkhorn(geometry, weights, weights, eps, tol=1e-10)
    cost = geometry.plan_cost(result.potential_source + eps * np.log(weights),
                              result.potential_target + eps * np.log(weights), eps)
    expected = gaussian_entropic_transport_cost(mean_x, cov_x, mean_y, cov_y, eps)
    # Moments are exact, so only the O(1/n) entropic bias of empirical measures remains
    # (measured below 0.5% at n = 2000); a wrong formula or solver is off by several %.
    assert cost == pytest.approx(expected, rel=0.01)


def test_sinkhorn_divergence_is_zero_on_equal_measures_and_positive_otherwise(rng):
    x, y, a, b = small_problem(rng)
    make = lambda u, v: DenseGeometry(u, v, "sqeuclidean")  # noqa: E731
    assert abs(sinkhorn_divergence(make, x, x, a, a, 0.5)) < 1e-8
    assert sinkhorn_divergence(make, x, y, a, b, 0.5) > 0.1


@pytest.mark.parametrize("seed", [4116, 4132, 4165, 4384, 4712, 5820, 5978])
def test_anderson_never_stalls_where_plain_sinkhorn_converges(seed):
    """Tiny problems (n, m <= 7) on which Anderson mixing stalled at a marginal error of
    0.01-0.4 after 1000 iterations, while plain Sinkhorn converged in 165-921."""
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 8, size=2)
    dim = rng.integers(1, 4)
    x, y = rng.normal(size=(n, dim)), rng.normal(size=(m, dim))
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    a, b = a / a.sum(), b / b.sum()
    eps = [0.01, 0.03, 0.05, 0.1][seed % 4] * float(a @ pairwise_cost(x, y, "sqeuclidean") @ b)
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    assert sinkhorn(geometry, a, b, eps, tol=1e-9, max_iter=1000, anderson_memory=0).converged
    result = sinkhorn(geometry, a, b, eps, tol=1e-9, max_iter=1000)
    assert result.converged and result.marginal_error <= 1e-9


@pytest.mark.parametrize("reg", [0.05, 0.1])
@pytest.mark.parametrize("tol", [1e-9, 1e-12])
def test_anderson_keeps_pace_with_fast_converging_plain_sinkhorn(reg, tol):
    """300-D clouds: plain Sinkhorn cuts the error some 100x an iteration, so the newest
    residuals are tiny next to the oldest; a Tikhonov term scaled by the largest swamped them
    and Anderson took up to twice plain Sinkhorn's iterations."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(150, 300)), rng.normal(size=(150, 300)) + 0.3
    a = np.full(150, 1 / 150)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    eps = reg * geometry.cost_statistic("mean", a, a)
    plain = sinkhorn(geometry, a, a, eps, tol=tol, anderson_memory=0)
    fast = sinkhorn(geometry, a, a, eps, tol=tol)
    assert plain.converged and fast.converged and fast.marginal_error <= tol
    assert fast.n_iter <= plain.n_iter


def test_public_solvers_refuse_what_would_hang_or_give_nan():
    """eps = 0 made the multiscale solver loop forever, negative weights gave NaN."""
    from skot.solvers import multiscale_sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    for eps in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="'eps' parameter of sinkhorn must be"):
            sinkhorn(geometry, a, b, eps)
        with pytest.raises(ValueError, match="'eps' parameter of multiscale_sinkhorn must be"):
            multiscale_sinkhorn(x, y, a, b, eps)
    for weights, message in ((-a, "non-negative"), (np.full(6, np.nan), "finite"), (a[:5], "shape")):
        with pytest.raises(ValueError, match=message):
            sinkhorn(geometry, weights, b, 1.0)
    with pytest.raises(ValueError, match="'reg_m' parameter of sinkhorn must be"):
        sinkhorn(geometry, a, b, 1.0, reg_m=0.0)
    with pytest.raises(ValueError, match="diameter of the points overflows"):
        multiscale_sinkhorn(x * 1e160, y, a, b, 1.0)


def test_every_public_solver_checks_its_arguments():
    """A negative tol, a zero max_iter, a non-callable factory: an error naming the argument,
    never garbage or a loop without end."""
    from sklearn.utils._param_validation import InvalidParameterError

    from skot import solvers

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    geometry = DenseGeometry(x, y, "sqeuclidean")
    cov = np.eye(2)
    calls = {
        "sinkhorn": lambda: solvers.sinkhorn(geometry, a, b, 1.0, max_iter=0),
        "self_transport_potential": lambda: solvers.self_transport_potential(geometry, a, 1.0, tol=-1.0),
        "sinkhorn_divergence": lambda: solvers.sinkhorn_divergence("dense", x, y, a, b, 1.0),
        "multiscale_sinkhorn": lambda: solvers.multiscale_sinkhorn(x, y, a, b, 1.0, budget=-1.0),
        "free_support_barycenter": lambda: solvers.free_support_barycenter(None, [(x, a)], [1.0], x, 1.0),
        "class_regularized_transport": lambda: solvers.class_regularized_transport(
            geometry.plan(np.zeros(6), np.zeros(5), 1.0), a, b, np.zeros(6), 0.1, -1.0),
        "exact_transport": lambda: solvers.exact_transport(x, y, max_iter=0),
        "exact_plan": lambda: solvers.exact_plan(np.ones((6, 5)), a, b, max_iter=-3),
        "fit_gaussian": lambda: solvers.fit_gaussian(x, a, ridge=-1.0),
        "gaussian_ot": lambda: solvers.gaussian_ot(np.zeros(2), cov, np.zeros(2), cov, eps=-1.0),
        "bures_barycenter": lambda: solvers.bures_barycenter([np.zeros(2)], [cov], max_iter=0),
        "psd_power": lambda: solvers.psd_power(cov, -0.5, rcond=0.0),
        "semidiscrete_dual": lambda: solvers.semidiscrete_dual(geometry, a, b, 0.0, scale=0.0),
        "semidiscrete_newton": lambda: solvers.semidiscrete_newton(None, x, a, y, b, 0.0, scale=1.0),
        "semidiscrete_sgd": lambda: solvers.semidiscrete_sgd(None, x, y, b, 0.0, scale=1.0),
        "unadjusted_langevin": lambda: solvers.unadjusted_langevin(lambda s: s, x, 10, -1.0, rng),
        "kde_score": lambda: solvers.kde_score(None, y, b, 1.0),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidParameterError, match=f"of {name} must be"):
            call()
