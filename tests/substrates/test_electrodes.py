"""ElectrodeArray: layouts, routing and selection, probeinterface, the analog front end."""

import dataclasses
import pickle

import numpy as np
import probeinterface
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist, pdist

from substrates import ElectrodeArray

EPS = np.finfo(float).eps
UM = 1e-6


@pytest.fixture(scope="module")
def mea():
    return ElectrodeArray.mea60()


@pytest.fixture(scope="module")
def hd():
    return ElectrodeArray.hdmea()


def nearest_neighbour_distances(positions):
    d = cdist(positions, positions)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def covering_radius(all_positions, chosen_positions):
    """Largest distance from any electrode to its nearest chosen electrode."""
    return cdist(all_positions, chosen_positions).min(axis=1).max()


# ----------------------------------------------------------------------------- layouts
def test_mea60_is_an_8x8_grid_at_200um_without_corners(mea):
    assert mea.n_electrodes == mea.n_recording == mea.n_stimulating == 60
    assert mea.positions.shape == (60, 3) and np.all(mea.positions[:, 2] == 0.0)
    # grid coordinates are exact multiples of 100 um up to float rounding of the products
    np.testing.assert_allclose(nearest_neighbour_distances(mea.positions), 200 * UM, rtol=4 * EPS)
    lattice = np.round(mea.positions[:, :2] / (100 * UM)).astype(int)  # odd multiples -7..7
    assert set(np.unique(lattice)) == {-7, -5, -3, -1, 1, 3, 5, 7}
    corners = {(sx * 7, sy * 7) for sx in (-1, 1) for sy in (-1, 1)}
    assert corners.isdisjoint(map(tuple, lattice))
    np.testing.assert_allclose(mea.positions.mean(axis=0), 0.0, atol=1e-18)  # centred
    assert mea.can_record.all() and mea.can_stimulate.all()
    # the MCS label is column digit then row digit; column 1 left, row 1 at the top
    for (x, y, _), label in zip(mea.positions, mea.contact_ids):
        col, row = int(label[0]), int(label[1])
        assert x == pytest.approx((col - 4.5) * 200 * UM, rel=1e-12)
        assert y == pytest.approx((4.5 - row) * 200 * UM, rel=1e-12)
    assert mea.sampling_rate == 25_000.0 and mea.noise_rms == 5e-6


def test_hdmea_has_26400_electrodes_on_a_220_by_120_grid(hd):
    assert hd.n_electrodes == 26_400
    xs, ys = np.unique(hd.positions[:, 0]), np.unique(hd.positions[:, 1])
    assert xs.size == 220 and ys.size == 120
    np.testing.assert_allclose(np.diff(xs), 17.5 * UM, rtol=1e-9)  # pitch, to float rounding
    np.testing.assert_allclose(np.diff(ys), 17.5 * UM, rtol=1e-9)
    np.testing.assert_allclose([np.ptp(xs), np.ptp(ys)], [219 * 17.5 * UM, 119 * 17.5 * UM], rtol=1e-12)
    assert hd.max_recording_channels == hd.n_recording == 1024
    assert hd.sampling_rate == 20_000.0 and hd.adc_bits == 10


def test_hdmea_routes_a_centred_32x32_block_and_32_stimulation_units(hd):
    rows, cols = np.divmod(hd.recording_electrodes, 220)
    assert np.unique(rows).size == 32 and np.ptp(rows) == 31
    assert np.unique(cols).size == 32 and np.ptp(cols) == 31
    np.testing.assert_allclose(hd.recording_positions.mean(axis=0), 0.0, atol=1e-15)
    assert hd.n_stimulating == 32
    assert set(hd.stimulating_electrodes) <= set(hd.recording_electrodes)
    # spread over the block: stimulation electrodes lie in every quadrant, 8 to each
    quadrant = (hd.stimulating_positions[:, 0] > 0) * 2 + (hd.stimulating_positions[:, 1] > 0)
    assert np.bincount(quadrant, minlength=4).min() >= 6


