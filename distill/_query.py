"""Query design: which stimuli to send into a substrate to learn it, within a budget.

A student learns a substrate from (stimulus, recording) pairs, and a wet lab pays for each
in recorded seconds (a culture drifts, an organoid tires, a rig is booked by the hour).
This module makes the stimuli and keeps the account:

- :class:`QueryBudget` counts the recorded seconds spent and refuses a query past the
  budget; :meth:`QueryBudget.record` and :meth:`QueryBudget.record_repeats` run a substrate
  and charge it in one step.
- Generators return lists of :class:`~substrates.Stimulus` over ``n_channels``
  stimulation channels (``electrodes.n_stimulating``), each checked against the
  electrodes' safe limit with :meth:`Stimulus.check_safe`: :func:`white_noise_queries`,
  :func:`pink_noise_queries`, :func:`chirp_queries`, :func:`pulse_train_queries` (charge-
  balanced biphasic pulses) and :func:`task_queries` (a task's inputs through the
  substrate's own encoding).
- Active selection by query-by-committee (Seung, Opper & Sompolinsky 1992; for regression,
  Krogh & Vedelsby 1995 and RayChaudhuri & Hamey 1995): an ensemble of students, each fitted
  on a bootstrap resample of the trials recorded so far (:func:`fit_committee`), predicts
  the response to every candidate stimulus; the candidates on which the students disagree
  most (:func:`committee_disagreement`) are recorded next (:func:`select_active`,
  :func:`active_learning_loop`).

Disagreement
------------
For candidate ``c`` and students ``s = 1..S`` with predictions ``P[s, t, k]`` (bin ``t``,
channel ``k``), the disagreement is

``D_c = mean over k in K of [ mean_t Var_s(P[s, t, k]) / scale_k ]``

where ``Var_s`` is the population variance across students (``ddof=0``) and ``scale_k``
is the total variance of every prediction on channel ``k``, pooled over all candidates,
students and bins. Dividing by ``scale_k`` makes channels of different size (a busy
electrode, a quiet one) count alike; ``K`` is the set of channels with ``scale_k > 0``.
``D_c`` is dimensionless, 0 when all students agree, and invariant to rescaling a channel.

References
----------
Seung HS, Opper M, Sompolinsky H (1992). Query by committee. Proc. 5th COLT, 287-294.
Krogh A, Vedelsby J (1995). Neural network ensembles, cross validation, and active
learning. NIPS 7, 231-238.
RayChaudhuri T, Hamey LGC (1995). Minimisation of data collection by active learning.
Proc. IEEE ICNN, 1338-1341.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from distill._checks import count as _count
from distill._checks import positive as _positive
from distill._checks import real as _real
from substrates._random import check_random_state
from substrates._recording import Recording
from substrates._stimulus import Stimulus

__all__ = [
    "ActiveLearningResult", "QueryBudget", "active_learning_loop", "chirp_queries",
    "committee_disagreement", "fit_committee", "pink_noise_queries", "pulse_train_queries",
    "select_active", "task_queries", "white_noise_queries",
]

# a query counts as within budget if it overshoots by at most this relative amount: float
# round-off of sums of decimal durations (0.1 + 0.2 != 0.3), far below any real overshoot
_REL_TOL = 1e-9


# ----------------------------------------------------------------------------- checks



def _range(name, value, unit, *, minimum_open=0.0):
    """A (low, high) pair with minimum_open < low <= high, both finite."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) in {unit}, got {value!r}") from None
    low = _real(f"{name}[0]", low)
    high = _real(f"{name}[1]", high)
    if not (minimum_open < low <= high):
        raise ValueError(
            f"{name} must satisfy {minimum_open:g} < low <= high ({unit}), got ({low:g}, {high:g})"
        )
    return low, high


