"""scikit-learn estimators: validation and fitted attributes over the solvers."""

from ._adapter import OTDomainAdapter
from ._barycenter import WassersteinBarycenter
from ._gaussian import GaussianBuresMap
from ._jdot import JDOTClassifier
from ._semidiscrete import SemiDiscreteMap
from ._sinkhorn import SinkhornTransport

__all__ = ["OTDomainAdapter", "GaussianBuresMap", "JDOTClassifier", "SemiDiscreteMap", "SinkhornTransport", "WassersteinBarycenter"]
