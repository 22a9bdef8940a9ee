"""Arrays whose data starts on a cache-line boundary, for the kernels' streaming loops.

NumPy only promises 16-byte alignment. A vectorised loop over float32 arrays reads 32
bytes at a time (AVX); where an array starts 16 bytes into a 64-byte cache line, every
other read straddles two lines, which slows the spiking kernel's integration loop (the
state arrays it streams through are allocated here; tests/substrates/test_aligned.py
checks the alignment, benchmarks/spiking_vs_brian2.py the speed).
"""

import numpy as np

__all__ = ["ALIGNMENT", "aligned_empty", "aligned_full", "aligned_copy", "aligned_rows"]

ALIGNMENT = 64  # bytes: a cache line


def aligned_empty(n, dtype):
    """An uninitialised 1-d array of ``n`` elements of ``dtype`` whose data starts on a
    ``ALIGNMENT``-byte boundary (a view into a slightly larger byte buffer; an empty
    array has no data to align)."""
    dtype = np.dtype(dtype)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    buffer = np.empty(n * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + n * dtype.itemsize].view(dtype)


def aligned_full(n, value, dtype):
    """:func:`aligned_empty` filled with ``value``."""
    out = aligned_empty(n, dtype)
    out.fill(value)
    return out


def aligned_copy(values, dtype):
    """A 1-d aligned copy of ``values`` converted to ``dtype``."""
    values = np.asarray(values)
    out = aligned_empty(values.size, dtype)
    out[:] = values.reshape(-1)
    return out


def aligned_rows(n_rows, length, value, dtype):
    """A 2-d array of ``n_rows`` rows of at least ``length`` elements, filled with
    ``value``, every row starting on a cache line: rows are rounded up to whole lines
    (so no two rows share one, which threads writing their own row rely on). Shape
    ``(n_rows, width)``, ``width >= length`` a multiple of ``ALIGNMENT // itemsize``."""
    dtype = np.dtype(dtype)
    if n_rows < 0 or length < 0:
        raise ValueError(f"n_rows and length must be >= 0, got {n_rows} and {length}")
    per_line = ALIGNMENT // dtype.itemsize
    width = -(-length // per_line) * per_line
    return aligned_full(n_rows * width, value, dtype).reshape(n_rows, width)
