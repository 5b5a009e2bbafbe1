"""The interface every backend implements: a geometry of two point clouds.

A geometry holds points ``x`` (n, d), ``y`` (m, d) and a ground cost ``c``. The
solvers only talk to it through reductions over one axis of the implicit cost
matrix ``C[i, j] = c(x_i, y_j)``, so a backend is free to store ``C`` (dense
reference) or to recompute it on the fly (online kernels, O(n + m) memory).

Conventions: ``axis=1`` reduces over ``j`` (one value per row ``x_i``, ``h`` has
length m); ``axis=0`` reduces over ``i`` (one value per column ``y_j``, ``h``
has length n). Log-weighted potentials are ``h = f + eps * log(a)``.

A geometry names what it computes in ``provides``: the reductions below, ``"largest_weights"``
(``soft_masses`` with ``n_largest > 0``) and ``"median"`` (that cost statistic; ``"mean"`` and
``"max"`` are always there). The others raise an error that says so.
"""

REDUCTIONS = frozenset({"softmin", "barycentric_map", "argmax", "soft_masses", "largest_weights", "plan",
                        "plan_cost", "median", "sample"})


class Geometry:
    """Abstract geometry; see the module docstring for conventions."""

    provides = REDUCTIONS

    def __init__(self, x, y, metric):
        self.x = x
        self.y = y
        self.metric = metric

    @property
    def shape(self):
        return (self.x.shape[0], self.y.shape[0])

    def _other_points(self, axis):
        return self.y if axis == 1 else self.x

    def clear_cache(self):
        """Free what the geometry keeps to speed up later reductions (a stored kernel); they
        recompute it when they need it."""

    def softmin(self, h, eps, axis):
        """``-eps * log sum_k exp((h_k - C)/eps)`` along ``axis`` (the c-transform)."""
        raise NotImplementedError

    def barycentric_map(self, h, eps, axis, values=None):
        """Soft-argmin average of the other cloud's points along ``axis``.

        For ``axis=1``: ``T(x_i) = sum_j w_ij y_j`` with
        ``w_ij = softmax_j((h_j - C_ij) / eps)``; finite for any finite point. ``values`` (one
        row per point of the other cloud, e.g. its one-hot labels) are averaged instead of
        the points when given.
        """
        raise NotImplementedError

    def _averaged(self, values, axis):
        """What :meth:`barycentric_map` averages: ``values``, or the other cloud's points."""
        return self._other_points(axis) if values is None else values

    def sample(self, h, eps, axis, n_samples, rng):
        """Indices drawn from ``softmax((h - C) / eps)`` along ``axis``, shape (rows, n_samples)."""
        raise NotImplementedError

    def argmax(self, h):
        """Row-wise ``argmax_j (h_j - C_ij)`` (first on ties): Laguerre cells when h = g."""
        raise NotImplementedError

    def soft_masses(self, h, eps, weights, n_largest=0):
        """``sum_i weights_i softmax_j((h_j - C_ij) / eps)`` per column, and the row soft-mins.

        Returns ``(masses, softmin(h, eps, axis=1))``: both come from one pass; with
        ``n_largest = K > 0`` also ``(indices, probabilities)`` of shape (n, K): the K
        largest softmax weights of each row, in decreasing order (index -1 pads).
        """
        raise NotImplementedError

    def plan(self, hf, hg, eps):
        """Dense coupling ``P_ij = exp((hf_i + hg_j - C_ij) / eps)``."""
        raise NotImplementedError

    def plan_cost(self, hf, hg, eps):
        """``<C, P>`` for the coupling of :meth:`plan`, without storing ``P``."""
        raise NotImplementedError

    def cost_statistic(self, kind, a, b):
        """Weighted ``"mean"``, ``"median"`` or ``"max"`` of ``C`` under ``a (x) b``."""
        raise NotImplementedError

