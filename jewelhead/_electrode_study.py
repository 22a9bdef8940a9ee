"""``jewelhead compare-electrodes CONFIG.toml``: the electrode-count study from a config.

Counts above a substrate's recording electrodes are skipped for that substrate (a
16-electrode gel has no 60-electrode point). Every (substrate, seed) point is one task on
Dask (``[study] scheduler``: ``"local"``, the default, starts a local cluster of one
single-threaded worker process per core; an address such as ``"tcp://10.0.0.5:8786"``
uses a running scheduler; ``"serial"`` runs the points one after another in this
process). A worker builds its substrate and task from the config itself, so only the
config travels. Each finished point is appended at once to ``points.jsonl`` in the output
directory; a rerun with the same config skips the points already there, so an interrupted
study resumes where it stopped. The table (CSV), the full result (JSON) and a plot of
score against electrode count (PNG) are written at the end. Every point is seeded by its
config alone, so the results do not depend on the scheduler or on the order points finish.
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
_STUDY = {"task", "counts", "seeds", "strategy", "esn_units", "hidden_state", "task_options",
          "scheduler"}
_POINT_KEYS = ("task", "metric", "greater_is_better", "strategy", "rows")


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


def _study_point(cfg, name, seed) -> dict:
    """One (substrate, seed) point of a study config: the record written to points.jsonl.

    Builds the substrate and the task from ``cfg`` (so a Dask worker needs only the
    config) and runs :func:`readout.compare_electrodes` for that seed.
    """
    from readout import compare_electrodes, make_task

    study_cfg = cfg["study"]
    section = cfg["substrates"][name]
    task = make_task(study_cfg["task"], **study_cfg.get("task_options", {}))
    substrate = build_substrate(section["substrate"], build_electrodes(section["electrodes"]),
                                cfg.get("seed", 0))
    counts = [c for c in study_cfg["counts"] if c <= substrate.electrodes.n_recording]
    part = compare_electrodes(substrate, task, counts, [seed], study_cfg.get("strategy", "random"),
                              hidden_state=bool(study_cfg.get("hidden_state", True)),
                              progress=False)
    return {"substrate": name, "seed": seed} | {k: getattr(part, k) for k in _POINT_KEYS}


def _check_scheduler(scheduler):
    if scheduler in ("local", "serial") or (isinstance(scheduler, str) and "://" in scheduler):
        return scheduler
    raise ValueError(f"study.scheduler must be 'local', 'serial' or a Dask scheduler address such "
                     f"as 'tcp://host:8786', got {scheduler!r}")


def _client(scheduler):
    """A Dask client for ``scheduler`` ("local" or an address), or None for "serial"."""
    if scheduler == "serial":
        return None
    from distributed import Client, LocalCluster

    if scheduler == "local":
        import os

        # one single-threaded process per core; the workers' simulators get one thread
        # too (a large spiking network would otherwise put a spinning thread per core
        # into every worker)
        cluster = LocalCluster(n_workers=max(1, os.cpu_count() or 1), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        return Client(cluster)
    return Client(scheduler)


def _run_points(cfg, pending, points_path, scheduler, progress):
    """Run the pending (substrate, seed) points, appending each record to points.jsonl as it finishes."""
    if not pending:
        return {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), unit="point", desc="electrode study", leave=False)
    finished = {}

    def keep(record):
        with points_path.open("a") as fh:  # one line per finished point, at once
            fh.write(json.dumps(record) + "\n")
        finished[(record["substrate"], record["seed"])] = record
        if bar is not None:
            bar.update()

    client = _client(scheduler)
    try:
        if client is None:
            for name, seed in pending:
                keep(_study_point(cfg, name, seed))
        else:
            from distributed import as_completed

            futures = [client.submit(_study_point, cfg, name, seed, pure=False)
                       for name, seed in pending]
            for future in as_completed(futures):
                keep(future.result())
    finally:
        if client is not None:
            cluster = client.cluster if scheduler == "local" else None
            client.close()
            if cluster is not None:
                cluster.close()
        if bar is not None:
            bar.close()
    return finished


def run_study(config, output=None, *, progress=True, scheduler=None) -> dict:
    """Run an electrode-count study config; returns the written paths and the results.

    Parameters
    ----------
    config : str or Path
        A TOML path or TOML text.
    output : str or Path, optional
        Output directory (default: the config's ``output``).
    progress : bool
        Show a progress bar over the points.
    scheduler : str, optional
        Overrides the config's ``[study] scheduler``: ``"local"`` (default), ``"serial"``
        or a Dask scheduler address.

    Returns
    -------
    dict with "csv", "json", "png", "points" (paths) and "results" (one dict per
    substrate, as :meth:`readout.ElectrodeStudy.to_dict`).
    """
    from jewelhead._plots import plot_electrode_study
    from readout import ElectrodeStudy, make_task

    cfg = load_study_config(config)
    study_cfg = cfg["study"]
    scheduler = _check_scheduler(scheduler or study_cfg.get("scheduler", "local"))
    out = Path(output or cfg.get("output", "jewelhead-electrodes"))
    out.mkdir(parents=True, exist_ok=True)
    task = make_task(study_cfg["task"], **study_cfg.get("task_options", {}))
    seeds = study_cfg.get("seeds", [cfg.get("seed", 0)])
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    esn_units = int(study_cfg.get("esn_units", 0)) or None
    for name, section in cfg["substrates"].items():  # named errors before any work
        n_recording = build_electrodes(section["electrodes"]).n_recording
        if not any(c <= n_recording for c in study_cfg["counts"]):
            raise ValueError(f"[substrates.{name}] records only {n_recording} electrodes: every "
                             f"count in {study_cfg['counts']} exceeds it")
    points_path = out / "points.jsonl"
    done = _done_points(points_path)
    pending = [(name, seed) for name in cfg["substrates"] for seed in seeds if (name, seed) not in done]
    done |= _run_points(cfg, pending, points_path, scheduler, progress)

    results = []
    esn_score = None
    for name in cfg["substrates"]:
        merged = None
        for seed in seeds:  # in config order, whatever order the points finished in
            part = ElectrodeStudy(**{k: done[(name, seed)][k] for k in ("substrate", *_POINT_KEYS)})
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
