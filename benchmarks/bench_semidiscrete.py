"""SemiDiscreteMap against POT's ``ot.semidiscrete.solve_semidiscrete`` (averaged SGD).

Uniform source on [0, 1]^d, m target points of equal mass. POT samples its source
(``max_iter`` batches of 32); skot fits on ``n_fit`` samples drawn once. Both potentials
are judged on the same fresh samples: mean and max relative error of the cell masses
(fresh-sample noise alone is about 1 / sqrt(n_fresh / m)).

    python benchmarks/bench_semidiscrete.py [d] [m] [n_fit] [pot_max_iter]
"""

import sys

import numpy as np

from _common import emit, measure, warm_up


def main():
    import ot

    from skot import SemiDiscreteMap
    from skot.backends import OnlineGeometry

    d, m, n_fit, pot_iter = (int(v) for v in (sys.argv[1:] + ["2", "1000", "100000", "10000"][len(sys.argv) - 1:]))
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(m, d))
    fresh = rng.uniform(size=(1_000_000, d))
    warm_up()

    def mass_errors(potential):
        labels = OnlineGeometry(fresh, points, "sqeuclidean").argmax(potential)
        relative = np.abs(np.bincount(labels, minlength=m) / len(fresh) * m - 1.0)
        return float(relative.mean()), float(relative.max())

    samples = rng.uniform(size=(n_fit, d))
    model = SemiDiscreteMap(target=points, tol=1e-3)
    _, skot_seconds, skot_peak = measure(model.fit, samples, repeat_below=0)
    sampler_rng = np.random.default_rng(1)
    potential, pot_seconds, pot_peak = measure(
        ot.semidiscrete.solve_semidiscrete, points, lambda k: sampler_rng.uniform(size=(k, d)),
        max_iter=pot_iter, repeat_below=0,
    )
    emit({
        "case": f"uniform [0,1]^{d} -> {m} points, skot on {n_fit} samples, POT {pot_iter} SGD steps",
        "skot": {"seconds": skot_seconds, "mass_error_mean_max": mass_errors(model.potential_),
                 "n_iter": model.n_iter_, "peak_traced_mb": skot_peak},
        "peer": "ot.semidiscrete.solve_semidiscrete",
        "peer_result": {"seconds": pot_seconds, "mass_error_mean_max": mass_errors(np.asarray(potential)),
                        "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "fresh_sample_noise": float(np.sqrt(m / len(fresh))),
    })


if __name__ == "__main__":
    main()
