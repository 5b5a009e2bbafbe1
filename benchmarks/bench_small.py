"""Small problems, as scikit-learn users run them: skot against the reference, idle and loaded.

Every case runs twice in one process on the same data: once on an idle machine, once with
one busy-loop process per core running beside it. One JSON line per case and load: the
median time of skot and of the reference over ``--repeat`` runs (after one warm-up run),
their ratio (reference / skot: above 1, skot is faster) and what each reached.

Cases (200 source + 150 target rows in 2-D unless said):

- ``sinkhorn``: ``SinkhornTransport().fit`` against POT's ``ot.da.SinkhornTransport().fit``;
- ``adapter``: ``OTDomainAdapter().fit`` against the same;
- ``gaussian``: ``GaussianBuresMap().fit`` against ``ot.da.LinearTransport().fit``;
- ``barycenter``: ``WassersteinBarycenter().fit`` on the two clouds as domains against
  ``ot.lp.free_support_barycenter`` with as many support points;
- ``semidiscrete``: ``SemiDiscreteMap(target=8).fit`` on the 200 source rows against
  scikit-learn's ``KMeans(8)``;
- ``exact``: ``OTDomainAdapter("exact").fit`` against ``ot.da.EMDTransport().fit``;
- ``jdot``: ``JDOTClassifier().fit`` against skada's ``JDOTClassifier().fit`` (the same
  target predictions are checked);
- ``class_regularized``: ``OTDomainAdapter(reg=0.1, reg_class=0.1).fit`` against POT's
  ``ot.da.SinkhornLpl1Transport().fit``;
- ``grid``: ``GridSearchCV`` of ``make_da_pipeline(OTDomainAdapter(), LogisticRegression())``
  over 5 ``reg`` values and 5 ``SourceTargetShuffleSplit`` folds scored by
  ``PredictionEntropyScorer`` (400 + 400 rows), ``n_jobs=1`` against ``n_jobs=2``, and
  skada's ``EntropicOTMappingAdapter`` grid (its scorer and splitter) in a subprocess;
- ``label_propagation``: ``OTLabelPropagation(method="exact").fit`` against skada's
  ``OTLabelProp(LogisticRegression(), reg=None).fit`` (the same target predictions are checked);
- ``reg_path``: ``OTDomainAdapterCV(regs=8).fit`` (5 folds, refit included) against
  ``GridSearchCV`` of the DA pipeline over the same 8 values and folds scored by
  ``CircularValidationScorer``; ``reg_path_classifier``: the same with
  ``OTDomainAdapterCV(estimator=LogisticRegression())``;
- ``cold_start``: import skot, then the first fit and transform of each of the five
  estimators, in a fresh process with an empty numba cache (cold) and again (warm).

    python benchmarks/bench_small.py [case ...] [--repeat 5] [--idle-only]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager

import numpy as np

from _common import emit


def small_problem(n_source=200, n_target=150, seed=0):
    rng = np.random.default_rng(seed)
    x_source = rng.normal(size=(n_source, 2))
    x_target = rng.normal(size=(n_target, 2)) @ np.array([[1.5, 0.3], [0.0, 0.6]]) + [2.0, 1.0]
    labels = (x_source[:, 0] + 0.3 * rng.normal(size=n_source) > 0).astype(int)
    return x_source, x_target, labels


def skot_data(x_source, x_target, labels):
    from skot import pack

    X, y, domain = pack(x_source, x_target, labels)
    return X, y, domain


def case_sinkhorn():
    import ot
    from skot import SinkhornTransport

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)
    return (lambda: SinkhornTransport().fit(X, sample_domain=domain),
            lambda: ot.da.SinkhornTransport().fit(Xs=xs, Xt=xt),
            lambda model: {"marginal_error": float(model.marginal_error_)})


def case_adapter():
    import ot
    from skot import OTDomainAdapter

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)
    return (lambda: OTDomainAdapter().fit(X, y),
            lambda: ot.da.SinkhornTransport().fit(Xs=xs, Xt=xt),
            lambda model: {"marginal_error": float(model.transport_.marginal_error_)})


def case_gaussian():
    import ot
    from skot import GaussianBuresMap

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)

    def compare(model):
        reference = ot.da.LinearTransport().fit(Xs=xs, Xt=xt)
        return {"max_map_difference": float(np.abs(model.transform(xs) - reference.transform(Xs=xs)).max())}

    return (lambda: GaussianBuresMap().fit(X, sample_domain=domain),
            lambda: ot.da.LinearTransport().fit(Xs=xs, Xt=xt), compare)


def case_barycenter():
    import ot
    from skot import WassersteinBarycenter

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)
    domain = np.where(domain < 0, 1, 0)
    n_support = WassersteinBarycenter().fit(X, sample_domain=domain).support_.shape[0]
    init = np.random.default_rng(1).normal(size=(n_support, 2))
    weights = [np.full(len(xs), 1 / len(xs)), np.full(len(xt), 1 / len(xt))]

    def compare(model):
        support = model.support_
        cost = sum(0.5 * ot.emd2(np.full(len(support), 1 / len(support)), w, ot.dist(support, x))
                   for x, w in zip((xs, xt), weights))
        pot = ot.lp.free_support_barycenter([xs, xt], weights, init)
        pot_cost = sum(0.5 * ot.emd2(np.full(len(pot), 1 / len(pot)), w, ot.dist(pot, x))
                       for x, w in zip((xs, xt), weights))
        return {"n_support": n_support, "objective": float(cost), "pot_objective": float(pot_cost)}

    return (lambda: WassersteinBarycenter().fit(X, sample_domain=domain),
            lambda: ot.lp.free_support_barycenter([xs, xt], weights, init), compare)


def case_semidiscrete():
    from sklearn.cluster import KMeans
    from skot import SemiDiscreteMap

    xs, _, _ = small_problem()

    def compare(model):
        return {"cell_masses": np.round(np.sort(model.cell_masses_), 4).tolist(), "n_iter": int(model.n_iter_)}

    return (lambda: SemiDiscreteMap(target=8, random_state=0).fit(xs),
            lambda: KMeans(8, n_init=1, random_state=0).fit(xs), compare)


def case_exact():
    import ot
    from skot import OTDomainAdapter

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)

    def compare(model):
        reference = ot.da.EMDTransport().fit(Xs=xs, Xt=xt)
        return {"max_map_difference": float(np.abs(model.transform(X, y)[:len(xs)] - reference.transform(Xs=xs)).max())}

    return (lambda: OTDomainAdapter("exact").fit(X, y), lambda: ot.da.EMDTransport().fit(Xs=xs, Xt=xt), compare)


def _quietly(fit):
    """``fit()`` with the peers' warnings (convergence of their inner solvers) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit()


