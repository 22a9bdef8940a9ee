"""The jewelhead command line and its configs."""

import json

import numpy as np
import pytest

from jewelhead import DEMO_CONFIG, load_config, main, simulate
from substrates import Recording

SHORT = DEMO_CONFIG.replace("duration = 2.0", "duration = 0.3").replace("n_neurons = 3000", "n_neurons = 300")


def test_simulate_writes_recording_pictures_and_summary(tmp_path):
    result = simulate(SHORT, tmp_path, progress=False)
    rec = Recording.load(result["recording"])
    assert rec.n_channels == 60
    assert rec.n_samples == int(round(0.3 * 25_000)) or rec.duration == pytest.approx(0.3)
    # the result carries its config, seed and version
    assert rec.metadata["seed"] == 1
    assert rec.metadata["config"]["substrate"]["n_neurons"] == 300
    assert "jewelhead_version" in rec.metadata
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["true_spikes"] == rec.hidden_state["spike_times"].size
    assert summary["detected_spikes"] == rec.spike_times.size
    for name in ("raster.png", "traces.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_same_config_same_bits(tmp_path):
    a = Recording.load(simulate(SHORT, tmp_path / "a", progress=False)["recording"])
    b = Recording.load(simulate(SHORT, tmp_path / "b", progress=False)["recording"])
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (("seed = 1", "seed = 1\nsede = 2"), "sede"),
        (("[substrate.tissue]", "[substrate.tissue]\nradius = 1.0"), "radius"),
        (("n_neurons = 300", "n_neurons = 300\nneurons = 5"), "neurons"),
        (("hidden = true", "hidden = true\nvoltages = true"), "voltages"),
        (("layout = \"mea60\"", "layout = \"mea61\""), "layout"),
        (("size = 2.0e-3 ", "size = 0.5e-3 "), "outside the tissue"),
    ],
)
def test_bad_config_names_the_key(tmp_path, edit, fragment, capsys):
    text = SHORT.replace(*edit)
    assert text != SHORT
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["simulate", str(path), "--no-progress", "-o", str(tmp_path / "out")]) == 2
    assert fragment in capsys.readouterr().err


def test_missing_config_file_is_reported(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_example_configs_parse():
    from pathlib import Path

    from jewelhead._config import _SUBSTRATE_BUILDERS

    for path in sorted(Path(__file__).parents[2].joinpath("examples").glob("*.toml")):
        if "[study]" in path.read_text() or "[roundtrip]" in path.read_text():
            continue  # study and round-trip configs have their own loaders and tests
        cfg = load_config(path)
        assert cfg["substrate"]["type"] in _SUBSTRATE_BUILDERS


def test_roundtrip_command_writes_budget_and_picture(tmp_path, capsys):
    from jewelhead._roundtrip import ROUNDTRIP_DEMO

    path = tmp_path / "rt.toml"
    path.write_text(ROUNDTRIP_DEMO.replace("reads_per_input = 32", "reads_per_input = 2"))
    assert main(["roundtrip", str(path), "-o", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "roundtrip.json").read_text())
    b = result["loss_budget"]
    assert b["sum"] == pytest.approx(b["compile"] + b["observation"] + b["distillation"])
    assert result["seed"] == 0 and "jewelhead_version" in result
    assert result["config"]["roundtrip"]["reads_per_input"] == 2
    assert (tmp_path / "out" / "roundtrip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "loss budget" in capsys.readouterr().out


def test_roundtrip_config_refuses_unknown_keys(tmp_path, capsys):
    from jewelhead._roundtrip import ROUNDTRIP_DEMO

    path = tmp_path / "rt.toml"
    path.write_text(ROUNDTRIP_DEMO.replace("age = 0.0", "age = 0.0\nvintage = 1"))
    assert main(["roundtrip", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "vintage" in capsys.readouterr().err
