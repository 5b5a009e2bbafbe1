"""GaussianBuresMap against POT's ``ot.da.LinearTransport`` (Bures-Wasserstein mapping).

n source and n target points in d dimensions (default n = 100000, d = 1000):
fit, then transform the source. Both compute the same closed-form affine map;
the largest difference between the mapped points is reported.

    python benchmarks/bench_gaussian.py [n] [d]
"""

import sys

import numpy as np

from _common import emit, measure


def main():
    import ot

    from skot import GaussianBuresMap

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = np.random.default_rng(0)
    # Well-conditioned covariances, so that the two libraries' ridges (POT: reg * I,
    # skot: reg * trace) do not matter and the maps must agree.
    mix = np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    xs = rng.normal(size=(n, d)) @ mix
    xt = rng.normal(size=(n, d)) @ (mix @ mix + 0.5 * np.eye(d)) + 1.0
    X = np.vstack([xs, xt])
    domains = np.r_[np.zeros(n, int), -np.ones(n, int)]

    def skot_run():
        model = GaussianBuresMap(reg=1e-8).fit(X, sample_domain=domains)
        return model.transform(xs)

    def pot_run():
        model = ot.da.LinearTransport(reg=1e-8)
        model.fit(Xs=xs, Xt=xt)
        return model.transform(Xs=xs)

    mine, skot_seconds, skot_peak = measure(skot_run, repeat_below=0)
    theirs, pot_seconds, pot_peak = measure(pot_run, repeat_below=0)
    scale = np.abs(theirs).max()
    emit({
        "case": f"fit + transform, n={n} per domain, d={d}",
        "skot": {"seconds": skot_seconds, "peak_traced_mb": skot_peak},
        "peer": "ot.da.LinearTransport(reg=1e-8)",
        "peer_result": {"seconds": pot_seconds, "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "max_relative_difference": float(np.abs(mine - theirs).max() / scale),
    })


if __name__ == "__main__":
    main()
