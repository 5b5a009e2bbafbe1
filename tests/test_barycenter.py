"""WassersteinBarycenter against closed forms, POT and the McCann midpoint."""

import numpy as np
import pytest

from skot import GaussianBuresMap, WassersteinBarycenter, pack

from .test_sinkhorn_solver import gaussian_samples_with_exact_moments


def stacked(domains):
    X = np.vstack(domains)
    labels = np.concatenate([np.full(len(d), k) for k, d in enumerate(domains)])
    return X, labels


def test_gaussian_barycenter_of_commuting_covariances():
    rng = np.random.default_rng(0)
    diagonals = [np.array([1.0, 4.0]), np.array([9.0, 0.25]), np.array([2.0, 2.0])]
    means = [np.zeros(2), np.array([3.0, -1.0]), np.array([-2.0, 5.0])]
    domains = [gaussian_samples_with_exact_moments(rng, m, np.diag(v), 300) for m, v in zip(means, diagonals)]
    X, sd = stacked(domains)
    weights = np.array([0.2, 0.5, 0.3])
    est = WassersteinBarycenter(method="gaussian", weights=weights, covariance_reg=0.0).fit(X, sample_domain=sd)
    np.testing.assert_allclose(est.mean_, weights @ np.array(means), atol=1e-10)
    expected = np.diag((weights @ np.sqrt(np.array(diagonals))) ** 2)
    np.testing.assert_allclose(est.covariance_, expected, atol=1e-8)
    # Each domain's map pushes its Gaussian fit onto the barycenter.
    mapped = est.transform(X, sample_domain=sd)
    for k in range(3):
        np.testing.assert_allclose(np.cov(mapped[sd == k].T, bias=True), expected, atol=1e-8)


