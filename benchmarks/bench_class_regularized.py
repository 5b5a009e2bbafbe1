"""Class-regularised OT: skot's OTDomainAdapter(reg_class=...) against POT and skada.

skada's ``make_shifted_datasets`` (conditional shift, binary labels): at 150 + 150 rows
against POT's ``ot.da.SinkhornLpl1Transport`` (its defaults: reg_e = 1, reg_cl = 0.1, 10
majorisation steps of 200 Sinkhorn iterations), at 904 + 904 rows against skada's
``ClassRegularizerOTMappingAdapter`` (the same solver behind). skot: ``reg=0.1`` and
``reg_class=0.1`` of the mean cost, the group lasso, solved by generalised conditional
gradient to its default gap. The penalties differ in scale (skot's is weighted by
sqrt(b_j); see docs/user_guide/domain_adaptation.rst), so each map is judged by the target
accuracy of a LogisticRegression trained on the mapped source rows. The l1l2 group lasso, the
same problem in both libraries, against POT's ``ot.da.SinkhornL1l2Transport`` (its defaults:
reg_e = 1, reg_cl = 0.1 in raw units, 10 conditional-gradient steps), skot with
``cost_scale=None`` and the same values: both objectives (POT's entropy sum P log P, shifted to
KL(P | a b^T)) and times. One JSON line per case.

    python benchmarks/bench_class_regularized.py
"""

import warnings

import numpy as np

from _common import emit, measure, warm_up


def accuracy(mapped_source, source_labels, target, target_labels):
    from sklearn.linear_model import LogisticRegression

    return round(float(np.mean(LogisticRegression().fit(mapped_source, source_labels).predict(target)
                               == target_labels)), 4)


def main():
    import ot
    from skada import ClassRegularizerOTMappingAdapter
    from skada.datasets import make_shifted_datasets

    from skot import OTDomainAdapter

    warm_up()
    for n in (19, 113):  # 150 and 904 rows a domain
        X, y, domain = make_shifted_datasets(n_samples_source=n, n_samples_target=n, shift="conditional_shift",
                                             noise=0.3, label="binary", random_state=0)
        source, target = domain >= 0, domain < 0
        y_masked = np.where(target, -1, y)
        model = OTDomainAdapter(reg=0.1, reg_class=0.1)
        _, seconds, _ = measure(model.fit, X, y_masked)
        ours = accuracy(model.transform(X[source], sample_domain=domain[source]), y[source], X[target], y[target])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if n < 100:
                peer_name = "ot.da.SinkhornLpl1Transport"
                peer = ot.da.SinkhornLpl1Transport()
                _, peer_seconds, _ = measure(peer.fit, Xs=X[source], ys=y[source], Xt=X[target])
                mapped = peer.transform(Xs=X[source])
            else:
                peer_name = "skada ClassRegularizerOTMappingAdapter"
                peer = ClassRegularizerOTMappingAdapter()
                _, peer_seconds, _ = measure(peer.fit, X, y_masked, sample_domain=domain)
                mapped = peer.transform(X[source], sample_domain=domain[source], allow_source=True)
        emit({
            "case": f"{int(source.sum())} x {int(target.sum())}", "peer": peer_name,
            "skot_fit_s": round(seconds, 4), "peer_fit_s": round(peer_seconds, 4),
            "ratio_peer_over_skot": round(peer_seconds / seconds, 2), "skot_iterations": model.n_iter_,
            "skot_target_accuracy": ours, "peer_target_accuracy": accuracy(mapped, y[source], X[target], y[target]),
        })


def l1l2_case(n=19):
    import ot
    from scipy.special import rel_entr
    from skada.datasets import make_shifted_datasets

    from skot import OTDomainAdapter

    X, y, domain = make_shifted_datasets(n_samples_source=n, n_samples_target=n, shift="conditional_shift",
                                         noise=0.3, label="binary", random_state=0)
    source, target = domain >= 0, domain < 0
    model = OTDomainAdapter(reg=1.0, reg_class=0.1, class_penalty="l1l2", cost_scale=None)
    _, seconds, _ = measure(model.fit, X, np.where(target, -1, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = ot.da.SinkhornL1l2Transport()
        _, peer_seconds, _ = measure(peer.fit, Xs=X[source], ys=y[source], Xt=X[target])
    cost = ot.dist(X[source], X[target])
    a, b = np.full(source.sum(), 1 / source.sum()), np.full(target.sum(), 1 / target.sum())

    def objective(plan):
        penalty = sum(np.linalg.norm(plan[y[source] == c], axis=0).sum() for c in np.unique(y[source]))
        return float(np.sum(cost * plan) + 0.1 * penalty + rel_entr(plan, np.outer(a, b)).sum())

    emit({"case": f"l1l2 {int(source.sum())} x {int(target.sum())}", "peer": "ot.da.SinkhornL1l2Transport",
          "skot_fit_s": round(seconds, 4), "peer_fit_s": round(peer_seconds, 4),
          "ratio_peer_over_skot": round(peer_seconds / seconds, 2), "skot_iterations": model.n_iter_,
          "skot_objective": round(objective(model.plan_), 8), "peer_objective": round(objective(peer.coupling_), 8)})


if __name__ == "__main__":
    main()
    l1l2_case()
