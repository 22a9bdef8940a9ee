"""Stimulus: what a wet lab sends into stimulation electrodes.

A :class:`Stimulus` is a sampled waveform, one column per stimulation channel, with its
time step and its unit: amperes for a current-controlled stimulator, volts for a
voltage-controlled one. Sample ``i`` holds the value applied on ``[i dt, (i + 1) dt)``
(zero-order hold), which is how stimulator hardware and every substrate in this package
read it. Objects are immutable: every operation returns a new stimulus.

Sign convention: current flows from the electrode into the tissue, so a cathodic phase is
a negative current (it depolarises nearby membranes) and an anodic phase a positive one.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from substrates._random import check_random_state

__all__ = ["Stimulus"]

_UNITS = ("A", "V")
# two time steps (or a duration and a time step) count as commensurate when their ratio is
# within this relative distance of a whole number: far above float round-off of decimal
# inputs such as 0.05 / 1e-4, far below any ratio a user would mean
_REL_TOL = 1e-9
# Butterworth order of the white-noise low-pass (applied forward and backward)
_BUTTER_ORDER = 4
# times are rounded to the sample grid with halves going up; this allowance (in samples)
# keeps decimal round-off (150e-6 / 1e-4 = 1.4999999999999998) from flipping a half down
_HALF_UP = 0.5 + 1e-6
# the typical MEA phase width, used when encode is given no pulse_width
_DEFAULT_PHASE_WIDTH = 200e-6


# --------------------------------------------------------------------------- validation
def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _finite(value, name: str) -> float:
    value = _real(value, name)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive(value, name: str, unit: str = "s") -> float:
    value = _real(value, name)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0 ({unit}), got {value}")
    return value


def _nonnegative(value, name: str, unit: str) -> float:
    value = _real(value, name)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0 ({unit}), got {value}")
    return value


def _count(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _unit(unit) -> str:
    if not isinstance(unit, str) or unit not in _UNITS:
        raise ValueError(
            f"unit must be 'A' (current-controlled) or 'V' (voltage-controlled), got {unit!r}"
        )
    return unit


def _whole_steps(time: float, dt: float, name: str) -> int:
    """``time / dt`` as an int, refusing times that are not a whole number of steps."""
    ratio = time / dt
    steps = round(ratio)
    if steps < 1 or abs(ratio - steps) > _REL_TOL * ratio:
        lower, upper = max(math.floor(ratio), 1), max(math.ceil(ratio), 1)
        raise ValueError(
            f"{name} must be a whole number (>= 1) of time steps dt = {dt:g} s; "
            f"{time:g} s / {dt:g} s = {ratio:.6g} steps (try {lower * dt:g} s or {upper * dt:g} s)"
        )
    return steps


def _rounded_samples(time: float, dt: float) -> int:
    """A time rounded to the nearest whole number of samples (halves round up)."""
    return math.floor(time / dt + _HALF_UP)


def _real_array(values, name: str, kinds: str = "iuf") -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return np.asarray(array, dtype=np.float64)


def _first_nonfinite(array: np.ndarray, name: str, row: str, column: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} must be finite (no NaN or inf); {row} {i}, {column} {j} is {array[i, j]}"
        )


def _channel_list(channels, n_channels: int) -> np.ndarray:
    """Validated, distinct channel indices; None means every channel."""
    if channels is None:
        return np.arange(n_channels)
    raw = np.atleast_1d(np.asarray(channels))
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "iu"):
        raise TypeError(
            f"channels must be None, an integer or a 1-D sequence of integers, got {channels!r}"
        )
    index = raw.astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= n_channels):
        raise ValueError(
            f"channels must lie between 0 and {n_channels - 1} (n_channels = {n_channels}), "
            f"got {index.tolist()}"
        )
    if np.unique(index).size != index.size:
        raise ValueError(f"channels must be distinct, got {index.tolist()}")
    return index


def _check_start(start: float, n_samples: int, dt: float) -> None:
    if start >= n_samples * dt:
        raise ValueError(
            f"start must be in [0, duration) = [0, {n_samples * dt:g}) s, got {start:g}"
        )


def _place_pulses(data: np.ndarray, onsets, columns, template: np.ndarray) -> None:
    """Write ``template`` at each ``(onset, column)`` pair (pulses never overlap)."""
    onsets = np.asarray(onsets, dtype=np.int64).ravel()
    columns = np.asarray(columns, dtype=np.int64).ravel()
    if onsets.size:
        rows = onsets[:, None] + np.arange(template.size)
        data[rows, columns[:, None]] = template


def _biphasic_template(amplitude: float, phase_samples: int, gap_samples: int,
                       cathodic_first: bool) -> np.ndarray:
    first = -amplitude if cathodic_first else amplitude
    return np.concatenate(
        [np.full(phase_samples, first), np.zeros(gap_samples), np.full(phase_samples, -first)]
    )


def _train_onsets(n_samples: int, dt: float, rate: float, start: float, length: int,
                  jitter: float, n_trains: int, rng) -> np.ndarray:
    """Onset samples, shape (n_trains, n_pulses), of a regular train of ``length``-sample pulses.

    Nominal onsets are ``start + k / rate`` rounded to the sample grid, for every ``k`` whose
    whole pulse fits before the end. Each onset is then delayed by a whole number of samples
    drawn uniformly from ``0 .. round(jitter / dt)`` (independently per train and pulse); the
    last pulse is held back from running past the end.
    """
    period = 1.0 / (rate * dt)  # samples between nominal onsets (not necessarily whole)
    spacing = math.floor(period + _REL_TOL * period)  # fewest samples between rounded onsets
    if length > spacing:
        raise ValueError(
            f"rate is too high: each pulse lasts {length} samples ({length * dt:g} s) but the "
            f"period 1/rate is {1.0 / rate:g} s ({spacing} whole samples); lower rate or "
            "shorten the pulse"
        )
    delay = _rounded_samples(jitter, dt)
    if delay > spacing - length:
        raise ValueError(
            "jitter must be at most 1/rate minus the pulse duration, "
            f"{(spacing - length) * dt:g} s, so that delayed pulses never overlap, got {jitter:g} s"
        )
    first = start / dt
    k = np.arange(math.floor(max(n_samples - first, 0.0) / period) + 2)
    nominal = np.floor(first + k * period + _HALF_UP).astype(np.int64)
    nominal = nominal[nominal + length <= n_samples]
    onsets = np.broadcast_to(nominal, (n_trains, nominal.size))
    if delay > 0 and nominal.size:
        shifted = onsets + rng.integers(0, delay + 1, size=onsets.shape)
        onsets = np.minimum(shifted, n_samples - length)
    return onsets


# --------------------------------------------------------------------------- the class
class Stimulus:
    """A stimulation waveform: samples x stimulation channels, its time step and unit.

    Parameters
    ----------
    data : array_like of shape (n_samples, n_channels)
        Stimulation values, in ``unit``; converted to float64 and stored as a read-only
        copy. Sample ``i`` is applied on ``[i dt, (i + 1) dt)``. Must be finite. A single
        channel must still be 2-D: ``x.reshape(-1, 1)``.
    dt : float, s
        Time step (finite, > 0).
    unit : {"A", "V"}
        "A" for a current-controlled stimulator, "V" for a voltage-controlled one.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_channels), read-only
    dt : float, s
    unit : str

    See Also
    --------
    Stimulus.biphasic, Stimulus.pulse_train, Stimulus.white_noise, Stimulus.pink_noise,
    Stimulus.chirp, Stimulus.encode : generators.

    Notes
    -----
    Current flows from the electrode into the tissue: a cathodic (depolarising) phase is
    negative. Substrates map a stimulus onto their own time step with :meth:`resample`.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Stimulus
    >>> stim = Stimulus.biphasic(4, 0.1, 1e-4, rate=20.0, amplitude=2e-6,
    ...                          phase_width=200e-6, channels=[1])
    >>> stim.data.shape, stim.unit
    ((1000, 4), 'A')
    >>> bool(np.all(np.abs(stim.charge) < 1e-20))  # charge balanced on every channel
    True
    >>> (stim + stim.scale(0.5)).data.max()
    np.float64(3e-06)
    """

    __slots__ = ("_data", "_dt", "_unit")

    def __init__(self, data, dt, unit: str = "A"):
        array = _real_array(data, "data")
        if array.ndim == 1:
            raise ValueError(
                f"data must be 2-D (n_samples, n_channels), got a 1-D array of {array.size} "
                "samples; for one channel use data.reshape(-1, 1)"
            )
        if array.ndim != 2:
            raise ValueError(f"data must be 2-D (n_samples, n_channels), got shape {array.shape}")
        if array.shape[0] < 1:
            raise ValueError(f"data must have at least one sample (row), got shape {array.shape}")
        _first_nonfinite(array, "data", "sample", "channel")
        self._dt = _positive(dt, "dt")
        self._unit = _unit(unit)
        stored = np.array(array, dtype=np.float64, order="C", copy=True)
        stored.flags.writeable = False
        self._data = stored

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> np.ndarray:
        """Samples, array of shape (n_samples, n_channels), in ``unit`` (read-only)."""
        return self._data

    @property
    def dt(self) -> float:
        """Time step, s."""
        return self._dt

    @property
    def unit(self) -> str:
        """"A" (current-controlled) or "V" (voltage-controlled)."""
        return self._unit

    @property
    def n_samples(self) -> int:
        """Number of time steps."""
        return self._data.shape[0]

    @property
    def n_channels(self) -> int:
        """Number of stimulation channels."""
        return self._data.shape[1]

    @property
    def sampling_rate(self) -> float:
        """Samples per second, Hz (``1 / dt``)."""
        return 1.0 / self._dt

    @property
    def duration(self) -> float:
        """Length in time, s (``n_samples * dt``)."""
        return self.n_samples * self._dt

    @property
    def times(self) -> np.ndarray:
        """Start time of each sample, array of shape (n_samples,), s (``arange * dt``)."""
        return np.arange(self.n_samples) * self._dt

    @property
    def charge(self) -> np.ndarray:
        """Time integral of each channel, array of shape (n_channels,).

        Coulombs for a current stimulus (unit "A"), volt-seconds for a voltage one.
        """
        return self._data.sum(axis=0) * self._dt

    @property
    def rms(self) -> np.ndarray:
        """Root mean square of each channel about zero, shape (n_channels,), in ``unit``."""
        return np.sqrt(np.mean(self._data**2, axis=0))

    def __reduce__(self):
        # pickles (Dask, multiprocessing) rebuild through __init__: validated, read-only
        return (type(self), (self._data, self._dt, self._unit))

    def __repr__(self) -> str:
        return (
            f"Stimulus(n_samples={self.n_samples}, n_channels={self.n_channels}, "
            f"dt={self._dt:g} s, duration={self.duration:g} s, unit={self._unit!r})"
        )

    # ------------------------------------------------------------------ operations
    def _check_compatible(self, other: Stimulus, operation: str) -> None:
        if not math.isclose(self._dt, other._dt, rel_tol=_REL_TOL):
            raise ValueError(
                f"{operation} needs the same dt, got {self._dt:g} s and {other._dt:g} s; "
                "resample one first"
            )
        if self._unit != other._unit:
            raise ValueError(
                f"{operation} needs the same unit, got {self._unit!r} and {other._unit!r}"
            )

    def resample(self, dt) -> Stimulus:
        """The same stimulus on another time step.

        A finer step ``self.dt / k`` repeats each sample ``k`` times (zero-order hold, exact).
        A coarser step ``k * self.dt`` averages each block of ``k`` samples, which keeps each
        channel's charge; if ``n_samples`` is not a multiple of ``k`` the last block is padded
        with zeros (charge still kept; the duration rounds up to a whole coarse step).
        ``k`` is a whole number to within a relative 1e-9.

        Parameters
        ----------
        dt : float, s
            The new time step.

        Returns
        -------
        Stimulus
            Of shape ``(n_samples * k, n_channels)`` (finer) or
            ``(ceil(n_samples / k), n_channels)`` (coarser); ``self`` when ``dt`` equals
            ``self.dt``.

        Raises
        ------
        ValueError
            If ``dt`` is neither ``self.dt / k`` nor ``k * self.dt`` for a whole ``k >= 1``.

        Examples
        --------
        >>> from substrates import Stimulus
        >>> s = Stimulus([[1.0], [3.0]], dt=1e-4)
        >>> s.resample(5e-5).data.ravel().tolist()
        [1.0, 1.0, 3.0, 3.0]
        >>> s.resample(2e-4).data.ravel().tolist()
        [2.0]
        """
        dt = _positive(dt, "dt")
        if math.isclose(dt, self._dt, rel_tol=_REL_TOL):
            return self
        finer = dt < self._dt
        ratio = self._dt / dt if finer else dt / self._dt
        k = round(ratio)
        if abs(ratio - k) > _REL_TOL * ratio:
            raise ValueError(
                f"dt must be self.dt / k (finer, zero-order hold) or k * self.dt (coarser, "
                f"charge-preserving average) for a whole k, with self.dt = {self._dt:g} s "
                f"(e.g. {self._dt / 2:g}, {self._dt / 10:g}, {2 * self._dt:g} or "
                f"{10 * self._dt:g} s); "
                f"got {dt:g} s, a ratio of {ratio:.6g}"
            )
        if finer:
            return Stimulus(np.repeat(self._data, k, axis=0), dt, self._unit)
        n_out = -(-self.n_samples // k)
        padded = np.zeros((n_out * k, self.n_channels))
        padded[: self.n_samples] = self._data
        return Stimulus(padded.reshape(n_out, k, self.n_channels).mean(axis=1), dt, self._unit)

    def concat(self, *others: Stimulus) -> Stimulus:
        """This stimulus followed in time by ``others``.

        Parameters
        ----------
        *others : Stimulus
            Each with the same ``n_channels``, ``dt`` and ``unit``.

        Returns
        -------
        Stimulus of shape (n_samples + sum of the others' n_samples, n_channels)
        """
        for other in others:
            if not isinstance(other, Stimulus):
                raise TypeError(f"concat takes Stimulus objects, got {type(other).__name__}")
            self._check_compatible(other, "concat")
            if other.n_channels != self.n_channels:
                raise ValueError(
                    "concat needs the same n_channels, got "
                    f"{self.n_channels} and {other.n_channels}"
                )
        return Stimulus(
            np.concatenate([self._data] + [o._data for o in others], axis=0), self._dt, self._unit
        )

    def __add__(self, other):
        """Superposition: the sample-by-sample sum of two stimuli of the same shape, dt and unit."""
        if not isinstance(other, Stimulus):
            return NotImplemented
        self._check_compatible(other, "adding stimuli")
        if other._data.shape != self._data.shape:
            raise ValueError(
                "adding stimuli needs the same shape (n_samples, n_channels), got "
                f"{self._data.shape} and {other._data.shape}"
            )
        return Stimulus(self._data + other._data, self._dt, self._unit)

    def __radd__(self, other):
        # lets sum(stimuli) start from 0
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def scale(self, factor) -> Stimulus:
        """Multiply by ``factor``.

        Parameters
        ----------
        factor : float or array_like of shape (n_channels,)
            One factor for all channels, or one per channel (finite).

        Returns
        -------
        Stimulus of the same shape, dt and unit.
        """
        f = _real_array(factor, "factor")
        if f.ndim > 1 or (f.ndim == 1 and f.shape[0] != self.n_channels):
            raise ValueError(
                f"factor must be a scalar or of shape ({self.n_channels},) (one per channel), "
                f"got shape {f.shape}"
            )
        if not np.all(np.isfinite(f)):
            raise ValueError(f"factor must be finite, got {factor!r}")
        return Stimulus(self._data * f, self._dt, self._unit)

    def channels(self, index) -> Stimulus:
        """A subset of channels, in the order given.

        Parameters
        ----------
        index : int, sequence of int, slice or boolean mask of shape (n_channels,)

        Returns
        -------
        Stimulus of shape (n_samples, n_selected); always 2-D.
        """
        try:
            chosen = np.arange(self.n_channels)[index]
        except (IndexError, TypeError) as error:
            raise ValueError(
                f"index must select channels between 0 and {self.n_channels - 1} (an int, a "
                f"sequence of ints, a slice or a boolean mask of length {self.n_channels}), "
                f"got {index!r}: {error}"
            ) from None
        chosen = np.atleast_1d(chosen)
        if chosen.ndim != 1:
            raise ValueError(f"index must give a 1-D selection of channels, got {index!r}")
        return Stimulus(self._data[:, chosen], self._dt, self._unit)

    def check_safe(self, max_amplitude) -> Stimulus:
        """Refuse stimuli whose magnitude exceeds a safe limit.

        Parameters
        ----------
        max_amplitude : float or array_like of shape (n_channels,), in ``unit``
            Largest allowed ``|value|``, for all channels or per channel (> 0).

        Returns
        -------
        Stimulus
            ``self``, so calls chain: ``net.run(stim.check_safe(10e-6))``.

        Raises
        ------
        ValueError
            Naming the first channel that exceeds its limit, its peak and when it occurs.
        """
        limit = _real_array(max_amplitude, "max_amplitude")
        if limit.ndim > 1 or (limit.ndim == 1 and limit.shape[0] != self.n_channels):
            raise ValueError(
                f"max_amplitude must be a scalar or of shape ({self.n_channels},), "
                f"got shape {limit.shape}"
            )
        if np.any(~(limit > 0)):
            raise ValueError(f"max_amplitude must be > 0 ({self._unit}), got {max_amplitude!r}")
        if self.n_channels == 0:
            return self
        peak = np.abs(self._data).max(axis=0)
        over = np.flatnonzero(peak > limit)
        if over.size:
            c = int(over[0])
            i = int(np.argmax(np.abs(self._data[:, c])))
            bound = float(np.broadcast_to(limit, peak.shape)[c])
            others = f" (and {over.size - 1} more channels)" if over.size > 1 else ""
            raise ValueError(
                f"stimulus is unsafe: channel {c} reaches amplitude {self._data[i, c]:g} "
                f"{self._unit} at t = {i * self._dt:g} s, above max_amplitude = {bound:g} "
                f"{self._unit}{others}"
            )
        return self

    # ------------------------------------------------------------------ generators
    @staticmethod
    def _grid(n_channels, duration, dt, channels):
        n_channels = _count(n_channels, "n_channels")
        dt = _positive(dt, "dt")
        duration = _positive(duration, "duration")
        n_samples = _whole_steps(duration, dt, "duration")
        return n_channels, dt, n_samples, _channel_list(channels, n_channels)

    @classmethod
    def zeros(cls, n_channels, duration, dt, *, unit="A") -> Stimulus:
        """No stimulation.

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps.
        dt : float, s
        unit : {"A", "V"}

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)
        """
        n_channels, dt, n_samples, _ = cls._grid(n_channels, duration, dt, None)
        return cls(np.zeros((n_samples, n_channels)), dt, unit)

    @classmethod
    def pulse_train(cls, n_channels, duration, dt, *, rate, amplitude, width, start=0.0,
                    jitter=0.0, channels=None, unit="A", random_state=None) -> Stimulus:
        """Monophasic rectangular pulses at a regular rate.

        Pulses start at ``start + k / rate`` (rounded to the sample grid) for every ``k``
        whose whole pulse fits before ``duration``. Monophasic pulses deliver net charge;
        prefer :meth:`biphasic` for anything touching living tissue.

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps.
        dt : float, s
        rate : float, Hz
            Pulses per second (> 0); the pulse must fit within one period ``1 / rate``.
        amplitude : float, A or V
            Value during a pulse (any sign; negative is cathodic).
        width : float, s
            Pulse width, rounded to whole samples (at least one).
        start : float, s
            First nominal onset, in ``[0, duration)``.
        jitter : float, s
            Each onset is delayed by a whole number of samples drawn uniformly from
            ``0 .. round(jitter / dt)``, independently per channel and pulse; at most
            ``1 / rate - width`` so pulses never overlap. 0 gives a regular train.
        channels : None, int or sequence of int
            Channels that carry the train (None: all); the others stay zero.
        unit : {"A", "V"}
        random_state : int, Generator, SeedSequence or None
            Draws the jitter (unused when ``jitter == 0``).

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)

        Examples
        --------
        >>> from substrates import Stimulus
        >>> s = Stimulus.pulse_train(2, 1.0, 1e-4, rate=10.0, amplitude=-1e-6, width=1e-3)
        >>> round(float(s.charge[0]), 15)  # 10 pulses of -1 uA for 1 ms: -10 nC
        -1e-08
        """
        n_channels, dt, n_samples, cols = cls._grid(n_channels, duration, dt, channels)
        rate = _positive(rate, "rate", "Hz")
        amplitude = _finite(amplitude, "amplitude")
        width = _positive(width, "width")
        start = _nonnegative(start, "start", "s")
        jitter = _nonnegative(jitter, "jitter", "s")
        _unit(unit)
        rng = check_random_state(random_state)
        _check_start(start, n_samples, dt)
        width_samples = _rounded_samples(width, dt)
        if width_samples < 1:
            raise ValueError(f"width must be at least one sample (dt = {dt:g} s), got {width:g} s")
        onsets = _train_onsets(n_samples, dt, rate, start, width_samples, jitter, cols.size, rng)
        data = np.zeros((n_samples, n_channels))
        template = np.full(width_samples, amplitude)
        _place_pulses(data, onsets, np.repeat(cols, onsets.shape[1]), template)
        return cls(data, dt, unit)

    @classmethod
    def biphasic(cls, n_channels, duration, dt, *, rate, amplitude, phase_width,
                 interphase_gap=0.0, start=0.0, cathodic_first=True, jitter=0.0,
                 channels=None, unit="A", random_state=None) -> Stimulus:
        """Charge-balanced biphasic pulses at a regular rate.

        Each pulse is one phase of ``-amplitude`` (cathodic) and one of ``+amplitude``
        (anodic), each ``phase_width`` long, separated by ``interphase_gap``. Widths are
        rounded to whole samples, so both phases have exactly the same number of samples
        and the net charge of every pulse is zero on the sample grid. Pulses start at
        ``start + k / rate`` (rounded to the grid) for every ``k`` whose whole pulse fits
        before ``duration``, so none is cut (and unbalanced) by the end.

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps.
        dt : float, s
        rate : float, Hz
            Pulses per second (> 0); a pulse (two phases and the gap) must fit in ``1 / rate``.
        amplitude : float, A or V
            Magnitude of each phase (>= 0). Typical MEA values: a few uA, or hundreds of mV.
        phase_width : float, s
            Width of each phase, rounded to whole samples (at least one). Typically 200 us.
        interphase_gap : float, s
            Zero-valued gap between the phases, rounded to whole samples.
        start : float, s
            First nominal onset, in ``[0, duration)``.
        cathodic_first : bool
            True: negative phase first (the usual choice); False: positive first.
        jitter : float, s
            Each onset is delayed by a whole number of samples drawn uniformly from
            ``0 .. round(jitter / dt)``, independently per channel and pulse; at most
            ``1 / rate`` minus the pulse duration. 0 gives a regular train.
        channels : None, int or sequence of int
            Channels that carry the pulses (None: all); the others stay zero.
        unit : {"A", "V"}
        random_state : int, Generator, SeedSequence or None
            Draws the jitter (unused when ``jitter == 0``).

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)

        Raises
        ------
        ValueError
            If a phase rounds to fewer than one sample, or pulses would overlap.

        Examples
        --------
        >>> from substrates import Stimulus
        >>> s = Stimulus.biphasic(1, 0.01, 1e-4, rate=200.0, amplitude=1e-6,
        ...                       phase_width=2e-4, interphase_gap=1e-4)
        >>> (s.data[:6, 0] * 1e6).tolist()
        [-1.0, -1.0, 0.0, 1.0, 1.0, 0.0]
        """
        n_channels, dt, n_samples, cols = cls._grid(n_channels, duration, dt, channels)
        rate = _positive(rate, "rate", "Hz")
        amplitude = _nonnegative(amplitude, "amplitude", "the magnitude of each phase")
        phase_width = _positive(phase_width, "phase_width")
        interphase_gap = _nonnegative(interphase_gap, "interphase_gap", "s")
        start = _nonnegative(start, "start", "s")
        jitter = _nonnegative(jitter, "jitter", "s")
        if not isinstance(cathodic_first, (bool, np.bool_)):
            raise TypeError(f"cathodic_first must be a bool, got {type(cathodic_first).__name__}")
        _unit(unit)
        rng = check_random_state(random_state)
        _check_start(start, n_samples, dt)
        phase_samples = _rounded_samples(phase_width, dt)
        if phase_samples < 1:
            raise ValueError(
                f"phase_width must be at least one sample (dt = {dt:g} s), got {phase_width:g} s"
            )
        gap_samples = _rounded_samples(interphase_gap, dt)
        template = _biphasic_template(amplitude, phase_samples, gap_samples, bool(cathodic_first))
        onsets = _train_onsets(n_samples, dt, rate, start, template.size, jitter, cols.size, rng)
        data = np.zeros((n_samples, n_channels))
        _place_pulses(data, onsets, np.repeat(cols, onsets.shape[1]), template)
        return cls(data, dt, unit)

    @classmethod
    def white_noise(cls, n_channels, duration, dt, *, rms, mean=0.0, bandwidth=None,
                    channels=None, unit="A", random_state=None) -> Stimulus:
        """Gaussian noise, independent across channels, optionally band-limited.

        Without ``bandwidth`` the samples are independent ``Normal(mean, rms**2)``. With it,
        the noise is low-passed by a 4th-order Butterworth filter run forward and backward
        (``scipy.signal.sosfiltfilt``: zero phase, -6 dB at ``bandwidth``) and rescaled by
        the filter's exact variance gain, so the process is still stationary with standard
        deviation ``rms`` (extra noise is drawn on both sides and cut off, so the ends carry
        no filter transient). One draw's sample rms fluctuates around ``rms``.

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps.
        dt : float, s
        rms : float, A or V
            Standard deviation of the noise about ``mean`` (>= 0).
        mean : float, A or V
            Offset added to every sample of the noisy channels.
        bandwidth : float or None, Hz
            Low-pass cutoff, in ``(0, 1 / (2 dt))``; None: white up to the Nyquist frequency.
        channels : None, int or sequence of int
            Channels that carry noise (None: all); the others stay zero.
        unit : {"A", "V"}
        random_state : int, Generator, SeedSequence or None

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)
        """
        n_channels, dt, n_samples, cols = cls._grid(n_channels, duration, dt, channels)
        rms = _nonnegative(rms, "rms", unit if unit in _UNITS else "A or V")
        mean = _finite(mean, "mean")
        _unit(unit)
        nyquist = 0.5 / dt
        if bandwidth is not None:
            bandwidth = _positive(bandwidth, "bandwidth", "Hz")
            if bandwidth >= nyquist:
                raise ValueError(
                    f"bandwidth must be below the Nyquist frequency 1 / (2 dt) = {nyquist:g} Hz, "
                    f"got {bandwidth:g} Hz (use None for unfiltered white noise)"
                )
        rng = check_random_state(random_state)
        data = np.zeros((n_samples, n_channels))
        if bandwidth is None:
            noise = rng.standard_normal((n_samples, cols.size))
        else:
            from scipy import signal as _signal  # imported here: scipy.signal costs ~1 s
            sos = _signal.butter(_BUTTER_ORDER, bandwidth, fs=1.0 / dt, output="sos")
            # the slowest pole decays as exp(-2 pi fc sin(pi / 8) t) ~ exp(-2.4 fc t):
            # 10 / fc of lead-in each side leaves transients below 1e-10
            pad = math.ceil(10.0 / (bandwidth * dt))
            raw = rng.standard_normal((n_samples + 2 * pad, cols.size))
            noise = _signal.sosfiltfilt(sos, raw, axis=0, padtype=None)[pad : pad + n_samples]
            noise /= math.sqrt(_filtfilt_variance_gain(sos, bandwidth * dt))
        data[:, cols] = mean + rms * noise
        return cls(data, dt, unit)

    @classmethod
    def pink_noise(cls, n_channels, duration, dt, *, rms, exponent=1.0, f_min=None,
                   channels=None, unit="A", random_state=None) -> Stimulus:
        """Gaussian noise with a power spectrum falling as ``1 / f**exponent``.

        White Gaussian noise is shaped in the frequency domain (its FFT is multiplied by
        ``f**(-exponent / 2)``, the zero-frequency component removed), transformed back and
        scaled so the process has standard deviation ``rms``. The result is periodic over
        ``duration`` (the FFT is circular) and each channel's sample mean is zero. One draw's
        sample rms fluctuates around ``rms``, more than for white noise, since a few
        low-frequency components carry most of the power.

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps, at least two.
        dt : float, s
        rms : float, A or V
            Standard deviation of the process (>= 0).
        exponent : float
            Spectral exponent, >= 0 (0: white, 1: pink, 2: brown).
        f_min : float or None, Hz
            Below this frequency the spectrum is flat at its ``f_min`` level (limits the
            slow drifts); in ``(0, 1 / (2 dt)]``. None: shaped down to ``1 / duration``.
        channels : None, int or sequence of int
            Channels that carry noise (None: all); the others stay zero.
        unit : {"A", "V"}
        random_state : int, Generator, SeedSequence or None

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)
        """
        n_channels, dt, n_samples, cols = cls._grid(n_channels, duration, dt, channels)
        rms = _nonnegative(rms, "rms", unit if unit in _UNITS else "A or V")
        exponent = _nonnegative(exponent, "exponent", "dimensionless")
        _unit(unit)
        if n_samples < 2:
            raise ValueError(
                f"duration must span at least 2 time steps for pink noise, got {n_samples}"
            )
        freqs = np.fft.rfftfreq(n_samples, dt)
        if f_min is not None:
            f_min = _positive(f_min, "f_min", "Hz")
            if f_min > freqs[-1]:
                raise ValueError(
                    f"f_min must be at most the Nyquist frequency {0.5 / dt:g} Hz, got {f_min:g} Hz"
                )
        rng = check_random_state(random_state)
        shape = np.zeros_like(freqs)
        shape[1:] = np.maximum(freqs[1:], f_min if f_min is not None else 0.0) ** (-exponent / 2.0)
        # E[y^2] for unit white input: (1/n) sum over the full two-sided spectrum of shape^2
        weight = np.full(freqs.size, 2.0)
        weight[0] = 1.0
        if n_samples % 2 == 0:
            weight[-1] = 1.0
        variance = float(np.sum(weight * shape**2)) / n_samples
        spectrum = np.fft.rfft(rng.standard_normal((n_samples, cols.size)), axis=0)
        noise = np.fft.irfft(spectrum * shape[:, None], n=n_samples, axis=0)
        data = np.zeros((n_samples, n_channels))
        data[:, cols] = noise * (rms / math.sqrt(variance))
        return cls(data, dt, unit)

    @classmethod
    def chirp(cls, n_channels, duration, dt, *, amplitude, f0, f1, method="linear", phase=0.0,
              channels=None, unit="A") -> Stimulus:
        """A frequency sweep, ``amplitude * cos(phi(t))``.

        The instantaneous frequency goes from ``f0`` at ``t = 0`` to ``f1`` at
        ``t = duration`` (the last sample, at ``duration - dt``, is just short of it):
        linearly, ``f(t) = f0 + (f1 - f0) t / duration``, or geometrically,
        ``f(t) = f0 (f1 / f0)**(t / duration)`` (``scipy.signal.chirp``).

        Parameters
        ----------
        n_channels : int
        duration : float, s
            A whole number of time steps.
        dt : float, s
        amplitude : float, A or V
            Peak value.
        f0, f1 : float, Hz
            Start and end frequencies, below the Nyquist frequency ``1 / (2 dt)``; >= 0 for
            "linear", > 0 for "logarithmic".
        method : {"linear", "logarithmic"}
        phase : float, rad
            Phase at ``t = 0`` (SI radians; scipy's ``phi`` is in degrees).
        channels : None, int or sequence of int
            Channels that carry the chirp (None: all); the others stay zero.
        unit : {"A", "V"}

        Returns
        -------
        Stimulus of shape (round(duration / dt), n_channels)
        """
        n_channels, dt, n_samples, cols = cls._grid(n_channels, duration, dt, channels)
        amplitude = _finite(amplitude, "amplitude")
        phase = _finite(phase, "phase")
        _unit(unit)
        if method not in ("linear", "logarithmic"):
            raise ValueError(f"method must be 'linear' or 'logarithmic', got {method!r}")
        nyquist = 0.5 / dt
        for name, f in (("f0", f0), ("f1", f1)):
            f = _real(f, name)
            low_ok = f > 0 if method == "logarithmic" else f >= 0
            if not (math.isfinite(f) and low_ok and f < nyquist):
                low = "0 <" if method == "logarithmic" else "0 <="
                raise ValueError(
                    f"{name} must satisfy {low} {name} < {nyquist:g} Hz (the Nyquist frequency) "
                    f"for method={method!r}, got {f:g}"
                )
        times = np.arange(n_samples) * dt
        from scipy import signal as _signal  # imported here: scipy.signal costs ~1 s
        wave = amplitude * _signal.chirp(
            times, f0=float(f0), t1=n_samples * dt, f1=float(f1), method=method,
            phi=math.degrees(phase),
        )
        data = np.zeros((n_samples, n_channels))
        data[:, cols] = wave[:, None]
        return cls(data, dt, unit)

    @classmethod
    def encode(cls, signal, *, hold, dt, amplitude, mode="amplitude", channel_map=None,
               n_channels=None, pulse_width=None, max_rate=None, feature_max=None,
               threshold=0.0, jitter=0.0, unit="A", random_state=None) -> Stimulus:
        """Turn a task's input signal into electrode waveforms.

        Each task step is held for ``hold`` seconds; feature ``f`` drives stimulation
        channel ``channel_map[f]``. Three encodings:

        ``"amplitude"``
            The value ``x`` becomes ``x * amplitude`` held constant for the step (either sign).
        ``"rate"``
            Features must be >= 0. Each is scaled to ``u`` in [0, 1] by dividing by
            ``feature_max`` (default: its maximum over the signal; values above are clipped
            to 1). A step then carries ``round(u * n_max)`` charge-balanced biphasic pulses,
            spread evenly over the hold (a regular train starting at the step onset), where
            ``n_max = floor(hold * max_rate)``. The pulse rate is thus proportional to the
            feature, up to the rounding to whole pulses. The highest rate, and the default
            ``max_rate``, is ``1 / (2 * pulse_width)``: pulses back to back. Tissue follows
            far less; physiological encodings set ``max_rate`` to tens or hundreds of hertz.
        ``"threshold"``
            A feature above ``threshold`` in a step fires one biphasic pulse on its channel
            at the step onset (the encoding organoid reservoir-computing studies use for
            spoken vowels).

        Biphasic pulses are cathodic first, each phase ``amplitude`` in magnitude and
        ``pulse_width`` long, with no interphase gap.

        Parameters
        ----------
        signal : array_like of shape (n_steps,) or (n_steps, n_features)
            The task input (finite; booleans count as 0 and 1).
        hold : float, s
            Time each step is held, a whole number of ``dt``.
        dt : float, s
            Time step of the output.
        amplitude : float, A or V
            Scale (>= 0): current per unit feature in "amplitude" mode, phase magnitude in
            the pulse modes.
        mode : {"amplitude", "rate", "threshold"}
        channel_map : sequence of int, shape (n_features,), optional
            Distinct stimulation channel driven by each feature; default ``0 .. n_features - 1``.
        n_channels : int, optional
            Channels of the output; default ``max(channel_map) + 1``.
        pulse_width : float, s, optional
            Phase width of the biphasic pulses, rounded to whole samples (at least one);
            default 200 us rounded up to whole samples. Pulse modes only.
        max_rate : float, Hz, optional
            Pulse rate at ``u = 1`` ("rate" mode only), in ``(0, 1 / (2 pulse_width)]`` and at
            least ``1 / hold``.
        feature_max : float or array_like of shape (n_features,), optional
            Feature values that map to ``max_rate`` ("rate" mode only, > 0). Pass the
            training set's maxima to encode a test set on the same scale.
        threshold : float or array_like of shape (n_features,)
            Firing threshold ("threshold" mode only).
        jitter : float, s
            Each pulse is delayed by a whole number of samples drawn uniformly from
            ``0 .. round(jitter / dt)``; it must leave the pulse inside its slot of the hold
            (pulse modes only). 0 gives deterministic timing.
        unit : {"A", "V"}
        random_state : int, Generator, SeedSequence or None
            Draws the jitter (unused when ``jitter == 0``).

        Returns
        -------
        Stimulus of shape (n_steps * hold / dt, n_channels)

        Examples
        --------
        >>> import numpy as np
        >>> from substrates import Stimulus
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> s = Stimulus.encode(x, hold=5e-3, dt=1e-4, amplitude=2e-6, mode="threshold",
        ...                     threshold=0.5, channel_map=[3, 1])
        >>> s.data.shape
        (100, 4)
        >>> [int(np.sum(np.diff((s.data[:, c] < 0).astype(int)) == 1) + (s.data[0, c] < 0))
        ...  for c in range(4)]  # pulses per channel
        [0, 1, 0, 1]
        """
        x = _real_array(signal, "signal", kinds="biuf")  # booleans count as 0 / 1
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                f"signal must have shape (n_steps,) or (n_steps, n_features) with at least one "
                f"step and feature, got shape {np.shape(signal)}"
            )
        _first_nonfinite(x, "signal", "step", "feature")
        n_steps, n_features = x.shape
        modes = ("amplitude", "rate", "threshold")
        if mode not in modes:
            raise ValueError(f"mode must be one of {modes}, got {mode!r}")
        dt = _positive(dt, "dt")
        hold = _positive(hold, "hold")
        hold_samples = _whole_steps(hold, dt, "hold")
        amplitude = _nonnegative(amplitude, "amplitude", unit if unit in _UNITS else "A or V")
        jitter = _nonnegative(jitter, "jitter", "s")
        _unit(unit)
        rng = check_random_state(random_state)

        if channel_map is None:
            columns = np.arange(n_features)
        else:
            columns = np.asarray(channel_map)
            if columns.ndim != 1 or (columns.size and columns.dtype.kind not in "iu"):
                raise TypeError(
                    f"channel_map must be a 1-D sequence of integers, got {channel_map!r}"
                )
            columns = columns.astype(np.int64)
            if columns.size != n_features:
                raise ValueError(
                    f"channel_map must name one channel per feature ({n_features}), "
                    f"got {columns.size}"
                )
            if columns.min() < 0:
                raise ValueError(f"channel_map entries must be >= 0, got {columns.tolist()}")
            if np.unique(columns).size != columns.size:
                raise ValueError(f"channel_map entries must be distinct, got {columns.tolist()}")
        needed = int(columns.max()) + 1
        if n_channels is None:
            n_channels = needed
        n_channels = _count(n_channels, "n_channels")
        if n_channels < needed:
            raise ValueError(
                f"n_channels must be at least max(channel_map) + 1 = {needed}, got {n_channels}"
            )

        for name, value, allowed in (
            ("pulse_width", pulse_width is not None, ("rate", "threshold")),
            ("jitter", jitter != 0.0, ("rate", "threshold")),
            ("max_rate", max_rate is not None, ("rate",)),
            ("feature_max", feature_max is not None, ("rate",)),
            ("threshold", not (np.ndim(threshold) == 0 and threshold == 0.0), ("threshold",)),
        ):
            if value and mode not in allowed:
                modes_allowed = " or ".join(map(repr, allowed))
                raise ValueError(f"{name} applies only to mode {modes_allowed}, not {mode!r}")

        n_samples = n_steps * hold_samples
        data = np.zeros((n_samples, n_channels))
        if mode == "amplitude":
            data[:, columns] = np.repeat(x * amplitude, hold_samples, axis=0)
            return cls(data, dt, unit)

        if pulse_width is None:
            phase_samples = max(math.ceil(_DEFAULT_PHASE_WIDTH / dt * (1 - _REL_TOL)), 1)
        else:
            pulse_width = _positive(pulse_width, "pulse_width")
            phase_samples = _rounded_samples(pulse_width, dt)
            if phase_samples < 1:
                raise ValueError(
                    f"pulse_width must be at least one sample (dt = {dt:g} s), "
                    f"got {pulse_width:g} s"
                )
        length = 2 * phase_samples
        if length > hold_samples:
            raise ValueError(
                f"pulse_width is too long: a biphasic pulse ({length * dt:g} s) must fit in one "
                f"hold ({hold:g} s)"
            )
        template = _biphasic_template(amplitude, phase_samples, 0, True)
        delay = _rounded_samples(jitter, dt)

        if mode == "threshold":
            level = _real_array(threshold, "threshold")
            if level.ndim > 1 or (level.ndim == 1 and level.size != n_features):
                raise ValueError(
                    f"threshold must be a scalar or of shape ({n_features},), "
                    f"got shape {level.shape}"
                )
            if not np.all(np.isfinite(level)):
                raise ValueError(f"threshold must be finite, got {threshold!r}")
            if delay > hold_samples - length:
                raise ValueError(
                    f"jitter must be at most hold minus the pulse duration, "
                    f"{(hold_samples - length) * dt:g} s, got {jitter:g} s"
                )
            steps, features = np.nonzero(x > level)
            onsets = steps * hold_samples
            if delay:
                onsets = onsets + rng.integers(0, delay + 1, size=onsets.size)
            _place_pulses(data, onsets, columns[features], template)
            return cls(data, dt, unit)

        # mode == "rate"
        if np.any(x < 0):
            i, j = np.argwhere(x < 0)[0]
            raise ValueError(
                f"signal must be >= 0 for mode='rate' (rates cannot be negative); step {i}, "
                f"feature {j} is {x[i, j]:g}"
            )
        highest = 1.0 / (length * dt)
        if max_rate is None:
            max_rate = highest
        else:
            max_rate = _positive(max_rate, "max_rate", "Hz")
            if max_rate > highest * (1 + _REL_TOL):
                raise ValueError(
                    f"max_rate must be at most 1 / (2 pulse_width) = {highest:g} Hz (pulses back "
                    f"to back), got {max_rate:g} Hz"
                )
        n_max = math.floor(hold * max_rate * (1 + _REL_TOL))
        if n_max < 1:
            raise ValueError(
                f"max_rate must allow at least one pulse per hold: max_rate >= 1 / hold = "
                f"{1.0 / hold:g} Hz, got {max_rate:g} Hz"
            )
        if feature_max is None:
            top = x.max(axis=0)
        else:
            top = _real_array(feature_max, "feature_max")
            if top.ndim > 1 or (top.ndim == 1 and top.size != n_features):
                raise ValueError(
                    f"feature_max must be a scalar or of shape ({n_features},), "
                    f"got shape {top.shape}"
                )
            if not np.all(np.isfinite(top) & (top > 0)):
                raise ValueError(f"feature_max must be finite and > 0, got {feature_max!r}")
            top = np.broadcast_to(top, (n_features,))
        u = np.where(top > 0, x / np.where(top > 0, top, 1.0), 0.0)  # all-zero feature: u = 0
        counts = np.floor(np.clip(u, 0.0, 1.0) * n_max + 0.5).astype(np.int64)
        slot = hold_samples // n_max  # shortest slot a pulse gets (at n_max pulses per hold)
        if delay > slot - length:
            raise ValueError(
                f"jitter must be at most hold / n_max minus the pulse duration, "
                f"{(slot - length) * dt:g} s, so each pulse stays in its slot, got {jitter:g} s"
            )
        flat = counts.ravel()
        total = int(flat.sum())
        group = np.repeat(np.arange(flat.size), flat)  # (step, feature) of each pulse, C order
        k = np.arange(total) - np.repeat(np.cumsum(flat) - flat, flat)  # index within the hold
        steps, features = np.divmod(group, n_features)
        onsets = steps * hold_samples + (k * hold_samples) // np.maximum(flat[group], 1)
        if delay:
            onsets = onsets + rng.integers(0, delay + 1, size=total)
        _place_pulses(data, onsets, columns[features], template)
        return cls(data, dt, unit)


def _filtfilt_variance_gain(sos: np.ndarray, normalized_cutoff: float) -> float:
    """Output variance of ``sosfiltfilt(sos, .)`` for unit-variance white input.

    The forward-backward response is ``|H|^2``, so the gain is the mean of ``|H|^4`` over
    ``[0, pi)``; the grid is fine enough to resolve the passband (>= 64 points below the
    cutoff), where the integrand is smooth.
    """
    n_points = max(4096, 64 * math.ceil(0.5 / normalized_cutoff))
    from scipy import signal as _signal  # imported here: scipy.signal costs ~1 s
    _, response = _signal.sosfreqz(sos, worN=n_points)
    return float(np.mean(np.abs(response) ** 4))
