"""The crossbar round trip over many chips: agreement, drift and the loss budget.

Usage: python examples/crossbar_round_trip.py [output_dir] [--seeds N]

A JapaneseVowels speaker classifier (25 inputs, 9 speakers) is compiled into fresh PCM
crossbars (one chip per seed), read right after programming and after one day of drift
(without and with global drift compensation), and distilled back into a linear student
(:func:`distill.crossbar_round_trip`). Done with one differential pair per weight and
with two pairs of descending significance. Prints, per setting, the mean and the worst
agreement with the digital model over the chips, the accuracies and the loss budget's
closure, and writes ``crossbar_round_trip.json`` to ``output_dir`` (default: the current
directory). The small default is 2 chips; the README quotes ``--seeds 20``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from distill import crossbar_round_trip

DAY = 86_400.0  # s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", default=".")
    parser.add_argument("--seeds", type=int, default=2, help="chips per setting (default 2)")
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    settings = {
        "1 pair, fresh": dict(pairs_per_weight=1),
        "2 pairs, fresh": dict(pairs_per_weight=2),
        "2 pairs, 1 day": dict(pairs_per_weight=2, age=DAY),
        "2 pairs, 1 day, compensated": dict(pairs_per_weight=2, age=DAY, drift_compensation=True),
    }
    rows = {}
    print(f"JapaneseVowels classifier -> PCM crossbar -> linear student, chips (seeds) 0..{args.seeds - 1}")
    print(f"{'setting':30s} {'agree mean':>10s} {'agree min':>9s} {'acc digital':>11s} "
          f"{'acc substrate':>13s} {'acc student':>11s} {'compile':>9s} {'closure':>13s}")
    for name, options in settings.items():
        results = [crossbar_round_trip(random_state=seed, **options) for seed in range(args.seeds)]
        agree = np.array([r.agreement["substrate_vs_digital"] for r in results])
        closure = np.array([r.loss_budget["closure"] for r in results])
        row = {
            "agreement_mean": float(agree.mean()), "agreement_min": float(agree.min()),
            "agreement": agree.tolist(),
            "accuracy": {k: float(np.mean([r.accuracy[k] for r in results]))
                         for k in ("digital", "substrate", "student")},
            "compile_loss_mean": float(np.mean([r.loss_budget["compile"] for r in results])),
            "closure_range": [float(closure.min()), float(closure.max())],
            "options": options,
        }
        rows[name] = row
        acc = row["accuracy"]
        print(f"{name:30s} {row['agreement_mean']:10.4f} {row['agreement_min']:9.4f} "
              f"{acc['digital']:11.3f} {acc['substrate']:13.3f} {acc['student']:11.3f} "
              f"{row['compile_loss_mean']:9.2e} {closure.min():6.3f}-{closure.max():.3f}")
    path = out / "crossbar_round_trip.json"
    path.write_text(json.dumps({"seeds": list(range(args.seeds)), "settings": rows}, indent=1))
    print(f"written {path}")
    return rows


if __name__ == "__main__":
    main()
