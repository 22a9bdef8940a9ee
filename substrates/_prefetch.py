"""A software prefetch for Numba kernels: ``prefetch(array, index)``.

Event-driven spike delivery reads a few scattered records per spike (the delay group's
synapse range, weight and sign, then its first targets). Each is a cache miss, and
inside a long delivery loop the processor cannot run ahead to the next group's misses,
so they are paid one after another. Asking for all of a step's records first lets the
misses overlap. The same holds within a group: its targets span several cache lines,
and asking for every line at once (``prefetch_range``) rather than the first alone made
the 32,000-neuron CUBA step ~18 % faster on one thread (benchmarks/spiking_ab.py). ``prefetch`` is LLVM's ``llvm.prefetch`` intrinsic (a read, kept in every
cache level): a hint only, it never faults and changes no result. An index out of
range is not checked (the hint is then simply wasted), so callers pass valid indices.
"""

from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from substrates._aligned import ALIGNMENT
from substrates._numba import JIT_INLINE

__all__ = ["element_pointer", "prefetch", "prefetch_range"]


def element_pointer(context, builder, array_type, index_type, array, index):
    """LLVM pointer to ``array[index]`` of a 1-d Numba array (no bounds check); shared
    by the intrinsics here and in :mod:`substrates._threads`."""
    ary = context.make_array(array_type)(context, builder, array)
    position = context.cast(builder, index, index_type, types.intp)
    return builder.gep(ary.data, [position])


@intrinsic
def prefetch(typingctx, array, index):
    """Hint that ``array[index]`` (a 1-d array, an integer index) will be read soon."""
    if not (isinstance(array, types.Array) and array.ndim == 1
            and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, *signature.args, *args)
        i8_ptr = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [i8_ptr.type, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch")
        # read (0), high temporal locality (3), data cache (1)
        builder.call(function, [i8_ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(**JIT_INLINE)
def prefetch_range(array, start, stop):
    """Hint that ``array[start:stop]`` (a 1-d array) will be read soon: one
    :func:`prefetch` per cache line it spans, nothing for an empty range.

    The hinted indices are ``ALIGNMENT`` bytes apart from ``start``, then ``stop - 1``,
    so every line from ``array[start]``'s to ``array[stop - 1]``'s gets one, however the
    range sits on the lines. Indices must lie in ``[0, len(array)]`` as for slicing.
    """
    if stop > start:
        for k in range(start, stop, max(1, ALIGNMENT // array.itemsize)):
            prefetch(array, k)
        prefetch(array, stop - 1)
