"""scikit-learn's own estimator checks, with no expected failures."""

import sklearn
from sklearn.utils.estimator_checks import parametrize_with_checks

import skot
from skot import GaussianBuresMap, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter

ESTIMATORS = [SinkhornTransport(), GaussianBuresMap(), WassersteinBarycenter(),
              WassersteinBarycenter(method="gaussian"), SemiDiscreteMap()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_import_leaves_global_config_alone():
    assert skot.__version__
    assert sklearn.get_config()["enable_metadata_routing"] is False