def _channel_pool(channels, n_channels):
    if channels is None:
        return np.arange(n_channels)
    pool = np.atleast_1d(np.asarray(channels))
    if pool.ndim != 1 or pool.size == 0 or pool.dtype.kind not in "iu":
        raise TypeError(f"channels must be None or a non-empty 1-D sequence of integers, "
                        f"got {channels!r}")
    pool = pool.astype(np.int64)
    if pool.min() < 0 or pool.max() >= n_channels:
        raise ValueError(f"channels must lie in [0, {n_channels - 1}] (n_channels = "
                         f"{n_channels}), got {pool.tolist()}")
    if np.unique(pool).size != pool.size:
        raise ValueError(f"channels must be distinct, got {pool.tolist()}")
    return pool


def _driven(pool, n_driven, rng):
    """The channels one query drives: all of ``pool``, or a random ``n_driven`` of them."""
    if n_driven is None:
        return pool
    return np.sort(rng.choice(pool, size=n_driven, replace=False))


def _check_driven(n_driven, pool):
    if n_driven is None:
        return None
    n_driven = _count("n_driven", n_driven)
    if n_driven > pool.size:
        raise ValueError(f"n_driven must be at most the {pool.size} channels to choose from, "
                         f"got {n_driven}")
    return n_driven


def _common(n_queries, n_channels, channels, n_driven, max_amplitude, random_state):
    n_queries = _count("n_queries", n_queries)
    n_channels = _count("n_channels", n_channels)
    pool = _channel_pool(channels, n_channels)
    n_driven = _check_driven(n_driven, pool)
    max_amplitude = _positive("max_amplitude", max_amplitude, "A or V")
    return n_queries, n_channels, pool, n_driven, max_amplitude, check_random_state(random_state)


def _clipped(stim, max_amplitude, clip):
    if clip:
        data = np.clip(stim.data, -max_amplitude, max_amplitude)
        stim = Stimulus(data, stim.dt, stim.unit)
    return stim.check_safe(max_amplitude)


def _as_data(prediction, name):
    data = prediction.data if isinstance(prediction, Recording) else prediction
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a Recording or an array of shape (n_bins, n_channels), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


