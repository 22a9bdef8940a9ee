"""Fidelity metrics against closed-form answers.

The key test is ``test_good_prediction_can_hide_wrong_dynamics``: a teacher whose
electrodes see only a 2-dimensional corner of its 20-dimensional state, and a student that
reproduces the electrodes exactly with an unrelated internal system. Prediction fidelity
is ~1; latent similarity is poor. That is the metric doing its job.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, RidgeClassifier

from distill._fidelity import (
    FidelityReport,
    bin_responses,
    compare_free_running,
    free_running_statistics,
    latent_similarity,
    noise_ceiling,
    normalised_explained_variance,
    spike_count_correlation,
    spike_trains,
    spikes_from_counts,
    task_transfer,
    van_rossum_distance,
)
from substrates import Recording


# ----------------------------------------------------------------------------- noise ceiling
def _repeats(n_repeats, n_bins, n_channels, noise_sd, seed):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_bins, n_channels))  # a fixed signal, variance ~1 per channel
    noise = noise_sd * rng.standard_normal((n_repeats, n_bins, n_channels))
    return signal, signal + noise


def test_noise_ceiling_is_unbiased_with_its_analytic_spread():
    n, T, C, sigma = 4, 500, 400, 1.5
    signal, repeats = _repeats(n, T, C, sigma, seed=0)
    nc = noise_ceiling(repeats)
    v_s = signal.var(axis=0, ddof=1)  # what S_k estimates: the signal's own sample variance
    # Var(S_k) = [4 v_s sigma^2 / n + 2 sigma^4 / n^2] / (T - 1) + 2 sigma^4 / ((n - 1) T n^2)
    # (trial mean and within-bin variances of Gaussians are independent)
    sd = np.sqrt((4 * v_s * sigma**2 / n + 2 * sigma**4 / n**2) / (T - 1)
                 + 2 * sigma**4 / ((n - 1) * T * n**2))
    z = (nc.signal_variance - v_s) / sd
    # the mean of 400 standardised errors: sd 1 / sqrt(400) = 0.05; 4 sd
    assert abs(z.mean()) < 4 / math.sqrt(C)
    # their spread matches the analytic sd: the sample sd of 400 values is within ~4 x 3.5 %
    assert z.std(ddof=1) == pytest.approx(1.0, abs=0.15)
    # noise variance: mean of T chi^2_{n-1} sigma^2 / (n - 1); sd sigma^2 sqrt(2 / ((n-1) T))
    sd_noise = sigma**2 * math.sqrt(2 / ((n - 1) * T))
    assert abs((nc.noise_variance - sigma**2).mean()) < 4 * sd_noise / math.sqrt(C)
    # ceiling = S / M with M = var(trial mean): E ~ v_s / (v_s + sigma^2 / n)
    np.testing.assert_allclose(nc.ceiling, nc.signal_variance / nc.mean_variance)
    expected = (v_s / (v_s + sigma**2 / n)).mean()
    assert nc.ceiling.mean() == pytest.approx(expected, abs=0.01)  # 400 x sd ~0.03 each
    assert nc.n_repeats == n and nc.n_bins == T


def test_true_signal_gets_normalised_ev_one_and_noisy_prediction_loses_its_error_share():
    n, T, C, sigma = 5, 1000, 200, 1.0
    signal, repeats = _repeats(n, T, C, sigma, seed=1)
    ev = normalised_explained_variance(signal, repeats)
    # E[EV_norm] = 1 - sigma^2 / (n (T - 1) v_s) = 0.9998; per-channel sd ~ 0.05
    spread = np.std(ev.per_channel) / math.sqrt(C)
    assert abs(np.mean(ev.per_channel) - 1.0) < 4 * spread + 1e-3
    assert ev.pooled == pytest.approx(1.0, abs=4 * spread + 1e-3)
    # the raw EV of the true signal is the ceiling (both are S / M up to noise)
    assert ev.raw_pooled == pytest.approx(ev.ceiling.pooled, abs=0.01)
    assert ev.raw_pooled < 0.9  # 1 / (1 + 1 / 5) = 0.83: raw EV cannot reach 1 with noise
    # a prediction with independent error of variance v: EV_norm = 1 - v / v_s
    v = 0.25
    rng = np.random.default_rng(2)
    worse = normalised_explained_variance(signal + math.sqrt(v) * rng.normal(size=signal.shape),
                                          repeats)
    expected = 1.0 - v / signal.var(axis=0, ddof=1)
    diff = worse.per_channel - expected
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(C) + 1e-3


def test_normalised_ev_leaves_out_channels_without_signal():
    rng = np.random.default_rng(3)
    signal = np.column_stack([rng.normal(size=400), np.zeros(400)])
    repeats = signal + rng.normal(size=(3, 400, 2))
    ev = normalised_explained_variance(signal, repeats, min_ceiling=0.2)
    # channel 1 is pure noise: ceiling ~0 (sd ~0.1), below 0.2, so it is NaN and not pooled
    assert np.isnan(ev.per_channel[1]) and np.isfinite(ev.per_channel[0])
    assert ev.pooled == pytest.approx(ev.per_channel[0])


def test_noise_ceiling_refuses_bad_input():
    good = np.zeros((3, 10, 2))
    with pytest.raises(ValueError, match="at least 2 repeats"):
        noise_ceiling(good[:1])
    bad = good.copy()
    bad[1, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"repeats must be finite .*\(1, 4, 1\)"):
        noise_ceiling(bad)
    with pytest.raises(ValueError, match=r"shape \(n_repeats, n_bins, n_channels\)"):
        noise_ceiling(np.zeros((3, 10, 2, 1)))
    with pytest.raises(ValueError, match=r"prediction must have shape \(>= 10, 2\)"):
        normalised_explained_variance(np.zeros((10, 3)), good)
    with pytest.raises(TypeError, match="bin recordings first"):
        noise_ceiling([Recording(np.zeros((4, 1)), 1e3, "V", electrode_positions=np.zeros((1, 3)))] * 2)


def test_bin_responses_counts_spikes_and_averages_traces():
    rec = Recording(np.arange(20.0).reshape(10, 2), 1000.0, "V",
                    electrode_positions=np.zeros((2, 3)),
                    spike_times=[0.0005, 0.0049, 0.0051], spike_channels=[0, 0, 1])
    counts = bin_responses([rec, rec], 5e-3, "spike_counts")
    assert counts.shape == (2, 2, 2) and counts[0].tolist() == [[2.0, 0.0], [0.0, 1.0]]
    trace = bin_responses(rec, 5e-3, "trace")
    assert trace[0].tolist() == [[4.0, 5.0], [14.0, 15.0]]
    with pytest.raises(ValueError, match="whole multiple .* of the recording sample period"):
        bin_responses(rec, 2.5e-3, "trace")


# ----------------------------------------------------------------------------- spikes
@pytest.mark.parametrize("dt", [0.0, 0.001, 0.01, 0.05, -0.02])
def test_van_rossum_single_spikes_match_the_closed_form(dt):
    tau = 0.01
    d = van_rossum_distance([[0.1]], [[0.1 + dt]], tau)
    # D^2 = 1 - exp(-|dt| / tau) in the (1 / tau) int normalisation; float round-off only
    assert d[0] ** 2 == pytest.approx(1.0 - math.exp(-abs(dt) / tau), abs=1e-12)


def _van_rossum_pairs(a, b, tau):
    """O(n^2) closed form: D^2 = 1/2 [K(a,a) + K(b,b) - 2 K(a,b)], K = sum exp(-|x - y| / tau)."""
    def k(x, y):
        return np.exp(-np.abs(np.subtract.outer(x, y)) / tau).sum()
    return 0.5 * (k(a, a) + k(b, b) - 2.0 * k(a, b))


def test_van_rossum_matches_pairwise_sum_and_numerical_integral_and_is_a_metric():
    rng = np.random.default_rng(4)
    tau = 0.02
    trains = [np.sort(rng.uniform(0, 2.0, size=rng.integers(5, 60))) for _ in range(3)]
    a, b, c = trains
    d_ab = van_rossum_distance([a], [b], tau)[0]
    assert d_ab**2 == pytest.approx(_van_rossum_pairs(a, b, tau), rel=1e-10)
    # brute force on a 10 us grid: (1 / tau) sum (f_a - f_b)^2 dt; rectangle-rule error on a
    # kernel with jumps is O(dt / tau) = 5e-4 relative
    grid = np.arange(0.0, 3.0, 1e-5)

    def trace(x):
        f = np.zeros_like(grid)
        for t in x:
            m = grid >= t
            f[m] += np.exp(-(grid[m] - t) / tau)
        return f
    brute = np.sum((trace(a) - trace(b)) ** 2) * 1e-5 / tau
    brute += 0.5 * (trace(a)[-1] - trace(b)[-1]) ** 2  # the tail past 3 s, exactly
    assert d_ab**2 == pytest.approx(brute, rel=2e-3)
    # a metric: zero on itself, symmetric, triangle inequality
    assert van_rossum_distance([a], [a], tau)[0] == pytest.approx(0.0, abs=1e-7)
    assert van_rossum_distance([b], [a], tau)[0] == pytest.approx(d_ab, rel=1e-12)
    d_ac = van_rossum_distance([a], [c], tau)[0]
    d_cb = van_rossum_distance([c], [b], tau)[0]
    assert d_ab <= d_ac + d_cb + 1e-12
    # one spike against none: D^2 = 1/2; n spikes far apart against none: n/2
    assert van_rossum_distance([[0.3]], [[]], tau)[0] ** 2 == pytest.approx(0.5)
    assert van_rossum_distance([[0.0, 10.0, 20.0]], [[]], tau)[0] ** 2 == pytest.approx(1.5)


_times = st.lists(st.floats(0.0, 1.0, allow_nan=False), max_size=25)


@settings(max_examples=60, deadline=None)
@given(a=_times, b=_times, tau=st.floats(1e-3, 0.5))
def test_van_rossum_one_pass_equals_the_pairwise_closed_form(a, b, tau):
    d = van_rossum_distance([a], [b], tau)[0]
    # both are sums of at most 50^2 terms of size <= 1: round-off well below 1e-9
    assert d**2 == pytest.approx(_van_rossum_pairs(np.array(a), np.array(b), tau), abs=1e-9)
    assert van_rossum_distance([b], [a], tau)[0] == pytest.approx(d, abs=1e-9)


def test_van_rossum_refuses_bad_input():
    with pytest.raises(ValueError, match=r"tau must be > 0"):
        van_rossum_distance([[0.1]], [[0.2]], -0.01)
    with pytest.raises(ValueError, match="finite"):
        van_rossum_distance([[0.1]], [[0.2]], float("nan"))
    with pytest.raises(ValueError, match="same number of channels, got 1 and 2"):
        van_rossum_distance([[0.1]], [[0.2], [0.3]], 0.01)
    with pytest.raises(ValueError, match=r"spikes_b\[0\] must hold finite spike times"):
        van_rossum_distance([[0.1]], [[np.nan]], 0.01)


def test_spike_count_correlation_and_poisson_spikes():
    rng = np.random.default_rng(5)
    a = rng.poisson(2.0, size=(2000, 3)).astype(float)
    r = spike_count_correlation(a, np.column_stack([2 * a[:, 0] + 1, -a[:, 1],
                                                    rng.poisson(2.0, size=2000)]))
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0)
    assert abs(r[2]) < 4 / math.sqrt(2000)  # independent: sd 1 / sqrt(n_bins)
    with pytest.raises(ValueError, match="one shape"):
        spike_count_correlation(a, a[:, :2])
    # spikes drawn from expected counts: Poisson totals, every spike inside its bin
    lam = np.full((500, 2), 0.4)
    lam[:, 1] = 0.0
    trains = spikes_from_counts(lam, 0.01, random_state=6)
    assert trains[1].size == 0
    assert abs(trains[0].size - 200) < 4 * math.sqrt(200)
    assert trains[0].min() >= 0 and trains[0].max() < 5.0
    again = spikes_from_counts(lam, 0.01, random_state=6)
    assert np.array_equal(again[0], trains[0])
    rec = Recording(np.zeros((100, 2)), 1e3, "V", electrode_positions=np.zeros((2, 3)),
                    spike_times=[0.01, 0.02, 0.03], spike_channels=[1, 0, 1])
    assert [t.tolist() for t in spike_trains(rec)] == [[0.02], [0.01, 0.03]]


# ----------------------------------------------------------------------------- task transfer
def test_task_transfer_classifier_agreement_and_chance():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 4))
    labels = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    same = task_transfer(RidgeClassifier(), X, X.copy(), labels)
    assert same.agreement == 1.0 and same.student_score == same.teacher_score > 0.95
    assert same.metric == "accuracy" and same.n_test == 1000
    # a student whose features are unrelated to the teacher's: agreement at chance, ~0.5
    # (balanced classes); binomial sd 0.016 on 1000 test samples
    other = task_transfer(RidgeClassifier(), X, rng.normal(size=X.shape), labels)
    assert abs(other.agreement - 0.5) < 4 * 0.016
    assert abs(other.student_score - 0.5) < 4 * 0.016


def test_task_transfer_regressor_agreement_matches_closed_form():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20000, 1))
    y = 2.0 * x[:, 0]
    v = 0.25
    student = x + math.sqrt(v) * rng.normal(size=x.shape)
    tt = task_transfer(LinearRegression(), x, student, y)
    # the readout is y = 2 x exactly; outputs differ by 2 e: agreement R^2 = 1 - v / var(x)
    assert tt.metric == "r2" and tt.teacher_score == pytest.approx(1.0)
    assert tt.agreement == pytest.approx(1.0 - v, abs=0.02)  # sd of an R^2 on 1e4 samples ~0.005
    assert tt.student_score == pytest.approx(tt.agreement, abs=1e-9)  # teacher output = labels
    fitted = LinearRegression().fit(x, y)
    pre = task_transfer(fitted, x, student, y, fitted=True)
    assert pre.n_test == 20000 and pre.agreement == pytest.approx(1.0 - v, abs=0.02)
    with pytest.raises(ValueError, match="one shape"):
        task_transfer(LinearRegression(), x, student[:10], y)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        task_transfer(LinearRegression(), x, student, y, train_fraction=1.5)


# ----------------------------------------------------------------------------- latent similarity
def _teacher(n_bins, seed, n_block=2, n_other=18):
    """A block-diagonal linear system: the electrodes see only the first block.

    x_block(t+1) = A x_block(t) + B u0(t), x_other(t+1) = a x_other(t) + u_other(t),
    output y = x_block[0]. Returns the input, the hidden state and the output.
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_bins, 1 + n_other))
    A = np.array([[0.8, -0.3], [0.3, 0.8]])  # a damped rotation (eigenvalues |.| = 0.85)
    a = rng.uniform(0.5, 0.9, size=n_other)
    x = np.zeros((n_bins, n_block + n_other))
    for t in range(1, n_bins):
        x[t, :n_block] = A @ x[t - 1, :n_block] + np.array([1.0, 0.5]) * u[t - 1, 0]
        x[t, n_block:] = a * x[t - 1, n_block:] + u[t - 1, 1:]
    x[:, n_block:] *= np.sqrt(x[:, :n_block].var(axis=0).mean() / x[:, n_block:].var(axis=0))
    return u, x, x[:, 0]


