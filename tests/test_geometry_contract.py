"""One contract for every geometry: each backend x each metric against the dense reference.

A new backend is one line of ``GEOMETRIES`` (how to build it and how to read its arrays); a new
metric is one entry of ``METRIC_DESCRIPTIONS`` and runs here through every backend, as the
throwaway metric below does. Each geometry is checked on the reductions it ``provides``; the
others must raise.
"""

from unittest import mock

import numpy as np
import pytest
import scipy.special

from skot.backends import (METRICS, CostMatrixGeometry, DenseGeometry, Geometry, Metric, OnlineGeometry, pairwise_cost,
                           to_numpy)
from skot.backends._base import REDUCTIONS
from skot.backends._costs import METRIC_DESCRIPTIONS
from skot.solvers import sinkhorn

# |2x - 2y| scaled by 3: a square root, a scale and an embedding that no named metric combines.
THROWAWAY = Metric("throwaway", power=1, scale=3.0, embedding=lambda points, side: 2.0 * points, degree=1.0)


class LogSumExpGeometry(Geometry):
    """A backend written from the contract alone: SciPy's log-sum-exp over the dense cost."""

    provides = frozenset({"softmin", "plan", "plan_cost"})

    def _cost(self, axis):
        cost = pairwise_cost(self.x, self.y, self.metric)
        return cost if axis == 1 else cost.T

    def softmin(self, h, eps, axis):
        return -eps * scipy.special.logsumexp((h[None, :] - self._cost(axis)) / eps, axis=1)

    def plan(self, hf, hg, eps):
        return np.exp((hf[:, None] + hg[None, :] - self._cost(1)) / eps)

    def plan_cost(self, hf, hg, eps):
        return float(np.sum(self.plan(hf, hg, eps) * self._cost(1)))

    def cost_statistic(self, kind, a, b):
        cost = self._cost(1)
        if kind == "median":
            raise ValueError("This geometry gives the mean and the max cost only.")
        return float(a @ cost @ b) if kind == "mean" else float(cost[a > 0][:, b > 0].max())


def _array_api(x, y, metric):
    import array_api_strict as xp

    from skot.backends._array_api import ArrayAPIGeometry

    return ArrayAPIGeometry(xp.asarray(x), xp.asarray(y), metric), xp.asarray


def _cuda(x, y, metric):
    pytest.importorskip("numba.cuda")
    from skot.backends._cuda import CudaGeometry

    return CudaGeometry(x, y, metric), np.asarray


def _dask(x, y, metric):
    da = pytest.importorskip("dask.array")
    from skot.backends._dask import BlockGeometry

    return BlockGeometry(da.from_array(x, chunks=(5, -1)), y, metric), np.asarray


# name -> (x, y, metric) -> (geometry, conversion of NumPy inputs to its arrays)
GEOMETRIES = {
    "dense": lambda x, y, metric: (DenseGeometry(x, y, metric), np.asarray),
    "numba_online": lambda x, y, metric: (OnlineGeometry(x, y, metric, kernel_memory=0), np.asarray),
    "numba_stored_kernel": lambda x, y, metric: (OnlineGeometry(x, y, metric), np.asarray),
    "array_api": _array_api,
    "cuda": _cuda,
    "dask": _dask,
    "logsumexp": lambda x, y, metric: (LogSumExpGeometry(x, y, metric), np.asarray),
    "cost_matrix": lambda x, y, metric: (CostMatrixGeometry(pairwise_cost(x, y, metric)), np.asarray),
}


@pytest.fixture(autouse=True)
def throwaway_metric():
    with mock.patch.dict(METRIC_DESCRIPTIONS, {THROWAWAY.name: THROWAWAY}):
        yield


def _problem(dim):
    """13 x 9 points (dimension 17 takes numba's BLAS-product path), one zero weight a side."""
    rng = np.random.default_rng(dim)
    x, y = rng.normal(size=(13, dim)), 0.8 * rng.normal(size=(9, dim)) + 0.3
    x[0] = 0.0  # the cosine convention for a zero vector
    a, b = rng.uniform(0.5, 1.0, 13), rng.uniform(0.5, 1.0, 9)
    a[3] = b[2] = 0.0
    return x, y, a / a.sum(), b / b.sum(), rng


def _close(computed, expected, scale):
    np.testing.assert_allclose(to_numpy(computed), expected, rtol=1e-9, atol=1e-9 * scale)


def _raises_when_absent(name, call):
    with pytest.raises((ValueError, NotImplementedError)):
        call()


