"""``jewelhead compare-electrodes CONFIG.toml``: the electrode-count study from a config.

Counts above a substrate's recording electrodes are skipped for that substrate (a
16-electrode gel has no 60-electrode point). Each finished (substrate, seed) point is appended at once to ``points.jsonl`` in the
output directory; a rerun with the same config skips the points already there, so an
interrupted study resumes where it stopped. The table (CSV), the full result (JSON) and a
plot of score against electrode count (PNG) are written at the end.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

from jewelhead._config import (
    build_electrodes,
    build_substrate,
    read_toml,
    refuse_unknown,
)

__all__ = ["load_study_config", "run_study"]

_TOP = {"seed", "output", "study", "substrates"}
_STUDY = {"task", "counts", "seeds", "strategy", "esn_units", "hidden_state", "task_options"}


def load_study_config(source) -> dict:
    """Parse and check a study config (a TOML path or TOML text); unknown keys are refused by name."""
    cfg = read_toml(source)
    refuse_unknown(cfg, _TOP, "top level")
    if "study" not in cfg or "substrates" not in cfg:
        raise ValueError("a study config needs a [study] section and at least one [substrates.NAME]")
    refuse_unknown(cfg["study"], _STUDY, "study")
    if "task" not in cfg["study"] or "counts" not in cfg["study"]:
        raise ValueError("[study] needs task and counts")
    if not cfg["substrates"]:
        raise ValueError("[substrates] must name at least one substrate, e.g. [substrates.organoid]")
    for name, section in cfg["substrates"].items():
        refuse_unknown(section, {"electrodes", "substrate"}, f"substrates.{name}")
        for key in ("electrodes", "substrate"):
            if key not in section:
                raise ValueError(f"[substrates.{name}] needs an [substrates.{name}.{key}] section")
    return copy.deepcopy(cfg)


def _done_points(path):
    """(substrate, seed) -> rows already finished, from points.jsonl (a torn last line is dropped)."""
    done = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            point = json.loads(line)
        except json.JSONDecodeError:
            continue  # an interrupted write: that point reruns
        done[(point["substrate"], point["seed"])] = point
    return done


def run_study(config, output=None, *, progress=True) -> dict:
    """Run an electrode-count study config; returns the written paths and the results.

    Returns
    -------
    dict with "csv", "json", "png", "points" (paths) and "results" (one dict per
    substrate, as :meth:`readout.ElectrodeStudy.to_dict`).
    """
    from jewelhead._plots import plot_electrode_study
    from readout import ElectrodeStudy, compare_electrodes, make_task

    cfg = load_study_config(config)
    study_cfg = cfg["study"]
    out = Path(output or cfg.get("output", "jewelhead-electrodes"))
    out.mkdir(parents=True, exist_ok=True)
    task = make_task(study_cfg["task"], **study_cfg.get("task_options", {}))
    seeds = study_cfg.get("seeds", [cfg.get("seed", 0)])
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    esn_units = int(study_cfg.get("esn_units", 0)) or None
    points_path = out / "points.jsonl"
    done = _done_points(points_path)
    results = []
    esn_score = None
    for name, section in cfg["substrates"].items():
        array = build_electrodes(section["electrodes"])
        substrate = build_substrate(section["substrate"], array, cfg.get("seed", 0))
        n_recording = substrate.electrodes.n_recording
        counts = [c for c in study_cfg["counts"] if c <= n_recording]
        if not counts:
            raise ValueError(f"[substrates.{name}] records only {n_recording} electrodes: every "
                             f"count in {study_cfg['counts']} exceeds it")
        merged = None
        for seed in seeds:
            if (name, seed) in done:
                part = ElectrodeStudy(**{k: done[(name, seed)][k] for k in (
                    "substrate", "task", "metric", "greater_is_better", "strategy", "rows")})
            else:
                part = compare_electrodes(substrate, task, counts, [seed],
                                          study_cfg.get("strategy", "random"),
                                          hidden_state=bool(study_cfg.get("hidden_state", True)),
                                          progress=progress)
                record = {"substrate": name, "seed": seed} | {
                    k: getattr(part, k) for k in ("task", "metric", "greater_is_better", "strategy",
                                                  "rows")}
                with points_path.open("a") as fh:  # one line per finished point, at once
                    fh.write(json.dumps(record) + "\n")
            if merged is None:
                merged = part
                merged.substrate = name
            else:
                merged.rows.extend(part.rows)
        if esn_units and esn_score is None:
            esn_score = float(task.esn_score(esn_units, random_state=seeds[0]))
        merged.esn_score = esn_score
        results.append(merged)

    paths = {"csv": out / "electrodes.csv", "json": out / "electrodes.json",
             "png": out / "electrodes.png", "points": points_path}
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["substrate", "task", "metric", "count", "seed", "score", "hidden_r2"])
        for r in results:
            for row in r.rows:
                writer.writerow([r.substrate, r.task, r.metric, row["count"], row["seed"],
                                 row["score"], "" if math.isnan(row["hidden_r2"]) else row["hidden_r2"]])
    payload = {"config": cfg, "results": [r.to_dict() for r in results]}
    from jewelhead.cli import _version

    payload["jewelhead_version"] = _version()
    paths["json"].write_text(json.dumps(payload, indent=2, default=float))
    plot_electrode_study(results, paths["png"])
    return {k: str(v) for k, v in paths.items()} | {"results": payload["results"]}
