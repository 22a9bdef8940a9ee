"""Numba compilation options, set in one place for every kernel in jewelhead.

Kernels import ``JIT`` (serial) or ``JIT_PARALLEL`` (``prange`` over independent
neurons, nodes or trials, or over blocks of neurons whose threads stay in one region and
meet at barriers, see ``substrates._threads``) and never hard-code options per decorator.
``fastmath`` stays off: bit-for-bit agreement with reference simulators (Brian2 in
C++ standalone mode compiled without ``-ffast-math``) depends on IEEE ordering.
"""

JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
JIT_PARALLEL = dict(JIT, parallel=True)