def test_invertible_transform_of_the_teacher_state_has_latent_similarity_one():
    _, x, _ = _teacher(3000, seed=9)
    rng = np.random.default_rng(10)
    mixing = rng.normal(size=(20, 20))  # invertible with probability 1 (cond ~ 1e2)
    states = x @ mixing + 0.3
    probe = latent_similarity(states, x)
    cca = latent_similarity(states, x, method="cca")
    # exact linear relation: only the ridge penalty (chosen by LOO, ~1e-4) and float
    # round-off keep these from 1
    assert probe.value > 0.999 and np.all(probe.per_dimension > 0.99)
    # SVCCA keeps the components holding 99 % of the variance (15 of 20 here)
    assert cca.value > 0.99 and 10 <= cca.per_dimension.size <= 20
    # CCA is symmetric: swapping the sides gives the same value (both > 0.99 here)
    swapped = latent_similarity(x, states, method="cca")
    assert swapped.value == pytest.approx(cca.value, abs=1e-3)


def test_good_prediction_can_hide_wrong_dynamics():
    """Prediction fidelity ~1, latent similarity poor: the student is a different system."""
    n_bins, n_repeats, noise_sd = 3000, 4, 0.5
    _, x, y = _teacher(n_bins, seed=11)
    rng = np.random.default_rng(12)
    repeats = y[None, :, None] + noise_sd * rng.normal(size=(n_repeats, n_bins, 1))

    # the student: a random tanh reservoir driven by the teacher's output, plus the output
    # itself as one state unit; its readout picks that unit, so it predicts y exactly
    n_res = 40
    w = rng.normal(size=(n_res, n_res))
    w *= 0.9 / np.max(np.abs(np.linalg.eigvals(w)))
    w_in = rng.normal(size=n_res)
    r = np.zeros((n_bins, n_res))
    for t in range(1, n_bins):
        r[t] = np.tanh(w @ r[t - 1] + w_in * y[t] / y.std())
    states = np.column_stack([r, y])
    prediction = states[:, -1:]

    fidelity = normalised_explained_variance(prediction, repeats)
    probe = latent_similarity(states, x)
    cca = latent_similarity(states, x, method="cca")
    # prediction is perfect: EV_norm of the true signal is 1 within its sampling spread
    # (one channel, T = 3000, n = 4: sd ~0.01)
    assert fidelity.pooled == pytest.approx(1.0, abs=0.05)
    # latent: the output depends only on the 2-d block, which holds share = 2/20 of the
    # state's variance (the other units are scaled to the block's mean variance); even a
    # perfect read-out of the block cannot explain more, plus a little held-out slack
    share = x[:, :2].var(axis=0).sum() / x.var(axis=0).sum()
    assert share == pytest.approx(0.1, abs=0.02)
    assert probe.value < share + 0.05
    assert np.all(probe.per_dimension[2:] < 0.05)  # the hidden block: nothing to read
    # CCA: at most 2 of the 20 canonical pairs can correlate (the block); the other 18 are
    # held-out correlations of unrelated series (sd ~ 1/sqrt(900) = 0.03 each)
    assert cca.value < 2 / 20 + 0.1
    # and the contrast the metric exists for
    good = latent_similarity(x @ rng.normal(size=(20, 20)), x)
    assert good.value > 0.99 and probe.value < 0.2


