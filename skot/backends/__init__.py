"""Array backends: geometries that reduce an implicit cost matrix.

``"numpy"`` is the dense reference; ``"numba"`` computes costs on the fly with
compiled kernels, run on several threads when the work pays (O(n + m) memory), and is the
default on CPU.
"""

import numpy as np

from ._array_api import logsumexp
from ._arrays import (FLOAT_DTYPES, array_namespace_of, as_dtype, as_float64, assemble_rows, copy_rows, device,
                      float_dtypes, is_cupy_namespace, is_dask_array, like, namespace, take_rows, to_numpy)
from ._base import Geometry
from ._costs import METRICS, Metric, box_diameter2, check_representable, metric_of, pairwise_cost
from ._kernel import CostMatrixGeometry
from ._numba import KERNEL_MEMORY, OnlineGeometry
from ._numpy import DenseGeometry
from ._simplex import SimplexSolution, transport_simplex
from ._threads import max_threads, one_blas_thread, thread_limit

BACKENDS = ("auto", "numpy", "numba", "cupy")

__all__ = ["BACKENDS", "FLOAT_DTYPES", "KERNEL_MEMORY", "METRICS", "Metric", "Geometry", "CostMatrixGeometry", "DenseGeometry", "OnlineGeometry",
           "array_namespace_of", "as_dtype", "as_float64", "assemble_rows", "box_diameter2", "check_representable",
           "copy_rows", "device", "float_dtypes", "get_geometry", "is_cupy_namespace",
           "is_dask_array", "like", "logsumexp", "metric_of", "namespace", "max_threads", "one_blas_thread", "thread_limit",
           "take_rows", "to_numpy", "pairwise_cost", "resolve_backend", "SimplexSolution", "transport_simplex"]


def resolve_backend(backend, metric="sqeuclidean", X=None, *, cuda_kernels=False):
    """Name of the backend that runs the requested ``backend`` on rows like ``X`` under ``metric``.

    NumPy rows (or ``X`` None): ``"auto"`` is ``"numba"``, or ``"numpy"`` for a callable metric.
    Dask arrays: ``"dask"`` (row blocks through numba's kernels) for ``"auto"`` and ``"numba"``.
    Other namespaces (scikit-learn's ``array_api_dispatch`` on): ``"cupy"`` (the fused CUDA
    kernels) for CuPy arrays when the caller runs them (``cuda_kernels``) and asks ``"auto"`` or
    ``"cupy"``, else ``"array_api"`` (the dense geometry of the namespace), for ``"auto"`` and
    ``"numpy"``. Any other request is refused with a ValueError saying what to use.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {BACKENDS}.")
    if X is not None and is_dask_array(X):
        if backend not in ("auto", "numba"):
            raise ValueError(f"backend={backend!r} does not take dask arrays (their row blocks run numba's "
                             "kernels); use backend='auto' or 'numba', or compute the array first.")
        return "dask"
    xp = None if X is None else array_namespace_of(X)
    if xp is not None and xp is not np:
        if is_cupy_namespace(xp) and backend in ("auto", "cupy"):
            return "cupy" if cuda_kernels else "array_api"
        if backend not in ("auto", "numpy"):
            raise ValueError(f"backend={backend!r} does not take {xp.__name__} arrays; use backend='auto'.")
        return "array_api"
    if backend == "cupy":
        try:
            import cupy  # noqa: F401
        except ImportError:
            raise ValueError(
                "backend='cupy' requires CuPy, which is not installed; "
                "install skot[gpu] or use backend='numpy' or 'numba'."
            ) from None
        if X is not None:
            raise ValueError("backend='cupy' takes CuPy arrays, under "
                             "sklearn.config_context(array_api_dispatch=True).")
        return "cupy"
    if backend == "auto":
        return "numpy" if callable(metric) else "numba"
    return backend


def get_geometry(backend, x, y, metric, *, kernel_memory=KERNEL_MEMORY):
    """Geometry of ``x`` and ``y`` under ``metric`` for a resolved ``backend`` name.

    ``kernel_memory`` (MiB) bounds the kernel that numba's geometry may store (see
    :class:`OnlineGeometry`).

    A callable metric cannot run inside compiled kernels: it always gets the dense geometry.
    ``"array_api"`` (non-NumPy arrays under scikit-learn's array_api_dispatch) gets the dense
    geometry of the arrays' own namespace, ``"cupy"`` (CuPy arrays) the fused CUDA kernels.
    A dask array of rows gets the block geometry; in-memory arrays fitted with it, numba's.
    """
    if is_dask_array(x):
        if callable(metric):
            raise ValueError("Dask arrays need a named metric, not a callable.")
        from ._dask import BlockGeometry

        return BlockGeometry(x, y, metric)
    if backend == "cupy":
        from ._cuda import CudaGeometry

        return CudaGeometry(x, y, metric)
    if backend == "array_api":
        from ._array_api import ArrayAPIGeometry

        return ArrayAPIGeometry(x, y, metric)
    if backend in ("numba", "dask") and not callable(metric):
        return OnlineGeometry(x, y, metric, kernel_memory)
    return DenseGeometry(x, y, metric)
