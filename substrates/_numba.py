"""Numba compilation options, set in one place for every kernel in jewelhead.

Kernels import ``JIT`` (serial) or ``JIT_PARALLEL`` (``prange`` over independent
neurons, nodes or trials, or over blocks of neurons whose threads stay in one region and
meet at barriers, see ``substrates._threads``) and never hard-code options per decorator.
``fastmath`` stays off: bit-for-bit agreement with reference simulators (Brian2 in
C++ standalone mode compiled without ``-ffast-math``) depends on IEEE ordering.

``JIT_LEAF`` is ``JIT`` without Numba's reference counting (``_nrt=False``), for the
helpers a step loop calls every step, which only read and write the arrays they are
given: they never allocate, return or keep an array (Numba refuses to compile one that
does, "NRT required but not enabled"). Otherwise every call increments and decrements
the reference count of each array argument and of each view it takes, with atomic
instructions that the compiler cannot remove across a loop; in the spiking kernel that
was ~16 % of a 4,000-neuron step on one thread. The caller keeps the arrays alive.

``JIT_INLINE`` is ``JIT_LEAF`` for a helper that a step loop calls once per step and
block with dozens of arrays: LLVM then always inlines it into its caller (Numba's
``forceinline``, the ``alwaysinline`` attribute), so the call does not pass every array
as its whole struct (pointer, shape, strides, ...) each time. Give it only to helpers
called from one place in each caller: every call site gets its own copy of the code.
"""

JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
JIT_PARALLEL = dict(JIT, parallel=True)
JIT_LEAF = dict(JIT, _nrt=False)
JIT_INLINE = dict(JIT_LEAF, forceinline=True)
