"""BLAS thread limits around compiled kernels."""

from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller():
    # Scanning the loaded libraries is slow next to a small kernel call, so it runs once per
    # process (skot's imports have loaded NumPy's and SciPy's BLAS by the first call).
    return ThreadpoolController()


def one_blas_thread():
    """Context manager holding BLAS to one thread, whose spin-waits between calls would
    otherwise take cores from numba's threads."""
    return _controller().limit(limits=1, user_api="blas")