def test_grid_is_row_major_centred_from_the_top_left():
    g = ElectrodeArray.grid(3, 4, 50 * UM)
    assert g.n_electrodes == 12
    np.testing.assert_allclose(g.positions.mean(axis=0), 0.0, atol=1e-20)
    np.testing.assert_allclose(g.positions[0, :2], [-75 * UM, 50 * UM])
    np.testing.assert_allclose(g.positions[1] - g.positions[0], [50 * UM, 0, 0])
    np.testing.assert_allclose(g.positions[4] - g.positions[0], [0, -50 * UM, 0])


def test_planar_positions_get_z_zero_and_inputs_are_copied():
    xy = np.array([[0.0, 0.0], [1e-4, 0.0], [0.0, 1e-4]])
    a = ElectrodeArray.from_positions(xy)
    xy[0, 0] = 5.0
    np.testing.assert_array_equal(a.positions, [[0, 0, 0], [1e-4, 0, 0], [0, 1e-4, 0]])
    for field in ("positions", "can_stimulate", "can_record", "recording_electrodes"):
        assert not getattr(a, field).flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.noise_rms = 0.0


def test_default_routing_takes_the_first_recordable_electrodes_up_to_the_limit():
    can_record = np.array([False, True, True, False, True, True])
    a = ElectrodeArray.grid(2, 3, can_record=can_record, max_recording_channels=3)
    np.testing.assert_array_equal(a.recording_electrodes, [1, 2, 4])
    np.testing.assert_array_equal(a.recording_positions, a.positions[[1, 2, 4]])


def test_distances_match_pythagoras(mea):
    h = 20 * UM
    d = mea.distances_to(mea.positions[[0, 30]] + [0, 0, h])
    assert d.shape == (2, 60)
    assert d[0, 0] == pytest.approx(h, rel=1e-12) and d[1, 30] == pytest.approx(h, rel=1e-12)
    neighbour = int(np.argsort(d[0])[1])
    assert d[0, neighbour] == pytest.approx(np.hypot(200 * UM, h), rel=1e-12)
    naive = np.sqrt(((mea.positions[None] - (mea.positions[[0, 30]] + [0, 0, h])[:, None]) ** 2).sum(-1))
    np.testing.assert_allclose(d, naive, rtol=1e-14)  # summation order: float rounding
    np.testing.assert_allclose(mea.distances_to([[0.0, 0.0]]), np.linalg.norm(mea.positions, axis=1)[None])
    # a subset of electrodes: the same numbers, those columns
    np.testing.assert_array_equal(mea.distances_to(mea.positions[[0, 30]] + [0, 0, h], [30, 2, 0]),
                                  d[:, [30, 2, 0]])
    with pytest.raises(ValueError, match=r"electrodes must be indices in \[0, n_electrodes\) = \[0, 60\)"):
        mea.distances_to([[0.0, 0.0]], [60])


# ----------------------------------------------------------------------------- select
def test_select_random_is_a_reproducible_subset(hd):
    a = hd.select(64, random_state=7)
    assert a.n_recording == 64
    assert set(a.recording_electrodes) <= set(hd.recording_electrodes)
    assert np.all(np.diff(a.recording_electrodes) > 0)  # ascending channel order
    assert a == hd.select(64, random_state=7)
    assert a == hd.select(64, random_state=np.random.default_rng(7))
    # two seeds giving the same 64 of 1024 has probability ~1e-100
    assert not np.array_equal(a.recording_electrodes, hd.select(64, random_state=8).recording_electrodes)
    # only the routing changes
    assert a.replace(recording_electrodes=hd.recording_electrodes) == hd


def test_select_spread_is_nested_and_deterministic(mea, hd):
    previous = set()
    for k in range(1, 61):
        chosen = set(mea.select(k, strategy="spread").recording_electrodes)
        assert len(chosen) == k and previous < chosen
        previous = chosen
    assert hd.select(8, strategy="spread") == hd.select(8, strategy="spread", random_state=3)
    assert set(hd.select(8, strategy="spread").recording_electrodes) < set(
        hd.select(20, strategy="spread").recording_electrodes)


