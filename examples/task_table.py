"""The README's task table: every task on every substrate at 8 and 64 electrodes, beside an ESN.

Each substrate sits on an 8 x 8 electrode grid (64 recording electrodes) and is run once
per task with every electrode recording; the 8-electrode score reads the same recording
through 8 spread electrodes (``ElectrodeArray.select(8, "spread")``), so the two columns
differ only in what the readout may see. The ESN baseline is a reservoirpy echo state
network of the spiking network's size on the task's raw inputs, with the same readout.
Published figures are set beside the rows they compare with.

    python examples/task_table.py [OUTPUT_DIR]            # tiny sizes, a minute or two
    python examples/task_table.py OUTPUT_DIR --full       # the README's table (long)

Writes ``task_table.json`` and ``task_table.md`` to OUTPUT_DIR when one is given.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from readout import make_task
from substrates import ElectrodeArray, Hydrogel, Potato, SpikingNetwork
from substrates.hydrogel import HydrogelParameters
from substrates.potato import TissueParameters as PotatoTissue
from substrates.spiking import BackgroundParameters, TissueParameters

#: task name -> (published figure, where it comes from)
PUBLISHED = {
    "japanese_vowels_subset": ("~78 % (organoid, Brainoware)", "Cai et al., Nat. Electron. 2023"),
    "japanese_vowels": ("~87 % per utterance (reservoirpy ESN, N = 500)", "reservoirpy tutorial"),
    "mackey_glass": ("NRMSE 0.043 (iontronic network)", "iontronic reservoir literature"),
    "henon": ("NRMSE 0.046 (memristor reservoir)", "memristor reservoir literature"),
    "basic_motions": ("97.9 % gestures (memristor reservoir)", "memristor reservoir literature"),
}

#: (task, options) at the two sizes; the full sizes are the tasks' own ``full()``
TASKS_QUICK = [
    ("memory_capacity", {"n_train": 80, "n_test": 60, "max_delay": 5, "warmup": 10}),
    ("narma10", {"n_train": 80, "n_test": 60, "warmup": 20}),
]
TASKS_FULL = [
    ("memory_capacity", {"n_train": 1000, "n_test": 1000, "max_delay": 40}),
    ("narma10", {"n_train": 1000, "n_test": 500}),
    ("mackey_glass", {"n_train": 1000, "n_test": 500}),
    ("henon", {"n_train": 1000, "n_test": 500}),
    ("japanese_vowels_subset", {"full": True}),
    ("japanese_vowels", {"n_train": 15, "n_test": 15}),
    ("basic_motions", {"full": True, "stride": 4}),
    ("spoken_digits", {"n_train": 10, "n_test": 5, "split": "speaker"}),
]


def substrates(n_neurons):
    """The three substrates, each on its own 8 x 8 grid of electrodes."""
    spiking = SpikingNetwork(
        n_neurons, electrodes=ElectrodeArray.grid(8, 8, pitch=200e-6),
        tissue=TissueParameters(shape="culture", size=1.6e-3),
        background=BackgroundParameters(n_inputs=100, rate=10.0, weight=20e-12), random_state=0)
    gel_array = ElectrodeArray.grid(8, 8, pitch=25e-6, electrode_radius=5e-6, sampling_rate=100.0,
                                    noise_rms=1e-5, adc_range=(-1.0, 1.0))
    gel = Hydrogel(gel_array, dt=10e-3, gel=HydrogelParameters(size=(200e-6, 200e-6), cell_size=10e-6),
                   random_state=0)
    potato_array = ElectrodeArray.grid(8, 8, pitch=150e-6, electrode_radius=40e-6,
                                       sampling_rate=1000.0, noise_rms=1e-5, adc_range=(-1.0, 1.0))
    potato = Potato(electrodes=potato_array, dt=1e-3,
                    tissue=PotatoTissue(cells_per_axis=(10, 10, 3), cell_size=150e-6), random_state=0)
    return {"spiking": spiking, "hydrogel": gel, "potato": potato}


def _columns(array, k):
    chosen = array.select(k, strategy="spread").recording_electrodes
    column = {int(e): i for i, e in enumerate(array.recording_electrodes)}
    return np.array([column[int(e)] for e in chosen])


def main(out_dir=None, full=False):
    start = time.perf_counter()
    n_neurons = 500 if full else 150
    plan = TASKS_FULL if full else TASKS_QUICK
    subs = substrates(n_neurons)
    rows = []
    for name, options in plan:
        options = dict(options)
        task = make_task(name, full=options.pop("full", False), **options)
        row = {"task": name, "metric": task.metric, "greater_is_better": task.greater_is_better,
               "n_steps": task.n_steps}
        for label, substrate in subs.items():
            t0 = time.perf_counter()
            recording = task.run(substrate, random_state=1)
            for k in (8, 64):
                row[f"{label}_{k}"] = float(task.score(recording, channels=_columns(substrate.electrodes, k)))
            row[f"{label}_seconds"] = time.perf_counter() - t0
            del recording
        row["esn"] = float(task.esn_score(n_neurons, random_state=1))
        row["published"] = PUBLISHED.get(name, ("", ""))[0]
        rows.append(row)
        print(" | ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              flush=True)
    header = ("| task | metric | spiking 8 | spiking 64 | hydrogel 8 | hydrogel 64 | potato 8 | "
              f"potato 64 | ESN {n_neurons} | published |")
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        arrow = "higher better" if r["greater_is_better"] else "lower better"
        cells = [f"{r[f'{s}_{k}']:.3f}" for s in ("spiking", "hydrogel", "potato") for k in (8, 64)]
        lines.append(f"| {r['task']} | {r['metric']} ({arrow}) | " + " | ".join(cells)
                     + f" | {r['esn']:.3f} | {r['published']} |")
    table = "\n".join(lines)
    print(table)
    print(f"total {time.perf_counter() - start:.0f} s")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "task_table.json").write_text(json.dumps({"full": full, "n_neurons": n_neurons,
                                                         "rows": rows}, indent=2))
        (out / "task_table.md").write_text(table + "\n")
    return rows


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0] if args else None, full="--full" in sys.argv)
