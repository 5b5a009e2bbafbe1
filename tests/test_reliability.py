"""Adversarial inputs, properties and persistence, for every estimator."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skot import GaussianBuresMap, OTDomainAdapter, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter, pack

ESTIMATORS = {
    "sinkhorn": SinkhornTransport(random_state=0, n_target_samples=200),
    "gaussian": GaussianBuresMap(),
    "barycenter": WassersteinBarycenter(n_support=20, random_state=0),
    "gaussian_barycenter": WassersteinBarycenter(method="gaussian"),
    "semidiscrete": SemiDiscreteMap(target=5, random_state=0),
    "adapter": OTDomainAdapter(random_state=0),
    "exact_adapter": OTDomainAdapter("exact"),
}
# Estimators that need target rows or a reference versus those that treat all domains alike.
SOURCE_TARGET = {"sinkhorn", "gaussian", "semidiscrete"}
ADAPTERS = {"adapter", "exact_adapter"}
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def data(n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return pack(rng.normal(size=(n, d)), rng.normal(size=(n + 5, d)) * 0.7 + 1.0)


def fitted(name, X=None, sd=None):
    if X is None:
        X, _, sd = data()
    return clone(ESTIMATORS[name]).fit(X, sample_domain=sd)


def finite(array):
    return np.all(np.isfinite(np.asarray(array)))


BAD_FIT_INPUTS = {
    "nan": (lambda X, sd: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X), sd, None), "NaN"),
    "inf": (lambda X, sd: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X), sd, None), "infinity"),
    "empty": (lambda X, sd: (X[:0], sd[:0], None), "0 sample"),
    "one_sample_domain": (lambda X, sd: (X, np.where(np.arange(len(sd)) == 0, 5, sd), None), "1 sample"),
    "n_equals_1": (lambda X, sd: (X[:1], sd[:1], None), "1 sample"),
    "sample_domain_length": (lambda X, sd: (X, sd[:-1], None), "sample_domain has shape"),
    "sample_weight_length": (lambda X, sd: (X, sd, np.ones(len(X) - 1)), "sample_weight"),
    "negative_weight": (lambda X, sd: (X, sd, np.where(np.arange(len(X)) == 2, -1.0, 1.0)), "Negative"),
    "zero_weights": (lambda X, sd: (X, sd, np.zeros(len(X))), "non-zero"),
    "strings": (lambda X, sd: (np.array([["a", "b", "c"]] * len(X)), sd, None), "(?i)string|float"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIT_INPUTS))
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_bad_fit_input_gives_a_clear_error(name, case):
    make, match = BAD_FIT_INPUTS[case]
    X, _, sd = data()
    X_bad, sd_bad, weights = make(X, sd)
    before = [np.array(a, copy=True) for a in (X_bad, sd_bad)]
    with pytest.raises(ValueError, match=match):
        clone(ESTIMATORS[name]).fit(X_bad, sample_domain=sd_bad, sample_weight=weights)
    for original, now in zip(before, (X_bad, sd_bad)):
        np.testing.assert_array_equal(original, now)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_sparse_input_is_refused_clearly(name):
    X, _, sd = data()
    with pytest.raises(TypeError, match="(?i)sparse"):
        clone(ESTIMATORS[name]).fit(sp.csr_matrix(X), sample_domain=sd)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_wrong_feature_count_at_transform(name):
    est = fitted(name)
    with pytest.raises(ValueError, match="features"):
        est.transform(np.zeros((2, 4)), sample_domain=[0, 0])


@pytest.mark.parametrize("name, params", [
    ("sinkhorn", {"reg": 0.0}), ("sinkhorn", {"reg": -1.0}), ("sinkhorn", {"metric": "l1"}),
    ("sinkhorn", {"backend": "tpu"}), ("gaussian", {"reg": -1.0}), ("gaussian", {"covariance": "mcd"}),
    ("gaussian", {"backend": "tpu"}), ("barycenter", {"reg": -1.0}), ("barycenter", {"method": "sliced"}),
    ("barycenter", {"backend": "tpu"}), ("barycenter", {"map_reg": 0.0}), ("semidiscrete", {"reg": -1.0}),
    ("semidiscrete", {"metric": "cosine"}), ("semidiscrete", {"solver": "sinkhorn"}), ("semidiscrete", {"backend": "tpu"}),
])
def test_bad_parameters_are_named(name, params):
    X, _, sd = data()
    with pytest.raises(ValueError, match=next(iter(params))):
        clone(ESTIMATORS[name]).set_params(**params).fit(X, sample_domain=sd)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_only_source_or_only_target_rows(name):
    X, _, sd = data()
    target_only = np.full(len(X), -1)
    if name in ADAPTERS:
        # An adapter with nothing to align warns and is the identity (as documented).
        for domains in (np.zeros(len(X), int), target_only):
            with pytest.warns(UserWarning, match="it is the identity"):
                est = clone(ESTIMATORS[name]).fit(X, sample_domain=domains)
            np.testing.assert_array_equal(est.transform(X, sample_domain=domains), X)
        return
    est = clone(ESTIMATORS[name]).fit(X, sample_domain=np.zeros(len(X), int))
    assert finite(est.transform(X, sample_domain=np.zeros(len(X), int)))
    if name in SOURCE_TARGET:
        with pytest.raises(ValueError, match="No source rows"):
            clone(ESTIMATORS[name]).fit(X, sample_domain=target_only)
    else:
        # A barycenter has no source or target: a negative label is just another domain.
        assert finite(clone(ESTIMATORS[name]).fit(X, sample_domain=target_only).transform(X, sample_domain=target_only))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_far_duplicate_and_extreme_dimension_inputs_give_finite_answers(name):
    X, _, sd = data()
    est = fitted(name, X, sd)
    far = np.full((3, X.shape[1]), 1e8) * [[1], [-1], [0.5]]
    assert finite(est.transform(far, sample_domain=[0, 0, 0]))
    # The whole problem 1e8 away, duplicated rows, d = 1 and d = 500 (n << d).
    assert finite(fitted(name, X + 1e8, sd).transform(X[:3] + 1e8, sample_domain=[0, 0, 0]))
    doubled = np.vstack([X, X])
    assert finite(fitted(name, doubled, np.concatenate([sd, sd])).transform(X, sample_domain=sd))
    assert finite(fitted(name, X[:, :1], sd).transform(X[:, :1], sample_domain=sd))
    wide, _, sd_wide = data(n=12, d=500)
    est = clone(ESTIMATORS[name])
    if name == "gaussian_barycenter":
        est.set_params(max_iter=1)  # ridged rank-11 covariances: a slow fixed point, finite at every step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert finite(est.fit(wide, sample_domain=sd_wide).transform(wide, sample_domain=sd_wide))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_pickle_joblib_and_threads_give_identical_maps(name):
    est = fitted(name)
    X, _, sd = data(seed=1)
    expected = est.transform(X, sample_domain=sd)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X, sample_domain=sd), expected)
    buffer = BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).transform(X, sample_domain=sd), expected)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: est.transform(X, sample_domain=sd), range(8)))
    for result in results:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name, solver", [("sinkhorn", "_sinkhorn.sinkhorn"), ("gaussian", "_gaussian.gaussian_ot"),
                                          ("barycenter", "_barycenter.free_support_barycenter"),
                                          ("gaussian_barycenter", "_barycenter.bures_barycenter_maps"),
                                          ("semidiscrete", "_semidiscrete.semidiscrete_dual"),
                                          ("adapter", "_sinkhorn.sinkhorn"), ("exact_adapter", "_adapter.exact_transport")])
def test_interrupted_fit_leaves_no_fitted_state(name, solver, monkeypatch):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skot import estimators

    module, function = solver.split(".")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    X, _, sd = data()
    refitted = clone(ESTIMATORS[name]).fit(X, sample_domain=sd)
    before = refitted.transform(X, sample_domain=sd)
    monkeypatch.setattr(getattr(estimators, module), function, interrupted)
    est = clone(ESTIMATORS[name])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, sample_domain=sd)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    # Interrupted during a refit on other data: the previous model, whole.
    with pytest.raises(KeyboardInterrupt):
        refitted.fit(X[:, :2] * 3.0, sample_domain=sd)
    np.testing.assert_array_equal(refitted.transform(X, sample_domain=sd), before)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_a_failed_refit_leaves_the_previous_model_whole(name):
    """Validation of a refit on 2 features used to reset n_features_in_ under the 3-feature
    model; then the kernels read past the end of each 2-feature row."""
    X, _, sd = data(d=3)
    est = clone(ESTIMATORS[name]).fit(X, sample_domain=sd)
    before = est.transform(X, sample_domain=sd)
    single_sample_domain = np.where(np.arange(len(sd)) == 0, 7, sd)
    with pytest.raises(ValueError, match="1 sample"):
        est.fit(X[:, :2], sample_domain=single_sample_domain)
    assert est.n_features_in_ == 3
    np.testing.assert_array_equal(est.transform(X, sample_domain=sd), before)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :2], sample_domain=sd)


# ---------------------------------------------------------------- properties

clouds = st.integers(min_value=0, max_value=10_000).map(lambda seed: data(n=12, d=2, seed=seed))


@SETTINGS
@given(clouds)
def test_sinkhorn_marginals_hold(problem):
    X, _, sd = problem
    est = SinkhornTransport(reg=0.05, tol=1e-10).fit(X, sample_domain=sd)
    plan = est.transport_plan()
    np.testing.assert_allclose(plan.sum(axis=1), est.weights_source_, atol=1e-12)
    np.testing.assert_allclose(plan.sum(axis=0), est.weights_target_, atol=1e-9)


@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from([1e-2, 1e-1, 1.0]))
def test_one_dimensional_maps_are_monotone(seed, reg):
    rng = np.random.default_rng(seed)
    X, _, sd = pack(rng.normal(size=(15, 1)), rng.exponential(size=(20, 1)))
    grid = np.linspace(-4, 4, 50)[:, None]
    for est in (SinkhornTransport(reg=reg).fit(X, sample_domain=sd), GaussianBuresMap().fit(X, sample_domain=sd)):
        assert np.all(np.diff(est.transform(grid)[:, 0]) >= -1e-12)


@SETTINGS
@given(clouds, st.sampled_from(sorted(ESTIMATORS)))
def test_fit_is_permutation_equivariant(problem, name):
    X, _, sd = problem
    order = np.random.default_rng(0).permutation(len(X))
    probe, probe_sd = X[:5], sd[:5]
    a = fitted(name, X, sd).transform(probe, sample_domain=probe_sd)
    b = fitted(name, X[order], sd[order]).transform(probe, sample_domain=probe_sd)
    if name == "barycenter":
        # The support is learned from a random start drawn from the data's Gaussian fit,
        # identical for any row order: same support, same maps.
        np.testing.assert_allclose(a, b, atol=1e-7)
    else:
        np.testing.assert_allclose(a, b, atol=1e-8)


@SETTINGS
@given(clouds, st.floats(1e-3, 1e3))
def test_reg_means_the_same_after_rescaling(problem, scale):
    X, _, sd = problem
    est = SinkhornTransport(reg=0.1, tol=1e-11).fit(X, sample_domain=sd)
    scaled = SinkhornTransport(reg=0.1, tol=1e-11).fit(scale * X, sample_domain=sd)
    np.testing.assert_allclose(scaled.transform(scale * X[:5]), scale * est.transform(X[:5]), rtol=1e-6, atol=1e-9 * scale)


@SETTINGS
@given(clouds, st.sampled_from(sorted(ESTIMATORS)))
def test_random_state_makes_fits_deterministic_and_float32_agrees(problem, name):
    X, _, sd = problem
    first = fitted(name, X, sd).transform(X, sample_domain=sd)
    np.testing.assert_array_equal(fitted(name, X, sd).transform(X, sample_domain=sd), first)
    single = fitted(name, X.astype(np.float32), sd).transform(X.astype(np.float32), sample_domain=sd)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, first, atol=2e-4 * (1 + np.abs(first).max()))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_no_method_modifies_its_inputs(name):
    X, y, sd = pack(np.random.default_rng(0).normal(size=(20, 2)), np.random.default_rng(1).normal(size=(25, 2)),
                    np.arange(20) % 2)
    weights = np.linspace(1.0, 2.0, len(X))
    inputs = (X, y, sd, weights)
    before = [a.copy() for a in inputs]
    est = clone(ESTIMATORS[name])
    est.fit_transform(X, y, sample_domain=sd, sample_weight=weights)
    est.fit(X, y, sample_weight=weights)
    est.transform(X, sample_domain=sd)
    for original, now in zip(before, inputs):
        np.testing.assert_array_equal(original, now)


# ---------------------------------------------------------------- raw errors made clear

def test_raw_errors_from_deep_inside_are_answers_or_clear_errors():
    from sklearn.covariance import EmpiricalCovariance

    rng = np.random.default_rng(0)
    X, _, sd = pack(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) + 1.0)
    # A huge entropic regularisation: the map tends to the constant target mean (no overflow).
    huge = GaussianBuresMap(entropic_reg=1e300).fit(X, sample_domain=sd)
    np.testing.assert_allclose(huge.transform(X[:50]), np.tile(huge.mean_target_, (50, 1)), atol=1e-12)

    class WithoutLocation(EmpiricalCovariance):  # sets covariance_ only
        def fit(self, X, y=None):
            super().fit(X)
            del self.location_
            return self

    custom = GaussianBuresMap(covariance=WithoutLocation()).fit(X, sample_domain=sd)
    np.testing.assert_allclose(custom.mean_source_, X[:50].mean(axis=0))
    np.testing.assert_allclose(custom.coef_, GaussianBuresMap().fit(X, sample_domain=sd).coef_)
    with pytest.raises(ValueError, match="at least 2 source rows"):
        custom.score(X[[0, 60, 61, 62]], sample_domain=[0, -1, -1, -1])
    with pytest.raises(ValueError, match="target must be a number of points"):
        SemiDiscreteMap(target=True).fit(X[:50])
    # Rank-one covariances with reg=0: a singular map, which inverse_transform refuses.
    flat, _, flat_sd = pack(np.c_[rng.normal(size=50), np.zeros(50)], np.c_[rng.normal(size=40), np.zeros(40)])
    singular = GaussianBuresMap(reg=0.0).fit(flat, sample_domain=flat_sd)
    assert finite(singular.transform(flat))
    with pytest.raises(ValueError, match="coef_ is singular.*reg > 0"):
        singular.inverse_transform(flat)
    np.testing.assert_allclose(GaussianBuresMap().fit(flat, sample_domain=flat_sd).inverse_transform(
        GaussianBuresMap().fit(flat, sample_domain=flat_sd).transform(flat)), flat, atol=1e-8)


MAGNITUDES = [1e-300, 1e-200, 1e-150, 1e-100, 1e-50, 1e50, 1e100, 1e150, 1e200, 1e300]


def answer_in_units(estimator, X, sd, scale):
    """What a fit at data scaled by ``scale`` must reproduce, brought back to unit scale.

    Hard semi-discrete cells make a discontinuous map (a point on a boundary may change
    cell with the last digits of the weights): its fitted points and weights are compared.
    """
    if isinstance(estimator, SemiDiscreteMap):
        return np.r_[estimator.target_points_.ravel() / scale, estimator.potential_ / scale**2]
    return estimator.transform(X * scale, sample_domain=sd) / scale


def fitted_floats(estimator):
    return {name: value for name, value in vars(estimator).items()
            if name.endswith("_") and np.asarray(value).dtype.kind == "f"}


def other_outputs(estimator, source, target, sample_domain):
    """What else the estimator computes from new rows: inverse maps, samples, cells."""
    if hasattr(estimator, "inverse_transform"):
        yield estimator.inverse_transform(target)
    if hasattr(estimator, "sample"):
        yield estimator.sample(source, n_samples=2)
    if hasattr(estimator, "predict"):
        yield estimator.predict(source)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_data_at_any_magnitude_give_the_same_answer_or_a_clear_error(name, backend):
    """From 1e-300 to 1e300: either a ValueError that says to rescale X (costs that float64
    cannot hold), or finite fitted attributes, maps and scores; the maps of data between
    1e-100 and 1e100 are those of the data at unit scale, up to the scale."""
    X, _, sd = data(n=20, d=2)
    reference = clone(ESTIMATORS[name]).set_params(backend=backend).fit(X, sample_domain=sd)
    expected = answer_in_units(reference, X, sd, 1.0)
    for scale in MAGNITUDES:
        estimator = clone(ESTIMATORS[name]).set_params(backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                estimator.fit(X * scale, sample_domain=sd)
            except ValueError as error:
                assert "rescale X" in str(error), str(error)
                assert not 1e-100 <= scale <= 1e100, f"refused at {scale:g}: {error}"
                continue
        mapped = estimator.transform(X * scale, sample_domain=sd)
        assert finite(mapped), scale
        assert all(finite(value) for value in fitted_floats(estimator).values()), scale
        for output in other_outputs(estimator, X[:20] * scale, X[20:] * scale, sd):
            assert finite(output), scale
        if hasattr(estimator, "score"):
            assert np.isfinite(estimator.score(X * scale, sample_domain=sd)), scale
        np.testing.assert_allclose(answer_in_units(estimator, X, sd, scale), expected,
                                   atol=1e-6 * np.abs(expected).max(), err_msg=f"scale {scale:g}")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_scale_invariance_property(name, backend):
    """Any power of ten from 1e-100 to 1e100: the unit-scale answer, up to the scale."""
    X, _, sd = data(n=16, d=2, seed=3)
    reference = clone(ESTIMATORS[name]).set_params(backend=backend).fit(X, sample_domain=sd)
    expected = answer_in_units(reference, X, sd, 1.0)

    @settings(max_examples=8, deadline=None, derandomize=True)
    @given(st.integers(-100, 100))
    def same_answer(exponent):
        scale = 10.0**exponent
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator = clone(ESTIMATORS[name]).set_params(backend=backend).fit(X * scale, sample_domain=sd)
        np.testing.assert_allclose(answer_in_units(estimator, X, sd, scale), expected,
                                   atol=1e-6 * np.abs(expected).max(), err_msg=f"1e{exponent}")

    same_answer()


@pytest.mark.parametrize("scale", [1e-160, 1e160])
@pytest.mark.parametrize("estimator", [SinkhornTransport(), SemiDiscreteMap(), OTDomainAdapter()], ids=repr)
def test_unrepresentable_costs_are_refused_with_what_to_do(estimator, scale):
    """Squared distances of data at 1e-160 are denormal, at 1e160 infinite: a clear error,
    never NaN potentials."""
    rng = np.random.default_rng(0)
    X, _, sd = pack(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) + 1.0)
    with pytest.raises(ValueError, match="not representable in float64.*rescale X"):
        clone(estimator).fit(X * scale, sample_domain=sd)
    if scale < 1:  # costs that underflow to 0 are named so, not "the measures coincide"
        with pytest.raises(ValueError, match="is 0: the points coincide, or lie so close together.*underflow"):
            clone(estimator).fit(X * 1e-200, sample_domain=sd)


def test_an_eps_that_float64_cannot_resolve_is_refused():
    """reg = 1e-20 gave a plan summing to 1e32 with a reported marginal error of 0."""
    X, _, sd = data()
    cases = [(SinkhornTransport(reg=1e-20), X), (SinkhornTransport(cost_scale=None), X * 1e10),
             (SemiDiscreteMap(reg=1e-15), X), (WassersteinBarycenter(map_reg=1e-13), X)]
    for estimator, points in cases:
        with pytest.raises(ValueError, match="float64 cannot resolve it.*exact OT"):
            estimator.fit(points, sample_domain=sd)


def test_shapes_are_checked_before_a_kernel_reads_them():
    """A mismatch would make the compiled kernels read outside the arrays."""
    from skot.backends import OnlineGeometry
    from skot.solvers._compiled import softmax_hessian

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"shapes \(n, d\) and \(m, d\)"):
        OnlineGeometry(rng.normal(size=(5, 3)), rng.normal(size=(4, 2)), "sqeuclidean")
    geometry = OnlineGeometry(rng.normal(size=(5, 2)), rng.normal(size=(4, 2)), "sqeuclidean")
    for call in (lambda: geometry.softmin(np.zeros(3), 1.0, axis=1), lambda: geometry.argmax(np.zeros(5)),
                 lambda: geometry.plan(np.zeros(4), np.zeros(4), 1.0)):
        with pytest.raises(ValueError, match="the reduced axis has"):
            call()
    with pytest.raises(ValueError, match="beyond the 3 columns"):
        softmax_hessian(np.ones(2), np.array([[0, 3], [1, -1]]), np.full((2, 2), 0.5), 3)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_far_points_go_to_the_support_point_in_their_direction(backend):
    """Points so far that their costs overflow (1e200) once all went to the first cell; the
    cell, map and draws tend to the support point furthest along their direction."""
    rng = np.random.default_rng(0)
    X, _, sd = pack(rng.normal(size=(40, 2)), rng.normal(size=(30, 2)))
    far = np.array([[1e200, 0.0], [-1e200, 0.0], [0.0, 1e200], [0.0, -1e200]])
    cells = SemiDiscreteMap(target=6, random_state=0, backend=backend).fit(X)
    points = cells.target_points_
    expected = [points[:, 0].argmax(), points[:, 0].argmin(), points[:, 1].argmax(), points[:, 1].argmin()]
    np.testing.assert_array_equal(cells.predict(far), expected)
    sinkhorn = SinkhornTransport(backend=backend).fit(X, sample_domain=sd)
    support = sinkhorn.support_target_
    expected_points = support[[support[:, 0].argmax(), support[:, 0].argmin(), support[:, 1].argmax(),
                               support[:, 1].argmin()]]
    np.testing.assert_array_equal(sinkhorn.transform(far), expected_points)
    draws = sinkhorn.sample(far, n_samples=3)
    np.testing.assert_array_equal(draws, np.repeat(expected_points[:, None, :], 3, axis=1))


def test_smaller_traps_give_answers_or_clear_errors():
    from skot.backends import OnlineGeometry
    from skot.model_selection import SourceTargetShuffleSplit

    rng = np.random.default_rng(0)
    X, _, sd = pack(rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) + 1.0)
    # Huge weights: only their ratios matter (their sum overflowed into an IndexError).
    for estimator in (SinkhornTransport(), GaussianBuresMap()):
        huge = clone(estimator).fit(X, sample_domain=sd, sample_weight=np.full(len(X), 1e308))
        np.testing.assert_allclose(huge.transform(X), clone(estimator).fit(X, sample_domain=sd).transform(X))
    # Unsigned class labels: target rows still get -1 (an OverflowError in uint8).
    _, y, _ = pack(X[:30], X[30:], np.arange(30).astype(np.uint8))
    assert y.dtype.kind == "i" and np.all(y[30:] == -1) and np.array_equal(y[:30], np.arange(30))
    for domains, message in ((sd >= 0, "got booleans"), (np.where(sd >= 0, 1e20, -1e20), r"within \+-2\*\*62"),
                             (np.where(sd >= 0, "s", "t"), "integer domain labels")):
        with pytest.raises(ValueError, match=message):
            SinkhornTransport().fit(X, sample_domain=domains)
    with pytest.raises(ValueError, match="y has shape"):  # a wrong-length y was ignored
        OTDomainAdapter().fit(X, np.zeros(10), sample_domain=sd)
    with pytest.warns(UserWarning, match="have empty cells"):
        SemiDiscreteMap(target=np.r_[X[:30], [[1e3, 1e3]]]).fit(X[:30])
    fitted_map = SinkhornTransport().fit(X, sample_domain=sd)
    with pytest.raises(ValueError, match="step_size must be a positive finite"):
        fitted_map.sample(X[:3], method="langevin", step_size=np.inf)
    with pytest.raises(ValueError, match="score returned shape"):
        fitted_map.sample(X[:3], n_samples=2, method="langevin", score=lambda states: np.zeros(len(states)))
    with pytest.raises(ValueError, match="n_splits must be a positive integer"):
        SourceTargetShuffleSplit(n_splits=0)
    with pytest.raises(ValueError, match="Unknown metric"):
        OnlineGeometry(X, X, "manhattan")
    # Source rows equal to rounding: a linear part of 1e15 to 1e17, silently.
    for source in (np.full((30, 2), 5.0), 5.0 + 1e-15 * rng.normal(size=(30, 2))):
        with pytest.raises(ValueError, match="source rows coincide"):
            GaussianBuresMap().fit(np.r_[source, X[30:]], sample_domain=sd)
