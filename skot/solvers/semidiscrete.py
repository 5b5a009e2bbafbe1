"""Semi-discrete optimal transport: a (sampled) continuous source onto weighted points.

The semi-dual (Peyre & Cuturi, section 5.2) is maximised over target weights g:
F(g) = <b, g> + sum_i a_i min_j (c(x_i, y_j) - g_j), or with eps > 0 the soft-min
-eps log sum_j b_j exp((g_j - c_ij) / eps). It is concave with gradient
b - (masses of the cells), so L-BFGS on the smoothed problem, annealed from a large
eps to the requested one (or to 1e-6 of the cost scale for eps = 0, then the hard
Laguerre cells argmax_j g_j - c(x, y_j)), converges fast and deterministically.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

ANNEALING = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)


@dataclass(frozen=True)
class SemiDiscreteResult:
    """Output of :func:`semidiscrete_dual`.

    Attributes
    ----------
    potential : ndarray of shape (m,)
        Target weights g (Laguerre cell of x: argmax_j g_j - c(x, y_j), soft at eps > 0).
    cell_masses : ndarray of shape (m,)
        Source mass in each (hard or soft) cell; equals b at the optimum.
    objective : float
        Semi-dual value F(g).
    n_iter : int
        L-BFGS iterations over all annealing stages.
    converged : bool
    error : float
        Largest |cell mass - b_j| relative to b_j.
    """

    potential: np.ndarray
    cell_masses: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    error: float


def semidual_objective(geometry, a, b, potential, eps):
    """F(g) on the samples of ``geometry`` (rows) with weights ``a`` (see module docstring)."""
    if eps > 0:
        values = geometry.softmin(potential + eps * np.log(b), eps, axis=1)
    else:
        labels = geometry.argmax(potential)
        values = _costs_to(geometry, labels) - potential[labels]
    return float(b @ potential + a @ values)


def _costs_to(geometry, labels):
    from ..backends import pairwise_cost

    points = np.asarray(geometry.x, dtype=np.float64)
    targets = np.asarray(geometry.y, dtype=np.float64)[labels]
    if geometry.metric == "sqeuclidean":
        return np.sum((points - targets) ** 2, axis=1)
    return np.array([pairwise_cost(p[None], t[None], geometry.metric)[0, 0] for p, t in zip(points, targets)])


def hard_cell_masses(geometry, a, potential):
    """Source mass of each Laguerre cell argmax_j g_j - c(x, y_j)."""
    return np.bincount(geometry.argmax(potential), weights=a, minlength=geometry.shape[1])


def semidiscrete_dual(geometry, a, b, eps, *, scale, max_iter=1000, tol=1e-6, init=None):
    """Maximise the semi-dual on ``geometry`` (rows: source samples, columns: targets).

    Parameters
    ----------
    geometry : skot.backends.Geometry
    a, b : ndarray
        Sample weights (sum 1) and target weights (sum 1).
    eps : float
        Entropic regularisation in raw cost units; 0 for hard Laguerre cells.
    scale : float
        Cost scale that sets the annealing schedule (eps from 0.1 * scale downwards).
    max_iter : int
        L-BFGS iterations per annealing stage.
    tol : float
        Stop a stage when every |cell mass - b_j| <= tol * b_j.
    init : ndarray, optional
        Warm start for g; it skips the annealing stages.

    Returns
    -------
    SemiDiscreteResult
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    log_b = np.log(b)
    potential = np.zeros(len(b)) if init is None else np.array(init, dtype=np.float64)
    final = eps if eps > 0 else ANNEALING[-1] * scale
    # A warm start is already near the optimum: no annealing from a large eps.
    schedule = [s * scale for s in ANNEALING if s * scale > final and init is None] + [final]
    n_iter, converged = 0, False
    for stage_eps in schedule:

        def negative(g):
            masses, softmins = geometry.soft_masses(g + stage_eps * log_b, stage_eps, a)
            return -(b @ g + a @ softmins), masses - b

        # L-BFGS's tiny vector operations gain nothing from BLAS threads, whose busy-waiting
        # between calls would steal the cores from the parallel kernels.
        with threadpool_limits(limits=1, user_api="blas"):
            result = minimize(negative, potential, jac=True, method="L-BFGS-B",
                              options={"maxiter": max_iter, "gtol": tol * b.min(), "ftol": 0.0})
        potential = result.x - np.mean(result.x)
        n_iter += result.nit
        converged = bool(np.max(np.abs(result.jac)) <= tol * b.min())
    if eps > 0:
        masses = geometry.soft_masses(potential + eps * log_b, eps, a)[0]
    else:
        masses = hard_cell_masses(geometry, a, potential)
    return SemiDiscreteResult(
        potential=potential,
        cell_masses=masses,
        objective=semidual_objective(geometry, a, b, potential, eps),
        n_iter=n_iter,
        converged=converged,
        error=float(np.max(np.abs(masses - b) / b)),
    )
