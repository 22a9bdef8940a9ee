"""Compile a small linear map into the default 16-electrode hydrogel.

Two 3 x 3 targets go into a default gel (100 um x 100 um, 4 x 4 Ag/AgCl electrodes,
perimeter counter electrode, 5 % write noise): (a) a map the gel can hold (the
differential transfer of a smooth random fixed-charge pattern), which the fit must
recover, and (b) a random Gaussian map, which a 16-electrode gel can only approximate.
Inputs are currents into three electrodes, outputs the settled potential differences of
three electrode pairs. For each, the script prints the fit's progress (Levenberg-Marquardt
on the adjoint sensitivities), the asked and written maps (written = measured by running
the programmed gel) and the relative errors of the fit, of the written gel's model and of
the measurement. Saves the report (JSON) and the fitted fixed-charge maps (PNG).

    python examples/compile_hydrogel.py [OUTPUT_DIR]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from distill import compile
from substrates.hydrogel import Hydrogel

# inputs: three inner electrodes (furthest from the grounded perimeter: the largest
# transfers); outputs: three pairs of ring electrodes on opposite sides
INPUTS = [5, 6, 9]
OUTPUT_PAIRS = [[0, 15], [3, 12], [1, 14]]


def realisable_target(gel, seed):
    """The differential transfer of a smooth random fixed-charge pattern, scaled to max 1."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=gel.grid_shape), 3.0)
    pairs = np.array(OUTPUT_PAIRS)
    r = gel.transfer_matrix(INPUTS, pairs.ravel(), fixed_charge=500.0 * field / np.abs(field).max())
    rd = r[:, 0::2] - r[:, 1::2]
    return rd / np.abs(rd).max()


def show(name, result):
    report, d = result.report, result.report.details
    np.set_printoptions(precision=3, suppress=True)
    print(f"\n== {name}: inputs {d['input_electrodes'].tolist()}, "
          f"output pairs {d['output_electrodes'].tolist()}")
    print(f"asked:\n{report.asked}\nwritten (measured):\n{report.written}")
    print(f"fit relative error      {d['fit_relative_error']:.2e}  "
          f"(uniform gel: {d['uniform_relative_error']:.2f}; {d['iterations']} iterations, "
          f"start errors {np.round(d['start_errors'], 4).tolist()}, {d['fit_seconds']:.1f} s)")
    print(f"written model error     {d['model_relative_error']:.2e}  (after 5 % write noise)")
    print(f"measured error          {report.relative_error:.2e}  "
          f"(model vs run {d['model_vs_measured']:.1e}, settled in {d['settling_time_s']:.0f} s "
          "of gel time)")
    print(f"scale {d['scale_per_ohm'][0]:.3e} per ohm: {d['input_current_A'] * 1e9:.3f} nA per "
          f"unit input, output gain {d['output_gain_per_V'][0]:.3g} per V")


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = {}
    targets = {
        "a_realisable": realisable_target(Hydrogel(random_state=0), 2),
        "b_random": np.random.default_rng(7).normal(size=(3, 3)),
    }
    for name, weights in targets.items():
        gel = Hydrogel(random_state=1)

        def progress(start_index, iteration, error):
            if iteration % 25 == 0:
                print(f"  start {start_index} iteration {iteration:3d}: relative error {error:.3e}")

        results[name] = compile(weights, gel, input_electrodes=INPUTS,
                                output_electrodes=OUTPUT_PAIRS, progress=progress)
        show(name, results[name])
    summary = {name: r.report.to_dict() for name, r in results.items()}
    path = out / "compile_hydrogel.json"
    path.write_text(json.dumps(summary, indent=1, default=lambda v: np.asarray(v).tolist()))
    print(f"\nwrote {path}; total {time.perf_counter() - start:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (name, result) in zip(axes, results.items()):
        image = ax.imshow(result.report.details["written_fixed_charge"], origin="lower",
                          cmap="RdBu_r", vmin=-500, vmax=500, extent=[-50, 50, -50, 50])
        ax.set(title=f"{name}: written fixed charge", xlabel="x (um)", ylabel="y (um)")
        pos = result.substrate.electrodes.positions * 1e6
        ax.scatter(pos[:, 0], pos[:, 1], s=12, c="k")
    fig.colorbar(image, ax=axes, label="fixed charge (mol/m^3)")
    png = out / "compile_hydrogel.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-compile-hydrogel-"))
