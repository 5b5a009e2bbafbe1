"""Closed-form optimal transport between Gaussians (Bures-Wasserstein geometry).

For N(m_s, A) and N(m_t, B) under the cost |x - y|^2 (Peyre & Cuturi, Remark 2.31):
the OT map is x -> m_t + T (x - m_s) with T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2,
and W2^2 = |m_s - m_t|^2 + tr A + tr B - 2 tr (A^1/2 B A^1/2)^1/2.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh, qr
from scipy.linalg.blas import dsyrk
from sklearn.base import clone
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf

from .._progress import Progress
from ..backends import device, namespace
from ..backends._costs import check_representable, power_of_two
from ._validation import COUNT, NON_NEGATIVE, POSITIVE, VERBOSE, checked

COVARIANCE_ESTIMATORS = {"empirical": EmpiricalCovariance, "ledoit_wolf": LedoitWolf, "oas": OAS}


def _trace(matrix):
    xp = namespace(matrix)
    return np.trace(matrix) if xp is np else xp.linalg.trace(matrix)


def _eigh_psd(matrix):
    """Eigenvalues (clipped at 0) and eigenvectors of the symmetric part of ``matrix``."""
    xp = namespace(matrix)
    symmetric = 0.5 * (matrix + matrix.T)
    values, vectors = eigh(symmetric) if xp is np else xp.linalg.eigh(symmetric)
    return xp.clip(values, min=0.0), vectors


def _spectral(values, vectors, function):
    return (vectors * function(values)) @ vectors.T


def _inverse_floor(values, rcond):
    floor = rcond * values[-1]
    if not floor > 0:
        raise ValueError("Cannot take a negative power of a zero matrix.")
    return namespace(values).maximum(values, floor)


@checked(rcond=POSITIVE)
def psd_power(matrix, power, *, rcond=1e-12):
    """``matrix ** power`` of a symmetric positive semi-definite matrix, by ``eigh``.

    For negative powers, eigenvalues below ``rcond * max eigenvalue`` are raised to
    that floor, so near-singular inputs give finite, symmetric results.
    """
    values, vectors = _eigh_psd(matrix)
    if power < 0:
        values = _inverse_floor(values, rcond)
    return _spectral(values, vectors, lambda v: v**power)


def _weighted_scatter(points, mean, weights, unit=1.0, chunk=1024):
    """sum_i w_i (x_i - m)(x_i - m)^T / unit^2, by symmetric rank-k updates (BLAS syrk) on
    row chunks.

    Chunks keep temporaries in cache (no centred copy of the points); syrk computes one
    triangle, half the flops of a product.
    """
    d = points.shape[1]
    upper = np.zeros((d, d), order="F")
    for start in range(0, len(points), chunk):
        rows = slice(start, start + chunk)
        block = (points[rows] - mean) * (np.sqrt(weights[rows]) / unit)[:, None]
        upper = dsyrk(1.0, block, beta=1.0, c=upper, trans=1, overwrite_c=1)
    return np.triu(upper) + np.triu(upper, 1).T


@checked(ridge=NON_NEGATIVE)
def fit_gaussian(points, weights, covariance="empirical", ridge=0.0):
    """Mean and covariance of weighted points.

    ``covariance``: "empirical" (weighted maximum likelihood), "ledoit_wolf", "oas",
    or a scikit-learn covariance estimator (unweighted: all weights must be equal).
    ``ridge`` adds ``ridge * tr(C)`` (the total variance) to the diagonal. The named
    estimators see the centred points divided by a power of two near their spread (they are
    scale-equivariant), so no magnitude overflows; a covariance that float64 cannot hold is
    a ValueError.
    """
    xp = namespace(points)
    if xp is not np:
        return _fit_gaussian_array_api(points, weights, covariance, ridge, xp)
    points = np.asarray(points)
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    center = weights @ points
    if isinstance(covariance, str):
        # The largest |x - center| from the coordinates' ranges: O(d) memory, no centred copy.
        reach = (np.maximum(points.max(axis=0) - center, center - points.min(axis=0)) if points.size
                 else np.zeros(1))
        spread = power_of_two(float(reach.max()))
        if spread != 1.0:
            check_representable(spread * spread, "spread of the points squared")
        if covariance == "empirical":
            mean = center
            cov = _weighted_scatter(points, center, weights, spread)
        else:
            scaled = (points - center) / spread
            estimator = _fitted_covariance_estimator(covariance, scaled, weights)
            mean = center + spread * _location(estimator, weights, scaled)
            cov = np.asarray(estimator.covariance_, dtype=np.float64)
        cov = cov * (spread * spread)
    else:
        estimator = _fitted_covariance_estimator(covariance, points, weights)
        mean = _location(estimator, weights, points)
        cov = np.asarray(estimator.covariance_, dtype=np.float64)
    cov = 0.5 * (cov + cov.T)
    if ridge > 0:
        cov = cov + _ridge_variance(cov, ridge) * np.eye(len(cov))
    return mean, cov


def _ridge_variance(cov, ridge):
    """``ridge`` times the total variance (at least the smallest float): the added variance."""
    return ridge * max(float(_trace(cov)), np.finfo(float).tiny) if ridge > 0 else 0.0


def _fitted_covariance_estimator(covariance, points, weights):
    """``covariance`` (a name or an estimator) fitted to unweighted ``points``."""
    if not np.allclose(weights, weights[0]):
        raise ValueError(
            f"covariance={covariance!r} does not support sample_weight; "
            "use covariance='empirical' with weights."
        )
    estimator = COVARIANCE_ESTIMATORS[covariance]() if isinstance(covariance, str) else clone(covariance)
    return estimator.fit(points)


def _location(estimator, weights, points):
    """The estimator's ``location_``; the weighted mean for estimators that set none."""
    location = getattr(estimator, "location_", None)
    return weights @ points if location is None else np.asarray(location, dtype=np.float64)


