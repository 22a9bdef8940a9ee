"""Benchmark tasks on a small spiking network, beside an echo state network of the same size.

Runs three short tasks (memory capacity, NARMA10, Japanese-vowels speaker identification
on the organoid study's 8-speaker subset) on a 200-neuron network on a 60-electrode MEA:
each task's inputs are encoded onto spread stimulating electrodes with the network's own
encoding, every electrode is recorded, one feature row per input step is read out by ridge
regression (or a ridge classifier), and the test score is set beside that of a
reservoirpy echo state network with as many units as the array has recording electrodes,
run on the same inputs with the same readout. Small sizes, for speed; each task's
``full()`` gives the study's sizes.

    python examples/readout_tasks.py [OUTPUT_DIR]

Writes ``readout_tasks.json`` (the table) to OUTPUT_DIR when one is given.
"""

import json
import sys
import time
from pathlib import Path

from readout import NARMA10, JapaneseVowels, MemoryCapacity
from substrates import ElectrodeArray, SpikingNetwork


def main(out_dir=None):
    network = SpikingNetwork(200, electrodes=ElectrodeArray.mea60(), random_state=0)
    n_units = network.electrodes.n_recording  # an ESN as large as the electrode count
    tasks = [
        MemoryCapacity(n_train=250, n_test=150, max_delay=5, warmup=10),
        NARMA10(n_train=250, n_test=150, warmup=20),
        JapaneseVowels(subset=True, n_train=4, n_test=2),
    ]
    rows = []
    print(f"{'task':<24}{'metric':<17}{'better':>7}{'network':>10}{'ESN ' + str(n_units):>10}"
          f"{'steps':>7}{'wall s':>8}")
    for task in tasks:
        start = time.perf_counter()
        score = task.evaluate(network, random_state=1)
        esn = task.esn_score(n_units, random_state=1)
        wall = time.perf_counter() - start
        better = "higher" if task.greater_is_better else "lower"
        print(f"{task.name:<24}{task.metric:<17}{better:>7}{score:>10.3f}{esn:>10.3f}"
              f"{task.n_steps:>7}{wall:>8.1f}")
        rows.append({"task": task.name, "params": repr(task), "metric": task.metric,
                     "greater_is_better": task.greater_is_better, "network": score,
                     "esn": esn, "esn_units": n_units, "n_steps": task.n_steps})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "readout_tasks.json").write_text(json.dumps(rows, indent=2))
        print(f"saved {out / 'readout_tasks.json'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