def test_select_spread_of_4_on_mea60_lands_one_per_quadrant(mea):
    p = mea.select(4, strategy="spread").recording_positions
    quadrants = {(bool(x > 0), bool(y > 0)) for x, y, _ in p}
    assert len(quadrants) == 4


def test_select_spread_covers_evenly(hd):
    routed = hd.recording_positions
    for k in (4, 8, 16, 32):
        chosen = hd.select(k, strategy="spread").recording_positions
        cover = covering_radius(routed, chosen)
        # farthest-point sampling: the chosen points are at least the covering radius apart
        # (each was the farthest when picked), the certificate of a 2-approximate k-centre
        assert pdist(chosen).min() >= cover - 1e-12
        # hence cover <= 2 * optimum <= 2 * (a square lattice of m x m <= k centres, each
        # snapped to its nearest electrode: half a lattice diagonal plus half a pitch diagonal)
        side, pitch, m = 32 * 17.5 * UM, 17.5 * UM, int(np.sqrt(k))
        assert cover <= 2 * (side / m / np.sqrt(2) + pitch / np.sqrt(2))
        # and it covers better than a typical random draw of the same size (10 fixed seeds)
        random_cover = [covering_radius(routed, hd.select(k, random_state=s).recording_positions)
                        for s in range(10)]
        assert cover < np.median(random_cover)


def test_select_from_a_routed_subset_stays_in_it(hd):
    routed = hd.route(np.arange(0, 26_400, 40)[:500])  # 500 electrodes across the chip
    for strategy in ("random", "spread"):
        a = routed.select(50, strategy=strategy, random_state=0)
        assert set(a.recording_electrodes) <= set(routed.recording_electrodes)
        assert a.n_stimulating == hd.n_stimulating  # stimulation untouched


@pytest.mark.parametrize("k", [0, 61, -1])
def test_select_out_of_range_names_k_and_the_range(mea, k):
    message = rf"k must be between 1 and 60 \(the recording electrodes\), got {k}"
    with pytest.raises(ValueError, match=message):
        mea.select(k)


def test_select_rejects_bad_k_type_and_strategy(mea):
    with pytest.raises(TypeError, match="k must be an integer"):
        mea.select(2.5)
    with pytest.raises(TypeError, match="k must be an integer"):
        mea.select(True)
    with pytest.raises(ValueError, match="strategy must be one of"):
        mea.select(4, strategy="grid")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), strategy=st.sampled_from(["random", "spread"]), seed=st.integers(0, 2**32))
def test_select_always_gives_k_unique_recordable_electrodes(mea, data, strategy, seed):
    can_record = np.ones(60, dtype=bool)
    can_record[data.draw(st.lists(st.integers(0, 59), max_size=50))] = False
    base = mea.replace(can_record=can_record, recording_electrodes=None)
    if base.n_recording == 0:
        return
    k = data.draw(st.integers(1, base.n_recording))
    a = base.select(k, strategy=strategy, random_state=seed)
    e = a.recording_electrodes
    assert e.shape == (k,) and np.unique(e).size == k
    assert np.all(a.can_record[e]) and set(e) <= set(base.recording_electrodes)
    assert np.all(np.diff(e) > 0)


# ----------------------------------------------------------------------------- route
def test_route_keeps_the_given_channel_order(mea):
    a = mea.route([5, 2, 9])
    np.testing.assert_array_equal(a.recording_electrodes, [5, 2, 9])
    np.testing.assert_array_equal(a.recording_positions, mea.positions[[5, 2, 9]])


