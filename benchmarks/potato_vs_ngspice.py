"""The potato's transient solver against ngspice on the same netlist.

One Potato (the default 12 x 6 x 4 cell block, 928 nodes, 8 electrodes with CPE ladders and
Butler-Volmer interfaces) is driven by biphasic current pulses on two electrodes. Our
solver (backward Euler at the potato's dt, the linear part factorised once, Newton on the
8 interface overpotentials) and ngspice (the netlist from ``Potato.to_spice``, Gear order 2,
adaptive steps up to ``--max-step``) integrate the same circuit, ngspice at relative
tolerance 1e-4 by default. Our fixed step defaults to 5 us, where the two agree to under
1 % relative L2: at the potato's default 100 us, backward Euler is about 10 % off on these
1 ms pulses (its fast CPE branches are not resolved), and a speed ratio at unequal
accuracy would mean nothing. Each is timed best of
``--repeats``: ours in this process after a warm-up run (Numba compiled), ngspice as a
whole batch process (start-up and output parsing included, which is what a user pays).
Prints both times, their ratio (ngspice / ours) and how far apart the electrode
potentials are (relative L2): the two integrate with different methods and step control,
so agreement is to the accuracy of the coarser one, not to round-off.

    python benchmarks/potato_vs_ngspice.py                     # 50 ms, dt = 5 us
    python benchmarks/potato_vs_ngspice.py --reltol 1e-3 --dt 1e-5
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np

from substrates import Stimulus
from substrates.potato import Potato, run_ngspice


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=0.05, help="s of simulated time")
    parser.add_argument("--reltol", type=float, default=1e-4, help="ngspice relative tolerance")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dt", type=float, default=5e-6, help="our time step (s)")
    parser.add_argument("--max-step", type=float, default=1e-4, help="ngspice's largest step (s)")
    args = parser.parse_args(argv)
    if shutil.which("ngspice") is None:
        raise SystemExit("ngspice is not installed (apt-get install -y ngspice)")

    potato = Potato(dt=args.dt, random_state=0)
    stimulus = Stimulus.biphasic(potato.electrodes.n_stimulating, args.duration, potato.dt,
                                 rate=100.0, amplitude=1e-7, phase_width=1e-3, channels=[1, 6])
    potato.reset()
    potato.run(stimulus)  # warm-up: Numba compiles (or loads its cache)

    ours = np.inf
    for _ in range(args.repeats):
        potato.reset()
        started = time.perf_counter()
        potato.run(stimulus)
        ours = min(ours, time.perf_counter() - started)

    netlist = potato.to_spice(stimulus, reltol=args.reltol, max_step=args.max_step)
    theirs, out = np.inf, None
    for _ in range(args.repeats):
        started = time.perf_counter()
        out = run_ngspice(netlist)
        theirs = min(theirs, time.perf_counter() - started)

    # compare the metal potentials (noise-free hidden state) on our time grid; ngspice's
    # own grid is adaptive, so it is interpolated
    potato.reset()
    hidden = potato.run(stimulus, record_hidden=True,
                        hidden_sampling_rate=1.0 / potato.dt).hidden_state["node_voltage"]
    t = np.arange(hidden.shape[0]) * potato.dt
    in_use = potato.electrodes_in_use
    errors = []
    for k in range(len(in_use)):
        key = f"v(m{k})"
        if key in out:
            reference = np.interp(t, out["time"], out[key])
            ours_v = hidden[:, potato.node_names.index(f"m{k}")]
            errors.append(np.linalg.norm(ours_v - reference) / max(np.linalg.norm(reference), 1e-30))
    steps = round(args.duration / potato.dt)
    print(f"potato: {potato.n_nodes} nodes, {len(in_use)} electrodes, {steps} steps of "
          f"{potato.dt * 1e6:g} us ({args.duration * 1e3:g} ms)")
    print(f"jewelhead: {ours:.3f} s ({ours / steps * 1e6:.0f} us per step)")
    print(f"ngspice (reltol {args.reltol:g}, max step {args.max_step * 1e6:g} us): {theirs:.3f} s")
    print(f"ratio ngspice / jewelhead: {theirs / ours:.1f}x")
    if errors:
        print(f"electrode potentials, relative L2 difference: median {np.median(errors):.2e}, "
              f"max {np.max(errors):.2e} over the {len(errors)} electrodes in use")


if __name__ == "__main__":
    main()
