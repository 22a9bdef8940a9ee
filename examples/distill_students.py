"""Distil a spiking culture into digital students, from its electrode recordings alone.

A 300-neuron culture on a 60-electrode MEA is stimulated with band-limited white and pink
noise currents on the four electrodes that reach the most neurons (clipped to a safe
30 uA). Four students (ridge on lagged inputs, an echo state network, a GRU and a
spiking network trained with surrogate gradients) learn to predict the detected spikes
per channel in 10 ms bins, and are scored on a held-out stimulus. The teacher is run
twice on the held-out stimulus with different noise: how much one repeat explains of
the other gives the noise ceiling, ``(1 + EV_repeat) / 2``, by which the students'
explained variance is normalised.

    python examples/distill_students.py [OUTPUT_DIR]

Writes ``distill_students.json`` (the scores) to OUTPUT_DIR when one is given.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from distill._students import (
    ESNStudent,
    LinearStudent,
    bin_recording,
    explained_variance,
)
from distill._torch_students import GRUStudent, SpikingStudent
from substrates import ElectrodeArray, SpikingNetwork, Stimulus

SAFE_AMPLITUDE = 30e-6  # A: peak current allowed on a stimulating electrode
BIN_WIDTH = 10e-3  # s
WARMUP = 0.1  # s dropped from each trial


def stimulus(kind, channels, duration, dt, seed):
    """Noise current on ``channels`` (8 uA rms), clipped to the safe amplitude."""
    if kind == "white":
        stim = Stimulus.white_noise(60, duration, dt, rms=8e-6, bandwidth=20.0,
                                    channels=channels, random_state=seed)
    else:
        stim = Stimulus.pink_noise(60, duration, dt, rms=8e-6, f_min=1.0, channels=channels,
                                   random_state=seed)
    clipped = np.clip(stim.data, -SAFE_AMPLITUDE, SAFE_AMPLITUDE)
    return Stimulus(clipped, dt, "A").check_safe(SAFE_AMPLITUDE)


def main(out_dir=None):
    start = time.perf_counter()
    net = SpikingNetwork(300, electrodes=ElectrodeArray.mea60(), random_state=0)
    reach = (net.stimulation_coupling < -1e-3).sum(axis=0)
    channels = np.argsort(reach)[::-1][:4]

    def run(stim, seed):
        net.reset(seed=seed)
        return net.run(stim)

    kinds = ["white", "pink", "white", "pink"]
    train_stimuli = [stimulus(k, channels, 3.0, net.dt, seed) for seed, k in enumerate(kinds)]
    train = [run(s, 100 + i) for i, s in enumerate(train_stimuli)]
    test_stimulus = stimulus("white", channels, 3.0, net.dt, 99)
    test, repeat = run(test_stimulus, 200), run(test_stimulus, 201)
    print(f"teacher: {net.n_neurons} neurons, {test.n_channels} channels, "
          f"{len(train)} training trials of 3 s, simulated in {time.perf_counter() - start:.1f} s")

    # noise ceiling: explained variance of one repeat by the other, per channel
    skip = round(WARMUP / BIN_WIDTH)
    a = bin_recording(test, BIN_WIDTH, "spike_counts")[skip:]
    b = bin_recording(repeat, BIN_WIDTH, "spike_counts")[skip:]
    ceiling = (1.0 + float(np.nanmean(explained_variance(a, b)))) / 2.0
    print(f"noise ceiling of the explained variance: {ceiling:.3f}")

    common = {"bin_width": BIN_WIDTH, "warmup": WARMUP, "random_state": 0}
    students = {
        "linear": LinearStudent(n_lags=10, **common),
        "esn": ESNStudent(n_units=300, **common),
        "gru": GRUStudent(hidden_size=32, n_epochs=40, learning_rate=1e-2, **common),
        "spiking": SpikingStudent(n_neurons=64, n_epochs=25, learning_rate=1e-2, **common),
    }
    scores = {}
    for name, student in students.items():
        t0 = time.perf_counter()
        student.fit(train_stimuli, train)
        ev = student.score(test_stimulus, test)
        scores[name] = {"explained_variance": ev, "normalised": ev / ceiling,
                        "fit_seconds": time.perf_counter() - t0}
        print(f"{name:>8}: held-out explained variance {ev:.3f} "
              f"(noise-ceiling normalised {ev / ceiling:.3f}), fitted in "
              f"{scores[name]['fit_seconds']:.1f} s")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "distill_students.json").write_text(
            json.dumps({"noise_ceiling": ceiling, "students": scores}, indent=2))
        print(f"saved {out / 'distill_students.json'}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return scores


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
