"""skot: optimal transport as scikit-learn estimators."""

from ._domain import pack
from .estimators import GaussianBuresMap, SemiDiscreteMap, SinkhornTransport, WassersteinBarycenter

__version__ = "0.1.0"

__all__ = ["GaussianBuresMap", "SemiDiscreteMap", "SinkhornTransport", "WassersteinBarycenter", "pack", "__version__"]