def test_route_errors_are_named(mea, hd):
    with pytest.raises(ValueError, match=r"electrodes must lie between 0 and 59 .* got \[60\]"):
        mea.route([1, 60])
    with pytest.raises(ValueError, match=r"electrodes must be unique; \[3\] repeat"):
        mea.route([3, 4, 3])
    no_record = mea.replace(can_record=np.arange(60) != 7, recording_electrodes=None)
    with pytest.raises(ValueError, match=r"electrodes that can record; \[7\] cannot"):
        no_record.route([6, 7])
    with pytest.raises(ValueError, match="at most max_recording_channels = 1024"):
        hd.route(np.arange(1025))
    with pytest.raises(TypeError, match="integer array"):
        mea.route([1.0, 2.0])


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"positions": np.zeros((3, 4))}, ValueError, r"positions must have shape \(n, 2\) or \(n, 3\)"),
        ({"positions": [[0, 0], [np.nan, 1]]}, ValueError, r"positions must be finite; rows \[1\]"),
        ({"positions": [[0, 0], [1e-4, 0], [0, 0]]}, ValueError, r"distinct; electrodes \[0, 2\]"),
        ({"can_record": np.ones(59, bool)}, ValueError, r"can_record must have shape \(60,\)"),
        ({"can_stimulate": np.ones(60)}, TypeError, "can_stimulate must be a boolean array"),
        ({"sampling_rate": 0.0}, ValueError, r"sampling_rate must be a finite number > 0"),
        ({"sampling_rate": np.inf}, ValueError, "sampling_rate must be a finite number"),
        ({"noise_rms": -1e-6}, ValueError, r"noise_rms must be a finite number >= 0"),
        ({"adc_bits": 0}, ValueError, "adc_bits must be an integer between 1 and 32"),
        ({"adc_bits": 33}, ValueError, "adc_bits must be an integer between 1 and 32"),
        ({"adc_bits": 12.0}, TypeError, "adc_bits must be an integer"),
        ({"adc_range": (1e-3, -1e-3)}, ValueError, "adc_range must satisfy low < high"),
        ({"adc_range": (0.0, 0.0)}, ValueError, "adc_range must satisfy low < high"),
        ({"adc_range": 1e-3}, TypeError, r"adc_range must be a pair"),
        ({"electrode_radius": 0.0}, ValueError, "electrode_radius must be a finite number > 0"),
        ({"electrode_shape": "hexagon"}, ValueError, "electrode_shape must be one of"),
        ({"max_recording_channels": 0}, ValueError, "max_recording_channels must be an integer >= 1"),
        ({"max_recording_channels": 10}, ValueError, "at most max_recording_channels = 10"),
        ({"recording_electrodes": [0, 0]}, ValueError, "recording_electrodes must be unique"),
        ({"contact_ids": ["a"] * 60}, ValueError, "contact_ids must be unique"),
        ({"contact_ids": ["a"]}, ValueError, r"contact_ids must have one entry per electrode \(60\)"),
    ],
)
def test_constructor_validation_names_the_field(mea, changes, error, message):
    if "positions" in changes:
        with pytest.raises(error, match=message):
            ElectrodeArray(changes["positions"])
    else:
        with pytest.raises(error, match=message):
            mea.replace(**changes)


def test_replace_rejects_unknown_fields(mea):
    with pytest.raises(TypeError, match=r"unknown fields \['pitch'\]"):
        mea.replace(pitch=1e-4)


# ----------------------------------------------------------------------------- value semantics
def test_equality_hash_and_pickle(mea, hd):
    assert mea == ElectrodeArray.mea60() and hash(mea) == hash(ElectrodeArray.mea60())
    assert mea != mea.replace(noise_rms=4e-6)
    assert mea != mea.route(np.arange(59))
    assert mea != hd and mea != "mea60"
    # an explicit default contact id list is the same array as none
    g = ElectrodeArray.grid(2, 2)
    assert g == g.replace(contact_ids=["0", "1", "2", "3"])
    back = pickle.loads(pickle.dumps(hd))
    assert back == hd and not back.positions.flags.writeable
    assert "mea60" in repr(mea) and "60 electrodes" in repr(mea) and len(repr(mea)) < 150


# ----------------------------------------------------------------------------- probeinterface
def assert_same_array(a, b):
    # um <-> m is one multiplication and one division: at most a couple of ulps
    np.testing.assert_allclose(b.positions, a.positions, rtol=4 * EPS, atol=0)
    assert b.electrode_radius == pytest.approx(a.electrode_radius, rel=4 * EPS)
    assert b == a.replace(positions=b.positions, electrode_radius=b.electrode_radius)


