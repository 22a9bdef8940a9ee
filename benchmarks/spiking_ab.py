"""The spiking kernel of this checkout against another checkout's, in one process.

This machine's speed drifts by 25 % and more within minutes, so two timings taken a
minute apart in separate processes cannot resolve a change worth a few per cent. Here
both versions are imported into one process (each from its own source tree, with its
own Numba cache), build the same Vogels-Abbott CUBA network, and run it in
alternation, ``--repeats`` times each; the minimum and median loop times and their
ratios (this checkout / the other) are printed, with the spike counts (which must
agree: the kernels are meant to give the same bits).

Usage::

    git worktree add /tmp/before HEAD~1
    python benchmarks/spiking_ab.py /tmp/before --n 4000 --duration 2 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("substrates", "readout", "distill", "jewelhead", "tests")


def _load(root, n, precision):
    """Build and warm a CUBA network from the source tree at ``root``."""
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        from tests.substrates.spiking_networks import cuba_network

        net = cuba_network(n, random_state=1, precision=precision)
        net.spikes(net.dt)  # compile or load the kernels
    finally:
        sys.path.remove(str(root))
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout's root")
    parser.add_argument("--n", type=int, default=4000, help="neurons")
    parser.add_argument("--duration", type=float, default=2.0, help="biological time (s)")
    parser.add_argument("--threads", type=int, default=2, help="Numba threads")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--precision", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    if not (args.other / "substrates").is_dir():
        parser.error(f"other must be a jewelhead checkout, got {args.other}")
    if args.n < 1 or args.duration <= 0 or args.threads < 1 or args.repeats < 1:
        parser.error("--n, --threads and --repeats must be >= 1 and --duration > 0")
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")
    nets = {"other": _load(args.other.resolve(), args.n, args.precision),
            "this": _load(ROOT, args.n, args.precision)}
    loops = {name: [] for name in nets}
    spikes = {}
    for _ in range(args.repeats):
        for name, net in nets.items():
            net.reset()
            t0 = time.perf_counter()
            times, _ = net.spikes(args.duration)
            loops[name].append(time.perf_counter() - t0)
            spikes[name] = times.size
    print(f"CUBA N={args.n}, {args.duration} s, {args.threads} thread(s), {args.precision}, "
          f"{args.repeats} alternating runs each")
    summary = {}
    for name, values in loops.items():
        values.sort()
        summary[name] = (values[0], values[len(values) // 2])
        print(f"  {name:>5}: min {values[0]:.4f} s  median {values[len(values) // 2]:.4f} s  "
              f"spikes {spikes[name]}")
    print(f"  this / other: min {summary['this'][0] / summary['other'][0]:.3f}  "
          f"median {summary['this'][1] / summary['other'][1]:.3f}")


if __name__ == "__main__":
    main()
