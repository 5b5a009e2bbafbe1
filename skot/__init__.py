"""skot: optimal transport as scikit-learn estimators."""

from ._domain import pack
from .estimators import GaussianBuresMap, SinkhornTransport, WassersteinBarycenter

__version__ = "0.1.0"

__all__ = ["GaussianBuresMap", "SinkhornTransport", "WassersteinBarycenter", "pack", "__version__"]
