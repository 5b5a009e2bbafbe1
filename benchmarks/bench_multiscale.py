"""Multiscale Sinkhorn: skot against GeomLoss (multiscale and online) on 10^5+ points in 2-D.

Problem: n = m, uniform points in the unit square -> a uniform annulus (radii 0.25, 0.4)
around its centre, cost |x - y|^2, eps = reg * max cost (reg = 1e-3 by default).
skot runs ``multiscale_sinkhorn`` with ``tol`` (certified L1 bounds on both marginals);
GeomLoss runs ``SamplesLoss("sinkhorn", p=2, blur=sqrt(eps / 2), debias=False,
potentials=True)`` (its cost is |x - y|^2 / 2) with its multiscale backend at several
``scaling`` values (more eps steps, better accuracy), and its online backend at
n <= 20000. Every peer's marginal L1 errors are then checked exactly, with two full
online soft-mins (n <= 200000; above, skot's certified bounds are reported), and skot is
run again with ``tol`` set to the error each peer reached: the equal-accuracy ratio.
One JSON line per run.

    python benchmarks/bench_multiscale.py                    # n = 100000
    python benchmarks/bench_multiscale.py 1000000 --no-peers # skot alone, certified
    python benchmarks/bench_multiscale.py 20000 --scalings 0.5,0.9
"""

import sys
import time

import numpy as np

from _common import argv_flag, emit, process_peak_rss_mb

from skot.backends import OnlineGeometry
from skot.backends._costs import max_sqeuclidean
from skot.solvers import multiscale_sinkhorn

EXACT_CHECK_MAX = 200_000


def square_and_annulus(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    angle = rng.random(n) * 2 * np.pi
    radius = np.sqrt(0.25**2 + (0.4**2 - 0.25**2) * rng.random(n))
    return x, np.column_stack([0.5 + radius * np.cos(angle), 0.5 + radius * np.sin(angle)])


def exact_marginal_errors(x, y, f, g, eps):
    """L1 errors of both marginals of P = a b exp((f + g - C) / eps), uniform a and b, exactly."""
    geometry = OnlineGeometry(x, y, "sqeuclidean")
    log_a, log_b = np.log(1.0 / len(x)), np.log(1.0 / len(y))
    rows = np.exp((f - geometry.softmin(g + eps * log_b, eps, axis=1)) / eps) / len(x)
    columns = np.exp((g - geometry.softmin(f + eps * log_a, eps, axis=0)) / eps) / len(y)
    return float(np.abs(rows - 1.0 / len(x)).sum()), float(np.abs(columns - 1.0 / len(y)).sum())


def run_geomloss(x, y, eps, backend, scaling):
    import torch
    from geomloss import SamplesLoss

    torch.set_num_threads(2)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    a = torch.full((len(x),), 1.0 / len(x), dtype=torch.float64)
    b = torch.full((len(y),), 1.0 / len(y), dtype=torch.float64)
    loss = SamplesLoss("sinkhorn", p=2, blur=np.sqrt(eps / 2), scaling=scaling, debias=False,
                       potentials=True, backend=backend)
    loss(a[:100], X[:100], b[:100], Y[:100])  # compile KeOps formulas outside the timing
    start = time.perf_counter()
    F, G = loss(a, X, b, Y)
    seconds = time.perf_counter() - start
    return 2 * F.numpy().ravel(), 2 * G.numpy().ravel(), seconds


def main():
    args = [arg for index, arg in enumerate(sys.argv[1:], 1)
            if not arg.startswith("--") and sys.argv[index - 1] != "--scalings"]
    n = int(args[0]) if args else 100_000
    reg = float(args[1]) if len(args) > 1 else 1e-3
    tol = 1e-3
    scalings = [0.5, 0.7, 0.9]
    if "--scalings" in sys.argv:
        scalings = [float(s) for s in sys.argv[sys.argv.index("--scalings") + 1].split(",")]
    x, y = square_and_annulus(n)
    eps = reg * max_sqeuclidean(x, y)
    a = np.full(n, 1.0 / n)
    multiscale_sinkhorn(x[:2000], y[:2000], a[:2000] * n / 2000, a[:2000] * n / 2000, eps, tol=tol)  # compile
    start = time.perf_counter()
    result = multiscale_sinkhorn(x, y, a, a, eps, tol=tol)
    skot_seconds = time.perf_counter() - start
    record = {"case": f"n={n} d=2 reg={reg}", "peer": "skot multiscale", "seconds": round(skot_seconds, 3),
              "certified_source_l1": result.error, "certified_target_l1": result.marginal_error,
              "peak_rss_mb_so_far": round(process_peak_rss_mb(), 1)}
    if n <= EXACT_CHECK_MAX:
        record["exact_source_l1"], record["exact_target_l1"] = exact_marginal_errors(
            x, y, result.potential_source, result.potential_target, eps)
    emit(record)
    if argv_flag("--no-peers"):
        return
    runs = [("multiscale", scaling) for scaling in scalings]
    if n <= 20_000:
        runs.append(("online", 0.5))
    for backend, scaling in runs:
        f, g, seconds = run_geomloss(x, y, eps, backend, scaling)
        source_l1, target_l1 = exact_marginal_errors(x, y, f, g, eps)
        # skot at the accuracy this peer reached: the equal-accuracy ratio.
        reached = max(source_l1, target_l1)
        start = time.perf_counter()
        matched = multiscale_sinkhorn(x, y, a, a, eps, tol=reached)
        matched_seconds = time.perf_counter() - start
        emit({"case": f"n={n} d=2 reg={reg}", "peer": f"geomloss {backend} scaling={scaling}",
              "seconds": round(seconds, 3), "exact_source_l1": source_l1, "exact_target_l1": target_l1,
              "reached_tol": reached <= tol, "time_ratio_to_skot_at_tol": round(seconds / skot_seconds, 2),
              "skot_seconds_at_this_accuracy": round(matched_seconds, 3),
              "skot_certified_l1_at_this_accuracy": max(matched.error, matched.marginal_error),
              "time_ratio_at_equal_accuracy": round(seconds / matched_seconds, 2)})


if __name__ == "__main__":
    main()
