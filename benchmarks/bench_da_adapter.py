"""skot's DA pipeline against skada's ``EntropicOTMappingAdapter`` pipeline.

skada's ``make_shifted_datasets`` (covariate and conditional shift, several seeds):
``skada.make_da_pipeline(EntropicOTMappingAdapter(), LogisticRegression())`` (skada's
defaults, ``sample_domain`` routed) against
``skot.make_da_pipeline(OTDomainAdapter(), LogisticRegression())`` fitted from masked
labels alone. One JSON line per case: fit times, their ratio, target accuracies.

    python benchmarks/bench_da_adapter.py [n_samples_per_domain] [n_seeds]
"""

import sys
import warnings

import numpy as np

from _common import emit, measure, warm_up


def main():
    import sklearn
    from skada import EntropicOTMappingAdapter
    from skada import make_da_pipeline as skada_pipeline
    from skada.datasets import make_shifted_datasets
    from sklearn.linear_model import LogisticRegression

    from skot import OTDomainAdapter, make_da_pipeline

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    n_seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    warm_up()
    for shift in ("covariate_shift", "conditional_shift"):
        records = []
        for seed in range(n_seeds):
            X, y, domain = make_shifted_datasets(n_samples_source=n, n_samples_target=n, shift=shift,
                                                 noise=0.3, label="binary", random_state=seed)
            target = domain < 0
            y_masked = np.where(target, -1, y)

            with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peer = skada_pipeline(EntropicOTMappingAdapter(), LogisticRegression())
                # skada's pipeline overwrites the target labels of the y it is given with -1: a copy.
                _, peer_seconds, _ = measure(peer.fit, X, y.copy(), sample_domain=domain)
                peer_accuracy = float(np.mean(peer.predict(X[target]) == y[target]))

            with sklearn.config_context(enable_metadata_routing=False):
                model = make_da_pipeline(OTDomainAdapter(), LogisticRegression())
                _, seconds, _ = measure(model.fit, X, y_masked)
                accuracy = float(np.mean(model.predict(X[target]) == y[target]))
                source_only = LogisticRegression().fit(X[~target], y[~target])
                baseline = float(np.mean(source_only.predict(X[target]) == y[target]))

            records.append({
                "case": f"{shift}:seed{seed}", "n_rows": len(X),
                "skot_fit_s": round(seconds, 4), "skada_fit_s": round(peer_seconds, 4),
                "speedup": round(peer_seconds / seconds, 1),
                "skot_target_accuracy": round(accuracy, 4), "skada_target_accuracy": round(peer_accuracy, 4),
                "source_only_accuracy": round(baseline, 4),
            })
            emit(records[-1])
        emit({
            "case": f"{shift}:summary", "n_seeds": n_seeds,
            "min_speedup": min(r["speedup"] for r in records),
            "skot_mean_accuracy": round(float(np.mean([r["skot_target_accuracy"] for r in records])), 4),
            "skada_mean_accuracy": round(float(np.mean([r["skada_target_accuracy"] for r in records])), 4),
            "seeds_skot_at_least_skada": sum(r["skot_target_accuracy"] >= r["skada_target_accuracy"] for r in records),
        })


if __name__ == "__main__":
    main()
