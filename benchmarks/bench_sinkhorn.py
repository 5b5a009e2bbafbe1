"""skot SinkhornTransport against POT's Sinkhorn solvers, at equal marginal accuracy.

Each case: n = m points in d dimensions, cost |x - y|^2 divided by its maximum,
reg relative to that. POT runs first (``ot.sinkhorn`` with its defaults but
numItermax=10000; ``method="sinkhorn_log"`` where it finishes in reasonable time);
skot then runs with ``tol`` set to the marginal error POT reached, and both
achieved errors are reported. POT's time is given end to end (``ot.dist``, the
normalisation and the solve: what a user starting from points waits for) and for
the solve alone. One JSON line per case and peer.

    python benchmarks/bench_sinkhorn.py                 # the full grid (hours: POT at n = 20000)
    python benchmarks/bench_sinkhorn.py --quick         # n = 1000 and 2000 only
    python benchmarks/bench_sinkhorn.py 2000:2:0.01     # chosen cases n:d:reg
    python benchmarks/bench_sinkhorn.py 2000:2:0.001:outlier   # one source point far away

Features (``--features``): n = m in {2000, 5000, 20000}, d in {10, 50, 300},
SinkhornTransport's default reg (0.05 of the mean cost) and a sharp one (0.005), against
POT's ``ot.sinkhorn`` (Knopp) and ``sinkhorn_log`` (n <= 5000) at the same eps with
``stopThr=1e-6``, and GeomLoss (tensorized, n <= 5000; its cost is |x - y|^2 / 2, its
marginal errors are checked exactly); skot's ``tol`` is each peer's marginal error. Then
skot's numba fit against the numpy backend and against float32 data, both at ``tol=1e-10``
(n <= 5000): the largest potential difference in units of eps and map difference in units of
the target's spread.

    python benchmarks/bench_sinkhorn.py --features             # n = 2000 and 5000
    python benchmarks/bench_sinkhorn.py --features 20000       # chosen sizes
    python benchmarks/bench_sinkhorn.py --features 5000 --no-log   # without sinkhorn_log (minutes a case)

Large (``--large``): skot alone, ``SinkhornTransport(tol=1e-6)`` fit then ``transform`` of
every source row, n = m = 20000 (or the sizes given), d = 50, once online (the default
``kernel_memory``) and once with a budget that stores the kernel (``kernel_memory=4096``),
each in a fresh process for its peak RSS.

    python benchmarks/bench_sinkhorn.py --large [20000]
"""

import subprocess
import sys
import time
import warnings

import numpy as np

from _common import argv_flag, emit, measure, mixture_and_ring, plan_marginal_error, warm_up

SIZES = [1000, 2000] if argv_flag("--quick") else [1000, 2000, 4000, 20000]
DIMS = [2, 32]
REGS = [1e-1, 1e-2, 1e-3]
# POT methods and the largest n each is run at (the dense log-sum-exp takes minutes beyond).
PEERS = [("sinkhorn", 20000), ("sinkhorn_log", 4000)]


def run_pot(ot, x, y, reg, method, scale="max", **options):
    """POT from the points: the cost divided by its ``scale`` ("max" or "mean") statistic, then
    the solve at ``reg`` (``options`` go to ``ot.sinkhorn``)."""
    n = len(x)
    a = np.full(n, 1.0 / n)

    def normalised_cost():
        cost = ot.dist(x, y)
        cost /= cost.max() if scale == "max" else cost.mean()
        return cost

    def solve(cost):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = ot.sinkhorn(a, a, cost, reg, method=method, numItermax=10000, **options)
        return plan, [str(w.message)[:80] for w in caught]

    cost, cost_seconds, cost_peak = measure(normalised_cost)
    (plan, messages), solve_seconds, solve_peak = measure(solve, cost)
    error = plan_marginal_error(plan, a, a)
    return {
        "seconds": cost_seconds + solve_seconds,
        "solve_seconds": solve_seconds,
        "marginal_error": error,
        "transport_cost": float(np.sum(plan * cost)) if np.isfinite(error) else None,
        "peak_traced_mb": cost_peak + solve_peak,
        "warnings": sorted(set(messages)),
    }


def run_skot(x, y, reg, tol, scale="max", **options):
    from skot import SinkhornTransport

    X = np.vstack([x, y])
    domains = np.r_[np.zeros(len(x), int), -np.ones(len(y), int)]
    model = SinkhornTransport(reg=reg, cost_scale=scale, tol=tol, max_iter=10000, **options)
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


def cases():
    """(n, d, reg, outlier) tuples; an outlier case moves one source point 30 units away."""
    chosen = [arg.split(":") for arg in sys.argv[1:] if not arg.startswith("--")]
    if chosen:
        return [(int(c[0]), int(c[1]), float(c[2]), c[3:] == ["outlier"]) for c in chosen]
    return [(n, d, reg, False) for n in SIZES for d in DIMS for reg in REGS]


FEATURE_SIZES = [2000, 5000]
FEATURE_DIMS = [10, 50, 300]
FEATURE_REGS = [0.05, 0.005]
FEATURE_TOL = 1e-6
FEATURE_LOG_MAX = 5000


def run_geomloss(x, y, eps):
    """GeomLoss's tensorized Sinkhorn at ``eps`` (its default eps-scaling), marginal errors exact."""
    import torch
    from geomloss import SamplesLoss

    from bench_multiscale import exact_marginal_errors

    torch.set_num_threads(2)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    a = torch.full((len(x),), 1.0 / len(x), dtype=torch.float64)
    loss = SamplesLoss("sinkhorn", p=2, blur=np.sqrt(eps / 2), debias=False, potentials=True,
                       backend="tensorized")
    (F, G), seconds, peak = measure(loss, a, X, a, Y)
    rows, columns = exact_marginal_errors(x, y, 2 * F.numpy().ravel(), 2 * G.numpy().ravel(), eps)
    return {"seconds": seconds, "marginal_error": rows + columns, "peak_traced_mb": peak}


