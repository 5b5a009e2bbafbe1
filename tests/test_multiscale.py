"""Multiscale Sinkhorn: block clouds, certified truncated soft-mins, the solver, the estimator."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import logsumexp

from skot import OTDomainAdapter, SinkhornTransport, WassersteinBarycenter, pack
from skot.backends._costs import max_sqeuclidean, pairwise_cost
from skot.backends._multiscale import BlockSparseGeometry, block_cloud, reduce_blocks
from skot.solvers import multiscale as multiscale_module
from skot.solvers import multiscale_sinkhorn

from .reference import textbook_sinkhorn


def clouds(n, m, dim, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, dim))
    y = 0.5 + 0.15 * rng.normal(size=(m, dim))
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    return x, y, a / a.sum(), b / b.sum()


def without_constant(difference):
    """Potentials are defined up to f + c, g - c: compare after removing the mean offset."""
    return np.abs(difference - difference.mean()).max()


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_block_cloud_is_a_kd_partition(dim):
    x = np.random.default_rng(dim).normal(size=(1000, dim))
    cloud = block_cloud(x, 32, 4)
    assert np.array_equal(np.sort(cloud.order), np.arange(1000))
    assert np.array_equal(cloud.sorted_points(dim), x[cloud.order])
    assert np.diff(cloud.leaf_starts).max() <= 32
    assert set(cloud.starts) <= set(cloud.leaf_starts)
    for block in range(cloud.n_blocks):
        points = cloud.coordinates[:, cloud.starts[block]:cloud.starts[block + 1]].T
        assert np.all(points >= cloud.lower[block]) and np.all(points <= cloud.upper[block])
        assert np.linalg.norm(points - cloud.centres[block], axis=1).max() <= cloud.radii[block] + 1e-15


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_truncated_softmin_bounds_what_it_skips(dim):
    x, y, a, _ = clouds(1500, 1200, dim)
    eps = 2e-3
    source, target = block_cloud(x, 32, 2), block_cloud(y, 32, 2)
    xs, ys = source.sorted_points(dim), target.sorted_points(dim)
    # A Sinkhorn-like potential: the source weights and a smooth function.
    h = eps * np.log(a[source.order]) + 0.05 * np.sin(4 * xs.sum(axis=1))
    exact = -eps * logsumexp((h[:, None] - pairwise_cost(xs, ys, "sqeuclidean")) / eps, axis=0)
    everything, (_, all_pairs) = reduce_blocks(source, h, target, eps, 0.0)
    np.testing.assert_allclose(everything, exact, rtol=0, atol=1e-12)
    previous_pairs = all_pairs
    for budget in (1e-8, 1e-4, 1e-2):
        truncated, (neglected, pairs) = reduce_blocks(source, h, target, eps, budget)
        skipped = np.expm1((truncated - exact) / eps)  # true relative mass left out, >= 0
        # (values carry ~1e-15 absolute rounding, 1e-12 relative to eps = 2e-3)
        assert np.all(skipped >= -1e-11)
        assert np.all(skipped <= neglected * (1 + 1e-9) + 1e-11)
        assert neglected.max() <= budget * (1 + 1e-9)  # the stopping rule's own guarantee
        assert pairs < previous_pairs  # a looser budget visits fewer blocks
        previous_pairs = pairs


@pytest.mark.parametrize("n, m, eps", [(1300, 1100, 0.02), (2500, 60, 0.01)])  # (n >> m: m is never coarsened)
def test_multiscale_matches_the_textbook_solver(n, m, eps):
    x, y, a, b = clouds(n, m, 2, seed=1)
    cost = pairwise_cost(x, y, "sqeuclidean")
    plan = textbook_sinkhorn(cost, a, b, eps)
    result = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-11, with_cost=True)
    assert result.converged
    # The textbook potentials from its plan: eps log(P / (a b)) + C = f_i + g_j.
    additive = eps * np.log(plan / np.outer(a, b)) + cost
    f_ref, g_ref = additive[:, 0], additive[0, :] - additive[0, 0]
    offset = (result.potential_source - f_ref).mean()
    assert without_constant(result.potential_source - f_ref) < 1e-6
    assert without_constant(result.potential_target - g_ref) < 1e-6
    assert abs((result.potential_target - g_ref).mean() + offset) < 1e-6
    np.testing.assert_allclose(result.transport_cost, (plan * cost).sum(), rtol=1e-7)
    # The result carries its problem in the points' order: the plan and the cost over all pairs.
    assert result.plan_cost() == result.transport_cost
    np.testing.assert_allclose(result.plan(), plan, atol=1e-9, rtol=0)
    np.testing.assert_allclose(replace(result, transport_cost=None).plan_cost(), (plan * cost).sum(), rtol=1e-7)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_certified_errors_bound_the_exact_marginals(dim):
    x, y, a, b = clouds(1500, 1300, dim, seed=dim)
    eps = 1e-3 * max_sqeuclidean(x, y)
    result = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-4)
    assert result.converged and max(result.error, result.marginal_error) <= 1e-4
    cost = pairwise_cost(x, y, "sqeuclidean")
    log_plan = (result.potential_source[:, None] + result.potential_target[None, :] - cost) / eps
    plan = np.outer(a, b) * np.exp(log_plan)
    assert np.abs(plan.sum(axis=1) - a).sum() <= result.error * (1 + 1e-9) + 1e-12
    assert np.abs(plan.sum(axis=0) - b).sum() <= result.marginal_error * (1 + 1e-9) + 1e-12
    if dim < 3:  # (in 3-D, 1500 points are too few for the kernel to be sparse)
        assert result.n_costs < 2 * cost.size * result.n_iter  # truncation skipped costs


def test_too_large_a_budget_is_tightened_until_certified():
    x, y, a, b = clouds(1500, 1500, 2, seed=3)
    eps = 2e-3
    result = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-7, budget=0.3)
    assert result.converged and max(result.error, result.marginal_error) <= 1e-7
    reference = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-10)
    assert without_constant(result.potential_source - reference.potential_source) < 1e-6 * 10


def test_inputs_are_not_modified():
    x, y, a, b = clouds(1200, 1100, 2)
    copies = [v.copy() for v in (x, y, a, b)]
    multiscale_sinkhorn(x, y, a, b, 0.01, tol=1e-6)
    for original, copy in zip((x, y, a, b), copies):
        assert np.array_equal(original, copy)


def test_geometry_plan_cost_matches_dense():
    x, y, a, b = clouds(1200, 1000, 2, seed=5)
    eps = 0.01
    geometry = BlockSparseGeometry(block_cloud(x, 32, 4), block_cloud(y, 32, 4), 0.0)
    hf = eps * np.log(a[geometry.clouds[0].order])
    hg = eps * np.log(b[geometry.clouds[1].order])
    xs, ys = geometry.clouds[0].sorted_points(2), geometry.clouds[1].sorted_points(2)
    cost = pairwise_cost(xs, ys, "sqeuclidean")
    expected = (np.exp((hf[:, None] + hg[None, :] - cost) / eps) * cost).sum()
    np.testing.assert_allclose(geometry.plan_cost(hf, hg, eps), expected, rtol=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_max_sqeuclidean_is_exact(dim):
    rng = np.random.default_rng(dim)
    x, y = rng.normal(size=(700, dim)), rng.random((500, dim))
    assert max_sqeuclidean(x, y) == pairwise_cost(x, y, "sqeuclidean").max()
    line = np.outer(np.arange(20.0), np.ones(dim))  # a degenerate (flat) hull
    assert max_sqeuclidean(line, line) == pairwise_cost(line, line, "sqeuclidean").max()


def test_estimator_multiscale_matches_the_dense_solver(monkeypatch):
    x, y, _, _ = clouds(1400, 1200, 2, seed=7)
    X, _, domain = pack(x, y)
    params = dict(reg=2e-3, cost_scale="max", tol=1e-10, max_iter=5000)
    forced = SinkhornTransport(multiscale=True, **params).fit(X, sample_domain=domain)
    dense = SinkhornTransport(multiscale=False, **params).fit(X, sample_domain=domain)
    assert forced.multiscale_ and not dense.multiscale_
    assert without_constant(forced.potential_source_ - dense.potential_source_) < 1e-6
    np.testing.assert_allclose(forced.transform(x[:50]), dense.transform(x[:50]), atol=1e-6)
    np.testing.assert_allclose(forced.transport_cost_, dense.transport_cost_, rtol=1e-7)
    assert forced.marginal_error_ <= 1e-10
    # "auto": off below AUTO_MIN_PAIRS or for wide kernels, on otherwise.
    assert not SinkhornTransport(**params).fit(X, sample_domain=domain).multiscale_
    monkeypatch.setattr(multiscale_module, "AUTO_MIN_PAIRS", 1000)
    assert SinkhornTransport(**params).fit(X, sample_domain=domain).multiscale_
    assert not SinkhornTransport(reg=0.05, cost_scale="max").fit(X, sample_domain=domain).multiscale_
    # In 3-D it did not pay at the sizes measured: forced only.
    x3, y3, _, _ = clouds(300, 200, 3, seed=7)
    X3, _, domain3 = pack(x3, y3)
    assert not SinkhornTransport(**params).fit(X3, sample_domain=domain3).multiscale_
    assert SinkhornTransport(multiscale=True, **params).fit(X3, sample_domain=domain3).multiscale_


@pytest.mark.parametrize("params, message", [
    (dict(metric="euclidean"), "metric='sqeuclidean'"),
    (dict(reg_m=1.0), "balanced"),
    (dict(backend="numpy"), "backend 'numpy'"),
])
def test_forced_multiscale_names_what_prevents_it(params, message):
    x, y, _, _ = clouds(60, 50, 2)
    X, _, domain = pack(x, y)
    with pytest.raises(ValueError, match=message):
        SinkhornTransport(multiscale=True, **params).fit(X, sample_domain=domain)


def test_forced_multiscale_refuses_high_dimension():
    x, y, _, _ = clouds(60, 50, 4)
    X, _, domain = pack(x, y)
    with pytest.raises(ValueError, match="dimension <= 3"):
        SinkhornTransport(multiscale=True).fit(X, sample_domain=domain)


# Five fixed-point steps on purpose (the same steps on both solvers), so the fit warns.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_barycenter_on_the_multiscale_solver_matches_the_dense_one(monkeypatch):
    rng = np.random.default_rng(11)
    domains = [rng.random((1200, 2)), 0.5 + 0.2 * rng.normal(size=(1100, 2))]
    X, sd = np.vstack(domains), np.repeat([0, 1], [1200, 1100])
    params = dict(n_support=40, reg=0.01, map_reg=0.01, max_iter=5, random_state=0)
    forced = WassersteinBarycenter(multiscale=True, **params).fit(X, sample_domain=sd)
    dense = WassersteinBarycenter(multiscale=False, **params).fit(X, sample_domain=sd)
    assert forced.multiscale_ and not dense.multiscale_
    np.testing.assert_allclose(forced.support_, dense.support_, atol=1e-6)
    np.testing.assert_allclose(forced.transform(X, sample_domain=sd), dense.transform(X, sample_domain=sd), atol=1e-6)
    # "auto": off for these sizes, on when the threshold allows; 3-D forced only.
    assert not WassersteinBarycenter(**params).fit(X, sample_domain=sd).multiscale_
    monkeypatch.setattr(multiscale_module, "AUTO_MIN_PAIRS", 1000)
    monkeypatch.setattr(multiscale_module, "AUTO_MAX_RELATIVE_EPS", 1.0)
    assert WassersteinBarycenter(**params).fit(X, sample_domain=sd).multiscale_
    with pytest.raises(ValueError, match="dimension <= 3, not 4"):
        WassersteinBarycenter(multiscale=True, **params).fit(rng.random((200, 4)), sample_domain=sd[:200])


def test_domain_adapter_forwards_multiscale_to_its_sinkhorn_transport():
    x, y, _, _ = clouds(1200, 1100, 2, seed=5)
    X, _, domain = pack(x, y)
    forced = OTDomainAdapter(reg=0.01, solver_params={"multiscale": True, "tol": 1e-9}).fit(X, sample_domain=domain)
    dense = OTDomainAdapter(reg=0.01, solver_params={"multiscale": False, "tol": 1e-9}).fit(X, sample_domain=domain)
    assert forced.transport_.multiscale_ and not dense.transport_.multiscale_
    np.testing.assert_allclose(forced.transport_.transform(x[:100]), dense.transport_.transform(x[:100]), atol=1e-6)
    assert np.abs(forced.transport_.transform(x[:100]) - x[:100]).max() > 0.1  # (a real map, not the identity)


def test_points_without_mass_get_the_dense_potentials():
    x, y, a, b = clouds(1400, 1200, 2, seed=9)
    a[:300], b[:100] = 0.0, 0.0
    a, b = a / a.sum(), b / b.sum()
    eps = 0.01
    result = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-10)
    cost = pairwise_cost(x, y, "sqeuclidean")
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(a), np.log(b)
    f, g = result.potential_source, result.potential_target
    # Every f_i (weight or not) is the soft-min of g, every g_j that of f: the dense fixed point.
    row = -eps * logsumexp((g + eps * log_b - cost) / eps, axis=1)
    column = -eps * logsumexp(((f + eps * log_a)[:, None] - cost) / eps, axis=0)
    assert result.converged
    np.testing.assert_allclose(f, row, atol=1e-12)  # (f is the last update: exact up to the truncation)
    np.testing.assert_allclose(g, column, atol=1e-9 * eps)  # (the column marginal is within 1e-10)


@pytest.mark.parametrize("change, message", [
    (lambda x, y, a, b: (x, y, -a, b), "source weights"),
    (lambda x, y, a, b: (x, y, a, 0 * b), "target weights"),
    (lambda x, y, a, b: (np.where(x > 0.9, np.nan, x), y, a, b), "source points hold NaN"),
    (lambda x, y, a, b: (x, y, a[:-1], b), r"source weights have shape \(49,\), for 50 source points"),
])
def test_bad_problems_are_named(change, message):
    x, y, a, b = clouds(50, 40, 2)
    with pytest.raises(ValueError, match=message):
        multiscale_sinkhorn(*change(x, y, a, b), 0.01)
