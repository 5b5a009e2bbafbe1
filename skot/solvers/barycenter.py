"""Free-support Wasserstein barycenters (Cuturi & Doucet 2014, fixed point on the support).

For domains mu_k = sum_i b_ki delta_{x_ki} with weights w_k, the support z of the
barycenter (uniform weights) is moved to sum_k w_k T_k(z), T_k the barycentric
projection of the plan from z to mu_k: exact plans (``eps = 0``, network simplex)
or entropic ones, debiased by the entropic self-map of the support
(T_k(z) - (T_zz(z) - z), which removes the first-order shrinkage of entropic maps).
"""

from dataclasses import dataclass

import numpy as np

from .._progress import Progress
from ..backends import like, namespace, to_numpy
from .exact import barycentric_images, exact_transport
from .multiscale import multiscale_sinkhorn
from .sinkhorn import log_weighted, self_transport_potential, sinkhorn
from ._validation import COUNT, NON_NEGATIVE, POSITIVE, VERBOSE, checked


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
    error : float
        The last relative change of the support (what ``tol`` bounds).
    """

    support: np.ndarray
    weights: np.ndarray
    n_iter: int
    converged: bool
    error: float


@checked(make_geometry=[callable], eps=POSITIVE, tol=NON_NEGATIVE, max_iter=COUNT, multiscale=["boolean"],
         verbose=VERBOSE)
def barycenter_map_plans(make_geometry, measures, support, support_weights, eps, *, tol=1e-10, max_iter=1000,
                         multiscale=False, verbose=0):
    """The entropic plan from each domain ``(points, masses)`` of ``measures`` to the barycenter
    ``support``: a :class:`SinkhornResult` each, whose target potential gives the domain's map
    (:func:`sinkhorn` on ``make_geometry(points, support)``, or :func:`multiscale_sinkhorn`)."""
    if multiscale:
        return [multiscale_sinkhorn(points, support, masses, support_weights, eps, tol=tol, max_iter=max_iter,
                                    verbose=verbose) for points, masses in measures]
    return [sinkhorn(make_geometry(points, support), masses, support_weights, eps, tol=tol, max_iter=max_iter,
                     verbose=verbose) for points, masses in measures]


@checked(make_geometry=[callable], eps=NON_NEGATIVE, max_iter=COUNT, tol=NON_NEGATIVE,
         sinkhorn_tol=NON_NEGATIVE, sinkhorn_max_iter=COUNT, multiscale=["boolean"], verbose=VERBOSE)
def free_support_barycenter(make_geometry, measures, domain_weights, init_support, eps, *,
                            max_iter=100, tol=1e-7, sinkhorn_tol=1e-9, sinkhorn_max_iter=1000, multiscale=False,
                            verbose=0):
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
    multiscale : bool
        Solve the entropic plans with :func:`multiscale_sinkhorn` (NumPy points, d <= 3).
    verbose : int
        Progress (iteration, relative move against ``tol``) through the ``"skot"`` logger.

    Returns
    -------
    FreeSupportBarycenterResult
    """
    xp = namespace(init_support)
    support = xp.asarray(init_support, dtype=xp.float64, copy=True)
    n_support = support.shape[0]
    weights = like(np.full(n_support, 1.0 / n_support), support)

    def entropic_image(domain, points, masses):
        geometry = make_geometry(support, points)
        if multiscale:
            result = multiscale_sinkhorn(support, points, weights, masses, eps, tol=sinkhorn_tol,
                                         max_iter=sinkhorn_max_iter)
        else:
            result = sinkhorn(geometry, weights, masses, eps, tol=sinkhorn_tol, max_iter=sinkhorn_max_iter)
        return geometry.barycentric_map(result.log_potentials[1], eps, axis=1)

    bases = {}  # each domain's last simplex basis: the next plan starts from it

    def exact_image(domain, points, masses):
        # The exact plan is combinatorial (network simplex): solved on the host.
        host_points = to_numpy(points)
        result = exact_transport(to_numpy(support), host_points, to_numpy(weights), to_numpy(masses),
                                 basis=bases.get(domain), verbose=verbose)
        bases[domain] = result.basis
        return like(barycentric_images(result.plan, host_points), support)

    def rms(values):
        return float(xp.sqrt(xp.mean(xp.sum(values**2, axis=1))))

    image = entropic_image if eps > 0 else exact_image
    converged, n_iter, change = False, 0, None
    progress = Progress("free-support barycenter", verbose, tol)
    for n_iter in range(1, max_iter + 1):
        updated = sum(float(w) * image(k, points, masses)
                      for k, (w, (points, masses)) in enumerate(zip(domain_weights, measures)))
        if eps > 0:
            self_geometry = make_geometry(support, support)
            f_self = self_transport_potential(self_geometry, weights, eps, tol=sinkhorn_tol)
            updated = updated - (self_geometry.barycentric_map(log_weighted(f_self, weights, eps), eps, axis=1)
                                 - support)
        spread = rms(support - xp.mean(support, axis=0)) or 1.0
        change = rms(updated - support) / spread
        support = updated
        if change <= tol:
            converged = True
            break
        progress(n_iter, change, note=progress.bar(n_iter, max_iter))
    progress.done(n_iter, change, converged)
    return FreeSupportBarycenterResult(support, weights, n_iter, converged, float(change))
