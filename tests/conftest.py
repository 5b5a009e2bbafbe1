import os
import subprocess
import sys
import tempfile

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


# Cases of the kernel fuzz (tests/fuzz_kernels.py), a quarter per kernel family.
FUZZ_CASES = 12_000


def _start_kernel_fuzz(config):
    """Start the kernel fuzz in a subprocess, beside the rest of the suite.

    Its kernels are compiled with bounds checks (a separate cache: those builds are
    slower), so the compilation, most of its time, overlaps the other tests on a second
    core; ``test_kernel_fuzz`` waits for it.
    """
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               NUMBA_CACHE_DIR=os.path.join(tempfile.gettempdir(), "skot-boundscheck-cache"))
    config.kernel_fuzz = subprocess.Popen(
        [sys.executable, "-m", "tests.fuzz_kernels", "0", str(FUZZ_CASES)], env=env,
        cwd=os.path.dirname(os.path.dirname(__file__)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def pytest_collection_modifyitems(config, items):
    """scikit-learn's array-API checks enumerate torch's CUDA and MPS devices whenever torch
    is installed; without such a device they can only fail (skip only what needs one). The
    kernel fuzz starts here when its test was collected."""
    if any(item.name == "test_kernel_fuzz" for item in items):
        _start_kernel_fuzz(config)
    skip = pytest.mark.skip(reason="needs a GPU device (torch cuda / mps), absent here")
    for item in items:
        needs_device = any(name in item.name for name in ("device_name=cuda", "device_name=mps", "device='cuda'", "device='mps'"))
        if needs_device and not _gpu_available():
            item.add_marker(skip)
