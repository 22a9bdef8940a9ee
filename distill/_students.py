"""Digital students: estimators that learn to behave like a substrate from its recordings.

A student sees only what a wet lab sees: the :class:`~substrates.Stimulus` sent into the
stimulating electrodes and the :class:`~substrates.Recording` of the recording channels.
It works on a coarse time base of ``bin_width`` seconds: the stimulus is averaged per bin
and per stimulation channel (its inputs), and the recording is reduced to one feature per
channel and bin (its targets): the detected spikes per bin (``target="spike_counts"``,
for spiking substrates) or the mean recorded trace per bin (``target="trace"``, for
analog ones). ``predict(stimulus)`` returns a :class:`~substrates.Recording` of those
targets at ``1 / bin_width`` Hz, with the teacher's electrodes.

This module holds the shared machinery (:class:`Student`), the
:class:`StateProbe` that gives a student partial access to the teacher's hidden state,
the linear baseline :class:`LinearStudent`, the echo state network :class:`ESNStudent`,
and the helpers that make a student's time base (:func:`bin_stimulus`,
:func:`bin_recording`) and score it (:func:`explained_variance`). The torch students
(:class:`~distill._torch_students.GRUStudent`,
:class:`~distill._torch_students.SpikingStudent`) live in :mod:`distill._torch_students`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, clone

from distill._checks import count as _count
from distill._checks import in_range as _in_range
from distill._checks import nonnegative as _nonnegative
from distill._checks import positive as _positive
from substrates._random import check_random_state
from substrates._recording import Recording
from substrates._stimulus import Stimulus

__all__ = [
    "ESNStudent", "LinearStudent", "StateProbe", "Student", "bin_recording", "bin_stimulus",
    "explained_variance",
]

_TARGETS = ("auto", "spike_counts", "trace")
# two durations or time steps count as commensurate when their ratio is within this
# relative distance of a whole number (decimal round-off such as 0.01 / 4e-5), far below
# any ratio a user would mean
_REL_TOL = 1e-9
# default ridge penalties, on standardised features and targets: 1e-3 (almost OLS) to
# 1e4 (almost the mean), two per decade; the readout picks one by generalised CV
_DEFAULT_ALPHAS = tuple(np.logspace(-3, 4, 15))


# ----------------------------------------------------------------------------- checks







def _alphas(alphas):
    arr = np.atleast_1d(np.asarray(alphas, dtype=np.float64)) if not isinstance(alphas, str) else None
    if arr is None or arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"alphas must be a non-empty 1-D sequence of penalties > 0, got {alphas!r}")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"alphas must be finite and > 0, got {arr.tolist()}")
    return arr


def _whole_ratio(bin_width, period, what):
    """``bin_width / period`` as an int >= 1, or a ValueError naming both."""
    ratio = bin_width / period
    k = round(ratio)
    if k < 1 or abs(ratio - k) > _REL_TOL * ratio:
        raise ValueError(
            f"bin_width must be a whole multiple (>= 1) of the {what} sample period "
            f"{period:g} s; got {bin_width:g} s = {ratio:.6g} periods"
        )
    return k


def _n_bins(duration, bin_width):
    ratio = duration / bin_width
    return math.floor(ratio + _REL_TOL * max(1.0, ratio))


def _seed_from(rng):
    """An int seed drawn from a Generator (for libraries that want one: reservoirpy, torch)."""
    return int(rng.integers(0, 2**31 - 1))


def bin_stimulus(stimulus, bin_width, n_bins=None):
    """Mean of each stimulation channel over consecutive bins.

    Parameters
    ----------
    stimulus : Stimulus of shape (n_samples, n_channels)
    bin_width : float, s
        A whole multiple of ``stimulus.dt``.
    n_bins : int, optional
        Bins to return (default: the whole bins in the stimulus); at most that many.

    Returns
    -------
    ndarray of shape (n_bins, n_channels), in ``stimulus.unit``

    Examples
    --------
    >>> from substrates import Stimulus
    >>> s = Stimulus([[1.0], [3.0], [5.0], [7.0]], dt=1e-3)
    >>> bin_stimulus(s, 2e-3).ravel().tolist()
    [2.0, 6.0]
    """
    if not isinstance(stimulus, Stimulus):
        raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
    bin_width = _positive("bin_width", bin_width)
    k = _whole_ratio(bin_width, stimulus.dt, "stimulus")
    available = stimulus.n_samples // k
    if n_bins is None:
        n_bins = available
    if available < 1 or n_bins > available:
        raise ValueError(
            f"bin_width {bin_width:g} s needs a stimulus of at least {max(n_bins, 1)} bins "
            f"({max(n_bins, 1) * bin_width:g} s), got {stimulus.duration:g} s"
        )
    data = stimulus.data[: n_bins * k]
    return data.reshape(n_bins, k, stimulus.n_channels).mean(axis=1)


def bin_recording(recording, bin_width, target, n_bins=None):
    """Per-channel features of a recording per bin: spike counts or mean trace.

    Parameters
    ----------
    recording : Recording of shape (n_samples, n_channels)
    bin_width : float, s
        At most the duration; for ``"trace"`` a whole multiple of ``1 / recording.sampling_rate``.
    target : {"spike_counts", "trace"}
        ``"spike_counts"``: detected spikes per channel and bin (needs
        ``recording.has_spikes``); ``"trace"``: mean of the recorded samples per bin.
    n_bins : int, optional
        Bins to return (default: the whole bins in the recording).

    Returns
    -------
    float64 ndarray of shape (n_bins, n_channels): counts, or ``recording.unit``.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rec = Recording(np.arange(8.0).reshape(4, 2), 1000.0, "V",
    ...                 electrode_positions=np.zeros((2, 3)))
    >>> bin_recording(rec, 2e-3, "trace").tolist()
    [[1.0, 2.0], [5.0, 6.0]]
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
    bin_width = _positive("bin_width", bin_width)
    if target not in ("spike_counts", "trace"):
        raise ValueError(f"target must be 'spike_counts' or 'trace', got {target!r}")
    if target == "trace":
        k = _whole_ratio(bin_width, 1.0 / recording.sampling_rate, "recording")
        available = recording.n_samples // k
    else:
        available = _n_bins(recording.duration, bin_width)
    if available < 1:
        raise ValueError(
            f"bin_width must be at most the recording's duration {recording.duration:g} s, "
            f"got {bin_width:g} s"
        )
    if n_bins is None:
        n_bins = available
    if n_bins > available:
        raise ValueError(f"the recording holds {available} bins of {bin_width:g} s, not {n_bins}")
    if target == "spike_counts":
        if not recording.has_spikes:
            raise ValueError(
                "target='spike_counts' needs a recording with detected spikes "
                "(recording.has_spikes is False); use target='trace' or 'auto'"
            )
        return recording.spike_counts(bin_width)[:n_bins].astype(np.float64)
    data = recording.data[: n_bins * k]
    return data.reshape(n_bins, k, recording.n_channels).mean(axis=1)