def _fit_gaussian_array_api(points, weights, covariance, ridge, xp):
    """:func:`fit_gaussian` in namespace ``xp``: empirical moments only (float64)."""
    if covariance != "empirical":
        raise ValueError(
            f"covariance={covariance!r} runs on NumPy arrays only; use covariance='empirical' "
            f"with {xp.__name__} arrays."
        )
    points = xp.astype(points, xp.float64)
    weights = xp.asarray(weights, dtype=xp.float64, device=device(points))
    weights = weights / xp.sum(weights)
    mean = weights @ points
    centred = points - mean
    cov = (centred * weights[:, None]).T @ centred
    cov = 0.5 * (cov + cov.T)
    if ridge > 0:
        cov = cov + _ridge_variance(cov, ridge) * xp.eye(cov.shape[0], dtype=xp.float64, device=device(points))
    return mean, cov


@dataclass(frozen=True)
class GaussianOTResult:
    """OT between N(m_s, A) and N(m_t, B): map x -> m_t + linear (x - m_s), distance W2."""

    linear: np.ndarray
    distance: float


@checked(eps=NON_NEGATIVE, rcond=POSITIVE)
def gaussian_ot(mean_source, cov_source, mean_target, cov_target, eps=0.0, *, rcond=1e-12):
    """Bures-Wasserstein map and distance, or the entropic map when ``eps > 0``.

    With ``M = A^1/2 B A^1/2 = V diag(mu) V^T`` (two eigendecompositions in all):
    ``T = A^-1/2 V diag(sqrt(mu)) V^T A^-1/2``, ``W2^2 = |m_s - m_t|^2 + tr A + tr B - 2 sum sqrt(mu)``.
    Entropic (``min E|X - Y|^2 + eps KL(pi | mu (x) nu)``; Janati et al. 2020, ``s = eps / 2``):
    ``T = A^-1/2 D A^-1/2 / 2 - (s / 2) A^-1`` with ``D = V diag(sqrt(4 mu + s^2)) V^T``,
    computed as ``A^-1/2 V diag(2 mu / (sqrt(4 mu + s^2) + s)) V^T A^-1/2`` (stable for any
    s); the map tends to the unregularised one as eps -> 0 and to 0 as eps -> infinity.
    """
    xp = namespace(cov_source, cov_target)
    # The map is unchanged when both covariances and eps are divided by one unit, and W2^2
    # scales by it: solving at unit scale keeps A^1/2 B A^1/2 from overflowing.
    root_unit = power_of_two(math.sqrt(max(float(_trace(cov_source)), float(_trace(cov_target)))))
    unit = root_unit * root_unit
    cov_source, cov_target, eps = cov_source / unit, cov_target / unit, eps / unit
    values, vectors = _eigh_psd(cov_source)
    root = _spectral(values, vectors, xp.sqrt)
    inverse_values = _inverse_floor(values, rcond)
    inverse_root = _spectral(inverse_values, vectors, lambda v: v**-0.5)
    mu, basis = _eigh_psd(root @ cov_target @ root)
    if eps > 0:
        half_eps = 0.5 * eps
        # (sqrt(4 mu + s^2) - s) / 2 as 2 mu / (sqrt(4 mu + s^2) + s): no cancellation, and no
        # overflow of s^2, at large s.
        middle = _spectral(mu, basis, lambda v: 2.0 * v / (xp.hypot(2.0 * xp.sqrt(v), half_eps) + half_eps))
        linear = inverse_root @ middle @ inverse_root
    else:
        linear = inverse_root @ _spectral(mu, basis, xp.sqrt) @ inverse_root
    shift = (mean_source - mean_target) / root_unit
    squared = float(xp.sum(shift**2) + _trace(cov_source) + _trace(cov_target) - 2.0 * xp.sum(xp.sqrt(mu)))
    return GaussianOTResult(linear=0.5 * (linear + linear.T),
                            distance=root_unit * math.sqrt(max(squared, 0.0)))


