"""Peak resident memory of a SinkhornTransport fit + transform at n = m = 30000, d = 2.

Run it alone (peak RSS is per process): ``python benchmarks/memory_30000.py``.
A dense n x m float64 matrix alone would take 7.2 GB.
"""

import time

import numpy as np

from _common import emit, mixture_and_ring, process_peak_rss_mb


def main(n=30000):
    from skot import SinkhornTransport

    x, y = mixture_and_ring(n, 2)
    X = np.vstack([x, y])
    domains = np.r_[np.zeros(n, int), -np.ones(n, int)]
    baseline = process_peak_rss_mb()
    start = time.perf_counter()
    model = SinkhornTransport(reg=1e-2, cost_scale="max", tol=1e-6).fit(X, sample_domain=domains)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    mapped = model.transform(x)
    transform_seconds = time.perf_counter() - start
    emit({
        "case": f"fit + transform, n=m={n}, d=2, reg=1e-2 (max-normalised), tol=1e-6",
        "fit_seconds": fit_seconds, "transform_seconds": transform_seconds,
        "n_iter": model.n_iter_, "marginal_error": model.marginal_error_,
        "finite": bool(np.isfinite(mapped).all()),
        "rss_before_fit_mb": round(baseline, 1),
    })


if __name__ == "__main__":
    main()
