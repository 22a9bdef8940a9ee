"""Recording: validation, exact save/load, corrupt files, NWB and SpikeInterface export,
and the threshold spike detector against planted spikes and a plain-loop reference."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import norm

from substrates import Recording, RecordingFormatError, detect_spikes
from substrates._recording import FORMAT_NAME, FORMAT_VERSION, estimate_noise_levels


# --------------------------------------------------------------------------- helpers


def make_recording(seed=0, n_samples=400, n_channels=5, *, spikes=True, hidden=True, unit="V"):
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1e-5, (n_samples, n_channels))
    fs = 20_000.0
    kwargs = {}
    if spikes:
        t = np.sort(rng.integers(0, n_samples, 7)) / fs
        c = rng.integers(0, n_channels, 7)
        order = np.lexsort((c, t))
        kwargs.update(spike_times=t[order], spike_channels=c[order])
    if hidden:
        n_neurons = 6
        kwargs.update(
            hidden_state={
                "membrane_potential": rng.normal(-0.065, 0.005, (n_samples // 20, n_neurons)),
                "spike_times": np.array([0.0031, 0.0012, 0.0099]),
                "spike_neurons": np.array([4, 0, 4], dtype=np.int32),
                "neuron_positions": rng.uniform(0, 1e-3, (n_neurons, 3)),
                "synaptic_weights": rng.random((n_neurons, n_neurons)).astype(np.float32),
                "connected": rng.random((n_neurons, n_neurons)) < 0.3,
            },
            hidden_sampling_rate=1000.0,
        )
    return Recording(
        data, fs, unit,
        electrode_positions=rng.uniform(0, 1.4e-3, (n_channels, 3)),
        channel_electrodes=np.arange(n_channels) * 3 + 1,
        metadata={"seed": seed, "config": {"network": {"n_neurons": 6}, "tags": ["a", "b"]}},
        **kwargs,
    )


def bits(arr):
    """Raw bytes with dtype and shape: equality means the very same bits."""
    arr = np.asarray(arr)
    return arr.dtype.str, arr.shape, arr.tobytes()


def assert_identical(a: Recording, b: Recording):
    assert a == b
    for name in ("data", "electrode_positions", "channel_electrodes", "spike_times", "spike_channels"):
        assert bits(getattr(a, name)) == bits(getattr(b, name)), name
    assert a.has_spikes == b.has_spikes
    assert a.sampling_rate == b.sampling_rate and a.hidden_sampling_rate == b.hidden_sampling_rate
    assert (a.hidden_state is None) == (b.hidden_state is None)
    if a.hidden_state is not None:
        assert list(a.hidden_state) == list(b.hidden_state)
        for key in a.hidden_state:
            assert bits(a.hidden_state[key]) == bits(b.hidden_state[key]), key
    assert json.dumps(a.metadata) == json.dumps(b.metadata)  # same keys in the same order


# ------------------------------------------------------------------ construction and API


def test_properties_and_metadata_version():
    rec = make_recording(n_samples=400, n_channels=5)
    assert rec.n_samples == 400 and rec.n_channels == 5
    assert rec.duration == 400 / 20_000.0
    np.testing.assert_array_equal(rec.times, np.arange(400) / 20_000.0)
    assert rec.metadata["jewelhead_version"] == importlib.metadata.version("jewelhead")
    assert rec.has_spikes and rec.spike_times.size == 7
    # a version already present is kept, numpy scalars become plain JSON numbers
    other = Recording(np.zeros((3, 1)), 1.0, "V", electrode_positions=np.zeros((1, 3)),
                      metadata={"jewelhead_version": "0.0.1", "seed": np.int64(7)})
    assert other.metadata == {"jewelhead_version": "0.0.1", "seed": 7}
    assert "Recording(n_samples=400, n_channels=5" in repr(rec)


def test_no_spikes_means_not_a_spiking_substrate():
    rec = make_recording(spikes=False, hidden=False, unit="A")
    assert not rec.has_spikes
    assert rec.spike_times.shape == (0,) and rec.spike_channels.shape == (0,)
    assert rec.spike_channels.dtype == np.int64
    with pytest.raises(ValueError, match="has_spikes"):
        rec.spike_counts(0.01)
    # an empty detection on a spiking substrate is different from no detection at all
    empty = Recording(rec.data, rec.sampling_rate, "A", electrode_positions=rec.electrode_positions,
                      channel_electrodes=rec.channel_electrodes, spike_times=[], spike_channels=[])
    assert empty.has_spikes and empty != rec.__class__(
        rec.data, rec.sampling_rate, "A", electrode_positions=rec.electrode_positions,
        channel_electrodes=rec.channel_electrodes, metadata=empty.metadata)


def test_arrays_are_read_only_and_equality_is_by_value():
    rec = make_recording()
    with pytest.raises(ValueError, match="read-only"):
        rec.data[0, 0] = 1.0
    with pytest.raises(TypeError):
        rec.hidden_state["membrane_potential"] = np.zeros((1, 6))
    same = make_recording()
    assert rec == same and rec is not same
    data = np.array(rec.data)
    data[3, 2] = np.nextafter(data[3, 2], 1.0)  # one ulp on one sample
    changed = Recording(data, rec.sampling_rate, rec.unit, electrode_positions=rec.electrode_positions,
                        channel_electrodes=rec.channel_electrodes, spike_times=rec.spike_times,
                        spike_channels=rec.spike_channels, hidden_state=dict(rec.hidden_state),
                        hidden_sampling_rate=rec.hidden_sampling_rate, metadata=rec.metadata)
    assert changed != rec
    same.metadata["note"] = "edited"
    assert same != rec


def test_spike_counts_analytic():
    fs = 1000.0
    times = np.array([0.0, 0.0049, 0.005, 0.005, 0.0149, 0.02])  # 0.02 s = duration: the last bin
    channels = np.array([0, 1, 0, 1, 1, 0])
    rec = Recording(np.zeros((20, 2)), fs, "V", electrode_positions=np.zeros((2, 3)),
                    spike_times=times, spike_channels=channels)
    counts = rec.spike_counts(0.005)
    # 20 ms in 5 ms bins: exactly 4 bins (an exact multiple adds no bin)
    np.testing.assert_array_equal(counts, [[1, 1], [1, 1], [0, 1], [1, 0]])
    assert counts.dtype == np.int64
    # a bin width that does not divide the duration: ceil(20 / 6) = 4 bins, the last one short
    assert rec.spike_counts(0.006).shape == (4, 2)
    assert rec.spike_counts(0.006).sum() == times.size
    with pytest.raises(ValueError, match="bin_width"):
        rec.spike_counts(0.0)


def _base_kwargs():
    return dict(data=np.zeros((10, 2)), sampling_rate=1000.0, unit="V",
                electrode_positions=np.zeros((2, 3)))


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"data": np.array([[0.0, np.nan]] * 10)}, ValueError, "data must be finite"),
        ({"data": np.zeros(10)}, ValueError, "data must be a 2-D"),
        ({"data": np.zeros((10, 0)), "electrode_positions": np.zeros((0, 3))}, ValueError, "n_channels >= 1"),
        ({"data": np.full((10, 2), "a")}, TypeError, "data must be a real numeric"),
        ({"sampling_rate": 0.0}, ValueError, "sampling_rate must be a finite rate > 0"),
        ({"sampling_rate": -5.0}, ValueError, "sampling_rate"),
        ({"sampling_rate": True}, TypeError, "sampling_rate"),
        ({"unit": "mV"}, ValueError, "unit must be 'V'"),
        ({"electrode_positions": np.zeros((3, 3))}, ValueError, r"electrode_positions must have shape \(2, 3\)"),
        ({"electrode_positions": np.zeros((2, 2))}, ValueError, "electrode_positions"),
        ({"channel_electrodes": [0, 0]}, ValueError, "channel_electrodes must be distinct"),
        ({"channel_electrodes": [0, 1, 2]}, ValueError, r"channel_electrodes must have shape \(2,\)"),
        ({"channel_electrodes": [-1, 0]}, ValueError, "channel_electrodes must be >= 0"),
        ({"channel_electrodes": [0.0, 1.0]}, TypeError, "channel_electrodes must be an integer"),
        ({"spike_times": [0.001]}, ValueError, "both be given"),
        ({"spike_times": [0.001], "spike_channels": [2]}, ValueError, r"spike_channels must be in \[0, 2\)"),
        ({"spike_times": [-0.001], "spike_channels": [0]}, ValueError, r"spike_times must lie in \[0"),
        ({"spike_times": [0.5], "spike_channels": [0]}, ValueError, "spike_times must lie in"),
        ({"spike_times": [np.nan], "spike_channels": [0]}, ValueError, "spike_times must be finite"),
        ({"spike_times": [0.002, 0.001], "spike_channels": [0, 0]}, ValueError, "sorted by time then channel"),
        ({"spike_times": [0.001, 0.001], "spike_channels": [1, 0]}, ValueError, "sorted by time then channel"),
        ({"spike_times": [0.001], "spike_channels": [0, 1]}, ValueError, "shape of spike_times"),
        ({"hidden_state": {"not valid": np.zeros(2)}}, ValueError, "identifiers"),
        ({"hidden_state": {"x": np.array([np.inf])}}, ValueError, r"hidden_state\['x'\] must be finite"),
        ({"hidden_state": {"x": np.array(["a"])}}, TypeError, r"hidden_state\['x'\]"),
        ({"hidden_state": {"membrane_potential": np.zeros((3, 2))}}, ValueError, "hidden_sampling_rate"),
        ({"hidden_state": {"spike_times": np.zeros(2)}}, ValueError, "spike_neurons"),
        ({"hidden_state": {"spike_times": np.zeros(2), "spike_neurons": np.array([0, 5]),
                           "neuron_positions": np.zeros((5, 3))}}, ValueError, "spike_neurons'] must be < n_neurons"),
        ({"hidden_state": {"neuron_positions": np.zeros((5, 3)), "membrane_potential": np.zeros((3, 4))},
          "hidden_sampling_rate": 10.0}, ValueError, "same neurons"),
        ({"hidden_sampling_rate": 10.0}, ValueError, "hidden_state is None"),
        ({"hidden_state": [np.zeros(2)]}, TypeError, "hidden_state must be"),
        ({"metadata": {"x": object()}}, ValueError, "metadata must be JSON-serialisable"),
        ({"metadata": {"x": float("nan")}}, ValueError, "metadata must be JSON-serialisable"),
        ({"metadata": [1, 2]}, TypeError, "metadata must be a dict"),
    ],
)
def test_validation_errors_name_the_parameter(change, error, match):
    kwargs = _base_kwargs() | change
    data, fs, unit = kwargs.pop("data"), kwargs.pop("sampling_rate"), kwargs.pop("unit")
    with pytest.raises(error, match=match):
        Recording(data, fs, unit, **kwargs)


# ----------------------------------------------------------------------------- save/load


def test_save_load_round_trip_is_exact(tmp_path):
    rec = make_recording()
    path = tmp_path / "rec.npz"
    rec.save(path)
    back = Recording.load(path)
    assert_identical(rec, back)
    assert back.hidden_state["synaptic_weights"].dtype == np.float32
    assert back.hidden_state["connected"].dtype == np.bool_
    assert back.hidden_state["spike_neurons"].dtype == np.int32
    # the file is plain numpy: no pickles, the format name and version are readable
    with np.load(path, allow_pickle=False) as archive:
        assert str(archive["format"]) == FORMAT_NAME
        assert int(archive["format_version"]) == FORMAT_VERSION == 1
        assert json.loads(str(archive["metadata"]))["seed"] == 0
    assert sorted(os.listdir(tmp_path)) == ["rec.npz"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # permissions as open(path, "w") gives


@pytest.mark.parametrize("spikes, hidden", [(False, False), (True, False), (False, True)])
def test_round_trip_keeps_absence(tmp_path, spikes, hidden):
    rec = make_recording(spikes=spikes, hidden=hidden, unit="A")
    rec.save(tmp_path / "r.npz")
    assert_identical(rec, Recording.load(tmp_path / "r.npz"))
    empty_hidden = Recording(rec.data, rec.sampling_rate, "A", electrode_positions=rec.electrode_positions,
                             hidden_state={})
    empty_hidden.save(tmp_path / "e.npz")
    back = Recording.load(str(tmp_path / "e.npz"))
    assert back.hidden_state is not None and len(back.hidden_state) == 0


finite_float64 = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def recordings(draw):
    n_samples = draw(st.integers(0, 30))
    n_channels = draw(st.integers(1, 5))
    data = draw(hnp.arrays(np.float64, (n_samples, n_channels), elements=finite_float64))
    fs = draw(st.floats(1e-3, 1e6, allow_nan=False))
    positions = draw(hnp.arrays(np.float64, (n_channels, 3), elements=st.floats(-1.0, 1.0)))
    kwargs = {}
    if draw(st.booleans()):
        n_spikes = draw(st.integers(0, 10))
        samples = np.sort(draw(hnp.arrays(np.int64, n_spikes, elements=st.integers(0, max(n_samples - 1, 0)))))
        channels = draw(hnp.arrays(np.int64, n_spikes, elements=st.integers(0, n_channels - 1)))
        order = np.lexsort((channels, samples))
        kwargs.update(spike_times=samples[order] / fs, spike_channels=channels[order])
    if draw(st.booleans()):
        dtype = draw(st.sampled_from([np.float64, np.float32, np.int16, np.uint8, np.bool_]))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        value = draw(hnp.arrays(dtype, shape, elements=None if dtype is np.bool_ else
                                hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False)))
        kwargs.update(hidden_state={"state": value},
                      hidden_sampling_rate=draw(st.none() | st.floats(1e-3, 1e5)))
    metadata = draw(st.dictionaries(st.text(max_size=5), st.integers() | finite_float64 | st.text(max_size=5),
                                    max_size=3))
    return Recording(data, fs, draw(st.sampled_from(["V", "A"])), electrode_positions=positions,
                     metadata=metadata, **kwargs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=recordings())
def test_round_trip_property(rec):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.npz")
        rec.save(path)
        assert_identical(rec, Recording.load(path))


# ---------------------------------------------------------------------------- bad files


def _rewrite(src, dst, **changes):
    with np.load(src, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "wrong_format", "future_version",
                                    "missing_data", "npy", "bad_metadata", "inconsistent"])
def test_bad_files_raise_format_error_naming_the_file(tmp_path, damage):
    good = tmp_path / "good.npz"
    make_recording().save(good)
    bad = tmp_path / f"bad_{damage}.npz"
    raw = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "random":
        bad.write_bytes(np.random.default_rng(1).bytes(len(raw)))
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "wrong_format":
        _rewrite(good, bad, format=np.array("someone.else"))
    elif damage == "future_version":
        _rewrite(good, bad, format_version=np.array(FORMAT_VERSION + 1))
    elif damage == "missing_data":
        _rewrite(good, bad, data=None)
    elif damage == "npy":
        np.save(open(bad, "wb"), np.zeros(3))
    elif damage == "bad_metadata":
        _rewrite(good, bad, metadata=np.array("{not json"))
    elif damage == "inconsistent":
        _rewrite(good, bad, electrode_positions=np.zeros((2, 3)))
    with pytest.raises(RecordingFormatError, match="bad_") as info:
        Recording.load(bad)
    assert str(bad) in str(info.value)
    assert isinstance(info.value, ValueError)
    if damage == "future_version":
        assert "newer" in str(info.value)
    if damage == "wrong_format":
        assert "someone.else" in str(info.value)


def test_every_truncation_is_a_format_error(tmp_path):
    """No prefix of a valid file loads or escapes as another exception type."""
    good = tmp_path / "good.npz"
    make_recording(n_samples=20, n_channels=2).save(good)
    raw = good.read_bytes()
    bad = tmp_path / "cut.npz"
    for n in range(0, len(raw), 3):
        bad.write_bytes(raw[:n])
        with pytest.raises(RecordingFormatError):
            Recording.load(bad)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Recording.load(tmp_path / "nothing.npz")


def test_failed_save_leaves_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "rec.npz"
    old = make_recording(seed=1)
    old.save(path)
    before = path.read_bytes()

    def savez_that_dies(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half of an archive")  # some bytes reach the disk first
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_that_dies)
    with pytest.raises(OSError, match="disk full"):
        make_recording(seed=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert_identical(Recording.load(path), old)
    assert sorted(os.listdir(tmp_path)) == ["rec.npz"]  # the temporary file was removed
    new = make_recording(seed=2)
    new.save(path)  # and a save that succeeds replaces it
    assert_identical(Recording.load(path), new)


# ------------------------------------------------------------------------------------ NWB


def test_nwb_round_trip(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    rec = make_recording(n_samples=400, n_channels=5)
    path = tmp_path / "rec.nwb"
    rec.to_nwb(path)
    assert sorted(os.listdir(tmp_path)) == ["rec.nwb"]
    assert pynwb.validate(path=str(path)) == []  # schema-valid NWB
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time.tzinfo is not None
        assert nwb.identifier == f"jewelhead-{rec.content_hash()[:32]}"
        assert json.loads(nwb.notes) == rec.metadata
        series = nwb.acquisition["ElectricalSeries"]
        assert series.rate == rec.sampling_rate and series.starting_time == 0.0
        assert series.conversion == 1.0 and series.unit == "volts"
        assert bits(series.data[:]) == bits(rec.data)  # float64 volts, untouched
        table = nwb.electrodes.to_dataframe()
        np.testing.assert_array_equal(series.electrodes.data[:], np.arange(5))
        np.testing.assert_array_equal(table.index, rec.channel_electrodes)
        np.testing.assert_array_equal(table["channel_electrode"], rec.channel_electrodes)
        # NWB positions are micrometres: one float64 rounding from the metre values
        for axis, name in enumerate("xyz"):
            np.testing.assert_allclose(table[name], rec.electrode_positions[:, axis] * 1e6, rtol=1e-15)
            np.testing.assert_allclose(table[f"rel_{name}"], rec.electrode_positions[:, axis] * 1e6, rtol=1e-15)
        units = nwb.units.to_dataframe()
        seen = set()
        for _, unit in units.iterrows():
            c = unit["channel"]
            seen.add(c)
            np.testing.assert_array_equal(unit["spike_times"], rec.spike_times[rec.spike_channels == c])
            assert unit["electrodes"].index.tolist() == [rec.channel_electrodes[c]]
        assert seen == set(np.unique(rec.spike_channels).tolist())
        truth = nwb.processing["ground_truth"]
        vm = truth["membrane_potential"]
        assert vm.rate == rec.hidden_sampling_rate and vm.unit == "volts"
        assert bits(vm.data[:]) == bits(rec.hidden_state["membrane_potential"])
        true_units = truth["true_units"].to_dataframe()
        assert len(true_units) == 6
        hidden = rec.hidden_state
        for neuron in range(6):
            expected = np.sort(hidden["spike_times"][hidden["spike_neurons"] == neuron])
            np.testing.assert_array_equal(true_units["spike_times"].iloc[neuron], expected)
            np.testing.assert_array_equal(true_units["neuron_position"].iloc[neuron],
                                          hidden["neuron_positions"][neuron])
        np.testing.assert_array_equal(truth["synaptic_weights"]["value"].data[:], hidden["synaptic_weights"])
    # deterministic identifier: the same content gives the same identifier
    rec.to_nwb(tmp_path / "again.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "again.nwb"), "r") as io:
        assert io.read().identifier == f"jewelhead-{rec.content_hash()[:32]}"


def test_nwb_is_read_by_spikeinterface(tmp_path):
    se = pytest.importorskip("spikeinterface.extractors")
    rec = make_recording(hidden=False)
    rec.to_nwb(tmp_path / "rec.nwb")
    si = se.read_nwb_recording(tmp_path / "rec.nwb")
    assert si.get_sampling_frequency() == rec.sampling_rate
    assert list(si.get_channel_ids()) == [str(e) for e in rec.channel_electrodes]
    # conversion 1 V -> gain 1e6 uV, applied by SpikeInterface in float32: the cast and the
    # product round once each, so two float32 eps
    np.testing.assert_allclose(si.get_traces(return_in_uV=True), rec.data * 1e6,
                               rtol=2 * np.finfo(np.float32).eps)
    np.testing.assert_allclose(si.get_channel_locations(), rec.electrode_positions[:, :2] * 1e6, rtol=1e-15)


def test_nwb_current_recording_and_session_time(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    rec = make_recording(spikes=False, hidden=False, unit="A")
    rec.metadata["session_start_time"] = "2024-05-01T12:30:00+02:00"
    rec.to_nwb(tmp_path / "i.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "i.nwb"), "r") as io:
        nwb = io.read()
        assert "ElectricalSeries" not in nwb.acquisition and nwb.units is None
        series = nwb.acquisition["recorded_current"]
        assert series.unit == "amperes"
        assert bits(series.data[:]) == bits(rec.data)
        assert nwb.session_start_time.utcoffset().total_seconds() == 7200
    rec.metadata["session_start_time"] = "2024-05-01T12:30:00"
    with pytest.raises(ValueError, match="time zone"):
        rec.to_nwb(tmp_path / "naive.nwb")
    assert not (tmp_path / "naive.nwb").exists()


# --------------------------------------------------------------------------- SpikeInterface


def test_to_spikeinterface():
    pytest.importorskip("spikeinterface")
    rec = make_recording(n_samples=400, n_channels=5)
    si = rec.to_spikeinterface()
    assert type(si).__name__ == "NumpyRecording"
    assert si.get_sampling_frequency() == rec.sampling_rate
    assert si.get_num_channels() == 5 and si.get_num_samples() == 400
    assert list(si.get_channel_ids()) == ["1", "4", "7", "10", "13"]
    # microvolts as float32: one float32 rounding of data * 1e6
    eps32 = np.finfo(np.float32).eps
    np.testing.assert_allclose(si.get_traces(), rec.data * 1e6, rtol=eps32)
    np.testing.assert_array_equal(si.get_traces(return_in_uV=True), si.get_traces())
    probe = si.get_probe()
    np.testing.assert_allclose(probe.contact_positions, rec.electrode_positions[:, :2] * 1e6, rtol=1e-15)
    assert probe.si_units == "um" and set(probe.contact_shapes) == {"circle"}
    assert probe.contact_shape_params[0]["radius"] == pytest.approx(5.0)
    np.testing.assert_allclose(si.get_channel_locations(), rec.electrode_positions[:, :2] * 1e6, rtol=1e-15)
    xz = rec.to_spikeinterface(plane="xz", dtype="float64", contact_radius=15e-6)
    np.testing.assert_allclose(xz.get_channel_locations(), rec.electrode_positions[:, [0, 2]] * 1e6, rtol=1e-15)
    assert xz.get_dtype() == np.float64
    with pytest.raises(ValueError, match="plane"):
        rec.to_spikeinterface(plane="xw")
    with pytest.raises(ValueError, match="contact_radius"):
        rec.to_spikeinterface(contact_radius=0.0)
    with pytest.raises(ValueError, match="voltage"):
        make_recording(unit="A").to_spikeinterface()


# ---------------------------------------------------------------------------- detection

FS = 30_000.0
SIGMA = 10e-6  # 10 uV noise rms


def spike_waveform(fs=FS):
    """Extracellular spike, trough -1 at sample 30 of 90: a 0.25 ms Gaussian trough and a
    slower positive lobe of +0.25 (3 ms in all)."""
    t = (np.arange(90) - 30) / fs
    w = -np.exp(-0.5 * (t / 1.0e-4) ** 2) + 0.25 * np.exp(-0.5 * ((t - 5e-4) / 3e-4) ** 2)
    return w / -w.min(), 30


def planted(seed=0, duration=10.0, n_channels=4, n_spikes=60, amplitude=10.0):
    """Gaussian noise plus spikes of trough amplitude * sigma at known samples."""
    rng = np.random.default_rng(seed)
    n = int(duration * FS)
    data = rng.normal(0.0, SIGMA, (n, n_channels))
    w, trough = spike_waveform()
    truth = []
    for c in range(n_channels):
        # spikes at least 5 ms apart (150 grid slots of 5 ms), away from the edges
        slots = np.sort(rng.choice(np.arange(2, int(duration / 5e-3) - 2), n_spikes, replace=False))
        samples = slots * 150 + rng.integers(0, 50, n_spikes)
        for s in samples:
            data[s - trough:s - trough + w.size, c] += amplitude * SIGMA * w
        truth += [(s, c) for s in samples]
    return data, np.array(sorted(truth))


def test_robust_noise_estimate():
    data, _ = planted()
    # MAD standard error ~1.17 sigma / sqrt(n) = 0.2 % for n = 3e5, and the 0.6 % of samples
    # inside spikes move the median of |x| by ~ 0.6 %: 2 % holds with margin
    np.testing.assert_allclose(estimate_noise_levels(data), SIGMA, rtol=0.02)
    # the plain standard deviation would be pulled further by the spikes
    assert np.all(np.abs(data.std(axis=0) / SIGMA - 1) > np.abs(estimate_noise_levels(data) / SIGMA - 1))
    x = np.random.default_rng(3).normal(size=(101, 3))
    expected = np.median(np.abs(x - np.median(x, axis=0)), axis=0) / norm.ppf(0.75)
    np.testing.assert_allclose(estimate_noise_levels(x), expected, rtol=1e-15)  # the formula itself


def test_detects_planted_spikes_with_few_false_positives():
    data, truth = planted()
    times, channels = detect_spikes(data, FS, threshold=5.0)
    assert times.dtype == np.float64 and channels.dtype == np.int64
    detected = np.column_stack([np.rint(times * FS).astype(np.int64), channels])
    # no misses: every planted trough is found within 2 samples (noise of sigma on a trough of
    # 10 sigma with curvature ~ 0.5 sigma per sample^2 cannot move the minimum further)
    matched = np.zeros(len(detected), dtype=bool)
    for s, c in truth:
        hit = np.flatnonzero((detected[:, 1] == c) & (np.abs(detected[:, 0] - s) <= 2))
        assert hit.size == 1, f"planted spike at sample {s} on channel {c} detected {hit.size} times"
        matched[hit] = True
    # false positives: a noise event needs a sample below -5 sigma, so the expected count is
    # at most n_samples * n_channels * Phi(-5) = 1.2e6 * 2.9e-7 = 0.34 (Poisson: P(> 3) < 5e-4)
    expected_false = data.size * norm.cdf(-5.0)
    assert expected_false < 0.4
    assert np.count_nonzero(~matched) <= 3
    # positive polarity and both polarities find the same spikes in the flipped trace
    t_pos, c_pos = detect_spikes(-data, FS, sign="positive")
    np.testing.assert_array_equal(t_pos, times)
    np.testing.assert_array_equal(c_pos, channels)
    t_both, _ = detect_spikes(data, FS, sign="both")
    # the +2.5 sigma lobe never reaches 5 sigma; "both" adds only positive noise events
    assert t_both.size <= times.size + 3
    assert np.all(np.isin(times, t_both))


def test_dead_time_merges_close_events():
    x = np.zeros((300, 1))
    x[100, 0], x[103, 0], x[115, 0] = -6.0, -8.0, -7.0  # runs 0.1 ms and 0.5 ms apart
    fs, noise = 30_000.0, np.ones(1)
    t, c = detect_spikes(x, fs, noise_levels=noise, dead_time=1e-3)
    np.testing.assert_array_equal(np.rint(t * fs), [103])  # one event, at the deepest trough
    t, _ = detect_spikes(x, fs, noise_levels=noise, dead_time=0.2e-3)  # 6 samples
    np.testing.assert_array_equal(np.rint(t * fs), [103, 115])
    t, _ = detect_spikes(x, fs, noise_levels=noise, dead_time=0.0)
    np.testing.assert_array_equal(np.rint(t * fs), [100, 103, 115])
    # a run of several samples is one crossing, timed at its trough
    y = np.zeros((50, 2))
    y[10:15, 1] = [-6, -9, -11, -9, -6]
    t, c = detect_spikes(y, fs, noise_levels=np.ones(2), dead_time=0.0)
    np.testing.assert_array_equal(np.rint(t * fs), [12])
    np.testing.assert_array_equal(c, [1])


def detect_spikes_reference(data, fs, threshold, sign, dead_time, noise):
    """Plain-loop version of the documented algorithm."""
    min_gap = max(2, math.ceil(dead_time * fs - 1e-9 * max(1.0, dead_time * fs)))
    found = []
    for c in range(data.shape[1]):
        x = data[:, c]
        score = {"negative": -x, "positive": x, "both": np.abs(x)}[sign]
        last, best = None, None
        for i in range(len(x)):
            if score[i] > threshold * noise[c]:
                if last is not None and i - last >= min_gap:
                    found.append((best, c))
                    best = None
                if best is None or score[i] > score[best]:
                    best = i
                last = i
        if best is not None:
            found.append((best, c))
    found.sort()
    return np.array([s for s, _ in found]) / fs, np.array([c for _, c in found], dtype=np.int64)


@settings(max_examples=80, deadline=None)
@given(
    data=hnp.arrays(np.float64, st.tuples(st.integers(0, 60), st.integers(1, 4)),
                    elements=st.integers(-8, 8).map(float)),  # small integers: many ties
    threshold=st.sampled_from([0.5, 1.0, 2.5]),
    sign=st.sampled_from(["negative", "positive", "both"]),
    dead_samples=st.sampled_from([0.0, 1.0, 2.0, 3.5, 10.0]),
)
def test_detect_matches_plain_loop_reference(data, threshold, sign, dead_samples):
    fs = 1000.0
    dead_time = dead_samples / fs
    noise = estimate_noise_levels(data) + 1.0  # avoid a zero noise level on constant channels
    t, c = detect_spikes(data, fs, threshold=threshold, sign=sign, dead_time=dead_time, noise_levels=noise)
    t_ref, c_ref = detect_spikes_reference(data, fs, threshold, sign, dead_time, noise)
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(c, c_ref)
    # invariants: spikes on one channel are at least dead_time apart, peaks cross threshold
    for ch in range(data.shape[1]):
        assert np.all(np.diff(t[c == ch]) >= dead_time - 1e-12)
    peaks = data[np.rint(t * fs).astype(int), c]
    level = threshold * noise[c]
    if sign == "negative":
        assert np.all(peaks < -level)
    elif sign == "positive":
        assert np.all(peaks > level)
    else:
        assert np.all(np.abs(peaks) > level)


def test_detection_feeds_a_recording(tmp_path):
    data, _ = planted(duration=1.0, n_channels=3, n_spikes=20)
    times, channels = detect_spikes(data, FS)
    rec = Recording(data, FS, "V", electrode_positions=np.zeros((3, 3)),
                    spike_times=times, spike_channels=channels)
    counts = rec.spike_counts(0.1)
    assert counts.shape == (10, 3)
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(channels, minlength=3))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"threshold": 0.0}, ValueError, "threshold"),
        ({"threshold": np.nan}, ValueError, "threshold"),
        ({"sign": "up"}, ValueError, "sign must be one of"),
        ({"dead_time": -1e-3}, ValueError, "dead_time"),
        ({"noise_levels": np.ones(3)}, ValueError, r"noise_levels must have shape \(2,\)"),
        ({"noise_levels": -np.ones(2)}, ValueError, "noise_levels must be >= 0"),
        ({"sampling_rate": 0.0}, ValueError, "sampling_rate"),
        ({"data": np.zeros(5)}, ValueError, "data must be a 2-D"),
        ({"data": np.array([[np.nan, 0.0]])}, ValueError, "data must be finite"),
    ],
)
def test_detect_validation(kwargs, error, match):
    args = {"data": np.zeros((10, 2)), "sampling_rate": 1000.0} | kwargs
    with pytest.raises(error, match=match):
        detect_spikes(args.pop("data"), args.pop("sampling_rate"), **args)


def test_detect_on_empty_and_silent_data():
    t, c = detect_spikes(np.zeros((0, 3)), 1000.0)
    assert t.shape == (0,) and c.shape == (0,) and c.dtype == np.int64
    t, c = detect_spikes(np.ones((100, 2)), 1000.0, sign="negative")
    assert t.size == 0
