"""Log-domain entropic optimal transport (Sinkhorn), balanced and unbalanced.

Problem (Peyre & Cuturi, ch. 4): min_P <C, P> + eps KL(P | a (x) b) subject to
P 1 = a, P^T 1 = b, or, with ``reg_m = rho``, the KL-relaxed marginals
rho KL(P 1 | a) + rho KL(P^T 1 | b). Alternating dual updates
g = tau * softmin_eps(f + eps log a), f = tau * softmin_eps(g + eps log b),
tau = rho / (rho + eps) (1 when balanced), never exponentiate unscaled costs.
Anderson acceleration (Walker & Ni 2011) extrapolates the potential from the
last ``memory`` iterates, minimising the a-weighted residual; a safeguard drops
the history whenever the marginal error grows, so the method falls back to
plain Sinkhorn steps, whose convergence is guaranteed.
Unbalanced iterations add the optimal dual translation (f + l, g - l) of
Sejourne et al. 2022 (translation-invariant Sinkhorn), without which the mode
f + c, g - c converges at rate 1 - eps / rho, hopelessly slowly for large rho.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp, softmax

from .._progress import Progress
from ..backends import device, namespace, one_blas_thread
from ..backends import logsumexp as generic_logsumexp
from ._validation import COUNT, NON_NEGATIVE, NON_NEGATIVE_COUNT, POSITIVE, VERBOSE, checked


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
        Sinkhorn iterations run (updates of f; one iteration updates g then f).
    converged : bool
        Whether the stopping criterion fell below ``tol`` before ``max_iter``.
    error : float
        Last stopping criterion: ``sum_i a_i |exp((f_i - f_i^new) / eps) - 1|``, the
        L1 error of the source marginal before the last update (balanced case), or,
        when a plain (unextrapolated) iterate already met ``tol`` on the target side,
        ``marginal_error``.
    marginal_error : float
        ``|P^T 1 - b|_1`` of the returned plan (its source marginal is exact).
    dual_objective : float
        Dual value; equals the primal ``<C, P> + eps KL(P | a (x) b)`` (plus
        marginal penalties when unbalanced) at convergence.
    source_weights, target_weights : ndarray or None
        The problem's weights ``a`` and ``b``.
    geometry : Geometry or None
        The problem's geometry, which :meth:`plan` and :meth:`plan_cost` reduce.
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
    source_weights: np.ndarray | None = None
    target_weights: np.ndarray | None = None
    geometry: object = field(default=None, repr=False, compare=False)

    @property
    def log_potentials(self):
        """``(f + eps log a, g + eps log b)``: what the geometry's reductions take."""
        return (log_weighted(self.potential_source, self.source_weights, self.eps),
                log_weighted(self.potential_target, self.target_weights, self.eps))

    def _problem_geometry(self):
        if self.geometry is None or self.source_weights is None or self.target_weights is None:
            raise ValueError("This result carries no geometry and weights; build the plan from its potentials.")
        return self.geometry

    def plan(self):
        """The coupling ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)``, dense (n, m)."""
        return self._problem_geometry().plan(*self.log_potentials, self.eps)

    def plan_cost(self):
        """``<C, P>``, without storing P."""
        return self._problem_geometry().plan_cost(*self.log_potentials, self.eps)


def log_weighted(potential, weights, eps):
    """``potential + eps log(weights)`` in their namespace (-inf where a weight is 0; the potential
    itself at eps = 0): the log-weighted potential that geometries reduce."""
    if eps == 0:
        return potential
    with np.errstate(divide="ignore"):  # a point without mass has log-weight -inf: no term
        return potential + eps * namespace(weights).log(weights)


def _marginal_dual(potential, weights, reg_m):
    """<w, f> (balanced) or rho <w, 1 - exp(-f / rho)> (KL-relaxed marginal)."""
    if reg_m is None:
        return float(weights @ potential)
    return float(reg_m * (weights @ -namespace(potential).expm1(-potential / reg_m)))


def _optimal_translation(f, g, a, b, reg_m):
    """l maximising the KL-relaxed dual at (f + l, g - l): (rho / 2) log(<a, e^-f/rho> / <b, e^-g/rho>)."""
    xp = namespace(f, a)
    if xp is np:
        return 0.5 * reg_m * (logsumexp(-f / reg_m, b=a) - logsumexp(-g / reg_m, b=b))
    source = generic_logsumexp((-f / reg_m + xp.log(a))[None, :], 1, xp)[0]
    target = generic_logsumexp((-g / reg_m + xp.log(b))[None, :], 1, xp)[0]
    return 0.5 * reg_m * (source - target)