def case_jdot():
    from skada import JDOTClassifier as SkadaJDOT
    from skot import JDOTClassifier

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)

    def skada_fit():
        model = SkadaJDOT()
        _quietly(lambda: model.fit(X, y, sample_domain=domain))  # skada's fit returns None
        return model

    def compare(model):
        return {"n_iter": int(model.n_iter_), "same_target_predictions": bool(np.array_equal(
            model.predict(xt), skada_fit().predict(xt)))}

    return lambda: JDOTClassifier().fit(X, y, sample_domain=domain), skada_fit, compare


def case_label_propagation():
    import sklearn
    from skada import OTLabelProp
    from sklearn.linear_model import LogisticRegression
    from skot import OTLabelPropagation

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)

    def skada_fit():
        with sklearn.config_context(enable_metadata_routing=True):
            return _quietly(lambda: OTLabelProp(LogisticRegression(), reg=None, n_iter_max=100000).fit(
                X, y, sample_domain=domain))

    def compare(model):
        with sklearn.config_context(enable_metadata_routing=True):
            theirs = skada_fit().predict(xt, sample_domain=np.full(len(xt), -1))
        return {"same_target_predictions": bool(np.array_equal(model.predict(xt), theirs))}

    return lambda: OTLabelPropagation(method="exact").fit(X, y), skada_fit, compare


