"""How well a student learns a spiking culture, against electrode count and query budget.

The teacher is a culture on a high-density MEA (the 1,024 routed electrodes of
``ElectrodeArray.hdmea()``, a 32 x 32 block at 17.5 um pitch), driven through 8 of the
chip's stimulation units with band-limited white-noise currents (the queries, clipped to
a safe 30 uA). Students see only the detected spikes per channel in 20 ms bins. Fidelity
is the explained variance of the held-out trial mean, normalised by the noise ceiling from
4 repeats of the held-out stimulus (``distill.normalised_explained_variance``), pooled
over channels by signal variance.

Two curves:

- fidelity against electrode count (``select(k, "spread")`` of the routed block, from
  one set of recordings: recording is passive), at the largest query budget;
- fidelity against query budget (recorded seconds of training stimulation), at 64
  electrodes.

HD-MEA recordings are large (1,024 channels at 20 kHz), so the teacher is run in one-second
pieces there (whole trials on the 64-electrode grid) and only the detected spikes are kept
(:func:`spikes_only`). The spike-detection thresholds are set once, from one second of
spontaneous activity before the queries, and kept for every run, as a rig does.

    python examples/distillation_curves.py [OUTPUT_DIR]          # small and quick
    python examples/distillation_curves.py OUTPUT_DIR --full     # 1,000 neurons, HD-MEA
    python examples/distillation_curves.py OUTPUT_DIR --full --grid   # 1,000 neurons, 8 x 8 MEA

``--grid`` puts the same kind of culture (1.6 mm, 8 driven electrodes) on an 8 x 8 grid of
64 electrodes at 200 um pitch instead: each electrode then sees a multi-unit neighbourhood,
as on a classic MEA.

Writes ``distillation_curves.json`` and ``.png`` to OUTPUT_DIR when one is given.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from distill import GRUStudent, LinearStudent, bin_responses, normalised_explained_variance
from substrates import ElectrodeArray, Recording, SpikingNetwork, Stimulus
from substrates.spiking import BackgroundParameters, TissueParameters

SAFE_AMPLITUDE = 30e-6  # A
BIN_WIDTH = 20e-3  # s
PIECE = 1.0  # s of teacher simulation per piece (bounds the recording's memory)
SPIKE_RATE = 100.0  # Hz: sampling rate of the spike-only recordings (BIN_WIDTH / 2)


def spikes_only(network, stimulus, piece=PIECE, noise_levels=None):
    """Run ``network`` on ``stimulus`` in pieces of ``piece`` s; keep only the detected spikes.

    ``noise_levels`` (V per channel) fixes the spike-detection thresholds, so the
    detected spikes do not depend on where the pieces are cut.

    Returns a Recording of the same channels whose samples are zeros at ``SPIKE_RATE``
    (a placeholder: the students' spike-count targets read only the spikes).
    """
    per_piece = int(round(piece / stimulus.dt))
    times, channels = [], []
    for first in range(0, stimulus.n_samples, per_piece):
        piece = Stimulus(stimulus.data[first:first + per_piece], stimulus.dt, stimulus.unit)
        rec = network.run(piece, detection_noise_levels=noise_levels)
        times.append(rec.spike_times + first * stimulus.dt)
        channels.append(rec.spike_channels)
    n = int(round(stimulus.duration * SPIKE_RATE))
    t, c = np.concatenate(times), np.concatenate(channels)
    order = np.lexsort((c, t))
    return Recording(np.zeros((n, rec.n_channels)), SPIKE_RATE, "V",
                     electrode_positions=rec.electrode_positions,
                     channel_electrodes=rec.channel_electrodes,
                     spike_times=np.minimum(t[order], n / SPIKE_RATE), spike_channels=c[order])


def subset(recording, columns):
    """The same recording seen through the channels ``columns`` only."""
    keep = np.isin(recording.spike_channels, columns)
    new_index = np.full(recording.n_channels, -1)
    new_index[columns] = np.arange(len(columns))
    return Recording(recording.data[:, columns], recording.sampling_rate, recording.unit,
                     electrode_positions=recording.electrode_positions[columns],
                     channel_electrodes=recording.channel_electrodes[columns],
                     spike_times=recording.spike_times[keep],
                     spike_channels=new_index[recording.spike_channels[keep]])


def main(out_dir=None, full=False, grid=False):
    start = time.perf_counter()
    n_neurons, trial = (1000, 10.0) if full else (200, 4.0)
    budgets = [10.0, 30.0, 60.0, 120.0] if full else [4.0, 8.0]
    if grid:
        counts = [8, 16, 32, 64] if full else [8, 64]
        array, size = ElectrodeArray.grid(8, 8, pitch=200e-6), 1.6e-3
        driven = np.array([9, 13, 18, 21, 42, 45, 50, 54])  # spread over the grid
    else:
        counts = [8, 16, 64, 256, 1024] if full else [8, 64]
        array, size = ElectrodeArray.hdmea(), 0.6e-3
        if not full:  # the quick run records 64 spread electrodes of the routed block: cheaper
            array = array.select(64, strategy="spread")
        driven = np.arange(array.n_stimulating)[:: array.n_stimulating // 8][:8]
    network = SpikingNetwork(
        n_neurons, electrodes=array, tissue=TissueParameters(shape="culture", size=size),
        background=BackgroundParameters(n_inputs=100, rate=10.0, weight=20e-12), random_state=0)

    def query(duration, seed):
        noise = Stimulus.white_noise(array.n_stimulating, duration, network.dt, rms=2e-6,
                                     bandwidth=5.0, channels=driven, random_state=seed)
        clipped = np.clip(noise.data, -SAFE_AMPLITUDE, SAFE_AMPLITUDE)
        return Stimulus(clipped, network.dt, "A").check_safe(SAFE_AMPLITUDE)

    # 64 channels fit in memory whole; 1,024 at 20 kHz are recorded a second at a time
    piece = trial if array.n_recording <= 64 else PIECE
    # as a rig does: detection thresholds set once, from a baseline of spontaneous activity
    network.reset(seed=999)
    levels = network.run(duration=PIECE).metadata["detection_noise_levels"]
    n_trials = int(round(max(budgets) / trial))
    train_stimuli = [query(trial, 100 + i) for i in range(n_trials)]
    train = []
    for i, stim in enumerate(train_stimuli):
        network.reset(seed=i)
        train.append(spikes_only(network, stim, piece, levels))
    test_stimulus = query(trial, 7)
    repeats = []
    for r in range(4):
        network.reset(seed=1000 + r)
        repeats.append(spikes_only(network, test_stimulus, piece, levels))
    simulated = time.perf_counter() - start

    def students():
        lags = int(round(0.2 / BIN_WIDTH))
        return {"linear": LinearStudent(n_lags=lags, bin_width=BIN_WIDTH, warmup=0.2),
                "gru": GRUStudent(hidden_size=64 if full else 32, n_epochs=120 if full else 20,
                                  bin_width=BIN_WIDTH, warmup=0.2, random_state=0)}

    def fidelity(columns, n_used):
        repeats_k = bin_responses([subset(r, columns) for r in repeats], BIN_WIDTH)
        out = {}
        for name, student in students().items():
            student.fit(train_stimuli[:n_used], [subset(r, columns) for r in train[:n_used]])
            prediction = student.predict(test_stimulus).data
            out[name] = float(normalised_explained_variance(prediction, repeats_k).pooled)
        return out

    def columns_for(k):
        chosen = array.select(k, strategy="spread").recording_electrodes
        column = {int(e): i for i, e in enumerate(array.recording_electrodes)}
        return np.array(sorted(column[int(e)] for e in chosen))

    by_count = [{"electrodes": k, **fidelity(columns_for(k), n_trials)} for k in counts]
    by_budget = [{"budget_s": b, **fidelity(columns_for(64), int(round(b / trial)))} for b in budgets]
    for row in by_count:
        print(f"{row['electrodes']:>5} electrodes, {max(budgets):g} s of queries: "
              f"linear {row['linear']:.3f}, GRU {row['gru']:.3f} (normalised EV)")
    for row in by_budget:
        print(f"{row['budget_s']:>5g} s of queries, 64 electrodes: "
              f"linear {row['linear']:.3f}, GRU {row['gru']:.3f} (normalised EV)")
    result = {"layout": "grid 8 x 8" if grid else "hdmea", "n_neurons": n_neurons, "bin_width": BIN_WIDTH, "by_count": by_count,
              "by_budget": by_budget, "simulation_s": simulated,
              "total_s": time.perf_counter() - start}
    print(f"teacher simulated in {simulated:.0f} s; total {result['total_s']:.0f} s")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "distillation_curves.json").write_text(json.dumps(result, indent=2))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for name in ("linear", "gru"):
            a.plot(counts, [r[name] for r in by_count], "o-", label=name)
            b.plot(budgets, [r[name] for r in by_budget], "o-", label=name)
        a.set(xscale="log", xlabel="recording electrodes", ylabel="normalised explained variance",
              title=f"{n_neurons}-neuron culture ({result['layout']}), {max(budgets):g} s of queries")
        b.set(xlabel="query budget (recorded s)", title="64 electrodes")
        a.legend()
        fig.savefig(out / "distillation_curves.png", dpi=110)
        plt.close(fig)
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0] if args else None, full="--full" in sys.argv, grid="--grid" in sys.argv)
