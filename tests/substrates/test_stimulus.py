"""Stimulus: construction, generators, encoders, resampling and safety.

Tolerances are tied to what is compared: float round-off bounds for sums of exact
waveforms, sampling-distribution bounds (chi-square, standard errors computed from the
process's own spectrum) for noise, each with a comment.
"""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal, stats

from substrates import Stimulus

EPS = np.finfo(np.float64).eps


def cathodic_onsets(column):
    """Sample indices where a negative phase begins."""
    negative = np.asarray(column) < 0
    return np.flatnonzero(negative & ~np.concatenate([[False], negative[:-1]]))


def run_lengths(column):
    """Lengths of the runs of nonzero samples."""
    nonzero = np.concatenate([[0], (np.asarray(column) != 0).astype(int), [0]])
    edges = np.flatnonzero(np.diff(nonzero))
    return edges[1::2] - edges[::2]


# --------------------------------------------------------------------------- construction
def test_properties_shapes_and_units():
    raw = np.arange(12, dtype=np.int64).reshape(4, 3)
    s = Stimulus(raw, 2e-4, "V")
    assert s.data.dtype == np.float64 and s.data.shape == (4, 3)
    assert (s.n_samples, s.n_channels, s.unit, s.dt) == (4, 3, "V", 2e-4)
    assert s.duration == pytest.approx(8e-4, rel=EPS)
    assert s.sampling_rate == pytest.approx(5000.0, rel=EPS)
    np.testing.assert_array_equal(s.times, np.arange(4) * 2e-4)
    # column sums 18, 22, 26 times dt (small integers: exact)
    np.testing.assert_array_equal(s.charge, np.array([18.0, 22.0, 26.0]) * 2e-4)
    np.testing.assert_allclose(s.rms, np.sqrt((raw.astype(float) ** 2).mean(axis=0)), rtol=4 * EPS)
    assert "n_channels=3" in repr(s) and "'V'" in repr(s)


def test_data_is_a_read_only_copy_also_after_pickling():
    raw = np.zeros((5, 2))
    s = Stimulus(raw, 1e-4, "V")
    raw[0, 0] = 1.0
    assert s.data[0, 0] == 0.0
    with pytest.raises(ValueError):
        s.data[0, 0] = 1.0
    restored = pickle.loads(pickle.dumps(s))
    assert (restored.dt, restored.unit) == (s.dt, s.unit)
    np.testing.assert_array_equal(restored.data, s.data)
    assert not restored.data.flags.writeable


def test_constructor_errors_name_the_parameter():
    bad = np.zeros((6, 3))
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"data must be finite.*sample 4, channel 2"):
        Stimulus(bad, 1e-4)
    bad[4, 2] = -np.inf
    with pytest.raises(ValueError, match=r"data must be finite.*sample 4, channel 2"):
        Stimulus(bad, 1e-4)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        Stimulus(np.zeros(10), 1e-4)
    with pytest.raises(ValueError, match="2-D"):
        Stimulus(np.zeros((2, 2, 2)), 1e-4)
    with pytest.raises(ValueError, match="at least one sample"):
        Stimulus(np.zeros((0, 2)), 1e-4)
    with pytest.raises(TypeError, match="data must hold real numbers"):
        Stimulus(np.zeros((3, 1), complex), 1e-4)
    for dt in (0.0, -1e-4, np.inf, np.nan):
        with pytest.raises(ValueError, match="dt must be finite and > 0"):
            Stimulus(np.zeros((3, 1)), dt)
    with pytest.raises(TypeError, match="dt must be a real number"):
        Stimulus(np.zeros((3, 1)), "1e-4")
    for unit in ("mA", "a", None):
        with pytest.raises(ValueError, match="unit must be 'A'"):
            Stimulus(np.zeros((3, 1)), 1e-4, unit)


