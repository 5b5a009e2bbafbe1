"""Langevin sampling of the entropic coupling's conditionals pi(y | x).

pi(y | x) is proportional to exp((f(x) + g(y) - c(x, y)) / eps) nu(y), with g extended to
any y by the soft c-transform of the source potential. For c = |x - y|^2,
grad g(y) = 2 (y - T^-1(y)) with T^-1(y) the entropic barycentric map back to the source,
so grad_y log pi(y | x) = score_nu(y) + 2 (x - T^-1(y)) / eps
(Daniels, Maunu & Hand 2021, without a network: the potentials are the fitted ones).
"""

from numbers import Integral

import numpy as np

from ._validation import NON_NEGATIVE_COUNT, POSITIVE, checked


def entropic_conditional_drift(make_geometry, source_points, log_weighted_source_potential, eps, anchors):
    """y -> (grad g(y) - grad_y c(x, y)) / eps = 2 (x - T^-1(y)) / eps for chains anchored at x.

    ``anchors`` holds the x of each chain (one row per chain); squared Euclidean cost only.
    """

    def drift(states):
        pulled_back = make_geometry(source_points, states).barycentric_map(
            log_weighted_source_potential, eps, axis=0
        )
        return 2.0 * (anchors - pulled_back) / eps

    return drift


@checked(make_geometry=[callable], bandwidth=POSITIVE)
def kde_score(make_geometry, points, weights, bandwidth):
    """Score of a Gaussian kernel density estimate: (local kernel mean - y) / bandwidth^2.

    nu(y) = sum_j w_j N(y; y_j, h^2 I), so grad log nu(y) = (sum_j r_j(y) y_j - y) / h^2 with
    r(y) = softmax_j(log w_j - |y - y_j|^2 / (2 h^2)): a barycentric map at eps = 2 h^2.
    """
    eps = 2.0 * bandwidth**2
    log_weights = eps * np.log(weights)

    def score(states):
        local_mean = make_geometry(states, points).barycentric_map(log_weights, eps, axis=1)
        return (local_mean - states) / bandwidth**2

    return score


def scott_bandwidth(points, weights):
    """Scott's rule on the weighted mean standard deviation: sigma * n_eff^(-1 / (d + 4))."""
    n_effective = 1.0 / np.sum(weights**2)
    mean = weights @ points
    sigma = np.sqrt(np.mean(weights @ (points - mean) ** 2))
    return float(sigma * n_effective ** (-1.0 / (points.shape[1] + 4)))


@checked(drift=[callable], n_steps=NON_NEGATIVE_COUNT, step_size=POSITIVE)
def unadjusted_langevin(drift, initial, n_steps, step_size, rng):
    """Unadjusted Langevin algorithm, all chains at once: y <- y + s drift(y) + sqrt(2 s) xi."""
    states = np.array(initial, dtype=np.float64)
    noise_scale = np.sqrt(2.0 * step_size)
    for _ in range(n_steps):
        states += step_size * drift(states) + noise_scale * rng.standard_normal(states.shape)
    return states


def conditional_langevin(make_geometry, anchors, draws, source_points, log_weighted_source_potential, target_points,
                         target_weights, eps, *, score=None, n_steps=500, step_size=None, rng=None):
    """Langevin chains on pi(y | x) for each anchor row x, started from ``draws``.

    ``draws`` (n, k, d): k starting states per anchor (discrete draws of the coupling).
    ``score``: grad log nu, a callable ``score(Y) -> (rows, d)``, or "kde" (None): a Gaussian
    kernel density estimate of the target points (:func:`scott_bandwidth`). The default step
    is 5% of the variance scale of pi(. | x), min(eps / 2, bandwidth^2). Squared Euclidean cost.

    Returns the chains' last states, shape (n, k, d).
    """
    if not (isinstance(n_steps, Integral) and n_steps >= 0):
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}.")
    variance_scale = 0.5 * eps
    if score is None or (isinstance(score, str) and score == "kde"):
        bandwidth = scott_bandwidth(target_points, target_weights)
        score = kde_score(make_geometry, target_points, target_weights, bandwidth)
        variance_scale = min(variance_scale, bandwidth**2)
    elif not callable(score):
        raise ValueError(f"score must be a callable, 'kde' or None, got {score!r}.")
    if step_size is None:
        step_size = 0.05 * variance_scale
    elif not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}.")
    n_rows, n_samples, n_features = draws.shape
    chain_anchors = np.repeat(np.asarray(anchors, dtype=np.float64), n_samples, axis=0)
    conditional = entropic_conditional_drift(make_geometry, source_points, log_weighted_source_potential, eps,
                                             chain_anchors)

    def drift(states):
        values = np.asarray(score(states), dtype=np.float64)
        if values.shape != states.shape:
            raise ValueError(f"score returned shape {values.shape} for states of shape {states.shape}; "
                             "it must return grad log nu at each row: the same shape.")
        return values + conditional(states)

    states = unadjusted_langevin(drift, draws.reshape(-1, n_features), n_steps, step_size, rng)
    return states.reshape(n_rows, n_samples, n_features)
