"""OTDomainAdapterCV's warm-started reg path against one fit and against a cold grid search.

On skada's ``make_shifted_datasets`` (covariate, target, conditional and subspace shift,
binary labels, several seeds): the time of ``OTDomainAdapterCV`` (8 values of reg, 5 folds,
refit included) as a ratio to one ``OTDomainAdapter`` fit at the smallest reg, and to a
``GridSearchCV`` of the DA pipeline over the same grid and folds scored by
``CircularValidationScorer`` (cold solves, a classifier per candidate); the target accuracy
of the pipeline (adapter, then the classifier on mapped source rows) at each reg of the
grid, and at the reg each selection picks. With ``--skada``, skada's own selection too:
``GridSearchCV`` of its ``EntropicOTMappingAdapter`` pipeline over the same values of its
``reg_e`` (in the same cost units: skot's reg times the mean cost) and the same folds, scored
by its ``CircularValidation``, with the target accuracy of its pick. With ``--with-classifier``,
the path scores each reg by reverse validation of the classifier
(``OTDomainAdapterCV(estimator=...)``) instead of the plan's label round trip. One JSON line
per case, a summary per dataset.

    python benchmarks/bench_reg_path.py [n_samples_per_cluster] [n_seeds] [lr|knn|svc] [--no-grid] [--skada]
        [--with-classifier]
"""

import sys
import time
import warnings

import numpy as np

from _common import SHIFTS, argv_flag, emit, measure, shifted_datasets, warm_up


def classifier(name):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    return {"lr": LogisticRegression(), "knn": KNeighborsClassifier(), "svc": SVC()}[name]


def target_accuracy(reg, X, y, masked, clf):
    from skot import OTDomainAdapter, make_da_pipeline

    target = masked == -1
    model = make_da_pipeline(OTDomainAdapter(reg=reg), clf).fit(X, masked)
    return float(np.mean(model.predict(X[target]) == y[target]))


def grid_search(X, masked, regs, clf):
    from sklearn.model_selection import GridSearchCV

    from skot import OTDomainAdapter, make_da_pipeline
    from skot.model_selection import CircularValidationScorer, SourceTargetShuffleSplit

    search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), clf), {"otdomainadapter__reg": list(regs)},
                          scoring=CircularValidationScorer(), cv=SourceTargetShuffleSplit(5, random_state=0))
    start = time.perf_counter()
    search.fit(X, masked)
    return search.best_params_["otdomainadapter__reg"], time.perf_counter() - start


def skada_selection(X, y, domain, regs, mean_cost, clf_name):
    """skada's grid search over reg_e, and the target accuracy of its pick, refitted."""
    import sklearn
    from skada import EntropicOTMappingAdapter, make_da_pipeline
    from skada.metrics import CircularValidation
    from sklearn.model_selection import GridSearchCV, StratifiedShuffleSplit

    masked = np.where(domain < 0, -1, y)
    folds = list(StratifiedShuffleSplit(5, random_state=0).split(X, domain))
    values = [float(reg * mean_cost) for reg in regs]
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(make_da_pipeline(EntropicOTMappingAdapter(), classifier(clf_name)),
                              {"entropicotmappingadapter__reg_e": values}, scoring=CircularValidation(), cv=folds)
        start = time.perf_counter()
        search.fit(X, masked, sample_domain=domain)
        seconds = time.perf_counter() - start
        target = domain < 0
        accuracy = float(np.mean(search.best_estimator_.predict(X[target], sample_domain=domain[target]) == y[target]))
    return values.index(search.best_params_["entropicotmappingadapter__reg_e"]), seconds, accuracy


def case(name, X, y, domain, clf_name, with_grid, with_skada, with_classifier):
    from skot import OTDomainAdapter, OTDomainAdapterCV

    masked = np.where(domain < 0, -1, y)
    path = OTDomainAdapterCV(regs=8, cv=5, estimator=classifier(clf_name) if with_classifier else None,
                             random_state=0)
    _, path_seconds, _ = measure(path.fit, X, masked)
    _, one_fit_seconds, _ = measure(OTDomainAdapter(reg=path.regs_.min()).fit, X, masked)
    accuracy = {float(reg): target_accuracy(reg, X, y, masked, classifier(clf_name)) for reg in path.regs_}
    best = max(accuracy.values())
    record = {
        "case": name, "n_rows": len(X), "classifier": clf_name,
        "path_over_one_fit": round(path_seconds / one_fit_seconds, 2),
        "path_s": round(path_seconds, 4), "one_fit_at_smallest_reg_s": round(one_fit_seconds, 4),
        "path_iterations": path.path_n_iter_, "refit_iterations": path.n_iter_,
        "picked_reg": round(path.reg_, 4), "picked_accuracy": round(accuracy[path.reg_], 4),
        "best_accuracy_on_grid": round(best, 4), "within_0.02": best - accuracy[path.reg_] <= 0.02,
        "accuracy_by_reg": {f"{reg:.3g}": round(value, 4) for reg, value in accuracy.items()},
    }
    if with_grid:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grid_reg, grid_seconds = grid_search(X, masked, path.regs_, classifier(clf_name))
        record.update(grid_search_s=round(grid_seconds, 3), grid_over_path=round(grid_seconds / path_seconds, 1),
                      grid_picked_reg=round(grid_reg, 4), grid_within_0_02=best - accuracy[float(grid_reg)] <= 0.02)
    if with_skada:
        from skot.backends import get_geometry

        source, target = X[domain >= 0], X[domain < 0]
        a, b = np.full(len(source), 1 / len(source)), np.full(len(target), 1 / len(target))
        mean_cost = get_geometry("numba", source, target, "sqeuclidean").cost_statistic("mean", a, b)
        index, skada_seconds, skada_accuracy = skada_selection(X, y, domain, path.regs_, mean_cost, clf_name)
        record.update(skada_selection_s=round(skada_seconds, 3), skada_over_path=round(skada_seconds / path_seconds, 1),
                      skada_picked_reg=round(float(path.regs_[index]), 4), skada_picked_accuracy=round(skada_accuracy, 4))
    emit(record)
    return record


def main():
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    n = int(args[0]) if args else 100
    n_seeds = int(args[1]) if len(args) > 1 else 3
    clf_name = args[2] if len(args) > 2 else "lr"
    warm_up()
    for shift in SHIFTS:
        records = [case(*data, clf_name, not argv_flag("--no-grid"), argv_flag("--skada"),
                        argv_flag("--with-classifier"))
                   for data in shifted_datasets(shift, n, n_seeds)]
        emit({"case": f"{shift}:summary", "max_path_over_one_fit": max(r["path_over_one_fit"] for r in records),
              "median_path_over_one_fit": float(np.median([r["path_over_one_fit"] for r in records])),
              "picks_within_0.02": f"{sum(r['within_0.02'] for r in records)}/{len(records)}"})


if __name__ == "__main__":
    main()
