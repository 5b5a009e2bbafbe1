"""scikit-learn's own estimator checks (with one expected failure) and its set_output checks."""

import pytest
import sklearn
from sklearn.base import is_classifier
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_global_set_output_transform_polars,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    parametrize_with_checks,
)

import skot
from sklearn.linear_model import LogisticRegression, Ridge

from skot import (
    GaussianBuresMap,
    JDOTClassifier,
    JDOTRegressor,
    OTDomainAdapter,
    OTDomainAdapterCV,
    OTLabelPropagation,
    SemiDiscreteMap,
    SinkhornTransport,
    SourceOnlyEstimator,
    WassersteinBarycenter,
)

ESTIMATORS = [SinkhornTransport(), GaussianBuresMap(), WassersteinBarycenter(),
              WassersteinBarycenter(method="gaussian"), SemiDiscreteMap(), SemiDiscreteMap(solver="sgd"),
              OTDomainAdapter(), OTDomainAdapter("exact"), OTDomainAdapterCV(),
              OTDomainAdapterCV(regs=3, cv=3, estimator=LogisticRegression()),
              SourceOnlyEstimator(LogisticRegression()), SourceOnlyEstimator(Ridge()), JDOTClassifier(), JDOTRegressor(),
              OTLabelPropagation()]


# docs/conventions.rst: with routing off, the label -1 marks target rows (scikit-learn's
# semi-supervised convention, exempted in this check for SelfTrainingClassifier by name).
# check_classifiers_classes trains on the labels {-1, 1}: the -1 rows are target rows,
# and the final estimator of a DA pipeline never sees them. The one expected failure.
MASKED_LABEL_CHECKS = {
    "check_classifiers_classes": "the label -1 marks target (unlabelled) rows (docs/conventions.rst)",
}


def expected_failures(estimator):
    if isinstance(estimator, (JDOTClassifier, OTLabelPropagation)):
        return MASKED_LABEL_CHECKS
    return MASKED_LABEL_CHECKS if isinstance(estimator, SourceOnlyEstimator) and is_classifier(estimator.estimator) else {}


pytestmark = pytest.mark.filterwarnings("ignore:OTDomainAdapter was fitted on data with no target rows")


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_import_leaves_global_config_alone():
    assert skot.__version__
    assert sklearn.get_config()["enable_metadata_routing"] is False


# map_reg=0.2: with the default 0.05 the barycenter's map potentials take their 5000
# iterations on the checks' 20 uniform points (to 6e-10 against tol 1e-10), 6 s a check.
TRANSFORMERS = [SinkhornTransport(), GaussianBuresMap(), SemiDiscreteMap(), WassersteinBarycenter(map_reg=0.2),
                WassersteinBarycenter(method="gaussian"), OTDomainAdapter(), OTDomainAdapter("exact"),
                OTDomainAdapterCV()]
SET_OUTPUT_CHECKS = [check_set_output_transform, check_set_output_transform_pandas,
                     check_global_output_transform_pandas, check_set_output_transform_polars,
                     check_global_set_output_transform_polars]


@pytest.mark.parametrize("check", SET_OUTPUT_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=repr)
def test_set_output_gives_dataframes(transformer, check):
    """scikit-learn's set_output checks (run apart from parametrize_with_checks)."""
    check(type(transformer).__name__, transformer)
