"""GaussianBuresMap against POT's ``ot.da.LinearTransport`` (Bures-Wasserstein mapping).

n source and n target points in d dimensions (default n = 100000, d = 1000): fit, then
transform the source. Both compute the same closed-form affine map; the largest difference
between the mapped points is reported.

``--wide``: few rows in many features (default n = 20 per domain, d = 2000), where skot fits
in the span of the rows. Each cloud is scaled to unit total variance, so that POT's absolute
ridge and skot's trace-relative one (both 1e-3) are the same matrix and the maps must agree.
Also the Gaussian barycenter of three such domains against
``ot.gaussian.bures_wasserstein_barycenter`` of their empirical moments (d = 500 by default
there: POT's fixed point takes d x d matrix square roots).

    python benchmarks/bench_gaussian.py [n] [d] [--wide]
"""

import sys

import numpy as np

from _common import emit, measure


def tall(n, d, rng):
    # Well-conditioned covariances, so that the two libraries' ridges (POT: reg * I,
    # skot: reg * trace) do not matter and the maps must agree.
    mix = np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    xs = rng.normal(size=(n, d)) @ mix
    xt = rng.normal(size=(n, d)) @ (mix @ mix + 0.5 * np.eye(d)) + 1.0
    return xs, xt, 1e-8


def wide(n, d, rng):
    def unit_variance(points):
        centred = points - points.mean(axis=0)
        return points / np.sqrt((centred**2).sum(axis=1).mean())

    xs = unit_variance(rng.normal(size=(n, d)) * np.linspace(0.5, 2.0, d))
    xt = unit_variance(rng.normal(size=(n, d)) + 1.0)
    return xs, xt, 1e-3


def compare_maps(xs, xt, reg, label):
    import ot

    from skot import GaussianBuresMap

    X = np.vstack([xs, xt])
    domains = np.r_[np.zeros(len(xs), int), -np.ones(len(xt), int)]

    def skot_run():
        return GaussianBuresMap(reg=reg).fit(X, sample_domain=domains).transform(xs)

    def pot_run():
        model = ot.da.LinearTransport(reg=reg)
        model.fit(Xs=xs, Xt=xt)
        return model.transform(Xs=xs)

    mine, skot_seconds, skot_peak = measure(skot_run, repeat_below=0)
    theirs, pot_seconds, pot_peak = measure(pot_run, repeat_below=0)
    emit({
        "case": f"fit + transform, {label}, n={len(xs)} per domain, d={xs.shape[1]}",
        "skot": {"seconds": skot_seconds, "peak_traced_mb": skot_peak},
        "peer": f"ot.da.LinearTransport(reg={reg:g})",
        "peer_result": {"seconds": pot_seconds, "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "max_relative_difference": float(np.abs(mine - theirs).max() / np.abs(theirs).max()),
    })


def compare_barycenters(n, d, rng):
    import ot

    from skot import WassersteinBarycenter

    domains = [wide(n, d, rng)[k] * (1.0 + k) for k in range(2)] + [wide(n, d, rng)[1] + 2.0]
    X, labels = np.vstack(domains), np.repeat(np.arange(3), n)
    ridge = [1e-4 * np.trace(np.cov(points.T, bias=True)) for points in domains]

    def skot_run():
        return WassersteinBarycenter(method="gaussian").fit(X, sample_domain=labels).covariance_

    def pot_run():
        means = np.array([points.mean(axis=0) for points in domains])
        covs = np.array([np.cov(points.T, bias=True) + r * np.eye(d) for points, r in zip(domains, ridge)])
        return ot.gaussian.bures_wasserstein_barycenter(means, covs, num_iter=1000, eps=1e-7)[1]

    mine, skot_seconds, skot_peak = measure(skot_run, repeat_below=0)
    theirs, pot_seconds, pot_peak = measure(pot_run, repeat_below=0)
    emit({
        "case": f"Gaussian barycenter, wide, 3 domains x {n} rows, d={d}",
        "skot": {"seconds": skot_seconds, "peak_traced_mb": skot_peak},
        "peer": "ot.gaussian.bures_wasserstein_barycenter (same ridged moments)",
        "peer_result": {"seconds": pot_seconds, "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "max_relative_difference": float(np.abs(mine - theirs).max() / np.abs(theirs).max()),
    })


def main():
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    is_wide = "--wide" in sys.argv
    n = int(arguments[0]) if arguments else (20 if is_wide else 100_000)
    d = int(arguments[1]) if len(arguments) > 1 else (2000 if is_wide else 1000)
    rng = np.random.default_rng(0)
    if is_wide:
        compare_maps(*wide(n, d, rng), "wide")
        compare_barycenters(n, min(d, 500), rng)
    else:
        compare_maps(*tall(n, d, rng), "tall")


if __name__ == "__main__":
    main()
