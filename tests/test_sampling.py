"""Sampling the conditional coupling: discrete draws and Langevin dynamics."""

import numpy as np
import pytest
from scipy.stats import chisquare

from skot import SinkhornTransport, pack
from skot.backends import pairwise_cost
from skot.solvers import entropic_gaussian_map

from .test_sinkhorn_solver import gaussian_samples_with_exact_moments


def test_discrete_draws_pass_a_chi_square_test_against_the_plan_rows(rng):
    xs, xt = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) + 1.0
    est = SinkhornTransport(reg=0.2).fit(*pack(xs, xt)[:1], sample_domain=pack(xs, xt)[2])
    plan = est.transport_plan()
    draws = est.sample(xs[:3], n_samples=5000, random_state=1)
    for row in range(3):
        counts = np.bincount(np.argmin(pairwise_cost(draws[row], xt, "sqeuclidean"), axis=1), minlength=25)
        expected = 5000 * plan[row] / plan[row].sum()
        keep = expected >= 5  # the chi-square approximation needs expected counts >= 5
        observed = np.append(counts[keep], counts[~keep].sum())
        target = np.append(expected[keep], expected[~keep].sum())
        assert chisquare(observed, target).pvalue > 1e-3
    # A wrong conditional (another row's) is rejected.
    wrong = 5000 * plan[3] / plan[3].sum()
    counts = np.bincount(np.argmin(pairwise_cost(draws[0], xt, "sqeuclidean"), axis=1), minlength=25)
    keep = wrong >= 5
    assert chisquare(np.append(counts[keep], counts[~keep].sum()),
                     np.append(wrong[keep], wrong[~keep].sum())).pvalue < 1e-6


@pytest.fixture(scope="module")
def gaussian_problem():
    rng = np.random.default_rng(3)
    cov_s = np.array([[1.0, 0.3], [0.3, 0.5]])
    cov_t = np.array([[0.6, -0.2], [-0.2, 1.2]])
    mean_t = np.array([1.0, -0.5])
    xs = gaussian_samples_with_exact_moments(rng, np.zeros(2), cov_s, 800)
    xt = gaussian_samples_with_exact_moments(rng, mean_t, cov_t, 800)
    X, _, sd = pack(xs, xt)
    eps = 1.0
    est = SinkhornTransport(reg=eps, cost_scale=None, tol=1e-10).fit(X, sample_domain=sd)
    # Entropic plan between the Gaussians (Janati et al. 2020): pi(y | x) is Gaussian with
    # mean m_t + L x and covariance B - L A L^T, L the entropic map's linear part.
    linear = entropic_gaussian_map(cov_s, cov_t, eps)
    conditional_cov = cov_t - linear @ cov_s @ linear.T
    return est, mean_t, cov_t, linear, conditional_cov


def test_langevin_with_the_exact_score_matches_the_gaussian_conditional(gaussian_problem):
    est, mean_t, cov_t, linear, conditional_cov = gaussian_problem
    precision = np.linalg.inv(cov_t)
    anchors = np.array([[0.0, 0.0], [1.0, 0.5]])
    n = 600
    draws = est.sample(anchors, n, method="langevin", score=lambda y: -(y - mean_t) @ precision,
                       n_steps=400, random_state=0)
    for anchor, chains in zip(anchors, draws):
        # Monte Carlo standard error of the mean: sqrt(var / n) <= 0.032 here; the
        # empirical potentials and the Langevin step add a little bias.
        np.testing.assert_allclose(chains.mean(axis=0), mean_t + linear @ anchor, atol=0.1)
        # Relative standard error of a variance from 600 draws: 6%.
        np.testing.assert_allclose(np.cov(chains.T), conditional_cov, atol=0.08)
    # A wrong anchor would be far: the conditional mean moves with x.
    assert np.linalg.norm(draws[0].mean(axis=0) - draws[1].mean(axis=0)) > 0.5


def test_langevin_with_a_kde_score_stays_close_to_the_discrete_conditional(gaussian_problem):
    est = gaussian_problem[0]
    anchor = np.array([[0.5, 0.0]])
    langevin = est.sample(anchor, 600, method="langevin", n_steps=200, random_state=0)[0]
    discrete = est.sample(anchor, 4000, random_state=0)[0]
    np.testing.assert_allclose(langevin.mean(axis=0), discrete.mean(axis=0), atol=0.12)
    np.testing.assert_allclose(np.cov(langevin.T), np.cov(discrete.T), atol=0.12)


def test_draws_concentrate_on_the_monotone_map_as_reg_vanishes():
    rng = np.random.default_rng(0)
    xs = np.sort(rng.normal(size=400))
    xt = np.sort(rng.exponential(size=400) * 2.0)
    X, _, sd = pack(xs[:, None], xt[:, None])
    rows = np.array([100, 200, 300])
    spreads, errors = [], []
    for reg in (1e-1, 1e-2, 2e-3):
        est = SinkhornTransport(reg=reg, max_iter=5000, tol=1e-5).fit(X, sample_domain=sd)
        for method in ("discrete", "langevin"):
            draws = est.sample(xs[rows, None], 400, method=method, n_steps=100, random_state=0)[:, :, 0]
            # The monotone (quantile) map sends the k-th smallest source point to the k-th target.
            errors.append(np.abs(draws.mean(axis=1) - xt[rows]).max())
            spreads.append(draws.std(axis=1).max())
    spreads, errors = np.array(spreads).reshape(3, 2), np.array(errors).reshape(3, 2)
    # Spread falls from about 1 (reg = 0.1) to a few target spacings around the monotone image.
    assert np.all(np.diff(spreads, axis=0) < 0)
    assert np.all(spreads[-1] < 0.2) and np.all(spreads[-1] < spreads[0] / 4)
    assert np.all(errors[-1] < 0.1)


def test_sampling_bad_arguments(gaussian_problem):
    est = gaussian_problem[0]
    x = np.zeros((1, 2))
    with pytest.raises(ValueError, match="method"):
        est.sample(x, method="mcmc")
    with pytest.raises(ValueError, match="score"):
        est.sample(x, method="langevin", score="gaussian")
    with pytest.raises(ValueError, match="step_size"):
        est.sample(x, method="langevin", step_size=-1.0)
    cosine = SinkhornTransport(metric="cosine").fit(np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(ValueError, match="sqeuclidean"):
        cosine.sample(x, method="langevin")
