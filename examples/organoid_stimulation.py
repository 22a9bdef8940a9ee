"""Stimulate an organoid on a 60-electrode MEA and look at what the electrodes see.

Builds the demo's 3,000-neuron organoid (LIF, distance-dependent wiring, short-term
depression, background drive), delivers charge-balanced biphasic pulses on one electrode, and
compares the firing of neurons near that electrode before and after each pulse, using
the ground truth only a simulation has. Writes the recording to the output directory.

    python examples/organoid_stimulation.py [OUTPUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from substrates import ElectrodeArray, Recording, Stimulus
from substrates.spiking import (
    BackgroundParameters,
    ConnectivityParameters,
    ShortTermDepressionParameters,
    SpikingNetwork,
    SynapseParameters,
    TissueParameters,
)


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    array = ElectrodeArray.mea60()
    net = SpikingNetwork(
        3000,
        electrodes=array,
        tissue=TissueParameters(shape="organoid", size=2e-3),
        synapses=SynapseParameters(excitatory_weight=150e-12, inhibitory_weight=-600e-12),
        connectivity=ConnectivityParameters(connection_probability=0.5, connection_length=200e-6),
        depression=ShortTermDepressionParameters(enabled=True, use=0.5),
        background=BackgroundParameters(n_inputs=200, rate=10.0, weight=15e-12),
        random_state=0,
    )
    # the stimulating electrode that reaches the most neurons
    electrode = int(np.argmax((net.stimulation_coupling < -1e-3).sum(axis=0)))
    rate = 4.0
    stim = Stimulus.biphasic(array.n_stimulating, 2.0, net.dt, rate=rate, amplitude=20e-6,
                             phase_width=200e-6, channels=[electrode])
    rec = net.run(stim, record_hidden=True)
    near = np.flatnonzero(net.stimulation_coupling[:, electrode] < -1e-3)
    times = rec.hidden_state["spike_times"]
    neurons = rec.hidden_state["spike_neurons"]
    pulses = np.arange(0.0, 2.0, 1.0 / rate)
    mine = times[np.isin(neurons, near)]
    after = sum(np.count_nonzero((mine >= p) & (mine < p + 10e-3)) for p in pulses)
    before = sum(np.count_nonzero((mine >= p - 10e-3) & (mine < p)) for p in pulses[1:])
    print(f"{near.size} neurons within reach of electrode {electrode}")
    print(f"their spikes in the 10 ms after each pulse: {after}; in the 10 ms before: {before}")
    print(f"recording: {rec.n_samples} samples x {rec.n_channels} channels, "
          f"{rec.spike_times.size} detected spikes, {times.size} true spikes")
    path = out / "organoid_stimulation.npz"
    rec.save(path)
    again = Recording.load(path)
    assert np.array_equal(again.data, rec.data)
    print(f"saved {path}")
    return after, before


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-"))
