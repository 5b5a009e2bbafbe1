"""Array-API inputs (docs/backends.rst): under ``array_api_dispatch``, ``array_api_strict``
arrays in give ``array_api_strict`` arrays out, with the NumPy answer.

scikit-learn's dispatch needs ``SCIPY_ARRAY_API=1`` before SciPy is imported (conftest sets it).
"""

import numpy as np
import pytest
import sklearn
from skot.backends._arrays import array_namespace

from skot import GaussianBuresMap, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter, pack

xp = pytest.importorskip("array_api_strict")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(80, 3)) @ [[1.0, 0.2, 0.0], [0.0, 0.7, 0.1], [0.3, 0.0, 1.2]]
    return pack(source, rng.normal(size=(60, 3)) * 0.5 + 2.0)


def to_numpy(array):
    return np.asarray(array)


@pytest.mark.parametrize("params", [{}, {"entropic_reg": 0.5, "t": 0.6}])
def test_gaussian_bures_map_keeps_the_namespace(data, params):
    X, _, domain = data
    reference = GaussianBuresMap(**params).fit(X, sample_domain=domain)
    with sklearn.config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X)
        model = GaussianBuresMap(**params).fit(X_xp, sample_domain=domain)
        mapped = model.transform(X_xp)
        adapted = model.fit_transform(X_xp, sample_domain=domain)
        inverse = model.inverse_transform(mapped)
        score = model.score(X_xp, sample_domain=domain)
    for array in (mapped, adapted, inverse, model.coef_, model.intercept_, model.mean_source_):
        assert array_namespace(array) is xp
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_numpy(adapted), reference.fit_transform(X, sample_domain=domain), atol=1e-10)
    np.testing.assert_allclose(to_numpy(inverse), X, atol=1e-9)
    assert model.distance_ == pytest.approx(reference.distance_, rel=1e-10)
    assert score == pytest.approx(reference.score(X, sample_domain=domain), rel=1e-8, abs=1e-12)


def test_gaussian_bures_map_float32_and_reference_target():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 2)).astype(np.float32) * 3.0 + 1.0
    reference = GaussianBuresMap().fit(X)
    with sklearn.config_context(array_api_dispatch=True):
        mapped = GaussianBuresMap().fit_transform(xp.asarray(X))
    assert mapped.dtype == xp.float32
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X), rtol=1e-5, atol=1e-5)


def test_unsupported_combinations_are_named(data):
    X, _, domain = data
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="GaussianBuresMap with these parameters does not support"):
            GaussianBuresMap(covariance="ledoit_wolf").fit(xp.asarray(X), sample_domain=domain)
        with pytest.raises(ValueError, match="backend='numba' does not take array_api_strict arrays"):
            GaussianBuresMap(backend="numba").fit(xp.asarray(X), sample_domain=domain)
        model = GaussianBuresMap().fit(xp.asarray(X), sample_domain=domain)
        with pytest.raises(ValueError, match="must use the same namespace"):
            model.transform(X)


@pytest.mark.parametrize("params", [{}, {"metric": "euclidean", "reg": 0.1}, {"reg_m": 1.0}, {"cost_scale": "median"}])
def test_sinkhorn_transport_keeps_the_namespace(data, params):
    X, _, domain = data
    reference = SinkhornTransport(**params).fit(X, sample_domain=domain)
    with sklearn.config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X)
        model = SinkhornTransport(**params).fit(X_xp, sample_domain=domain)
        mapped = model.transform(X_xp)
        adapted = model.fit_transform(X_xp, sample_domain=domain)
        inverse = model.inverse_transform(X_xp)
        plan = model.transport_plan()
        score = model.score(X_xp, sample_domain=domain)
    assert model.backend_ == "array_api"
    for array in (mapped, adapted, inverse, plan, model.potential_source_, model.support_target_):
        assert array_namespace(array) is xp
    np.testing.assert_allclose(to_numpy(model.potential_source_), reference.potential_source_, atol=1e-6)
    # Both solves stop at tol = 1e-9 on the marginals: maps agree to 1e-6 (the acceptance line).
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X), atol=1e-6)
    np.testing.assert_allclose(to_numpy(adapted), reference.fit_transform(X, sample_domain=domain), atol=1e-6)
    np.testing.assert_allclose(to_numpy(inverse), reference.inverse_transform(X), atol=1e-6)
    np.testing.assert_allclose(to_numpy(plan), reference.transport_plan(), atol=1e-8)
    assert model.transport_cost_ == pytest.approx(reference.transport_cost_, rel=1e-8)
    assert score == pytest.approx(reference.score(X, sample_domain=domain), rel=1e-6, abs=1e-9)