# ----------------------------------------------------------------------------- budget
class QueryBudget:
    """Recorded seconds a study may spend on a substrate, and what it has spent.

    Parameters
    ----------
    seconds : float, s
        The budget (finite, > 0): total recorded time, summed over every query and repeat.

    Attributes
    ----------
    seconds : float, s
    spent : float, s
        Recorded time charged so far.
    remaining : float, s
        ``seconds - spent``.
    log : list of (str, float)
        Each charge: its label and its seconds, in order.

    Examples
    --------
    >>> budget = QueryBudget(2.0)
    >>> budget.charge(1.5, label="white noise")
    >>> budget.remaining
    0.5
    >>> budget.can_afford(1.0)
    False
    >>> budget.charge(1.0)
    Traceback (most recent call last):
    ...
    ValueError: query of 1 s exceeds the budget: 1.5 s of 2 s spent, 0.5 s left
    """

    def __init__(self, seconds):
        self.seconds = _positive("seconds", seconds)
        self.spent = 0.0
        self.log = []

    @property
    def remaining(self) -> float:
        """Seconds left, s."""
        return self.seconds - self.spent

    def __repr__(self):
        return f"QueryBudget(seconds={self.seconds:g}, spent={self.spent:g})"

    def can_afford(self, seconds) -> bool:
        """Whether ``seconds`` (s, >= 0) more of recording fit in the budget."""
        seconds = _real("seconds", seconds)
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (s), got {seconds}")
        return self.spent + seconds <= self.seconds * (1 + _REL_TOL)

    def charge(self, seconds, label=None) -> None:
        """Spend ``seconds`` of recording.

        Parameters
        ----------
        seconds : float, s
            Recorded time (>= 0).
        label : str, optional
            Stored in :attr:`log`.

        Raises
        ------
        ValueError
            If it would take the total past the budget (nothing is charged then).
        """
        if not self.can_afford(seconds):
            raise ValueError(
                f"query of {float(seconds):g} s exceeds the budget: {self.spent:g} s of "
                f"{self.seconds:g} s spent, {self.remaining:g} s left"
            )
        self.spent += float(seconds)
        self.log.append((str(label) if label is not None else "", float(seconds)))

    def record(self, substrate, stimulus, *, seed=None, label=None, **run_kwargs) -> Recording:
        """Charge ``stimulus.duration`` (or ``run_kwargs["duration"]``) and run the substrate.

        The budget is checked before anything runs.

        Parameters
        ----------
        substrate : Substrate
            Anything with ``reset(seed)`` and ``run(stimulus, ...)``.
        stimulus : Stimulus of shape (n_samples, electrodes.n_stimulating)
        seed : int, Generator, SeedSequence or None
            If given, ``substrate.reset(seed)`` first (a fresh, reproducible trial); None
            continues from the substrate's current state.
        label : str, optional
        **run_kwargs
            Passed to ``substrate.run`` (``record_hidden=True``, ``duration=...``).

        Returns
        -------
        Recording
        """
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        duration = run_kwargs.get("duration")
        seconds = stimulus.duration if duration is None else _positive("duration", duration)
        self.charge(seconds, label)
        if seed is not None:
            substrate.reset(seed)
        return substrate.run(stimulus, **run_kwargs)

    def record_repeats(self, substrate, stimulus, n_repeats, *, random_state=None, label=None,
                       **run_kwargs) -> list:
        """Record the same stimulus ``n_repeats`` times, each from a fresh reset.

        Each repeat calls ``substrate.reset(seed)`` with its own seed drawn from
        ``random_state`` (new initial state, background drive and electrode noise), so the
        repeats differ only by the substrate's noise: what :func:`distill.noise_ceiling`
        needs. All ``n_repeats * duration`` seconds are checked against the budget first.

        Parameters
        ----------
        substrate : Substrate
        stimulus : Stimulus
        n_repeats : int >= 1
        random_state : int, Generator, SeedSequence or None
            Draws the per-repeat seeds.
        label : str, optional
        **run_kwargs
            Passed to ``substrate.run``.

        Returns
        -------
        list of Recording, length ``n_repeats``
        """
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        n_repeats = _count("n_repeats", n_repeats)
        duration = run_kwargs.get("duration")
        seconds = stimulus.duration if duration is None else _positive("duration", duration)
        if not self.can_afford(n_repeats * seconds):
            raise ValueError(
                f"{n_repeats} repeats of {seconds:g} s ({n_repeats * seconds:g} s) exceed the "
                f"budget: {self.spent:g} s of {self.seconds:g} s spent, {self.remaining:g} s left"
            )
        rng = check_random_state(random_state)
        seeds = rng.integers(0, 2**63, size=n_repeats)
        out = []
        for seed in seeds:
            out.append(self.record(substrate, stimulus, seed=int(seed), label=label, **run_kwargs))
        return out


# ----------------------------------------------------------------------------- generators
def white_noise_queries(n_queries, duration, dt, *, n_channels, rms, max_amplitude,
                        channels=None, n_driven=None, bandwidth=None, clip=True, unit="A",
                        random_state=None) -> list:
    """Gaussian white (or band-limited) noise stimuli.

    Each query draws independent noise on the channels it drives (all of ``channels``, or
    a random ``n_driven`` of them, drawn anew per query); the other channels stay zero.
    Gaussian noise has no bound, so samples beyond ``max_amplitude`` are clipped to it
    (``clip=True``; with ``rms = max_amplitude / 3`` about 0.27 % of samples are) and every
    stimulus is then checked with :meth:`Stimulus.check_safe`.

    Parameters
    ----------
    n_queries : int >= 1
    duration : float, s
        Length of each query, a whole number of ``dt``.
    dt : float, s
    n_channels : int
        Stimulation channels of the substrate (``electrodes.n_stimulating``).
    rms : float, A or V
        Standard deviation of the noise (before clipping).
    max_amplitude : float, A or V
        The electrodes' safe limit (> 0).
    channels : None or sequence of int
        Channels that may be driven (None: all).
    n_driven : int, optional
        Channels driven per query, drawn at random from ``channels``; None: all of them.
    bandwidth : float, Hz, optional
        Low-pass cutoff (see :meth:`Stimulus.white_noise`).
    clip : bool
        Clip at ``+-max_amplitude``; False refuses (ValueError) a stimulus that exceeds it.
    unit : {"A", "V"}
    random_state : int, Generator, SeedSequence or None

    Returns
    -------
    list of Stimulus, each of shape (duration / dt, n_channels)

    Examples
    --------
    >>> qs = white_noise_queries(3, 0.1, 1e-3, n_channels=4, rms=1e-6, max_amplitude=3e-6,
    ...                          n_driven=2, random_state=0)
    >>> len(qs), qs[0].data.shape, int((qs[0].rms > 0).sum())
    (3, (100, 4), 2)
    """
    n_queries, n_channels, pool, n_driven, max_amplitude, rng = _common(
        n_queries, n_channels, channels, n_driven, max_amplitude, random_state)
    out = []
    for _ in range(n_queries):
        driven = _driven(pool, n_driven, rng)
        stim = Stimulus.white_noise(n_channels, duration, dt, rms=rms, bandwidth=bandwidth,
                                    channels=driven, unit=unit, random_state=rng)
        out.append(_clipped(stim, max_amplitude, clip))
    return out


