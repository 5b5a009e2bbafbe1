"""skot: optimal transport as scikit-learn estimators."""

from ._domain import pack
from .backends import thread_limit
from .pipeline import SourceOnlyEstimator, make_da_pipeline
from .estimators import (GaussianBuresMap, JDOTClassifier, JDOTRegressor, OTDomainAdapter, OTDomainAdapterCV,
                         OTLabelPropagation, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter)

__version__ = "0.1.0"

__all__ = ["GaussianBuresMap", "JDOTClassifier", "JDOTRegressor", "OTDomainAdapter", "OTDomainAdapterCV", "OTLabelPropagation", "SemiDiscreteMap", "SinkhornTransport", "WassersteinBarycenter", "SourceOnlyEstimator", "make_da_pipeline", "pack", "thread_limit", "__version__"]
