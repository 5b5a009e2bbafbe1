"""scikit-learn estimators: validation and fitted attributes over the solvers."""

from ._sinkhorn import SinkhornTransport

__all__ = ["SinkhornTransport"]
