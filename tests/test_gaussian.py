"""GaussianBuresMap and the Gaussian solvers against closed forms."""

import numpy as np
import pytest
from scipy.linalg import sqrtm
from sklearn.covariance import OAS, LedoitWolf, ShrunkCovariance

from skot import GaussianBuresMap, SinkhornTransport, WassersteinBarycenter, pack
from skot.solvers import bures_map, bures_wasserstein_distance, entropic_gaussian_map, psd_power


def random_spd(rng, d, scale=1.0):
    m = rng.normal(size=(d, d))
    return scale * (m @ m.T / d + 0.2 * np.eye(d))


@pytest.fixture
def two_gaussians(rng):
    d = 4
    cov_s, cov_t = random_spd(rng, d), random_spd(rng, d, 2.0)
    xs = rng.multivariate_normal(np.zeros(d), cov_s, size=500)
    xt = rng.multivariate_normal(np.arange(d, dtype=float), cov_t, size=600)
    return xs, xt


def test_map_pushes_source_gaussian_exactly_onto_target(two_gaussians):
    xs, xt = two_gaussians
    X, _, sd = pack(xs, xt)
    est = GaussianBuresMap(reg=0.0).fit(X, sample_domain=sd)
    mapped = est.transform(xs)
    np.testing.assert_allclose(mapped.mean(axis=0), xt.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(np.cov(mapped.T, bias=True), np.cov(xt.T, bias=True), atol=1e-10)
    # Gradient of a convex function: symmetric positive definite linear part.
    np.testing.assert_allclose(est.coef_, est.coef_.T, atol=1e-12)
    assert np.linalg.eigvalsh(est.coef_).min() > 0


def test_distance_for_commuting_covariances_is_explicit():
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    m_s, m_t = np.zeros(3), np.array([1.0, -2.0, 0.5])
    expected = np.sqrt(np.sum((m_s - m_t) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert bures_wasserstein_distance(m_s, np.diag(a), m_t, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(bures_map(np.diag(a), np.diag(b)), np.diag(np.sqrt(b / a)), atol=1e-12)


def test_distance_matches_a_textbook_formula_for_general_covariances(rng):
    cov_s, cov_t = random_spd(rng, 5), random_spd(rng, 5, 3.0)
    root = np.real(sqrtm(cov_s))
    expected = np.trace(cov_s) + np.trace(cov_t) - 2 * np.trace(np.real(sqrtm(root @ cov_t @ root)))
    assert bures_wasserstein_distance(np.zeros(5), cov_s, np.zeros(5), cov_t) ** 2 == pytest.approx(expected, rel=1e-10)
    linear = bures_map(cov_s, cov_t)
    np.testing.assert_allclose(linear @ cov_s @ linear, cov_t, atol=1e-10)


def test_inverse_transform_and_geodesic(two_gaussians):
    xs, xt = two_gaussians
    X, _, sd = pack(xs, xt)
    full = GaussianBuresMap().fit(X, sample_domain=sd)
    np.testing.assert_allclose(full.inverse_transform(full.transform(xs)), xs, atol=1e-10)
    identity = GaussianBuresMap(t=0.0).fit(X, sample_domain=sd)
    np.testing.assert_allclose(identity.transform(xs), xs, atol=1e-12)
    half = GaussianBuresMap(t=0.5).fit(X, sample_domain=sd)
    np.testing.assert_allclose(half.transform(xs), 0.5 * (xs + full.transform(xs)), atol=1e-10)
    np.testing.assert_allclose(half.inverse_transform(half.transform(xs)), xs, atol=1e-10)


def test_whitening_when_there_are_no_target_rows(rng):
    X = rng.normal(size=(400, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.2]]) + 7.0
    white = GaussianBuresMap(reg=0.0).fit_transform(X)
    np.testing.assert_allclose(white.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(3), atol=1e-10)
    # The OT whitening is the symmetric (ZCA) one: coef = C^-1/2.
    est = GaussianBuresMap(reg=0.0).fit(X)
    np.testing.assert_allclose(est.coef_, psd_power(np.cov(X.T, bias=True), -0.5), atol=1e-10)
    uniform = GaussianBuresMap(target="uniform").fit(X)
    np.testing.assert_allclose(uniform.covariance_target_, np.eye(3) / 12)
    points = rng.uniform(size=(50, 3))
    np.testing.assert_allclose(GaussianBuresMap(target=points).fit(X).mean_target_, points.mean(axis=0))


def test_entropic_map_matches_large_sample_sinkhorn_and_tends_to_bures(rng):
    d, n = 2, 1500
    cov_s = np.array([[1.0, 0.4], [0.4, 0.6]])
    cov_t = np.array([[0.5, -0.2], [-0.2, 1.5]])
    eps = 0.5
    xs = rng.multivariate_normal(np.zeros(d), cov_s, size=n)
    xt = rng.multivariate_normal(np.ones(d), cov_t, size=n)
    X, _, sd = pack(xs, xt)
    gaussian = GaussianBuresMap(entropic_reg=eps, reg=0.0).fit(X, sample_domain=sd)
    sinkhorn = SinkhornTransport(reg=eps, cost_scale=None, tol=1e-9).fit(X, sample_domain=sd)
    probe = rng.multivariate_normal(np.zeros(d), cov_s, size=200)
    # Same entropic problem (cost |x - y|^2, eps KL): the empirical entropic map
    # converges to the Gaussian closed form; sampling error is a few percent here.
    gap = np.linalg.norm(gaussian.transform(probe) - sinkhorn.transform(probe), axis=1).mean()
    spread = np.linalg.norm(gaussian.transform(probe) - gaussian.mean_target_, axis=1).mean()
    assert gap < 0.06 * spread
    # A different eps is clearly distinguishable at this sample size.
    other = GaussianBuresMap(entropic_reg=5 * eps, reg=0.0).fit(X, sample_domain=sd)
    assert np.linalg.norm(other.transform(probe) - sinkhorn.transform(probe), axis=1).mean() > 2 * gap
    # eps -> 0 gives the Bures map.
    exact = bures_map(gaussian.covariance_source_, gaussian.covariance_target_)
    gaps = [np.abs(entropic_gaussian_map(gaussian.covariance_source_, gaussian.covariance_target_, e) - exact).max()
            for e in (1e-1, 1e-3, 1e-6)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5


@pytest.mark.parametrize("covariance, estimator", [("ledoit_wolf", LedoitWolf()), ("oas", OAS()),
                                                    (ShrunkCovariance(shrinkage=0.3), ShrunkCovariance(shrinkage=0.3))])
def test_covariance_estimators(two_gaussians, covariance, estimator):
    xs, xt = two_gaussians
    X, _, sd = pack(xs, xt)
    est = GaussianBuresMap(covariance=covariance, reg=0.0).fit(X, sample_domain=sd)
    np.testing.assert_allclose(est.covariance_source_, estimator.fit(xs).covariance_, atol=1e-12)
    with pytest.raises(ValueError, match="does not support sample_weight"):
        GaussianBuresMap(covariance=covariance).fit(X, sample_domain=sd, sample_weight=np.arange(len(X)) + 1.0)


def test_psd_power_is_stable_for_near_singular_and_large_matrices(rng):
    d = 300
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    values = np.logspace(-14, 0, d)
    values[:5] = 0.0
    matrix = (basis * values) @ basis.T
    root = psd_power(matrix, 0.5)
    np.testing.assert_allclose(root @ root, matrix, atol=1e-12)
    inverse_root = psd_power(matrix, -0.5)
    assert np.all(np.isfinite(inverse_root)) and np.allclose(inverse_root, inverse_root.T)


def test_score_is_zero_for_the_fitted_alignment(two_gaussians):
    xs, xt = two_gaussians
    X, _, sd = pack(xs, xt)
    est = GaussianBuresMap(reg=0.0).fit(X, sample_domain=sd)
    assert est.score(X, sample_domain=sd) == pytest.approx(0.0, abs=1e-8)
    assert GaussianBuresMap(t=0.0).fit(X, sample_domain=sd).score(X, sample_domain=sd) < -1.0


@pytest.mark.parametrize("params, match", [({"t": 1.5}, "t"), ({"covariance": "robust"}, "covariance"),
                                           ({"entropic_reg": -1.0}, "entropic_reg"), ({"backend": "gpu"}, "backend")])
def test_bad_parameters(params, match, rng):
    with pytest.raises(ValueError, match=match):
        GaussianBuresMap(**params).fit(rng.normal(size=(10, 2)))


def test_inputs_are_never_modified(two_gaussians):
    xs, xt = two_gaussians
    X, y, sd = pack(xs, xt, np.zeros(len(xs), dtype=int))
    copies = [X.copy(), y.copy(), sd.copy()]
    est = GaussianBuresMap().fit(X, y)
    est.fit_transform(X, sample_domain=sd)
    est.inverse_transform(X)
    est.score(X, y)
    for before, after in zip(copies, (X, y, sd)):
        np.testing.assert_array_equal(before, after)


def test_bures_barycenter_of_commuting_covariances_is_explicit():
    from skot.solvers import bures_barycenter

    diagonals = np.array([[1.0, 4.0, 0.5], [9.0, 1.0, 2.0], [0.25, 0.25, 8.0]])
    weights = np.array([0.5, 0.3, 0.2])
    means = np.arange(9.0).reshape(3, 3)
    result = bures_barycenter(means, [np.diag(v) for v in diagonals], weights)
    assert result.converged
    np.testing.assert_allclose(result.mean, weights @ means)
    np.testing.assert_allclose(result.covariance, np.diag((weights @ np.sqrt(diagonals)) ** 2), atol=1e-10)


def test_bures_barycenter_of_two_is_the_mccann_midpoint(rng):
    """Two Gaussians with equal weights: the barycenter is the t = 1/2 push-forward."""
    from skot.solvers import bures_barycenter, bures_map

    cov_a, cov_b = random_spd(rng, 4), random_spd(rng, 4, 3.0)
    result = bures_barycenter(np.zeros((2, 4)), [cov_a, cov_b])
    midpoint = 0.5 * (np.eye(4) + bures_map(cov_a, cov_b))
    np.testing.assert_allclose(result.covariance, midpoint @ cov_a @ midpoint, atol=1e-9)


@pytest.mark.parametrize("params", [{}, {"entropic_reg": 0.3}, {"target": "uniform"}, {"reg": 1e-3, "t": 0.5}])
def test_few_rows_in_many_features_solve_in_their_span(monkeypatch, params):
    """17 rows in 40 features: the fit in the span of the centred rows (plus the ridge's or
    the reference's isotropic part) is the dense d x d one."""
    from skot.solvers import gaussian

    rng = np.random.default_rng(0)
    X, _, sd = pack(rng.normal(size=(8, 40)) @ rng.normal(size=(40, 40)) * 0.2, rng.normal(size=(9, 40)) + 1.0)
    if "target" in params:
        X, sd = X[:8], sd[:8]
    fast = GaussianBuresMap(**params).fit(X, sample_domain=sd)
    monkeypatch.setattr(gaussian, "SUBSPACE_MAX_ROWS", 10**9)
    dense = GaussianBuresMap(**params).fit(X, sample_domain=sd)
    for name in ("coef_", "intercept_", "covariance_source_", "covariance_target_", "mean_target_"):
        expected = getattr(dense, name)
        np.testing.assert_allclose(getattr(fast, name), expected, atol=1e-7 * np.abs(expected).max(), err_msg=name)
    np.testing.assert_allclose(fast.distance_, dense.distance_, rtol=1e-10)


def test_gaussian_barycenter_of_few_rows_in_many_features_is_the_dense_one(monkeypatch):
    from skot.solvers import gaussian

    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(6, 50)) * (k + 1) * 0.3 + k for k in range(3)])
    sd = np.repeat([0, 1, 2], 6)
    fast = WassersteinBarycenter(method="gaussian").fit(X, sample_domain=sd)
    monkeypatch.setattr(gaussian, "SUBSPACE_MAX_ROWS", 10**9)
    dense = WassersteinBarycenter(method="gaussian").fit(X, sample_domain=sd)
    np.testing.assert_allclose(fast.covariance_, dense.covariance_, atol=1e-10 * np.abs(dense.covariance_).max())
    np.testing.assert_allclose(fast.transform(X, sample_domain=sd), dense.transform(X, sample_domain=sd), atol=1e-9)