def case_class_regularized():
    import ot
    from skot import OTDomainAdapter

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)
    return (lambda: OTDomainAdapter(reg=0.1, reg_class=0.1).fit(X, y),
            lambda: _quietly(lambda: ot.da.SinkhornLpl1Transport().fit(Xs=xs, ys=labels, Xt=xt)),
            lambda model: {"n_iter": int(model.n_iter_)})


def _grid(n_jobs):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from skot import OTDomainAdapter, make_da_pipeline
    from skot.model_selection import PredictionEntropyScorer, SourceTargetShuffleSplit

    xs, xt, labels = small_problem(400, 400)
    X, y, _ = skot_data(xs, xt, labels)
    search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                          {"otdomainadapter__reg": [0.03, 0.1, 0.3, 1.0, 3.0]}, scoring=PredictionEntropyScorer(),
                          cv=SourceTargetShuffleSplit(n_splits=5, random_state=0), n_jobs=n_jobs)
    return lambda: search.fit(X, y)


def case_reg_path(estimator=None):
    """OTDomainAdapterCV's path (8 regs, 5 folds, refit) against GridSearchCV of the DA pipeline over
    the same grid and folds (cold solves, a classifier and a circular score per candidate)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedShuffleSplit
    from skot import OTDomainAdapter, OTDomainAdapterCV, make_da_pipeline
    from skot.model_selection import CircularValidationScorer

    xs, xt, labels = small_problem()
    X, y, domain = skot_data(xs, xt, labels)
    folds = list(StratifiedShuffleSplit(5, random_state=0).split(X, domain))
    path = OTDomainAdapterCV(regs=8, cv=folds, estimator=estimator)
    search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                          {"otdomainadapter__reg": list(np.geomspace(0.01, 3.0, 8))},
                          scoring=CircularValidationScorer(), cv=folds)
    return (lambda: path.fit(X, y), lambda: search.fit(X, y),
            lambda model: {"reg": round(float(model.reg_), 4), "path_n_iter": int(model.path_n_iter_)})


SKADA_GRID = """
import time, warnings, numpy as np, sys
sys.path.insert(0, {here!r})
from bench_small import small_problem
from skada import EntropicOTMappingAdapter, make_da_pipeline
from skada.metrics import PredictionEntropyScorer
from skada.model_selection import SourceTargetShuffleSplit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
xs, xt, labels = small_problem(400, 400)
X = np.vstack([xs, xt]); y = np.r_[labels, -np.ones(len(xt), int)]
domain = np.r_[np.ones(len(xs), int), -np.ones(len(xt), int)]
search = GridSearchCV(make_da_pipeline(EntropicOTMappingAdapter(), LogisticRegression()),
                      {{"entropicotmappingadapter__reg_e": [0.03, 0.1, 0.3, 1.0, 3.0]}},
                      scoring=PredictionEntropyScorer(), cv=SourceTargetShuffleSplit(n_splits=5, random_state=0))
times = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for _ in range({repeat}):
        start = time.perf_counter(); search.fit(X, y, sample_domain=domain); times.append(time.perf_counter() - start)