def pink_noise_queries(n_queries, duration, dt, *, n_channels, rms, max_amplitude,
                       exponent=1.0, f_min=None, channels=None, n_driven=None, clip=True,
                       unit="A", random_state=None) -> list:
    """``1 / f**exponent`` noise stimuli (see :meth:`Stimulus.pink_noise`).

    Parameters as in :func:`white_noise_queries`, plus ``exponent`` (0 white, 1 pink,
    2 brown) and ``f_min`` (Hz, the spectrum is flat below it).

    Returns
    -------
    list of Stimulus, each of shape (duration / dt, n_channels)

    Examples
    --------
    >>> qs = pink_noise_queries(2, 0.5, 1e-3, n_channels=2, rms=1e-6, max_amplitude=4e-6,
    ...                         random_state=0)
    >>> bool(max(abs(q.data).max() for q in qs) <= 4e-6)
    True
    """
    n_queries, n_channels, pool, n_driven, max_amplitude, rng = _common(
        n_queries, n_channels, channels, n_driven, max_amplitude, random_state)
    out = []
    for _ in range(n_queries):
        driven = _driven(pool, n_driven, rng)
        stim = Stimulus.pink_noise(n_channels, duration, dt, rms=rms, exponent=exponent,
                                   f_min=f_min, channels=driven, unit=unit, random_state=rng)
        out.append(_clipped(stim, max_amplitude, clip))
    return out


def chirp_queries(n_queries, duration, dt, *, n_channels, amplitude, f_range, max_amplitude,
                  method="logarithmic", channels=None, n_driven=None, unit="A",
                  random_state=None) -> list:
    """Frequency sweeps across ``f_range``, up or down, with random phases.

    Each query sweeps from ``f_range[0]`` to ``f_range[1]`` or back (direction drawn per
    query, so half the queries on average go down), each driven channel with its own
    uniformly drawn starting phase.

    Parameters
    ----------
    n_queries : int >= 1
    duration, dt : float, s
    n_channels : int
    amplitude : float, A or V
        Peak value (>= 0, at most ``max_amplitude``).
    f_range : (float, float), Hz
        Lowest and highest frequency, ``0 < low <= high < 1 / (2 dt)``.
    max_amplitude : float, A or V
    method : {"logarithmic", "linear"}
    channels, n_driven, unit, random_state
        As in :func:`white_noise_queries`.

    Returns
    -------
    list of Stimulus, each of shape (duration / dt, n_channels)

    Examples
    --------
    >>> qs = chirp_queries(2, 1.0, 1e-3, n_channels=2, amplitude=1e-6, f_range=(1.0, 50.0),
    ...                    max_amplitude=2e-6, random_state=0)
    >>> len(qs), qs[0].data.shape, bool(max(abs(q.data).max() for q in qs) <= 1e-6)
    (2, (1000, 2), True)
    """
    n_queries, n_channels, pool, n_driven, max_amplitude, rng = _common(
        n_queries, n_channels, channels, n_driven, max_amplitude, random_state)
    amplitude = _real("amplitude", amplitude)
    if amplitude < 0:
        raise ValueError(f"amplitude must be >= 0 (A or V), got {amplitude}")
    low, high = _range("f_range", f_range, "Hz")
    out = []
    for _ in range(n_queries):
        driven = _driven(pool, n_driven, rng)
        f0, f1 = (low, high) if rng.random() < 0.5 else (high, low)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=driven.size)
        stim = None
        for channel, phase in zip(driven, phases):
            one = Stimulus.chirp(n_channels, duration, dt, amplitude=amplitude, f0=f0, f1=f1,
                                 method=method, phase=float(phase), channels=[int(channel)],
                                 unit=unit)
            stim = one if stim is None else stim + one
        out.append(_clipped(stim, max_amplitude, False))
    return out


