"""Benchmark tasks: input encoding onto stimulation electrodes, split, readout and metric.

A :class:`Task` holds a fixed data set (drawn from ``data_seed`` for the generated tasks,
read from disk for the real ones), laid out as one sequence of input steps: the training
part, then the test part. Each step is held for ``substrate.encoding["hold"]`` seconds on
``n_inputs`` stimulating electrodes spread over the array. Classification clips follow one
another with ``gap`` silent steps in between, so the substrate's state fades between clips.

The substrate's recording becomes one feature row per step
(:func:`~readout._features.step_features`); a ridge readout
(:class:`~readout._linear.RidgeReadout` or :class:`~readout._linear.RidgeClassifierReadout`,
penalty by generalised cross-validation) is fitted on the training steps (after ``warmup``
steps) and scored on the test steps. The same readout, split and metric score an echo state
network of a given size run on the task's raw inputs (:meth:`Task.esn_score`), the baseline
every result is reported against.

Metrics
-------
``"nrmse"``
    ``sqrt(mean((prediction - target)**2)) / std(target)`` over the test steps (population
    standard deviation of the test target): 0 is perfect, 1 is as good as predicting the
    mean.
``"memory_capacity"``
    ``sum over delays k = 1 .. max_delay`` of the squared correlation, on the test steps,
    between ``u[t - k]`` and its linear estimate from the features at step ``t`` (Jaeger
    2001; the delays of reservoirpy's ``observables.memory_capacity``).
``"accuracy"``
    Fraction of test clips classified correctly.

Input normalisation
-------------------
Each input channel is mapped to ``[0, 1]`` by the minimum and maximum over the *training*
steps only (test values are clipped to ``[0, 1]``), so the encoding sees one fixed scale:
pulse modes ("rate", "threshold") take the ``[0, 1]`` values (``feature_max = 1``, so a
value of 1 is the substrate's ``max_rate``), "amplitude" mode takes ``2 u - 1`` in
``[-1, 1]`` times the substrate's amplitude. Silent gap steps carry no stimulation. The ESN
baseline gets ``2 u - 1`` (0 in the gaps).

References
----------
Jaeger H (2001). Short term memory in echo state networks. GMD Report 152.
Atiya AF, Parlos AG (2000). New results on recurrent network training. IEEE TNN 11:697-709.
Cai H et al. (2023). Brain organoid reservoir computing for artificial intelligence.
Nature Electronics 6:1032-1039.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import ClassVar, NamedTuple

import numpy as np

from readout._esn import ESN_PRESETS, esn_states
from readout._features import step_features

__all__ = [
    "NARMA10",
    "BasicMotions",
    "Henon",
    "JapaneseVowels",
    "MackeyGlass",
    "MemoryCapacity",
    "SpokenDigits",
    "Task",
    "TaskData",
    "memory_capacity",
    "memory_curve",
    "narma10",
    "nrmse",
]

_PULSE_MODES = ("rate", "threshold")


# --------------------------------------------------------------------------- helpers
def _count(value, name, minimum=1, *, optional=False):
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _fit_ridge(x, y):
    """Ridge on time-ordered rows, penalty by blocked cross-validation (GCV overfits here)."""
    from readout._linear import fit_time_series_ridge

    return fit_time_series_ridge(x, y)


def _ridge_classifier():
    from readout._linear import RidgeClassifierReadout

    return RidgeClassifierReadout()


def _standardise(train, *others):
    """Columns scaled by the training mean and standard deviation (constant columns -> 0).

    The other sets are clipped to each column's training range widened by its own width
    on either side: a channel that spiked once in training and often in testing would
    otherwise hand the readout values far outside anything it was fitted on (NRMSE in
    the 1e5s on NARMA10 with 64 sparse spiking channels), while ordinary test values just
    past the training extremes pass untouched.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = (train - mean) / std
    low, high = z.min(axis=0), z.max(axis=0)
    width = high - low
    return [z] + [np.clip((x - mean) / std, low - width, high + width) for x in others]


def _unit_range(values, train_rows):
    """Per-column map to [0, 1] by the training rows' min and max; others clipped."""
    lo = values[train_rows].min(axis=0)
    hi = values[train_rows].max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((values - lo) / span, 0.0, 1.0)


