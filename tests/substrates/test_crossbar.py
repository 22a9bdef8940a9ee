"""The memristive crossbar: Ohm + Kirchhoff, the PCM statistics, programming, the protocol.

Stochastic checks compare sample statistics with the model's formulas within bounds set by
the sample size (4 standard errors: a false alarm about once in 16,000 runs per check,
and the seeds are fixed, so a run either always passes or always fails).
"""

import math

import numpy as np
import pytest

from substrates import Recording, Stimulus, Substrate, check_substrate
from substrates.crossbar import Crossbar, PCMParameters, ProgramReport
from substrates.crossbar import _kernels as K

EPS = np.finfo(np.float64).eps
QUIET = PCMParameters(programming_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
IDEAL_FRONT_END = {"current_noise_rms": 0.0, "adc_bits": None}


def _quiet_crossbar(n_rows, n_cols, device=QUIET, **kw):
    return Crossbar(n_rows, n_cols, device=device, **IDEAL_FRONT_END, **kw)


def _naive_read(voltages, conductances):
    """Ohm's law in each device, Kirchhoff's current law on each column: plain loops."""
    n_samples, n_rows = voltages.shape
    n_cols = conductances.shape[-1]
    out = np.zeros((n_samples, n_cols))
    for k in range(n_samples):
        g = conductances[k] if conductances.ndim == 3 else conductances
        for j in range(n_cols):
            total = 0.0
            for i in range(n_rows):
                total += voltages[k, i] * g[i, j]  # current through device (i, j), A
            out[k, j] = total
    return out


def _kirchhoff_bound(voltages, conductances):
    """Float rounding of a sum of n_rows products: a few eps times the sum of |terms|."""
    return 4 * voltages.shape[1] * EPS * (np.abs(voltages) @ np.abs(conductances))


# ----------------------------------------------------------------------------- the random stream
def test_counter_based_normals_are_standard():
    z = K.normals(np.uint64(12345), 0, 200_000)
    n = z.size
    assert abs(z.mean()) < 4 / math.sqrt(n)  # standard error of the mean of N(0, 1)
    assert abs(z.var() - 1.0) < 4 * math.sqrt(2.0 / n)  # standard error of the variance
    # the same counters give the same numbers: a chunked draw equals one draw
    assert np.array_equal(K.normals(np.uint64(12345), 1000, 10), z[1000:1010])


# ----------------------------------------------------------------------------- Ohm + Kirchhoff
def test_read_matches_naive_ohm_kirchhoff_with_drift_and_no_noise():
    device = PCMParameters(programming_noise_scale=0.0, read_noise_scale=0.0)
    xbar = _quiet_crossbar(5, 6, device=device, random_state=0)
    rng = np.random.default_rng(1)
    xbar.program_conductances(rng.uniform(0, 25e-6, (5, 3)), rng.uniform(0, 25e-6, (5, 3)))
    xbar.wait(1000.0)  # well past t0 = 20 s: every device has drifted by its own nu
    voltages = rng.uniform(-0.2, 0.2, (7, 5))
    start = xbar.time
    rec = xbar.run(Stimulus(voltages, xbar.dt, "V"))
    times = start + np.arange(7) * xbar.dt
    g = np.stack([xbar.conductances * np.exp(-xbar.drift_exponents * math.log(t / 20.0))
                  for t in times])
    expected = _naive_read(voltages, g)
    # the kernel sums in the naive loop's order; exp may differ by an ulp from numpy's
    assert np.all(np.abs(rec.data - expected) <= _kirchhoff_bound(voltages, g[0]))
    assert rec.unit == "A" and rec.data.shape == (7, 6)


def test_read_with_noise_is_kirchhoff_over_the_hidden_conductances():
    xbar = _quiet_crossbar(4, 6, device=PCMParameters(), random_state=3)
    xbar.program(np.random.default_rng(0).normal(size=(4, 3)))
    voltages = np.random.default_rng(2).uniform(-0.2, 0.2, (9, 4))
    rec = xbar.run(Stimulus(voltages, xbar.dt, "V"), record_hidden=True,
                   hidden_sampling_rate=xbar.sampling_rate)
    g = rec.hidden_state["device_conductance"].reshape(9, 4, 6)
    assert np.all(g >= 0)  # conductances are never negative
    # read noise really varies from read to read
    assert np.all(np.std(g, axis=0)[xbar.conductances > 1e-6] > 0)
    assert np.all(np.abs(rec.data - _naive_read(voltages, g)) <= _kirchhoff_bound(voltages, g.max(0)))


# ----------------------------------------------------------------------------- programming noise
def test_programming_noise_matches_the_pcm_polynomial():
    device = PCMParameters(read_noise_scale=0.0, drift_scale=0.0)
    n_rows, n_cols = 80, 200
    xbar = Crossbar(n_rows, n_cols, device=device, random_state=4)
    levels = np.array([0.25, 0.5, 0.75, 1.0])
    g_target = np.repeat(levels, n_rows // 4)[:, None] * np.ones((1, n_cols // 2)) * device.g_max
    report = xbar.program_conductances(g_target, g_target)
    written = report.written_conductance
    for k, g in enumerate(levels):
        sample = written[k * 20:(k + 1) * 20].ravel()
        n = sample.size
        sd = (0.26348 + 1.9650 * g - 1.1731 * g * g) * 1e-6  # Joshi et al. 2020, in S
        assert abs(sample.mean() - g * device.g_max) < 4 * sd / math.sqrt(n)  # mean's std error
        assert abs(sample.std(ddof=1) - sd) < 4 * sd / math.sqrt(2 * (n - 1))  # sd's std error
    assert report.stuck_devices == 0 and report.verify_iterations_used == 0


def test_programming_noise_at_zero_target_is_clamped_half_normal():
    device = PCMParameters(read_noise_scale=0.0)
    xbar = Crossbar(50, 200, device=device, random_state=5)
    zero = np.zeros((50, 100))
    written = xbar.program_conductances(zero, zero).written_conductance.ravel()
    sd = 0.26348e-6
    n = written.size
    assert written.min() == 0.0
    # max(N(0, sd), 0): P(0) = 1/2, mean sd / sqrt(2 pi); binomial and mean standard errors
    assert abs(np.mean(written == 0.0) - 0.5) < 4 * math.sqrt(0.25 / n)
    assert abs(written.mean() - sd / math.sqrt(2 * math.pi)) < 4 * sd / math.sqrt(n)


# ----------------------------------------------------------------------------- drift
def test_drift_is_an_exact_power_law_from_t0():
    device = PCMParameters(programming_noise_scale=0.0, read_noise_scale=0.0)
    xbar = _quiet_crossbar(3, 4, device=device, random_state=6)
    xbar.program(np.array([[1.0, -0.5], [0.2, 0.7], [-0.05, 0.0]]))
    g0 = xbar.conductances
    nu = xbar.drift_exponents
    on = g0 > 0
    assert np.all((nu[on] > 0.0) & (nu[on] < 0.3))  # |N(mu, sd)| with mu in [0.049, 0.1]

    times, reads = [], []
    for wait in (5.0, 20.0, 300.0, 5000.0, 86_400.0):
        xbar.wait(wait)
        rec = xbar.run(duration=xbar.dt, record_hidden=True, hidden_sampling_rate=xbar.sampling_rate)
        times.append(rec.metadata["start_time"])
        reads.append(rec.hidden_state["device_conductance"][0].reshape(3, 4)[on])
    assert times[0] < 20.0  # before t0 a read sees g(t0) = g0, bit for bit
    assert np.array_equal(reads[0], g0[on])
    logs = [np.log(g) for g in reads]
    for a, b in zip(range(1, 4), range(2, 5)):
        slope = (logs[b] - logs[a]) / math.log(times[b] / times[a])
        # log g is exactly linear in log t with slope -nu: only float rounding of log/exp
        np.testing.assert_allclose(slope, -nu[on], rtol=1e-9, atol=1e-12)


def test_drift_exponents_follow_the_conductance_dependent_statistics():
    device = PCMParameters(programming_noise_scale=0.0, read_noise_scale=0.0)
    xbar = Crossbar(100, 100, device=device, random_state=7)
    xbar.program_conductances(np.full((100, 50), 25e-6), np.full((100, 50), 2.5e-6))
    nu = xbar.drift_exponents
    for column, g in ((0, 1.0), (1, 0.1)):
        sample = nu[:, column::2].ravel()
        mean, sd = device.drift_nu_statistics(g)
        # |N(mean, sd)| with mean >= 6 sd: folding is negligible (< 1e-9)
        assert abs(sample.mean() - mean) < 4 * sd / math.sqrt(sample.size)
        assert abs(sample.std(ddof=1) - sd) < 4 * sd / math.sqrt(2 * (sample.size - 1))
    assert device.drift_nu_statistics(1.0) == (0.049, 0.008)  # the clipped floor at high g


# ----------------------------------------------------------------------------- read noise
def test_read_noise_grows_like_sqrt_log_time():
    device = PCMParameters(programming_noise_scale=0.0, drift_scale=0.0)
    n_rows, n_cols = 50, 100
    xbar = _quiet_crossbar(n_rows, n_cols, device=device, random_state=8)
    g = 0.5 * device.g_max
    xbar.program_conductances(np.full((n_rows, n_cols // 2), g), np.full((n_rows, n_cols // 2), g))
    q = 0.0088 / 0.5**0.65  # Q_s(g) of Joshi et al.
    n = n_rows * n_cols
    sds = []
    for wait in (0.0, 1e6):
        xbar.wait(wait)
        t = xbar.time
        rec = xbar.run(duration=xbar.dt, record_hidden=True, hidden_sampling_rate=xbar.sampling_rate)
        sample = rec.hidden_state["device_conductance"][0]
        expected = g * q * math.sqrt(math.log((max(t, 20.0) + 250e-9) / 500e-9))
        assert abs(sample.mean() - g) < 4 * expected / math.sqrt(n)  # unbiased (no clamping at 6%)
        assert abs(sample.std(ddof=1) - expected) < 4 * expected / math.sqrt(2 * (n - 1))
        sds.append(sample.std(ddof=1))
    ratio = math.sqrt(math.log((1e6 + xbar.dt + 250e-9) / 500e-9) / math.log((20.0 + 250e-9) / 500e-9))
    # the ratio of two independent sample sds: relative standard error sqrt(2 / (2 (n - 1)))
    assert abs(sds[1] / sds[0] - ratio) < 4 * ratio * math.sqrt(1.0 / (n - 1))


# ----------------------------------------------------------------------------- levels, stuck devices
def test_quantisation_to_levels():
    xbar = _quiet_crossbar(6, 8, n_levels=5, random_state=9)
    weights = np.random.default_rng(1).uniform(-1, 1, (6, 4))
    report = xbar.program(weights, weight_scale=1.0)
    step = 25e-6 / 4
    codes = report.target_conductance / step
    assert np.array_equal(codes, np.rint(codes))  # every target is a level
    # the nearest level: within half a step of the request
    assert np.all(np.abs(report.target_conductance - report.requested_conductance) <= step / 2 * (1 + 1e-12))
    assert np.array_equal(report.written_conductance, report.target_conductance)  # noise off
    assert set(np.unique(np.rint(codes)).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_stuck_devices_fraction_values_and_persistence():
    p = 0.1
    xbar = Crossbar(100, 100, stuck_fraction=p, device=QUIET, random_state=10)
    stuck = xbar.stuck_mask
    n = stuck.size
    assert abs(stuck.sum() - n * p) < 4 * math.sqrt(n * p * (1 - p))  # binomial bound
    report = xbar.program(np.full((100, 50), 0.5), weight_scale=1.0)
    values = report.written_conductance[stuck]
    assert set(np.unique(values).tolist()) <= {0.0, 25e-6}
    n_stuck = stuck.sum()
    assert abs(np.mean(values == 0.0) - 0.5) < 4 * math.sqrt(0.25 / n_stuck)  # half open, half SET
    assert report.stuck_devices == n_stuck
    np.testing.assert_array_equal(report.written_conductance[~stuck], report.target_conductance[~stuck])
    assert np.all(xbar.drift_exponents[stuck] == 0.0)
    # the same devices stay stuck through a second programming
    again = xbar.program(np.full((100, 50), -0.25), weight_scale=1.0)
    np.testing.assert_array_equal(again.written_conductance[stuck], values)


# ----------------------------------------------------------------------------- program-and-verify
def test_program_and_verify_reduces_the_error():
    rng = np.random.default_rng(11)
    g_plus, g_minus = rng.uniform(0, 25e-6, (2, 100, 100))
    finals = []
    for iterations in (0, 1, 3):
        history = []
        for seed in range(3):
            xbar = Crossbar(100, 200, random_state=seed)
            report = xbar.program_conductances(g_plus, g_minus, verify_iterations=iterations)
            assert report.verify_iterations_used == iterations  # noisy verify reads: always work to do
            history.append(report.rms_error_history)
        mean_history = np.mean(history, axis=0)
        n = 3 * 100 * 200
        # in expectation the rms error never grows; one pass's sampling noise on an rms of n
        # devices is about rms / sqrt(2 n)
        assert np.all(np.diff(mean_history) <= 4 * mean_history[:-1] / math.sqrt(2 * n))
        finals.append(mean_history[-1])
    assert finals[1] < 0.95 * finals[0] and finals[2] < finals[1]


def test_verify_with_exact_reads_meets_the_tolerance():
    device = PCMParameters(read_noise_scale=0.0)  # verify reads are exact
    xbar = Crossbar(20, 40, device=device, random_state=12)
    target = np.random.default_rng(0).uniform(0, 25e-6, (2, 20, 20))
    report = xbar.program_conductances(*target, verify_iterations=50, tolerance=0.3e-6)
    error = np.abs(report.written_conductance - report.target_conductance)
    assert error.max() <= 0.3e-6  # every device verified within tolerance
    assert np.all(np.diff(report.rms_error_history) < 0)  # exact reads: strictly better each pass


# ----------------------------------------------------------------------------- the differential pair
def test_differential_pair_reproduces_signed_weights():
    xbar = _quiet_crossbar(7, 10, random_state=13)
    weights = np.random.default_rng(3).normal(size=(7, 5))
    report = xbar.program(weights)
    g = report.written_conductance
    assert np.all((g[:, 0::2] == 0) | (g[:, 1::2] == 0))  # one device of each pair is off
    assert report.conductance_per_weight == pytest.approx(25e-6 / np.abs(weights).max(), rel=EPS)
    np.testing.assert_allclose(report.effective_weights, weights, rtol=4 * EPS, atol=4 * EPS)
    assert report.weight_rms_error < 4 * EPS * np.abs(weights).max()
    np.testing.assert_allclose(xbar.read_weights(), weights, rtol=1e-12, atol=1e-12)  # float rounding
    x = np.random.default_rng(4).uniform(-1, 1, (6, 7))
    np.testing.assert_allclose(xbar.matvec(x), x @ weights, rtol=1e-12, atol=1e-12)


def test_writing_some_pairs_leaves_the_others_as_they_were():
    xbar = Crossbar(6, 8, random_state=21)
    first = xbar.program(np.random.default_rng(5).uniform(-1, 1, (6, 4)), weight_scale=1.0)
    before, nu_before = xbar.conductances, xbar.drift_exponents
    again = xbar.program(np.full((6, 2), 0.5), weight_scale=1.0, pairs=[3, 1])
    after = xbar.conductances
    kept = [0, 1, 4, 5]  # the devices of pairs 0 and 2
    np.testing.assert_array_equal(after[:, kept], before[:, kept])
    np.testing.assert_array_equal(xbar.drift_exponents[:, kept], nu_before[:, kept])
    # the report covers the written pairs, in the order given
    np.testing.assert_array_equal(again.written_conductance, after[:, [6, 7, 2, 3]])
    assert again.pairs.tolist() == [3, 1] and again.target_weights.shape == (6, 2)
    assert first.pairs.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"distinct indices in \[0, n_outputs\) = \[0, 4\)"):
        xbar.program(np.zeros((6, 1)), weight_scale=1.0, pairs=[4])
    with pytest.raises(ValueError, match="distinct"):
        xbar.program(np.zeros((6, 2)), weight_scale=1.0, pairs=[1, 1])
    with pytest.raises(ValueError, match="conductance_per_weight"):
        xbar.program(np.full((6, 1), 0.5), weight_scale=2.0, pairs=[0])  # another scale


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_bits():
    weights = np.random.default_rng(5).normal(size=(8, 3))
    x = np.random.default_rng(6).uniform(-1, 1, (20, 8))
    runs = []
    for _ in range(2):
        xbar = Crossbar(8, 6, stuck_fraction=0.1, random_state=14)
        report = xbar.program(weights, verify_iterations=2)
        xbar.wait(3600.0)
        runs.append((report.written_conductance, xbar.matvec(x)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    other = Crossbar(8, 6, stuck_fraction=0.1, random_state=15)
    assert not np.array_equal(other.program(weights).written_conductance, runs[0][0])


def test_reset_redraws_read_noise_only():
    xbar = Crossbar(8, 6, random_state=16)
    xbar.program(np.random.default_rng(7).normal(size=(8, 3)))
    g = xbar.conductances
    stim = Stimulus(np.full((5, 8), 0.1), xbar.dt, "V")
    xbar.reset(3)
    a = xbar.run(stim).data
    xbar.reset(3)
    b = xbar.run(stim).data  # t < t0: no drift yet, so the same noise gives the same bits
    xbar.reset(4)
    c = xbar.run(stim).data
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(xbar.conductances, g)  # the programmed state persists


# ----------------------------------------------------------------------------- a trained classifier
def test_trained_classifier_round_trip_and_drift_compensation():
    from sklearn.datasets import make_blobs
    from sklearn.linear_model import LogisticRegression

    x, y = make_blobs(n_samples=1500, n_features=16, centers=5, cluster_std=4.0, random_state=0)
    x = (x - x.min(0)) / (x.max(0) - x.min(0))  # inputs in [0, 1]: rows at 0 .. read_voltage
    clf = LogisticRegression(max_iter=5000).fit(x[:1000], y[:1000])
    x_test, y_test = x[1000:], y[1000:]
    weights, bias = clf.coef_.T, clf.intercept_  # the bias stays digital (aihwkit's default)
    digital = (x_test @ weights + bias).argmax(1)
    for seed in range(3):
        xbar = Crossbar(16, 10, random_state=seed)
        xbar.program(weights)  # no verify
        fresh = (xbar.matvec(x_test) + bias).argmax(1)
        assert np.mean(fresh == digital) >= 0.99  # the bar, right after programming
        xbar.wait(86_400.0)
        drifted = np.mean((xbar.matvec(x_test) + bias).argmax(1) == y_test)
        compensated = np.mean((xbar.matvec(x_test, drift_compensation=True) + bias).argmax(1) == y_test)
        # one day shrinks the analog part by ~(86400 / 20)^-0.05 = 0.66 against the digital
        # bias; compensation recovers accuracy to within 2 % of the fresh crossbar's
        assert compensated >= np.mean(fresh == y_test) - 0.02
        assert compensated > drifted + 0.1


def test_drift_compensation_factor_undoes_the_mean_drift():
    device = PCMParameters(programming_noise_scale=0.0, read_noise_scale=0.0)
    xbar = _quiet_crossbar(10, 10, device=device, random_state=17)
    xbar.program(np.random.default_rng(8).uniform(-1, 1, (10, 5)))
    xbar.wait(86_400.0)
    factor = xbar.drift_compensation_factor()
    g0, gt = xbar.conductances, xbar.drifted_conductances()
    assert factor == pytest.approx(g0.sum() / gt.sum(), rel=1e-9)  # drift over one read is ~1e-13
    assert 1.3 < factor < 2.0  # (86400 / 20)^nu with nu in ~[0.05, 0.08]


# ----------------------------------------------------------------------------- the protocol
def test_keeps_the_substrate_protocol():
    xbar = Crossbar(4, 6, random_state=18)
    assert isinstance(xbar, Substrate) and check_substrate(xbar) is xbar
    assert xbar.programmable and xbar.hidden_state_keys == ("device_conductance",)
    e = xbar.electrodes
    assert e.n_stimulating == 4 and e.n_recording == 6
    assert xbar.dt == 1.0 / e.sampling_rate
    enc = xbar.encoding
    stim = Stimulus.encode(np.array([[1.0, -1.0, 0.5, 0.0]] * 3), hold=enc["hold"], dt=xbar.dt,
                           amplitude=enc["amplitude"], mode=enc["mode"], unit=enc["unit"])
    xbar.program(np.ones((4, 3)))
    rec = xbar.run(stim, record_hidden=True)
    assert isinstance(rec, Recording) and rec.data.shape == (3, 6) and rec.unit == "A"
    assert rec.hidden_state["device_conductance"].shape[1] == 24
    assert abs(rec.data[0, 0] - 0.5 * 0.2 * 25e-6) < 0.2 * 0.2 * 25e-6  # ~ sum V G on column 0


def test_routing_fewer_columns_records_those_columns():
    xbar = _quiet_crossbar(4, 6, random_state=19)
    xbar.program(np.random.default_rng(9).normal(size=(4, 3)))
    stim = Stimulus(np.random.default_rng(1).uniform(-0.2, 0.2, (4, 4)), xbar.dt, "V")
    full = xbar.run(stim).data
    xbar.electrodes = xbar.electrodes.route([7, 4])  # columns 3 and 0
    part = xbar.run(stim)
    np.testing.assert_array_equal(part.data, full[:, [3, 0]])  # noise off, no drift before t0
    np.testing.assert_array_equal(part.channel_electrodes, [7, 4])
    with pytest.raises(ValueError, match="matvec needs every column"):
        xbar.matvec(np.zeros((1, 4)))


def test_program_report_fields():
    xbar = Crossbar(3, 4, random_state=20)
    report = xbar.program(np.array([[1.0, -1.0], [0.0, 0.5], [0.25, 0.0]]), verify_iterations=1)
    assert isinstance(report, ProgramReport)
    assert report.target_conductance.shape == (3, 4) and report.effective_weights.shape == (3, 2)
    assert report.rms_error_history.shape == (report.verify_iterations_used + 1,)
    assert report.tolerance == pytest.approx(1e-6)
    assert report.conductance_rms_error == report.rms_error_history[-1]


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_named_errors():
    xbar = Crossbar(4, 6, random_state=21)
    with pytest.raises(ValueError, match="drift compensation needs a programmed crossbar"):
        xbar.drift_compensation_factor()
    with pytest.raises(ValueError, match=r"weights must have shape \(4, 3\)"):
        xbar.program(np.ones((3, 4)))
    with pytest.raises(ValueError, match="weights must be finite"):
        xbar.program(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="weight_scale"):
        xbar.program(np.full((4, 3), 2.0), weight_scale=1.0)
    with pytest.raises(ValueError, match=r"g_plus must lie in the device range \[0, g_max\]"):
        xbar.program_conductances(np.full((4, 3), 30e-6), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"g_minus must lie in the device range"):
        xbar.program_conductances(np.zeros((4, 3)), np.full((4, 3), -1e-6))
    with pytest.raises(ValueError, match="verify_iterations"):
        xbar.program(np.ones((4, 3)), verify_iterations=-1)
    xbar.program(np.ones((4, 3)))
    with pytest.raises(ValueError, match="read_voltage"):
        xbar.run(Stimulus(np.full((2, 4), 0.3), xbar.dt, "V"))
    with pytest.raises(ValueError, match="n_channels must equal n_rows"):
        xbar.run(Stimulus(np.zeros((2, 5)), xbar.dt, "V"))
    with pytest.raises(ValueError, match="stimulus.unit must be 'V'"):
        xbar.run(Stimulus(np.zeros((2, 4)), xbar.dt, "A"))
    with pytest.raises(ValueError, match="seconds must be finite and >= 0"):
        xbar.wait(-1.0)
    with pytest.raises(ValueError, match="hidden_sampling_rate must divide"):
        xbar.run(duration=xbar.dt, record_hidden=True, hidden_sampling_rate=3000.0)
    with pytest.raises(ValueError, match="inputs must be finite and within"):
        xbar.matvec(np.full((1, 4), 1.5))
    with pytest.raises(ValueError, match="n_cols must be even"):
        Crossbar(4, 5)
    with pytest.raises(ValueError, match="stuck_fraction"):
        Crossbar(4, 6, stuck_fraction=1.5)
    with pytest.raises(ValueError, match="n_levels"):
        Crossbar(4, 6, n_levels=1)
    with pytest.raises(ValueError, match="unknown key"):
        PCMParameters.from_dict({"gmax": 1e-5})
    with pytest.raises(ValueError, match="g_max must be > 0"):
        PCMParameters(g_max=-1.0)
    with pytest.raises(ValueError, match="electrodes must be this crossbar's periphery"):
        xbar.electrodes = Crossbar(5, 6).electrodes


def test_parameters_round_trip_through_a_dict():
    p = PCMParameters(g_max=10e-6, drift_nu_mean_range=[0.04, 0.09])
    assert p.drift_nu_mean_range == (0.04, 0.09)
    assert PCMParameters.from_dict(p.to_dict()) == p
