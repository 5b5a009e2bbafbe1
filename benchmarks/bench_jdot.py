"""skot's JDOTClassifier against skada's, on skada's shifted datasets and on shifted digits.

skada's ``make_shifted_datasets`` (covariate, target, conditional and subspace shift,
binary labels, several seeds) and scikit-learn's digits (8 x 8 images, source: the
images of one half of the writers' rows, target: the other half with a brightness change
and one pixel of shift, PCA to 20 dimensions fitted on the source). Both fit
``LogisticRegression()`` by exact JDOT with alpha = 0.5, their defaults; the same
``tol`` (1e-5) and iteration cap (100). One JSON line per case: fit times, their ratio,
target accuracies (and of the source-only classifier); a summary line per dataset.

    python benchmarks/bench_jdot.py [n_samples_per_cluster] [n_seeds]
"""

import sys
import warnings

import numpy as np

from _common import SHIFTS, emit, measure, shifted_datasets, warm_up


def shifted_digits(seed):
    """Digits split in two by a random permutation; the target half brightened and shifted."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    source, target = order[: len(order) // 2], order[len(order) // 2:]
    shifted = images.reshape(-1, 8, 8)[target]
    shifted = np.clip(1.3 * np.roll(shifted, 1, axis=2) + 2.0, 0, 20).reshape(len(target), -1)
    pca = PCA(20, random_state=0).fit(images[source])
    X = np.vstack([pca.transform(images[source]), pca.transform(shifted)])
    y = np.r_[labels[source], labels[target]]
    domain = np.r_[np.ones(len(source), int), -np.ones(len(target), int)]
    return X, y, domain


def compare(case, X, y, domain):
    from skada import JDOTClassifier as SkadaJDOT
    from sklearn.linear_model import LogisticRegression

    from skot import JDOTClassifier

    target = domain < 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn when LogisticRegression stops at its max_iter
        peer = SkadaJDOT(LogisticRegression(), alpha=0.5, n_iter_max=100, tol=1e-5)
        _, peer_seconds, _ = measure(peer.fit, X, y, sample_domain=domain)
        model = JDOTClassifier(LogisticRegression(), alpha=0.5, max_iter=100, tol=1e-5)
        _, seconds, _ = measure(model.fit, X, y, sample_domain=domain)
        baseline = LogisticRegression().fit(X[~target], y[~target])
    record = {
        "case": case, "n_rows": len(X),
        "skot_fit_s": round(seconds, 4), "skada_fit_s": round(peer_seconds, 4),
        "speedup": round(peer_seconds / seconds, 1),
        "skot_target_accuracy": round(float(np.mean(model.predict(X[target]) == y[target])), 4),
        "skada_target_accuracy": round(float(np.mean(peer.predict(X[target]) == y[target])), 4),
        "source_only_accuracy": round(float(np.mean(baseline.predict(X[target]) == y[target])), 4),
        "skot_iterations": model.n_iter_, "skada_iterations": len(peer.lst_loss_ot_),
    }
    emit(record)
    return record


def summary(name, records):
    emit({
        "case": f"{name}:summary", "n_cases": len(records),
        "min_speedup": min(r["speedup"] for r in records),
        "skot_mean_accuracy": round(float(np.mean([r["skot_target_accuracy"] for r in records])), 4),
        "skada_mean_accuracy": round(float(np.mean([r["skada_target_accuracy"] for r in records])), 4),
        "max_accuracy_deficit": round(max(r["skada_target_accuracy"] - r["skot_target_accuracy"] for r in records), 4),
    })


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n_seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    warm_up()
    for shift in SHIFTS:
        summary(shift, [compare(*case) for case in shifted_datasets(shift, n, n_seeds)])
    summary("digits", [compare(f"digits:seed{seed}", *shifted_digits(seed)) for seed in range(n_seeds)])


if __name__ == "__main__":
    main()
