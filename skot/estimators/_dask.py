"""Dask arrays in ``transform``: block by block on the workers, the model sent once."""

import functools
from contextlib import contextmanager

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..backends import is_dask_array, max_threads, thread_limit


def accepts_dask_arrays(transform):
    """Decorate ``transform(self, X, sample_domain=None)`` to map a dask array block by block.

    The result is a lazy dask array (``map_blocks``); the fitted estimator enters the graph
    once (one key, shipped to each worker once), not once per block. ``sample_domain`` may
    be a NumPy or dask array; it is aligned with the row blocks of ``X``. Without dask
    loaded, or for any other input, ``transform`` runs as it is.
    """

    @functools.wraps(transform)
    def wrapper(self, X, sample_domain=None):
        if not is_dask_array(X):
            return transform(self, X, sample_domain=sample_domain)
        return _blockwise(self, X, sample_domain)

    return wrapper


def _blockwise(estimator, X, sample_domain):
    import dask
    import dask.array as da

    check_is_fitted(estimator)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array, got {X.ndim} dimensions.")
    X = X.rechunk({1: -1})
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    model = dask.delayed(estimator, pure=True)
    meta = np.empty((0, X.shape[1]), dtype=dtype)
    if sample_domain is None:
        return X.map_blocks(_transform_block, model=model, dtype=dtype, meta=meta)
    if not isinstance(sample_domain, da.Array):
        sample_domain = da.from_array(np.asarray(sample_domain), chunks=(X.chunks[0],))
    if sample_domain.shape != (X.shape[0],):
        raise ValueError(f"sample_domain has shape {sample_domain.shape}; expected ({X.shape[0]},).")
    domains = sample_domain.rechunk((X.chunks[0],))[:, None]
    return da.map_blocks(_transform_block, X, domains, model=model, dtype=dtype, meta=meta)


def _transform_block(X, domains=None, *, model):
    with worker_thread_share():
        return model.transform(X, sample_domain=None if domains is None else domains[:, 0])


@contextmanager
def worker_thread_share():
    """Inside a dask worker, cap the kernels' threads to its cores per worker thread.

    A worker running ``k`` tasks at once would otherwise use ``k`` times the process's
    thread count (all its cores by default). Outside a worker: no change.
    """
    try:
        from distributed import get_worker

        worker_threads = get_worker().state.nthreads
    except (ImportError, ValueError):
        yield
        return
    with thread_limit(max(1, max_threads() // worker_threads)):
        yield