def test_probe_round_trip_keeps_everything(mea, hd):
    for array in (mea, hd.select(16, strategy="spread"), mea.route([5, 2, 9]).replace(adc_bits=None)):
        probe = array.to_probe()
        assert probe.ndim == 2 and probe.si_units == "um"
        np.testing.assert_allclose(probe.contact_positions, array.positions[:, :2] * 1e6, rtol=4 * EPS)
        assert_same_array(array, ElectrodeArray.from_probe(probe))


def test_probe_device_channels_follow_routing_and_ids_survive(mea):
    probe = mea.route([5, 2, 9]).to_probe()
    channels = probe.device_channel_indices
    assert channels[5] == 0 and channels[2] == 1 and channels[9] == 2
    assert np.count_nonzero(channels >= 0) == 3
    assert list(probe.contact_ids[:3]) == ["21", "31", "41"]
    assert probe.contact_shapes[0] == "circle"
    assert probe.contact_shape_params[0]["radius"] == pytest.approx(15.0)  # um


def test_probe_file_round_trip_and_3d(tmp_path):
    rng = np.random.default_rng(0)
    positions = rng.uniform(-500 * UM, 500 * UM, size=(20, 3))  # an organoid-like 3D layout
    array = ElectrodeArray(positions, electrode_shape="square", electrode_radius=6 * UM,
                           can_stimulate=np.arange(20) < 5, max_recording_channels=12, name="shank")
    probe = array.to_probe()
    assert probe.ndim == 3
    assert_same_array(array, ElectrodeArray.from_probe(probe))
    flat = array.replace(positions=positions * [1, 1, 0])
    path = tmp_path / "probe.json"
    probeinterface.write_probeinterface(path, flat.to_probe())
    assert_same_array(flat, ElectrodeArray.from_probe(probeinterface.read_probeinterface(path).probes[0]))


def test_from_foreign_probe_converts_units_and_shapes():
    probe = probeinterface.generate_multi_columns_probe(num_columns=2, num_contact_per_column=8,
                                                        xpitch=30, ypitch=25, contact_shapes="square",
                                                        contact_shape_params={"width": 12})
    probe.set_device_channel_indices(np.arange(16)[::-1])
    a = ElectrodeArray.from_probe(probe, sampling_rate=30_000.0)
    assert a.electrode_shape == "square" and a.electrode_radius == pytest.approx(6 * UM)
    np.testing.assert_allclose(a.positions[:, :2], probe.contact_positions * UM, rtol=4 * EPS)
    np.testing.assert_array_equal(a.recording_electrodes, np.arange(16)[::-1])
    assert a.sampling_rate == 30_000.0

    mm = probeinterface.Probe(ndim=2, si_units="mm")
    mm.set_contacts([[0, 0], [0.2, 0]], shapes="rect", shape_params={"width": 0.01, "height": 0.02})
    with pytest.raises(ValueError, match="pass electrode_radius="):
        ElectrodeArray.from_probe(mm)
    b = ElectrodeArray.from_probe(mm, electrode_radius=8 * UM)
    np.testing.assert_allclose(b.positions[1], [200 * UM, 0, 0], rtol=4 * EPS)
    with pytest.raises(TypeError, match="probeinterface.Probe"):
        ElectrodeArray.from_probe("probe")


# ----------------------------------------------------------------------------- acquire
def test_acquire_noise_has_the_stated_rms(hd):
    array = hd.select(50, random_state=0).replace(adc_bits=None, adc_range=(-1.0, 1.0))
    out = array.acquire(np.zeros((4000, 50)), random_state=1)
    n = out.size
    # sum of squares / sigma^2 is chi-square with n degrees of freedom (mean known to be 0):
    # a two-sided 1e-6 band, so a correct model fails about once in a million seeds
    statistic = np.sum(out**2) / array.noise_rms**2
    assert scipy.stats.chi2.ppf(0.5e-6, n) < statistic < scipy.stats.chi2.ppf(1 - 0.5e-6, n)
    # channels are independent: sample correlations ~ N(0, 1/4000); 6 sigma = 0.095
    corr = np.corrcoef(out.T)[np.triu_indices(50, 1)]
    assert np.abs(corr).max() < 0.095