# --------------------------------------------------------------------------- operations
def test_concat_add_scale_and_channels():
    a = Stimulus(np.ones((3, 2)), 1e-4)
    b = Stimulus(2 * np.ones((2, 2)), 1e-4)
    c = a.concat(b, a)
    assert c.n_samples == 8
    np.testing.assert_array_equal(c.data[:, 0], [1, 1, 1, 2, 2, 1, 1, 1])
    np.testing.assert_allclose(c.charge, 2 * a.charge + b.charge, rtol=4 * EPS)

    np.testing.assert_array_equal((a + a.scale(2.0)).data, 3 * np.ones((3, 2)))
    np.testing.assert_array_equal(sum([a, a, a]).data, 3 * np.ones((3, 2)))  # sum() starts at 0
    np.testing.assert_array_equal(a.scale([1.0, -3.0]).data[0], [1.0, -3.0])

    d = Stimulus(np.arange(12.0).reshape(3, 4), 1e-4)
    np.testing.assert_array_equal(d.channels([3, 1]).data, d.data[:, [3, 1]])
    np.testing.assert_array_equal(d.channels(2).data, d.data[:, [2]])
    np.testing.assert_array_equal(d.channels(slice(1, 3)).data, d.data[:, 1:3])
    np.testing.assert_array_equal(d.channels(np.array([1, 0, 0, 1], bool)).data, d.data[:, [0, 3]])


def test_mismatched_operations_are_refused():
    a = Stimulus(np.ones((3, 2)), 1e-4)
    with pytest.raises(ValueError, match="same n_channels"):
        a.concat(Stimulus(np.ones((3, 3)), 1e-4))
    with pytest.raises(ValueError, match="same dt"):
        a.concat(Stimulus(np.ones((3, 2)), 2e-4))
    with pytest.raises(ValueError, match="same unit"):
        a.concat(Stimulus(np.ones((3, 2)), 1e-4, "V"))
    with pytest.raises(TypeError, match="concat takes Stimulus"):
        a.concat(np.ones((3, 2)))
    with pytest.raises(ValueError, match="same shape"):
        a + Stimulus(np.ones((4, 2)), 1e-4)
    with pytest.raises(ValueError, match="same unit"):
        a + Stimulus(np.ones((3, 2)), 1e-4, "V")
    with pytest.raises(TypeError):
        a + 1.0
    with pytest.raises(ValueError, match=r"factor must be a scalar or of shape \(2,\)"):
        a.scale([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="factor must be finite"):
        a.scale(np.nan)
    with pytest.raises(ValueError, match="index must select channels between 0 and 1"):
        a.channels(5)


# --------------------------------------------------------------------------- resample
@settings(max_examples=60, deadline=None)
@given(
    data=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 4)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
    ),
    k=st.integers(1, 7),
    dt=st.sampled_from([1e-5, 3e-5, 1e-4, 1.0 / 30000.0, 2.5e-4]),
)
def test_resample_round_trip_and_charge(data, k, dt):
    s = Stimulus(data, dt)
    fine = s.resample(dt / k)
    assert fine.n_samples == k * s.n_samples
    np.testing.assert_array_equal(fine.data, np.repeat(data, k, axis=0))  # zero-order hold, exact
    back = fine.resample(dt)
    assert back.dt == dt and back.data.shape == data.shape
    # each value comes back as (k copies summed) / k: at most ~k roundings of relative eps
    np.testing.assert_allclose(back.data, data, rtol=2 * k * EPS, atol=0)

    coarse = s.resample(k * dt)
    assert coarse.n_samples == math.ceil(s.n_samples / k)  # last block zero-padded
    # charges are column sums (numpy adds rows one at a time along axis 0) times dt: a sum
    # of m terms bounded by max|x| has round-off below m^2 eps max|x| (every partial sum is
    # below m max|x|). With scale = n max|x| dt that bounds s.charge by n eps scale, the
    # coarse charge (n terms, block sums of k) by 2 n eps scale and the fine one (n k terms
    # of dt / k) by n k eps scale; a few more roundings for the products and dt / k
    n = data.shape[0]
    scale = max(np.abs(data).max(), 1.0) * dt * n
    np.testing.assert_allclose(coarse.charge, s.charge, rtol=0, atol=(3 * n + 4) * scale * EPS)
    np.testing.assert_allclose(fine.charge, s.charge, rtol=0, atol=(n * k + n + 4) * scale * EPS)


def test_resample_coarse_averages_and_pads():
    s = Stimulus(np.array([[1.0], [3.0], [5.0], [7.0], [9.0]]), 1e-4)
    coarse = s.resample(2e-4)
    # blocks [1, 3], [5, 7], [9, 0 (padding)]
    np.testing.assert_array_equal(coarse.data.ravel(), [2.0, 6.0, 4.5])
    assert coarse.charge[0] == pytest.approx(s.charge[0], rel=4 * EPS)
    assert s.resample(1e-4 * (1 + 1e-12)) is s  # equal to within 1e-9 relative: unchanged


