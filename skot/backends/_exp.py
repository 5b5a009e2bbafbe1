"""Vectorisable exponentials of non-positive numbers, and logarithms, for the compiled kernels.

numba has no vector ``exp`` or ``log`` without Intel's SVML, so the kernels use a table of
exp(-k / 64) and a degree-6 Taylor polynomial on the remainder, and for logarithms the
exponent and mantissa bits and a series, which LLVM vectorises (divisions only with
``error_model="numpy"``: Python's zero-division check keeps a loop scalar).
"""

import numpy as np
from numba import njit

FASTMATH = {"reassoc", "contract", "nsz"}
# Log-sum-exp terms below exp(-CUTOFF) (1e-22 of the largest) are left out: below double
# precision for any m < 1e6.
CUTOFF = 60.0
# exp(-k / EXP_STEPS) for k = 0 .. CUTOFF * EXP_STEPS (+1 for rounding at the end).
EXP_STEPS = 64
EXP_TABLE = np.exp(-np.arange(int(CUTOFF) * EXP_STEPS + 2) / EXP_STEPS)
EXP_LAST = EXP_TABLE.shape[0] - 1
# Stored kernels keep entries down to FLOOR; exp(-k) for whole k down to it.
FLOOR = 1e-150
LOG_FLOOR = float(np.log(FLOOR))
WHOLE_TABLE = np.exp(-np.arange(int(-LOG_FLOOR) + 2, dtype=np.float64))
FLOORED_LAST = (WHOLE_TABLE.shape[0] - 1) * EXP_STEPS + EXP_STEPS - 1


@njit(inline="always", fastmath=FASTMATH)
def _exp_fraction(r):
    """exp(r) for r in (-1/64, 0]: degree-6 Taylor polynomial (truncation 2e-17)."""
    p = 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    return p * r + 1.0


@njit(inline="always", fastmath=FASTMATH)
def _exp_nonpositive(t):
    """exp(t) for t in [-CUTOFF, 0], vectorisable, to 1 ulp.

    exp(t) = exp(-k / 64) exp(r) with k = floor(-64 t) from a table (30 kB, in L1)
    and r in (-1/64, 0]. The index is clamped to the table whatever ``t`` (rounding,
    infinities, NaN): never a read outside it.
    """
    s = -t * EXP_STEPS
    k = min(max(np.int64(s), 0), EXP_LAST)
    return EXP_TABLE[k] * _exp_fraction((k - s) * (1.0 / EXP_STEPS))


@njit(inline="always", fastmath=FASTMATH)
def _exp_floored(t):
    """exp(t) for t <= 0, and 0 where it is below FLOOR; to 2 ulp.

    exp(t) = exp(-q) exp(-l / 64) exp(r) with k = floor(-64 t) = 64 q + l: two small tables.
    """
    s = -t * EXP_STEPS
    k = min(max(np.int64(s), 0), FLOORED_LAST)
    value = WHOLE_TABLE[k >> 6] * EXP_TABLE[k & (EXP_STEPS - 1)] * _exp_fraction((k - s) * (1.0 / EXP_STEPS))
    return value if t >= LOG_FLOOR else 0.0


MANTISSA_BITS = (1 << 52) - 1
ONE_BITS = 1023 << 52
# 2^52 as a double: an integer below 2^52 or-ed into its mantissa reads as 2^52 + that integer.
TWO_52_BITS = 0x4330000000000000
EXPONENT_SHIFT = 2.0**52 + 1023.0
SQRT2 = float(np.sqrt(2.0))
LN2 = float(np.log(2.0))


@njit(fastmath=FASTMATH, nogil=True, cache=True)
def split_floats(values, fractions, exponents):
    """For zero or normal positive ``values``: ``fractions`` (int64 buffers, read as float64) get
    their mantissas in [1, 2), ``exponents`` their biased exponents as 2^52 + e + 1023."""
    bits = values.view(np.int64)
    for j in range(values.shape[0]):
        exponents[j] = (bits[j] >> 52) | TWO_52_BITS
        fractions[j] = (bits[j] & MANTISSA_BITS) | ONE_BITS


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _log_from_parts(fraction, exponent):
    """log(2^(exponent - 2^52 - 1023) fraction), fraction in [1, 2), to 2 ulp: with f in
    [sqrt(1/2), sqrt(2)), log f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.172, and eleven
    terms of the series leave 1e-18."""
    large = fraction >= SQRT2
    f = 0.5 * fraction if large else fraction
    e = exponent - EXPONENT_SHIFT + (1.0 if large else 0.0)
    s = (f - 1.0) / (f + 1.0)
    s2 = s * s
    # Written out: a loop here doubles the compile time of every kernel that inlines this.
    series = 1.0 / 21.0
    series = series * s2 + 1.0 / 19.0
    series = series * s2 + 1.0 / 17.0
    series = series * s2 + 1.0 / 15.0
    series = series * s2 + 1.0 / 13.0
    series = series * s2 + 1.0 / 11.0
    series = series * s2 + 1.0 / 9.0
    series = series * s2 + 1.0 / 7.0
    series = series * s2 + 1.0 / 5.0
    series = series * s2 + 1.0 / 3.0
    series = series * s2 + 1.0
    return e * LN2 + 2.0 * s * series
