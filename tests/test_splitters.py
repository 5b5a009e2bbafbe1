"""DomainShuffleSplit and LeaveOneDomainOut: their splits, routing on and off, skada's pipelines."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skot import OTDomainAdapter, make_da_pipeline
from skot.model_selection import DomainShuffleSplit, LeaveOneDomainOut, PredictionEntropyScorer


def multi_domain(n=30, seed=0):
    """Three domains (shifted copies of two classes), each as source rows (d) and as target rows (-d)."""
    rng = np.random.default_rng(seed)
    X, y, domain = [], [], []
    for d in (1, 2, 3):
        labels = rng.integers(0, 2, n)
        points = rng.normal(size=(n, 2)) * 0.6 + np.c_[2.5 * labels, 0 * labels] + [0.8 * d, -0.5 * d]
        X += [points, points]
        y += [labels, np.full(n, -1)]
        domain += [np.full(n, d), np.full(n, -d)]
    return np.vstack(X), np.concatenate(y), np.concatenate(domain)


def test_domain_shuffle_split_draws_each_domain_and_keeps_it_in_train_and_test():
    rng = np.random.default_rng(0)
    domain = np.r_[np.full(40, 0), np.full(30, 1), np.full(50, -1)]
    X = rng.normal(size=(len(domain), 2))
    splitter = DomainShuffleSplit(n_splits=4, test_size=0.25, under_sampling=0.5, random_state=0)
    splits = list(splitter.split(X, sample_domain=domain))
    assert len(splits) == splitter.get_n_splits() == 4
    for train, test in splits:
        assert not set(train) & set(test)
        rows = np.r_[train, test]
        # Half of each domain drawn, a quarter of each draw in the test rows.
        for value, size in ((0, 40), (1, 30), (-1, 50)):
            assert np.sum(domain[rows] == value) == size // 2
            assert np.sum(domain[test] == value) == pytest.approx(0.25 * (size // 2), abs=1)
    # The draws differ from split to split.
    assert len({tuple(np.sort(np.r_[train, test])) for train, test in splits}) == 4
    # Routing off: masked labels give the same domains, hence the same splits.
    y_masked = np.where(domain >= 0, 1, -1)
    off = list(DomainShuffleSplit(n_splits=4, test_size=0.25, under_sampling=0.5, random_state=0).split(
        X, y_masked))
    on = list(DomainShuffleSplit(n_splits=4, test_size=0.25, under_sampling=0.5, random_state=0).split(
        X, sample_domain=np.where(domain >= 0, 0, -1)))
    for (train_off, test_off), (train_on, test_on) in zip(off, on):
        np.testing.assert_array_equal(train_off, train_on)
        np.testing.assert_array_equal(test_off, test_on)
    with pytest.raises(ValueError, match="under_sampling"):
        DomainShuffleSplit(under_sampling=0.0)


def test_leave_one_domain_out_holds_each_domain_out_as_the_target():
    X, y, domain = multi_domain()
    splitter = LeaveOneDomainOut(test_size=0.2, random_state=0)
    splits = list(splitter.split(X, y, sample_domain=domain))
    assert splitter.get_n_splits(X, y, sample_domain=domain) == len(splits) == 3
    left_out = []
    for train, test in splits:
        assert not set(train) & set(test)
        kept = np.unique(domain[np.r_[train, test]])
        (target,) = kept[kept < 0]
        left_out.append(-target)
        # The other domains' source rows and the left-out domain's target rows, all of them.
        np.testing.assert_array_equal(np.sort(kept[kept > 0]), sorted({1, 2, 3} - {-target}))
        assert len(train) + len(test) == 3 * 30
        for value in kept:
            assert np.sum(domain[test] == value) == 6  # a fifth of each domain's 30 rows
    assert sorted(left_out) == [1, 2, 3]
    assert len(list(LeaveOneDomainOut(max_n_splits=2).split(X, sample_domain=domain))) == 2
    # One source and one target domain (what masked labels give): the error names the layout.
    with pytest.raises(ValueError, match="each as source rows"):
        next(LeaveOneDomainOut().split(X, np.where(domain > 0, y, -1)))


@pytest.mark.parametrize("splitter", [LeaveOneDomainOut(random_state=0),
                                      DomainShuffleSplit(n_splits=3, random_state=0)], ids=repr)
def test_splitters_request_sample_domain_and_drive_a_grid_search(splitter):
    from sklearn.utils.metadata_routing import get_routing_for_object

    assert get_routing_for_object(splitter).split.requests["sample_domain"] is True
    X, y, domain = multi_domain()
    copies = [X.copy(), y.copy(), domain.copy()]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                              {"otdomainadapter__reg": [0.1, 1.0]}, scoring=PredictionEntropyScorer(), cv=splitter,
                              error_score="raise").fit(X, y, sample_domain=domain)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    for before, after in zip(copies, (X, y, domain)):
        np.testing.assert_array_equal(before, after)
    if isinstance(splitter, DomainShuffleSplit):  # routing off: masked labels (one source, one target domain)
        X_off, y_off = X[np.abs(domain) == 1], y[np.abs(domain) == 1]
        search = GridSearchCV(make_da_pipeline(OTDomainAdapter(), LogisticRegression()),
                              {"otdomainadapter__reg": [0.1, 1.0]}, scoring=PredictionEntropyScorer(), cv=splitter,
                              error_score="raise").fit(X_off, y_off)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


@pytest.mark.parametrize("splitter", [LeaveOneDomainOut(random_state=0),
                                      DomainShuffleSplit(n_splits=2, random_state=0)], ids=repr)
def test_splitters_inside_a_skada_pipeline(splitter):
    routing = sklearn.get_config()["enable_metadata_routing"]
    skada = pytest.importorskip("skada")
    sklearn.set_config(enable_metadata_routing=routing)  # skada switches routing on at import
    X, y, domain = multi_domain()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = skada.make_da_pipeline(OTDomainAdapter(), LogisticRegression().set_score_request(sample_weight=True))
        search = GridSearchCV(pipe, {"otdomainadapter__reg": [0.1, 1.0]}, scoring=PredictionEntropyScorer(),
                              cv=splitter, error_score="raise").fit(X, y, sample_domain=domain)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