def nrmse(target, prediction):
    """Normalised root-mean-square error, ``RMSE / std(target)``.

    Parameters
    ----------
    target, prediction : array of shape (n,) or (n, n_targets)

    Returns
    -------
    float
        Over all entries; ``std`` is the population standard deviation of ``target``.

    Examples
    --------
    >>> nrmse([0.0, 2.0], [0.0, 2.0]), nrmse([0.0, 2.0], [1.0, 1.0])
    (0.0, 1.0)
    """
    target = np.asarray(target, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(target.shape)
    scale = target.std()
    if not scale > 0:
        raise ValueError("target must vary (its standard deviation is 0): NRMSE is undefined")
    return float(np.sqrt(np.mean((prediction - target) ** 2)) / scale)


def narma10(inputs):
    """The NARMA10 system driven by ``inputs`` (Atiya and Parlos 2000).

    ``y[t+1] = 0.3 y[t] + 0.05 y[t] sum_{i=0}^{9} y[t-i] + 1.5 u[t-9] u[t] + 0.1``, with
    ``y = 0`` before the first step and ``u = 0`` before the first input.

    Parameters
    ----------
    inputs : array of shape (n,)
        Usually i.i.d. uniform in [0, 0.5].

    Returns
    -------
    y : array of shape (n + 1,)
        ``y[0] = 0``; ``y[t + 1]`` is the output after input ``u[t]``.

    Examples
    --------
    >>> import numpy as np
    >>> y = narma10(np.full(3, 0.5))   # y[2] = 0.3 * 0.1 + 0.05 * 0.1 * 0.1 + 0.1
    >>> bool(np.allclose(y[:3], [0.0, 0.1, 0.1305]))
    True
    """
    u = np.asarray(inputs, dtype=np.float64).ravel()
    n = u.size
    y = np.zeros(n + 1)
    window = 0.0  # sum of y[t-9 .. t]
    for t in range(n):
        window += y[t] - (y[t - 10] if t >= 10 else 0.0)
        lagged = u[t - 9] if t >= 9 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * window + 1.5 * lagged * u[t] + 0.1
    return y


def memory_curve(states, inputs, max_delay, warmup=0, *, n_train=None):
    """Squared correlation of each delayed input with its linear estimate from the states.

    A :class:`~readout._linear.RidgeReadout` (standardised states, penalty by blocked
    cross-validation over 5 contiguous blocks, one fit for all delays) is fitted on rows ``warmup .. n_train - 1``
    to the targets ``u[t - k]``, ``k = 1 .. max_delay``, and scored on rows
    ``n_train .. n - 1``.

    Parameters
    ----------
    states : array of shape (n, n_features)
        Row ``t`` has seen inputs up to ``u[t]``.
    inputs : array of shape (n,)
        i.i.d. input.
    max_delay : int >= 1
    warmup : int >= 0
        Training rows dropped first; at least ``max_delay`` are dropped in any case (the
        delayed targets need them).
    n_train : int, optional
        Rows before the test part; default ``n // 2``.

    Returns
    -------
    array of shape (max_delay,)
        ``r2[k - 1]`` for delay ``k``; each in [0, 1].
    """
    x = np.asarray(states, dtype=np.float64)
    u = np.asarray(inputs, dtype=np.float64).ravel()
    if x.ndim != 2 or x.shape[0] != u.size:
        raise ValueError(
            f"states must have shape (n, n_features) with n = len(inputs) = {u.size}, got {x.shape}"
        )
    max_delay = _count(max_delay, "max_delay")
    warmup = max(_count(warmup, "warmup", 0), max_delay)
    n = u.size
    n_train = n // 2 if n_train is None else _count(n_train, "n_train")
    if not (warmup + 2 <= n_train <= n - 2):
        raise ValueError(
            f"need at least 2 training rows after warmup = {warmup} and 2 test rows: "
            f"n_train = {n_train}, n = {n}"
        )
    rows = np.arange(warmup, n)
    targets = np.stack([u[rows - k] for k in range(1, max_delay + 1)], axis=1)
    train = rows < n_train
    x_tr, x_te = _standardise(x[rows[train]], x[rows[~train]])
    model = _fit_ridge(x_tr, targets[train])
    pred = model.predict(x_te).reshape(-1, max_delay)
    truth = targets[~train]
    pc = pred - pred.mean(axis=0)
    tc = truth - truth.mean(axis=0)
    denom = (pc**2).sum(axis=0) * (tc**2).sum(axis=0)
    return np.where(denom > 0, (pc * tc).sum(axis=0) ** 2 / np.where(denom > 0, denom, 1.0), 0.0)


def memory_capacity(states, inputs, max_delay, warmup=0, *, n_train=None):
    """Linear memory capacity: the sum of :func:`memory_curve` over delays 1 .. max_delay.

    For i.i.d. input and ``N`` linearly independent state features it is at most ``N``
    (Jaeger 2001): the delayed inputs are uncorrelated with equal variance, so the sum of
    their squared correlations with the best linear estimates is the trace of a projection
    of rank ``N`` onto nearly orthonormal directions.

    Parameters
    ----------
    states, inputs, max_delay, warmup, n_train
        As in :func:`memory_curve`.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> u = np.random.default_rng(0).uniform(-1, 1, 2000)
    >>> states = np.stack([np.roll(u, k) for k in range(3)], axis=1)  # a 3-tap delay line
    >>> round(memory_capacity(states, u, 5), 2)   # delays 1 and 2 are remembered
    2.0
    """
    return float(memory_curve(states, inputs, max_delay, warmup, n_train=n_train).sum())


def _spread_order(points, k):
    """First ``k`` indices of a deterministic farthest-point order of ``points`` (n, 3)."""
    from substrates._electrodes import _farthest_point_order

    return _farthest_point_order(np.asarray(points, dtype=np.float64), k)


# --------------------------------------------------------------------------- task data
class TaskData(NamedTuple):
    """A task laid out as one sequence of input steps (train part first, then test).

    Attributes
    ----------
    inputs : array of shape (n_steps, n_inputs)
        Inputs mapped to [0, 1] by the training steps' range (0 in silent steps).
    silent : bool array of shape (n_steps,)
        Gap steps between clips, which carry no stimulation.
    train, test : bool arrays of shape (n_steps,)
        Steps (regression) whose features fit and score the readout; the training steps
        exclude the warm-up. For classification they mark the steps of training and test
        clips.
    targets : array of shape (n_steps, n_targets) or None
        Regression targets (None for classification and memory capacity, whose targets
        are the delayed inputs).
    clip : int array of shape (n_steps,)
        Clip index of each step, -1 in gaps and for regression tasks.
    labels : int array of shape (n_clips,)
    clip_train : bool array of shape (n_clips,)
    raw : array of shape (n_steps, n_inputs)
        The inputs before normalisation (0 in gaps).
    """

    inputs: np.ndarray
    silent: np.ndarray
    train: np.ndarray
    test: np.ndarray
    targets: np.ndarray | None
    clip: np.ndarray
    labels: np.ndarray
    clip_train: np.ndarray
    raw: np.ndarray


def _sequence_data(raw, targets, n_train, warmup):
    raw = np.asarray(raw, dtype=np.float64).reshape(raw.shape[0], -1)
    n = raw.shape[0]
    steps = np.arange(n)
    train = (steps >= warmup) & (steps < n_train)
    test = steps >= n_train
    fit_rows = steps < n_train
    return TaskData(_unit_range(raw, fit_rows), np.zeros(n, bool), train, test,
                    None if targets is None else np.asarray(targets, dtype=np.float64).reshape(n, -1),
                    np.full(n, -1), np.zeros(0, np.int64), np.zeros(0, bool), raw)


def _clip_data(clips, labels, is_train, gap, rng):
    """Training clips (shuffled), then test clips (shuffled), ``gap`` silent steps after each."""
    labels = np.asarray(labels)
    is_train = np.asarray(is_train, bool)
    order = np.concatenate([rng.permutation(np.flatnonzero(is_train)),
                            rng.permutation(np.flatnonzero(~is_train))])
    n_inputs = clips[0].shape[1]
    parts, clip_of, silent = [], [], []
    for new, old in enumerate(order):
        c = np.asarray(clips[old], dtype=np.float64)
        parts += [c, np.zeros((gap, n_inputs))]
        clip_of += [np.full(c.shape[0], new), np.full(gap, -1)]
        silent += [np.zeros(c.shape[0], bool), np.ones(gap, bool)]
    raw = np.concatenate(parts)
    clip = np.concatenate(clip_of)
    silent = np.concatenate(silent)
    clip_train = is_train[order]
    train = (clip >= 0) & clip_train[np.maximum(clip, 0)]
    test = (clip >= 0) & ~clip_train[np.maximum(clip, 0)]
    inputs = np.where(silent[:, None], 0.0, _unit_range(raw, train))
    return TaskData(inputs, silent, train, test, None, clip, labels[order].astype(np.int64),
                    clip_train, raw)


def _cap_per_class(labels, limit):
    """Boolean mask keeping the first ``limit`` items of each class (all when None)."""
    labels = np.asarray(labels)
    keep = np.zeros(labels.size, bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep[idx if limit is None else idx[:limit]] = True
    return keep


# --------------------------------------------------------------------------- base class
class Task:
    """A benchmark task: data, input encoding, split, readout and metric.

    Subclasses set the class attributes and build their :class:`TaskData`.

    Attributes
    ----------
    name : str
    kind : {"regression", "classification"}
    metric : {"nrmse", "accuracy", "memory_capacity"}
    greater_is_better : bool
    n_inputs : int
        Stimulating electrodes the task drives.
    esn_preset : str
        Key of :data:`readout._esn.ESN_PRESETS` for the baseline.
    pulse_mode : {"rate", "threshold"}
        Encoding used when the substrate's own encoding is a pulse mode.

    Notes
    -----
    :meth:`run` stores ``task``, ``hold`` (s), ``n_steps`` and ``start`` (s) in the
    recording's ``metadata``; :meth:`score` and :meth:`features` read the hold from there
    unless ``substrate_hold`` is given (for a recording made some other way).
    """

    name = "task"
    kind = "regression"
    metric = "nrmse"
    greater_is_better = False
    n_inputs = 1
    esn_preset = "narma"
    pulse_mode = "rate"
    #: feature time constants, in holds (multiplied by the hold in :meth:`features`)
    time_constants_in_holds = (1.0, 4.0)

    def _make_data(self) -> TaskData:  # pragma: no cover - abstract
        raise NotImplementedError

    @functools.cached_property
    def _data(self):
        data = self._make_data()
        for array in data:
            if array is not None:
                array.flags.writeable = False  # shared by every call of data(): read-only
        return data

    def data(self):
        """The task laid out as input steps: :class:`TaskData` (computed once, then cached)."""
        return self._data

    @property
    def n_steps(self):
        """Input steps in the whole task (train, test and gaps)."""
        return self._data.inputs.shape[0]

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self):
        return {}

    # ------------------------------------------------------------ encoding
    def input_channels(self, electrodes):
        """Stimulation channels (indices into ``electrodes.stimulating_positions``) of the inputs.

        The first ``n_inputs`` of a farthest-point order of the stimulating electrodes
        (starting nearest the centroid): deterministic and spread over the array.

        Raises
        ------
        ValueError
            When ``n_inputs`` exceeds ``electrodes.n_stimulating``.
        """
        n_stim = int(electrodes.n_stimulating)
        if self.n_inputs > n_stim:
            raise ValueError(
                f"task {self.name!r} needs n_inputs = {self.n_inputs} input channels but the "
                f"array can stimulate only n_stimulating = {n_stim} electrodes"
            )
        return _spread_order(electrodes.stimulating_positions, self.n_inputs)

    def stimulus(self, substrate, random_state=None):
        """The whole task (train then test) encoded for ``substrate``.

        Parameters
        ----------
        substrate : a substrate (see :class:`substrates.Substrate`)
            Its ``encoding`` (Stimulus.encode keywords plus ``hold``) and ``dt`` are used.
        random_state : int, Generator or None
            Pulse jitter, if the encoding asks for any.

        Returns
        -------
        Stimulus of shape (n_steps * hold / dt, substrate.electrodes.n_stimulating)

        Raises
        ------
        ValueError
            When the task needs more input channels than the array can stimulate.
        """
        from substrates._protocol import check_substrate
        from substrates._stimulus import Stimulus

        check_substrate(substrate)
        electrodes = substrate.electrodes
        channel_map = self.input_channels(electrodes)
        encoding = dict(substrate.encoding)
        hold = encoding.pop("hold")
        mode = encoding.get("mode", "amplitude")
        data = self._data
        if mode in _PULSE_MODES and self.pulse_mode == "threshold":
            encoding = {k: v for k, v in encoding.items() if k not in ("max_rate", "feature_max")}
            encoding["mode"] = "threshold"
            # each coefficient fires when above its training median; gaps (-1) never fire
            encoding["threshold"] = np.median(data.inputs[data.train], axis=0)
            values = np.where(data.silent[:, None], -1.0, data.inputs)
        elif mode == "rate":
            encoding["feature_max"] = 1.0
            values = data.inputs
        elif mode == "threshold":
            encoding.setdefault("threshold", 0.5)
            values = np.where(data.silent[:, None], -1.0, data.inputs)
        else:
            values = np.where(data.silent[:, None], 0.0, 2.0 * data.inputs - 1.0)
        return Stimulus.encode(values, hold=hold, dt=substrate.dt, channel_map=channel_map,
                               n_channels=electrodes.n_stimulating, random_state=random_state,
                               **encoding)

    # ------------------------------------------------------------ running and scoring
    def run(self, substrate, random_state=None, *, record_hidden=False,
            hidden_sampling_rate=None, progress=False):
        """Reset ``substrate`` with ``random_state`` and run the whole task on it.

        Returns
        -------
        Recording
            Every recording channel, with ``metadata`` holding ``task``, ``hold``,
            ``n_steps`` and ``start``.
        """
        stimulus = self.stimulus(substrate, random_state)
        substrate.reset(random_state)
        kwargs = {} if hidden_sampling_rate is None else {"hidden_sampling_rate": hidden_sampling_rate}
        recording = substrate.run(stimulus, record_hidden=record_hidden, progress=progress, **kwargs)
        recording.metadata.update({"task": self.name, "hold": float(substrate.encoding["hold"]),
                                   "n_steps": int(self.n_steps), "start": 0.0})
        return recording

    def _hold(self, recording, substrate_hold):
        if substrate_hold is not None:
            return float(substrate_hold)
        hold = recording.metadata.get("hold")
        if hold is None:
            raise ValueError(
                "the recording's metadata has no 'hold' (it was not made by Task.run): "
                "pass substrate_hold (s)"
            )
        return float(hold)

    def features(self, recording, *, channels=None, substrate_hold=None):
        """One feature row per input step, and the time each row is read.

        Returns
        -------
        features : array of shape (n_steps, n_channels * (1 + n_time_constants))
            :func:`~readout._features.step_features` with time constants
            ``time_constants_in_holds * hold``.
        times : array of shape (n_steps,), s
            End of each step.
        """
        hold = self._hold(recording, substrate_hold)
        start = float(recording.metadata.get("start", 0.0))
        tcs = tuple(hold * k for k in self.time_constants_in_holds)
        f = step_features(recording, hold, self.n_steps, channels=channels, time_constants=tcs,
                          start=start)
        return f, start + hold * np.arange(1, self.n_steps + 1)

    def score(self, recording, *, channels=None, substrate_hold=None):
        """The task's metric on the test part, from a recording of :meth:`run`.

        Parameters
        ----------
        recording : Recording
        channels : None or sequence of int
            Columns of the recording the readout may use (an electrode subset).
        substrate_hold : float, s, optional
            Hold per step; default ``recording.metadata["hold"]``.

        Returns
        -------
        float
        """
        return self.score_states(self.features(recording, channels=channels,
                                               substrate_hold=substrate_hold)[0])

    def evaluate(self, substrate, *, channels=None, random_state=None):
        """``score(run(substrate, random_state), channels=channels)``."""
        return self.score(self.run(substrate, random_state), channels=channels)

    def esn_inputs(self):
        """The ESN baseline's input: array of shape (n_steps, n_inputs), ``2 u - 1`` (0 in gaps)."""
        d = self._data
        return np.where(d.silent[:, None], 0.0, 2.0 * d.inputs - 1.0)

    def esn_score(self, n_units, random_state=None, **esn_params):
        """Score of an echo state network of ``n_units`` on the task's raw inputs.

        Parameters
        ----------
        n_units : int
        random_state : int, Generator or None
            Draws the reservoir's weights.
        **esn_params
            Override :data:`~readout._esn.ESN_PRESETS` entries (``spectral_radius`` ...).

        Returns
        -------
        float
            Same split, readout and metric as :meth:`score`.
        """
        params = {**ESN_PRESETS[self.esn_preset], **esn_params}
        states = esn_states(self.esn_inputs(), n_units, random_state=random_state, **params)
        return self.score_states(states)

    def score_states(self, states):
        """The task's metric from one state (feature) row per input step.

        Parameters
        ----------
        states : array of shape (n_steps, n_features)

        Returns
        -------
        float
        """
        states = np.asarray(states, dtype=np.float64)
        if states.ndim != 2 or states.shape[0] != self.n_steps:
            raise ValueError(
                f"states must have shape (n_steps = {self.n_steps}, n_features), got {states.shape}"
            )
        if not np.all(np.isfinite(states)):
            raise ValueError("states must be finite (no NaN or inf)")
        d = self._data
        if self.kind == "classification":
            return self._accuracy(states, d)
        x_tr, x_te = _standardise(states[d.train], states[d.test])
        model = _fit_ridge(x_tr, d.targets[d.train])
        return nrmse(d.targets[d.test], model.predict(x_te))

    def _accuracy(self, states, d):
        # one vector per clip: the mean of its steps' features, then its last step's features
        in_clip = d.clip >= 0
        clip = d.clip[in_clip]
        n_clips = d.labels.size
        counts = np.bincount(clip, minlength=n_clips)[:, None]
        means = np.zeros((n_clips, states.shape[1]))
        np.add.at(means, clip, states[in_clip])
        last = np.flatnonzero(in_clip)[np.cumsum(np.bincount(clip, minlength=n_clips)) - 1]
        x = np.concatenate([means / counts, states[last]], axis=1)
        x_tr, x_te = _standardise(x[d.clip_train], x[~d.clip_train])
        clf = _ridge_classifier().fit(x_tr, d.labels[d.clip_train])
        return float(np.mean(clf.predict(x_te) == d.labels[~d.clip_train]))


# --------------------------------------------------------------------------- regression
class MemoryCapacity(Task):
    """Linear memory capacity (Jaeger 2001): recall i.i.d. inputs 1 .. max_delay steps back.

    Inputs are i.i.d. uniform in [-1, 1] (drawn from ``data_seed``); the metric is
    :func:`memory_capacity` on the test steps (greater is better, at most the number of
    linearly independent features).

    Parameters
    ----------
    n_train, n_test : int
        Steps in each part (the first ``warmup`` training steps are dropped).
    max_delay : int
    warmup : int, optional
        Default ``max_delay``.
    data_seed : int

    Examples
    --------
    >>> task = MemoryCapacity(n_train=300, n_test=300, max_delay=10)
    >>> 0 < task.esn_score(20, random_state=0) <= 20
    True
    """

    name = "memory_capacity"
    metric = "memory_capacity"
    greater_is_better = True
    esn_preset = "memory"

    def __init__(self, n_train=500, n_test=500, max_delay=20, *, warmup=None, data_seed=0):
        self.n_train = _count(n_train, "n_train")
        self.n_test = _count(n_test, "n_test", 2)
        self.max_delay = _count(max_delay, "max_delay")
        self.warmup = self.max_delay if warmup is None else max(_count(warmup, "warmup", 0), self.max_delay)
        if self.n_train < self.warmup + 2:
            raise ValueError(f"n_train must be at least warmup + 2 = {self.warmup + 2}, got {n_train}")
        self.data_seed = data_seed

    @classmethod
    def full(cls, **kw):
        """The study's size: 2000 training and 2000 test steps, delays up to 100."""
        return cls(**{"n_train": 2000, "n_test": 2000, "max_delay": 100, **kw})

    def _params(self):
        return {"n_train": self.n_train, "n_test": self.n_test, "max_delay": self.max_delay,
                "warmup": self.warmup, "data_seed": self.data_seed}

    def _make_data(self):
        from substrates._random import check_random_state

        u = check_random_state(self.data_seed).uniform(-1.0, 1.0, self.n_train + self.n_test)
        return _sequence_data(u[:, None], None, self.n_train, self.warmup)

    def score_states(self, states):
        states = np.asarray(states, dtype=np.float64)
        if states.ndim != 2 or states.shape[0] != self.n_steps:
            raise ValueError(
                f"states must have shape (n_steps = {self.n_steps}, n_features), got {states.shape}"
            )
        return memory_capacity(states, self._data.raw[:, 0], self.max_delay, self.warmup,
                               n_train=self.n_train)


class _Prediction(Task):
    """Shared constructor of the sequence-prediction tasks."""

    _full: ClassVar[dict] = {"n_train": 2000, "n_test": 1000}

    def __init__(self, n_train=500, n_test=250, *, warmup=100, data_seed=0):
        self.n_train = _count(n_train, "n_train")
        self.n_test = _count(n_test, "n_test", 2)
        self.warmup = _count(warmup, "warmup", 0)
        if self.n_train < self.warmup + 2:
            raise ValueError(f"n_train must be at least warmup + 2 = {self.warmup + 2}, got {n_train}")
        self.data_seed = data_seed

    @classmethod
    def full(cls, **kw):
        """The study's size: 2000 training and 1000 test steps."""
        return cls(**{**cls._full, **kw})

    def _params(self):
        return {"n_train": self.n_train, "n_test": self.n_test, "warmup": self.warmup,
                "data_seed": self.data_seed}


class NARMA10(_Prediction):
    """NARMA10 (Atiya and Parlos 2000): from inputs ``u[t]`` i.i.d. in [0, 0.5], output ``y[t+1]``.

    The target at step ``t`` is :func:`narma10`'s ``y[t + 1]``, which depends on ``u[t]``
    and ``u[t - 9]`` and on the system's own past: memory and nonlinearity at once. The
    series starts 200 steps before the task (a burn-in). Metric: NRMSE.

    Parameters
    ----------
    n_train, n_test : int
    warmup : int
        Training steps dropped first (the reservoir's transient).
    data_seed : int
    """

    name = "narma10"
    esn_preset = "narma"
    _burn_in = 200

    def _make_data(self):
        from substrates._random import check_random_state

        n = self.n_train + self.n_test
        u = check_random_state(self.data_seed).uniform(0.0, 0.5, n + self._burn_in)
        y = narma10(u)
        return _sequence_data(u[self._burn_in:, None], y[self._burn_in + 1:], self.n_train,
                              self.warmup)


class MackeyGlass(_Prediction):
    """Mackey-Glass (tau = 17) prediction ``horizon`` steps ahead.

    The series is reservoirpy's ``datasets.mackey_glass`` (RK4, one sample per time unit,
    ``a = 0.2, b = 0.1, n = 10``, random initial history from ``data_seed``), after a
    300-sample burn-in. Input ``x[t]``, target ``x[t + horizon]``. Metric: NRMSE.

    Parameters
    ----------
    n_train, n_test, warmup, data_seed
        As in :class:`NARMA10`.
    tau : float
        Delay of the system (17: mildly chaotic).
    horizon : int >= 1
    """

    name = "mackey_glass"
    esn_preset = "mackey_glass"
    _burn_in = 300

    def __init__(self, n_train=500, n_test=250, *, tau=17, horizon=1, warmup=100, data_seed=0):
        super().__init__(n_train, n_test, warmup=warmup, data_seed=data_seed)
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be a finite delay > 0, got {tau!r}")
        self.tau = tau
        self.horizon = _count(horizon, "horizon")

    def _params(self):
        return {**super()._params(), "tau": self.tau, "horizon": self.horizon}

    def _make_data(self):
        from reservoirpy.datasets import mackey_glass

        n = self.n_train + self.n_test
        seed = _count(self.data_seed, "data_seed", 0)
        x = mackey_glass(n + self.horizon + self._burn_in, tau=self.tau, seed=seed)[:, 0]
        x = x[self._burn_in:]
        return _sequence_data(x[:n, None], x[self.horizon:self.horizon + n], self.n_train,
                              self.warmup)


class Henon(_Prediction):
    """Henon map (a = 1.4, b = 0.3) one-step prediction of the x coordinate.

    ``x[t+1] = 1 - 1.4 x[t]**2 + 0.3 x[t-1]``: input ``x[t]``, target ``x[t + 1]`` (a
    quadratic of the present input plus the previous one). The orbit is reservoirpy's
    ``datasets.henon_map`` started at a point drawn from ``data_seed`` near the origin,
    after a 100-step burn-in. Metric: NRMSE.
    """

    name = "henon"
    esn_preset = "henon"
    _burn_in = 100

    def _make_data(self):
        from reservoirpy.datasets import henon_map

        from substrates._random import check_random_state

        n = self.n_train + self.n_test
        x0 = check_random_state(self.data_seed).uniform(-0.1, 0.1, 2)
        x = henon_map(n + 1 + self._burn_in, x0=x0)[self._burn_in:, 0]
        return _sequence_data(x[:n, None], x[1:n + 1], self.n_train, self.warmup)


# --------------------------------------------------------------------------- classification
class _Classification(Task):
    kind = "classification"
    metric = "accuracy"
    greater_is_better = True
    esn_preset = "classification"

    def _init(self, n_train, n_test, gap, data_seed):
        self.n_train = _count(n_train, "n_train", optional=True)
        self.n_test = _count(n_test, "n_test", optional=True)
        self.gap = _count(gap, "gap", 1)
        self.data_seed = data_seed

    def _params(self):
        return {"n_train": self.n_train, "n_test": self.n_test, "gap": self.gap,
                "data_seed": self.data_seed}

    def _layout(self, clips, labels, is_train):
        from substrates._random import check_random_state

        labels = np.asarray(labels)
        is_train = np.asarray(is_train, bool)
        keep = np.zeros(labels.size, bool)
        keep[is_train] = _cap_per_class(labels[is_train], self.n_train)
        keep[~is_train] = _cap_per_class(labels[~is_train], self.n_test)
        chosen = np.flatnonzero(keep)
        return _clip_data([clips[i] for i in chosen], labels[chosen], is_train[chosen], self.gap,
                          check_random_state(self.data_seed))


class JapaneseVowels(_Classification):
    """Speaker identification from the Japanese vowel /ae/ (UCI; 12 LPC cepstra per frame).

    ``subset=False``: the UCI split, 9 speakers, 270 training and 370 test utterances.
    ``subset=True``: the 8 speakers x 30 clips of the organoid study (Cai et al. 2023,
    :func:`readout._datasets.japanese_vowels_subset`), the first 20 clips of each speaker
    for training and the last 10 for test. On a pulse-mode substrate each of the 12
    coefficients drives one electrode with one pulse per frame in which it exceeds its
    training median (``mode="threshold"``), the encoding of that study; amplitude
    substrates get the coefficient as a current.

    Parameters
    ----------
    subset : bool
    n_train, n_test : int or None
        At most this many clips per speaker in each part (None: all). Small defaults keep
        tests fast; :meth:`full` uses all.
    gap : int
        Silent steps after each clip.
    data_seed : int
        Order of the clips within each part.
    """

    name = "japanese_vowels"
    n_inputs = 12
    pulse_mode = "threshold"

    def __init__(self, subset=False, *, n_train=6, n_test=4, gap=3, data_seed=0):
        self.subset = bool(subset)
        self._init(n_train, n_test, gap, data_seed)
        if self.subset:
            self.name = "japanese_vowels_subset"

    @classmethod
    def full(cls, subset=False, **kw):
        """Every clip of the split."""
        return cls(subset, **{"n_train": None, "n_test": None, **kw})

    def _params(self):
        return {"subset": self.subset, **super()._params()}

    def _make_data(self):
        from readout._datasets import japanese_vowels_subset, load_japanese_vowels

        if self.subset:
            clips, labels = japanese_vowels_subset(8, 30)
            rank = np.zeros(labels.size, np.int64)
            for s in np.unique(labels):
                idx = np.flatnonzero(labels == s)
                rank[idx] = np.arange(idx.size)
            is_train = rank < 20
        else:
            train, y_train = load_japanese_vowels("train")
            test, y_test = load_japanese_vowels("test")
            clips, labels = train + test, np.concatenate([y_train, y_test])
            is_train = np.arange(labels.size) < len(train)
        return self._layout(clips, labels, is_train)


class BasicMotions(_Classification):
    """BasicMotions: 4 activities from a watch's 3-axis accelerometer and gyroscope (6 inputs).

    40 training and 40 test cases of 100 frames (10 Hz); ``stride`` keeps every
    ``stride``-th frame. Metric: accuracy.

    Parameters
    ----------
    n_train, n_test : int or None
        Cases per class in each part (None: all 10).
    stride : int
    gap, data_seed
        As in :class:`JapaneseVowels`.
    """

    name = "basic_motions"
    n_inputs = 6

    def __init__(self, *, n_train=4, n_test=4, stride=4, gap=3, data_seed=0):
        self._init(n_train, n_test, gap, data_seed)
        self.stride = _count(stride, "stride")

    @classmethod
    def full(cls, **kw):
        """Every case, every frame."""
        return cls(**{"n_train": None, "n_test": None, "stride": 1, **kw})

    def _params(self):
        return {**super()._params(), "stride": self.stride}

    def _make_data(self):
        from readout._datasets import load_basic_motions

        x_train, y_train, _ = load_basic_motions("train")
        x_test, y_test, _ = load_basic_motions("test")
        x = np.concatenate([x_train, x_test])[:, ::self.stride]
        is_train = np.arange(x.shape[0]) < x_train.shape[0]
        return self._layout(list(x), np.concatenate([y_train, y_test]), is_train)


class SpokenDigits(_Classification):
    """Spoken digits 0-9 from 13 MFCCs per 10 ms frame (espeak-ng voices; 13 inputs).

    Each of 10 voices says each digit 3 times (3 pitch and speed settings). ``split``:
    ``"utterance"`` trains on the first 2 renditions of every (voice, digit) and tests on
    the third (speaker-dependent, as in the TI46 reservoir studies); ``"speaker"`` trains
    on voices 0-6 and tests on voices 7-9. ``stride`` keeps every ``stride``-th frame.

    Parameters
    ----------
    n_train, n_test : int or None
        Clips per digit in each part (None: all).
    split : {"utterance", "speaker"}
    stride : int
    gap, data_seed
        As in :class:`JapaneseVowels`.
    """

    name = "spoken_digits"
    n_inputs = 13
    _SPLITS = ("utterance", "speaker")

    def __init__(self, *, n_train=4, n_test=2, split="utterance", stride=2, gap=3, data_seed=0):
        self._init(n_train, n_test, gap, data_seed)
        if split not in self._SPLITS:
            raise ValueError(f"split must be one of {self._SPLITS}, got {split!r}")
        self.split = split
        self.stride = _count(stride, "stride")

    @classmethod
    def full(cls, **kw):
        """Every clip, every frame."""
        return cls(**{"n_train": None, "n_test": None, "stride": 1, **kw})

    def _params(self):
        return {**super()._params(), "split": self.split, "stride": self.stride}

    def _make_data(self):
        from readout._datasets import load_spoken_digits

        clips, labels, speakers, _ = load_spoken_digits()
        if self.split == "speaker":
            is_train = speakers < 7
        else:
            rendition = np.zeros(labels.size, np.int64)
            seen = {}
            for i, key in enumerate(zip(speakers.tolist(), labels.tolist())):
                rendition[i] = seen.get(key, 0)
                seen[key] = rendition[i] + 1
            is_train = rendition < 2
        return self._layout([c[::self.stride] for c in clips], labels, is_train)
