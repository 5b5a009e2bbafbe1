import os

# scikit-learn's array-API checks need this before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# No GPU here: the CUDA kernels run on numba's simulator (read when numba.cuda is imported).
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _gpu_available():
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    """scikit-learn's array-API checks enumerate torch's CUDA and MPS devices whenever torch
    is installed; without such a device they can only fail (skip only what needs one)."""
    skip = pytest.mark.skip(reason="needs a GPU device (torch cuda / mps), absent here")
    for item in items:
        needs_device = any(name in item.name for name in ("device_name=cuda", "device_name=mps", "device='cuda'", "device='mps'"))
        if needs_device and not _gpu_available():
            item.add_marker(skip)
