"""A counter-based random stream for Numba kernels: SplitMix64 (Steele, Lea and Flood 2014).

``uniform01(key, counter)`` is a pure function of a 64-bit stream key and a position, so a
kernel can draw the n-th number of a stream without carrying generator state, and a run
split into chunks draws exactly the numbers of one long run. The background drive of the
spiking network and the read noise of the crossbar use it.
"""

import numpy as np
from numba import njit

from substrates._numba import JIT

__all__ = ["uniform01"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(**JIT)
def uniform01(key, counter):
    """A uniform double in [0, 1) from SplitMix64 at position ``counter`` of stream ``key``.

    Parameters
    ----------
    key : uint64
    counter : integer (converted to uint64)

    Returns
    -------
    float64 in [0, 1), with 53 random bits.
    """
    z = key + (np.uint64(counter) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TWO_M53
