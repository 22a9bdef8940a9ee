"""An ionic diode written into a hydrogel: rectification and a pinched hysteresis loop.

A 40 um gel strip (1 um cells) between two salt reservoirs (10 mM KCl, Ag/AgCl electrodes
in them) is patterned with a bipolar fixed-charge junction: +100 mM (anion-selective) on
the left, -100 mM (cation-selective) on the right. Forward bias (+ on the cation-selective
side) floods the junction with counter-ions; reverse bias empties it of co-ions. The
script prints the steady currents at +-1 V and their ratio, then drives the diode with a
1 V sine at three frequencies and prints the hysteresis-loop area (it opens where the
period meets the junction's diffusion times and closes at low and high frequency, as in
conical-channel iontronic memristors). Saves a PNG of both into the output directory.

    python examples/hydrogel_diode.py [OUTPUT_DIR]
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from substrates import ElectrodeArray, Stimulus
from substrates.hydrogel import (
    ElectrodeInterfaceParameters,
    Hydrogel,
    HydrogelParameters,
)

LENGTH, CELL = 40e-6, 1e-6


def diode(dt):
    """The bipolar-junction strip, recording the current into the right-hand reservoir port."""
    array = ElectrodeArray.from_positions(
        [[-LENGTH / 2 + CELL / 2, 0.0], [LENGTH / 2 - CELL / 2, 0.0]], electrode_radius=CELL / 2,
        sampling_rate=1.0 / dt, noise_rms=1e-12, adc_bits=16, adc_range=(-20e-9, 20e-9))
    gel = Hydrogel(array, dt=dt, readout="current", random_state=0,
                   gel=HydrogelParameters(size=(LENGTH, CELL), cell_size=CELL, thickness=CELL),
                   interface=ElectrodeInterfaceParameters(counter_electrode="none", reservoir=True))
    gel.pattern(fixed_charge=lambda x, y: np.where(np.abs(x) < 10e-6, -100.0 * np.sign(x), 0.0))
    return gel


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    # rectification: hold +-1 V for 2 s (past the junction's diffusion time, ~50 ms)
    dt = 10e-3
    gel = diode(dt)
    steps = {}
    for volts in (1.0, -1.0):
        gel.reset()
        rec = gel.run(Stimulus(np.tile([0.0, volts], (200, 1)), dt, "V"))
        steps[volts] = rec.data[:, 1]
    forward, reverse = steps[1.0][-1], steps[-1.0][-1]
    print(f"steady current at +1 V: {forward * 1e9:8.3f} nA")
    print(f"steady current at -1 V: {reverse * 1e9:8.3f} nA")
    print(f"rectification ratio |I(+1 V) / I(-1 V)|: {abs(forward / reverse):.0f}")

    # hysteresis: two periods of a 1 V sine, the second one plotted
    loops = {}
    n = 200  # steps per period
    for frequency in (0.01, 100.0, 1e4):
        dt = 1.0 / (frequency * n)
        gel = diode(dt)
        volts = np.sin(2 * np.pi * frequency * (np.arange(2 * n) + 1) * dt)
        rec = gel.run(Stimulus(np.column_stack([np.zeros(2 * n), volts]), dt, "V"))
        v, i = volts[n:], rec.data[n:, 1]
        segment = 0.5 * (i[1:] + i[:-1]) * np.diff(v)
        middle = 0.5 * (v[1:] + v[:-1])
        area = abs(segment[middle > 0].sum()) + abs(segment[middle < 0].sum())
        loops[frequency] = (v, i)
        print(f"{frequency:8g} Hz: loop area {area * 1e9:.3f} nA V "
              f"({area / np.abs(i).max():.3f} of I_max x 1 V)")
    print(f"simulated in {time.perf_counter() - start:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    t = np.arange(200) * 10e-3
    left.plot(t, steps[1.0] * 1e9, label="+1 V (forward)")
    left.plot(t, steps[-1.0] * 1e9, label="-1 V (reverse)")
    left.set(xlabel="time (s)", ylabel="current (nA)", title="bipolar junction: rectification")
    left.legend()
    for frequency, (v, i) in loops.items():
        right.plot(v, i * 1e9, label=f"{frequency:g} Hz")
    right.set(xlabel="voltage (V)", ylabel="current (nA)", title="pinched hysteresis")
    right.legend()
    fig.tight_layout()
    path = out / "hydrogel_diode.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-hydrogel-"))
