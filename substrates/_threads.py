"""Threads that stay in one parallel region: atomics and a spinning barrier for Numba.

A simulation step of a large network takes microseconds, and opening a parallel region
(Numba's ``prange``) costs a few of them, every step. Instead the threads enter one
region for a whole run, each owning a block of neurons, and meet at a barrier where the
step needs everyone's results. The barrier is a counter and a generation number in an
int64 array (``sync``: zeros, at least ``SYNC_SIZE`` long), updated with LLVM atomics; a
waiting thread spins briefly, with the processor's spin-wait hint (x86 PAUSE), then
yields its core to the operating system (so an oversubscribed machine slows down instead
of stalling).

A barrier deadlocks if the region's iterations do not all run at once (a threading
layer may run them one after another, e.g. inside another parallel region), so the
threads first agree whether they are all there: :func:`join` gives every thread the
same answer, and a region whose threads are not all there must return without work.
"""

import platform
import sys

from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from substrates._numba import JIT_LEAF
from substrates._prefetch import element_pointer

__all__ = ["ARRIVED", "GENERATION", "JOINED", "STATE", "SYNC_SIZE", "atomic_add",
           "atomic_compare_exchange", "atomic_load", "atomic_store", "barrier", "join",
           "spin_hint", "yield_thread"]

# positions in ``sync``, each on its own 64-byte cache line
ARRIVED = 0  # threads at the barrier now
GENERATION = 8  # barriers passed
JOINED = 16  # threads that entered the region
STATE = 24  # 0 while joining, 1 all there (go), 2 not all there (return)
SYNC_SIZE = 32  # entries these use; a region may keep its own values after them
SPINS_BEFORE_YIELD = 2_000
JOIN_SPIN_LIMIT = 2_000_000  # about 0.1-1 s of yielding before giving up on a partner


def _operands(array, index, *values):
    """The typing check every atomic shares: a 1-d int64 array, integer index and values."""
    return (isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int64
            and all(isinstance(x, types.Integer) for x in (index, *values)))


def _as_int64(context, builder, signature, args, position):
    return context.cast(builder, args[position], signature.args[position], types.int64)


@intrinsic
def atomic_add(typingctx, array, index, value):
    """``array[index] += value`` atomically (acquire-release); returns the old value."""
    if not _operands(array, index, value):
        return None

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, *signature.args[:2], *args[:2])
        amount = _as_int64(context, builder, signature, args, 2)
        return builder.atomic_rmw("add", pointer, amount, "acq_rel")

    return types.int64(array, index, value), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """``array[index]`` read atomically with acquire ordering."""
    if not _operands(array, index):
        return None

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, *signature.args[:2], *args[:2])
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def atomic_store(typingctx, array, index, value):
    """``array[index] = value`` atomically with release ordering."""
    if not _operands(array, index, value):
        return None

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, *signature.args[:2], *args[:2])
        builder.store_atomic(_as_int64(context, builder, signature, args, 2), pointer,
                             "release", 8)
        return context.get_dummy_value()

    return types.void(array, index, value), codegen


@intrinsic
def atomic_compare_exchange(typingctx, array, index, expected, new):
    """If ``array[index] == expected`` set it to ``new``, atomically; returns the old value."""
    if not _operands(array, index, expected, new):
        return None

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, *signature.args[:2], *args[:2])
        outcome = builder.cmpxchg(pointer, _as_int64(context, builder, signature, args, 2),
                                  _as_int64(context, builder, signature, args, 3),
                                  "acq_rel", "acquire")
        return builder.extract_value(outcome, 0)

    return types.int64(array, index, expected, new), codegen


def _call_external(builder, name, return_type):
    """Call the argument-less function (C or LLVM intrinsic) ``name`` from the code
    being built."""
    function_type = ir.FunctionType(return_type, [])
    builder.call(cgutils.get_or_insert_function(builder.module, function_type, name), [])


_YIELD = "SwitchToThread" if sys.platform == "win32" else "sched_yield"


@intrinsic
def yield_thread(typingctx):
    """Give the core to another thread (sched_yield; SwitchToThread on Windows)."""

    def codegen(context, builder, signature, args):
        _call_external(builder, _YIELD, ir.IntType(32))
        return context.get_dummy_value()

    return types.void(), codegen


# the processor's spin-wait hint: x86's PAUSE, which lets a hyperthread sibling have the
# core's issue slots and spares the pipeline flush when the loop ends. Other processors
# (ARM's YIELD is the like) get none: no machine here to check their code on.
_SPIN_HINT = "llvm.x86.sse2.pause" if platform.machine().lower() in ("x86_64", "amd64") else ""


@intrinsic
def spin_hint(typingctx):
    """Tell the processor this thread is spinning in a wait loop (x86 PAUSE; a no-op
    on other processors)."""

    def codegen(context, builder, signature, args):
        if _SPIN_HINT:
            _call_external(builder, _SPIN_HINT, ir.VoidType())
        return context.get_dummy_value()

    return types.void(), codegen


@njit(**JIT_LEAF)
def _wait_while(sync, index, value):
    """Spin until ``sync[index] != value``, yielding the core after a while."""
    spins = 0
    while atomic_load(sync, index) == value:
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            yield_thread()
        else:
            spin_hint()


@njit(**JIT_LEAF)
def join(sync, n_threads):
    """Called once by each of ``n_threads`` iterations entering a region: True for all of
    them if all are running at once, False for all of them otherwise."""
    if atomic_add(sync, JOINED, 1) == n_threads - 1:
        atomic_compare_exchange(sync, STATE, 0, 1)
    else:
        spins = 0
        while atomic_load(sync, STATE) == 0:
            spins += 1
            if spins > JOIN_SPIN_LIMIT:
                atomic_compare_exchange(sync, STATE, 0, 2)
            elif spins > SPINS_BEFORE_YIELD:
                yield_thread()
            else:
                spin_hint()
    return atomic_load(sync, STATE) == 1


@njit(**JIT_LEAF)
def barrier(sync, n_threads, generation):
    """Wait until all ``n_threads`` threads arrive; returns the next generation.

    Every thread passes its own count of barriers passed (0 at first). Writes made
    before the barrier are visible to every thread after it.
    """
    if atomic_add(sync, ARRIVED, 1) == n_threads - 1:
        atomic_store(sync, ARRIVED, 0)
        atomic_store(sync, GENERATION, generation + 1)
    else:
        _wait_while(sync, GENERATION, generation)
    return generation + 1
