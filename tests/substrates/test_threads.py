"""The atomics, barrier and join that keep the spiking kernel's threads in one region."""

import platform

import numba
import numpy as np
import pytest
from numba import njit, prange

from substrates._threads import (
    ARRIVED,
    GENERATION,
    JOINED,
    STATE,
    SYNC_SIZE,
    atomic_add,
    atomic_compare_exchange,
    atomic_load,
    atomic_store,
    barrier,
    join,
    spin_hint,
)


@njit
def _atomic_sequence(a):
    out = np.zeros(6, dtype=np.int64)
    out[0] = atomic_add(a, 3, 5)  # old value 0
    out[1] = atomic_add(a, 3, np.int32(-2))  # old value 5
    out[2] = atomic_load(a, 3)  # 3
    atomic_store(a, 4, 7)
    out[3] = atomic_compare_exchange(a, 4, 6, 9)  # fails: stays 7
    out[4] = atomic_compare_exchange(a, 4, 7, 9)  # succeeds: returns 7
    out[5] = a[4]  # 9
    return out


def test_atomics_do_what_they_say_on_one_thread():
    a = np.zeros(8, dtype=np.int64)
    np.testing.assert_array_equal(_atomic_sequence(a), [0, 5, 3, 7, 7, 9])
    np.testing.assert_array_equal(a, [0, 0, 0, 3, 9, 0, 0, 0])


@njit(parallel=True)
def _count_together(n_threads, n_rounds, sync, seen):
    posted = np.zeros(n_threads * 8, dtype=np.int64)  # one cache line per thread
    for t in prange(n_threads):
        if not join(sync, n_threads):
            continue
        generation = 0
        for r in range(n_rounds):
            posted[t * 8] = r  # plain store, published by the barrier
            generation = barrier(sync, n_threads, generation)
            for other in range(n_threads):
                if posted[other * 8] != r:
                    seen[t] += 1  # a partner's write of this round was not visible
            generation = barrier(sync, n_threads, generation)
        atomic_add(seen, n_threads, generation)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the hint checked here is x86's PAUSE")
def test_spin_waits_carry_the_processor_pause_hint():
    # a thread spinning at a barrier without PAUSE takes issue slots from a hyperthread
    # sibling that is still working towards the barrier
    @njit  # not cached, so its IR can be read
    def hint():
        spin_hint()

    hint()
    ir = hint.inspect_llvm(hint.signatures[0])
    assert "call void @llvm.x86.sse2.pause()" in ir


def test_barrier_publishes_every_threads_writes():
    # Each round every thread posts the round number, meets the others, and reads every
    # post: after the barrier all must show this round (release / acquire ordering),
    # and before the next post all must have read (the second barrier).
    if numba.get_num_threads() < 2:
        pytest.skip("needs two Numba threads")
    n_rounds = 20_000
    sync = np.zeros(SYNC_SIZE, dtype=np.int64)
    seen = np.zeros(3, dtype=np.int64)
    _count_together(2, n_rounds, sync, seen)
    assert sync[STATE] == 1 and sync[JOINED] == 2
    assert seen[0] == 0 and seen[1] == 0
    assert seen[2] == 2 * (2 * n_rounds)  # both threads passed every barrier
    assert sync[GENERATION] == 2 * n_rounds and sync[ARRIVED] == 0


def test_join_refuses_iterations_that_do_not_run_at_once():
    # With one Numba thread the region's two iterations run one after the other: a
    # barrier would wait forever, so join must say no to both, and they do no work.
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        sync = np.zeros(SYNC_SIZE, dtype=np.int64)
        seen = np.zeros(3, dtype=np.int64)
        _count_together(2, 10, sync, seen)
    finally:
        numba.set_num_threads(previous)
    assert sync[STATE] == 2 and sync[JOINED] == 2
    np.testing.assert_array_equal(seen, 0)  # nobody passed a barrier


def test_a_spiking_run_falls_back_to_one_thread_and_loses_nothing(monkeypatch):
    # The same refusal inside the spiking kernel: the network is told two threads are
    # there (so it opens the region) while Numba runs one; the run is redone on one
    # thread and gives the bits of a one-thread run.
    import substrates.spiking._network as network_module
    from substrates.spiking import _kernels as K
    from tests.substrates.spiking_networks import cuba_network

    reference = cuba_network(600, threads=1).run(duration=0.05)
    net = cuba_network(600, threads=2)
    monkeypatch.setattr(network_module, "_numba_threads", lambda: 2)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        rec = net.run(duration=0.05)
    finally:
        numba.set_num_threads(previous)
    assert K.run_chunk_threads.signatures  # the threaded kernel was tried
    assert rec.metadata["threads"] == 1
    np.testing.assert_array_equal(rec.spike_times, reference.spike_times)
    np.testing.assert_array_equal(rec.data, reference.data)
    # and the network does not wait for partners again
    assert net._threads_refused


def test_default_threads_give_each_thread_enough_neurons(monkeypatch):
    # Numba's thread count, but at most one thread per 3,500 neurons (a thread must
    # earn its barrier every step); an explicit count is kept (blocks of 64 neurons).
    import substrates.spiking._network as network_module
    from substrates.spiking import ConnectivityParameters, SpikingNetwork

    def unwired(n, **kwargs):
        return SpikingNetwork(n, connectivity=ConnectivityParameters(rule="random",
                                                                     connection_probability=0.0),
                              random_state=0, **kwargs)

    monkeypatch.setattr(network_module, "_numba_threads", lambda: 64)
    few = unwired(6999)
    assert few._n_blocks() == 1
    assert unwired(7000)._n_blocks() == 2
    assert unwired(20_000)._n_blocks() == 5
    few.threads = 5
    assert few._n_blocks() == 5
    assert unwired(100, threads=8)._n_blocks() == 2  # blocks of at least 64 neurons