def pulse_train_queries(n_queries, duration, dt, *, n_channels, amplitude, rate_range,
                        max_amplitude, phase_width=200e-6, channels=None, n_driven=None,
                        unit="A", random_state=None) -> list:
    """Charge-balanced biphasic pulse trains at random rates and phases.

    Every driven channel of a query gets a regular train of cathodic-first biphasic pulses
    (:meth:`Stimulus.biphasic`, each phase ``amplitude`` and ``phase_width``), at a rate
    drawn log-uniformly in ``rate_range`` and starting at a time drawn uniformly in the
    first period: channels are not locked to each other, and the ensemble covers the
    rates evenly per octave.

    Parameters
    ----------
    n_queries : int >= 1
    duration, dt : float, s
    n_channels : int
    amplitude : float, A or V
        Phase magnitude (>= 0, at most ``max_amplitude``).
    rate_range : (float, float), Hz
        ``0 < low <= high``; a pulse (two phases) must fit in ``1 / high``.
    max_amplitude : float, A or V
    phase_width : float, s
    channels, n_driven, unit, random_state
        As in :func:`white_noise_queries`.

    Returns
    -------
    list of Stimulus, each of shape (duration / dt, n_channels), zero net charge per channel

    Examples
    --------
    >>> import numpy as np
    >>> qs = pulse_train_queries(2, 0.5, 1e-4, n_channels=3, amplitude=5e-6,
    ...                          rate_range=(5.0, 40.0), max_amplitude=10e-6, random_state=0)
    >>> bool(np.all(np.abs(np.concatenate([q.charge for q in qs])) < 1e-18))
    True
    """
    n_queries, n_channels, pool, n_driven, max_amplitude, rng = _common(
        n_queries, n_channels, channels, n_driven, max_amplitude, random_state)
    low, high = _range("rate_range", rate_range, "Hz")
    duration = _positive("duration", duration)
    out = []
    for _ in range(n_queries):
        driven = _driven(pool, n_driven, rng)
        rates = np.exp(rng.uniform(math.log(low), math.log(high), size=driven.size))
        starts = rng.uniform(0.0, 1.0, size=driven.size) / rates
        stim = None
        for channel, rate, start in zip(driven, rates, starts):
            start = min(float(start), duration * (1 - 1e-6) - dt)  # within [0, duration)
            one = Stimulus.biphasic(n_channels, duration, dt, rate=float(rate),
                                    amplitude=amplitude, phase_width=phase_width,
                                    start=max(start, 0.0), channels=[int(channel)], unit=unit)
            stim = one if stim is None else stim + one
        out.append(_clipped(stim, max_amplitude, False))
    return out


