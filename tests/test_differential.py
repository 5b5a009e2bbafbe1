"""Differential tests: every backend and solver path against the dense NumPy one, on random
small problems with ties, duplicates, zero weights, float32 points and n >> m.

Tolerances follow what each run achieved: two converged solves of one problem give one plan,
and a run that stopped early reports the error of the plan it returns.
"""

from dataclasses import replace
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skot.backends import DenseGeometry, OnlineGeometry, pairwise_cost
from skot.backends._array_api import ArrayAPIGeometry
from skot.solvers import multiscale, multiscale_sinkhorn, sinkhorn

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True)


@st.composite
def problems(draw, max_dim=3, float32=True):
    """Points (x, y), weights (a, b) with zeros, on a grid (ties, duplicates) or continuous."""
    if draw(st.booleans()):
        n, m = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    else:  # n >> m
        n, m = draw(st.integers(20, 40)), draw(st.integers(1, 3))
    dim = draw(st.integers(1, max_dim))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        x, y = rng.integers(-2, 3, size=(n, dim)).astype(float), rng.integers(-1, 4, size=(m, dim)).astype(float)
    else:
        x, y = rng.normal(size=(n, dim)), 0.7 * rng.normal(size=(m, dim)) + 0.5
    zeros = draw(st.sampled_from([0.0, 0.3]))

    def weights(size):
        w = rng.uniform(0.2, 1.0, size) * (rng.random(size) >= zeros)
        w[rng.integers(size)] = 1.0
        return w / w.sum()

    dtype = draw(st.sampled_from([np.float64, np.float32])) if float32 else np.float64
    return x.astype(dtype), y.astype(dtype), weights(n), weights(m)


def mean_cost(x, y, a, b, metric="sqeuclidean"):
    return float(a @ pairwise_cost(x, y, metric) @ b) or 1.0


def dense_plan(x, y, a, b, result, metric="sqeuclidean"):
    eps = result.eps
    with np.errstate(divide="ignore"):
        return DenseGeometry(x, y, metric).plan(result.potential_source + eps * np.log(a),
                                                 result.potential_target + eps * np.log(b), eps)


def marginal_errors(plan, a, b):
    return float(np.abs(plan.sum(axis=1) - a).sum()), float(np.abs(plan.sum(axis=0) - b).sum())


@EXAMPLES
@given(problems(), st.sampled_from(["sqeuclidean", "euclidean", "cosine"]), st.floats(-3, 1))
def test_online_reductions_equal_the_dense_ones(problem, metric, log_eps):
    """numba = numpy for every reduction, potentials with -inf entries (zero weights) included."""
    x, y, a, b = problem
    online, dense = OnlineGeometry(x, y, metric), DenseGeometry(x, y, metric)
    eps = 10.0**log_eps
    rng = np.random.default_rng(len(x) * 31 + len(y))
    with np.errstate(divide="ignore"):
        hf, hg = rng.normal(size=len(x)) + eps * np.log(a), rng.normal(size=len(y)) + eps * np.log(b)
    scale = 1.0 + float(pairwise_cost(x, y, metric).max()) + eps
    # float32 points keep float32 cosine embeddings: costs exact to float32 precision only.
    precision = 1e-10 if x.dtype == np.float64 or metric != "cosine" else 1e-6
    for axis, h in ((1, hg), (0, hf)):
        np.testing.assert_allclose(online.softmin(h, eps, axis), dense.softmin(h, eps, axis), rtol=0,
                                   atol=precision * scale)
        np.testing.assert_allclose(online.barycentric_map(h, eps, axis), dense.barycentric_map(h, eps, axis),
                                   rtol=0, atol=precision * scale / eps * (1.0 + np.abs(np.r_[x.ravel(), y.ravel()]).max()))
    # A row update of f makes a plan of mass one (no overflow in the reference); the online
    # sums skip terms below exp(-60) of each row's largest.
    with np.errstate(divide="ignore"):
        hf = dense.softmin(hg, eps, axis=1) + eps * np.log(a)
    np.testing.assert_allclose(online.plan_cost(hf, hg, eps), dense.plan_cost(hf, hg, eps),
                               rtol=precision * scale / eps, atol=1e-20 * scale)
    g = rng.normal(size=len(y))
    values = g - pairwise_cost(x, y, metric)
    rows = np.arange(len(x))
    # Ties may pick different indices; both must reach the maximum.
    for chosen in (online.argmax(g), dense.argmax(g)):
        np.testing.assert_allclose(values[rows, chosen], values.max(axis=1), rtol=0, atol=1e-9 * scale)


