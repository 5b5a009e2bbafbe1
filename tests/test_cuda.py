"""Fused CUDA kernels on numba's simulator (NUMBA_ENABLE_CUDASIM=1, set in conftest) against
the dense NumPy reference. The simulator runs each GPU thread in Python: problems stay small."""

import os
import subprocess
import sys

import numpy as np
import pytest

from skot.backends import DenseGeometry, METRICS
from skot.solvers import sinkhorn

cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not os.environ.get("NUMBA_ENABLE_CUDASIM") and not cuda.is_available(),
                                reason="needs a GPU or numba's CUDA simulator")


@pytest.fixture(scope="module")
def geometries():
    from skot.backends._cuda import CudaGeometry

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), rng.normal(size=(45, 3)) + 0.5
    return {metric: (CudaGeometry(x, y, metric), DenseGeometry(x, y, metric)) for metric in METRICS}


@pytest.mark.parametrize("metric", METRICS)
def test_cuda_reductions_match_dense(geometries, metric):
    gpu, dense = geometries[metric]
    rng = np.random.default_rng(1)
    for axis, size in ((1, 45), (0, 60)):
        h = rng.normal(size=size)
        for eps in (1.0, 0.05):
            np.testing.assert_allclose(gpu.softmin(h, eps, axis), dense.softmin(h, eps, axis), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(gpu.barycentric_map(h, eps, axis), dense.barycentric_map(h, eps, axis),
                                       rtol=1e-10, atol=1e-12)
    h = rng.normal(size=45)
    np.testing.assert_array_equal(gpu.argmax(h), dense.argmax(h))
    hf, hg = 0.1 * rng.normal(size=60), 0.1 * rng.normal(size=45)
    np.testing.assert_allclose(gpu.plan(hf, hg, 0.3), dense.plan(hf, hg, 0.3), rtol=1e-12)
    assert gpu.plan_cost(hf, hg, 0.3) == pytest.approx(dense.plan_cost(hf, hg, 0.3), rel=1e-12)
    a, b = rng.uniform(size=60), rng.uniform(size=45)
    a, b = a / a.sum(), b / b.sum()
    for kind in ("mean", "max", "median"):
        assert gpu.cost_statistic(kind, a, b) == pytest.approx(dense.cost_statistic(kind, a, b), rel=1e-12)


def test_cuda_soft_masses_and_zero_weights_match_dense(geometries):
    gpu, dense = geometries["sqeuclidean"]
    rng = np.random.default_rng(2)
    h, weights = rng.normal(size=45), rng.uniform(size=60)
    weights[:5] = 0.0
    for computed, expected in zip(gpu.soft_masses(h, 0.2, weights), dense.soft_masses(h, 0.2, weights)):
        np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="largest softmax weights"):
        gpu.soft_masses(h, 0.2, weights, n_largest=4)


def test_sinkhorn_on_the_cuda_geometry_matches_dense():
    from skot.backends._cuda import CudaGeometry

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) * 0.5
    a, b = np.full(30, 1 / 30), np.full(25, 1 / 25)
    expected = sinkhorn(DenseGeometry(x, y, "sqeuclidean"), a, b, 0.1, tol=1e-10)
    result = sinkhorn(CudaGeometry(x, y, "sqeuclidean"), a, b, 0.1, tol=1e-10)
    np.testing.assert_allclose(result.potential_source, expected.potential_source, atol=1e-6)
    np.testing.assert_allclose(result.potential_target, expected.potential_target, atol=1e-6)


def test_cupy_backend_name_gives_the_cuda_geometry(geometries):
    from skot.backends import get_geometry
    from skot.backends._cuda import CudaGeometry

    gpu, dense = geometries["sqeuclidean"]
    geometry = get_geometry("cupy", gpu.x, gpu.y, "sqeuclidean")
    assert isinstance(geometry, CudaGeometry)
    h = np.linspace(-1.0, 1.0, 45)
    np.testing.assert_allclose(geometry.softmin(h, 0.1, 1), dense.softmin(h, 0.1, 1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="does not sample"):
        geometry.sample(h, 0.1, 1, 2, np.random.default_rng(0))


def test_import_skot_never_loads_cuda_or_cupy():
    code = "import sys, skot; print(any(m.startswith(('numba.cuda', 'cupy', 'numba_cuda')) for m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_sinkhorn_transport_on_the_cuda_kernels_matches_numba(monkeypatch):
    """The estimator's whole fit and transform with backend_ == "cupy" (what CuPy arrays get),
    run on NumPy arrays through the simulator: the same map as the numba backend."""
    from skot import SinkhornTransport, pack
    from skot.estimators._base import DomainTransformerMixin

    rng = np.random.default_rng(4)
    X, _, domain = pack(rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + 2.0)
    expected = SinkhornTransport(reg=0.1).fit(X, sample_domain=domain).transform(X[:30])
    prepare = DomainTransformerMixin._prepare_fit

    def on_cuda_kernels(self, *args, **kwargs):
        X, _, data = prepare(self, *args, **kwargs)
        return X, "cupy", data

    monkeypatch.setattr(DomainTransformerMixin, "_prepare_fit", on_cuda_kernels)
    model = SinkhornTransport(reg=0.1).fit(X, sample_domain=domain)
    assert model.backend_ == "cupy"
    np.testing.assert_allclose(model.transform(X[:30]), expected, atol=1e-9)


def test_only_sinkhorn_transport_runs_the_cuda_kernels_on_cupy_arrays(monkeypatch):
    """CuPy arrays give backend_ "cupy" (fused kernels) to SinkhornTransport and the dense
    array-API path to the others (namespace faked: no CuPy here)."""
    import array_api_strict

    import sklearn

    import skot.backends
    from skot import GaussianBuresMap, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter

    monkeypatch.setattr(skot.backends, "is_cupy_namespace", lambda xp: True)
    X = array_api_strict.asarray(np.zeros((3, 2)))
    with sklearn.config_context(array_api_dispatch=True):
        assert SinkhornTransport()._backend_for(X) == "cupy"
        for estimator in (GaussianBuresMap(), SemiDiscreteMap(), WassersteinBarycenter()):
            assert estimator._backend_for(X) == "array_api"
