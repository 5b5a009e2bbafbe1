"""Semi-discrete optimal transport: a (sampled) continuous source onto weighted points.

The semi-dual (Peyre & Cuturi, section 5.2) is maximised over target weights g:
F(g) = <b, g> + sum_i a_i min_j (c(x_i, y_j) - g_j), or with eps > 0 the soft-min
-eps log sum_j b_j exp((g_j - c_ij) / eps). It is concave with gradient
b - (masses of the cells) and, smoothed, Hessian -(1/eps) sum_i a_i (diag(p_i) - p_i p_i^T)
(p_i the softmax row of sample i: a weighted Laplacian of the cells' adjacency).

Two deterministic solvers, both annealing eps from a large value to the requested one (or,
for eps = 0, until the hard Laguerre cells argmax_j g_j - c(x, y_j) hold their masses):
damped Newton with that Hessian, assembled from each sample's few largest softmax weights
and warm-started from a subsample (:func:`semidiscrete_newton`, for up to a few thousand
points), and L-BFGS (:func:`semidiscrete_dual`). A stochastic one for streams and samplers:
averaged SGD, one pass over the draws (:func:`semidiscrete_sgd`).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import LinAlgError, solve
from scipy.optimize import minimize
from sklearn.neighbors import NearestNeighbors

from sklearn.utils import check_random_state

from .._progress import Progress
from ..backends import device, like, namespace, one_blas_thread, to_numpy
from ._compiled import duplicate_groups, semidual_sgd, softmax_hessian
from .sinkhorn import log_weighted
from ._validation import COUNT, COUNT_OR_NONE, NON_NEGATIVE, POSITIVE, VERBOSE, checked

ANNEALING = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
# Newton: softmax weights kept per sample for the Hessian, the share of the softmax mass they
# must hold in the first stage, and the subsample (1 in COARSE_STRIDE rows) that
# warm-starts a fit when it still has MIN_SAMPLES_PER_CELL samples per target point.
N_LARGEST = 8
# Averaged SGD: draws per step, step size and initial smoothing in units of the cost scale
# (lr0 = SGD_RATE scale sqrt(m batch), eps0 = SGD_SMOOTHING scale; tuned on uniform sources
# in 2-D and 32-D, 1000 points), and steps per chunk of BLAS products.
SGD_BATCH = 32
SGD_RATE = 0.05
SGD_SMOOTHING = 0.03
SGD_CHUNK_STEPS = 128
MIN_COVERAGE = 0.9
COARSE_STRIDE = 16
MIN_SAMPLES_PER_CELL = 20


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
        Largest ``|cell mass - b_j|`` relative to ``b_j``.
    smoothing : float
        The last annealing stage's eps.
    labels : ndarray of int or None
        Hard cell of each sample (eps = 0 only).
    eps : float
        The entropic regularisation solved for (0: hard cells).
    source_weights, target_weights : ndarray or None
        The problem's weights ``a`` (of the samples) and ``b``.
    geometry : Geometry or None
        The samples' geometry to the target points, which :meth:`cells` reduces.
    """

    potential: np.ndarray
    cell_masses: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    error: float
    smoothing: float = 0.0
    labels: np.ndarray | None = None
    eps: float = 0.0
    source_weights: np.ndarray | None = None
    target_weights: np.ndarray | None = None
    geometry: object = field(default=None, repr=False, compare=False)

    @property
    def log_potential(self):
        """``g + eps log b``: the cells are ``argmax_j`` of it minus ``c(x, y_j)``."""
        return log_weighted(self.potential, self.target_weights, self.eps)

    def cells(self):
        """The (hard) cell of each sample of the problem: argmax_j g_j + eps log b_j - c(x_i, y_j)."""
        if self.geometry is None or self.target_weights is None:
            raise ValueError("This result carries no geometry and weights; build the cells from its potential.")
        return self.geometry.argmax(self.log_potential)


