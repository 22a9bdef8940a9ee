"""Features from recordings: hand-computed cases, scipy's lfilter, warm-up and channel subsets."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from readout._features import (
    filtered_traces,
    sample_at,
    spike_count_features,
    step_features,
)
from substrates import Recording


def _recording(data, fs, spikes=None):
    data = np.asarray(data, dtype=float)
    kw = {}
    if spikes is not None:
        times, channels = spikes
        order = np.lexsort((channels, times))
        kw = {"spike_times": np.asarray(times, float)[order],
              "spike_channels": np.asarray(channels, np.int64)[order]}
    return Recording(data, fs, "V", electrode_positions=np.zeros((data.shape[1], 3)), **kw)


def _random_recording(seed, n_samples=400, n_channels=4, fs=1000.0, n_spikes=60):
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, n_samples, n_spikes)
    return _recording(rng.normal(size=(n_samples, n_channels)), fs,
                      (samples / fs, rng.integers(0, n_channels, n_spikes)))


# ---------------------------------------------------------------- spike counts
def test_spike_counts_by_hand():
    # bins of 10 ms at 1 kHz over 50 ms; a spike exactly at the end falls in the last bin
    rec = _recording(np.zeros((50, 3)), 1000.0,
                     ([0.0, 0.009, 0.010, 0.025, 0.025, 0.049, 0.050], [0, 0, 1, 2, 2, 1, 0]))
    counts = spike_count_features(rec, 0.01)
    expected = np.zeros((5, 3))
    expected[0, 0] = 2      # 0.000 and 0.009
    expected[1, 1] = 1      # 0.010 starts bin 1
    expected[2, 2] = 2
    expected[4, 1] = 1
    expected[4, 0] = 1      # 0.050 = duration: last bin
    np.testing.assert_array_equal(counts, expected)
    # every spike counted once: counts are a partition of the spikes
    assert counts.sum() == rec.spike_times.size


def test_spike_counts_warmup_and_channels():
    rec = _random_recording(1)
    full = spike_count_features(rec, 0.02)
    # warm-up of a whole number of bins drops exactly those bins
    np.testing.assert_array_equal(spike_count_features(rec, 0.02, warmup=0.1), full[5:])
    # a channel subset is those columns, in the order asked
    np.testing.assert_array_equal(spike_count_features(rec, 0.02, channels=[3, 1]), full[:, [3, 1]])


def test_spike_counts_refuse_a_recording_without_spikes():
    rec = _recording(np.zeros((10, 2)), 1000.0)
    with pytest.raises(ValueError, match="has_spikes"):
        spike_count_features(rec, 0.001)


# ---------------------------------------------------------------- exponential filters
@pytest.mark.parametrize("source", ["trace", "spikes"])
def test_filtered_traces_match_lfilter(source):
    rec = _random_recording(2)
    fs = rec.sampling_rate
    taus = [0.003, 0.05]
    y = filtered_traces(rec, taus, source=source)
    if source == "trace":
        x = np.asarray(rec.data)
    else:
        x = np.zeros(rec.data.shape)
        np.add.at(x, (np.round(rec.spike_times * fs).astype(int), rec.spike_channels), 1.0)
    for i, tau in enumerate(taus):
        a = math.exp(-1.0 / (fs * tau))
        gain = 1.0 - a if source == "trace" else 1.0 / tau
        ref = lfilter([gain], [1.0, -a], x, axis=0)
        # same recursion, same float operations up to summation order: a few ulps
        np.testing.assert_allclose(y[:, 4 * i:4 * (i + 1)], ref, rtol=1e-12, atol=1e-12)


def test_filtered_trace_analytic_step_and_spike():
    fs, tau = 1000.0, 0.01
    # unit step: 1 - a^(n+1) (an RC node charging); unit DC gain
    rec = _recording(np.ones((300, 1)), fs)
    a = math.exp(-1 / (fs * tau))
    np.testing.assert_allclose(filtered_traces(rec, tau)[:, 0], 1 - a ** np.arange(1, 301), rtol=1e-12)
    # one spike at sample 10: exp(-t/tau)/tau after it, area 1 (a rate in Hz)
    rec = _recording(np.zeros((3000, 1)), fs, ([0.010], [0]))
    y = filtered_traces(rec, tau, source="spikes")[:, 0]
    assert np.all(y[:10] == 0)
    np.testing.assert_allclose(y[10:], a ** np.arange(2990) / tau, rtol=1e-12)
    # area of the kernel sampled at 1/fs: sum a^k / (tau fs) = 1 / (tau fs (1 - a)) ~ 1 + 1/(2 tau fs)
    assert y.sum() / fs == pytest.approx(1 / (tau * fs * (1 - a)), rel=1e-9)


def test_filtered_traces_warmup_and_channels():
    rec = _random_recording(3)
    full = filtered_traces(rec, [0.005, 0.02])
    # warm-up drops rows but the filter state carries on through them
    np.testing.assert_array_equal(filtered_traces(rec, [0.005, 0.02], warmup=0.1), full[100:])
    sub = filtered_traces(rec, [0.005, 0.02], channels=[2, 0])
    np.testing.assert_array_equal(sub, full[:, [2, 0, 6, 4]])  # blocks by time constant


# ---------------------------------------------------------------- sampling
def test_sample_at_by_hand():
    f = np.arange(20.0).reshape(10, 2)  # 10 samples at 100 Hz: row r covers [r, r+1) / 100 s
    np.testing.assert_array_equal(sample_at(f, 100.0, [0.01, 0.03, 0.1]), f[[0, 2, 9]])
    # decimal times land on their sample, not one before (0.3 * 100 = 29.999...)
    g = np.arange(40.0).reshape(-1, 1)
    assert sample_at(g, 100.0, [0.3])[0, 0] == 29.0
    # with an offset start (rows after a warm-up)
    np.testing.assert_array_equal(sample_at(f, 100.0, [0.06], start=0.05), f[[0]])
    with pytest.raises(ValueError, match="times must lie"):
        sample_at(f, 100.0, [0.0])
    with pytest.raises(ValueError, match="times must lie"):
        sample_at(f, 100.0, [0.11])


# ---------------------------------------------------------------- step features
def test_step_features_trace_by_hand():
    x = np.repeat([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]], 4, axis=0)  # 3 steps of 4 samples
    rec = _recording(x, 1000.0)
    f = step_features(rec, 4e-3, 3, time_constants=[1e-3])
    np.testing.assert_array_equal(f[:, :2], [[1, 0], [3, 2], [5, 4]])  # step means
    a = math.exp(-1)
    y = lfilter([1 - a], [1, -a], x, axis=0)
    np.testing.assert_allclose(f[:, 2:], y[[3, 7, 11]], rtol=1e-12)  # filter at each step end


@pytest.mark.parametrize("start", [0.0, 0.05])
def test_step_features_trace_equal_filtered_and_sampled(start):
    rec = _random_recording(4)
    hold, n_steps, taus = 0.02, 15, (0.01, 0.08)
    f = step_features(rec, hold, n_steps, time_constants=taus, start=start, source="trace")
    ends = start + hold * np.arange(1, n_steps + 1)
    sampled = sample_at(filtered_traces(rec, taus), rec.sampling_rate, ends)
    # the step-wise recursion sums the same terms in another order: round-off only
    np.testing.assert_allclose(f[:, 4:], sampled, rtol=1e-10, atol=1e-12)
    first = round(start * 1000)
    means = rec.data[first:first + n_steps * 20].reshape(n_steps, 20, 4).mean(axis=1)
    np.testing.assert_allclose(f[:, :4], means, rtol=1e-12)


@pytest.mark.parametrize("start", [0.0, 0.05])
def test_step_features_spikes_equal_counts_and_filtered(start):
    rec = _random_recording(5)
    hold, n_steps, taus = 0.02, 15, (0.01, 0.08)
    f = step_features(rec, hold, n_steps, time_constants=taus, start=start)  # auto: spikes
    counts = spike_count_features(rec, hold, warmup=start)[:n_steps]
    np.testing.assert_array_equal(f[:, :4], counts)
    ends = start + hold * np.arange(1, n_steps + 1)
    sampled = sample_at(filtered_traces(rec, taus, source="spikes"), rec.sampling_rate, ends)
    np.testing.assert_allclose(f[:, 4:], sampled, rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1),
       channels=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
       source=st.sampled_from(["trace", "spikes"]))
def test_step_features_of_a_channel_subset_are_columns_of_the_full(seed, channels, source):
    rec = _random_recording(seed)
    full = step_features(rec, 0.02, 19, time_constants=(0.01, 0.05), start=0.02, source=source)
    sub = step_features(rec, 0.02, 19, channels=channels, time_constants=(0.01, 0.05),
                        start=0.02, source=source)
    columns = [block * 4 + c for block in range(3) for c in channels]
    np.testing.assert_array_equal(sub, full[:, columns])


def test_step_features_bad_input():
    rec = _random_recording(6)
    with pytest.raises(ValueError, match="whole number of samples"):
        step_features(rec, 0.0125, 3)
    with pytest.raises(ValueError, match="n_steps must be at most 20"):
        step_features(rec, 0.02, 21)
    with pytest.raises(ValueError, match="channels must lie between 0 and 3"):
        step_features(rec, 0.02, 2, channels=[4])
    with pytest.raises(ValueError, match="time_constants"):
        step_features(rec, 0.02, 2, time_constants=[-1.0])
    with pytest.raises(ValueError, match="has_spikes"):
        step_features(_recording(np.zeros((100, 1)), 1000.0), 0.01, 2, source="spikes")
