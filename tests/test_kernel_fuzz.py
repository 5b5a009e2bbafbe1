"""Memory safety of the compiled kernels, by fuzzing (see tests/fuzz_kernels.py)."""

import signal

from .conftest import FUZZ_CASES


def test_kernel_fuzz(request):
    """Every compiled kernel on FUZZ_CASES random problems (magnitudes 1e-300 to 1e300, eps
    1e-30 to 1e30, zero weights, duplicates, float32), compiled with bounds checks: no index
    outside an array, no dead process; and the one-pass soft-min that once crashed."""
    process = request.config.kernel_fuzz
    output, _ = process.communicate(timeout=600)
    if process.returncode < 0:
        raise AssertionError(f"the fuzz process died of {signal.Signals(-process.returncode).name}:\n{output}")
    assert process.returncode == 0, output
    assert f"{FUZZ_CASES} cases" in output, output