def bures_map(cov_source, cov_target):
    """Linear part T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2 of the OT map (symmetric PSD)."""
    zero = np.zeros(len(cov_source))
    return gaussian_ot(zero, cov_source, zero, cov_target).linear


def entropic_gaussian_map(cov_source, cov_target, eps):
    """Linear part of the entropic OT map (barycentric projection of the entropic plan)."""
    zero = np.zeros(len(cov_source))
    return gaussian_ot(zero, cov_source, zero, cov_target, eps).linear


def bures_wasserstein_distance(mean_source, cov_source, mean_target, cov_target):
    """W2 between N(m_s, A) and N(m_t, B); commuting A, B give sum (sqrt a_i - sqrt b_i)^2."""
    return gaussian_ot(mean_source, cov_source, mean_target, cov_target).distance


@dataclass(frozen=True)
class BuresBarycenterResult:
    """Gaussian barycenter N(mean, covariance), the fixed-point iterations run and the last
    relative change of the covariance (``error``, what ``tol`` bounds)."""

    mean: np.ndarray
    covariance: np.ndarray
    n_iter: int
    converged: bool
    error: float


@checked(max_iter=COUNT, tol=NON_NEGATIVE, verbose=VERBOSE)
def bures_barycenter(means, covariances, weights=None, *, max_iter=100, tol=1e-10, verbose=0):
    """Wasserstein barycenter of Gaussians by the fixed point of Alvarez-Esteban et al. (2016).

    mean = sum_k w_k m_k; S <- S^-1/2 (sum_k w_k (S^1/2 C_k S^1/2)^1/2)^2 S^-1/2, started at
    the weighted mean covariance, stopped when the relative change of S is below ``tol``.
    Commuting covariances give (sum_k w_k C_k^1/2)^2. ``verbose``: progress through the
    ``"skot"`` logger.
    """
    xp = namespace(means[0])
    weights = np.full(len(means), 1.0 / len(means)) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()

    def norm(matrix):
        return float(xp.sqrt(xp.sum(matrix * matrix)))

    # The fixed point is homogeneous of degree one in the covariances: iterate at unit scale.
    unit = power_of_two(max(float(_trace(cov)) for cov in covariances))
    covariances = [cov / unit for cov in covariances]
    current = sum(float(w) * cov for w, cov in zip(weights, covariances))
    converged, n_iter, change = False, 0, None
    progress = Progress("Bures barycenter", verbose, tol)
    for n_iter in range(1, max_iter + 1):
        values, vectors = _eigh_psd(current)
        root = _spectral(values, vectors, xp.sqrt)
        inverse_root = _spectral(_inverse_floor(values, 1e-12), vectors, lambda v: v**-0.5)
        average = sum(float(w) * psd_power(root @ cov @ root, 0.5) for w, cov in zip(weights, covariances))
        updated = inverse_root @ average @ average @ inverse_root
        updated = 0.5 * (updated + updated.T)
        change = norm(updated - current) / norm(current)
        current = updated
        if change <= tol:
            converged = True
            break
        progress(n_iter, change)
    progress.done(n_iter, change, converged)
    return BuresBarycenterResult(sum(float(w) * mean for w, mean in zip(weights, means)), current * unit,
                                 n_iter, converged, float(change))


