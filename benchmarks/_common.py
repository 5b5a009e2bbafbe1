"""Helpers shared by the benchmarks: timing, memory, JSON lines, test data."""

import json
import resource
import sys
import time
import tracemalloc

import numpy as np


def measure(func, *args, repeat_below=2.0, **kwargs):
    """Run ``func``; return (result, best seconds, peak traced MB of NumPy/Python allocations).

    Runs shorter than ``repeat_below`` seconds are repeated up to 3 times and the
    best time kept: peers share one process and machine, and BLAS threads left
    spinning by one library slow the next for a moment.
    """
    tracemalloc.start()
    start = time.perf_counter()
    result = func(*args, **kwargs)
    best = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    for _ in range(2):
        if best >= repeat_below:
            break
        start = time.perf_counter()
        func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best, peak


def process_peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(record):
    record["process_peak_rss_mb"] = round(process_peak_rss_mb(), 1)
    print(json.dumps(record), flush=True)


def plan_marginal_error(plan, a, b):
    """|P 1 - a|_1 + |P^T 1 - b|_1, NaN-aware."""
    if not np.all(np.isfinite(plan)):
        return float("nan")
    return float(np.abs(plan.sum(axis=1) - a).sum() + np.abs(plan.sum(axis=0) - b).sum())


def mixture_and_ring(n, d, seed=0):
    """Source: a 3-component Gaussian mixture; target: a noisy ring (first two axes) plus noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(3, d)) * 1.5
    x = means[rng.integers(0, 3, n)] + 0.4 * rng.normal(size=(n, d))
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 1.5 + 0.2 * rng.normal(size=n)
    y = 0.3 * rng.normal(size=(n, d))
    y[:, 0] += radius * np.cos(angle) + 1.0
    y[:, 1] += radius * np.sin(angle) + 1.0
    return x, y


def warm_up():
    """Compile (or load from cache) skot's kernels outside the timed region."""
    from skot import SinkhornTransport, WassersteinBarycenter

    x, y = mixture_and_ring(50, 2)
    X = np.vstack([x, y])
    domains = np.r_[np.zeros(50, int), -np.ones(50, int)]
    SinkhornTransport().fit(X, sample_domain=domains).transform(x)
    SinkhornTransport().fit(X.astype(np.float32), sample_domain=domains)
    WassersteinBarycenter(n_support=50).fit(X, sample_domain=domains)


def argv_flag(name):
    return name in sys.argv[1:]


SHIFTS = ("covariate_shift", "target_shift", "conditional_shift", "subspace")


def shifted_datasets(shift, n, n_seeds):
    """skada's ``make_shifted_datasets`` of one kind of shift (binary labels, noise 0.3), one per
    seed: yields ``(case name, X, y, sample_domain)``."""
    from skada.datasets import make_shifted_datasets

    for seed in range(n_seeds):
        yield (f"{shift}:seed{seed}", *make_shifted_datasets(n_samples_source=n, n_samples_target=n, shift=shift,
                                                             noise=0.3, label="binary", random_state=seed))
