"""Numba compilation options, set in one place for every kernel in jewelhead.

Kernels import ``JIT`` (serial) or ``JIT_PARALLEL`` (``prange`` over independent
neurons, nodes or trials, or over blocks of neurons whose threads stay in one region and
meet at barriers, see ``substrates._threads``) and never hard-code options per decorator.
``fastmath`` stays off: bit-for-bit agreement with reference simulators (Brian2 in
C++ standalone mode compiled without ``-ffast-math``) depends on IEEE ordering.

``JIT_INLINE`` is ``JIT`` for a helper that a step loop calls once per step and block
with dozens of arrays: LLVM then always inlines it into its caller (Numba's
``forceinline``, the ``alwaysinline`` attribute), so the call does not pass every array
as its whole struct (pointer, shape, strides, ...) each time. Give it only to helpers
called from one place in each caller: every call site gets its own copy of the code.
"""

JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
JIT_PARALLEL = dict(JIT, parallel=True)
JIT_INLINE = dict(JIT, forceinline=True)
