"""Repeated fits of one scikit-learn estimator on data that changes a little each time."""

import numpy as np
from sklearn.base import clone


class WarmRefits:
    """Fits of a clone of ``estimator``, each started from the last one's solution.

    ``warm_start`` is switched on after the first fit where the estimator has the parameter.
    A fit whose classes differ from the last fit's starts from a fresh clone: the last
    coefficients have another shape (scikit-learn refuses them).
    """

    def __init__(self, estimator):
        self._template = estimator
        self.fitted = None

    def fit(self, X, y, **fit_params):
        """The estimator fitted on ``X``, ``y``; returns it."""
        if self.fitted is None or (hasattr(self.fitted, "classes_")
                                   and not np.array_equal(self.fitted.classes_, np.unique(y))):
            self.fitted = clone(self._template)
        self.fitted.fit(X, y, **fit_params)
        if "warm_start" in self.fitted.get_params():
            self.fitted.set_params(warm_start=True)
        return self.fitted