@pytest.mark.parametrize("metric", [*METRICS, THROWAWAY.name])
@pytest.mark.parametrize("dim", [2, 17])
@pytest.mark.parametrize("backend", list(GEOMETRIES))
def test_every_geometry_gives_the_dense_reductions(backend, metric, dim):
    x, y, a, b, rng = _problem(dim)
    geometry, convert = GEOMETRIES[backend](x, y, metric)
    reference = DenseGeometry(x, y, metric)
    cost = pairwise_cost(x, y, metric)
    scale = float(cost.max())
    provides = geometry.provides
    assert provides <= REDUCTIONS
    checks = {}
    hf, hg = scale * rng.normal(size=13), scale * rng.normal(size=9)
    for eps in (scale, 0.05 * scale):
        def softmins(eps=eps):
            for axis, h in ((1, hg), (0, hf)):
                _close(geometry.softmin(convert(h), eps, axis), reference.softmin(h, eps, axis), scale)
        checks.setdefault("softmin", []).append(softmins)

        def maps(eps=eps):
            for axis, h in ((1, hg), (0, hf)):
                _close(geometry.barycentric_map(convert(h), eps, axis), reference.barycentric_map(h, eps, axis),
                       1.0 + np.abs(np.r_[x.ravel(), y.ravel()]).max())
                # Averages of given values (one-hot labels of the reduced side), written out.
                values = np.eye(3)[np.arange(len(h)) % 3]
                weights = scipy.special.softmax((h - (cost if axis == 1 else cost.T)) / eps, axis=1)
                _close(geometry.barycentric_map(convert(h), eps, axis, values=convert(values)), weights @ values, 1.0)
        checks.setdefault("barycentric_map", []).append(maps)
    # A plan of mass about one: f is the row update of g.
    eps = 0.3 * scale
    hf_plan = reference.softmin(hg, eps, 1) + eps * np.log(np.where(a > 0, a, 1.0))

    def plan():
        _close(geometry.plan(convert(hf_plan), convert(hg), eps), reference.plan(hf_plan, hg, eps), 1.0)

    def plan_cost():
        assert geometry.plan_cost(convert(hf_plan), convert(hg), eps) == pytest.approx(
            reference.plan_cost(hf_plan, hg, eps), rel=1e-9)

    def argmax():
        # Ties may pick different indices; both must reach the maximum.
        values = hg[None, :] - cost
        chosen = to_numpy(geometry.argmax(convert(hg)))
        np.testing.assert_allclose(values[np.arange(13), chosen], values.max(axis=1), rtol=0, atol=1e-12 * scale)

    def soft_masses():
        for computed, expected in zip(geometry.soft_masses(convert(hg), eps, convert(a)),
                                      reference.soft_masses(hg, eps, a)):
            _close(computed, expected, scale)

    def largest_weights():
        _, _, index, probability = geometry.soft_masses(convert(hg), eps, convert(a), 3)
        _, _, index_ref, probability_ref = reference.soft_masses(hg, eps, a, 3)
        _close(probability, probability_ref, 1.0)
        np.testing.assert_array_equal(to_numpy(index), index_ref)

    def median():
        assert geometry.cost_statistic("median", convert(a), convert(b)) == pytest.approx(
            reference.cost_statistic("median", a, b), rel=1e-12)

    def sample():
        draws = to_numpy(geometry.sample(convert(hg), eps, 1, 4000, np.random.default_rng(0)))
        assert draws.shape == (13, 4000)
        frequencies = np.stack([np.bincount(row, minlength=9) for row in draws]) / 4000
        probabilities = scipy.special.softmax((hg[None, :] - cost) / eps, axis=1)
        np.testing.assert_allclose(frequencies, probabilities, atol=0.04)

    checks.update(plan=[plan], plan_cost=[plan_cost], argmax=[argmax], soft_masses=[soft_masses],
                  largest_weights=[largest_weights], median=[median], sample=[sample])
    assert set(checks) == REDUCTIONS
    for name, calls in checks.items():
        for call in calls:
            call() if name in provides else _raises_when_absent(name, call)
    for kind in ("mean", "max"):
        assert geometry.cost_statistic(kind, convert(a), convert(b)) == pytest.approx(
            reference.cost_statistic(kind, a, b), rel=1e-10)


@pytest.mark.parametrize("backend", ["dense", "numba_online", "logsumexp"])
def test_sinkhorn_runs_on_the_throwaway_metric_and_geometry(backend):
    """The solvers need nothing more than the contract: the plan's marginals hold."""
    x, y, a, b, _ = _problem(3)
    geometry, _ = GEOMETRIES[backend](x, y, THROWAWAY.name)
    eps = 0.1 * geometry.cost_statistic("mean", a, b)
    result = sinkhorn(geometry, a, b, eps, tol=1e-11)
    with np.errstate(divide="ignore"):
        plan = DenseGeometry(x, y, THROWAWAY.name).plan(result.potential_source + eps * np.log(a),
                                                        result.potential_target + eps * np.log(b), eps)
    assert result.converged
    np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-10)
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-10)
    # The throwaway metric is 6 |x - y|.
    np.testing.assert_allclose(pairwise_cost(x, y, THROWAWAY.name), 6.0 * pairwise_cost(x, y, "euclidean"),
                               rtol=1e-12)