def test_latent_similarity_refuses_bad_input():
    with pytest.raises(ValueError, match="same bins"):
        latent_similarity(np.zeros((10, 2)), np.zeros((11, 2)))
    with pytest.raises(ValueError, match="method must be 'probe' or 'cca'"):
        latent_similarity(np.zeros((10, 2)), np.zeros((10, 2)), method="svd")
    with pytest.raises(ValueError, match="student_states must be finite"):
        latent_similarity(np.full((10, 2), np.nan), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="need at least 3 and 2"):
        latent_similarity(np.zeros((4, 2)), np.zeros((4, 2)))


# ----------------------------------------------------------------------------- free running
def _bursting_trains(seed, n_channels=16, duration=20.0, rate=0.5, burst_starts=()):
    rng = np.random.default_rng(seed)
    trains = []
    for _ in range(n_channels):
        t = [rng.uniform(0, duration, size=rng.poisson(rate * duration))]
        for b in burst_starts:  # every channel fires 5 spikes within the first 40 ms
            t.append(b + rng.uniform(0.0, 0.04, size=5))
        trains.append(np.sort(np.concatenate(t)))
    return trains


def test_free_running_statistics_find_injected_bursts():
    starts = np.array([1.0, 2.7, 5.1, 9.0, 9.8, 14.2, 18.5])
    trains = _bursting_trains(13, burst_starts=starts)
    stats = free_running_statistics(trains, duration=20.0, window=10e-3)
    assert stats.n_bursts == starts.size
    # each burst starts in the window holding its first spike: within one window (10 ms)
    np.testing.assert_allclose(stats.burst_times[:, 0], starts, atol=10e-3)
    assert stats.burst_rate == pytest.approx(starts.size / 20.0)
    np.testing.assert_allclose(stats.inter_burst_intervals, np.diff(starts), atol=20e-3)
    counts = np.array([t.size for t in trains])
    np.testing.assert_allclose(stats.channel_rates, counts / 20.0)  # exact by definition
    assert stats.population_rate == pytest.approx(counts.sum() / 20.0)
    # 5 x 16 spikes per burst, plus the few background spikes that fall inside
    in_bursts = starts.size * 5 * 16
    assert stats.fraction_in_bursts == pytest.approx(in_bursts / counts.sum(), abs=0.02)
    assert 0.04 - 0.01 < stats.mean_burst_duration <= 0.04 + 0.02  # window-quantised
    # background alone: P(>= 4 of 16 channels in one 10 ms window) ~ C(16,4) 0.005^4 = 1e-6
    # per window, 2000 windows: no bursts
    quiet = free_running_statistics(_bursting_trains(14), duration=20.0)
    assert quiet.n_bursts == 0 and np.isnan(quiet.mean_burst_duration)
    assert quiet.inter_burst_intervals.size == 0
    comparison = compare_free_running(stats, stats)
    assert comparison["mean_rate_ratio"] == 1.0 and comparison["burst_rate_ratio"] == 1.0
    assert comparison["channel_rate_correlation"] == pytest.approx(1.0)
    assert math.isnan(compare_free_running(stats, quiet)["mean_ibi_ratio"])
    json.dumps(stats.to_dict())  # JSON-ready (NaN -> None)


