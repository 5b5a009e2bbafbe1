"""skot SinkhornTransport against ``ot.da.SinkhornTransport`` (POT's defaults).

Data of POT's domain-adaptation documentation examples: ``make_data_classif("3gauss")``
as source and ``("3gauss2")`` as target, n points each (default 4000), raw squared
Euclidean costs and reg_e = 0.1 (POT's default solver: ``sinkhorn_log``, 1000
iterations at most, tol 1e-8). skot solves the same problem (``cost_scale=None``,
``reg=0.1``) to the marginal error POT reached; both maps are compared on the source.

    python benchmarks/bench_da_sinkhorn.py [n]
"""

import sys
import warnings

import numpy as np

from _common import emit, measure, plan_marginal_error, warm_up


def main():
    import ot

    from skot import SinkhornTransport

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    xs, _ = ot.datasets.make_data_classif("3gauss", n, random_state=0)
    xt, _ = ot.datasets.make_data_classif("3gauss2", n, random_state=1)
    warm_up()

    pot = ot.da.SinkhornTransport(reg_e=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, pot_seconds, pot_peak = measure(pot.fit, Xs=xs, Xt=xt)
    a = np.full(n, 1.0 / n)
    pot_error = plan_marginal_error(pot.coupling_, a, a)
    pot_mapped = pot.transform(Xs=xs)

    X = np.vstack([xs, xt])
    domains = np.r_[np.zeros(n, int), -np.ones(n, int)]
    model = SinkhornTransport(reg=0.1, cost_scale=None, tol=pot_error, max_iter=10000)
    _, skot_seconds, skot_peak = measure(model.fit, X, sample_domain=domains)
    mapped = model.transform(xs)
    emit({
        "case": f"ot.da.SinkhornTransport(reg_e=0.1) defaults, 3gauss -> 3gauss2, n=m={n}",
        "skot": {"seconds": skot_seconds, "marginal_error": model.marginal_error_,
                 "n_iter": model.n_iter_, "transport_cost": model.transport_cost_,
                 "peak_traced_mb": skot_peak},
        "peer_result": {"seconds": pot_seconds, "marginal_error": pot_error,
                        "transport_cost": float(np.sum(pot.coupling_ * pot.cost_)),
                        "peak_traced_mb": pot_peak},
        "ratio": pot_seconds / skot_seconds,
        "same_accuracy": bool(model.marginal_error_ <= 1.5 * pot_error),
        "max_map_difference": float(np.abs(mapped - pot_mapped).max()),
    })


if __name__ == "__main__":
    main()
