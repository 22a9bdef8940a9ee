"""The same spiking network in jewelhead and in Brian2, spike for spike.

Builds a Vogels-Abbott CUBA network of 1,000 neurons, runs it for 0.3 s in jewelhead (on
one thread, and again with its neurons in two blocks on two threads) and in Brian2 (C++
standalone, compiled without fast-math), and checks that the spike trains are identical.
Needs g++ for Brian2.

    python examples/brian2_reference.py [OUTPUT_DIR]
"""

import sys
import tempfile

import numpy as np

from substrates.reference.brian2 import simulate_brian2
from substrates.spiking import (
    ConnectivityParameters,
    LIFParameters,
    SpikingNetwork,
    SynapseParameters,
    TissueParameters,
)

R = 20e-3 / 250e-12  # membrane resistance of the CUBA neuron (Ohm)


def cuba(n_neurons, threads=None):
    """The Vogels-Abbott CUBA network (float64, the bit-exact mode)."""
    return SpikingNetwork(
        n_neurons,
        neuron=LIFParameters(membrane_capacitance=250e-12, membrane_time_constant=20e-3,
                             resting_potential=-49e-3, threshold=-50e-3, reset=-60e-3,
                             refractory_period=5e-3),
        synapses=SynapseParameters(excitatory_weight=1.62e-3 / R, inhibitory_weight=-9e-3 / R,
                                   delay=0.0, conduction_velocity=None),
        connectivity=ConnectivityParameters(rule="random", connection_probability=80 / n_neurons),
        tissue=TissueParameters(size=4e-3),
        threads=threads,
        random_state=1,
    )


def main(out_dir=None, n_neurons=1000, duration=0.3):
    reference = simulate_brian2(cuba(n_neurons), duration, directory=out_dir)
    same = True
    for threads in (1, 2):
        # two blocks run on two threads where Numba has them, else one after the other
        times, neurons = cuba(n_neurons, threads).spikes(duration)
        identical = np.array_equal(times, reference.spike_times) and np.array_equal(
            neurons, reference.spike_neurons)
        print(f"jewelhead ({threads} block(s)): {times.size} spikes; Brian2: "
              f"{reference.spike_times.size} spikes; identical trains: {identical}")
        same = same and identical
    return same


if __name__ == "__main__":
    identical = main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-brian2-"))
    if not identical:
        sys.exit("jewelhead and Brian2 spike trains differ")
