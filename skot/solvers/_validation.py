"""Argument constraints shared by the public solvers (checked by scikit-learn's
``validate_params``: a bad value is an ``InvalidParameterError``, a ValueError naming it)."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, validate_params

POSITIVE = [Interval(Real, 0, None, closed="neither")]
NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]
COUNT = [Interval(Integral, 1, None, closed="left")]
COUNT_OR_NONE = [Interval(Integral, 1, None, closed="left"), None]
NON_NEGATIVE_COUNT = [Interval(Integral, 0, None, closed="left")]
VERBOSE = ["verbose"]


def checked(**constraints):
    """Decorate a public solver: its named arguments checked against ``constraints``."""
    return validate_params(constraints, prefer_skip_nested_validation=True)
