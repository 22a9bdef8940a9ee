"""The ``jewelhead`` command line: ``demo``, ``simulate CONFIG.toml``, ``compare-electrodes CONFIG.toml``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jewelhead._config import (
    DEMO_CONFIG,
    build_electrodes,
    build_stimulus,
    build_substrate,
    load_config,
    refuse_unknown,
)
from jewelhead._plots import plot_raster, plot_snapshots, plot_traces

__all__ = ["main", "simulate"]


def _version():
    try:
        return version("jewelhead")
    except PackageNotFoundError:
        return "unknown"


def simulate(config, output=None, *, progress=True) -> dict:
    """Run one config: build the array, the substrate and the stimulus, record, plot.

    Parameters
    ----------
    config : path to a TOML file, or TOML text
    output : directory for the results (default: the config's ``output``)
    progress : show a progress bar

    Returns
    -------
    dict of written paths: "recording" (.npz), "traces" (.png), "raster" (.png, where the
    substrate spikes), "snapshots" (.png, where the hidden state is a field over cells),
    "summary" (.json).
    """
    cfg = load_config(config)
    out = Path(output or cfg.get("output", "jewelhead-out"))
    out.mkdir(parents=True, exist_ok=True)
    seed = cfg.get("seed", 0)
    duration = float(cfg.get("duration", 1.0))
    record = dict(cfg.get("record", {}))
    refuse_unknown(record, {"hidden", "hidden_sampling_rate"}, "record")
    array = build_electrodes(cfg["electrodes"])
    substrate = build_substrate(cfg["substrate"], array, seed)
    stimulus = build_stimulus(cfg.get("stimulus"), array.n_stimulating, duration, substrate.dt)
    started = time.perf_counter()
    recording = substrate.run(
        stimulus, duration=duration,
        record_hidden=bool(record.get("hidden", False)),
        hidden_sampling_rate=float(record.get("hidden_sampling_rate", 1000.0)),
        progress=progress,
    )
    elapsed = time.perf_counter() - started
    recording.metadata.update({"config": cfg, "seed": seed, "jewelhead_version": _version()})
    paths = {
        "recording": out / "recording.npz",
        "raster": out / "raster.png",
        "traces": out / "traces.png",
        "summary": out / "summary.json",
    }
    recording.save(paths["recording"])
    if recording.has_spikes:
        plot_raster(recording, paths["raster"])
    else:
        del paths["raster"]
    plot_traces(recording, paths["traces"], window=(0.0, min(duration, 1.0)))
    hidden = recording.hidden_state or {}
    if "cell_positions" in hidden:  # a field over cells (the gel's ions): snapshots
        key = next(k for k in substrate.hidden_state_keys if k in hidden)
        paths["snapshots"] = out / "snapshots.png"
        plot_snapshots(recording, key, paths["snapshots"])
    summary = {
        "duration_s": duration,
        "n_channels": recording.n_channels,
        "detected_spikes": int(recording.spike_times.size),
        "simulation_wall_time_s": elapsed,
        "seed": seed,
        "jewelhead_version": _version(),
    }
    if recording.hidden_state is not None and "spike_times" in recording.hidden_state:
        n = substrate.n_neurons
        summary["true_spikes"] = int(recording.hidden_state["spike_times"].size)
        summary["mean_rate_hz"] = summary["true_spikes"] / (n * duration)
    paths["summary"].write_text(json.dumps(summary, indent=2))
    return {k: str(v) for k, v in paths.items()} | {"summary_data": summary}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jewelhead", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate the default organoid on a 60-electrode MEA, "
                          "then a small crossbar round trip")
    demo.add_argument("--output", "-o", default=None, help="output directory")
    sim = sub.add_parser("simulate", help="run a TOML config")
    sim.add_argument("config", help="path to a TOML config (see examples/)")
    sim.add_argument("--output", "-o", default=None, help="output directory")
    trip = sub.add_parser("roundtrip", help="compile a digital model into a substrate and distil it back")
    trip.add_argument("config", nargs="?", default=None,
                      help="path to a round-trip TOML config (default: the demo round trip)")
    trip.add_argument("--output", "-o", default=None, help="output directory")
    study = sub.add_parser("compare-electrodes",
                           help="score a task against electrode count on one or more substrates")
    study.add_argument("config", help="path to a study TOML config (see examples/electrode_study.toml)")
    study.add_argument("--output", "-o", default=None, help="output directory")
    study.add_argument("--scheduler", default=None,
                       help="where the points run: 'local' (a local Dask cluster, the default), "
                            "'serial' (this process) or a Dask scheduler address (tcp://host:8786); "
                            "overrides the config's [study] scheduler")
    for p in (demo, sim, study, trip):
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        if args.command == "roundtrip":
            from jewelhead._roundtrip import ROUNDTRIP_DEMO, run_roundtrip

            return _report_roundtrip(run_roundtrip(args.config or ROUNDTRIP_DEMO, args.output))
        if args.command == "compare-electrodes":
            from jewelhead._electrode_study import run_study

            return _report_study(run_study(args.config, args.output, progress=not args.no_progress,
                                           scheduler=args.scheduler))
        config = DEMO_CONFIG if args.command == "demo" else args.config
        result = simulate(config, args.output, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"jewelhead: error: {exc}", file=sys.stderr)
        return 2
    s = result["summary_data"]
    print(f"recorded {s['n_channels']} channels for {s['duration_s']} s"
          + (f": {s['detected_spikes']} detected spikes" if "raster" in result else "")
          + (f", {s['true_spikes']} true spikes ({s['mean_rate_hz']:.2f} Hz per neuron)"
             if "true_spikes" in s else ""))
    for key in ("recording", "raster", "traces", "snapshots", "summary"):
        if key in result:
            print(f"  {key}: {result[key]}")
    if args.command == "demo":  # the main job also closes a small round trip
        from jewelhead._roundtrip import ROUNDTRIP_DEMO, run_roundtrip

        out = Path(result["summary"]).parent / "roundtrip"
        return _report_roundtrip(run_roundtrip(ROUNDTRIP_DEMO, out))
    return 0


def _report_roundtrip(result) -> int:
    r = result["result"]
    acc = ", ".join(f"{k} {v:.3f}" for k, v in r["accuracy"].items())
    agree = ", ".join(f"{k} {v:.3f}" for k, v in r["agreement"].items())
    b = r["loss_budget"]
    print(f"round trip: accuracy {acc}")
    print(f"  agreement: {agree}")
    print(f"  loss budget (normalised MSE): compile {b['compile']:.4g} + observation "
          f"{b['observation']:.4g} + distillation {b['distillation']:.4g} = {b['sum']:.4g}; "
          f"measured end to end {b['end_to_end']:.4g} (closure {b['closure']:.3f})")
    for key in ("json", "png"):
        print(f"  {key}: {result[key]}")
    return 0


def _report_study(result) -> int:
    for r in result["results"]:
        s = r["summary"]
        cells = ", ".join(f"{c}: {m:.3g}" for c, m in zip(s["count"], s["score_mean"]))
        esn = "" if r["esn_score"] is None else f"; ESN baseline {r['esn_score']:.3g}"
        print(f"{r['substrate']} {r['task']} {r['metric']} by electrodes: {cells}; E90 = {r['e90']}{esn}")
    for key in ("csv", "json", "png", "points"):
        print(f"  {key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
