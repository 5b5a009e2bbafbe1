"""Log-domain entropic optimal transport (Sinkhorn), balanced and unbalanced.

Problem (Peyre & Cuturi, ch. 4): min_P <C, P> + eps KL(P | a (x) b) subject to
P 1 = a, P^T 1 = b, or, with ``reg_m = rho``, the KL-relaxed marginals
rho KL(P 1 | a) + rho KL(P^T 1 | b). Alternating dual updates
g = tau * softmin_eps(f + eps log a), f = tau * softmin_eps(g + eps log b),
tau = rho / (rho + eps) (1 when balanced), never exponentiate unscaled costs.
Unbalanced iterations add the optimal dual translation (f + l, g - l) of
Sejourne et al. 2022 (translation-invariant Sinkhorn), without which the mode
f + c, g - c converges at rate 1 - eps / rho, hopelessly slowly for large rho.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


@dataclass(frozen=True)
class SinkhornResult:
    """Output of :func:`sinkhorn`.

    Attributes
    ----------
    potential_source, potential_target : ndarray
        Dual potentials ``f`` (n,) and ``g`` (m,) in raw cost units; the plan is
        ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)``.
    eps : float
        Entropic regularisation in raw cost units.
    reg_m : float or None
        KL marginal relaxation in raw cost units (None: balanced).
    n_iter : int
        Sinkhorn iterations run (one iteration updates g then f).
    converged : bool
        Whether the stopping criterion fell below ``tol`` before ``max_iter``.
    error : float
        Last stopping criterion: ``sum_i a_i |exp((f_i - f_i^new) / eps) - 1|``, the
        L1 error of the source marginal before the last update (balanced case).
    marginal_error : float
        ``|P^T 1 - b|_1`` of the returned plan (its source marginal is exact).
    dual_objective : float
        Dual value; equals the primal ``<C, P> + eps KL(P | a (x) b)`` (plus
        marginal penalties when unbalanced) at convergence.
    """

    potential_source: np.ndarray
    potential_target: np.ndarray
    eps: float
    reg_m: float | None
    n_iter: int
    converged: bool
    error: float
    marginal_error: float
    dual_objective: float


def _marginal_dual(potential, weights, reg_m):
    """<w, f> (balanced) or rho <w, 1 - exp(-f / rho)> (KL-relaxed marginal)."""
    if reg_m is None:
        return float(weights @ potential)
    return float(reg_m * (weights @ -np.expm1(-potential / reg_m)))


def _optimal_translation(f, g, a, b, reg_m):
    """l maximising the KL-relaxed dual at (f + l, g - l): (rho / 2) log(<a, e^-f/rho> / <b, e^-g/rho>)."""
    return 0.5 * reg_m * (logsumexp(-f / reg_m, b=a) - logsumexp(-g / reg_m, b=b))


def sinkhorn(geometry, a, b, eps, *, reg_m=None, max_iter=1000, tol=1e-9, init=None, verbose=0):
    """Solve entropic OT in the log domain on ``geometry`` (see module docstring).

    Parameters
    ----------
    geometry : skot.backends.Geometry
        Source points (rows) and target points (columns) with their ground cost.
    a, b : ndarray of shape (n,), (m,)
        Positive marginal weights, each summing to one.
    eps : float
        Entropic regularisation, in raw cost units (> 0).
    reg_m : float or None
        KL marginal relaxation in raw cost units; None for balanced OT.
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the source-marginal L1 error falls below ``tol``.
    init : tuple of ndarray, optional
        Warm start ``(f, g)``; only ``f`` is used, ``g`` is recomputed from it.
    verbose : int
        Print progress every ``max(1, 100 // verbose)`` iterations when positive.

    Returns
    -------
    SinkhornResult
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    log_a, log_b = np.log(a), np.log(b)
    tau = 1.0 if reg_m is None else reg_m / (reg_m + eps)
    f = np.zeros(len(a)) if init is None else np.array(init[0], dtype=np.float64)
    g = np.zeros(len(b))
    error, converged, n_iter = np.inf, False, 0
    with np.errstate(over="ignore"):
        for n_iter in range(1, max_iter + 1):
            g = tau * geometry.softmin(f + eps * log_a, eps, axis=0)
            if reg_m is not None:
                shift = _optimal_translation(f, g, a, b, reg_m)
                f, g = f + shift, g - shift
            f_new = tau * geometry.softmin(g + eps * log_b, eps, axis=1)
            error = float(a @ np.abs(np.expm1((f - f_new) / eps)))
            f = f_new
            if verbose and n_iter % max(1, 100 // verbose) == 0:
                print(f"sinkhorn: iteration {n_iter}, marginal error {error:.3e}")
            if error <= tol:
                converged = True
                break
        column_softmin = geometry.softmin(f + eps * log_a, eps, axis=0)
        column_marginal = b * np.exp((g - column_softmin) / eps)
    mass = float(np.sum(column_marginal))
    dual = (
        _marginal_dual(f, a, reg_m) + _marginal_dual(g, b, reg_m) - eps * (mass - 1.0)
    )
    return SinkhornResult(
        potential_source=f,
        potential_target=g,
        eps=float(eps),
        reg_m=reg_m,
        n_iter=n_iter,
        converged=converged,
        error=error,
        marginal_error=float(np.sum(np.abs(column_marginal - b))),
        dual_objective=dual,
    )


def self_transport_potential(geometry, a, eps, *, max_iter=1000, tol=1e-9):
    """Symmetric potential of entropic OT from ``a`` to itself on a square geometry.

    Averaged fixed point ``f <- (f + softmin_eps(f + eps log a)) / 2``; the optimal
    value is ``OT_eps(a, a) = 2 <a, f>``.
    """
    a = np.asarray(a, dtype=np.float64)
    log_a = np.log(a)
    f = np.zeros(len(a))
    for _ in range(max_iter):
        f_new = 0.5 * (f + geometry.softmin(f + eps * log_a, eps, axis=1))
        if float(a @ np.abs(f_new - f)) <= tol * eps:
            return f_new
        f = f_new
    return f


def sinkhorn_divergence(make_geometry, x, y, a, b, eps, *, max_iter=1000, tol=1e-9):
    """Debiased Sinkhorn divergence ``OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2``.

    ``make_geometry(u, v)`` builds the geometry of two point clouds; non-negative,
    zero iff the measures are equal (Feydy et al. 2019).
    """
    cross = sinkhorn(make_geometry(x, y), a, b, eps, max_iter=max_iter, tol=tol)
    f_self = self_transport_potential(make_geometry(x, x), a, eps, max_iter=max_iter, tol=tol)
    g_self = self_transport_potential(make_geometry(y, y), b, eps, max_iter=max_iter, tol=tol)
    return cross.dual_objective - float(a @ f_self) - float(b @ g_self)