def test_resample_refuses_incommensurate_steps():
    s = Stimulus.zeros(1, 0.01, 1e-4)
    for dt in (1.5e-4, 1e-4 / 2.5, 3.3e-5):
        with pytest.raises(ValueError, match=r"dt must be self\.dt / k .* k \* self\.dt.*0\.0001"):
            s.resample(dt)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        s.resample(0.0)


# --------------------------------------------------------------------------- biphasic
@settings(max_examples=80, deadline=None)
@given(
    dt=st.sampled_from([1e-5, 2.5e-5, 1e-4]),
    phase=st.integers(1, 5),
    gap=st.integers(0, 3),
    extra=st.integers(0, 40),
    start=st.integers(0, 30),
    n_samples=st.integers(60, 1500),
    amplitude=st.floats(1e-9, 1e-3),
    n_channels=st.integers(1, 4),
    cathodic_first=st.booleans(),
)
def test_biphasic_is_charge_balanced_with_the_right_pulses(
    dt, phase, gap, extra, start, n_samples, amplitude, n_channels, cathodic_first
):
    length = 2 * phase + gap
    period = length + extra  # whole samples, so the expected onsets are exact integers
    rate = 1.0 / (period * dt)
    s = Stimulus.biphasic(
        n_channels, n_samples * dt, dt, rate=rate, amplitude=amplitude, phase_width=phase * dt,
        interphase_gap=gap * dt, start=start * dt, cathodic_first=cathodic_first,
    )
    assert s.data.shape == (n_samples, n_channels)
    # partial sums never exceed phase * amplitude in magnitude, so summing n samples
    # accumulates at most n roundings of eps * phase * amplitude
    bound = n_samples * phase * amplitude * dt * EPS
    assert np.all(np.abs(s.charge) <= bound)

    expected = np.arange(start, n_samples - length + 1, period)  # every pulse that fits
    template = np.concatenate([np.full(phase, -1.0), np.zeros(gap), np.full(phase, 1.0)])
    template *= amplitude if cathodic_first else -amplitude
    rebuilt = np.zeros(n_samples)
    for onset in expected:
        rebuilt[onset : onset + length] = template
    for c in range(n_channels):
        np.testing.assert_array_equal(s.data[:, c], rebuilt)


def test_biphasic_pulse_count_for_rate_and_duration():
    # 20 Hz for 1 s from t = 0: pulses at 0, 50, ..., 950 ms, all fit
    s = Stimulus.biphasic(3, 1.0, 1e-4, rate=20.0, amplitude=5e-6, phase_width=200e-6,
                          channels=[0, 2])
    assert len(cathodic_onsets(s.data[:, 0])) == 20
    np.testing.assert_array_equal(cathodic_onsets(s.data[:, 2]), np.arange(20) * 500)
    assert not s.data[:, 1].any()  # channels not named stay zero
    np.testing.assert_array_equal(run_lengths(s.data[:, 0]), np.full(20, 4))  # 2 + 2 samples
    # 7 Hz from 0.1 s: onsets 0.1 + k/7 while the 0.4 ms pulse ends by 1 s -> k = 0..6
    s = Stimulus.biphasic(1, 1.0, 1e-4, rate=7.0, amplitude=1.0, phase_width=200e-6, start=0.1)
    assert len(cathodic_onsets(s.data[:, 0])) == math.floor((1.0 - 0.1 - 4e-4) * 7) + 1


def test_biphasic_phase_rounding_and_errors():
    # 150 us at 100 us steps rounds to 2 samples per phase (halves round up)
    s = Stimulus.biphasic(1, 0.01, 1e-4, rate=100.0, amplitude=1.0, phase_width=150e-6)
    np.testing.assert_array_equal(s.data[:5, 0], [-1, -1, 1, 1, 0])
    with pytest.raises(ValueError, match="phase_width must be at least one sample"):
        Stimulus.biphasic(1, 0.01, 1e-4, rate=100.0, amplitude=1.0, phase_width=40e-6)
    with pytest.raises(ValueError, match="rate is too high"):
        Stimulus.biphasic(1, 0.01, 1e-4, rate=3000.0, amplitude=1.0, phase_width=2e-4)
    with pytest.raises(ValueError, match="amplitude must be finite and >= 0"):
        Stimulus.biphasic(1, 0.01, 1e-4, rate=100.0, amplitude=-1.0, phase_width=2e-4)
    with pytest.raises(ValueError, match=r"start must be in \[0, duration\)"):
        Stimulus.biphasic(1, 0.01, 1e-4, rate=100.0, amplitude=1.0, phase_width=2e-4, start=0.01)
    with pytest.raises(ValueError, match="jitter must be at most"):
        Stimulus.biphasic(1, 0.01, 1e-4, rate=1000.0, amplitude=1.0, phase_width=2e-4, jitter=1e-3)


