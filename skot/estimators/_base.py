"""Validation shared by the estimators: data layout, backends, warnings."""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._domain import domain_weights, infer_sample_domain, reference_points

FLOAT_DTYPES = (np.float64, np.float32)


@dataclass
class SourceTarget:
    """Source and target point clouds with their (positive) weights."""

    source: np.ndarray
    source_weights: np.ndarray
    target: np.ndarray
    target_weights: np.ndarray
    target_from_data: bool


def _positive(points, weights):
    keep = weights > 0
    return points[keep], weights[keep]


def split_source_target(X, y, sample_domain, sample_weight, *, target, n_target_samples, random_state):
    """Source and target measures of validated ``X`` (SPEC section 2).

    Rows of zero weight are dropped, so that they act exactly as absent rows.
    """
    domains = infer_sample_domain(X.shape[0], y, sample_domain)
    is_source = domains >= 0
    if not is_source.any():
        raise ValueError(
            "No source rows: every row is marked as target (sample_domain < 0 or masked label)."
        )
    source, source_weights = _positive(
        X[is_source], domain_weights(X, sample_weight, domains, is_source, "source")
    )
    if (~is_source).any():
        target_points, target_weights = _positive(
            X[~is_source], domain_weights(X, sample_weight, domains, ~is_source, "target")
        )
        from_data = True
    else:
        target_points = reference_points(target, X.shape[1], n_target_samples, random_state)
        target_points = target_points.astype(X.dtype, copy=False)
        target_weights = np.full(len(target_points), 1.0 / len(target_points))
        from_data = False
    return SourceTarget(source, source_weights, target_points, target_weights, from_data)


def warn_if_not_converged(estimator, result, tol):
    """Issue scikit-learn's ConvergenceWarning when a solver stopped on max_iter."""
    if not result.converged:
        warnings.warn(
            f"{type(estimator).__name__} did not converge in {result.n_iter} iterations "
            f"(marginal error {result.error:.3e} > tol={tol:g}); increase max_iter or reg.",
            ConvergenceWarning,
            stacklevel=3,
        )
