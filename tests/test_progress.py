"""verbose: progress lines through the "skot" logger, rate-limited, silent by default."""

import logging

import numpy as np
import pytest

from skot import GaussianBuresMap, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter, pack
from skot import _progress


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return pack(rng.normal(size=(60, 2)), rng.normal(size=(50, 2)) + 1.0)


ESTIMATORS = [SinkhornTransport(), GaussianBuresMap(), WassersteinBarycenter(), WassersteinBarycenter(method="gaussian"),
              SemiDiscreteMap(target=5, random_state=0)]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_silent_by_default_and_a_line_per_fit_when_verbose(estimator, data, caplog):
    X, _, domain = data
    with caplog.at_level(logging.INFO, logger="skot"):
        estimator.fit(X, sample_domain=domain)
    assert not caplog.records
    with caplog.at_level(logging.INFO, logger="skot"):
        estimator.set_params(verbose=1).fit(X, sample_domain=domain)
    assert caplog.records[-1].getMessage().startswith(f"{type(estimator).__name__}: fitted in")


@pytest.mark.parametrize("estimator", ESTIMATORS[:1] + ESTIMATORS[2:], ids=repr)
def test_iterating_solvers_report_iteration_error_and_tol(estimator, data, caplog, monkeypatch):
    monkeypatch.setattr(_progress, "REPORT_INTERVAL", 0.0)  # every call reports
    X, _, domain = data
    with caplog.at_level(logging.INFO, logger="skot"):
        estimator.set_params(verbose=1).fit(X, sample_domain=domain)
    lines = [record.getMessage() for record in caplog.records]
    assert any("iteration" in line and " s" in line for line in lines[:-1])
    assert any("(tol " in line for line in lines) or isinstance(estimator, SemiDiscreteMap)


def test_lines_are_rate_limited_over_the_runs_of_a_fit(data, caplog):
    X, _, domain = data
    with caplog.at_level(logging.INFO, logger="skot"):
        SemiDiscreteMap(target=5, random_state=0, verbose=1).fit(X)  # many short solver runs
    # One solver line at most in a fit shorter than the interval, then the fit's own line.
    assert len(caplog.records) <= 2


def test_a_level_set_by_the_application_is_respected(data, caplog):
    X, _, domain = data
    logger = logging.getLogger("skot")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with caplog.at_level(logging.INFO):  # the root's level: the "skot" logger's WARNING still filters
            SinkhornTransport(verbose=1).fit(X, sample_domain=domain)
        assert not [record for record in caplog.records if record.name == "skot"]
    finally:
        logger.setLevel(previous)


def test_verbose_two_draws_bars_of_known_stages(data, caplog, monkeypatch):
    monkeypatch.setattr(_progress, "REPORT_INTERVAL", 0.0)
    X, _, domain = data
    with caplog.at_level(logging.INFO, logger="skot"):
        WassersteinBarycenter(max_iter=20, verbose=2).fit(X, sample_domain=domain)
    assert any("[#" in record.getMessage() and "/20" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="skot"):
        WassersteinBarycenter(max_iter=20, verbose=1).fit(X, sample_domain=domain)
    assert not any("[#" in record.getMessage() for record in caplog.records)
