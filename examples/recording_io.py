"""Recording I/O: plant spikes in noise, detect them, save, load, export to NWB and SpikeInterface.

A 4 x 4 grid of electrodes (200 um pitch) records 2 s of Gaussian noise (5 uV rms) at
25 kHz, with one neuron beside each electrode firing as a Poisson process (5 Hz); its
spikes reach the electrode as a 60 uV trough (12 sigma). The true spikes are the hidden
state. Threshold detection at 5 sigma is scored against that ground truth, the recording
is saved and loaded bit for bit, written to NWB and handed to SpikeInterface.

Usage: python examples/recording_io.py [output_dir]   (default: a new temporary directory)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from substrates import Recording, detect_spikes
from substrates._random import child_generators

SAMPLING_RATE = 25_000.0  # Hz
DURATION = 2.0  # s
NOISE_RMS = 5e-6  # V
TROUGH = 60e-6  # V, spike amplitude at the electrode
FIRING_RATE = 5.0  # Hz per neuron
PITCH = 200e-6  # m


def spike_waveform(sampling_rate):
    """Unit-trough extracellular spike (3 ms): Gaussian trough, slower positive lobe."""
    t = np.arange(-1e-3, 2e-3, 1 / sampling_rate)
    w = -np.exp(-0.5 * (t / 1.2e-4) ** 2) + 0.3 * np.exp(-0.5 * ((t - 6e-4) / 3e-4) ** 2)
    return w / -w.min(), int(np.argmin(w))


def synthetic_recording(random_state=0):
    streams = child_generators(random_state, ["spikes", "noise"])
    grid = np.arange(4) * PITCH
    x, y = np.meshgrid(grid, grid, indexing="xy")
    electrodes = np.column_stack([x.ravel(), y.ravel(), np.zeros(16)])  # m
    neurons = electrodes + np.array([10e-6, 0.0, 15e-6])  # one neuron 18 um from each electrode
    n_samples = int(DURATION * SAMPLING_RATE)
    waveform, trough = spike_waveform(SAMPLING_RATE)

    # Poisson spike trains with a 2 ms refractory period, away from the edges
    times, cells = [], []
    for j in range(16):
        isi = 2e-3 + streams["spikes"].exponential(1 / FIRING_RATE, size=40)
        t = np.cumsum(isi)
        t = t[(t > 5e-3) & (t < DURATION - 5e-3)]
        times.append(t)
        cells.append(np.full(t.size, j))
    times, cells = np.concatenate(times), np.concatenate(cells)
    order = np.argsort(times, kind="stable")
    times, cells = times[order], cells[order]

    data = streams["noise"].normal(0.0, NOISE_RMS, (n_samples, 16))
    for t, j in zip(times, cells):
        s = int(round(t * SAMPLING_RATE)) - trough
        data[s:s + waveform.size, j] += TROUGH * waveform
    hidden = {"spike_times": times, "spike_neurons": cells, "neuron_positions": neurons}
    return data, electrodes, hidden


def score(detected_t, detected_c, true_t, true_c, tolerance=0.5e-3):
    """Hits (within tolerance, one per true spike), misses and false positives."""
    hits = 0
    for c in np.unique(np.concatenate([detected_c, true_c])):
        d, t = detected_t[detected_c == c], true_t[true_c == c]
        if d.size and t.size:
            hits += int(np.sum(np.abs(d[None, :] - t[:, None]).min(axis=1) <= tolerance))
    return hits, true_t.size - hits, detected_t.size - hits


def main(output_dir=None):
    out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="jewelhead_recording_"))
    out.mkdir(parents=True, exist_ok=True)
    data, electrodes, hidden = synthetic_recording(random_state=0)
    spike_times, spike_channels = detect_spikes(data, SAMPLING_RATE, threshold=5.0, dead_time=1e-3)
    recording = Recording(
        data, SAMPLING_RATE, "V",
        electrode_positions=electrodes,
        spike_times=spike_times, spike_channels=spike_channels,
        hidden_state=hidden,
        metadata={"example": "recording_io", "seed": 0, "noise_rms": NOISE_RMS,
                  "session_start_time": "2025-01-01T00:00:00+00:00"},
    )
    print(recording)
    hits, misses, false = score(spike_times, spike_channels, hidden["spike_times"], hidden["spike_neurons"])
    print(f"detection at 5 sigma: {hits} of {hidden['spike_times'].size} true spikes found, "
          f"{misses} missed, {false} false positives")

    npz = out / "recording.npz"
    recording.save(npz)
    loaded = Recording.load(npz)
    assert loaded == recording
    print(f"saved and loaded {npz} ({npz.stat().st_size / 1e6:.2f} MB): identical")

    nwb_path = out / "recording.nwb"
    recording.to_nwb(nwb_path)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        series = nwb.acquisition["ElectricalSeries"]
        print(f"NWB {nwb_path.name}: ElectricalSeries {series.data.shape} at {series.rate:g} Hz, "
              f"{len(nwb.electrodes)} electrodes, {len(nwb.units)} units of detected spikes, "
              f"ground truth: {sorted(nwb.processing['ground_truth'].data_interfaces)}")

    si = recording.to_spikeinterface()
    print(f"SpikeInterface: {si.get_num_channels()} channels, {si.get_sampling_frequency():g} Hz, "
          f"probe span {np.ptp(si.get_channel_locations(), axis=0)} um")
    counts = recording.spike_counts(0.1)
    print(f"detected spike counts in 100 ms bins: mean {counts.mean():.2f} per channel "
          f"(Poisson with a 2 ms refractory period: {0.1 / (1 / FIRING_RATE + 2e-3):.2f})")
    return {"recording": str(npz), "nwb": str(nwb_path), "hits": hits, "misses": misses,
            "false_positives": false}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