def _hidden_matrix(recording, keys, bin_width, n_bins):
    """Binned hidden-state time series named by ``keys``, side by side: (n_bins, n_units)."""
    hidden = recording.hidden_state
    if hidden is None:
        raise ValueError(
            "the recording holds no hidden state; run the teacher with record_hidden=True"
        )
    rate = recording.hidden_sampling_rate
    k = _whole_ratio(bin_width, 1.0 / rate, "hidden-state")
    blocks = []
    for key in keys:
        if key not in hidden:
            raise ValueError(f"keys names {key!r}, which the recording's hidden_state lacks "
                             f"(it has {sorted(hidden)})")
        arr = np.asarray(hidden[key], dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"hidden_state[{key!r}] must be a time series (n_samples, n_units), "
                             f"got shape {arr.shape}")
        if arr.shape[0] < n_bins * k:
            raise ValueError(
                f"hidden_state[{key!r}] holds {arr.shape[0]} samples at {rate:g} Hz, fewer than "
                f"the {n_bins} bins of {bin_width:g} s asked for"
            )
        blocks.append(arr[: n_bins * k].reshape(n_bins, k, arr.shape[1]).mean(axis=1))
    return np.concatenate(blocks, axis=1)


def explained_variance(y_true, y_pred):
    """Fraction of each channel's variance explained, ``1 - SSE / SST``, per channel.

    ``SSE = sum((y_true - y_pred)**2)``, ``SST = sum((y_true - mean(y_true))**2)``: the
    coefficient of determination, which also charges a constant offset. Channels with
    no variance give NaN.

    Parameters
    ----------
    y_true, y_pred : arrays of shape (n_samples, n_channels)

    Returns
    -------
    ndarray of shape (n_channels,), at most 1.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> explained_variance(y, y + 0.5).tolist()
    [0.8]
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(f"y_true and y_pred must be 2-D arrays of one shape, got "
                         f"{y_true.shape} and {y_pred.shape}")
    sst = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    sse = np.sum((y_true - y_pred) ** 2, axis=0)
    out = np.full(sst.shape, np.nan)
    ok = sst > 0
    out[ok] = 1.0 - sse[ok] / sst[ok]
    return out


# ------------------------------------------------------------------------- the ridge


def _fit_ridge(alphas, x, y, groups):
    """``readout.RidgeReadout`` with the penalty chosen by holding out whole trials.

    With fewer than 3 trials, contiguous blocks of the (time-ordered) rows stand in for
    them: generalised cross-validation treats autocorrelated rows as independent and
    chooses far too small a penalty.
    """
    from readout._linear import RidgeReadout, blocked_groups

    if np.unique(groups).size < 3:
        groups = blocked_groups(len(x), 5)
    model = RidgeReadout(alphas=alphas, fit_intercept=True, alpha_selection="loto")
    return model.fit(x, y, groups=groups)


# ------------------------------------------------------------------------- the probe


class StateProbe(BaseEstimator):
    """A noisy, random, low-dimensional window on a teacher's hidden state.

    An electrode array is such a window, fixed by physics; a probe is a controllable one,
    to test whether partial access to the internal state speeds distillation. ``fit``
    draws a fixed random projection ``W`` of shape (n_dims, n_units), rows of unit norm
    (Gaussian directions), over the teacher's hidden units, each unit standardised
    (zero mean, unit variance over the fitting recording, so volts and concentrations
    mix). ``transform`` bins the hidden state, projects it and adds independent Gaussian
    noise of standard deviation ``noise`` times each projected dimension's standard
    deviation (measured at fit time).

    Parameters
    ----------
    n_dims : int >= 1
        Number of projected dimensions.
    noise : float >= 0
        Noise standard deviation relative to the signal's, per dimension.
    keys : sequence of str or None
        Entries of ``recording.hidden_state`` to project (pass the teacher's
        ``hidden_state_keys``); None means ``("membrane_potential",)``.
    bin_width : float, s
        Time base used by :meth:`fit` to measure the signal's spread (a whole multiple of
        the hidden sampling period).
    random_state : int, Generator, SeedSequence or None
        Draws the projection (its own child stream) and the noise (another).

    Attributes
    ----------
    projection_ : ndarray of shape (n_dims, n_units)
    unit_mean_, unit_scale_ : ndarray of shape (n_units,)
        Standardisation of the hidden units (unit of each entry).
    signal_std_ : ndarray of shape (n_dims,)
        Standard deviation of each noise-free projected dimension on the fit recording.
    keys_ : tuple of str
    n_units_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> v = np.random.default_rng(0).normal(size=(100, 5))
    >>> rec = Recording(np.zeros((100, 1)), 1000.0, "V", electrode_positions=np.zeros((1, 3)),
    ...                 hidden_state={"membrane_potential": v}, hidden_sampling_rate=1000.0)
    >>> probe = StateProbe(n_dims=2, noise=0.1, random_state=0).fit(rec)
    >>> probe.transform(rec, 10e-3).shape
    (10, 2)
    """

    def __init__(self, n_dims=8, noise=0.1, *, keys=None, bin_width=10e-3, random_state=None):
        self.n_dims = n_dims
        self.noise = noise
        self.keys = keys
        self.bin_width = bin_width
        self.random_state = random_state

    def _keys(self):
        keys = ("membrane_potential",) if self.keys is None else self.keys
        if isinstance(keys, str):
            keys = (keys,)
        keys = tuple(keys)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"keys must be a non-empty sequence of hidden_state names, got {self.keys!r}")
        return keys

    def fit(self, recording, y=None):
        """Draw the projection for the hidden state of ``recording``.

        Parameters
        ----------
        recording : Recording with ``hidden_state`` (run the teacher with ``record_hidden=True``)

        Returns
        -------
        self
        """
        n_dims = _count("n_dims", self.n_dims)
        _nonnegative("noise", self.noise, "relative standard deviation")
        bin_width = _positive("bin_width", self.bin_width)
        if not isinstance(recording, Recording):
            raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
        keys = self._keys()
        if recording.hidden_state is None:
            raise ValueError("the recording holds no hidden state; run the teacher with "
                             "record_hidden=True")
        rate = recording.hidden_sampling_rate
        k = _whole_ratio(bin_width, 1.0 / rate, "hidden-state")
        missing = [key for key in keys if key not in recording.hidden_state]
        if missing:
            raise ValueError(f"keys names {missing}, which the recording's hidden_state lacks "
                             f"(it has {sorted(recording.hidden_state)})")
        n_rows = min(np.asarray(recording.hidden_state[key]).shape[0] for key in keys)
        n_bins = n_rows // k
        if n_bins < 2:
            raise ValueError(f"the hidden state must span at least 2 bins of {bin_width:g} s")
        hidden = _hidden_matrix(recording, keys, bin_width, n_bins)
        streams = check_random_state(self.random_state).spawn(2)
        mean = hidden.mean(axis=0)
        scale = hidden.std(axis=0)
        scale[scale == 0] = 1.0
        w = streams[0].standard_normal((n_dims, hidden.shape[1]))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        self.keys_ = keys
        self.n_units_ = hidden.shape[1]
        self.unit_mean_ = mean
        self.unit_scale_ = scale
        self.projection_ = w
        self.signal_std_ = (((hidden - mean) / scale) @ w.T).std(axis=0)
        self._noise_rng = streams[1]
        return self

    def project(self, recording, bin_width, n_bins=None):
        """The noise-free projection, array of shape (n_bins, n_dims)."""
        if not hasattr(self, "projection_"):
            raise ValueError("this StateProbe is not fitted yet; call fit(recording) first")
        bin_width = _positive("bin_width", bin_width)
        if not isinstance(recording, Recording):
            raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
        if n_bins is None:
            n_bins = _n_bins(recording.duration, bin_width)
        hidden = _hidden_matrix(recording, self.keys_, bin_width, n_bins)
        if hidden.shape[1] != self.n_units_:
            raise ValueError(f"the probe was fitted on {self.n_units_} hidden units, this recording "
                             f"has {hidden.shape[1]}")
        return ((hidden - self.unit_mean_) / self.unit_scale_) @ self.projection_.T

    def transform(self, recording, bin_width, n_bins=None):
        """Binned, projected, noisy hidden state.

        Parameters
        ----------
        recording : Recording with the hidden entries the probe was fitted on
        bin_width : float, s
            A whole multiple of the hidden sampling period.
        n_bins : int, optional
            Bins to return (default: the whole bins in the recording).

        Returns
        -------
        ndarray of shape (n_bins, n_dims), dimensionless (standardised units).
        Successive calls draw fresh noise from the probe's own stream.
        """
        clean = self.project(recording, bin_width, n_bins)
        noise = self._noise_rng.standard_normal(clean.shape) * (float(self.noise) * self.signal_std_)
        return clean + noise


# ------------------------------------------------------------------------ the student


class Student(BaseEstimator):
    """Shared machinery of the students (not used directly).

    Subclasses implement ``_fit_arrays(inputs, targets, keep)`` on lists of standardised
    arrays, ``_predict_array(u)`` and ``_states_array(u)``. Parameters common to all
    students: ``bin_width`` (s), ``target``, ``warmup`` (s) and ``random_state``.
    """

    _standardise_targets = True

    # ------------------------------------------------------------------ validation
    def _check_common(self):
        bin_width = _positive("bin_width", self.bin_width)
        if self.target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}, got {self.target!r}")
        warmup = _nonnegative("warmup", self.warmup, "s")
        return bin_width, warmup

    @staticmethod
    def _pairs(stimulus, recording):
        if isinstance(stimulus, (list, tuple)) or isinstance(recording, (list, tuple)):
            if not (isinstance(stimulus, (list, tuple)) and isinstance(recording, (list, tuple))):
                raise TypeError("stimulus and recording must both be single objects or both be "
                                "lists (one entry per trial)")
            if len(stimulus) != len(recording):
                raise ValueError(f"stimulus and recording must be lists of the same length (one "
                                 f"per trial), got {len(stimulus)} stimuli and {len(recording)} "
                                 "recordings")
            if len(stimulus) == 0:
                raise ValueError("at least one (stimulus, recording) trial is needed")
            pairs = list(zip(stimulus, recording))
        else:
            pairs = [(stimulus, recording)]
        for i, (s, r) in enumerate(pairs):
            if not isinstance(s, Stimulus):
                raise TypeError(f"stimulus[{i}] must be a Stimulus, got {type(s).__name__}")
            if not isinstance(r, Recording):
                raise TypeError(f"recording[{i}] must be a Recording, got {type(r).__name__}")
            tolerance = max(s.dt, 1.0 / r.sampling_rate) * (1 + 1e-6)
            if abs(s.duration - r.duration) > tolerance:
                raise ValueError(
                    f"trial {i}: the recording lasts {r.duration:g} s but its stimulus "
                    f"{s.duration:g} s; a recording must be the response to the whole stimulus"
                )
        return pairs

    def _check_fitted(self):
        if not hasattr(self, "n_outputs_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _check_stimulus(self, stimulus):
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        if stimulus.n_channels != self.n_inputs_:
            raise ValueError(f"stimulus has {stimulus.n_channels} channels but the student was "
                             f"fitted on {self.n_inputs_} stimulation channels")
        if stimulus.unit != self.stimulus_unit_:
            raise ValueError(f"stimulus unit is {stimulus.unit!r} but the student was fitted on "
                             f"{self.stimulus_unit_!r}")

    def _check_recording(self, recording):
        if recording.n_channels != self.n_outputs_:
            raise ValueError(f"recording has {recording.n_channels} channels but the student was "
                             f"fitted on {self.n_outputs_}")
        if not np.array_equal(recording.channel_electrodes, self.channel_electrodes_):
            raise ValueError("recording's channel_electrodes differ from those the student was "
                             "fitted on")
        if recording.unit != self.unit_:
            raise ValueError(f"recording unit is {recording.unit!r} but the student was fitted on "
                             f"{self.unit_!r}")

    def _inputs(self, stimulus, n_bins=None):
        u = bin_stimulus(stimulus, self.bin_width, n_bins)
        return (u[:, self.active_inputs_] - self.input_mean_) / self.input_scale_

    # ------------------------------------------------------------------ public API
    def fit(self, stimulus, recording, *, probe=None):
        """Learn to map stimuli onto the recording's binned targets.

        Parameters
        ----------
        stimulus : Stimulus or list of Stimulus
            One per trial, shape (n_samples, n_stimulating), all of one unit and width.
        recording : Recording or list of Recording
            The teacher's response to each stimulus (same duration, to within one sample).
        probe : StateProbe, optional
            Extra training targets from the teacher's hidden state (the recordings must
            hold it). An unfitted probe is cloned, given this student's ``bin_width`` and
            fitted on the first recording; a fitted one is used as it is. Its outputs
            (:meth:`StateProbe.transform`) are auxiliary targets; :meth:`predict` still returns only the
            electrode channels.

        Returns
        -------
        self

        Notes
        -----
        Inputs are the per-bin stimulus means, standardised with the training mean and
        standard deviation of each channel; channels that are constant in every
        training trial (``active_inputs_`` lists the others) carry no information and
        are ignored from then on, in :meth:`predict` too. Each trial starts from the
        student's zero state; ``warmup`` seconds at the start of each trial are left out
        of the loss (the student still runs through them).
        """
        bin_width, warmup = self._check_common()
        self._check_params()
        pairs = self._pairs(stimulus, recording)
        first_s, first_r = pairs[0]
        for i, (s, r) in enumerate(pairs[1:], start=1):
            if s.n_channels != first_s.n_channels or s.unit != first_s.unit:
                raise ValueError(f"trial {i}: stimulus has {s.n_channels} channels ({s.unit!r}), "
                                 f"trial 0 {first_s.n_channels} ({first_s.unit!r})")
            if (r.n_channels != first_r.n_channels or r.unit != first_r.unit
                    or not np.array_equal(r.channel_electrodes, first_r.channel_electrodes)):
                raise ValueError(f"trial {i}: recording channels or unit differ from trial 0's")
        target = self.target
        if target == "auto":
            target = "spike_counts" if all(r.has_spikes for _, r in pairs) else "trace"
        rng = check_random_state(self.random_state)
        if probe is not None:
            if not isinstance(probe, StateProbe):
                raise TypeError(f"probe must be a StateProbe, got {type(probe).__name__}")
            if not hasattr(probe, "projection_"):
                probe = clone(probe).set_params(bin_width=bin_width).fit(first_r)
        warm_bins = round(warmup / bin_width)
        raw_u, ys, keep = [], [], []
        for s, r in pairs:
            n_bins = min(_n_bins(r.duration, bin_width), _n_bins(s.duration, bin_width))
            y = bin_recording(r, bin_width, target, n_bins)
            u = bin_stimulus(s, bin_width, n_bins)
            if probe is not None:
                y = np.concatenate([y, probe.transform(r, bin_width, n_bins)], axis=1)
            if warm_bins >= n_bins:
                raise ValueError(f"warmup {warmup:g} s leaves no bins of a {r.duration:g} s trial")
            mask = np.zeros(n_bins, dtype=bool)
            mask[warm_bins:] = True
            raw_u.append(u)
            ys.append(y)
            keep.append(mask)
        all_u = np.concatenate(raw_u)
        scale = all_u.std(axis=0)
        active = np.flatnonzero(scale > 0)
        if active.size == 0:
            raise ValueError("the stimulus is constant on every channel: nothing to learn from")
        self.target_ = target
        self.n_inputs_ = first_s.n_channels
        self.stimulus_unit_ = first_s.unit
        self.active_inputs_ = active
        self.input_mean_ = all_u[:, active].mean(axis=0)
        self.input_scale_ = scale[active]
        self.n_outputs_ = first_r.n_channels
        self.unit_ = first_r.unit
        self.channel_electrodes_ = np.array(first_r.channel_electrodes)
        self.electrode_positions_ = np.array(first_r.electrode_positions)
        self.n_probe_dims_ = 0 if probe is None else probe.projection_.shape[0]
        self.probe_ = probe
        kept = np.concatenate([y[m] for y, m in zip(ys, keep)])
        self.target_mean_ = kept.mean(axis=0)
        target_scale = kept.std(axis=0)
        target_scale[target_scale == 0] = 1.0
        self.target_scale_ = target_scale
        us = [(u[:, active] - self.input_mean_) / self.input_scale_ for u in raw_u]
        if self._standardise_targets:
            ys = [(y - self.target_mean_) / self.target_scale_ for y in ys]
        self._fit_arrays(us, ys, keep, rng)
        return self

    def _outputs(self, stimulus):
        self._check_fitted()
        self._check_stimulus(stimulus)
        u = self._inputs(stimulus)
        out = self._predict_array(u)
        if self._standardise_targets:
            out = out * self.target_scale_ + self.target_mean_
        return out

    def predict(self, stimulus):
        """The student's recording in response to ``stimulus``.

        Parameters
        ----------
        stimulus : Stimulus of shape (n_samples, n_inputs_), in ``stimulus_unit_``

        Returns
        -------
        Recording of shape (n_bins, n_outputs_) at ``1 / bin_width`` Hz
            ``n_bins = floor(stimulus.duration / bin_width)``, with the teacher's
            electrode positions and channel ids. ``metadata["target"]`` says what the
            samples are: ``"spike_counts"`` (expected detected spikes per channel per bin,
            a count, whatever ``unit`` says) or ``"trace"`` (mean recorded signal per bin,
            in ``unit``).
        """
        out = self._outputs(stimulus)[:, : self.n_outputs_]
        if self.target_ == "spike_counts":
            out = np.maximum(out, 0.0)  # an expected count is never negative
        description = ("expected detected spikes per channel per bin (a count; unit is the "
                       "teacher's recorded unit, not the samples')"
                       if self.target_ == "spike_counts" else
                       f"mean recorded trace per bin, in {self.unit_}")
        return Recording(
            np.ascontiguousarray(out), 1.0 / float(self.bin_width), self.unit_,
            electrode_positions=self.electrode_positions_,
            channel_electrodes=self.channel_electrodes_,
            metadata={"target": self.target_, "bin_width": float(self.bin_width),
                      "values": description, "student": type(self).__name__},
        )

    def predict_probe(self, stimulus):
        """Predicted probe outputs (only when fitted with a probe): (n_bins, n_dims)."""
        out = self._outputs(stimulus)
        if self.n_probe_dims_ == 0:
            raise ValueError("the student was fitted without a probe")
        return out[:, self.n_outputs_:]

    def states(self, stimulus):
        """The student's internal state in response to ``stimulus``.

        Parameters
        ----------
        stimulus : Stimulus of shape (n_samples, n_inputs_)

        Returns
        -------
        ndarray of shape (n_bins, n_state): one row per bin of ``bin_width``.
        """
        self._check_fitted()
        self._check_stimulus(stimulus)
        return self._states_array(self._inputs(stimulus))

    def score(self, stimulus, recording):
        """Mean explained variance (``1 - SSE / SST``) over the channels that vary.

        The first ``warmup`` seconds are left out, as in :meth:`fit`.

        Parameters
        ----------
        stimulus : Stimulus
        recording : Recording
            The teacher's response to ``stimulus``, with the channels the student was
            fitted on.

        Returns
        -------
        float, at most 1.
        """
        self._check_fitted()
        (s, r), = self._pairs(stimulus, recording)
        self._check_recording(r)
        n_bins = min(_n_bins(r.duration, self.bin_width), _n_bins(s.duration, self.bin_width))
        y = bin_recording(r, self.bin_width, self.target_, n_bins)
        pred = self.predict(s).data[:n_bins]
        start = round(float(self.warmup) / float(self.bin_width))
        ev = explained_variance(y[start:], pred[start:])
        if np.all(np.isnan(ev)):
            raise ValueError("no recorded channel varies over the scored bins; explained variance "
                             "is undefined")
        return float(np.nanmean(ev))

    def _check_params(self):
        """Validate the subclass's own parameters (raise ValueError/TypeError)."""

    def _fit_readouts(self, features, ys, keep):
        """Ridge readouts: one for the electrode channels, one for the probe's dimensions.

        Apart, so that the penalty chosen for the electrode channels (and so their
        predictions) does not depend on whether a probe was used.
        """
        x = np.concatenate([f[m] for f, m in zip(features, keep)])
        y = np.concatenate([y[m] for y, m in zip(ys, keep)])
        groups = np.concatenate([np.full(int(m.sum()), i) for i, m in enumerate(keep)])
        alphas = _alphas(self.alphas)
        self.readout_ = _fit_ridge(alphas, x, y[:, : self.n_outputs_], groups)
        self.alpha_ = float(self.readout_.alpha_)
        self.probe_readout_ = None
        if self.n_probe_dims_:
            self.probe_readout_ = _fit_ridge(alphas, x, y[:, self.n_outputs_:], groups)

    def _apply_readouts(self, x):
        out = self.readout_.predict(x)
        out = out.reshape(x.shape[0], -1)
        if self.probe_readout_ is not None:
            probe = self.probe_readout_.predict(x).reshape(x.shape[0], -1)
            out = np.concatenate([out, probe], axis=1)
        return out


