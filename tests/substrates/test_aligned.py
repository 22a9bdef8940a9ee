"""Cache-line-aligned arrays for the kernels' streaming loops (substrates._aligned)."""

import numpy as np
import pytest

from substrates._aligned import (
    ALIGNMENT,
    aligned_copy,
    aligned_empty,
    aligned_full,
    aligned_rows,
)
from substrates.spiking import _kernels as K
from tests.substrates.spiking_networks import cuba_network


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
@pytest.mark.parametrize("n", [0, 1, 7, 64, 1001])
def test_aligned_arrays_start_on_a_cache_line_and_hold_their_values(n, dtype):
    values = np.arange(n) % 3
    for a in (aligned_empty(n, dtype), aligned_full(n, 1, dtype), aligned_copy(values, dtype)):
        assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous
        assert n == 0 or a.ctypes.data % ALIGNMENT == 0  # (an empty array has no data)
    np.testing.assert_array_equal(aligned_full(n, 1, dtype), np.ones(n, dtype))
    np.testing.assert_array_equal(aligned_copy(values, dtype), values.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("n_rows, length", [(1, 1), (2, 1000), (3, 16), (5, 17)])
def test_aligned_rows_each_start_on_a_cache_line_of_their_own(n_rows, length, dtype):
    rows = aligned_rows(n_rows, length, 7, dtype)
    itemsize = np.dtype(dtype).itemsize
    assert rows.shape[0] == n_rows and rows.dtype == dtype and rows.flags.c_contiguous
    # whole lines per row, no more than one line of padding
    assert rows.shape[1] * itemsize % ALIGNMENT == 0
    assert length <= rows.shape[1] < length + ALIGNMENT // itemsize
    assert all(row.ctypes.data % ALIGNMENT == 0 for row in rows)
    np.testing.assert_array_equal(rows, 7)


def test_a_negative_length_is_refused():
    with pytest.raises(ValueError, match="n must be >= 0"):
        aligned_empty(-1, np.float32)
    with pytest.raises(ValueError, match="n_rows and length must be >= 0"):
        aligned_rows(2, -1, 0.0, np.float32)


def test_the_spiking_state_and_scratch_the_step_loop_streams_are_aligned():
    net = cuba_network(1000, precision="float32")
    streamed = ("membrane_potential", "excitatory_synaptic", "inhibitory_synaptic",
                "adaptation")

    def check():
        for name in streamed:
            assert getattr(net._state, name).ctypes.data % ALIGNMENT == 0, name

    check()
    state = net.state  # copies: not necessarily aligned
    net.set_state(state)
    check()
    np.testing.assert_array_equal(net._state.membrane_potential, state.membrane_potential)
    net.reset()
    check()
    prm_blocks = net._blocks()[1]
    assert all(prm_blocks[b, row].ctypes.data % ALIGNMENT == 0
               for b in range(prm_blocks.shape[0]) for row in range(K.N_ROWS))
    drive, spiked, _, _, merge_position = K.workspace(net._state.membrane_potential, 3, 400)
    # the two drive buffers (step parity), and what each block writes every step on
    # cache lines of its own: its merge positions and its row of queue lengths
    assert drive.shape[0] == 2 and drive.shape[1] >= 1000
    assert all(row.ctypes.data % ALIGNMENT == 0 for row in (*drive, spiked, *merge_position))
    net._lay_out_queue(np.array([0, 320, 640, 1000]))
    assert net._queue_len.shape[0] == 3
    assert all(row.ctypes.data % ALIGNMENT == 0 for row in net._queue_len)