# Gaussian fits run in the span of the centred rows when the features outnumber the rows
# this many times: the d x d eigendecompositions then cost far more than the q x q ones.
SUBSPACE_MAX_ROWS = 2


def use_subspace(n_rows, n_features):
    """Whether fits of ``n_rows`` rows (all sets together) in ``n_features`` dimensions
    should run in the span of the rows (:class:`SubspaceGaussians`)."""
    return SUBSPACE_MAX_ROWS * n_rows < n_features


@dataclass(frozen=True)
class SubspaceGaussians:
    """Gaussian fits of point sets with fewer points than dimensions, held in the span of
    their centred points: covariance ``Q S_k Q^T + r_k (I - Q Q^T)`` for an orthonormal
    basis ``Q`` (d, q) and a q x q block ``S_k`` (ridge included), since a ridge is the only
    variance outside the span. OT maps, distances and barycenters of such Gaussians split
    into a q-dimensional problem and a scalar one: O(d q^2) work instead of O(d^3).

    Attributes
    ----------
    basis : ndarray of shape (d, q)
    means : list of ndarray of shape (d,)
    blocks : list of ndarray of shape (q, q)
    complements : list of float
        ``r_k``, the variance in every direction outside the span.
    """

    basis: np.ndarray
    means: list
    blocks: list
    complements: list

    def covariance(self, k):
        """The d x d covariance of Gaussian ``k``."""
        return _lift(self.basis, self.blocks[k], self.complements[k])

    def with_isotropic(self, mean, variance):
        """These Gaussians and N(mean, variance I)."""
        block = variance * np.eye(self.basis.shape[1])
        return SubspaceGaussians(self.basis, [*self.means, mean], [*self.blocks, block],
                                 [*self.complements, float(variance)])


def _lift(basis, block, complement):
    """Q B Q^T + c (I - Q Q^T), as Q (B - c I) Q^T + c I."""
    lifted = (basis @ (block - complement * np.eye(len(block)))) @ basis.T
    lifted[np.diag_indices_from(lifted)] += complement
    return 0.5 * (lifted + lifted.T)


def fit_subspace_gaussians(point_sets, weight_sets, ridge=0.0):
    """Empirical Gaussian fits of weighted point sets in the span of their centred points
    (see :class:`SubspaceGaussians`); ``ridge`` as in :func:`fit_gaussian`, one for all or
    one per set."""
    ridges = np.broadcast_to(np.asarray(ridge, dtype=np.float64), (len(point_sets),))
    means = [np.asarray(weights, dtype=np.float64) / np.sum(weights) @ np.asarray(points)
             for points, weights in zip(point_sets, weight_sets)]
    centred = np.vstack([np.asarray(points, dtype=np.float64) - mean for points, mean in zip(point_sets, means)])
    basis = qr(centred.T, mode="economic")[0]
    blocks, complements = [], []
    for points, weights, mean, set_ridge in zip(point_sets, weight_sets, means, ridges):
        _, block = fit_gaussian((np.asarray(points, dtype=np.float64) - mean) @ basis, weights)
        variance = _ridge_variance(block, float(set_ridge))  # the block's trace is the full one
        blocks.append(block + variance * np.eye(len(block)))
        complements.append(variance)
    return SubspaceGaussians(basis, means, blocks, complements)