def test_gaussian_barycenter_matches_pot(rng):
    """At the default settings: three 4-D Gaussians of 3000 samples, against POT's fixed point
    iterated to convergence, to 1e-6 relative."""
    ot = pytest.importorskip("ot")
    domains = []
    for _ in range(3):
        factor = rng.normal(size=(4, 4))
        domains.append(rng.multivariate_normal(3.0 * rng.normal(size=4), factor @ factor.T + 0.1 * np.eye(4), 3000))
    X, sd = stacked(domains)
    est = WassersteinBarycenter(method="gaussian").fit(X, sample_domain=sd)
    means = np.array([d.mean(axis=0) for d in domains])
    covs = np.array([np.cov(d.T, bias=True) for d in domains])
    mean, cov = ot.gaussian.bures_wasserstein_barycenter(means, covs, num_iter=10_000, eps=1e-14)
    np.testing.assert_allclose(est.mean_, mean, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(est.covariance_, cov, atol=1e-6 * np.abs(cov).max())


def test_auto_covariance_ridge_only_for_domains_with_too_few_rows(rng):
    """A domain of 3 rows in 4-D has a singular covariance: "auto" gives it the 1e-4 ridge,
    and the full-rank domain none."""
    from skot.solvers import bures_barycenter

    X = np.vstack([rng.normal(size=(50, 4)), rng.normal(size=(3, 4)) + 1.0])
    sd = np.r_[np.zeros(50, dtype=int), np.ones(3, dtype=int)]
    auto = WassersteinBarycenter(method="gaussian").fit(X, sample_domain=sd)
    assert np.all(np.isfinite(auto.transform(X, sample_domain=sd)))
    singular = np.cov(X[50:].T, bias=True)
    expected = bures_barycenter([X[:50].mean(axis=0), X[50:].mean(axis=0)],
                                [np.cov(X[:50].T, bias=True), singular + 1e-4 * np.trace(singular) * np.eye(4)],
                                tol=auto.tol)
    np.testing.assert_allclose(auto.covariance_, expected.covariance, rtol=1e-9)


def test_two_domains_with_equal_weights_give_the_mccann_midpoint(rng):
    xs = rng.normal(size=(400, 2)) @ np.array([[2.0, 0.3], [0.0, 0.5]])
    xt = rng.normal(size=(400, 2)) @ np.array([[0.4, 0.0], [0.2, 1.5]]) + 3.0
    X, _, sd = pack(xs, xt)
    bary = WassersteinBarycenter(method="gaussian", covariance_reg=0.0, tol=1e-12).fit(X, sample_domain=sd)
    half = GaussianBuresMap(t=0.5, reg=0.0).fit(X, sample_domain=sd)
    np.testing.assert_allclose(bary.mean_, half.transform(xs).mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(bary.covariance_, np.cov(half.transform(xs).T, bias=True), atol=1e-8)


def test_one_dimensional_free_support_barycenter_averages_quantiles():
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.normal(size=150)), np.sort(rng.exponential(size=150) * 2 + 3)
    X, _, sd = pack(a[:, None], b[:, None])
    est = WassersteinBarycenter(n_support=150, random_state=0).fit(X, sample_domain=sd)
    np.testing.assert_allclose(np.sort(est.support_[:, 0]), 0.5 * (a + b), atol=1e-10)
    # Debiased entropic plans land close to the exact barycenter.
    entropic = WassersteinBarycenter(n_support=150, reg=3e-3, tol=1e-3, random_state=0).fit(X, sample_domain=sd)
    assert np.abs(np.sort(entropic.support_[:, 0]) - 0.5 * (a + b)).mean() < 0.03


def test_transform_maps_each_domain_onto_the_barycenter():
    rng = np.random.default_rng(2)
    domains = [rng.normal(size=(120, 2)) + shift for shift in ([0, 0], [4, 0], [0, 4])]
    X, sd = stacked(domains)
    est = WassersteinBarycenter(n_support=120, map_reg=0.01, random_state=0).fit(X, sample_domain=sd)
    mapped = est.fit_transform(X, sample_domain=sd)
    np.testing.assert_allclose(mapped, est.transform(X, sample_domain=sd))
    centre = np.mean([[0, 0], [4, 0], [0, 4]], axis=0)
    for k in range(3):
        # Batch effect removed: every domain lands around the barycenter's centre.
        assert np.linalg.norm(mapped[sd == k].mean(axis=0) - centre) < 0.3
    assert np.linalg.norm(est.support_.mean(axis=0) - centre) < 0.1
    with pytest.raises(ValueError, match="sample_domain is needed.*0 of them target"):
        est.transform(X)  # three source domains: rows without domain have no map
    # With one target domain, rows without domain are target rows, mapped by its map.
    with_target = WassersteinBarycenter(n_support=120, random_state=0).fit(X, sample_domain=np.where(sd == 2, -1, sd))
    np.testing.assert_array_equal(with_target.transform(X[:5]),
                                  with_target.transform(X[:5], sample_domain=np.full(5, -1)))
    with pytest.raises(ValueError, match=r"Domains \[7\] were not seen"):
        est.transform(X[:3], sample_domain=[0, 1, 7])
    with pytest.raises(ValueError, match="weights must hold 3"):
        WassersteinBarycenter(weights=[0.5, 0.5]).fit(X, sample_domain=sd)


def test_free_support_objective_matches_pot(rng):
    ot = pytest.importorskip("ot")
    domains = [rng.normal(size=(60, 2)) * s + m for s, m in ((1.0, 0.0), (0.5, 3.0), (2.0, -2.0))]
    X, sd = stacked(domains)
    est = WassersteinBarycenter(n_support=60, random_state=0).fit(X, sample_domain=sd)
    uniform = np.full(60, 1 / 60)
    theirs = ot.lp.free_support_barycenter(domains, [uniform] * 3, est.support_.copy() + 0.1)

    def objective(support):
        return np.mean([ot.emd2(uniform, uniform, ot.dist(support, d)) for d in domains])

    assert objective(est.support_) <= 1.02 * objective(theirs)


@pytest.mark.parametrize("method", ["gaussian", "free_support"])
def test_domains_unseen_in_fit_get_maps_fitted_at_transform(method):
    """new_domains="fit": a domain first seen at transform is mapped as a fitted domain with the
    same rows is (the same Gaussian fit, or the same entropic plan onto the support);
    new_domains="error" refuses it."""
    rng = np.random.default_rng(8)
    first, second = rng.normal(size=(60, 2)), rng.normal(size=(50, 2)) * [2.0, 0.5] + 3.0
    X = np.vstack([first, second])
    domain = np.r_[np.zeros(60, int), np.ones(50, int)]
    model = WassersteinBarycenter(method=method, n_support=30, new_domains="fit", random_state=0)
    model.fit(X, sample_domain=domain)
    as_fitted = model.transform(second, sample_domain=np.ones(50, int))
    as_new = model.transform(second, sample_domain=np.full(50, 7))
    np.testing.assert_allclose(as_new, as_fitted, atol=1e-8)
    mixed = model.transform(X, sample_domain=np.r_[np.zeros(60, int), np.full(50, 7)])
    np.testing.assert_allclose(mixed[60:], as_fitted, atol=1e-8)
    with pytest.raises(ValueError, match="were not seen in fit.*new_domains='fit'"):
        model.set_params(new_domains="error").transform(second, sample_domain=np.full(50, 7))