# --------------------------------------------------------------------------- pulse train
def test_pulse_train_count_widths_and_charge():
    dt, width, rate, amplitude = 1e-4, 1e-3, 10.0, -2e-6
    s = Stimulus.pulse_train(2, 2.0, dt, rate=rate, amplitude=amplitude, width=width, start=0.05)
    for c in range(2):
        np.testing.assert_array_equal(cathodic_onsets(s.data[:, c]), 500 + 1000 * np.arange(20))
        np.testing.assert_array_equal(run_lengths(s.data[:, c]), np.full(20, 10))
        assert set(np.unique(s.data[:, c])) == {amplitude, 0.0}
    # 20 pulses x 10 samples x amplitude x dt; 200 equal terms: round-off below 200 eps
    np.testing.assert_allclose(s.charge, 20 * width * amplitude, rtol=200 * EPS)


def test_pulse_train_jitter_delays_within_bounds_and_reproduces():
    kwargs = dict(rate=10.0, amplitude=1.0, width=1e-3, jitter=5e-3)
    a = Stimulus.pulse_train(4, 1.0, 1e-4, random_state=3, **kwargs)
    b = Stimulus.pulse_train(4, 1.0, 1e-4, random_state=3, **kwargs)
    other = Stimulus.pulse_train(4, 1.0, 1e-4, random_state=4, **kwargs)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, other.data)
    for c in range(4):
        onsets = np.flatnonzero(np.diff(np.concatenate([[0.0], a.data[:, c]])) > 0)
        delays = onsets - 1000 * np.arange(10)
        assert np.all((delays >= 0) & (delays <= 50))
        np.testing.assert_array_equal(run_lengths(a.data[:, c]), np.full(10, 10))
    # channels draw independent delays
    assert not np.array_equal(a.data[:, 0], a.data[:, 1])


# --------------------------------------------------------------------------- noise
def test_white_noise_rms_within_a_chi_square_bound():
    rms, mean, n_channels, duration, dt = 3e-6, 1e-6, 8, 1.0, 1e-4
    s = Stimulus.white_noise(n_channels, duration, dt, rms=rms, mean=mean, random_state=11)
    z = (s.data - mean) / rms
    # sum of z^2 is chi-square with n * m degrees of freedom; 1e-6 tails on both sides
    dof = z.size
    statistic = float(np.sum(z**2))
    assert stats.chi2.ppf(1e-6, dof) < statistic < stats.chi2.ppf(1 - 1e-6, dof)
    # the sample mean is Normal(mean, rms^2 / N): within 5 standard errors
    assert abs(s.data.mean() - mean) < 5 * rms / math.sqrt(dof)


def test_band_limited_white_noise_keeps_the_process_rms_and_cuts_high_frequencies():
    rms, dt, bandwidth, n_channels = 2e-6, 1e-4, 200.0, 16
    s = Stimulus.white_noise(n_channels, 2.0, dt, rms=rms, bandwidth=bandwidth,
                             channels=range(n_channels), random_state=5)
    # standard error of the per-channel mean square of a Gaussian process with spectrum
    # |H|^4 (forward-backward Butterworth): var = 2 rms^4 / n * sum_k rho_k^2, and by
    # Parseval sum_k rho_k^2 = mean(|H|^8) / mean(|H|^4)^2
    sos = signal.butter(4, bandwidth, fs=1 / dt, output="sos")
    _, h = signal.sosfreqz(sos, worN=1 << 16)
    h2 = np.abs(h) ** 2
    correlation_sum = np.mean(h2**4) / np.mean(h2**2) ** 2
    se = math.sqrt(2 * rms**4 / s.n_samples * correlation_sum / n_channels)
    mean_square = float(np.mean(s.data**2))
    assert abs(mean_square - rms**2) < 5 * se
    f, psd = signal.welch(s.data, fs=1 / dt, nperseg=2048, axis=0)
    passband = psd[f < bandwidth / 2].mean()
    stopband = psd[f > 4 * bandwidth].mean()
    # |H(4 fc)|^4 of an order-4 Butterworth is 4^-16 ~ 2e-10; 1e-6 leaves room for leakage
    assert stopband < 1e-6 * passband


