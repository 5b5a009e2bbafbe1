"""Free-support barycenter: skot WassersteinBarycenter against ``ot.lp.free_support_barycenter``.

Three 2-D domains of n points each (default 500), barycenter with n support points,
both with exact plans; the objective sum_k w_k W2^2(barycenter, domain k) is measured by
exact OT (``ot.emd2``) for both.

    python benchmarks/bench_barycenter.py [n]
"""

import sys

import numpy as np

from _common import emit, measure, warm_up


def main():
    import ot

    from skot import WassersteinBarycenter

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rng = np.random.default_rng(0)
    domains = [
        rng.normal(size=(n, 2)) @ np.array([[1.0, 0.4], [0.0, 0.6]]),
        rng.exponential(size=(n, 2)) + [3.0, 0.0],
        np.c_[np.cos(t := rng.uniform(0, 2 * np.pi, n)), np.sin(t)] * 2 + [0.0, 4.0],
    ]
    X = np.vstack(domains)
    labels = np.repeat(np.arange(3), n)
    uniform = np.full(n, 1.0 / n)
    warm_up()

    model = WassersteinBarycenter(n_support=n, random_state=0)
    _, skot_seconds, skot_peak = measure(model.fit, X, sample_domain=labels, repeat_below=0)
    init = np.random.default_rng(1).normal(size=(n, 2)) * X.std(axis=0) + X.mean(axis=0)
    theirs, pot_seconds, pot_peak = measure(
        ot.lp.free_support_barycenter, domains, [uniform] * 3, init, numItermax=100, repeat_below=0
    )

    def objective(support):
        return float(np.mean([ot.emd2(uniform, uniform, ot.dist(support, d)) for d in domains]))

    mine, peer = objective(model.support_), objective(theirs)
    emit({
        "case": f"free-support barycenter of 3 domains, n={n} each, n_support={n}, d=2, exact plans",
        "skot": {"seconds": skot_seconds, "objective": mine, "n_iter": model.n_iter_, "peak_traced_mb": skot_peak},
        "peer": "ot.lp.free_support_barycenter",
        "peer_result": {"seconds": pot_seconds, "objective": peer, "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "objective_relative_difference": (mine - peer) / peer,
    })


if __name__ == "__main__":
    main()
