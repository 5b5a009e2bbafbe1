"""Free-support Wasserstein barycenters (Cuturi & Doucet 2014, fixed point on the support).

For domains mu_k = sum_i b_ki delta_{x_ki} with weights w_k, the support z of the
barycenter (uniform weights) is moved to sum_k w_k T_k(z), T_k the barycentric
projection of the plan from z to mu_k: exact plans (``eps = 0``, linear programs)
or entropic ones, debiased by the entropic self-map of the support
(T_k(z) - (T_zz(z) - z), which removes the first-order shrinkage of entropic maps).
"""

from dataclasses import dataclass

import numpy as np

from ..backends import pairwise_cost
from .exact import barycentric_images, exact_plan
from .sinkhorn import self_transport_potential, sinkhorn


@dataclass(frozen=True)
class FreeSupportBarycenterResult:
    """Output of :func:`free_support_barycenter`.

    Attributes
    ----------
    support : ndarray of shape (n_support, d)
    weights : ndarray of shape (n_support,)
        Uniform.
    n_iter : int
    converged : bool
    """

    support: np.ndarray
    weights: np.ndarray
    n_iter: int
    converged: bool


def free_support_barycenter(make_geometry, measures, domain_weights, init_support, eps, *,
                            max_iter=100, tol=1e-7, sinkhorn_tol=1e-9, sinkhorn_max_iter=1000):
    """Barycenter support by the fixed point z <- sum_k w_k T_k(z) (see module docstring).

    Parameters
    ----------
    make_geometry : callable
        ``make_geometry(u, v)`` -> Geometry with the squared Euclidean cost.
    measures : list of (points, weights)
    domain_weights : ndarray of shape (n_domains,)
    init_support : ndarray of shape (n_support, d)
    eps : float
        Entropic regularisation in raw cost units; 0 for exact plans.
    max_iter, tol : int, float
        Stop when the support moves less than ``tol`` times its spread (RMS).
    sinkhorn_tol, sinkhorn_max_iter : float, int
        Accuracy of the entropic plans.

    Returns
    -------
    FreeSupportBarycenterResult
    """
    support = np.array(init_support, dtype=np.float64)
    n_support = len(support)
    weights = np.full(n_support, 1.0 / n_support)

    def entropic_image(points, masses):
        geometry = make_geometry(support, points)
        result = sinkhorn(geometry, weights, masses, eps, tol=sinkhorn_tol, max_iter=sinkhorn_max_iter)
        return geometry.barycentric_map(result.potential_target + eps * np.log(masses), eps, axis=1)

    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):
        if eps > 0:
            images = [entropic_image(points, masses) for points, masses in measures]
        else:
            images = [barycentric_images(exact_plan(pairwise_cost(support, points, "sqeuclidean"), weights, masses),
                                         points) for points, masses in measures]
        updated = np.tensordot(domain_weights, np.array(images), axes=1)
        if eps > 0:
            self_geometry = make_geometry(support, support)
            f_self = self_transport_potential(self_geometry, weights, eps, tol=sinkhorn_tol)
            updated -= self_geometry.barycentric_map(f_self + eps * np.log(weights), eps, axis=1) - support
        spread = np.sqrt(np.mean(np.sum((support - support.mean(axis=0)) ** 2, axis=1))) or 1.0
        change = np.sqrt(np.mean(np.sum((updated - support) ** 2, axis=1))) / spread
        support = updated
        if change <= tol:
            converged = True
            break
    return FreeSupportBarycenterResult(support, weights, n_iter, converged)
