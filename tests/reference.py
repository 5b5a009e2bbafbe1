"""Independent textbook implementations that the tests compare skot against."""

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array, vstack


def lp_transport_cost(cost, a, b):
    """Optimal value of the Kantorovich LP, min <C, P> over P >= 0, P 1 = a, P^T 1 = b (HiGHS)."""
    n, m = cost.shape
    index = np.arange(n * m).reshape(n, m)
    rows = coo_array((np.ones(n * m), (np.repeat(np.arange(n), m), index.ravel())), shape=(n, n * m))
    columns = coo_array((np.ones(n * m), (np.tile(np.arange(m), n), index.ravel())), shape=(m, n * m))
    return linprog(cost.ravel(), A_eq=vstack([rows, columns]), b_eq=np.r_[a, b], bounds=(0, None), method="highs").fun


def textbook_sinkhorn(cost, a, b, eps, n_iter=20000, tol=1e-15):
    """Plain kernel-scaling Sinkhorn (Cuturi 2013) on a small, well-scaled problem."""
    kernel = np.exp(-cost / eps)
    v = np.ones_like(b)
    for _ in range(n_iter):
        u = a / (kernel @ v)
        v_new = b / (kernel.T @ u)
        if np.max(np.abs(v_new - v)) < tol * np.max(v):
            v = v_new
            break
        v = v_new
    u = a / (kernel @ v)
    return u[:, None] * kernel * v[None, :]


def textbook_semidual_sgd(samples, points, b, batch_size, schedule):
    """Averaged SGD on the semi-dual written out with dense costs (Genans et al. 2025, Alg. 1).

    ``schedule = (lr0, alpha, eps0, beta, eps_min, burn_in)``; one step per batch of
    consecutive rows. Returns (last iterate, average of the iterates after step burn_in).
    """
    from scipy.special import softmax

    lr0, alpha, eps0, beta, eps_min, burn_in = schedule
    cost = ((samples[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    g, iterates = np.zeros(len(b)), []
    for t, start in enumerate(range(0, len(samples), batch_size), start=1):
        scores = g - cost[start:start + batch_size]
        eps = max(eps_min, eps0 / t ** beta)
        if eps > 0:
            weights = softmax(scores / eps + np.log(b), axis=1)
        else:
            weights = np.eye(len(b))[np.argmax(scores, axis=1)]
        g = g - lr0 / t ** alpha * (weights.mean(axis=0) - b)
        iterates.append(g)
    return g, np.mean(iterates[int(burn_in):], axis=0)