def semidual_objective(geometry, a, b, potential, eps):
    """F(g) on the samples of ``geometry`` (rows) with weights ``a`` (see module docstring)."""
    xp = namespace(potential)
    if eps > 0:
        values = geometry.softmin(log_weighted(potential, b, eps), eps, axis=1)
    else:
        labels = geometry.argmax(potential)
        values = _costs_to(geometry, labels) - xp.take(potential, labels)
    return float(b @ potential + a @ values)


def _costs_to(geometry, labels):
    from ..backends import pairwise_cost

    xp = namespace(geometry.x)
    if xp is not np:
        return xp.sum((geometry.x - xp.take(geometry.y, labels, axis=0)) ** 2, axis=1)
    points = np.asarray(geometry.x)
    targets = np.asarray(geometry.y, dtype=np.float64)
    if geometry.metric == "sqeuclidean":
        # By chunks: no temporary of the samples' size.
        costs = np.empty(len(points))
        for start in range(0, len(points), 4096):
            rows = slice(start, start + 4096)
            costs[rows] = np.sum((points[rows] - targets[labels[rows]]) ** 2, axis=1)
        return costs
    return np.array([pairwise_cost(p[None], t[None], geometry.metric)[0, 0] for p, t in zip(points, targets[labels])])


def hard_cell_masses(geometry, a, potential):
    """Source mass of each Laguerre cell argmax_j g_j - c(x, y_j)."""
    return _bincount(geometry.argmax(potential), a, geometry.shape[1])


def cell_barycenters(result, samples, points):
    """Each target point moved to the weighted barycenter of the samples in its cell (kept where
    the cell is empty), the cells of a semi-discrete ``result`` from ``samples`` to ``points``."""
    xp, labels, a = namespace(points), result.cells(), result.source_weights
    if xp is np:
        mass = np.bincount(labels, weights=a, minlength=len(points))
        sums = np.zeros(points.shape)
        np.add.at(sums, labels, a[:, None] * samples)
    else:
        # Cell sums by a product with the one-hot cell matrix (no scatter in the array API).
        one_hot = xp.astype(labels[:, None] == xp.arange(points.shape[0], device=device(points))[None, :],
                            xp.float64)
        mass, sums = a @ one_hot, one_hot.T @ (a[:, None] * samples)
    return xp.where(mass[:, None] > 0, sums / xp.where(mass > 0, mass, 1.0)[:, None], points)


def learn_target_points(solve, samples, points, *, scale, tol, max_rounds):
    """Target points that are the barycenters of their own cells, by Lloyd rounds.

    Each round solves the semi-dual at the current points (``solve(points, previous result)
    -> (result, state)``) and moves every point to its cell's barycenter; the rounds stop when no
    point moves more than ``tol`` (in units of sqrt(``scale``)) or after ``max_rounds``, and a
    last solve fits the final points.

    Returns ``(points, result, state, n_iter)``: ``n_iter`` counts the rounds' iterations.
    """
    xp, result, n_iter = namespace(points), None, 0
    for _ in range(max_rounds):
        result, _ = solve(points, result)
        n_iter += result.n_iter
        moved = cell_barycenters(result, samples, points)
        shift = np.sqrt(float(xp.max(xp.sum((moved - points) ** 2, axis=1))) / scale)
        points = moved
        if shift <= tol:
            break
    result, state = solve(points, result)
    return points, result, state, n_iter


def _bincount(labels, weights, length):
    """Weights summed per label, in the weights' namespace (counted on the host)."""
    return like(np.bincount(to_numpy(labels), weights=to_numpy(weights), minlength=length), weights)