def test_pink_noise_spectral_slope():
    dt = 1e-3
    for exponent in (1.0, 2.0):
        s = Stimulus.pink_noise(8, 2**15 * dt, dt, rms=1e-6, exponent=exponent, random_state=2)
        f, psd = signal.welch(s.data, fs=1 / dt, nperseg=2048, axis=0)
        band = (f >= 2.0) & (f <= 200.0)
        slope = np.polyfit(np.log10(f[band]), np.log10(psd[band].mean(axis=1)), 1)[0]
        # each Welch bin averages 8 channels x 31 segments, so the fitted slope has a
        # standard deviation of ~0.006 over seeds; 0.05 is about 8 of them
        assert slope == pytest.approx(-exponent, abs=0.05)
        # the zero-frequency component is removed: each channel's mean is zero to round-off
        assert np.all(np.abs(s.data.mean(axis=0)) < 1e-6 * 1e-12)


def test_pink_noise_is_flat_below_f_min():
    dt = 1e-3
    s = Stimulus.pink_noise(8, 2**15 * dt, dt, rms=1.0, f_min=20.0, random_state=4)
    f, psd = signal.welch(s.data, fs=1 / dt, nperseg=2048, axis=0)
    psd = psd.mean(axis=1)
    low_band, mid_band = (f >= 1) & (f <= 5), (f >= 10) & (f <= 18)
    high_band = (f >= 40) & (f <= 80)
    low, mid, high = psd[low_band].mean(), psd[mid_band].mean(), psd[high_band].mean()
    # these band ratios scatter by ~3 % over seeds (measured over 20), so 15 % is 5 standard
    # deviations; an unflattened 1/f spectrum would give low / mid ~ 4.7
    assert low / mid == pytest.approx(1.0, rel=0.15)
    # above f_min the spectrum is 1/f again: flat level 1/f_min against the mean of 1/f
    assert mid / high == pytest.approx((1 / 20.0) / np.mean(1 / f[high_band]), rel=0.15)


