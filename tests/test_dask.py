"""Dask: model selection on a local cluster, and transform of dask arrays block by block."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate

from skot import (
    GaussianBuresMap,
    OTDomainAdapter,
    SemiDiscreteMap,
    SinkhornTransport,
    WassersteinBarycenter,
    make_da_pipeline,
    pack,
)
from skot.model_selection import (
    CircularValidationScorer,
    ImportanceWeightedScorer,
    PredictionEntropyScorer,
    SourceTargetShuffleSplit,
)

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each (and one numba thread each: 2 cores)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"})
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def shifted(n=80, seed=0):
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(n, 2))
    labels = (source[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return pack(source, rng.normal(size=(n, 2)) @ [[1.0, 0.3], [0.0, 0.8]] + [2.0, 1.0], labels)


def test_grid_search_on_a_local_cluster_matches_one_process(client):
    X, y, _ = shifted()
    copies = [X.copy(), y.copy()]

    def search(n_jobs):
        return GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                            {"otdomainadapter__reg": [0.03, 0.3, 3.0]}, scoring=CircularValidationScorer(),
                            cv=SourceTargetShuffleSplit(n_splits=3, test_size=0.5, random_state=0), n_jobs=n_jobs)

    local = search(1).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = search(-1).fit(X, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"],
                               rtol=1e-12)
    np.testing.assert_allclose(remote.cv_results_["split0_test_score"], local.cv_results_["split0_test_score"],
                               rtol=1e-12)
    for before, after in zip(copies, (X, y)):
        np.testing.assert_array_equal(before, after)
    assert sklearn.get_config()["enable_metadata_routing"] is False


def test_transform_of_a_dask_array_runs_block_by_block(client):
    X, y, domain = shifted()
    rng = np.random.default_rng(1)
    new = rng.normal(size=(1000, 2))
    lazy = da.from_array(new, chunks=(250, 2))
    ot = SinkhornTransport(reg=0.05).fit(X, sample_domain=domain)
    mapped = ot.transform(lazy)
    assert isinstance(mapped, da.Array) and mapped.chunks == lazy.chunks
    # The fitted estimator is one key of the graph, shipped once, not once per block.
    assert len(dict(mapped.__dask_graph__())) == 2 * lazy.numblocks[0] + 1  # blocks in, blocks out, model
    np.testing.assert_allclose(mapped.compute(), ot.transform(new), rtol=1e-12, atol=1e-12)
    # With sample_domain (NumPy or dask), source rows are mapped and target rows kept.
    adapter = OTDomainAdapter().fit(X, y)
    lazy_X = da.from_array(X, chunks=(45, 2))
    expected = adapter.transform(X, sample_domain=domain)
    np.testing.assert_allclose(adapter.transform(lazy_X, sample_domain=domain).compute(), expected, atol=1e-12)
    lazy_domain = da.from_array(domain, chunks=60)
    np.testing.assert_allclose(adapter.transform(lazy_X, sample_domain=lazy_domain).compute(), expected, atol=1e-12)
    bary = WassersteinBarycenter(n_support=30, random_state=0).fit(X, sample_domain=domain)
    np.testing.assert_allclose(bary.transform(lazy_X, sample_domain=domain).compute(),
                               bary.transform(X, sample_domain=domain), atol=1e-12)


def test_kernel_threads_are_capped_to_the_worker_share(monkeypatch):
    from skot.backends import max_threads
    from skot.backends._threads import _cpus
    from skot.estimators import _dask

    class Worker:  # what distributed.get_worker() returns inside a task, reduced to what is read
        class state:
            nthreads = 2

    before = max_threads()
    monkeypatch.setattr(distributed, "get_worker", lambda: Worker)
    with _dask.worker_thread_share():
        inside = max_threads()
    assert inside == max(1, _cpus() // 2)
    assert max_threads() == before
    monkeypatch.undo()
    with _dask.worker_thread_share():  # outside a worker: unchanged
        assert max_threads() == before


def test_sinkhorn_on_dask_arrays_matches_the_in_memory_fit(client):
    """Source and target rows in 4 blocks each on the workers: the same potentials."""
    rng = np.random.default_rng(2)
    X, _, domain = pack(rng.normal(size=(400, 2)), rng.normal(size=(360, 2)) * 0.7 + 1.0)
    lazy = da.from_array(X, chunks=((100,) * 4 + (90,) * 4, 2))
    reference = SinkhornTransport(reg=0.05, tol=1e-12).fit(X, sample_domain=domain)
    distributed_fit = SinkhornTransport(reg=0.05, tol=1e-12).fit(lazy, sample_domain=domain)
    assert distributed_fit.backend_ == "dask"
    np.testing.assert_allclose(distributed_fit.potential_source_, reference.potential_source_, atol=1e-8)
    np.testing.assert_allclose(distributed_fit.potential_target_, reference.potential_target_, atol=1e-8)
    assert distributed_fit.transport_cost_ == pytest.approx(reference.transport_cost_, rel=1e-10)
    assert distributed_fit.cost_scale_ == pytest.approx(reference.cost_scale_, rel=1e-12)
    mapped = distributed_fit.fit_transform(lazy, sample_domain=domain)
    assert isinstance(mapped, da.Array)
    np.testing.assert_allclose(mapped.compute(), reference.fit_transform(X, sample_domain=domain), atol=1e-10)


def test_dask_fit_input_checks(client):
    X, _, domain = shifted()
    lazy = da.from_array(X, chunks=(40, 2))
    # Estimators without a block geometry load the array: the same fit as in memory.
    np.testing.assert_allclose(GaussianBuresMap().fit(lazy, sample_domain=domain).coef_,
                               GaussianBuresMap().fit(X, sample_domain=domain).coef_, rtol=1e-12)
    bad = da.from_array(np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), chunks=(40, 2))
    with pytest.raises(ValueError, match="NaN"):
        SinkhornTransport().fit(bad, sample_domain=domain)
    with pytest.raises(ValueError, match="median"):
        SinkhornTransport(cost_scale="median").fit(lazy, sample_domain=domain)
    # Row blocks run numba's kernels: a request for another backend is refused, not ignored.
    with pytest.raises(ValueError, match="backend='numpy' does not take dask arrays"):
        SinkhornTransport(backend="numpy").fit(lazy, sample_domain=domain)
    assert SinkhornTransport(backend="numba", tol=1e-6).fit(lazy, sample_domain=domain).backend_ == "dask"


@pytest.mark.parametrize("model", [
    SinkhornTransport(n_target_samples=100, random_state=0),
    GaussianBuresMap(),
    SemiDiscreteMap(target=5, random_state=0),
    make_da_pipeline(WassersteinBarycenter(n_support=30, random_state=0), LogisticRegression()),
    make_da_pipeline(OTDomainAdapter("exact"), LogisticRegression()),
    make_da_pipeline(OTDomainAdapter("gaussian"), LogisticRegression()),
], ids=lambda model: type(model).__name__ if not hasattr(model, "steps") else model.steps[0][0])
def test_every_estimator_cross_validates_on_the_cluster(client, model):
    X, y, domain = shifted(n=60)
    if hasattr(model, "steps"):
        scoring = {"entropy": PredictionEntropyScorer(), "iw": ImportanceWeightedScorer(),
                   "circular": CircularValidationScorer()}
        target = y
    else:  # the estimators' own score, on source rows only
        scoring, target = None, None
        X = X[domain >= 0]
    cv = SourceTargetShuffleSplit(n_splits=2, test_size=0.5, random_state=0) if target is not None else 2
    local = cross_validate(model, X, target, scoring=scoring, cv=cv, n_jobs=1, error_score="raise")
    with joblib.parallel_backend("dask"):
        remote = cross_validate(model, X, target, scoring=scoring, cv=cv, n_jobs=-1, error_score="raise")
    for key in local:
        if key.startswith("test_"):
            np.testing.assert_allclose(remote[key], local[key], rtol=1e-10)
