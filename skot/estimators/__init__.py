"""scikit-learn estimators: validation and fitted attributes over the solvers."""

from ._adapter import OTDomainAdapter
from ._adapter_cv import OTDomainAdapterCV
from ._barycenter import WassersteinBarycenter
from ._gaussian import GaussianBuresMap
from ._jdot import JDOTClassifier, JDOTRegressor
from ._label_propagation import OTLabelPropagation
from ._semidiscrete import SemiDiscreteMap
from ._sinkhorn import SinkhornTransport

__all__ = ["OTDomainAdapter", "OTDomainAdapterCV", "GaussianBuresMap", "JDOTClassifier", "JDOTRegressor", "OTLabelPropagation", "SemiDiscreteMap", "SinkhornTransport", "WassersteinBarycenter"]