def _result(geometry, a, b, potential, eps, n_iter, converged, smoothing):
    """The result at ``potential``: cell masses (soft at eps > 0, else hard) and objective.

    At eps = 0 one pass finds the samples' cells (``labels``), which give both.
    """
    xp, labels = namespace(potential), None
    if eps > 0:
        masses, softmins = geometry.soft_masses(log_weighted(potential, b, eps), eps, a)
        objective = float(b @ potential + a @ softmins)
    else:
        labels = geometry.argmax(potential)
        masses = _bincount(labels, a, b.shape[0])
        objective = float(b @ potential + a @ (_costs_to(geometry, labels) - xp.take(potential, labels)))
    return SemiDiscreteResult(
        potential=potential,
        cell_masses=masses,
        objective=objective,
        n_iter=n_iter,
        converged=converged,
        error=float(xp.max(xp.abs(masses - b) / b)),
        smoothing=smoothing,
        labels=labels,
        eps=float(eps),
        source_weights=a,
        target_weights=b,
        geometry=geometry,
    )


def _lbfgs_stage(geometry, a, b, potential, eps, tol, max_iter, scale, progress=None):
    """L-BFGS on the semi-dual smoothed by ``eps``; returns ``(potential, converged, iterations)``.

    ``progress``: a :class:`skot._progress.Progress` told each iteration.

    The variables are the weights in units of the cost ``scale`` (the objective too, so its
    gradient b - masses is unchanged): L-BFGS's first step and line search are in the units
    of its variables, so the iterations do not depend on the magnitude of the data. The m
    weights live on the host (SciPy's L-BFGS); the reductions run on the geometry's arrays,
    wherever they are (one m-vector crosses each way per evaluation).
    """
    log_b = namespace(b).log(b)

    def negative(u):
        g = like(u * scale, b)
        masses, softmins = geometry.soft_masses(g + eps * log_b, eps, a)
        return -float(b @ g + a @ softmins) / scale, to_numpy(masses - b)

    gtol = tol * float(namespace(b).min(b))
    iterations = 0

    def report(intermediate_result):
        nonlocal iterations
        iterations += 1
        progress(iterations, note=f"L-BFGS, smoothing {eps:.2e}")

    # L-BFGS's tiny vector operations gain nothing from BLAS threads, whose busy-waiting
    # between calls would steal the cores from the kernels' threads.
    with one_blas_thread():
        result = minimize(negative, to_numpy(potential) / scale, jac=True, method="L-BFGS-B",
                          callback=None if progress is None else report,
                          options={"maxiter": max_iter, "gtol": gtol, "ftol": 0.0})
    converged = bool(np.max(np.abs(result.jac)) <= gtol)
    return like((result.x - np.mean(result.x)) * scale, b), converged, result.nit