def subspace_gaussian_ot(gaussians, source, target, eps=0.0):
    """:func:`gaussian_ot` between Gaussians ``source`` and ``target`` of ``gaussians``.

    The map is ``Q T_q Q^T + t (I - Q Q^T)``: the q-dimensional map between the blocks and
    the scalar one between the complements (0 when the source has no variance there, as the
    dense computation gives); W2^2 adds the complements' term, d - q times.
    """
    d, q = gaussians.basis.shape
    zero, scalar = np.zeros(q), np.zeros(1)
    block = gaussian_ot(zero, gaussians.blocks[source], zero, gaussians.blocks[target], eps)
    alpha, beta = gaussians.complements[source], gaussians.complements[target]
    outside = (gaussian_ot(scalar, np.array([[alpha]]), scalar, np.array([[beta]]), eps)
               if alpha > 0 else GaussianOTResult(np.zeros((1, 1)), math.sqrt(beta)))
    shift = gaussians.means[source] - gaussians.means[target]
    squared = float(shift @ shift) + block.distance**2 + (d - q) * outside.distance**2
    return GaussianOTResult(_lift(gaussians.basis, block.linear, float(outside.linear[0, 0])), math.sqrt(squared))


def subspace_bures_barycenter(gaussians, weights=None, **options):
    """:func:`bures_barycenter` of :class:`SubspaceGaussians`: the fixed point on the blocks,
    and (sum_k w_k sqrt(r_k))^2 outside the span (isotropic there, as commuting covariances).

    Returns the :class:`BuresBarycenterResult` (d x d covariance) and the Gaussians with the
    barycenter appended, for its maps (:func:`subspace_gaussian_ot`). ``options``: those of
    :func:`bures_barycenter`.
    """
    count = len(gaussians.blocks)
    weights = np.full(count, 1.0 / count) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    block = bures_barycenter(gaussians.means, gaussians.blocks, weights, **options)
    complement = float(weights @ np.sqrt(gaussians.complements)) ** 2
    extended = SubspaceGaussians(gaussians.basis, [*gaussians.means, block.mean], [*gaussians.blocks, block.covariance],
                                 [*gaussians.complements, complement])
    result = BuresBarycenterResult(block.mean, extended.covariance(count), block.n_iter, block.converged, block.error)
    return result, extended


def bures_barycenter_maps(measures, weights, ridges, **options):
    """The Bures barycenter of the Gaussian fits of weighted point sets, and the affine map of
    each set onto it: x -> A_k x + b_k, A_k the Bures map of fit k, b_k = m - A_k m_k.

    ``measures``: list of (points, weights); ``ridges``: each fit's covariance ridge;
    ``options``: those of :func:`bures_barycenter`. Few NumPy rows in many features
    (:func:`use_subspace`): the fits, the fixed point and the maps in the span of the rows.

    Returns ``(BuresBarycenterResult, coefs (K, d, d), intercepts (K, d))``.
    """
    xp = namespace(measures[0][0])
    n_rows, n_features = sum(points.shape[0] for points, _ in measures), measures[0][0].shape[1]
    if xp is np and use_subspace(n_rows, n_features):
        gaussians = fit_subspace_gaussians([p for p, _ in measures], [m for _, m in measures], ridges)
        result, gaussians = subspace_bures_barycenter(gaussians, weights, **options)
        means = gaussians.means[:-1]
        maps = [subspace_gaussian_ot(gaussians, k, len(measures)).linear for k in range(len(measures))]
    else:
        moments = [fit_gaussian(points, masses, ridge=ridge) for (points, masses), ridge in zip(measures, ridges)]
        result = bures_barycenter([m for m, _ in moments], [c for _, c in moments], weights, **options)
        means = [mean for mean, _ in moments]
        maps = [gaussian_ot(mean, cov, result.mean, result.covariance).linear for mean, cov in moments]
    return result, xp.stack(maps), xp.stack([result.mean - linear @ mean for linear, mean in zip(maps, means)])