def compare_fits(x, y, reg):
    """skot numba against the numpy backend, and float32 data against float64, at tol=1e-10."""
    reference, _ = run_skot(x, y, reg, 1e-10, scale="mean")
    spread = float(np.sqrt(y.var(axis=0).sum()))
    mapped = reference.transform(x)
    out = {}
    for name, model in (("numpy", run_skot(x, y, reg, 1e-10, scale="mean", backend="numpy")[0]),
                        ("float32", run_skot(x.astype(np.float32), y.astype(np.float32), reg, 1e-10,
                                             scale="mean")[0])):
        out[name] = {
            "potential_difference_in_eps": float(
                np.abs(model.potential_source_ - reference.potential_source_).max() / reference.epsilon_),
            "map_difference_in_spread": float(np.abs(model.transform(x.astype(model.support_source_.dtype))
                                                     - mapped).max() / spread),
        }
    return out


def run_features():
    import ot

    chosen = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    for n in chosen or FEATURE_SIZES:
        for d in FEATURE_DIMS:
            x, y = mixture_and_ring(n, d)
            for reg in FEATURE_REGS:
                case = f"n={n} d={d} reg={reg:g} (of the mean cost)"
                peers = [("ot.sinkhorn", run_pot(ot, x, y, reg, "sinkhorn", scale="mean", stopThr=FEATURE_TOL))]
                if n <= FEATURE_LOG_MAX and not argv_flag("--no-log"):
                    peers.append(("ot.sinkhorn(method='sinkhorn_log')",
                                  run_pot(ot, x, y, reg, "sinkhorn_log", scale="mean", stopThr=FEATURE_TOL)))
                if n <= FEATURE_LOG_MAX:
                    mean_cost = float(ot.dist(x, y).mean())
                    peers.append(("geomloss tensorized", run_geomloss(x, y, reg * mean_cost)))
                for peer, result in peers:
                    target = result["marginal_error"]
                    failed = not (np.isfinite(target) and target < 1e-2)
                    tol = FEATURE_TOL if failed or target <= 0 else target
                    _, mine = run_skot(x, y, reg, tol, scale="mean")
                    emit({"case": case, "peer": peer, "skot": mine, "peer_result": result, "peer_failed": failed,
                          "ratio_end_to_end": result["seconds"] / mine["seconds"],
                          "same_accuracy": bool(mine["marginal_error"] <= 1.5 * tol)})
                if n <= FEATURE_LOG_MAX:
                    emit({"case": case, "agreement": compare_fits(x, y, reg)})


LARGE_DIM = 50
LARGE_BUDGETS = [None, 4096]  # MiB: the default (online at n = 20000), then a stored kernel


def run_large_child(n, kernel_memory):
    """One fit + transform in this process (``--large-child n budget``): a JSON line."""
    from skot import SinkhornTransport

    options = {} if kernel_memory == "default" else {"kernel_memory": int(kernel_memory)}
    x, y = mixture_and_ring(n, LARGE_DIM)
    X = np.vstack([x, y])
    domains = np.r_[np.zeros(n, int), -np.ones(n, int)]
    start = time.perf_counter()
    model = SinkhornTransport(tol=1e-6, **options).fit(X, sample_domain=domains)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    mapped = model.transform(x)
    emit({"case": f"n=m={n} d={LARGE_DIM} SinkhornTransport(tol=1e-6) fit + transform",
          "kernel_memory_mib": kernel_memory, "fit_seconds": fit_seconds,
          "transform_seconds": time.perf_counter() - start, "n_iter": model.n_iter_,
          "marginal_error": model.marginal_error_, "finite": bool(np.isfinite(mapped).all())})


def run_large():
    chosen = [arg for arg in sys.argv[1:] if arg.isdigit()]
    for n in chosen or ["20000"]:
        for budget in LARGE_BUDGETS:
            subprocess.run([sys.executable, __file__, "--large-child", n, str(budget or "default")], check=True)


def main():
    if argv_flag("--large-child"):
        index = sys.argv.index("--large-child")
        warm_up()
        run_large_child(int(sys.argv[index + 1]), sys.argv[index + 2])
        return
    if argv_flag("--large"):
        run_large()
        return
    if argv_flag("--features"):
        warm_up()
        run_features()
        return
    import ot

    warm_up()
    for n, d, reg, outlier in cases():
        x, y = mixture_and_ring(n, d)
        if outlier:
            x[0] = 30.0
        methods = [method for method, limit in PEERS if n <= limit]
        for method in methods:
            peer = run_pot(ot, x, y, reg, method)
            target = peer["marginal_error"]
            # A peer that failed (NaN, or stopped on numerical errors) sets no accuracy to match.
            peer["failed"] = not (np.isfinite(target) and target < 1e-3)
            tol = 1e-9 if peer["failed"] or target <= 0 else target
            _, mine = run_skot(x, y, reg, tol)
            emit({
                "case": f"n={n} d={d} reg={reg:g}" + (" outlier" if outlier else ""),
                "peer": f"ot.sinkhorn(method={method!r})",
                "skot": mine,
                "peer_result": peer,
                "ratio_end_to_end": peer["seconds"] / mine["seconds"],
                "ratio_solve_only": peer["solve_seconds"] / mine["seconds"],
                "same_accuracy": bool(mine["marginal_error"] <= 1.5 * tol),
            })
        if not methods:
            _, mine = run_skot(x, y, reg, 1e-9)
            emit({"case": f"n={n} d={d} reg={reg:g}", "peer": None, "skot": mine})


if __name__ == "__main__":
    main()
