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
