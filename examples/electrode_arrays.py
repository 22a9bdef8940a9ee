"""Electrode arrays: three layouts, routing, spread selection, the analog front end.

Builds a 60-electrode MEA, a 26,400-electrode HD-MEA (1,024 routed channels) and a
two-column silicon probe imported from probeinterface; selects 8 spread recording
channels on the HD-MEA; passes a test signal through the HD-MEA front end; and saves a
PNG of the three layouts.

Usage: python examples/electrode_arrays.py [output_dir]   (default: a temporary directory)
"""

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import probeinterface  # noqa: E402

from substrates import ElectrodeArray  # noqa: E402

UM = 1e-6


def describe(array):
    print(f"{array.name:>10}: {array.n_electrodes:6d} electrodes, {array.n_recording:5d} recording, "
          f"{array.n_stimulating:3d} stimulating, {array.sampling_rate / 1e3:g} kHz, "
          f"noise {array.noise_rms / UM:g} uV rms, ADC step {array.adc_step / UM:.3g} uV")


def draw(ax, array, title, size, channel_size=None):
    channel_size = size if channel_size is None else channel_size
    ax.scatter(*array.positions[:, :2].T / UM, s=size, c="0.85", lw=0, label="electrode")
    ax.scatter(*array.recording_positions[:, :2].T / UM, s=channel_size, c="tab:blue", lw=0,
               label="recording channel")
    ax.scatter(*array.stimulating_positions[:, :2].T / UM, s=2 * channel_size, marker="x",
               c="tab:red", lw=1, label="stimulating")
    ax.set_title(f"{title}\n{array.n_recording} of {array.n_electrodes} recording", fontsize=10)
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_aspect("equal")


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    mea = ElectrodeArray.mea60()
    hd = ElectrodeArray.hdmea()
    probe = probeinterface.generate_multi_columns_probe(
        num_columns=2, num_contact_per_column=16, xpitch=22, ypitch=20, y_shift_per_column=[0, 10],
        contact_shapes="square", contact_shape_params={"width": 12})
    shank = ElectrodeArray.from_probe(probe, name="probe", sampling_rate=30_000.0, noise_rms=6 * UM)
    for array in (mea, hd, shank):
        describe(array)

    eight = hd.select(8, strategy="spread")
    print(f"\nHD-MEA, 8 spread channels: electrodes {eight.recording_electrodes.tolist()}")
    gaps = np.sort(np.linalg.norm(eight.recording_positions[:, None] - eight.recording_positions[None],
                                  axis=-1), axis=1)[:, 1]
    print(f"  nearest-neighbour spacing {gaps.min() / UM:.1f} to {gaps.max() / UM:.1f} um "
          f"(the routed block spans {31 * 17.5:.1f} um)")
    picks = [hd.select(8, random_state=seed).recording_electrodes for seed in range(3)]
    print("  8 random channels, seeds 0-2:", *(p.tolist() for p in picks), sep="\n    ")

    # the front end: a 100 uV, 1 kHz sine on every selected channel, 5 ms
    t = np.arange(int(5e-3 * eight.sampling_rate)) / eight.sampling_rate
    clean = 100 * UM * np.sin(2 * np.pi * 1e3 * t)[:, None] * np.ones(eight.n_recording)
    recorded = eight.acquire(clean, random_state=0)
    print(f"\nfront end: recorded - clean has rms {np.std(recorded - clean) / UM:.2f} uV "
          f"(noise {eight.noise_rms / UM:g} uV and quantisation {eight.adc_step / np.sqrt(12) / UM:.2f} uV "
          f"rms add to {np.hypot(eight.noise_rms, eight.adc_step / np.sqrt(12)) / UM:.2f} uV)")

    fig, axes = plt.subplots(1, 4, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1, 1.6, 1, 0.5]})
    draw(axes[0], mea, "mea60", 30)
    draw(axes[1], hd, "hdmea: routed 32 x 32 block", 0.3, 1.0)
    draw(axes[2], eight, "hdmea.select(8, 'spread')", 1.0, 40)
    half = 20 * 17.5
    axes[2].set_xlim(-half, half)
    axes[2].set_ylim(-half, half)
    draw(axes[3], shank, "probeinterface probe", 20)
    axes[3].set_xlim(-30, 50)
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    path = out_dir / "electrode_arrays.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"\nwrote {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="electrode_arrays_"))