def task_queries(task_inputs, *, encoding, dt, n_channels, max_amplitude, channel_map=None,
                 random_state=None) -> list:
    """A task's input sequences turned into stimuli with the substrate's own encoding.

    Parameters
    ----------
    task_inputs : array_like of shape (n_steps,) or (n_steps, n_features), or a list of them
        One array: one query; a list or tuple: one query per entry.
    encoding : dict
        ``substrate.encoding``: ``hold`` (s) and the keyword arguments of
        :meth:`Stimulus.encode` (``mode``, ``amplitude``, ``unit``, ...).
    dt : float, s
        Time step of the stimuli.
    n_channels : int
        Stimulation channels (``electrodes.n_stimulating``).
    max_amplitude : float, A or V
    channel_map : sequence of int, optional
        Channel of each feature (default ``0 .. n_features - 1``).
    random_state : int, Generator, SeedSequence or None
        Draws pulse jitter when the encoding has any.

    Returns
    -------
    list of Stimulus, each of shape (n_steps * hold / dt, n_channels)

    Examples
    --------
    >>> import numpy as np
    >>> enc = {"hold": 20e-3, "mode": "rate", "amplitude": 20e-6, "max_rate": 200.0,
    ...        "pulse_width": 200e-6, "unit": "A"}
    >>> x = np.random.default_rng(0).random((10, 2))
    >>> qs = task_queries(x, encoding=enc, dt=1e-4, n_channels=60, max_amplitude=25e-6)
    >>> qs[0].data.shape
    (2000, 60)
    """
    if not isinstance(encoding, dict) or "hold" not in encoding:
        raise TypeError("encoding must be a dict with 'hold' (s) and Stimulus.encode keywords "
                        f"(substrate.encoding), got {encoding!r}")
    n_channels = _count("n_channels", n_channels)
    max_amplitude = _positive("max_amplitude", max_amplitude, "A or V")
    rng = check_random_state(random_state)
    inputs = list(task_inputs) if isinstance(task_inputs, (list, tuple)) else [task_inputs]
    if not inputs:
        raise ValueError("task_inputs must hold at least one input sequence")
    kwargs = dict(encoding)
    hold = kwargs.pop("hold")
    out = []
    for x in inputs:
        stim = Stimulus.encode(x, hold=hold, dt=dt, n_channels=n_channels,
                               channel_map=channel_map, random_state=rng, **kwargs)
        out.append(stim.check_safe(max_amplitude))
    return out


# ----------------------------------------------------------------------------- active selection
def committee_disagreement(candidates, students) -> np.ndarray:
    """How much an ensemble of fitted students disagrees on each candidate stimulus.

    See the module docstring for the formula: per channel, the across-student variance
    of the predictions averaged over bins, divided by the channel's total prediction
    variance over all candidates, averaged over channels.

    Parameters
    ----------
    candidates : sequence of Stimulus
    students : sequence of fitted objects with ``predict(stimulus)``
        At least two. ``predict`` returns a Recording or an array of shape
        (n_bins, n_channels); all students give one shape per candidate.

    Returns
    -------
    ndarray of shape (n_candidates,), >= 0, dimensionless

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Stimulus
    >>> class Gain:
    ...     def __init__(self, g): self.g = g
    ...     def predict(self, s): return self.g * s.data
    >>> cands = [Stimulus(np.full((10, 1), a), 1e-3) for a in (1.0, 2.0)]
    >>> committee_disagreement(cands, [Gain(1.0), Gain(3.0)]).round(3).tolist()
    [0.286, 1.143]
    """
    candidates = list(candidates)
    students = list(students)
    if len(candidates) == 0:
        raise ValueError("candidates must hold at least one Stimulus")
    if len(students) < 2:
        raise ValueError(f"students must hold at least 2 fitted students to disagree, "
                         f"got {len(students)}")
    per_candidate = []  # per candidate: mean over bins of the across-student variance
    count, mean, m2 = 0, None, None  # pooled moments per channel (Chan et al. 1979 merge)
    for i, stim in enumerate(candidates):
        if not isinstance(stim, Stimulus):
            raise TypeError(f"candidates[{i}] must be a Stimulus, got {type(stim).__name__}")
        preds = [_as_data(s.predict(stim), f"student {j}'s prediction of candidate {i}")
                 for j, s in enumerate(students)]
        shapes = {p.shape for p in preds}
        if len(shapes) != 1:
            raise ValueError(f"the students' predictions of candidate {i} differ in shape: "
                             f"{sorted(shapes)}")
        stack = np.stack(preds)  # (S, T, C)
        if mean is not None and stack.shape[2] != mean.size:
            raise ValueError(f"candidate {i}'s predictions have {stack.shape[2]} channels, "
                             f"candidate 0's {mean.size}")
        per_candidate.append(stack.var(axis=0).mean(axis=0))
        flat = stack.reshape(-1, stack.shape[2])
        n_b, mean_b = flat.shape[0], flat.mean(axis=0)
        m2_b = ((flat - mean_b) ** 2).sum(axis=0)
        if mean is None:
            count, mean, m2 = n_b, mean_b, m2_b
        else:
            total = count + n_b
            delta = mean_b - mean
            m2 = m2 + m2_b + delta**2 * count * n_b / total
            mean = mean + delta * n_b / total
            count = total
    scale = m2 / count
    # a channel every student predicts as one constant has no scale: its variance is zero
    # up to the round-off of the mean (relative 1e-12 is far above it, far below any signal)
    ok = scale > (1e-12 * np.abs(mean)) ** 2
    if not np.any(ok):
        return np.zeros(len(candidates))
    return np.array([float(np.mean(v[ok] / scale[ok])) for v in per_candidate])