def test_sinkhorn_transport_reference_target_and_float32():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(70, 2)).astype(np.float32)
    reference = SinkhornTransport(n_target_samples=50, random_state=0).fit(X)
    with sklearn.config_context(array_api_dispatch=True):
        model = SinkhornTransport(n_target_samples=50, random_state=0).fit(xp.asarray(X))
        mapped = model.transform(xp.asarray(X))
    assert mapped.dtype == xp.float32
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X), rtol=1e-5, atol=1e-5)
    with sklearn.config_context(array_api_dispatch=True), pytest.raises(ValueError, match="does not sample"):
        model.sample(xp.asarray(X))


@pytest.mark.parametrize("params", [{"target": 6}, {"reg": 0.05}, {"target": "points"}])
def test_semidiscrete_map_keeps_the_namespace(params):
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(400, 2))
    if params.get("target") == "points":
        params = {"target": rng.uniform(size=(7, 2)), "tol": 1e-6}
    reference = SemiDiscreteMap(solver="lbfgs", random_state=0, **params).fit(X)
    with sklearn.config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X)
        model = SemiDiscreteMap(random_state=0, **params).fit(X_xp)
        cells, mapped = model.predict(X_xp), model.transform(X_xp)
        score = model.score(X_xp)
    for array in (cells, mapped, model.potential_, model.target_points_, model.labels_, model.cell_masses_):
        assert array_namespace(array) is xp
    np.testing.assert_allclose(to_numpy(model.target_points_), reference.target_points_, atol=1e-6)
    if model.epsilon_ > 0:
        # (The hard semi-dual of a sample is flat near its maximum: there the cells are compared.)
        np.testing.assert_allclose(to_numpy(model.potential_), reference.potential_, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(cells), reference.predict(X))
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X), atol=1e-6)
    np.testing.assert_allclose(to_numpy(model.cell_masses_), reference.cell_masses_, atol=1e-9)
    assert score == pytest.approx(reference.score(X), rel=1e-8)


def test_semidiscrete_numpy_only_solvers_are_named():
    X = xp.asarray(np.random.default_rng(6).uniform(size=(300, 2)))
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="SemiDiscreteMap with these parameters does not support"):
            SemiDiscreteMap(solver="newton").fit(X)
        with pytest.raises(ValueError, match="partial_fit runs on NumPy arrays"):
            SemiDiscreteMap().partial_fit(X)


# The entropic free-support fixed point stalls above tol on these data (NumPy too; noted for
# the barycenter solver): both runs make the same 20 iterations, which are compared.
@pytest.mark.filterwarnings("ignore:WassersteinBarycenter did not converge")
@pytest.mark.parametrize("params", [{"n_support": 30}, {"n_support": 30, "reg": 0.3, "max_iter": 20},
                                    {"method": "gaussian"}])
def test_wasserstein_barycenter_keeps_the_namespace(params):
    rng = np.random.default_rng(7)
    domains = [rng.normal(size=(40, 2)) * s + shift for s, shift in ((0.5, 0.0), (1.0, 2.0), (0.7, [0.0, 3.0]))]
    X = np.vstack(domains)
    domain = np.repeat([0, 1, 2], 40)
    reference = WassersteinBarycenter(random_state=0, **params).fit(X, sample_domain=domain)
    with sklearn.config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X)
        model = WassersteinBarycenter(random_state=0, **params).fit(X_xp, sample_domain=domain)
        mapped = model.transform(X_xp, sample_domain=domain)
        adapted = model.fit_transform(X_xp, sample_domain=domain)
    fitted = ("mean_", "covariance_", "coefs_") if params.get("method") == "gaussian" else ("support_", "support_potentials_")
    for array in (mapped, adapted, *(getattr(model, name) for name in fitted)):
        assert array_namespace(array) is xp
    for name in fitted:
        np.testing.assert_allclose(to_numpy(getattr(model, name)), getattr(reference, name), atol=1e-6)
    np.testing.assert_allclose(to_numpy(mapped), reference.transform(X, sample_domain=domain), atol=1e-6)
    np.testing.assert_allclose(to_numpy(adapted), to_numpy(mapped), atol=1e-12)
