"""SemiDiscreteMap against POT's ``ot.semidiscrete.solve_semidiscrete`` (averaged SGD).

Uniform source on [0, 1]^d, m target points of equal mass. POT samples its source
(``max_iter`` batches of 32); skot fits on ``n_fit`` samples drawn once: Newton
(``solver="auto"``) at several sizes (fewer samples, less time, coarser cells), and
averaged SGD (``solver="sgd"``) on as many draws as POT took, each used once. Every potential is judged on the same fresh
samples: mean and max relative error of the cell masses (fresh-sample noise alone is
about 1 / sqrt(n_fresh / m)). ``ratio_at_equal_accuracy``: POT's time over the time of
the fastest skot fit at least as accurate as POT in both mean and max error.

    python benchmarks/bench_semidiscrete.py [d] [m] [pot_max_iter] [n_fit ...]
"""

import sys

import numpy as np

from _common import emit, measure, warm_up


def main():
    import ot

    from skot import SemiDiscreteMap
    from skot.backends import OnlineGeometry

    args = [int(v) for v in sys.argv[1:]]
    d, m, pot_iter = (args + [2, 1000, 10000][len(args):])[:3]
    sizes = args[3:] or [100_000, 50_000, 25_000]
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(m, d))
    fresh = rng.uniform(size=(1_000_000, d))
    warm_up()
    SemiDiscreteMap(target=points[:20], tol=0.5).fit(rng.uniform(size=(2000, d)))  # compile outside the timing

    def mass_errors(potential):
        labels = OnlineGeometry(fresh, points, "sqeuclidean").argmax(potential)
        relative = np.abs(np.bincount(labels, minlength=m) / len(fresh) * m - 1.0)
        return [round(float(relative.mean()), 4), round(float(relative.max()), 4)]

    sampler_rng = np.random.default_rng(1)
    potential, pot_seconds, pot_peak = measure(
        ot.semidiscrete.solve_semidiscrete, points, lambda k: sampler_rng.uniform(size=(k, d)),
        max_iter=pot_iter, repeat_below=0,
    )
    pot_errors = mass_errors(np.asarray(potential))
    runs = []
    fits = [("auto", n_fit) for n_fit in sizes] + [("sgd", pot_iter * 32)]
    for solver, n_fit in fits:
        samples = rng.uniform(size=(n_fit, d))
        # Cell masses on n_fit samples carry a relative noise of about sqrt(m / n_fit): a
        # tolerance below it would fit the noise.
        model = SemiDiscreteMap(target=points, solver=solver, tol=round(min(0.5, np.sqrt(m / n_fit)), 3),
                                random_state=0)
        _, seconds, peak = measure(model.fit, samples, repeat_below=0)
        runs.append({"solver": solver, "n_fit": n_fit, "tol": model.tol, "seconds": round(seconds, 3),
                     "mass_error_mean_max": mass_errors(model.potential_), "n_iter": model.n_iter_,
                     "peak_traced_mb": round(peak, 1)})
    as_accurate = [r for r in runs if r["mass_error_mean_max"][0] <= pot_errors[0]
                   and r["mass_error_mean_max"][1] <= pot_errors[1]]
    emit({
        "case": f"uniform [0,1]^{d} -> {m} points",
        "peer": "ot.semidiscrete.solve_semidiscrete",
        "peer_result": {"sgd_steps": pot_iter, "seconds": round(pot_seconds, 3),
                        "mass_error_mean_max": pot_errors, "peak_traced_mb": round(pot_peak, 1)},
        "skot": runs,
        "ratio_at_equal_accuracy": round(pot_seconds / min(r["seconds"] for r in as_accurate), 1)
        if as_accurate else None,
        "fresh_sample_noise": round(float(np.sqrt(m / len(fresh))), 4),
    })


if __name__ == "__main__":
    main()