def select_active(candidates, students, n_select, *, random_state=None) -> np.ndarray:
    """Indices of the ``n_select`` candidates the students disagree on most.

    Parameters
    ----------
    candidates : sequence of Stimulus
    students : sequence of fitted objects with ``predict`` (at least two)
    n_select : int, 1 .. len(candidates)
    random_state : int, Generator, SeedSequence or None
        Breaks ties (equal disagreement) at random.

    Returns
    -------
    int ndarray of shape (n_select,), most disputed first

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Stimulus
    >>> class Gain:
    ...     def __init__(self, g): self.g = g
    ...     def predict(self, s): return self.g * s.data
    >>> cands = [Stimulus(np.full((10, 1), a), 1e-3) for a in (1.0, 3.0, 2.0)]
    >>> select_active(cands, [Gain(1.0), Gain(2.0)], 2).tolist()
    [1, 2]
    """
    candidates = list(candidates)
    n_select = _count("n_select", n_select)
    if n_select > len(candidates):
        raise ValueError(f"n_select must be at most the {len(candidates)} candidates, "
                         f"got {n_select}")
    scores = committee_disagreement(candidates, students)
    rng = check_random_state(random_state)
    order = np.lexsort((rng.random(scores.size), -scores))
    return order[:n_select].astype(np.int64)


def fit_committee(make_student, stimuli, recordings, n_members, *, bootstrap=True,
                  random_state=None) -> list:
    """An ensemble of students, each fitted on a bootstrap resample of the trials.

    Parameters
    ----------
    make_student : callable(seed: int) -> unfitted student
        The student has ``fit(list of Stimulus, list of Recording)``; the seed lets a
        stochastic student (a random reservoir) differ between members.
    stimuli : list of Stimulus
        The trials recorded so far.
    recordings : list of Recording
        The teacher's response to each.
    n_members : int >= 2
    bootstrap : bool
        Fit each member on ``len(stimuli)`` trials drawn with replacement (the bagging of
        Breiman 1996, as in Krogh & Vedelsby 1995); False fits every member on all trials
        (members then differ only through their seeds).
    random_state : int, Generator, SeedSequence or None

    Returns
    -------
    list of fitted students, length ``n_members``
    """
    if not callable(make_student):
        raise TypeError("make_student must be a callable seed -> unfitted student")
    stimuli = list(stimuli)
    recordings = list(recordings)
    if len(stimuli) == 0 or len(stimuli) != len(recordings):
        raise ValueError(f"stimuli and recordings must be non-empty lists of one length, got "
                         f"{len(stimuli)} and {len(recordings)}")
    n_members = _count("n_members", n_members, minimum=2)
    rng = check_random_state(random_state)
    members = []
    for _ in range(n_members):
        seed = int(rng.integers(0, 2**31 - 1))
        if bootstrap:
            pick = rng.integers(0, len(stimuli), size=len(stimuli))
        else:
            pick = np.arange(len(stimuli))
        student = make_student(seed)
        student.fit([stimuli[i] for i in pick], [recordings[i] for i in pick])
        members.append(student)
    return members


