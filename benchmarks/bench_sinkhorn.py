"""skot SinkhornTransport against POT's Sinkhorn solvers, at equal marginal accuracy.

Each case: n = m points in d dimensions, cost |x - y|^2 divided by its maximum,
reg relative to that. POT runs first (``ot.sinkhorn`` with its defaults but
numItermax=10000; ``method="sinkhorn_log"`` where it finishes in reasonable time);
skot then runs with ``tol`` set to the marginal error POT reached, and both
achieved errors are reported. POT's time is given end to end (``ot.dist``, the
normalisation and the solve: what a user starting from points waits for) and for
the solve alone. One JSON line per case and peer.

    python benchmarks/bench_sinkhorn.py            # the full grid (long: POT at n = 20000)
    python benchmarks/bench_sinkhorn.py --quick    # n = 1000 and 2000 only
"""

import warnings

import numpy as np

from _common import argv_flag, emit, measure, mixture_and_ring, plan_marginal_error, warm_up

SIZES = [1000, 2000] if argv_flag("--quick") else [1000, 2000, 4000, 20000]
DIMS = [2, 32]
REGS = [1e-1, 1e-2, 1e-3]
LOG_DOMAIN_MAX_N = 4000
STANDARD_DOMAIN_MAX_N = 20000


def run_pot(ot, x, y, reg, method):
    n = len(x)
    a = np.full(n, 1.0 / n)

    def end_to_end():
        cost = ot.dist(x, y)
        cost /= cost.max()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = ot.sinkhorn(a, a, cost, reg, method=method, numItermax=10000)
        return plan, cost, [str(w.message)[:80] for w in caught]

    (plan, cost, messages), seconds, peak = measure(end_to_end)
    _, solve_seconds, _ = measure(
        lambda: ot.sinkhorn(a, a, cost, reg, method=method, numItermax=10000)
    )
    error = plan_marginal_error(plan, a, a)
    return {
        "seconds": seconds,
        "solve_seconds": solve_seconds,
        "marginal_error": error,
        "transport_cost": float(np.sum(plan * cost)) if np.isfinite(error) else None,
        "peak_traced_mb": peak,
        "warnings": sorted(set(messages)),
    }


def run_skot(x, y, reg, tol):
    from skot import SinkhornTransport

    X = np.vstack([x, y])
    domains = np.r_[np.zeros(len(x), int), -np.ones(len(y), int)]
    model = SinkhornTransport(reg=reg, cost_scale="max", tol=tol, max_iter=10000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, seconds, peak = measure(model.fit, X, sample_domain=domains)
    return model, {
        "seconds": seconds,
        "marginal_error": model.marginal_error_,
        "n_iter": model.n_iter_,
        "transport_cost": model.transport_cost_ / model.cost_scale_,
        "peak_traced_mb": peak,
        "nan": bool(np.isnan(model.potential_source_).any()),
        "warnings": sorted({str(w.message)[:80] for w in caught}),
    }


def main():
    import ot

    warm_up()
    for n in SIZES:
        for d in DIMS:
            x, y = mixture_and_ring(n, d)
            for reg in REGS:
                methods = ["sinkhorn"] + (["sinkhorn_log"] if n <= LOG_DOMAIN_MAX_N else [])
                for method in methods:
                    if n > STANDARD_DOMAIN_MAX_N:
                        continue
                    peer = run_pot(ot, x, y, reg, method)
                    target = peer["marginal_error"]
                    tol = target if np.isfinite(target) and target > 0 else 1e-9
                    _, mine = run_skot(x, y, reg, tol)
                    emit({
                        "case": f"n={n} d={d} reg={reg:g}",
                        "peer": f"ot.sinkhorn(method={method!r})",
                        "skot": mine,
                        "peer_result": peer,
                        "ratio_end_to_end": peer["seconds"] / mine["seconds"],
                        "ratio_solve_only": peer["solve_seconds"] / mine["seconds"],
                        "same_accuracy": bool(mine["marginal_error"] <= 1.5 * tol),
                    })


if __name__ == "__main__":
    main()
