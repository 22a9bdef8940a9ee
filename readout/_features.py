"""Features from any :class:`~substrates.Recording`: what a linear readout sees.

Three kinds, all causal (a feature at time t uses only samples before t):

* :func:`spike_count_features`: detected spikes per time bin and channel;
* :func:`filtered_traces`: each channel through a first-order exponential low-pass, one
  copy per time constant, of the recorded trace or of the detected spike trains;
* :func:`sample_at`: rows of a feature matrix at given times.

:func:`step_features` combines them into one row per held input step, which is what the
benchmark tasks (:mod:`readout._tasks`) read out. ``channels`` (column indices into the
recording) is how an electrode subset is studied without rerunning the substrate, and
``warmup`` drops the substrate's initial transient.

The exponential filter
----------------------
For a channel sampled at ``fs`` with samples ``x[n]`` and time constant ``tau``, with
``a = exp(-1 / (fs tau))``:

* of a trace (unit gain at DC, the recording's unit): ``y[n] = a y[n-1] + (1 - a) x[n]``;
* of a spike train (``c[n]`` spikes in sample ``n``; a rate in Hz, each spike adding a
  decaying exponential of area one, ``exp(-t / tau) / tau``): ``y[n] = a y[n-1] + c[n] / tau``.

Both start from ``y[-1] = 0`` and are exactly ``scipy.signal.lfilter`` with
``b = [1 - a]`` (or ``[1 / tau]``) and ``a = [1, -a]``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["filtered_traces", "sample_at", "spike_count_features", "step_features"]

# relative slack when times are turned into sample or bin indices: decimal times such as
# 0.3 s * 25 kHz = 7499.999999999999 must land on sample 7500, not 7499
_EPS = 1e-9
_SOURCES = ("trace", "spikes")
_STEP_SOURCES = ("auto", "trace", "spikes")


# --------------------------------------------------------------------------- validation
def _check_recording(recording):
    for attr in ("data", "sampling_rate", "has_spikes", "spike_times", "spike_channels"):
        if not hasattr(recording, attr):
            raise TypeError(
                f"recording must be a substrates.Recording, got {type(recording).__name__}"
            )
    return recording


def _time(value, name, *, positive):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in s, got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a finite time {'> 0' if positive else '>= 0'} s, got {value}")
    return value


def _channels(channels, n_channels):
    """Validated column indices (int64, distinct, in range); None means every channel."""
    if channels is None:
        return np.arange(n_channels, dtype=np.int64)
    raw = np.atleast_1d(np.asarray(channels))
    if raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in "iu":
        raise TypeError(
            f"channels must be None or a non-empty 1-D sequence of integers (columns of the "
            f"recording), got {channels!r}"
        )
    index = raw.astype(np.int64)
    if index.min() < 0 or index.max() >= n_channels:
        raise ValueError(
            f"channels must lie between 0 and {n_channels - 1} (the recording has "
            f"{n_channels} channels), got {index.tolist()}"
        )
    if np.unique(index).size != index.size:
        raise ValueError(f"channels must be distinct, got {index.tolist()}")
    return index


def _time_constants(time_constants):
    try:
        tcs = np.atleast_1d(np.asarray(time_constants, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"time_constants must be real times in s, got {time_constants!r}") from None
    if tcs.ndim != 1 or tcs.size == 0:
        raise ValueError(
            f"time_constants must be a time or a non-empty 1-D sequence of times in s, "
            f"got {time_constants!r}"
        )
    if not np.all(np.isfinite(tcs) & (tcs > 0)):
        raise ValueError(f"time_constants must be finite and > 0 s, got {tcs.tolist()}")
    return tcs


def _warmup_samples(warmup, sampling_rate, n_samples):
    warmup = _time(warmup, "warmup", positive=False)
    first = math.floor(warmup * sampling_rate + _EPS * max(1.0, warmup * sampling_rate))
    if first >= n_samples:
        raise ValueError(
            f"warmup must be shorter than the recording ({n_samples / sampling_rate:g} s), "
            f"got {warmup:g} s"
        )
    return first


def _spike_samples(recording, columns):
    """Sample index and feature column of every detected spike on the chosen channels."""
    if not recording.has_spikes:
        raise ValueError(
            "this recording has no detected spikes (has_spikes is False): use the trace "
            "(source='trace') for a substrate that does not spike"
        )
    lookup = np.full(recording.n_channels, -1, dtype=np.int64)
    lookup[columns] = np.arange(columns.size)
    col = lookup[np.asarray(recording.spike_channels, dtype=np.int64)]
    keep = col >= 0
    fs = recording.sampling_rate
    times = np.asarray(recording.spike_times)[keep]
    samples = np.floor(times * fs + _EPS * np.maximum(1.0, times * fs)).astype(np.int64)
    return np.minimum(samples, recording.n_samples - 1), col[keep]


# --------------------------------------------------------------------------- public
def spike_count_features(recording, bin_width, *, channels=None, warmup=0.0):
    """Detected spikes per time bin and channel.

    Bin ``k`` covers ``[warmup + k bin_width, warmup + (k + 1) bin_width)``; spikes before
    ``warmup`` are dropped, and the last bin may be cut short by the end of the recording
    (a spike exactly at the end falls in it).

    Parameters
    ----------
    recording : Recording
        Must have detected spikes (``has_spikes``).
    bin_width : float, s
        > 0.
    channels : None or sequence of int
        Columns of the recording to keep, in this order (None: all).
    warmup : float, s
        Time dropped at the start, >= 0 and shorter than the recording.

    Returns
    -------
    counts : array of shape (n_bins, n_channels), float64
        ``n_bins = ceil((duration - warmup) / bin_width)``.

    Raises
    ------
    ValueError
        For a recording without spikes, a bad bin width, warmup or channel list.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rec = Recording(np.zeros((100, 2)), 1000.0, "V", electrode_positions=np.zeros((2, 3)),
    ...                 spike_times=[0.005, 0.012, 0.013, 0.095], spike_channels=[0, 1, 1, 0])
    >>> spike_count_features(rec, 0.01)[:2].tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    >>> spike_count_features(rec, 0.05, channels=[1], warmup=0.01).ravel().tolist()
    [2.0, 0.0]
    """
    _check_recording(recording)
    bin_width = _time(bin_width, "bin_width", positive=True)
    columns = _channels(channels, recording.n_channels)
    duration = recording.n_samples / recording.sampling_rate
    warmup = _time(warmup, "warmup", positive=False)
    if warmup >= duration:
        raise ValueError(f"warmup must be shorter than the recording ({duration:g} s), got {warmup:g} s")
    if not recording.has_spikes:
        _spike_samples(recording, columns)  # raises the named error
    ratio = (duration - warmup) / bin_width
    n_bins = max(1, math.ceil(ratio - _EPS * max(1.0, ratio)))
    lookup = np.full(recording.n_channels, -1, dtype=np.int64)
    lookup[columns] = np.arange(columns.size)
    col = lookup[np.asarray(recording.spike_channels, dtype=np.int64)]
    rel = (np.asarray(recording.spike_times) - warmup) / bin_width
    keep = (col >= 0) & (rel > -_EPS * np.maximum(1.0, np.abs(rel)))
    bins = np.floor(rel[keep] + _EPS * np.maximum(1.0, rel[keep])).astype(np.int64)
    bins = np.clip(bins, 0, n_bins - 1)
    flat = np.bincount(bins * columns.size + col[keep], minlength=n_bins * columns.size)
    return flat.reshape(n_bins, columns.size).astype(np.float64)


def filtered_traces(recording, time_constants, *, channels=None, warmup=0.0, source="trace"):
    """Each channel through a causal exponential low-pass, one copy per time constant.

    Parameters
    ----------
    recording : Recording
    time_constants : float or sequence of float, s
        Filter time constants (> 0).
    channels : None or sequence of int
        Columns of the recording to filter, in this order (None: all).
    warmup : float, s
        Samples before ``warmup`` are filtered (the filter state carries on) but not
        returned.
    source : {"trace", "spikes"}
        "trace": the recorded samples, unit gain at DC (output in the recording's unit).
        "spikes": the detected spike trains, each spike adding ``exp(-t / tau) / tau``
        (output in Hz: a smoothed firing rate).

    Returns
    -------
    array of shape (n_samples - round(warmup * fs), n_channels * n_time_constants), float64
        Columns grouped by time constant: column ``i * n_channels + j`` is channel ``j``
        filtered with ``time_constants[i]``. Row ``r`` is the filter output after sample
        ``r + round(warmup * fs)``.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rec = Recording(np.ones((5, 1)), 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> y = filtered_traces(rec, [1e-3])  # a = exp(-1): a unit step charging up
    >>> bool(np.allclose(y[:, 0], 1 - np.exp(-np.arange(1, 6))))
    True
    """
    _check_recording(recording)
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
    tcs = _time_constants(time_constants)
    columns = _channels(channels, recording.n_channels)
    fs = recording.sampling_rate
    n = recording.n_samples
    first = _warmup_samples(warmup, fs, n)
    from scipy.signal import lfilter  # imported here: scipy.signal costs ~1 s

    if source == "trace":
        x = np.asarray(recording.data)[:, columns]
    else:
        samples, cols = _spike_samples(recording, columns)
        x = np.zeros((n, columns.size))
        np.add.at(x, (samples, cols), 1.0)
    out = np.empty((n - first, columns.size * tcs.size))
    for i, tau in enumerate(tcs):
        a = math.exp(-1.0 / (fs * tau))
        gain = (1.0 - a) if source == "trace" else 1.0 / tau
        out[:, i * columns.size:(i + 1) * columns.size] = lfilter([gain], [1.0, -a], x, axis=0)[first:]
    return out


def sample_at(features, sampling_rate, times, *, start=0.0):
    """Rows of a sampled feature matrix at given times: the last sample finished by each time.

    Row ``r`` of ``features`` is taken to cover ``[start + r / fs, start + (r + 1) / fs)``,
    so the value known at time ``t`` is row ``floor((t - start) fs) - 1`` (the same
    convention the electrode study uses for the hidden state).

    Parameters
    ----------
    features : array of shape (n_samples, n_features)
    sampling_rate : float, Hz
    times : array of shape (n_times,), s
        Each in ``(start, start + n_samples / fs]``.
    start : float, s
        Time at which row 0 begins (e.g. the ``warmup`` given to :func:`filtered_traces`).

    Returns
    -------
    array of shape (n_times, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> f = np.arange(10.0).reshape(-1, 1)   # 10 samples at 100 Hz
    >>> sample_at(f, 100.0, [0.01, 0.05, 0.1]).ravel().tolist()
    [0.0, 4.0, 9.0]
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 1:
        raise ValueError(f"features must have shape (n_samples >= 1, n_features), got {features.shape}")
    fs = _time(sampling_rate, "sampling_rate", positive=True)
    start = _time(start, "start", positive=False)
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"times must be a finite 1-D array of times in s, got shape {t.shape}")
    pos = (t - start) * fs
    rows = np.floor(pos + _EPS * np.maximum(1.0, np.abs(pos))).astype(np.int64) - 1
    bad = (rows < 0) | (rows >= features.shape[0])
    if np.any(bad):
        end = start + features.shape[0] / fs
        raise ValueError(
            f"times must lie in ({start:g}, {end:g}] s (at least one sample after start, at "
            f"most the end of the features), got {t[bad][:5].tolist()}"
        )
    return features[rows]


def step_features(recording, hold, n_steps, *, channels=None, time_constants=None, start=0.0,
                  source="auto"):
    """One feature row per held input step.

    Step ``s`` covers ``[start + s hold, start + (s + 1) hold)``. Its row holds, per
    channel, the step's mean (of the trace; for spikes, the spike count in the step) and
    then, per time constant, the exponentially filtered signal at the end of the step
    (:func:`filtered_traces` of the whole recording, sampled with :func:`sample_at` at
    ``start + (s + 1) hold``; samples before ``start`` feed the filter's state).

    Parameters
    ----------
    recording : Recording
    hold : float, s
        Time each input step is held; a whole number of samples.
    n_steps : int >= 1
        Steps; ``start + n_steps * hold`` must not pass the end of the recording.
    channels : None or sequence of int
        Columns of the recording (None: all).
    time_constants : None, float or sequence of float, s
        Filter time constants; None means ``(hold, 4 * hold)``.
    start : float, s
        Start of step 0, a whole number of samples.
    source : {"auto", "trace", "spikes"}
        "auto": detected spikes when ``recording.has_spikes``, else the trace.

    Returns
    -------
    array of shape (n_steps, n_channels * (1 + n_time_constants)), float64
        Columns ``[mean or count per channel, filtered with time_constants[0] per channel,
        ...]``.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> x = np.repeat([[1.0], [3.0]], 4, axis=0)       # two steps of 4 samples at 1 kHz
    >>> rec = Recording(x, 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> step_features(rec, 4e-3, 2, time_constants=[1e-3])[:, 0].tolist()  # step means
    [1.0, 3.0]
    """
    _check_recording(recording)
    hold = _time(hold, "hold", positive=True)
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    n_steps = int(n_steps)
    start = _time(start, "start", positive=False)
    if source not in _STEP_SOURCES:
        raise ValueError(f"source must be one of {_STEP_SOURCES}, got {source!r}")
    tcs = _time_constants((hold, 4.0 * hold) if time_constants is None else time_constants)
    columns = _channels(channels, recording.n_channels)
    fs = recording.sampling_rate
    m_float = hold * fs
    m = round(m_float)
    if m < 1 or abs(m_float - m) > 1e-6 * m_float:
        raise ValueError(
            f"hold must be a whole number of samples at the recording's sampling rate "
            f"{fs:g} Hz; hold = {hold:g} s is {m_float:.6g} samples"
        )
    b_float = start * fs
    first = round(b_float)
    if abs(b_float - first) > 1e-6 * max(1.0, b_float):
        raise ValueError(
            f"start must be a whole number of samples at {fs:g} Hz, got {start:g} s"
        )
    end = first + n_steps * m
    if end > recording.n_samples:
        raise ValueError(
            f"start + n_steps * hold = {start + n_steps * hold:g} s passes the end of the "
            f"recording ({recording.n_samples / fs:g} s): n_steps must be at most "
            f"{(recording.n_samples - first) // m}"
        )
    use_spikes = recording.has_spikes if source == "auto" else source == "spikes"
    n_ch = columns.size
    decay_per_sample = np.exp(-1.0 / (fs * tcs))  # (n_tc,)
    out = np.empty((n_steps, n_ch * (1 + tcs.size)))

    if use_spikes:
        samples, cols = _spike_samples(recording, columns)
        # spikes before `start` only set the filters' initial state
        before = samples < first
        inside = (samples >= first) & (samples < end)
        step = (samples[inside] - first) // m
        counts = np.bincount(step * n_ch + cols[inside], minlength=n_steps * n_ch)
        out[:, :n_ch] = counts.reshape(n_steps, n_ch)
        for i, (a, tau) in enumerate(zip(decay_per_sample, tcs)):
            # contribution of each spike to the filter at the last sample of its step
            lag = (step + 1) * m - 1 - (samples[inside] - first)
            z = np.bincount(step * n_ch + cols[inside], weights=a ** lag / tau,
                            minlength=n_steps * n_ch).reshape(n_steps, n_ch)
            y0 = np.bincount(cols[before], weights=a ** (first - 1 - samples[before]) / tau,
                             minlength=n_ch)
            out[:, (i + 1) * n_ch:(i + 2) * n_ch] = _scan(z, a ** m, y0)
        return out

    data = np.asarray(recording.data)
    # channel by channel (contiguous, same operations whatever the other channels), so the
    # features of a channel subset are bit for bit columns of the full set
    per_channel = [np.ascontiguousarray(data[first:end, c]).reshape(n_steps, m) for c in columns]
    before = [np.ascontiguousarray(data[:first, c]) for c in columns]
    out[:, :n_ch] = np.stack([x.mean(axis=1) for x in per_channel], axis=1)
    for i, a in enumerate(decay_per_sample):
        # y at the last sample of a step = a^m y(previous step end) + sum_j (1-a) a^(m-1-j) x_j
        weights = (1.0 - a) * a ** np.arange(m - 1, -1, -1)
        z = np.stack([x @ weights for x in per_channel], axis=1)
        y0 = np.zeros(n_ch)
        if first:
            w0 = (1.0 - a) * a ** np.arange(first - 1, -1, -1)
            y0 = np.array([b @ w0 for b in before])
        out[:, (i + 1) * n_ch:(i + 2) * n_ch] = _scan(z, a ** m, y0)
    return out


def _scan(z, decay, y0):
    """``y[s] = decay * y[s-1] + z[s]`` with ``y[-1] = y0``: array of shape z.shape."""
    from scipy.signal import lfilter

    zi = (decay * np.asarray(y0, dtype=np.float64))[None, :]
    y, _ = lfilter([1.0], [1.0, -decay], z, axis=0, zi=zi)
    return y
