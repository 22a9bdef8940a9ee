"""Make one stimulus of each kind, print its charge and rms, and plot the waveforms.

Usage: python examples/stimuli.py [output_dir]

Writes ``stimuli.png`` into ``output_dir`` (default: a new temporary directory). Runs in
a few seconds.
"""

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from substrates import Stimulus  # noqa: E402

DT = 1e-4  # 10 kHz stimulator update rate, s
DURATION = 0.2  # s
N_CHANNELS = 2


def make_stimuli():
    """One stimulus of each kind, on two channels, 10 kHz, 200 ms."""
    common = dict(n_channels=N_CHANNELS, duration=DURATION, dt=DT)
    vowel_like = np.array([[0.1, 0.9], [0.8, 0.2], [0.6, 0.7], [0.0, 1.0]])  # 4 steps x 2 features
    return {
        "pulse train (monophasic)": Stimulus.pulse_train(
            **common, rate=20.0, amplitude=-2e-6, width=500e-6, channels=[0]
        ),
        "biphasic 200 us/phase": Stimulus.biphasic(
            **common, rate=25.0, amplitude=5e-6, phase_width=200e-6, interphase_gap=100e-6
        ),
        "white noise, 300 Hz": Stimulus.white_noise(
            **common, rms=1e-6, bandwidth=300.0, random_state=0
        ),
        "pink noise": Stimulus.pink_noise(**common, rms=1e-6, f_min=2.0, random_state=1),
        "chirp 5-100 Hz": Stimulus.chirp(
            **common, amplitude=1e-6, f0=5.0, f1=100.0, method="logarithmic"
        ),
        "encode: amplitude": Stimulus.encode(vowel_like, hold=0.05, dt=DT, amplitude=2e-6),
        "encode: rate": Stimulus.encode(
            vowel_like, hold=0.05, dt=DT, amplitude=5e-6, mode="rate", max_rate=200.0
        ),
        "encode: threshold": Stimulus.encode(
            vowel_like, hold=0.05, dt=DT, amplitude=5e-6, mode="threshold", threshold=0.5
        ),
    }


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="stimuli-"))
    out.mkdir(parents=True, exist_ok=True)
    stimuli = make_stimuli()

    header = ("stimulus", "charge ch0, ch1 (nC)", "rms ch0, ch1 (uA)", "peak (uA)")
    print(f"{header[0]:28s} {header[1]:>24s} {header[2]:>20s} {header[3]:>10s}")
    for name, stim in stimuli.items():
        stim.check_safe(10e-6)  # keep every channel within +-10 uA
        charge = ", ".join(f"{q * 1e9:+.4f}" for q in stim.charge)
        rms = ", ".join(f"{r * 1e6:.3f}" for r in stim.rms)
        peak = np.abs(stim.data).max() * 1e6
        print(f"{name:28s} {charge:>24s} {rms:>20s} {peak:10.2f}")

    # substrates map a stimulus onto their own step: finer by zero-order hold, coarser by
    # a charge-preserving average
    biphasic = stimuli["biphasic 200 us/phase"]
    fine = biphasic.resample(DT / 5)
    coarse = fine.resample(DT)
    print(
        f"\nbiphasic resampled to {fine.dt * 1e6:g} us and back: identical = "
        f"{np.allclose(coarse.data, biphasic.data, rtol=1e-14, atol=0)}, "
        f"charge {fine.charge[0]:+.1e} C"
    )

    fig, axes = plt.subplots(len(stimuli), 1, figsize=(8, 1.4 * len(stimuli)), sharex=True)
    for ax, (name, stim) in zip(axes, stimuli.items()):
        for c in range(stim.n_channels):
            ax.plot(stim.times * 1e3, stim.data[:, c] * 1e6, lw=0.8, label=f"channel {c}")
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel("uA")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("time (ms)")
    fig.tight_layout()
    path = out / "stimuli.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nwaveforms saved to {path}")
    return path


if __name__ == "__main__":
    main(sys.argv)
