"""Closed-form optimal transport between Gaussians (Bures-Wasserstein geometry).

For N(m_s, A) and N(m_t, B) under the cost |x - y|^2 (Peyre & Cuturi, Remark 2.31):
the OT map is x -> m_t + T (x - m_s) with T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2,
and W2^2 = |m_s - m_t|^2 + tr A + tr B - 2 tr (A^1/2 B A^1/2)^1/2.
"""

import numpy as np
from scipy.linalg import eigh
from sklearn.base import clone
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf

COVARIANCE_ESTIMATORS = {"empirical": EmpiricalCovariance, "ledoit_wolf": LedoitWolf, "oas": OAS}


def psd_power(matrix, power, *, rcond=1e-12):
    """``matrix ** power`` of a symmetric positive semi-definite matrix, by ``eigh``.

    Eigenvalues below ``rcond * max eigenvalue`` are clipped to that floor (to 0
    for positive powers), so near-singular inputs give finite, symmetric results.
    """
    values, vectors = eigh(0.5 * (matrix + matrix.T))
    floor = rcond * max(values[-1], 0.0)
    values = np.maximum(values, floor) if power < 0 else np.maximum(values, 0.0)
    if power < 0 and floor == 0.0:
        raise ValueError("Cannot take a negative power of a zero matrix.")
    return (vectors * values**power) @ vectors.T


def fit_gaussian(points, weights, covariance="empirical", ridge=0.0):
    """Mean and covariance of weighted points.

    ``covariance``: "empirical" (weighted maximum likelihood), "ledoit_wolf", "oas",
    or a scikit-learn covariance estimator (unweighted: all weights must be equal).
    ``ridge`` adds ``ridge * tr(C)`` (the total variance) to the diagonal.
    """
    points = np.asarray(points, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    if covariance == "empirical":
        mean = weights @ points
        scaled = points - mean
        scaled *= np.sqrt(weights)[:, None]
        cov = scaled.T @ scaled
    else:
        if not np.allclose(weights, weights[0]):
            raise ValueError(
                f"covariance={covariance!r} does not support sample_weight; "
                "use covariance='empirical' with weights."
            )
        estimator = COVARIANCE_ESTIMATORS[covariance]() if isinstance(covariance, str) else clone(covariance)
        estimator.fit(points)
        mean, cov = np.asarray(estimator.location_, dtype=np.float64), np.asarray(estimator.covariance_, dtype=np.float64)
    cov = 0.5 * (cov + cov.T)
    if ridge > 0:
        cov = cov + ridge * max(np.trace(cov), np.finfo(float).tiny) * np.eye(len(cov))
    return mean, cov


def bures_map(cov_source, cov_target):
    """Linear part T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2 of the OT map (symmetric PSD)."""
    root = psd_power(cov_source, 0.5)
    inverse_root = psd_power(cov_source, -0.5)
    middle = psd_power(root @ cov_target @ root, 0.5)
    linear = inverse_root @ middle @ inverse_root
    return 0.5 * (linear + linear.T)


def entropic_gaussian_map(cov_source, cov_target, eps):
    """Linear part of the entropic OT map (barycentric projection of the entropic plan).

    For min E|X - Y|^2 + eps KL(pi | mu (x) nu) between Gaussians (Janati et al. 2020,
    sigma^2 = eps / 2): T = A^-1/2 D A^-1/2 / 2 - (eps / 4) A^-1 with
    D = (4 A^1/2 B A^1/2 + sigma^4 I)^1/2; tends to :func:`bures_map` as eps -> 0.
    """
    sigma2 = 0.5 * eps
    root = psd_power(cov_source, 0.5)
    inverse_root = psd_power(cov_source, -0.5)
    middle = psd_power(4.0 * root @ cov_target @ root + sigma2**2 * np.eye(len(root)), 0.5)
    linear = 0.5 * inverse_root @ middle @ inverse_root - 0.5 * sigma2 * (inverse_root @ inverse_root)
    return 0.5 * (linear + linear.T)


def bures_wasserstein_distance(mean_source, cov_source, mean_target, cov_target):
    """W2 between N(m_s, A) and N(m_t, B); commuting A, B give sum (sqrt a_i - sqrt b_i)^2."""
    root = psd_power(cov_source, 0.5)
    cross = np.trace(psd_power(root @ cov_target @ root, 0.5))
    squared = np.sum((mean_source - mean_target) ** 2) + np.trace(cov_source) + np.trace(cov_target) - 2 * cross
    return float(np.sqrt(max(squared, 0.0)))
