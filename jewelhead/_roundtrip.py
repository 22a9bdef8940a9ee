"""``jewelhead roundtrip CONFIG.toml``: digital -> analog -> digital, with its loss budget."""

from __future__ import annotations

import json
from pathlib import Path

from jewelhead._config import read_toml, refuse_unknown

__all__ = ["ROUNDTRIP_DEMO", "load_roundtrip_config", "run_roundtrip"]

ROUNDTRIP_DEMO = """\
# A JapaneseVowels speaker classifier written into a phase-change-memory crossbar and
# distilled back into a linear student from 400 query vectors.
seed = 0
output = "jewelhead-roundtrip"

[roundtrip]
substrate = "crossbar"
task = "japanese_vowels"
pairs_per_weight = 2      # differential pairs per weight, of descending significance
verify_iterations = 3     # program-and-verify passes
reads_per_input = 32      # reads averaged per input vector
n_queries = 400           # distillation query vectors (the model has 225 unknowns)
n_levels = 0              # 0: analog devices
stuck_fraction = 0.0
age = 0.0                 # s between programming and use (drift)
drift_compensation = false
"""

_TOP = {"seed", "output", "roundtrip"}
_ROUNDTRIP = {"substrate", "task", "pairs_per_weight", "verify_iterations", "reads_per_input", "n_queries", "n_levels",
              "stuck_fraction", "age", "drift_compensation"}


def load_roundtrip_config(source) -> dict:
    """Parse and check a round-trip config (TOML path or text); unknown keys refused by name."""
    cfg = read_toml(source)
    refuse_unknown(cfg, _TOP, "top level")
    section = cfg.get("roundtrip", {})
    refuse_unknown(section, _ROUNDTRIP, "roundtrip")
    if section.get("substrate", "crossbar") != "crossbar":
        raise ValueError(f"roundtrip.substrate must be 'crossbar', got {section['substrate']!r}")
    if section.get("task", "japanese_vowels") != "japanese_vowels":
        raise ValueError(f"roundtrip.task must be 'japanese_vowels', got {section['task']!r}")
    return cfg


def run_roundtrip(config=ROUNDTRIP_DEMO, output=None) -> dict:
    """Run a round-trip config; write roundtrip.json and roundtrip.png.

    Returns
    -------
    dict with "json" and "png" (paths) and "result" (:meth:`RoundTripResult.to_dict`).
    """
    from distill._roundtrip import crossbar_round_trip
    from jewelhead._plots import plot_round_trip

    cfg = load_roundtrip_config(config)
    section = dict(cfg.get("roundtrip", {}))
    section.pop("substrate", None)
    section.pop("task", None)
    if section.get("n_levels", 0) == 0:
        section["n_levels"] = None
    out = Path(output or cfg.get("output", "jewelhead-roundtrip"))
    out.mkdir(parents=True, exist_ok=True)
    result = crossbar_round_trip(random_state=cfg.get("seed", 0), **section)
    payload = result.to_dict()
    from jewelhead.cli import _version

    payload["config"] = cfg | {"resolved": payload["config"]}
    payload["seed"] = cfg.get("seed", 0)
    payload["jewelhead_version"] = _version()
    paths = {"json": out / "roundtrip.json", "png": out / "roundtrip.png"}
    paths["json"].write_text(json.dumps(payload, indent=2, default=float))
    plot_round_trip(result, paths["png"])
    return {k: str(v) for k, v in paths.items()} | {"result": payload}