def test_acquire_is_reproducible_and_draws_only_noise(mea):
    clean = np.random.default_rng(0).normal(0, 50e-6, size=(200, 60))
    a = mea.acquire(clean, random_state=5)
    assert a.dtype == np.float64 and a.shape == clean.shape
    np.testing.assert_array_equal(a, mea.acquire(clean, random_state=5))
    assert not np.array_equal(a, mea.acquire(clean, random_state=6))
    quiet = mea.replace(noise_rms=0.0, adc_bits=None)
    np.testing.assert_array_equal(quiet.acquire(clean, random_state=5), clean)  # ideal: identity


@pytest.mark.parametrize("bits", [1, 3, 10, 16])
def test_quantiser_levels_error_and_clipping(bits):
    array = ElectrodeArray.grid(1, 1, noise_rms=0.0, adc_bits=bits, adc_range=(-1e-3, 1e-3))
    low, high = array.adc_range
    step = array.adc_step
    assert step == pytest.approx(2e-3 / 2**bits, rel=1e-15)
    clean = np.linspace(low, high - step, 10_001)[:, None]
    out = array.acquire(clean, random_state=0)
    codes = (out - low) / step
    # levels are low + j * step: codes are integers to float rounding of (out - low) / step
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-6)
    assert np.rint(codes).min() >= 0 and np.rint(codes).max() <= 2**bits - 1
    # nearest level: error at most half a step (plus float rounding of ~1e-18 V)
    assert np.abs(out - clean).max() <= step / 2 * (1 + 1e-9)
    # mid-tread: 0 V is a level, and anything within half a step of it reads 0
    zero = array.acquire(np.array([[0.0], [0.49 * step], [-0.49 * step]]), random_state=0)
    np.testing.assert_array_equal(zero, 0.0)
    # clipping at the rails: the top level is high - step, the bottom low
    rails = array.acquire(np.array([[5e-3], [-5e-3]]), random_state=0)
    np.testing.assert_allclose(rails.ravel(), [high - step, low], rtol=1e-12)
    ideal = array.replace(adc_bits=None).acquire(np.array([[5e-3], [-5e-3], [3e-4]]), random_state=0)
    np.testing.assert_array_equal(ideal.ravel(), [high, low, 3e-4])


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(-1e-2, 1e-2), min_size=1, max_size=30),
       bits=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_acquire_output_is_always_in_range_and_on_the_grid(values, bits, seed):
    array = ElectrodeArray.grid(1, 1, noise_rms=2e-4, adc_bits=bits, adc_range=(-2e-3, 1e-3))
    out = array.acquire(np.asarray(values)[:, None], random_state=seed)
    low, high = array.adc_range
    assert np.all(out >= low) and np.all(out <= high - array.adc_step * (1 - 1e-9))
    codes = (out - low) / array.adc_step
    # codes <= 2**24: float rounding of (out - low) / step is < 1e-8 of a step
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-6)


def test_realistic_front_end_steps(mea, hd):
    assert mea.adc_step == pytest.approx(0.104e-6, rel=0.01)  # 16 bits over +-3.41 mV
    assert hd.adc_step == pytest.approx(6.25e-6, rel=1e-12)  # 10 bits over +-3.2 mV


def test_acquire_validates_its_input(mea):
    with pytest.raises(ValueError, match=r"clean must have shape \(n_samples, 60\)"):
        mea.acquire(np.zeros((10, 59)), random_state=0)
    with pytest.raises(ValueError, match=r"clean must have shape"):
        mea.acquire(np.zeros(60), random_state=0)
    bad = np.zeros((10, 60))
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="clean must be finite"):
        mea.acquire(bad, random_state=0)
