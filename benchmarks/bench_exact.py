"""Exact OT: skot's network simplex from the points against POT's ``ot.emd``, same problems, same run.

Cases: n = m in {200, 1000, 5000} (and 1000 x 700), d in {2, 10}, uniform and random
weights. skot solves from the points (``skot.solvers.exact_transport``, costs on the fly);
POT is timed from the points too: ``ot.dist`` then ``ot.emd``, and ``ot.emd2_lazy`` (POT's
O(n + m)-memory variant) where installed, up to 1000 points. Accuracy: the relative
difference of the transport cost to ``ot.emd2``'s and skot's certified dual violation. One
JSON line per case: times, ``ratio`` (POT time / skot time: above 1, skot is faster), peak
traced memory.

``--large`` adds n = m = 20000, d = 2, random weights (skot alone, in a fresh process: time,
certificate, peak RSS), and the 1-D case n = m = 10^6 against ``ot.wasserstein_1d``;
``--large-only`` runs these two alone.

    python benchmarks/bench_exact.py [--large | --large-only] [--quick]
"""

import subprocess
import sys

import numpy as np

from _common import argv_flag, emit, measure


def problem(n, m, d, weights, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) @ np.diag(np.linspace(0.5, 1.5, d)) + 1.0
    if weights == "uniform":
        a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    else:
        a, b = rng.random(n), rng.random(m)
        a, b = a / a.sum(), b / b.sum()
    return x, y, a, b


def pot_from_points(x, y, a, b):
    import ot

    return ot.emd(a, b, ot.dist(x, y), numItermax=10**9)


def compare(n, m, d, weights):
    import ot

    from skot.solvers import exact_transport

    x, y, a, b = problem(n, m, d, weights)
    ours, skot_seconds, skot_peak = measure(exact_transport, x, y, a, b)
    plan, pot_seconds, pot_peak = measure(pot_from_points, x, y, a, b)
    reference = float(np.sum(plan * ot.dist(x, y)))
    record = {"case": f"{n}x{m}_d{d}_{weights}", "skot_seconds": round(skot_seconds, 4),
              "pot_seconds": round(pot_seconds, 4), "ratio": round(pot_seconds / skot_seconds, 2),
              "relative_cost_difference": abs(ours.cost - reference) / reference,
              "dual_violation": ours.dual_violation, "pivots": ours.n_iter, "plan_nonzeros": int(ours.plan.nnz),
              "skot_peak_mb": round(skot_peak, 1), "pot_peak_mb": round(pot_peak, 1)}
    if hasattr(ot, "emd2_lazy") and n <= 1000:
        lazy, lazy_seconds, _ = measure(ot.emd2_lazy, x, y, a, b, numItermax=10**9, return_matrix=False)
        record.update(pot_lazy_seconds=round(lazy_seconds, 4), lazy_ratio=round(lazy_seconds / skot_seconds, 2),
                      lazy_relative_cost_difference=abs(float(lazy) - reference) / reference)
    emit(record)


# Peak RSS from /proc (VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's).
LARGE = """
import time, numpy as np
from skot.solvers import exact_transport
rng = np.random.default_rng(0)
exact_transport(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)))
n = 20000
x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0
a, b = rng.random(n), rng.random(n)
start = time.perf_counter()
result = exact_transport(x, y, a / a.sum(), b / b.sum())
seconds = time.perf_counter() - start
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(seconds, result.dual_violation, result.n_iter, result.cost, int(peak) / 1024)
"""


def large():
    seconds, violation, pivots, cost, rss = subprocess.run(
        [sys.executable, "-c", LARGE], check=True, capture_output=True, text=True).stdout.split()
    emit({"case": "20000x20000_d2_random", "skot_seconds": round(float(seconds), 1), "dual_violation": float(violation),
          "pivots": int(pivots), "cost": float(cost), "subprocess_peak_rss_mb": round(float(rss), 1),
          "dense_cost_matrix_mb": round(20000**2 * 8 / 2**20, 1)})


def one_dimension(n=10**6):
    import ot

    from skot.solvers import exact_transport

    x, y, a, b = problem(n, n, 1, "random")
    exact_transport(x[:10], y[:10])
    ours, skot_seconds, _ = measure(exact_transport, x, y, a, b)
    theirs, pot_seconds, _ = measure(ot.wasserstein_1d, x[:, 0], y[:, 0], a, b, p=2)
    emit({"case": f"1d_{n}_sqeuclidean_random", "skot_seconds": round(skot_seconds, 3),
          "pot_wasserstein_1d_seconds": round(pot_seconds, 3), "ratio": round(pot_seconds / skot_seconds, 2),
          "relative_cost_difference": abs(ours.cost - float(theirs)) / float(theirs)})


def main():
    from skot.solvers import exact_transport

    exact_transport(np.random.rand(10, 2), np.random.rand(10, 2))  # compile or load the kernels
    if argv_flag("--large-only"):
        one_dimension()
        large()
        return
    sizes = [200, 1000] if argv_flag("--quick") else [200, 1000, 5000]
    for n in sizes:
        for d in (2, 10):
            for weights in ("uniform", "random"):
                compare(n, n, d, weights)
    compare(1000, 700, 2, "random")
    if argv_flag("--large"):
        one_dimension()
        large()


if __name__ == "__main__":
    main()