# ------------------------------------------------------------------- linear student


def _lagged(u, n_lags, degree):
    """Design matrix of lagged inputs (zeros before the start): (n_bins, n_lags * n_in * degree)."""
    n, m = u.shape
    padded = np.concatenate([np.zeros((n_lags - 1, m)), u])
    cols = [padded[n_lags - 1 - lag: n_lags - 1 - lag + n] for lag in range(n_lags)]
    x = np.concatenate(cols, axis=1)
    if degree == 2:
        x = np.concatenate([x, x**2 - 1.0], axis=1)
    return x


class LinearStudent(Student):
    """Ridge regression on lagged, binned inputs: a finite-impulse-response model.

    ``y[t] = b + sum_{l < n_lags} H[l] u[t - l]`` per output channel (``u`` the binned
    stimulus; bins before the start are zero), optionally plus the same sum over squared
    inputs (``degree=2``). The penalty is picked from ``alphas`` by generalised
    cross-validation on standardised inputs and targets.

    Parameters
    ----------
    n_lags : int >= 1
        FIR length in bins (memory ``n_lags * bin_width`` s).
    alphas : sequence of float > 0
        Candidate ridge penalties (on standardised features).
    degree : {1, 2}
        2 adds squared lagged inputs (a second-order Volterra diagonal).
    bin_width : float, s
        Time base; a whole multiple of the stimulus and recording sample periods.
    target : {"auto", "spike_counts", "trace"}
        What to predict per channel and bin; "auto": spike counts if the recording has
        detected spikes, else the trace.
    warmup : float, s
        Dropped from the start of each trial when fitting and scoring.
    random_state : int, Generator, SeedSequence or None
        Unused (the fit is deterministic); kept for a uniform interface.

    Attributes
    ----------
    filters_ : ndarray of shape (n_lags, n_inputs_, n_outputs_)
        The linear taps, output unit (count or recorded unit) per stimulus unit; zero
        for stimulation channels that were silent during fitting.
    alpha_ : float
        The chosen penalty.
    target_, n_inputs_, n_outputs_, active_inputs_, channel_electrodes_, ... : see
        :meth:`Student.fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording, Stimulus
    >>> stim = Stimulus.white_noise(1, 2.0, 1e-3, rms=1.0, random_state=0)
    >>> u = stim.data[:, 0]
    >>> y = np.convolve(u, [0.0, 1.0, 0.5])[: u.size, None]
    >>> rec = Recording(y, 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> student = LinearStudent(n_lags=4, bin_width=1e-3).fit(stim, rec)
    >>> (np.round(student.filters_[:, 0, 0], 2) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0
    [0.0, 1.0, 0.5, 0.0]
    """

    def __init__(self, n_lags=10, *, alphas=_DEFAULT_ALPHAS, degree=1, bin_width=10e-3,
                 target="auto", warmup=0.0, random_state=None):
        self.n_lags = n_lags
        self.alphas = alphas
        self.degree = degree
        self.bin_width = bin_width
        self.target = target
        self.warmup = warmup
        self.random_state = random_state

    def _check_params(self):
        _count("n_lags", self.n_lags)
        _alphas(self.alphas)
        if self.degree not in (1, 2) or isinstance(self.degree, bool):
            raise ValueError(f"degree must be 1 or 2, got {self.degree!r}")

    def _fit_arrays(self, us, ys, keep, rng):
        self._fit_readouts([_lagged(u, self.n_lags, self.degree) for u in us], ys, keep)
        n_in = len(self.active_inputs_)
        n_features = self.n_lags * n_in * self.degree
        # the taps, read off the fitted readout (independent of how it stores coef_)
        weights = (self.readout_.predict(np.eye(n_features))
                   - self.readout_.predict(np.zeros((1, n_features)))).reshape(n_features, -1)
        lin = weights[: self.n_lags * n_in].reshape(self.n_lags, n_in, -1)
        filters = np.zeros((self.n_lags, self.n_inputs_, self.n_outputs_))
        filters[:, self.active_inputs_, :] = (
            lin / self.input_scale_[None, :, None] * self.target_scale_[None, None, : self.n_outputs_]
        )
        self.filters_ = filters

    def _predict_array(self, u):
        return self._apply_readouts(_lagged(u, self.n_lags, self.degree))

    def _states_array(self, u):
        return _lagged(u, self.n_lags, self.degree)


