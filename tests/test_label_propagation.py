"""OTLabelPropagation: labels carried by the coupling, against an assignment, a dense plan and skada."""

import numpy as np
import pytest
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skot import OTLabelPropagation, make_da_pipeline, pack
from skot.backends import DenseGeometry, pairwise_cost
from skot.solvers import sinkhorn


def shifted(n=40, seed=0, source_share=0.5, target_share=0.5, shift=(1.5, 1.0)):
    rng = np.random.default_rng(seed)
    ys = (rng.random(n) < source_share).astype(int)
    yt = (rng.random(n) < target_share).astype(int)
    xs = rng.normal(size=(n, 2)) * 0.7 + np.c_[3.0 * ys, 0 * ys]
    xt = rng.normal(size=(n, 2)) * 0.7 + np.c_[3.0 * yt, 0 * yt] + shift
    X, y, domain = pack(xs, xt, ys)
    return X, y, domain, xs, xt, ys, yt


def test_exact_propagation_gives_each_target_row_its_assigned_source_label():
    X, y, domain, xs, xt, ys, _ = shifted(seed=1)
    model = OTLabelPropagation(method="exact").fit(X, y)
    # Equal uniform masses: the exact plan is the optimal assignment.
    rows, columns = linear_sum_assignment(pairwise_cost(xs, xt, "sqeuclidean"))
    expected = np.empty(len(xt), dtype=int)
    expected[columns] = ys[rows]
    np.testing.assert_array_equal(model.target_labels_, expected)
    reference = LogisticRegression().fit(xt, expected)
    np.testing.assert_allclose(model.estimator_.coef_, reference.coef_, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(xt), reference.predict(xt))


def test_entropic_propagation_is_the_argmax_of_the_dense_plan_columns():
    X, y, domain, xs, xt, ys, _ = shifted(seed=2)
    model = OTLabelPropagation(reg=0.3).fit(X, y, sample_domain=domain)
    a, b = np.full(len(xs), 1 / len(xs)), np.full(len(xt), 1 / len(xt))
    eps = 0.3 * float(a @ pairwise_cost(xs, xt, "sqeuclidean") @ b)
    plan = sinkhorn(DenseGeometry(xs, xt, "sqeuclidean"), a, b, eps, tol=1e-12).plan()
    columns = plan.T @ np.eye(2)[ys]
    np.testing.assert_array_equal(model.target_labels_, np.argmax(columns, axis=1))
    assert 0 < model.target_labels_.mean() < 1


def test_target_shift_carries_the_target_class_balance():
    # Label shift alone: the classes' feature distributions are the same in both domains.
    X, y, domain, xs, xt, ys, yt = shifted(n=200, seed=3, source_share=0.8, target_share=0.2, shift=(0.0, 0.0))
    plain = OTLabelPropagation(method="exact").fit(X, y)
    shifted_model = OTLabelPropagation(method="exact", target_shift=True).fit(X, y)
    # Without the correction the source's 80 % of class 1 reach the target; with it, its own 20 %.
    assert plain.target_labels_.mean() > 0.6
    assert abs(shifted_model.target_labels_.mean() - yt.mean()) < 0.08
    assert np.mean(shifted_model.predict(xt) == yt) > np.mean(plain.predict(xt) == yt) + 0.2


def test_pipeline_keeps_it_as_the_final_step_with_routing_on_and_off():
    X, y, domain, xs, xt, ys, yt = shifted(seed=4)
    pipeline = make_da_pipeline(OTLabelPropagation())
    assert isinstance(pipeline, Pipeline) and isinstance(pipeline[-1], OTLabelPropagation)
    off = pipeline.fit(X, y).predict_proba(xt)
    with sklearn.config_context(enable_metadata_routing=True):
        on = make_da_pipeline(OTLabelPropagation()).fit(X, np.where(domain >= 0, y, 1), sample_domain=domain)
    np.testing.assert_allclose(on.predict_proba(xt), off)
    assert np.mean(on.predict(xt) == yt) > 0.9
    # No target rows: the classifier of the source rows.
    source_only = OTLabelPropagation().fit(xs, ys)
    assert source_only.adapter_ is None
    np.testing.assert_allclose(source_only.estimator_.coef_, LogisticRegression().fit(xs, ys).coef_)


def test_same_predictions_as_skadas_ot_label_propagation():
    routing = sklearn.get_config()["enable_metadata_routing"]
    skada = pytest.importorskip("skada")
    sklearn.set_config(enable_metadata_routing=routing)
    X, y, domain, xs, xt, ys, _ = shifted(seed=5)
    ours = OTLabelPropagation(method="exact").fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        theirs = skada.OTLabelProp(LogisticRegression(), reg=None, n_iter_max=100000).fit(X, y, sample_domain=domain)
        np.testing.assert_array_equal(theirs.predict(xt), ours.predict(xt))