def test_pink_noise_process_rms():
    rms, n, n_channels, dt = 2.0, 4096, 64, 1e-3
    s = Stimulus.pink_noise(n_channels, n * dt, dt, rms=rms, random_state=9)
    # exact sampling variance of one channel's mean square for the FFT-shaped process:
    # (scale^4 / n^2) (4 sum_mid g^4 + 2 g_nyquist^4), with g = f^-1/2 and scale^2 = rms^2 / E
    g = np.zeros(n // 2 + 1)
    g[1:] = np.fft.rfftfreq(n, dt)[1:] ** -0.5
    weight = np.full(g.size, 2.0)
    weight[[0, -1]] = 1.0
    expected = np.sum(weight * g**2) / n
    scale2 = rms**2 / expected
    variance = scale2**2 / n**2 * (4 * np.sum(g[1:-1] ** 4) + 2 * g[-1] ** 4)
    se = math.sqrt(variance / n_channels)
    assert abs(np.mean(s.data**2) - rms**2) < 5 * se


def test_seeds_reproduce_bits_and_differ():
    makers = [
        lambda r: Stimulus.white_noise(3, 0.05, 1e-4, rms=1.0, random_state=r),
        lambda r: Stimulus.white_noise(3, 0.05, 1e-4, rms=1.0, bandwidth=500.0, random_state=r),
        lambda r: Stimulus.pink_noise(3, 0.05, 1e-4, rms=1.0, random_state=r),
        lambda r: Stimulus.biphasic(3, 0.05, 1e-4, rate=100.0, amplitude=1.0, phase_width=1e-4,
                                    jitter=2e-3, random_state=r),
        lambda r: Stimulus.encode(np.ones((5, 3)), hold=0.01, dt=1e-4, amplitude=1.0,
                                  mode="threshold", threshold=0.5, jitter=5e-3, random_state=r),
    ]
    for make in makers:
        np.testing.assert_array_equal(make(7).data, make(7).data)
        np.testing.assert_array_equal(make(np.random.default_rng(7)).data, make(7).data)
        assert not np.array_equal(make(7).data, make(8).data)


def test_noise_errors():
    with pytest.raises(ValueError, match="bandwidth must be below the Nyquist frequency"):
        Stimulus.white_noise(1, 0.01, 1e-4, rms=1.0, bandwidth=5000.0)
    with pytest.raises(ValueError, match="rms must be finite and >= 0"):
        Stimulus.white_noise(1, 0.01, 1e-4, rms=-1.0)
    with pytest.raises(ValueError, match="exponent must be finite and >= 0"):
        Stimulus.pink_noise(1, 0.01, 1e-4, rms=1.0, exponent=-1.0)
    with pytest.raises(ValueError, match="f_min must be at most the Nyquist"):
        Stimulus.pink_noise(1, 0.01, 1e-4, rms=1.0, f_min=1e4)
    with pytest.raises(ValueError, match="random_state"):
        Stimulus.white_noise(1, 0.01, 1e-4, rms=1.0, random_state=-1)


# --------------------------------------------------------------------------- chirp
@pytest.mark.parametrize("method", ["linear", "logarithmic"])
def test_chirp_instantaneous_frequency_at_start_and_end(method):
    f0, f1, duration, dt, amplitude, phase = 5.0, 50.0, 1.0, 1e-5, 2e-6, 0.3
    s = Stimulus.chirp(2, duration, dt, amplitude=amplitude, f0=f0, f1=f1, method=method,
                       phase=phase, channels=[1])
    x = s.data[:, 1]
    assert not s.data[:, 0].any()
    assert x[0] == pytest.approx(amplitude * math.cos(phase), rel=1e-12)  # phase in radians
    # upward zero crossings, linearly interpolated: for 50 Hz at 10 us steps the error of
    # the interpolation is ~(2 pi f dt)^2 dt / 8 ~ 1e-11 s, negligible against a period
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    crossings = (i + x[i] / (x[i] - x[i + 1])) * dt
    measured = 1.0 / np.diff(crossings)
    middle = 0.5 * (crossings[1:] + crossings[:-1])
    if method == "linear":
        law = f0 + (f1 - f0) * middle / duration
        # the mean frequency over a cycle of a linear sweep is f(middle) exactly
        tolerance = np.full(measured.size, 1e-6)
    else:
        beta = math.log(f1 / f0) / duration
        law = f0 * (f1 / f0) ** (middle / duration)
        # over a cycle of length T a geometric sweep averages f(middle) (1 + (beta T)^2 / 24 + ...)
        tolerance = (beta / measured) ** 2 / 12 + 1e-6
    # the law reaches f0 at t = 0 and f1 at t = duration: matching it tightly on the first
    # and the last whole cycle pins the start and end frequencies (and the sweep's end time)
    for k in (0, -1):
        assert measured[k] == pytest.approx(law[k], rel=tolerance[k])
    assert middle[0] < 1.5 / f0 and middle[-1] > duration - 1.5 / f1  # cycles at the ends


def test_chirp_errors():
    with pytest.raises(ValueError, match="f1 must satisfy .* < 5000 Hz"):
        Stimulus.chirp(1, 0.01, 1e-4, amplitude=1.0, f0=1.0, f1=6000.0)
    with pytest.raises(ValueError, match="f0 must satisfy 0 < f0"):
        Stimulus.chirp(1, 0.01, 1e-4, amplitude=1.0, f0=0.0, f1=10.0, method="logarithmic")
    with pytest.raises(ValueError, match="method must be"):
        Stimulus.chirp(1, 0.01, 1e-4, amplitude=1.0, f0=1.0, f1=10.0, method="quadratic")


# --------------------------------------------------------------------------- encode
def test_encode_amplitude_holds_each_step():
    x = np.array([[0.5, -1.0], [2.0, 0.0], [-0.25, 1.5]])
    s = Stimulus.encode(x, hold=3e-4, dt=1e-4, amplitude=2e-6, channel_map=[2, 0], n_channels=4)
    assert s.data.shape == (9, 4) and s.unit == "A"
    np.testing.assert_array_equal(s.data[:, 2], np.repeat(x[:, 0] * 2e-6, 3))
    np.testing.assert_array_equal(s.data[:, 0], np.repeat(x[:, 1] * 2e-6, 3))
    assert not s.data[:, [1, 3]].any()
    # charge of each feature's channel: hold x amplitude x sum of its values
    np.testing.assert_allclose(s.charge[[2, 0]], 3e-4 * 2e-6 * x.sum(axis=0), rtol=16 * EPS)
    one = Stimulus.encode(x[:, 0], hold=1e-4, dt=1e-4, amplitude=1.0, unit="V")
    assert one.data.shape == (3, 1) and one.unit == "V"


def test_encode_rate_is_monotone_and_proportional():
    x = np.linspace(0.0, 3.0, 13)
    dt, hold, phase = 1e-4, 10e-3, 2e-4
    s = Stimulus.encode(x, hold=hold, dt=dt, amplitude=1e-6, mode="rate", pulse_width=phase)
    n_max = 25  # default max_rate 1 / (2 phase) = 2500 Hz, 25 pulses in 10 ms
    per_hold = s.data[:, 0].reshape(13, 100)
    counts = np.array([len(cathodic_onsets(h)) for h in per_hold])
    np.testing.assert_array_equal(counts, np.floor(x / x.max() * n_max + 0.5))
    assert counts[0] == 0 and counts[-1] == n_max
    assert np.all(np.diff(counts) >= 0)
    # every pulse lies wholly inside its hold: each hold is charge balanced
    assert np.all(np.abs(per_hold.sum(axis=1)) <= 100 * 2 * 1e-6 * EPS)
    # an explicit max_rate: 300 Hz gives 3 pulses per hold at the maximum, evenly spaced
    s = Stimulus.encode(x, hold=hold, dt=dt, amplitude=1e-6, mode="rate", max_rate=300.0)
    top = s.data[-100:, 0]
    np.testing.assert_array_equal(cathodic_onsets(top), [0, 33, 66])
    np.testing.assert_array_equal(run_lengths(top), [4, 4, 4])  # default phase 200 us = 2 samples


def test_encode_rate_uses_a_given_feature_max():
    train_max = np.array([2.0, 4.0])
    x = np.array([[1.0, 8.0], [3.0, 1.0]])  # 3 > 2 and 8 > 4 saturate
    s = Stimulus.encode(x, hold=4e-3, dt=1e-4, amplitude=1.0, mode="rate", feature_max=train_max,
                        max_rate=1000.0)
    holds = s.data.reshape(2, 40, 2)  # (step, sample in hold, channel)
    counts = [[len(cathodic_onsets(holds[i, :, f])) for f in range(2)] for i in range(2)]
    np.testing.assert_array_equal(counts, [[2, 4], [4, 1]])  # round(clip(x / max) * 4)


def test_encode_threshold_fires_one_pulse_per_supra_threshold_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    channel_map, hold_samples = [5, 0, 2], 20
    s = Stimulus.encode(x, hold=2e-3, dt=1e-4, amplitude=3e-6, mode="threshold",
                        threshold=0.2, channel_map=channel_map, n_channels=7)
    assert s.data.shape == (30 * hold_samples, 7)
    assert not s.data[:, [1, 3, 4, 6]].any()
    for f, c in enumerate(channel_map):
        onsets = cathodic_onsets(s.data[:, c])
        np.testing.assert_array_equal(onsets, np.flatnonzero(x[:, f] > 0.2) * hold_samples)
        np.testing.assert_array_equal(run_lengths(s.data[:, c]), np.full(onsets.size, 4))
    assert np.all(np.abs(s.charge) <= s.n_samples * 2 * 3e-6 * 1e-4 * EPS)


def test_encode_jitter_keeps_pulses_in_their_slots():
    x = np.ones((8, 2))
    s = Stimulus.encode(x, hold=5e-3, dt=1e-4, amplitude=1.0, mode="rate", max_rate=400.0,
                        jitter=8e-4, random_state=1)
    for c in range(2):
        onsets = cathodic_onsets(s.data[:, c])
        assert onsets.size == 16  # 2 pulses per 50-sample hold: slots of 25 samples
        delay = onsets - (np.arange(16) * 25)
        assert np.all((delay >= 0) & (delay <= 8))


def test_encode_errors_are_named():
    ok = dict(hold=1e-3, dt=1e-4, amplitude=1.0)
    bad = np.ones((4, 2))
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"signal must be finite.*step 2, feature 1"):
        Stimulus.encode(bad, **ok)
    with pytest.raises(ValueError, match="hold must be finite and > 0"):
        Stimulus.encode(np.ones(3), hold=-1e-3, dt=1e-4, amplitude=1.0)
    with pytest.raises(ValueError, match="hold must be a whole number"):
        Stimulus.encode(np.ones(3), hold=2.5e-4, dt=1e-4, amplitude=1.0)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        Stimulus.encode(np.ones(3), hold=1e-3, dt=0.0, amplitude=1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        Stimulus.encode(np.ones(3), mode="phase", **ok)
    with pytest.raises(ValueError, match=r"signal must be >= 0 for mode='rate'.*step 1, feature 0"):
        Stimulus.encode(np.array([1.0, -1.0]), mode="rate", **ok)
    with pytest.raises(ValueError, match="channel_map entries must be distinct"):
        Stimulus.encode(np.ones((3, 2)), channel_map=[1, 1], **ok)
    with pytest.raises(ValueError, match="one channel per feature"):
        Stimulus.encode(np.ones((3, 2)), channel_map=[1], **ok)
    with pytest.raises(ValueError, match=r"n_channels must be at least max\(channel_map\) \+ 1 = 4"):
        Stimulus.encode(np.ones((3, 2)), channel_map=[3, 0], n_channels=2, **ok)
    with pytest.raises(ValueError, match="max_rate applies only to mode 'rate'"):
        Stimulus.encode(np.ones(3), max_rate=100.0, **ok)
    with pytest.raises(ValueError, match="threshold applies only"):
        Stimulus.encode(np.ones(3), mode="rate", threshold=0.5, **ok)
    with pytest.raises(ValueError, match="a biphasic pulse .* must fit in one hold"):
        Stimulus.encode(np.ones(3), mode="threshold", pulse_width=6e-4, **ok)
    with pytest.raises(ValueError, match="max_rate must be at most 1 / \\(2 pulse_width\\)"):
        Stimulus.encode(np.ones(3), mode="rate", max_rate=1e4, **ok)
    with pytest.raises(ValueError, match="max_rate must allow at least one pulse per hold"):
        Stimulus.encode(np.ones(3), mode="rate", max_rate=100.0, **ok)
    with pytest.raises(ValueError, match="signal must have shape"):
        Stimulus.encode(np.ones((2, 2, 2)), **ok)


# --------------------------------------------------------------------------- grid and safety
def test_generator_grid_errors():
    suggestion = r"duration must be a whole number .*\(try 0\.0498 s or 0\.0501 s\)"
    with pytest.raises(ValueError, match=suggestion):
        Stimulus.zeros(2, 0.05, 3e-4)
    with pytest.raises(ValueError, match="n_channels must be an integer >= 0"):
        Stimulus.zeros(-1, 0.01, 1e-4)
    with pytest.raises(TypeError, match="n_channels must be an integer"):
        Stimulus.zeros(2.0, 0.01, 1e-4)
    with pytest.raises(ValueError, match="channels must lie between 0 and 2"):
        Stimulus.chirp(3, 0.01, 1e-4, amplitude=1.0, f0=1.0, f1=2.0, channels=[3])
    with pytest.raises(ValueError, match="channels must be distinct"):
        Stimulus.white_noise(3, 0.01, 1e-4, rms=1.0, channels=[1, 1])
    with pytest.raises(ValueError, match="unit must be 'A'"):
        Stimulus.zeros(1, 0.01, 1e-4, unit="mV")
    z = Stimulus.zeros(3, 0.05, 1e-4)
    assert z.data.shape == (500, 3) and not z.data.any()


def test_check_safe_names_channel_and_amplitude():
    data = np.zeros((10, 3))
    data[4, 1] = -12e-6
    data[7, 2] = 20e-6
    s = Stimulus(data, 1e-4)
    assert s.check_safe(25e-6) is s
    with pytest.raises(ValueError, match=r"channel 1 reaches amplitude -1.2e-05 A at t = 0.0004 s.*"
                                         r"max_amplitude = 1e-05 A \(and 1 more"):
        s.check_safe(10e-6)
    with pytest.raises(ValueError, match="channel 2 reaches amplitude 2e-05"):
        s.check_safe([1e-6, 15e-6, 15e-6])
    with pytest.raises(ValueError, match="max_amplitude must be > 0"):
        s.check_safe(0.0)
    with pytest.raises(ValueError, match=r"max_amplitude must be a scalar or of shape \(3,\)"):
        s.check_safe([1.0, 2.0])
