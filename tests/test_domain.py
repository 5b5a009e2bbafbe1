"""The domain conventions of docs/conventions.rst."""

import numpy as np
import pytest

from skot import pack
from skot._domain import domain_weights, infer_sample_domain


def test_pack_builds_masked_labels_and_domains(rng):
    xs, xt = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    ys = np.array([0, 1, 1, 0])
    copies = [xs.copy(), xt.copy(), ys.copy()]
    X, y, sd = pack(xs, xt, ys)
    np.testing.assert_array_equal(X, np.vstack([xs, xt]))
    np.testing.assert_array_equal(y, [0, 1, 1, 0, -1, -1, -1])
    np.testing.assert_array_equal(sd, [0, 0, 0, 0, -1, -1, -1])
    for before, after in zip(copies, [xs, xt, ys]):
        np.testing.assert_array_equal(before, after)


def test_pack_regression_labels_masked_with_nan(rng):
    _, y, _ = pack(rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), np.array([0.5, -1.0]))
    np.testing.assert_array_equal(np.isnan(y), [False, False, True, True])


def test_pack_several_domains_and_no_labels(rng):
    X, y, sd = pack([rng.normal(size=(2, 2)), rng.normal(size=(3, 2))], [rng.normal(size=(1, 2))])
    assert y is None
    np.testing.assert_array_equal(sd, [0, 0, 1, 1, 1, -1])


def test_pack_refuses_label_minus_one(rng):
    with pytest.raises(ValueError, match="-1"):
        pack(rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), np.array([-1, 0]))


def test_infer_sample_domain_priority():
    y = np.array([0, -1, 1, -1])
    np.testing.assert_array_equal(infer_sample_domain(4, y), [0, -1, 0, -1])
    np.testing.assert_array_equal(infer_sample_domain(4, y, np.array([1, 1, -2, -2])), [1, 1, -2, -2])
    np.testing.assert_array_equal(infer_sample_domain(4, None), [0, 0, 0, 0])
    # A continuous target marks with NaN only: -1.0 is a legitimate value there.
    np.testing.assert_array_equal(infer_sample_domain(3, np.array([-1.0, np.nan, 0.37])), [0, -1, 0])
    # Float class labels mark with -1 (and NaN); all-NaN labels are all target rows.
    np.testing.assert_array_equal(infer_sample_domain(3, np.array([1.0, -1.0, 0.0])), [0, -1, 0])
    np.testing.assert_array_equal(infer_sample_domain(2, np.array([np.nan, np.nan])), [-1, -1])
    with pytest.raises(ValueError, match="sample_domain has shape"):
        infer_sample_domain(4, None, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer domain labels"):
        infer_sample_domain(2, None, np.array([0.5, -1]))


def test_domain_weights_equal_mass_per_domain():
    X = np.zeros((5, 1))
    sd = np.array([0, 0, 1, 1, 1])
    w = domain_weights(X, np.array([1.0, 3.0, 1.0, 1.0, 2.0]), sd, sd >= 0, "source")
    np.testing.assert_allclose(w, [0.125, 0.375, 0.125, 0.125, 0.25])
    with pytest.raises(ValueError, match="1 sample"):
        domain_weights(X, np.array([1.0, 0.0, 1.0, 1.0, 1.0]), sd, sd >= 0, "source")
    with pytest.raises(ValueError, match="(?i)negative"):
        domain_weights(X, np.array([1.0, -1.0, 1.0, 1.0, 1.0]), sd, sd >= 0, "source")