def check_weights(weights, size, name):
    """A ValueError unless ``weights`` are ``size`` finite, non-negative values, not all zero."""
    xp = namespace(weights)
    if tuple(weights.shape) != (size,):
        raise ValueError(f"The {name} weights have shape {tuple(weights.shape)}, for {size} {name} points.")
    if not (bool(xp.all(xp.isfinite(weights))) and bool(xp.all(weights >= 0)) and float(xp.sum(weights)) > 0):
        raise ValueError(f"The {name} weights must be finite, non-negative and not all zero.")


# Iterations without halving the error after which Anderson mixing is switched off.
ANDERSON_PATIENCE = 100
# Tikhonov regularisation of Anderson's Gram matrix of unit-norm residuals.
ANDERSON_TIKHONOV = 1e-6


class _Anderson:
    """Type-II Anderson mixing of a fixed-point map, with a-weighted residuals.

    Residuals are kept in units of ``unit`` (eps): their Gram matrix then neither overflows
    nor underflows whatever the scale of the costs.
    """

    def __init__(self, memory, weights, unit):
        xp = namespace(weights)
        # More residuals than weighted entries are linearly dependent (a singular Gram matrix).
        self.memory = min(memory, int(xp.sum(xp.astype(weights > 0, xp.int64))))
        self.weights = weights
        self.unit = unit
        self.images, self.residuals = [], []

    def reset(self):
        self.images.clear()
        self.residuals.clear()

    def __call__(self, point, image):
        """Next iterate from ``point`` and its image under the fixed-point map."""
        if self.memory == 0:
            return image
        self.images.append(image)
        self.residuals.append((image - point) / self.unit)
        del self.images[: -self.memory], self.residuals[: -self.memory]
        if len(self.residuals) == 1:
            return image
        xp = namespace(image)
        residuals = xp.stack(self.residuals)
        gram = (residuals * self.weights) @ residuals.T
        if not bool(xp.all(xp.isfinite(gram))):  # residuals beyond float64: plain iterates
            self.reset()
            return image
        identity = xp.eye(gram.shape[0], dtype=gram.dtype, device=device(gram))
        norms = xp.sqrt(xp.sum(gram * identity, axis=1))
        if not float(xp.min(norms)) > 0.0:  # an exact fixed point: nothing to extrapolate
            self.reset()
            return image
        # Tikhonov on residuals of unit norm: one relative to the largest residual would drown
        # the newest, far smaller ones of a fast-converging iteration.
        unit_gram = gram / (norms[:, None] * norms[None, :]) + ANDERSON_TIKHONOV * identity
        try:
            coefficients = xp.linalg.solve(unit_gram, 1.0 / norms) / norms
        except np.linalg.LinAlgError:
            self.reset()
            return image
        coefficients = coefficients / xp.sum(coefficients)
        return coefficients @ xp.stack(self.images)


@checked(eps=POSITIVE, reg_m=POSITIVE + [None], max_iter=COUNT, tol=NON_NEGATIVE,
         anderson_memory=NON_NEGATIVE_COUNT, verbose=VERBOSE)