# ---------------------------------------------------------------------- ESN student


class ESNStudent(Student):
    """An echo state network (reservoirpy ``Reservoir``) with a ridge readout.

    A leaky-tanh reservoir, ``x[t] = (1 - a) x[t-1] + a tanh(W_in u[t] + W x[t-1] + b)``
    (``a`` the leak rate, ``W`` scaled to the spectral radius), is driven by the binned,
    standardised stimulus, one step per bin, from the zero state at the start of each
    trial. A ridge readout maps ``[x[t], u[t]]`` onto the standardised targets.

    Parameters
    ----------
    n_units : int >= 1
    spectral_radius : float > 0
        Of the recurrent matrix (below 1 for the echo state property, roughly).
    leak_rate : float in (0, 1]
        Per bin; the reservoir's time constant is about ``bin_width / leak_rate``.
    input_scaling : float > 0
        Scale of the input weights (inputs are standardised to unit variance).
    input_connectivity, rc_connectivity : float in (0, 1]
        Density of the input and recurrent matrices.
    bias_scaling : float >= 0
        Each unit's bias is uniform in ``[-bias_scaling, bias_scaling]``. Without a bias
        a tanh reservoir is an odd function of its input and cannot represent even
        responses (a rectifying or squaring substrate).
    include_inputs : bool
        Also feed the current inputs to the readout.
    alphas : sequence of float > 0
        Candidate ridge penalties (picked by generalised cross-validation).
    bin_width, target, warmup, random_state
        As in :class:`LinearStudent`; ``random_state`` draws the reservoir.

    Attributes
    ----------
    reservoir_ : reservoirpy.nodes.Reservoir
    alpha_ : float
    target_, n_inputs_, n_outputs_, ... : see :meth:`Student.fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording, Stimulus
    >>> stim = Stimulus.white_noise(1, 2.0, 1e-3, rms=1.0, random_state=0)
    >>> y = np.tanh(stim.data)
    >>> rec = Recording(y, 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> esn = ESNStudent(n_units=50, bin_width=1e-3, random_state=0).fit(stim, rec)
    >>> esn.score(stim, rec) > 0.9
    True
    """

    def __init__(self, n_units=300, *, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5,
                 input_connectivity=0.5, rc_connectivity=0.1, bias_scaling=0.5,
                 include_inputs=True, alphas=_DEFAULT_ALPHAS, bin_width=10e-3, target="auto",
                 warmup=0.0, random_state=None):
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.input_connectivity = input_connectivity
        self.rc_connectivity = rc_connectivity
        self.bias_scaling = bias_scaling
        self.include_inputs = include_inputs
        self.alphas = alphas
        self.bin_width = bin_width
        self.target = target
        self.warmup = warmup
        self.random_state = random_state

    def _check_params(self):
        _count("n_units", self.n_units)
        _positive("spectral_radius", self.spectral_radius, "dimensionless")
        _in_range("leak_rate", self.leak_rate, 0.0, 1.0, low_open=True)
        _positive("input_scaling", self.input_scaling, "dimensionless")
        _in_range("input_connectivity", self.input_connectivity, 0.0, 1.0, low_open=True)
        _in_range("rc_connectivity", self.rc_connectivity, 0.0, 1.0, low_open=True)
        _nonnegative("bias_scaling", self.bias_scaling, "dimensionless")
        _alphas(self.alphas)

    def _run(self, u):
        if self.reservoir_.initialized:
            self.reservoir_.reset()  # every trial starts from the zero state
        return np.asarray(self.reservoir_.run(u), dtype=np.float64)

    def _features(self, u):
        x = self._run(u)
        return np.concatenate([x, u], axis=1) if self.include_inputs else x

    def _fit_arrays(self, us, ys, keep, rng):
        from reservoirpy.nodes import Reservoir

        weights_rng, bias_rng = rng.spawn(2)
        bias = bias_rng.uniform(-1.0, 1.0, int(self.n_units)) * float(self.bias_scaling)
        self.reservoir_ = Reservoir(
            units=int(self.n_units), lr=float(self.leak_rate), sr=float(self.spectral_radius),
            input_scaling=float(self.input_scaling),
            input_connectivity=float(self.input_connectivity),
            rc_connectivity=float(self.rc_connectivity), bias=bias,
            seed=_seed_from(weights_rng),
        )
        self._fit_readouts([self._features(u) for u in us], ys, keep)

    def _predict_array(self, u):
        return self._apply_readouts(self._features(u))

    def _states_array(self, u):
        return self._run(u)