def test_free_running_statistics_from_a_recording_and_bad_input():
    trains = _bursting_trains(15, n_channels=4, duration=2.0, burst_starts=[0.5])
    times = np.concatenate(trains)
    channels = np.concatenate([np.full(t.size, c) for c, t in enumerate(trains)])
    order = np.lexsort((channels, times))
    rec = Recording(np.zeros((2000, 4)), 1e3, "V", electrode_positions=np.zeros((4, 3)),
                    spike_times=times[order], spike_channels=channels[order])
    a = free_running_statistics(rec)
    b = free_running_statistics(trains, duration=2.0)
    assert a.n_bursts == b.n_bursts == 1
    np.testing.assert_allclose(a.channel_rates, b.channel_rates)
    with pytest.raises(ValueError, match="duration"):
        free_running_statistics(trains)
    with pytest.raises(ValueError, match=r"outside \[0, duration"):
        free_running_statistics(trains, duration=1.0)


def test_fidelity_report_to_dict_is_json():
    report = FidelityReport(normalised_ev=0.9, latent_probe_r2=float("nan"),
                            free_running={"mean_rate_ratio": np.float64(1.2)},
                            extra={"per_channel": np.array([1.0, np.nan])})
    d = report.to_dict()
    assert d["latent_probe_r2"] is None and d["extra"]["per_channel"] == [1.0, None]
    assert json.loads(json.dumps(d))["normalised_ev"] == 0.9
    assert "normalised_ev: 0.9" in report.summary()
