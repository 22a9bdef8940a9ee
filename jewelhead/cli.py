"""The ``jewelhead`` command line: ``demo`` and ``simulate CONFIG.toml``."""

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
from jewelhead._plots import plot_raster, plot_traces

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
    dict of written paths: "recording" (.npz), "raster" and "traces" (.png), "summary" (.json).
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
    plot_raster(recording, paths["raster"])
    plot_traces(recording, paths["traces"], window=(0.0, min(duration, 1.0)))
    summary = {
        "duration_s": duration,
        "n_channels": recording.n_channels,
        "detected_spikes": int(recording.spike_times.size),
        "simulation_wall_time_s": elapsed,
        "seed": seed,
        "jewelhead_version": _version(),
    }
    if recording.hidden_state is not None:
        n = substrate.n_neurons
        summary["true_spikes"] = int(recording.hidden_state["spike_times"].size)
        summary["mean_rate_hz"] = summary["true_spikes"] / (n * duration)
    paths["summary"].write_text(json.dumps(summary, indent=2))
    return {k: str(v) for k, v in paths.items()} | {"summary_data": summary}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jewelhead", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate the default organoid on a 60-electrode MEA")
    demo.add_argument("--output", "-o", default=None, help="output directory")
    sim = sub.add_parser("simulate", help="run a TOML config")
    sim.add_argument("config", help="path to a TOML config (see examples/)")
    sim.add_argument("--output", "-o", default=None, help="output directory")
    for p in (demo, sim):
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    config = DEMO_CONFIG if args.command == "demo" else args.config
    try:
        result = simulate(config, args.output, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"jewelhead: error: {exc}", file=sys.stderr)
        return 2
    s = result["summary_data"]
    print(f"recorded {s['n_channels']} channels for {s['duration_s']} s: "
          f"{s['detected_spikes']} detected spikes"
          + (f", {s['true_spikes']} true spikes ({s['mean_rate_hz']:.2f} Hz per neuron)"
             if "true_spikes" in s else ""))
    for key in ("recording", "raster", "traces", "summary"):
        print(f"  {key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
