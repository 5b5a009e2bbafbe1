"""Independent textbook implementations that the tests compare skot against."""

import numpy as np


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