@EXAMPLES
@given(problems(), st.sampled_from([0.05, 0.5]), st.sampled_from([3, 2000]))
def test_sinkhorn_on_numba_equals_numpy_and_reports_the_error_of_its_plan(problem, reg, max_iter):
    """Converged: one plan on both backends. Stopped early: the reported target-marginal error
    is that of the returned plan, whose source marginal is exact."""
    x, y, a, b = problem
    eps = reg * mean_cost(x, y, a, b)
    results = [sinkhorn(geometry(x, y, "sqeuclidean"), a, b, eps, tol=1e-10, max_iter=max_iter)
               for geometry in (OnlineGeometry, DenseGeometry)]
    plans = [dense_plan(x, y, a, b, result) for result in results]
    for result, plan in zip(results, plans):
        row_error, column_error = marginal_errors(plan, a, b)
        assert row_error <= 1e-9 + 1e-6 * column_error
        np.testing.assert_allclose(result.marginal_error, column_error, rtol=1e-6, atol=1e-12)
    if all(result.converged for result in results):
        assert np.abs(plans[0] - plans[1]).sum() <= 1e-7


@EXAMPLES
@given(problems(float32=False), st.sampled_from([0.03, 0.2]))
def test_multiscale_equals_dense_and_certifies_its_errors(problem, reg):
    """Tiny levels (every problem becomes multiscale): the certified errors bound the true
    errors of the returned plan, and converged solves give the dense solver's plan."""
    x, y, a, b = problem
    eps = reg * mean_cost(x, y, a, b)
    with mock.patch.multiple(multiscale, COARSEST=3, LEAF_SIZE=2, LEAVES_PER_BLOCK=2):
        result = multiscale_sinkhorn(x, y, a, b, eps, tol=1e-8, max_iter=500)
    reference = sinkhorn(DenseGeometry(x, y, "sqeuclidean"), a, b, eps, tol=1e-11, max_iter=1000)
    plan = dense_plan(x, y, a, b, result)
    row_error, column_error = marginal_errors(plan, a, b)
    # Bounds up to the rounding of exp((f + g - C) / eps) at potentials of this size.
    rounding = 1e-12 + 1e3 * np.finfo(float).eps * np.abs(np.r_[result.potential_source,
                                                                 result.potential_target]).max() / eps
    assert max(row_error, column_error) <= result.error + rounding
    assert column_error <= result.marginal_error + rounding
    if result.converged and reference.converged:
        assert np.abs(plan - dense_plan(x, y, a, b, reference)).sum() <= 1e-6


@EXAMPLES
@given(problems(float32=False), st.sampled_from(["sqeuclidean", "euclidean", "cosine"]))
def test_array_api_geometry_equals_numpy(problem, metric):
    """array_api_strict arrays through the array-API geometry give NumPy's potentials."""
    import array_api_strict as xp

    x, y, a, b = problem
    eps = 0.1 * mean_cost(x, y, a, b, metric)
    reference = sinkhorn(DenseGeometry(x, y, metric), a, b, eps, tol=1e-10)
    strict = sinkhorn(ArrayAPIGeometry(xp.asarray(x), xp.asarray(y), metric), xp.asarray(a), xp.asarray(b), eps,
                      tol=1e-10)
    assert strict.n_iter == reference.n_iter and strict.converged == reference.converged
    mine = replace(reference, potential_source=np.asarray(strict.potential_source),
                   potential_target=np.asarray(strict.potential_target))
    plan = dense_plan(x, y, a, b, reference, metric)
    assert np.abs(dense_plan(x, y, a, b, mine, metric) - plan).sum() <= 1e-9
    np.testing.assert_allclose(strict.marginal_error, reference.marginal_error, rtol=1e-6, atol=1e-12)
