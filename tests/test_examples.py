"""Every script and config in examples/ runs on its small default."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_script_runs(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path)])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert capsys.readouterr().out.strip(), "an example should report what it found"


@pytest.mark.parametrize("config", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_config_runs(config, tmp_path):
    from jewelhead import simulate

    text = (EXAMPLES / config).read_text()
    if "[study]" in text:  # an electrode-count study: its own command, run small here
        from jewelhead._electrode_study import load_study_config, run_study

        cfg = load_study_config(text)
        small = text.replace(f"seeds = {cfg['study'].get('seeds')}", "seeds = [0]")
        for key, value in cfg["study"].get("task_options", {}).items():
            if key in ("n_train", "n_test") and isinstance(value, int):
                small = small.replace(f"{key} = {value}", f"{key} = {min(value, 150 if key == 'n_train' else 60)}")
        result = run_study(small, tmp_path, progress=False)
        assert Path(result["png"]).stat().st_size > 0
        return
    # the configs' own durations are for people; 0.2 s exercises the same path
    lines = [("duration = 0.2" if line.startswith("duration") else line) for line in text.splitlines()]
    result = simulate("\n".join(lines) + "\n", tmp_path, progress=False)
    assert Path(result["recording"]).stat().st_size > 0
