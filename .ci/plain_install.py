"""After ``pip install .`` with no extra: import skot and fit each of its five estimators.

Run from outside the repository, so that the installed package (not the source tree) is
imported. Every module that ``import skot`` does not load is imported too (the optional
backends import CuPy and dask only when they are used).
"""

import importlib
import pkgutil
import time

start = time.perf_counter()
import numpy as np  # noqa: E402

import skot  # noqa: E402
from skot import (  # noqa: E402
    GaussianBuresMap,
    OTDomainAdapter,
    SemiDiscreteMap,
    SinkhornTransport,
    WassersteinBarycenter,
    pack,
)

print(f"import skot: {time.perf_counter() - start:.2f} s")
for module in pkgutil.walk_packages(skot.__path__, "skot."):
    importlib.import_module(module.name)

rng = np.random.default_rng(0)
X_source, X_target = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) * [2.0, 0.5] + 3.0
X, y, sample_domain = pack(X_source, X_target, (X_source[:, 0] > 0).astype(int))
estimators = {
    "SinkhornTransport": (SinkhornTransport(), {"sample_domain": sample_domain}),
    "GaussianBuresMap": (GaussianBuresMap(), {"sample_domain": sample_domain}),
    "SemiDiscreteMap": (SemiDiscreteMap(target=8), {}),
    "WassersteinBarycenter": (WassersteinBarycenter(), {"sample_domain": sample_domain}),
    "OTDomainAdapter": (OTDomainAdapter(), {"sample_domain": sample_domain}),
}
for name, (estimator, routed) in estimators.items():
    start = time.perf_counter()
    data = X_source if not routed else X
    mapped = estimator.fit(data, y if routed else None, **routed).transform(data, **routed)
    assert np.isfinite(mapped).all() and mapped.shape == data.shape, name
    print(f"{name}: fit + transform {time.perf_counter() - start:.2f} s")
print("plain install: every module imported, five estimators fitted")
