"""The same spiking network in jewelhead and in Brian2, spike for spike.

Builds a Vogels-Abbott CUBA network of 1,000 neurons, runs it for 0.3 s in jewelhead and
in Brian2 (C++ standalone, compiled without fast-math), and checks that the two spike
trains are identical. Needs g++ for Brian2.

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


def main(out_dir=None, n_neurons=1000, duration=0.3):
    net = SpikingNetwork(
        n_neurons,
        neuron=LIFParameters(membrane_capacitance=250e-12, membrane_time_constant=20e-3,
                             resting_potential=-49e-3, threshold=-50e-3, reset=-60e-3,
                             refractory_period=5e-3),
        synapses=SynapseParameters(excitatory_weight=1.62e-3 / R, inhibitory_weight=-9e-3 / R,
                                   delay=0.0, conduction_velocity=None),
        connectivity=ConnectivityParameters(rule="random", connection_probability=80 / n_neurons),
        tissue=TissueParameters(size=4e-3),
        random_state=1,
    )
    reference = simulate_brian2(net, duration, directory=out_dir)
    times, neurons = net.spikes(duration)
    same = np.array_equal(times, reference.spike_times) and np.array_equal(
        neurons, reference.spike_neurons)
    print(f"jewelhead: {times.size} spikes; Brian2: {reference.spike_times.size} spikes; "
          f"identical trains: {same}")
    return same


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-brian2-"))
