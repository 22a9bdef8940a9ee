"""jewelhead's spiking kernel against Brian2 (C++ standalone) on the Vogels-Abbott CUBA net.

Both simulators run the same network (same wiring, same initial state, ~80 inputs per
neuron, 10 s of biological time by default), each in its own fresh process so that the
whole-process time counts imports, building, compilation (Brian2) or cache loading
(jewelhead). Both build the network with jewelhead; only jewelhead's process starts
Numba's set-up in the background meanwhile (SpikingNetwork does, for its own kernels).
Brian2 gets its fastest CPU mode: C++ standalone with its default optimisation flags
(-O3 -ffast-math -march=native), run both single-threaded and with
``--threads`` OpenMP threads, and the faster of the two counts (its OpenMP build is not
always faster). jewelhead gets ``--threads`` Numba threads (NUMBA_NUM_THREADS), which
it uses from 7,000 neurons up (one per 3,500). jewelhead runs in float32 by default
(tests/substrates/test_spiking.py bounds what float32 changes); ``--precision
float64`` gives the bit-exact mode. Each run is repeated ``--repeats`` times and the
fastest of each is kept (timings on shared machines are noisy). Prints loop time,
whole-process time and the ratios (Brian2 / ours), and on Linux the host's steal time
during each run (CPU time the hypervisor gave other guests, as a share of the run's
CPU capacity): one sign of a busy host, though not every slow phase shows in it (on
the development machine the two virtual CPUs slow each other down without any).

Usage::

    python benchmarks/spiking_vs_brian2.py                  # N = 4,000 and 32,000, 2 threads
    python benchmarks/spiking_vs_brian2.py --sizes 4000 --duration 2 --threads 1

Run it twice: the first run also fills Numba's on-disk cache for this machine.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(args):
    """One simulator in this (fresh) process; prints a JSON line."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    if args.simulator == "brian2":
        # building a SpikingNetwork sets Numba up in a background thread for our
        # kernels (~0.45 s of Python work); Brian2's process never calls them, so it
        # must not pay for that
        import substrates.spiking._network as network

        network._set_up_numba_in_background = lambda: None
    from tests.substrates.spiking_networks import cuba_network

    net = cuba_network(args.n, random_state=args.seed, precision=args.precision)
    if args.simulator == "brian2":
        from substrates.reference.brian2 import simulate_brian2

        res = simulate_brian2(net, args.duration, bitwise=False, threads=args.threads)
        loop, n_spikes = res.run_time, res.spike_times.size
    else:
        net.spikes(net.dt)  # load the cached kernels (Brian2's loop time excludes its compile)
        net.reset()
        t0 = time.perf_counter()
        times, _ = net.spikes(args.duration)
        loop, n_spikes = time.perf_counter() - t0, times.size
    if args.simulator == "brian2":
        used = args.threads
    else:  # one thread per block, unless the threading layer could not give them
        used = 1 if net._threads_refused else net._n_blocks()
    print(json.dumps({"loop": loop, "in_process": time.perf_counter() - started,
                      "spikes": int(n_spikes), "synapses": net.n_synapses,
                      "threads_used": used}))


def _steal_time():
    """Seconds the hypervisor has run other guests on this machine's CPUs instead of it
    (the "steal" column of /proc/stat, summed over CPUs); None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _run(simulator, n, duration, threads, seed, precision):
    env = dict(os.environ)
    if simulator == "jewelhead":
        env["NUMBA_NUM_THREADS"] = str(max(1, threads))
        env.setdefault("NUMBA_THREADING_LAYER", "omp")
    cmd = [sys.executable, __file__, "--child", simulator, "--n", str(n),
           "--duration", str(duration), "--threads", str(threads), "--seed", str(seed),
           "--precision", precision]
    stolen = _steal_time()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process"] = wall
    if stolen is not None:
        result["steal"] = _steal_time() - stolen
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000])
    parser.add_argument("--duration", type=float, default=10.0, help="biological time (s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for jewelhead; Brian2 runs with 1 and with this many")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--precision", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["brian2", "jewelhead"])
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.child:
        args.simulator = args.child
        _child(args)
        return
    # both simulators import from bytecode: pip compiles installed packages (Brian2's
    # included), but a checkout run with PYTHONDONTWRITEBYTECODE would recompile ours
    # in every process
    for package in ("substrates", "tests"):
        compileall.compile_dir(ROOT / package, quiet=1)
    print(f"Vogels-Abbott CUBA, {args.duration} s biological time, up to {args.threads} "
          f"thread(s), jewelhead in {args.precision}, best of {args.repeats}")
    header = (f"{'N':>7} {'simulator':>10} {'threads':>7} {'spikes':>9} {'loop s':>8} "
              f"{'process s':>10}")
    print(header)
    contenders = [("jewelhead", args.threads), ("brian2", 1)]
    if args.threads > 1:
        contenders.append(("brian2", args.threads))
    rows = []
    for n in args.sizes:
        runs = {contender: [] for contender in contenders}
        for _ in range(args.repeats):
            for name, threads in contenders:
                runs[name, threads].append(_run(name, n, args.duration, threads, args.seed,
                                                args.precision))
        best = {key: {k: min(r[k] for r in rs) for k in ("loop", "process")}
                | {"spikes": rs[0]["spikes"], "threads_used": rs[0]["threads_used"]}
                for key, rs in runs.items()}
        for (name, threads), r in best.items():
            print(f"{n:>7} {name:>10} {r['threads_used']:>7} {r['spikes']:>9} "
                  f"{r['loop']:>8.3f} {r['process']:>10.2f}")
        # a shared host's noise, made visible: CPU time taken by other guests during
        # each run, as a fraction of the run's CPU capacity (all CPUs)
        for (name, threads), rs in runs.items():
            if all("steal" in r for r in rs):
                shares = ", ".join(f"{r['steal'] / (r['process'] * os.cpu_count()):.0%}"
                                   for r in rs)
                used = best[name, threads]["threads_used"]
                print(f"{'':>7} {name:>10} {used:>7} host steal during each run: {shares}")
        ours = best["jewelhead", args.threads]
        # Brian2's fastest: its best loop and its best whole process over thread counts
        ref = {k: min(r[k] for (name, _), r in best.items() if name == "brian2")
               for k in ("loop", "process")} | {"spikes": best["brian2", 1]["spikes"]}
        rows.append((n, ref["loop"] / ours["loop"], ref["process"] / ours["process"],
                     ours["spikes"], ref["spikes"]))
    print("\nratios (Brian2's fastest / jewelhead; > 1 means jewelhead is faster)")
    for n, loop_ratio, process_ratio, s_ours, s_ref in rows:
        print(f"  N={n:>6}: loop {loop_ratio:6.2f}x   whole process {process_ratio:6.2f}x   "
              f"(spike counts {s_ours} vs {s_ref})")


if __name__ == "__main__":
    main()
