"""Argument constraints shared by the public solvers, in scikit-learn's constraint language
(a bad value is scikit-learn's ``InvalidParameterError``, a ValueError naming it)."""

import functools
import inspect
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, make_constraint, validate_parameter_constraints

POSITIVE = [Interval(Real, 0, None, closed="neither")]
NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]
COUNT = [Interval(Integral, 1, None, closed="left")]
COUNT_OR_NONE = [Interval(Integral, 1, None, closed="left"), None]
NON_NEGATIVE_COUNT = [Interval(Integral, 0, None, closed="left")]
VERBOSE = ["verbose"]


def checked(**constraints):
    """Decorate a public solver: its named arguments checked against ``constraints``.

    scikit-learn's ``validate_params`` would do it, but it rebuilds the signature and the
    constraints on every call (about 100 us): too much for solvers that small fits call
    several times. Here both are built once; a failing value gets scikit-learn's message.
    """
    compiled = {name: [make_constraint(option) for option in options] for name, options in constraints.items()}

    def decorate(function):
        names = list(inspect.signature(function).parameters)
        positions = {name: names.index(name) for name in compiled}

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for name, options in compiled.items():
                if name in kwargs:
                    value = kwargs[name]
                elif positions[name] < len(args):
                    value = args[positions[name]]
                else:
                    continue  # the default
                if not any(option.is_satisfied_by(value) for option in options):
                    validate_parameter_constraints({name: constraints[name]}, {name: value},
                                                   caller_name=function.__qualname__)
            return function(*args, **kwargs)

        return wrapper

    return decorate