@checked(eps=NON_NEGATIVE, scale=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE, verbose=VERBOSE)
def semidiscrete_dual(geometry, a, b, eps, *, scale, max_iter=1000, tol=1e-6, init=None, verbose=0):
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
        Stop a stage when every ``|cell mass - b_j| <= tol * b_j``.
    init : ndarray, optional
        Warm start for g; it skips the annealing stages.
    verbose : int
        Progress through the ``"skot"`` logger (see :mod:`skot._progress`).

    Returns
    -------
    SemiDiscreteResult
    """
    a, b = like(a, a), like(b, b)
    potential = like(np.zeros(b.shape[0]) if init is None else to_numpy(init), b)
    final = eps if eps > 0 else ANNEALING[-1] * scale
    # A warm start is already near the optimum: no annealing from a large eps.
    schedule = [s * scale for s in ANNEALING if s * scale > final and init is None] + [final]
    n_iter, converged = 0, False
    progress = Progress("semi-discrete", verbose, tol)
    for stage_eps in schedule:
        potential, converged, iterations = _lbfgs_stage(geometry, a, b, potential, stage_eps, tol, max_iter,
                                                        scale, progress)
        n_iter += iterations
    progress.done(n_iter, converged=converged)
    return _result(geometry, a, b, potential, eps, n_iter, converged, final)


def _nearest_neighbour_cost(points):
    """Median over the points of the squared distance to their nearest other point."""
    distances, _ = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points)
    return float(np.median(distances[:, 1] ** 2)) or np.inf


def _newton_stage(geometry, a, b, potential, eps, tol, max_iter, first=None, progress=None):
    """Damped Newton on the semi-dual smoothed by ``eps``, until every |mass_j - b_j| <= tol b_j.

    ``first``: the ``soft_masses`` output at the starting potential, if already computed;
    ``progress``: a :class:`skot._progress.Progress` told each iteration's relative error.
    Armijo backtracking keeps each step an ascent. Returns ``(potential, converged, iterations)``.
    """
    log_b = np.log(b)
    if first is None:
        first = geometry.soft_masses(potential + eps * log_b, eps, a, N_LARGEST)
    masses, softmins, index, prob = first
    value = b @ potential + a @ softmins
    for iteration in range(max_iter):
        gradient = b - masses
        error = float(np.max(np.abs(gradient) / b))
        if progress is not None:
            progress(iteration, error, note=f"Newton, smoothing {eps:.2e}")
        if error <= tol:
            return potential, True, iteration
        hessian = softmax_hessian(a, index, prob, len(b)) / eps
        curvature = np.mean(np.diag(hessian))
        if not curvature > 0:  # no sample near any boundary: nothing to build a Newton step on
            return potential, False, iteration
        # A Levenberg-Marquardt ridge: the Hessian is singular along constants (and for
        # cells that no sample reaches yet).
        hessian[np.diag_indices_from(hessian)] += 1e-6 * curvature
        try:
            direction = solve(hessian, gradient, assume_a="pos", check_finite=False)
        except LinAlgError:
            return potential, False, iteration
        slope, step = gradient @ direction, 1.0
        while True:
            trial = potential + step * direction
            trial_masses, trial_softmins, trial_index, trial_prob = geometry.soft_masses(
                trial + eps * log_b, eps, a, N_LARGEST)
            trial_value = b @ trial + a @ trial_softmins
            if trial_value >= value + 1e-4 * step * slope:
                break
            step *= 0.5
            if step < 1e-6:
                return potential, False, iteration + 1
        potential, value = trial, trial_value
        masses, index, prob = trial_masses, trial_index, trial_prob
    return potential, False, max_iter


@checked(make_geometry=[callable], eps=NON_NEGATIVE, scale=POSITIVE, max_iter=COUNT, tol=NON_NEGATIVE,
         verbose=VERBOSE)
def semidiscrete_newton(make_geometry, samples, a, points, b, eps, *, scale, max_iter=50, tol=1e-4,
                        init=None, start=None, verbose=0):
    """Maximise the semi-dual by annealed damped Newton (see module docstring).

    Parameters
    ----------
    make_geometry : callable
        ``make_geometry(samples, points)`` -> Geometry.
    samples, points : ndarray of shape (n, d), (m, d)
    a, b : ndarray
        Sample weights and target weights, each summing to one.
    eps : float
        Entropic regularisation in raw cost units; 0 for hard Laguerre cells.
    scale : float
        Cost scale: annealing starts at most at 0.1 scale and ends for eps = 0 at 1e-6 scale.
    max_iter : int
        Newton iterations per annealing stage.
    tol : float
        Relative accuracy of the cell masses on the samples (hard cells when eps = 0).
    init, start : ndarray, float, optional
        Warm start for g and the smoothing to resume from.
    verbose : int
        Progress through the ``"skot"`` logger (see :mod:`skot._progress`).

    Returns
    -------
    SemiDiscreteResult
        ``smoothing`` is the last stage's eps.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    samples = np.asarray(samples)
    n, m = len(samples), len(b)
    n_iter = 0
    if init is None and n // COARSE_STRIDE >= MIN_SAMPLES_PER_CELL * m:
        rows = np.arange(0, n, COARSE_STRIDE)
        coarse = semidiscrete_newton(make_geometry, samples[rows], a[rows] / a[rows].sum(), points, b, eps,
                                     scale=scale, max_iter=max_iter, tol=min(4 * tol, 1.0), verbose=verbose)
        init, start, n_iter = coarse.potential, coarse.smoothing, coarse.n_iter
    geometry = make_geometry(samples, points)
    potential = np.zeros(m) if init is None else np.array(init, dtype=np.float64)
    final = eps if eps > 0 else ANNEALING[-1] * scale
    if start is None:
        # Start where each sample's softmax sits on a few cells, so that the Hessian from its
        # largest weights is accurate: eps about the cost to a target point's nearest neighbour.
        start = min(0.1 * scale, _nearest_neighbour_cost(points))
    stage = max(final, start)
    first = None
    if init is None:
        while True:  # ... and below any eps at which the kept weights miss a tenth of the mass.
            first = geometry.soft_masses(potential + stage * np.log(b), stage, a, N_LARGEST)
            if stage <= final or a @ first[3].sum(axis=1) >= MIN_COVERAGE:
                break
            stage = max(stage / 10, final)
    converged = False
    progress = Progress(f"semi-discrete, {n} samples", verbose, tol)
    stages, stage_index = 1 + max(0, int(np.ceil(np.log10(stage / final) - 1e-9))), 0
    with one_blas_thread():
        while True:
            potential, stage_converged, iterations = _newton_stage(geometry, a, b, potential, stage, tol,
                                                                   max_iter, first, progress)
            first = None
            if not stage_converged:
                # Too few samples near the cell boundaries for a reliable Hessian at this
                # eps: L-BFGS, whose convergence does not depend on it, finishes the stage.
                potential, stage_converged, more = _lbfgs_stage(geometry, a, b, potential, stage, tol, max_iter,
                                                                scale, progress)
                iterations += more
            potential = potential - potential.mean()
            n_iter += iterations
            stage_index += 1
            progress(n_iter, note=f"annealing stage done {progress.bar(stage_index, stages)}".rstrip())
            if eps == 0:
                hard = hard_cell_masses(geometry, a, potential)
                if np.max(np.abs(hard - b) / b) <= tol:
                    converged = True
                    break
            if stage <= final or not stage_converged:
                # At the last smoothing, hard masses may still miss b by the samples' granularity.
                converged = stage_converged and stage <= final
                break
            stage = max(stage / 10, final)
    progress.done(n_iter, converged=converged)
    return _result(geometry, a, b, potential, eps, n_iter, converged, stage)


