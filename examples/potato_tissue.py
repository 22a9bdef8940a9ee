"""A potato on 8 electrodes: its beta dispersion, its nonlinear interfaces, its fading memory.

Builds the default potato (288 cells of parenchyma, 8 electrodes on its surface), then

1. its impedance spectrum from the model's own MNA matrices: the tissue alone (four-
   electrode) shows one beta dispersion; between the electrodes' metal (two-electrode)
   the double layers add electrode polarisation at low frequency;
2. a transient with the faradaic (Butler-Volmer) interfaces active: doubling the current
   does not double the electrode potential;
3. fading memory: one held input step, then its echo dying away over the next steps;
4. the per-step cost of the solver, and (if ngspice is installed) the same transient in
   ngspice on the netlist from ``Potato.to_spice``.

Prints the numbers and saves ``potato_tissue.png``.

    python examples/potato_tissue.py [OUTPUT_DIR]
"""

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from substrates import ElectrodeArray, Stimulus
from substrates.potato import Potato, TissueParameters, run_ngspice


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    potato = Potato(random_state=0)
    t = potato.tissue
    print(f"potato: {potato.n_cells} cells, {potato.n_nodes} circuit nodes, "
          f"{potato.electrodes_in_use.size} electrode interfaces")

    # 1. impedance spectrum
    f = np.logspace(0, 7, 71)
    z_tissue = potato.impedance(f)
    z_two = potato.impedance(f, interfaces=True)
    z100, z1m = potato.impedance([1e2, 1e6])
    peak = f[np.argmax(-z_tissue.imag)]
    f0 = 1.0 / (2 * math.pi * t.membrane_capacitance * (t.cytoplasm_resistance + t.apoplast_resistance))
    print(f"tissue |Z|: {abs(z100) / 1e3:.1f} kOhm at 100 Hz, {abs(z1m) / 1e3:.1f} kOhm at 1 MHz "
          f"(falls {abs(z100) / abs(z1m):.1f}x); beta dispersion peak at {peak / 1e3:.1f} kHz "
          f"(1/(2 pi C_m (R_cyto + R_apo)) = {f0 / 1e3:.1f} kHz)")
    print(f"two-electrode |Z| at 100 Hz: {abs(potato.impedance([1e2], interfaces=True)[0]) / 1e6:.2f} "
          "MOhm (electrode polarisation)")

    # 2. transient with the interfaces active: +-A biphasic steps of 5 ms on electrode 0
    dt = potato.dt
    n = round(0.03 / dt)
    u = np.zeros((n, potato.electrodes.n_stimulating))
    u[int(0.005 / dt):int(0.010 / dt), 0] = -1.0
    u[int(0.010 / dt):int(0.015 / dt), 0] = 1.0
    amplitude = 1e-7  # A
    traces = {}
    for scale in (1.0, 2.0):
        potato.reset()
        start = time.perf_counter()
        rec = potato.run(Stimulus(u * amplitude * scale, dt), record_hidden=True,
                         hidden_sampling_rate=1.0 / dt)
        elapsed = time.perf_counter() - start
        traces[scale] = rec.hidden_state["node_voltage"][:, potato.node_names.index("m0")]
    gap = np.linalg.norm(traces[2.0] - 2 * traces[1.0]) / np.linalg.norm(2 * traces[1.0])
    print(f"transient: electrode 0 peaks at {np.abs(traces[1.0]).max() * 1e3:.0f} mV for "
          f"{amplitude * 1e9:.0f} nA, {np.abs(traces[2.0]).max() * 1e3:.0f} mV for twice that "
          f"(departs {gap * 100:.0f} % from linear scaling: Butler-Volmer)")
    print(f"cost: {elapsed / n * 1e6:.0f} us per time step of {dt * 1e6:.0f} us "
          f"({potato.n_nodes} nodes; one sparse solve + Newton on {potato.electrodes_in_use.size} "
          "interface overpotentials)")

    # 3. fading memory with the substrate's own encoding
    enc = dict(potato.encoding)
    hold = enc.pop("hold")
    potato.reset()
    stim = Stimulus.encode(np.r_[1.0, np.zeros(9)], hold=hold, dt=dt,
                           n_channels=potato.electrodes.n_stimulating, **enc)
    rec = potato.run(stim, record_hidden=True, hidden_sampling_rate=1000.0)
    memory = np.abs(rec.hidden_state["node_voltage"][:, potato.node_names.index("m0")])
    ends = memory.reshape(10, -1)[:, -1]
    print(f"fading memory (hold {hold * 1e3:.0f} ms): electrode 0 after each step, mV: "
          + ", ".join(f"{v * 1e3:.2f}" for v in ends))

    # 4. ngspice on the same netlist: a 12-cell potato, 2 electrodes, fine steps
    if shutil.which("ngspice"):
        fine = 2e-6
        array = ElectrodeArray.grid(1, 2, pitch=150e-6, sampling_rate=1.0 / fine, noise_rms=0.0,
                                    adc_bits=None, adc_range=(-10.0, 10.0), electrode_radius=50e-6)
        small = Potato(electrodes=array, dt=fine, tissue=TissueParameters(cells_per_axis=(3, 2, 2)),
                       random_state=1)
        drive = np.zeros((3000, 2))
        drive[:1000, 0], drive[1500:2500, 0], drive[200:700, 1] = 2e-7, -2e-7, -1e-7
        stim = Stimulus(drive, fine)
        start = time.perf_counter()
        ours = small.run(stim)
        our_time = time.perf_counter() - start
        start = time.perf_counter()
        ref = run_ngspice(small.to_spice(stim))
        spice_time = time.perf_counter() - start
        grid = np.arange(ours.n_samples) * fine
        errors = [np.linalg.norm(ours.data[:, k] - np.interp(grid, ref["time"], ref[f"v(m{k})"]))
                  / np.linalg.norm(ref[f"v(m{k})"]) for k in range(2)]
        print(f"ngspice on the netlist of a 12-cell potato driven at 200 nA (6 ms at dt = 2 us): "
              f"relative L2 difference {max(errors):.1e} (ours {our_time:.2f} s, "
              f"ngspice {spice_time:.2f} s)")
    else:
        print("ngspice not installed: skipping the netlist comparison")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].loglog(f, np.abs(z_tissue), label="tissue (four-electrode)")
    ax[0].loglog(f, np.abs(z_two), label="electrode to electrode")
    ax[0].set(xlabel="frequency (Hz)", ylabel="|Z| (Ohm)", title="impedance")
    ax[0].legend()
    time_ms = np.arange(n) * dt * 1e3
    for scale, trace in traces.items():
        ax[1].plot(time_ms, trace * 1e3, label=f"{amplitude * scale * 1e9:.0f} nA")
    ax[1].set(xlabel="time (ms)", ylabel="electrode 0 (mV)", title="Butler-Volmer interfaces")
    ax[1].legend()
    ax[2].semilogy(np.arange(memory.size) / 1000.0, np.maximum(memory * 1e3, 1e-2))
    ax[2].set(xlabel="time (s)", ylabel="|electrode 0| (mV)", title="fading memory")
    fig.tight_layout()
    path = out / "potato_tissue.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")
    return abs(z100) / abs(z1m), gap


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-"))