def sinkhorn(geometry, a, b, eps, *, reg_m=None, max_iter=1000, tol=1e-9, init=None,
             anderson_memory=8, verbose=0):
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
        Stop when the source-marginal L1 error falls below ``tol`` (or the target one, for
        a plain iterate, whose source marginal is exact).
    init : tuple of ndarray, optional
        Warm start ``(f, g)``: only ``f`` is used, ``g`` is recomputed from it; or
        ``(None, g)``: start with the update of ``f`` from ``g``, a plain iterate that
        stops at once if its target marginal is within ``tol``.
    anderson_memory : int
        Iterates kept by Anderson acceleration; 0 for plain Sinkhorn.
    verbose : int
        Progress through the ``"skot"`` logger when positive (see :mod:`skot._progress`).

    Returns
    -------
    SinkhornResult
    """
    xp = namespace(a, b)
    a = xp.asarray(a, dtype=xp.float64)
    b = xp.asarray(b, dtype=xp.float64)
    check_weights(a, geometry.shape[0], "source")
    check_weights(b, geometry.shape[1], "target")
    with np.errstate(divide="ignore"):  # a point without mass has log-weight -inf: no term
        log_a, log_b = xp.log(a), xp.log(b)
    tau = 1.0 if reg_m is None else reg_m / (reg_m + eps)
    f = xp.zeros(a.shape[0], dtype=xp.float64, device=device(a))
    g = xp.zeros(b.shape[0], dtype=xp.float64, device=device(a))
    from_target = init is not None and init[0] is None
    if from_target:
        g = xp.asarray(init[1], dtype=xp.float64, device=device(a), copy=True)
    elif init is not None:
        f = xp.asarray(init[0], dtype=xp.float64, device=device(a), copy=True)
    error, best_error, converged, n_iter = np.inf, np.inf, False, 0
    plain_image = None  # the last plain update of f, kept while f is an extrapolation
    milestone, milestone_iter = np.inf, 0  # the error at its last halving, and when
    progress = Progress("sinkhorn", verbose, tol)
    anderson = _Anderson(anderson_memory, a, eps)
    f_new = column_softmin = None
    # Anderson's tiny products gain nothing from BLAS threads, whose busy-waiting between
    # calls would take the cores from the compiled kernels.
    with np.errstate(over="ignore"), one_blas_thread():
        if from_target:
            f = f_new = tau * geometry.softmin(g + eps * log_b, eps, axis=1)
        for n_iter in range(1, max_iter + 1):
            g_new = tau * geometry.softmin(f + eps * log_a, eps, axis=0)
            if reg_m is None and f is f_new:
                # f is the last plain update, so g_new gives the column marginal of (f, g),
                # whose row marginal is exact: stop if it is within tol too.
                column_error = float(xp.sum(xp.abs(b * xp.expm1((g - g_new) / eps))))
                if column_error <= tol:
                    error, converged, column_softmin = column_error, True, g_new
                    n_iter -= 1
                    break
            g = g_new
            if reg_m is not None:
                shift = _optimal_translation(f, g, a, b, reg_m)
                f, g = f + shift, g - shift
            f_new = tau * geometry.softmin(g + eps * log_b, eps, axis=1)
            error = float(a @ xp.abs(xp.expm1((f - f_new) / eps)))
            progress(n_iter, error)
            if error <= tol:
                f = f_new
                converged = True
                break
            if error > best_error:
                anderson.reset()
                if plain_image is not None:
                    # The extrapolation made the error grow: drop it, and go on from the plain
                    # update of the point before (some tiny problems stall otherwise).
                    f, plain_image = plain_image, None
                    continue
            best_error = min(best_error, error)
            if error <= 0.5 * milestone:
                milestone, milestone_iter = error, n_iter
            elif n_iter - milestone_iter > ANDERSON_PATIENCE:
                anderson.memory = 0  # the extrapolation stalls: plain iterates, which contract
            plain_image = f_new if anderson.memory else None
            f = anderson(f, f_new)
        if not converged:
            # Return the plain update, whose source marginal is exact, not an extrapolation.
            f = f_new
        if column_softmin is None:
            column_softmin = geometry.softmin(f + eps * log_a, eps, axis=0)
        column_excess = b * xp.expm1((g - column_softmin) / eps)  # P^T 1 - b
    n_iter += from_target  # the first update of f, from the given g
    progress.done(n_iter, error, converged)
    # The dual's last term, -eps (<P, 1> - 1), is -eps sum(P^T 1 - b): b sums to one.
    dual = _marginal_dual(f, a, reg_m) + _marginal_dual(g, b, reg_m) - eps * float(xp.sum(column_excess))
    return SinkhornResult(
        potential_source=f,
        potential_target=g,
        eps=float(eps),
        reg_m=reg_m,
        n_iter=n_iter,
        converged=converged,
        error=error,
        marginal_error=float(xp.sum(xp.abs(column_excess))),
        dual_objective=dual,
        source_weights=a,
        target_weights=b,
        geometry=geometry,
    )


@checked(eps=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE)
def self_transport_potential(geometry, a, eps, *, max_iter=1000, tol=1e-9):
    """Symmetric potential of entropic OT from ``a`` to itself on a square geometry.

    Averaged fixed point ``f <- (f + softmin_eps(f + eps log a)) / 2``; the optimal
    value is ``OT_eps(a, a) = 2 <a, f>``.
    """
    xp = namespace(a)
    a = xp.asarray(a, dtype=xp.float64)
    log_a = xp.log(a)
    f = xp.zeros(a.shape[0], dtype=xp.float64, device=device(a))
    for _ in range(max_iter):
        f_new = 0.5 * (f + geometry.softmin(f + eps * log_a, eps, axis=1))
        if float(a @ xp.abs(f_new - f)) <= tol * eps:
            return f_new
        f = f_new
    return f


@checked(make_geometry=[callable], eps=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE)
def sinkhorn_divergence(make_geometry, x, y, a, b, eps, *, max_iter=1000, tol=1e-9):
    """Debiased Sinkhorn divergence ``OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2``.

    ``make_geometry(u, v)`` builds the geometry of two point clouds; non-negative,
    zero iff the measures are equal (Feydy et al. 2019).
    """
    cross = sinkhorn(make_geometry(x, y), a, b, eps, max_iter=max_iter, tol=tol)
    f_self = self_transport_potential(make_geometry(x, x), a, eps, max_iter=max_iter, tol=tol)
    g_self = self_transport_potential(make_geometry(y, y), b, eps, max_iter=max_iter, tol=tol)
    return cross.dual_objective - float(a @ f_self) - float(b @ g_self)


@checked(make_geometry=[callable], eps=POSITIVE)
def conditional_class_proportions(make_geometry, points, support, log_weights, labels, eps, *,
                                  support_is_source=True):
    """Class proportions of the entropic conditional coupling at each row of ``points``.

    pi(c | y) = sum_{i: l_i = c} softmax_i((h_i - c(x_i, y)) / eps), with ``h = f + eps log a``
    the log-weighted potential of the labelled ``support``; defined for any point y, as the
    entropic map is. ``support_is_source`` says which side of the cost ``support`` is on.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
    proportions : ndarray of shape (n_points, n_classes)
        Rows sum to one.
    """
    classes = np.unique(labels)
    softmins = []
    for label in classes:
        rows = labels == label
        if support_is_source:
            softmins.append(make_geometry(support[rows], points).softmin(log_weights[rows], eps, axis=0))
        else:
            softmins.append(make_geometry(points, support[rows]).softmin(log_weights[rows], eps, axis=1))
    return classes, softmax(-np.column_stack(softmins) / eps, axis=1)


@dataclass(frozen=True)
class ClassProportionsResult:
    """Output of :func:`target_class_proportions`.

    Attributes
    ----------
    classes : ndarray of shape (k,)
    proportions : ndarray of shape (k,)
        Estimated share of each class in the target measure (sums to one).
    n_iter : int
    converged : bool
    error : float
        The last largest change of a proportion (what ``tol`` bounds).
    """

    classes: np.ndarray
    proportions: np.ndarray
    n_iter: int
    converged: bool
    error: float


@checked(eps=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE, verbose=VERBOSE)
def target_class_proportions(geometry, labels, a, b, eps, *, max_iter=1000, tol=1e-6, verbose=0):
    """Class proportions of the target measure under target shift, by OT (JCPOT, Redko et al. 2019).

    The entropic coupling of the labelled source and the target whose target marginal is ``b``
    and whose source marginal keeps, within each class c, the shape of ``a`` but not its
    class totals ``h_c``: the KL projection onto the first constraint is Sinkhorn's target
    update, onto the second ``f_i = softmin_i + eps log(h_c / A_c)`` with ``h_c`` the class's
    current row mass (``A_c`` its mass in ``a``). The totals at the fixed point estimate the
    target's class shares: classes whose source rows lie where the target mass is take it.

    Parameters
    ----------
    geometry : Geometry
        Source rows (``x``) to target rows (``y``).
    labels : array-like of shape (n,)
        Class of each source row.
    a, b : ndarray of shape (n,), (m,)
        Source and target weights, each summing to one (``a`` sets the within-class shapes).
    eps : float
        Entropic regularisation in raw cost units.
    max_iter, tol : int, float
        Stop when no proportion changes by more than ``tol`` in an iteration.
    verbose : int
        Progress through the ``"skot"`` logger.

    Returns
    -------
    ClassProportionsResult
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    check_weights(a, geometry.shape[0], "source")
    check_weights(b, geometry.shape[1], "target")
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    class_mass = np.bincount(codes, weights=a, minlength=len(classes))
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(a), np.log(b)
    proportions = class_mass / class_mass.sum()
    f = np.zeros(len(a))
    converged, change, n_iter = False, np.inf, 0
    progress = Progress("target class proportions", verbose, tol)
    for n_iter in range(1, max_iter + 1):
        g = geometry.softmin(f + eps * log_a, eps, axis=0)
        row_softmin = geometry.softmin(g + eps * log_b, eps, axis=1)
        # Row masses of the plan after the target update, and their class totals.
        with np.errstate(over="ignore"):
            row_mass = a * np.exp((f - row_softmin) / eps)
        updated = np.bincount(codes, weights=row_mass, minlength=len(classes))
        updated /= updated.sum()
        with np.errstate(divide="ignore"):
            f = row_softmin + eps * np.log(updated / class_mass)[codes]
        change = float(np.max(np.abs(updated - proportions)))
        proportions = updated
        if change <= tol:
            converged = True
            break
        progress(n_iter, change)
    progress.done(n_iter, change, converged)
    return ClassProportionsResult(classes, proportions, n_iter, converged, change)