print(sorted(times)[len(times) // 2])
"""


def case_reg_path_classifier():
    """The same, the path scoring each reg by reverse validation of the LogisticRegression."""
    from sklearn.linear_model import LogisticRegression

    return case_reg_path(LogisticRegression())


def case_grid():
    return _grid(1), _grid(2), lambda search: {"best_reg": search.best_params_["otdomainadapter__reg"]}


COLD_START = """
import time
start = time.perf_counter()
import numpy as np
from skot import GaussianBuresMap, OTDomainAdapter, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter, pack
imported = time.perf_counter() - start
rng = np.random.default_rng(0)
xs, xt = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + 2.0
X, y, domain = pack(xs, xt, (xs[:, 0] > 0).astype(int))
times = {"import": imported}
for name, model, data, routed in [("SinkhornTransport", SinkhornTransport(), X, True),
                                  ("GaussianBuresMap", GaussianBuresMap(), X, True),
                                  ("SemiDiscreteMap", SemiDiscreteMap(target=8), xs, False),
                                  ("WassersteinBarycenter", WassersteinBarycenter(), X, True),
                                  ("OTDomainAdapter", OTDomainAdapter(), X, True)]:
    begin = time.perf_counter()
    kwargs = {"sample_domain": domain} if routed else {}
    model.fit(data, **kwargs).transform(data, **kwargs)
    times[name] = time.perf_counter() - begin
times["total"] = time.perf_counter() - start
print(__import__("json").dumps(times))
"""


def cold_start(load):
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for state in ("cold", "warm"):
            start = time.perf_counter()
            output = subprocess.run([sys.executable, "-c", COLD_START], env=env, cwd=here, capture_output=True,
                                    text=True, check=True).stdout
            wall = time.perf_counter() - start
            times = json.loads(output.strip().splitlines()[-1])
            emit({"case": "cold_start", "cache": state, "load": load, "process_seconds": round(wall, 3),
                  **{key: round(value, 3) for key, value in times.items()}})


@contextmanager
def busy_cores(active):
    """One busy-loop process per core while the block runs (none when not ``active``)."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() if active else 0)]
    try:
        time.sleep(0.5 if active else 0.0)
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def median_time(func, repeat):
    func()  # warm-up: kernels loaded, caches filled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


CASES = {"sinkhorn": case_sinkhorn, "adapter": case_adapter, "gaussian": case_gaussian,
         "barycenter": case_barycenter, "semidiscrete": case_semidiscrete, "exact": case_exact,
         "jdot": case_jdot, "class_regularized": case_class_regularized, "grid": case_grid,
         "reg_path": case_reg_path, "label_propagation": case_label_propagation,
         "reg_path_classifier": case_reg_path_classifier}


def main():
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 5
    loads = ("idle",) if "--idle-only" in args else ("idle", "loaded")
    names = [a for a in args if not a.startswith("--") and not a.isdigit()] or [*CASES, "cold_start"]
    warnings.simplefilter("ignore")
    for name in names:
        if name == "cold_start":
            for load in loads:
                with busy_cores(load == "loaded"):
                    cold_start(load)
            continue
        skot_run, reference_run, describe = CASES[name]()
        for load in loads:
            with busy_cores(load == "loaded"):
                skot_seconds = median_time(skot_run, repeat if name != "grid" else 1)
                reference_seconds = median_time(reference_run, repeat if name != "grid" else 1)
                record = {"case": name, "load": load, "skot_seconds": round(skot_seconds, 5),
                          "reference_seconds": round(reference_seconds, 5),
                          "ratio_reference_over_skot": round(reference_seconds / skot_seconds, 2),
                          **describe(skot_run())}
                if name == "grid":
                    record = {"case": name, "load": load, "skot_n_jobs_1_seconds": round(skot_seconds, 3),
                              "skot_n_jobs_2_seconds": round(reference_seconds, 3),
                              "ratio_n_jobs_1_over_2": round(skot_seconds / reference_seconds, 2),
                              "skada_seconds": round(_skada_grid(), 3), **describe(skot_run())}
            emit(record)


def _skada_grid():
    here = os.path.dirname(os.path.abspath(__file__))
    output = subprocess.run([sys.executable, "-c", SKADA_GRID.format(here=here, repeat=1)], cwd=here,
                            capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
