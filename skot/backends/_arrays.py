"""Array handling: namespaces, devices, conversions and row selections.

Every layer takes these from here (through :mod:`skot.backends`), whatever the array type:
NumPy, dask (rows on the workers), or array-API arrays (CuPy, PyTorch,
``array_api_strict``) under scikit-learn's ``array_api_dispatch``. This module is skot's one
importer of ``array_api_compat``.
"""

import sys

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj, is_cupy_namespace, is_numpy_namespace
from sklearn import get_config
from sklearn.utils._array_api import _convert_to_numpy

__all__ = ["FLOAT_DTYPES", "array_namespace", "array_namespace_of", "as_dtype", "as_float64", "assemble_rows",
           "copy_rows", "device", "float_dtypes", "is_cupy_namespace", "is_dask_array", "like", "namespace",
           "take_rows", "to_numpy"]

FLOAT_DTYPES = (np.float64, np.float32)


def is_dask_array(array):
    """Whether ``array`` is a dask array (without importing dask when nothing loaded it)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(array, module.Array)


def namespace(*arrays):
    """NumPy itself for NumPy arrays, else the arrays' array-API namespace (CuPy, torch, ...)."""
    xp = array_namespace(*arrays)
    return np if is_numpy_namespace(xp) else xp


def array_namespace_of(X):
    """Namespace of ``X`` under scikit-learn's ``array_api_dispatch`` (NumPy when it is off).

    Non-NumPy arrays (CuPy, PyTorch, ``array_api_strict``) keep their namespace and
    device through fit and transform only with dispatch on, as in scikit-learn.
    """
    if isinstance(X, np.ndarray) or is_dask_array(X) or not get_config()["array_api_dispatch"]:
        return np
    return namespace(X)


def to_numpy(array):
    """A host NumPy copy of an array of any namespace and device (CuPy, torch, strict; a dask
    array is computed).

    NumPy arrays, None and objects that are no array-API arrays (lists, pandas objects:
    handled downstream) pass as they are.
    """
    if array is None or isinstance(array, np.ndarray) or not is_array_api_obj(array):
        return array
    return _convert_to_numpy(array, array_namespace(array))


def like(values, reference):
    """``values`` (NumPy or scalars) as a float64 array of ``reference``'s namespace and device."""
    xp = namespace(reference)
    if xp is np:
        return np.asarray(values, dtype=np.float64)
    return xp.asarray(values, dtype=xp.float64, device=device(reference))


def take_rows(X, mask):
    """Rows of ``X`` where the NumPy boolean ``mask`` holds, in X's namespace."""
    xp = array_namespace_of(X)
    if xp is np:
        return X[mask]
    return xp.take(X, xp.asarray(np.flatnonzero(mask), device=device(X)), axis=0)


def assemble_rows(X, parts):
    """The rows ``values`` of each ``(row_indices, values)`` in ``parts`` put back in row order.

    The parts partition the rows of ``X`` (whose namespace and device they share): the
    array API has no masked assignment, so the blocks are stacked, then permuted back.
    """
    xp = array_namespace_of(X)
    inverse = np.argsort(np.concatenate([rows for rows, _ in parts]), kind="stable")
    if xp is np:
        return np.concatenate([values for _, values in parts])[inverse]
    return xp.take(xp.concat([values for _, values in parts]), xp.asarray(inverse, device=device(X)), axis=0)


def copy_rows(X):
    """A copy of X in its own namespace (np.array also computes a dask array's rows)."""
    xp = array_namespace_of(X)
    return np.array(X) if xp is np else xp.asarray(X, copy=True)


def as_float64(X):
    """X as float64 in its namespace (no copy when it already is)."""
    xp = array_namespace_of(X)
    return np.asarray(X, dtype=np.float64) if xp is np else xp.astype(X, xp.float64, copy=False)


def as_dtype(X, dtype):
    """X cast to ``dtype`` in its namespace, without a copy when it already has it."""
    xp = array_namespace_of(X)
    return X.astype(dtype, copy=False) if xp is np else xp.astype(X, dtype, copy=False)


def float_dtypes(xp):
    """The floating dtypes kept by validation, in namespace ``xp``."""
    return FLOAT_DTYPES if xp is np else (xp.float64, xp.float32)