def canonical_measure(x, a):
    """Distinct rows of ``x`` (indices, in an order that does not depend on the rows' order)
    and their summed weights ``a``: the measure sum_i a_i delta_{x_i} written once."""
    x = np.asarray(x)
    # Rows sorted by a fixed random projection; equal keys are, but for a null set, equal rows.
    direction = np.random.default_rng(0).standard_normal(x.shape[1])
    order = np.argsort(x @ direction, kind="stable")
    first, group = duplicate_groups(x, order)
    return order[first], np.bincount(group, weights=np.asarray(a, dtype=np.float64)[order])


@dataclass(frozen=True)
class SGDState:
    """Where :func:`semidiscrete_sgd` stopped: last iterate, running average of the iterates
    after step ``burn_in``, step count."""

    potential: np.ndarray
    average: np.ndarray
    step: int
    burn_in: int


@checked(make_geometry=[callable], eps=NON_NEGATIVE, scale=POSITIVE, n_steps=COUNT_OR_NONE,
         batch_size=COUNT, random_state=["random_state"], verbose=VERBOSE)
def semidiscrete_sgd(make_geometry, draws, points, b, eps, *, scale, a=None, n_steps=None, state=None,
                     batch_size=SGD_BATCH, random_state=None, verbose=0):
    """Maximise the semi-dual by averaged SGD, each source draw used once.

    Step t uses ``batch_size`` fresh draws: g <- g - lr_t (cell weights of the draws - b),
    lr_t = lr0 t^-2/3, on the semi-dual smoothed by eps_t = max(eps, eps0 t^-1/2) (DRAG
    schedule, Genans et al. 2025); the answer is the running average of the iterates after
    the first quarter of the steps (the early, far iterates would bias it), whose error
    falls like sqrt(m / draws). lr0 = 0.05 scale sqrt(m batch_size), eps0 = 0.03 scale.

    Parameters
    ----------
    make_geometry : callable
        ``make_geometry(samples, points)`` -> Geometry, to measure the result.
    draws : ndarray of shape (n, d) or callable
        Source samples: the measure sum_i a_i delta_{x_i}, with repeated rows merged (a
        row of weight 2 and the row twice are the same measure, and give the same answer,
        whatever the order of the rows). Equal masses: each distinct row drawn once, in
        random order; otherwise as many draws, with replacement. Or a sampler
        ``draws(k)`` -> (k, d) fresh draws.
    points : ndarray of shape (m, d)
    b : ndarray of shape (m,)
    eps : float
        Final smoothing in raw cost units (0: hard Laguerre cells).
    scale : float
        Cost scale of the problem (sets the step sizes and the smoothing schedule).
    a : ndarray of shape (n,), optional
        Sample weights (sum 1); uniform by default.
    n_steps : int, optional
        Steps to run; required for a sampler, default one pass over the samples.
    state : SGDState, optional
        Continue from an earlier call (a stream of batches).
    batch_size : int
    random_state : int, RandomState instance or None
        Order of the samples.
    verbose : int
        Progress (steps made) through the ``"skot"`` logger, chunk by chunk.

    Returns
    -------
    result : SemiDiscreteResult
        ``potential`` is the averaged iterate; cells, masses and objective are measured on
        the samples (for a sampler, on one more chunk of fresh draws); ``n_iter`` counts steps.
    state : SGDState
    """
    b = np.asarray(b, dtype=np.float64)
    m = len(b)
    if state is None:
        state = SGDState(np.zeros(m), np.zeros(m), 0, 0)
    potential, average = state.potential.copy(), state.average.copy()
    chunk = SGD_CHUNK_STEPS * batch_size
    if callable(draws):
        if n_steps is None:
            raise ValueError("n_steps is required when the source is a sampler.")
        total = n_steps * batch_size
        chunks = (np.asarray(draws(min(chunk, total - start))) for start in range(0, total, chunk))
    else:
        rng = check_random_state(random_state)
        rows, masses = canonical_measure(draws, np.full(len(draws), 1.0 / len(draws)) if a is None else a)
        total = len(rows) if n_steps is None else n_steps * batch_size
        if np.ptp(masses) <= 1e-9 * masses.max():
            order = np.resize(rng.permutation(len(rows)), total)  # more steps than one pass: it repeats
        else:
            order = rng.choice(len(rows), size=total, p=masses / masses.sum())
        chunks = (draws[rows[order[start:start + chunk]]] for start in range(0, total, chunk))
    # A fresh start averages the iterates after the first quarter of the steps only.
    burn_in = state.burn_in if state.step else (total // batch_size) // 4
    schedule = (SGD_RATE * scale * np.sqrt(m * batch_size), 2.0 / 3.0, SGD_SMOOTHING * scale, 0.5, float(eps),
                float(burn_in))
    progress = Progress("semi-discrete SGD", verbose)

    def reported(chunks):
        for done, chunk_rows in enumerate(chunks):
            progress(state.step + done * SGD_CHUNK_STEPS, note=f"of {state.step + total // batch_size} steps")
            yield chunk_rows

    step = semidual_sgd(reported(chunks), points, b, potential, average, state.step, batch_size, schedule)
    progress.done(step)
    if callable(draws):
        samples, a = np.asarray(draws(chunk), dtype=np.float64), None
    else:
        samples = draws
    a = np.full(len(samples), 1.0 / len(samples)) if a is None else np.asarray(a, dtype=np.float64)
    result = _result(make_geometry(samples, points), a, b, average.copy(), eps, step - state.step, True, eps)
    return result, SGDState(potential, average, step, burn_in)