@dataclass
class ActiveLearningResult:
    """What :func:`active_learning_loop` recorded.

    Attributes
    ----------
    stimuli : list of Stimulus
        Recorded queries, in order.
    recordings : list of Recording
        The substrate's response to each.
    selected : list of int
        Index in ``candidates`` of each recorded query.
    disagreement : list of ndarray
        Per round, the disagreement of every candidate still unrecorded then (NaN for
        those already recorded), shape (n_candidates,).
    spent : float, s
        Recorded seconds used.
    """

    stimuli: list = field(default_factory=list)
    recordings: list = field(default_factory=list)
    selected: list = field(default_factory=list)
    disagreement: list = field(default_factory=list)
    spent: float = 0.0


def active_learning_loop(substrate, make_student, candidates, budget, *, n_members=4,
                         n_initial=1, n_per_round=1, bootstrap=True, random_state=None,
                         **run_kwargs) -> ActiveLearningResult:
    """Query-by-committee: record the candidates the students disagree on, until the budget ends.

    1. Record ``n_initial`` candidates drawn at random.
    2. Fit a committee (:func:`fit_committee`) on everything recorded so far, score every
       unrecorded candidate (:func:`committee_disagreement`) and record the
       ``n_per_round`` most disputed that still fit in the budget.
    3. Repeat until no unrecorded candidate fits in the remaining budget.

    Every trial starts from ``substrate.reset(seed)`` with its own seed drawn from
    ``random_state``, so trials are independent and the loop is reproducible.

    Parameters
    ----------
    substrate : Substrate
    make_student : callable(seed: int) -> unfitted student
    candidates : sequence of Stimulus
        The pool to choose from (e.g. from the generators of this module).
    budget : QueryBudget
        Charged for every recording; the loop never overspends it.
    n_members : int >= 2
    n_initial, n_per_round : int >= 1
    bootstrap : bool
        See :func:`fit_committee`.
    random_state : int, Generator, SeedSequence or None
    **run_kwargs
        Passed to ``substrate.run``.

    Returns
    -------
    ActiveLearningResult
    """
    if not isinstance(budget, QueryBudget):
        raise TypeError(f"budget must be a QueryBudget, got {type(budget).__name__}")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("candidates must hold at least one Stimulus")
    for i, c in enumerate(candidates):
        if not isinstance(c, Stimulus):
            raise TypeError(f"candidates[{i}] must be a Stimulus, got {type(c).__name__}")
    n_initial = _count("n_initial", n_initial)
    n_per_round = _count("n_per_round", n_per_round)
    n_members = _count("n_members", n_members, minimum=2)
    rng = check_random_state(random_state)
    start = budget.spent
    result = ActiveLearningResult()
    remaining = list(range(len(candidates)))

    def take(index):
        stim = candidates[index]
        rec = budget.record(substrate, stim, seed=int(rng.integers(0, 2**63)),
                            label=f"candidate {index}", **run_kwargs)
        result.stimuli.append(stim)
        result.recordings.append(rec)
        result.selected.append(int(index))
        remaining.remove(index)

    for index in rng.permutation(len(candidates)):
        if len(result.selected) >= n_initial:
            break
        if budget.can_afford(candidates[index].duration):
            take(int(index))
    while result.selected:
        affordable = [i for i in remaining if budget.can_afford(candidates[i].duration)]
        if not affordable:
            break
        committee = fit_committee(make_student, result.stimuli, result.recordings, n_members,
                                  bootstrap=bootstrap, random_state=rng)
        scores = committee_disagreement([candidates[i] for i in affordable], committee)
        row = np.full(len(candidates), np.nan)
        row[affordable] = scores
        result.disagreement.append(row)
        order = np.lexsort((rng.random(scores.size), -scores))
        taken = 0
        for j in order:
            if taken == n_per_round:
                break
            if budget.can_afford(candidates[affordable[j]].duration):
                take(affordable[j])
                taken += 1
    result.spent = budget.spent - start
    return result
