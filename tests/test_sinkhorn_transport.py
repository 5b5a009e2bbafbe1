"""SinkhornTransport: maps, plan, sampling, scoring, pipelines, bad input."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skot import SinkhornTransport, pack
from skot.backends import pairwise_cost

from .reference import textbook_sinkhorn


@pytest.fixture
def shifted(rng):
    xs = rng.normal(size=(40, 2))
    xt = rng.normal(size=(50, 2)) * [1.5, 0.5] + [4.0, 1.0]
    ys = (xs[:, 0] > 0).astype(int)
    return xs, xt, ys


def test_plan_is_the_textbook_plan_in_raw_units(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=2.0, cost_scale=None, tol=1e-13, max_iter=20000).fit(X, y)
    a, b = np.full(40, 1 / 40), np.full(50, 1 / 50)
    cost = pairwise_cost(xs, xt, "sqeuclidean")
    plan = est.transport_plan()
    np.testing.assert_allclose(plan, textbook_sinkhorn(cost, a, b, 2.0), atol=1e-8)
    assert est.transport_cost_ == pytest.approx(np.sum(plan * cost), rel=1e-12)
    assert est.epsilon_ == 2.0 and est.cost_scale_ == 1.0


def test_reg_is_in_units_of_the_cost_scale(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=0.1).fit(X, y)
    mean_cost = pairwise_cost(xs, xt, "sqeuclidean").mean()
    assert est.cost_scale_ == pytest.approx(mean_cost, rel=1e-12)
    assert est.epsilon_ == pytest.approx(0.1 * mean_cost, rel=1e-12)
    # Rescaling the data rescales the cost, not the meaning of reg.
    scaled = SinkhornTransport(reg=0.1).fit(10 * X, y)
    np.testing.assert_allclose(scaled.transport_plan(), est.transport_plan(), atol=1e-9)
    np.testing.assert_allclose(scaled.transform(10 * xs), 10 * est.transform(xs), rtol=1e-8)
    for kind, statistic in [("max", np.max), ("median", np.median)]:
        est = SinkhornTransport(cost_scale=kind).fit(X, y)
        assert est.cost_scale_ == pytest.approx(statistic(pairwise_cost(xs, xt, "sqeuclidean")), rel=0.02)


def test_in_sample_transform_is_the_barycentric_projection(shifted):
    xs, xt, ys = shifted
    X, y, sd = pack(xs, xt, ys)
    est = SinkhornTransport(reg=0.05).fit(X, y)
    plan = est.transport_plan()
    np.testing.assert_allclose(est.transform(xs), plan @ xt / plan.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(est.inverse_transform(xt), plan.T @ xs / plan.sum(axis=0)[:, None], atol=1e-7)


def test_fit_transform_maps_source_rows_only(shifted):
    xs, xt, ys = shifted
    X, y, sd = pack(xs, xt, ys)
    est = SinkhornTransport()
    out = est.fit_transform(X, y)
    np.testing.assert_allclose(out[:40], est.transform(xs))
    np.testing.assert_array_equal(out[40:], xt)
    np.testing.assert_allclose(est.transform(X, sample_domain=sd), out)


def test_far_away_points_map_to_finite_support_points(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=1e-2).fit(X, y)
    far = np.array([[1e6, 0.0], [0.0, -1e6], [1e200, 1e200], [-1e300, 0.0]])
    mapped = est.transform(far)
    assert np.all(np.isfinite(mapped))
    # So far out, the soft-min picks the support point furthest along the direction.
    np.testing.assert_allclose(mapped[0], xt[np.argmax(xt[:, 0])])
    np.testing.assert_allclose(mapped[3], xt[np.argmin(xt[:, 0])])
    assert np.all(np.isfinite(est.inverse_transform(far)))


def test_target_fallbacks(rng):
    X = rng.normal(size=(60, 2)) * 3 + 5
    est = SinkhornTransport(reg=0.002, random_state=0, n_target_samples=500).fit(X)
    assert est.support_target_.shape == (500, 2)
    mapped = est.transform(X)
    # Small reg: the entropic map is close to the OT map onto N(0, I).
    assert np.all(np.abs(mapped.mean(axis=0)) < 0.2) and np.all(np.abs(mapped.std(axis=0) - 1) < 0.2)
    est = SinkhornTransport(target="uniform", random_state=0).fit(X)
    assert est.support_target_.min() >= 0 and est.support_target_.max() <= 1
    points = rng.normal(size=(7, 2))
    est = SinkhornTransport(target=points).fit(X)
    np.testing.assert_array_equal(est.support_target_, points)
    with pytest.raises(ValueError, match="target has 3 features"):
        SinkhornTransport(target=np.zeros((4, 3))).fit(X)


def test_sample_weight_equals_repetition(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    weights = np.ones(len(X))
    weights[:10] = 2.0
    weights[40:45] = 0.0
    repeated = np.concatenate([X[:10], X[:40], X[45:]])
    y_repeated = np.concatenate([y[:10], y[:40], y[45:]])
    a = SinkhornTransport().fit(X, y, sample_weight=weights)
    b = SinkhornTransport().fit(repeated, y_repeated)
    np.testing.assert_allclose(a.transform(xs), b.transform(xs), rtol=1e-9)
    assert a.transport_cost_ == pytest.approx(b.transport_cost_, rel=1e-9)
    assert len(a.support_target_) == 45


def test_sample_draws_follow_the_conditional_plan(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=0.3).fit(X, y)
    plan = est.transport_plan()
    draws = est.sample(xs[:2], n_samples=20000, random_state=0)
    assert draws.shape == (2, 20000, 2)
    for row in range(2):
        indices = np.argmin(pairwise_cost(draws[row], xt, "sqeuclidean"), axis=1)
        frequencies = np.bincount(indices, minlength=50) / 20000
        expected = plan[row] / plan[row].sum()
        # Binomial standard deviation is below 0.0036 for 20000 draws.
        np.testing.assert_allclose(frequencies, expected, atol=0.02)
    np.testing.assert_array_equal(est.sample(xs, 3, random_state=1), est.sample(xs, 3, random_state=1))


def test_unbalanced_estimator_tends_to_balanced(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    balanced = SinkhornTransport(reg=0.1).fit(X, y).transport_plan()
    loose = SinkhornTransport(reg=0.1, reg_m=0.5).fit(X, y).transport_plan()
    tight = SinkhornTransport(reg=0.1, reg_m=1e5).fit(X, y).transport_plan()
    assert np.abs(tight - balanced).sum() < 1e-3 < np.abs(loose - balanced).sum()


@pytest.mark.parametrize("metric", ["euclidean", "cosine", lambda u, v: np.abs(u[:, None, :] - v[None]).sum(-1)])
def test_other_metrics_match_textbook(shifted, metric):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=0.2, metric=metric, tol=1e-13, max_iter=20000).fit(X, y)
    cost = pairwise_cost(xs, xt, metric)
    a, b = np.full(40, 1 / 40), np.full(50, 1 / 50)
    np.testing.assert_allclose(est.transport_plan(), textbook_sinkhorn(cost, a, b, est.epsilon_), atol=1e-8)


def test_small_reg_never_returns_nan(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SinkhornTransport(reg=1e-5, max_iter=50).fit(X, y)
    assert np.all(np.isfinite(est.potential_source_)) and np.all(np.isfinite(est.transform(xs)))
    with pytest.warns(ConvergenceWarning, match="did not converge in 3 iterations"):
        SinkhornTransport(reg=1e-4, max_iter=3).fit(X, y)


def test_score_prefers_the_aligned_map(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    est = SinkhornTransport(reg=0.05).fit(X, y)
    assert est.score(X, y) > -0.5
    # A map fitted towards another target scores worse on this data.
    wrong = SinkhornTransport(reg=0.05).fit(*pack(xs, xt + 5.0, ys)[:2])
    wrong._divergence_eps = est._divergence_eps
    assert wrong.score(X, y) < est.score(X, y) - 1.0
    # Without target rows, the fitted target support is the reference.
    assert est.score(xs) == pytest.approx(est.score(X, y), abs=0.2)


def test_transport_plan_refuses_beyond_the_limit(shifted, monkeypatch):
    from skot.estimators import _sinkhorn

    xs, xt, ys = shifted
    est = SinkhornTransport().fit(*pack(xs, xt, ys)[:2])
    monkeypatch.setattr(_sinkhorn, "PLAN_SIZE_LIMIT", 100)
    with pytest.raises(ValueError, match="40 x 50 = 2000 entries"):
        est.transport_plan()


def test_pipeline_with_masked_labels_routing_off(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    pipe = Pipeline([("scale", StandardScaler()), ("ot", SinkhornTransport())])
    out = pipe.fit_transform(X, y)
    scaled = StandardScaler().fit_transform(X)
    expected = SinkhornTransport().fit_transform(scaled, y)
    np.testing.assert_allclose(out, expected)


def test_pipeline_and_grid_search_with_routing_on(shifted):
    xs, xt, ys = shifted
    X, _, sd = pack(xs, xt)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()), ("ot", SinkhornTransport())])
        out = pipe.fit(X, sample_domain=sd).transform(X, sample_domain=sd)
        np.testing.assert_array_equal(out[40:], pipe.named_steps["scale"].transform(xt))
        search = GridSearchCV(SinkhornTransport(), {"reg": [0.02, 0.5]}, cv=KFold(3, shuffle=True, random_state=0))
        search.fit(X, sample_domain=sd)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert sklearn.get_config()["enable_metadata_routing"] is False


def test_grid_search_over_reg_with_masked_labels(shifted):
    xs, xt, ys = shifted
    X, y, _ = pack(xs, xt, ys)
    search = GridSearchCV(SinkhornTransport(), {"reg": [0.01, 0.1, 10.0]}, cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # A huge reg collapses the map onto the target mean: clearly worst.
    assert search.best_params_["reg"] != 10.0 and scores[2] < min(scores[:2])


def test_inputs_are_never_modified(shifted):
    xs, xt, ys = shifted
    X, y, sd = pack(xs, xt, ys)
    weights = np.linspace(1, 2, len(X))
    before = [arr.copy() for arr in (X, y, sd, weights)]
    est = SinkhornTransport()
    est.fit_transform(X, y, sample_domain=sd, sample_weight=weights)
    est.transform(X, sample_domain=sd)
    est.inverse_transform(X)
    est.score(X, y)
    est.sample(X, 2, random_state=0)
    for original, arr in zip(before, (X, y, sd, weights)):
        np.testing.assert_array_equal(original, arr)


@pytest.mark.parametrize(
    "params, data, match",
    [
        ({"reg": 0.0}, {}, "reg"),
        ({"reg": -1.0}, {}, "reg"),
        ({"metric": "manhattan"}, {}, "metric"),
        ({"backend": "tpu"}, {}, "backend"),
        ({}, {"X": [[np.nan, 0.0], [1.0, 1.0], [2.0, 2.0]]}, "NaN"),
        ({}, {"X": [[np.inf, 0.0], [1.0, 1.0], [2.0, 2.0]]}, "infinity"),
        ({}, {"sample_domain": [-1, -1, -1]}, "No source rows"),
        ({}, {"sample_domain": [0, 0, -1]}, "target domain -1 has 1 sample"),
        ({}, {"sample_weight": [1.0, -1.0, 1.0]}, "Negative"),
        ({}, {"sample_weight": [0.0, 0.0, 0.0]}, "non-zero"),
        ({}, {"sample_weight": [1.0, 1.0]}, "sample_weight"),
        ({}, {"sample_domain": [0, 0]}, "sample_domain has shape"),
    ],
)
def test_bad_input_gives_clear_errors(params, data, match):
    X = np.asarray(data.pop("X", [[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]))
    with pytest.raises(ValueError, match=match):
        SinkhornTransport(**params).fit(X, **data)


def test_cupy_backend_without_cupy_is_a_clear_error():
    pytest.importorskip  # noqa: B018 - CuPy is never installed on the test machines
    with pytest.raises(ValueError, match="CuPy"):
        SinkhornTransport(backend="cupy").fit(np.eye(3))


def test_wrong_feature_count_at_transform(shifted):
    xs, xt, ys = shifted
    est = SinkhornTransport().fit(*pack(xs, xt, ys)[:2])
    with pytest.raises(ValueError, match="3 features"):
        est.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="positive integer"):
        est.sample(xs, n_samples=0)


def test_an_interrupted_fit_leaves_the_estimator_unfitted(shifted, monkeypatch):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skot.estimators import _sinkhorn

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_sinkhorn, "sinkhorn", interrupted)
    est = SinkhornTransport()
    with pytest.raises(KeyboardInterrupt):
        est.fit(*pack(*shifted)[:2])
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
