"""Crossbar: a memristive crossbar array as a substrate (rows driven, columns read).

Physics lives in :mod:`substrates.crossbar._kernels`; the device statistics (the
phase-change memory model of Joshi et al. 2020) in :class:`PCMParameters`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from substrates._electrodes import ElectrodeArray
from substrates._protocol import run_duration, steps_per_sample
from substrates._random import check_random_state, child_generators
from substrates._recording import Recording
from substrates._stimulus import Stimulus
from substrates.crossbar import _kernels as K
from substrates.crossbar._parameters import PCMParameters

__all__ = ["Crossbar", "ProgramReport"]

# A stimulus may exceed read_voltage by this relative amount (float round-off of
# x * amplitude with |x| <= 1), far below any voltage difference that matters.
_VOLTAGE_RTOL = 1e-12


def _count(name, value, low, allowed):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {allowed}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an integer {allowed}, got {value}")
    return int(value)


def _real(name, value, *, low=None, low_open=False, high=None, unit=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{unit}, got {type(value).__name__}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or (value <= low if low_open else value < low)
    if high is not None:
        bad = bad or value > high
    if bad:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"<= {high:g}")
        allowed = (" and " + " and ".join(parts)) if parts else ""
        raise ValueError(f"{name} must be finite{allowed}{unit}, got {value!r}")
    return value


def _matrix(name, value, shape, unit):
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real array of shape {shape} ({unit}), got dtype {array.dtype}")
    array = np.array(array, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} for this crossbar, got {array.shape}")
    if not np.all(np.isfinite(array)):
        i, j = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} must be finite (no NaN or inf); [{i}, {j}] is {array[i, j]}")
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class ProgramReport:
    """What a :meth:`Crossbar.program` call asked for and what the devices hold.

    Conductance matrices are in the crossbar's physical layout, shape (n_rows, n_cols):
    column ``2 k`` holds ``G+`` and column ``2 k + 1`` holds ``G-`` of output ``k``.
    Weight matrices have shape (n_rows, n_outputs) with ``n_outputs = n_cols // 2``.

    Attributes
    ----------
    requested_conductance : array (n_rows, n_cols), S
        The mapped conductances before quantisation.
    target_conductance : array (n_rows, n_cols), S
        What the programmer aimed at: the requested conductances quantised to the
        crossbar's levels (equal to the requested ones for an analog crossbar).
    written_conductance : array (n_rows, n_cols), S
        What the devices hold at t = 0 (programming noise, stuck devices, verify), before
        drift and read noise.
    target_weights, effective_weights : arrays (n_rows, n_outputs), weight units
        Asked weights, and ``(G+ - G-) / conductance_per_weight`` of the written devices.
    conductance_per_weight : float, S per weight unit
        ``g_max / weight_scale``; 1.0 for :meth:`Crossbar.program_conductances` (weights
        are then ``G+ - G-`` in S).
    weight_rms_error : float, weight units
        Root-mean-square of ``effective_weights - target_weights``.
    conductance_rms_error : float, S
        Root-mean-square of ``written_conductance - target_conductance`` over all devices.
    rms_error_history : array (verify_iterations_used + 1,), S
        ``conductance_rms_error`` after the first write and after each verify pass.
    stuck_devices : int
        Devices that ignored the write (stuck at 0 S or at g_max).
    verify_iterations_used : int
        Verify passes that rewrote at least one device.
    tolerance : float, S
        Verify tolerance used.
    pairs : int array (n_pairs_written,)
        The differential pairs written, in the order of the report's columns (every pair
        for a full write). With a write of some pairs only, every array above covers
        those pairs: ``n_cols`` reads ``2 * len(pairs)`` and ``n_outputs`` ``len(pairs)``.
    """

    requested_conductance: np.ndarray
    target_conductance: np.ndarray
    written_conductance: np.ndarray
    target_weights: np.ndarray
    effective_weights: np.ndarray
    conductance_per_weight: float
    weight_rms_error: float
    conductance_rms_error: float
    rms_error_history: np.ndarray
    stuck_devices: int
    verify_iterations_used: int
    tolerance: float
    pairs: np.ndarray = None


class Crossbar:
    """A memristive crossbar array (phase-change memory by default) as a substrate.

    ``n_rows`` row lines cross ``n_cols`` column lines; a device sits at each crossing.
    The electrode array is the periphery: one stimulating electrode per row line (a
    voltage driver; the stimulus is in V, one channel per row) and one recording
    electrode per column line (a transimpedance amplifier holding the column at virtual
    ground, then an ADC; the recording is the column currents in A). A read is
    Ohm's law in every device and Kirchhoff's current law on every column,
    ``I_j = sum_i V_i G_ij``, with wire resistance neglected (so no IR drop and no sneak
    paths: every row is driven and every column is held at 0 V).

    Columns come in differential pairs: column ``2 k`` holds ``G+`` and column ``2 k + 1``
    holds ``G-`` of output ``k``, and a weight is ``(G+ - G-) / conductance_per_weight``
    (:meth:`program`). The recorded channels are the physical columns;
    :meth:`outputs_from_currents` turns them into the differential outputs.

    Time: programming happens at t = 0. :meth:`wait` advances the clock; every read of
    :meth:`run` happens at the current time and advances it by one read period ``dt``.
    Conductances drift as ``g(t) = g(t0) (t / t0) ** -nu`` from ``t0 = 20 s`` (a read
    before ``t0`` sees ``g(t0)``), and each read adds 1/f read noise whose spread grows as
    ``sqrt(ln(t))`` (see :class:`PCMParameters`).

    Parameters
    ----------
    n_rows : int >= 1
        Row lines (inputs).
    n_cols : int >= 2, even
        Physical column lines (``2 * n_outputs``).
    device : PCMParameters, default ``PCMParameters()``
        Device statistics (Joshi et al. 2020).
    n_levels : int >= 2 or None, default None
        Conductance levels a device can be programmed to, evenly spaced on
        ``[0, g_max]``; None for an analog device.
    stuck_fraction : float in [0, 1], default 0.0
        Fraction of devices stuck (drawn once per crossbar from ``random_state``): each
        stuck device holds 0 S (stuck open, RESET) or ``g_max`` (stuck at SET) with equal
        probability, ignores every write and does not drift.
    read_voltage : float, V (> 0), default 0.2
        Largest |V| a row may carry in a read (larger voltages would disturb PCM
        devices); a stimulus above it is refused.
    sampling_rate : float, Hz (> 0), default 10_000.0
        Reads per second; ``dt = 1 / sampling_rate`` is the read period.
    current_noise_rms : float, A (>= 0), default 1e-9
        Input-referred noise of each column's transimpedance amplifier.
    adc_bits : int in 1..32 or None, default 16
        Column ADC resolution over ``(-I_full, I_full)`` with
        ``I_full = n_rows * g_max * read_voltage`` (the largest column current).
    device_pitch : float, m (> 0), default 1e-6
        Spacing of the lines; sets the electrode positions (row line ends on the left
        edge, column line ends on the bottom edge).
    random_state : int, Generator, SeedSequence or None
        Draws the stuck devices and, call after call, the programming noise and drift
        exponents; through :meth:`reset`, the read noise and front-end noise.

    Attributes
    ----------
    electrodes : ElectrodeArray
        Electrodes ``0 .. n_rows - 1`` are the row drivers (stimulate only), electrodes
        ``n_rows .. n_rows + n_cols - 1`` the column amplifiers (record only). Its noise and
        ADC range are in A. May be replaced by a re-routed copy (``electrodes.select(k)``)
        to record fewer columns.
    dt : float, s
        Read period.
    time : float, s
        Time since the last programming.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates.crossbar import Crossbar
    >>> xbar = Crossbar(3, 4, random_state=0)
    >>> report = xbar.program(np.array([[1.0, -0.5], [0.25, 0.0], [-1.0, 0.5]]))
    >>> report.written_conductance.shape
    (3, 4)
    >>> y = xbar.matvec(np.array([[1.0, 0.0, 0.0]]))  # ~ the first row of the weights
    >>> y.shape
    (1, 2)
    """

    #: ground-truth time series that make up the full state (see substrates._protocol)
    hidden_state_keys = ("device_conductance",)
    #: weights are written with program() / program_conductances()
    programmable = True

    def __init__(
        self,
        n_rows: int,
        n_cols: int,
        *,
        device: PCMParameters | None = None,
        n_levels: int | None = None,
        stuck_fraction: float = 0.0,
        read_voltage: float = 0.2,
        sampling_rate: float = 10_000.0,
        current_noise_rms: float = 1e-9,
        adc_bits: int | None = 16,
        device_pitch: float = 1e-6,
        random_state=None,
    ):
        self.n_rows = _count("n_rows", n_rows, 1, ">= 1")
        self.n_cols = _count("n_cols", n_cols, 2, ">= 2 and even")
        if self.n_cols % 2:
            raise ValueError(f"n_cols must be even (columns come in differential pairs G+, G-), got {n_cols}")
        self.device = PCMParameters() if device is None else device
        if not isinstance(self.device, PCMParameters):
            raise TypeError(f"device must be PCMParameters, got {type(self.device).__name__}")
        self.n_levels = None if n_levels is None else _count("n_levels", n_levels, 2, ">= 2 or None")
        self.stuck_fraction = _real("stuck_fraction", stuck_fraction, low=0.0, high=1.0)
        self.read_voltage = _real("read_voltage", read_voltage, low=0.0, low_open=True, unit=" (V)")
        self.sampling_rate = _real("sampling_rate", sampling_rate, low=0.0, low_open=True, unit=" (Hz)")
        self.current_noise_rms = _real("current_noise_rms", current_noise_rms, low=0.0, unit=" (A)")
        self.device_pitch = _real("device_pitch", device_pitch, low=0.0, low_open=True, unit=" (m)")
        self.adc_bits = adc_bits
        self.dt = 1.0 / self.sampling_rate
        full_scale = self.n_rows * self.device.g_max * self.read_voltage
        self._full_array = self._build_electrodes(full_scale, adc_bits)
        self._electrodes = self._full_array

        # one entropy draw: spawn key 0 is the hardware (stuck devices, then every write),
        # spawn key 1 the default stream of reset() (read noise, front-end noise)
        self._entropy = int(check_random_state(random_state).integers(2**63))
        hardware = child_generators(np.random.SeedSequence(self._entropy, spawn_key=(0,)),
                                    ["stuck", "programming"])
        shape = (self.n_rows, self.n_cols)
        rng = hardware["stuck"]
        self._stuck = rng.random(shape) < self.stuck_fraction
        self._stuck_value = np.where(rng.random(shape) < 0.5, 0.0, self.device.g_max) * self._stuck
        self._program_rng = hardware["programming"]

        # the unprogrammed array: every free device RESET (0 S), stuck ones at their value
        self._g = self._stuck_value.copy()
        self._nu = np.zeros(shape)
        self._q = self.device.read_noise_relative(self._g / self.device.g_max)
        self._time = 0.0
        self._conductance_per_weight = None
        self._calibration = None
        self.reset()

    # ------------------------------------------------------------------ construction
    def _build_electrodes(self, full_scale, adc_bits):
        p = self.device_pitch
        rows = np.column_stack([np.full(self.n_rows, -p), -p * np.arange(self.n_rows),
                                np.zeros(self.n_rows)])
        cols = np.column_stack([p * np.arange(self.n_cols), np.full(self.n_cols, -p * self.n_rows),
                                np.zeros(self.n_cols)])
        is_row = np.arange(self.n_rows + self.n_cols) < self.n_rows
        return ElectrodeArray(
            np.vstack([rows, cols]), can_stimulate=is_row, can_record=~is_row,
            sampling_rate=self.sampling_rate, noise_rms=self.current_noise_rms,
            adc_bits=adc_bits, adc_range=(-full_scale, full_scale),
            electrode_radius=p / 4.0, electrode_shape="square", name="crossbar periphery",
        )

    @property
    def electrodes(self) -> ElectrodeArray:
        """The periphery as an :class:`ElectrodeArray` (rows stimulate, columns record, A)."""
        return self._electrodes

    @electrodes.setter
    def electrodes(self, array):
        if not isinstance(array, ElectrodeArray):
            raise TypeError(f"electrodes must be an ElectrodeArray, got {type(array).__name__}")
        full = self._full_array
        same = (array.n_electrodes == full.n_electrodes
                and np.array_equal(array.positions, full.positions)
                and np.array_equal(array.can_stimulate, full.can_stimulate)
                and np.array_equal(array.can_record, full.can_record)
                and array.sampling_rate == full.sampling_rate)
        if not same:
            raise ValueError("electrodes must be this crossbar's periphery (same positions, "
                             "stimulating rows, recording columns and sampling_rate), re-routed "
                             "or with another front end: e.g. xbar.electrodes.select(k)")
        self._electrodes = array

    # ------------------------------------------------------------------ properties
    @property
    def n_outputs(self) -> int:
        """Differential outputs (``n_cols // 2``)."""
        return self.n_cols // 2

    @property
    def time(self) -> float:
        """Time since the last programming, s."""
        return self._time

    @property
    def conductances(self) -> np.ndarray:
        """Programmed conductances at t = 0, array (n_rows, n_cols), S (a copy)."""
        return self._g.copy()

    @property
    def stuck_mask(self) -> np.ndarray:
        """Stuck devices, bool array (n_rows, n_cols) (a copy)."""
        return self._stuck.copy()

    @property
    def drift_exponents(self) -> np.ndarray:
        """Drift exponent ``nu`` of every device, array (n_rows, n_cols) (a copy)."""
        return self._nu.copy()

    @property
    def conductance_per_weight(self) -> float | None:
        """S per weight unit of the last programming; None before the first."""
        return self._conductance_per_weight

    def drifted_conductances(self, time: float | None = None) -> np.ndarray:
        """Noise-free conductances at ``time`` s after programming (default: now), (n_rows, n_cols), S."""
        t = self._time if time is None else _real("time", time, low=0.0, unit=" (s)")
        t0 = self.device.drift_reference_time
        ratio = math.log(max(t, t0) / t0)
        return self._g * np.exp(-self._nu * ratio) if ratio > 0 else self._g.copy()

    @property
    def encoding(self) -> dict:
        """How task inputs reach the crossbar: :meth:`Stimulus.encode` keywords plus ``hold``.

        Amplitude coding in volts: an input ``x`` in [-1, 1] drives its row at
        ``x * read_voltage`` for one read period (inputs outside [-1, 1] exceed the read
        voltage and are refused). The crossbar has no memory between reads, so one read
        per input step is enough.
        """
        return {"hold": self.dt, "mode": "amplitude", "amplitude": self.read_voltage, "unit": "V"}

    # ------------------------------------------------------------------ state
    def reset(self, seed=None) -> None:
        """Redraw the run-time noise: the read noise and the front-end noise streams.

        The programmed conductances, drift exponents, stuck devices and the clock are the
        crossbar's physical state and persist (a real array cannot un-drift); program it
        again to start over.

        Parameters
        ----------
        seed : int, Generator, SeedSequence or None
            None reuses the crossbar's own stream, so ``reset()`` gives the same noise.
        """
        if seed is None:
            seed = np.random.SeedSequence(self._entropy, spawn_key=(1,))
        streams = child_generators(seed, ["read_noise", "front_end"])
        self._read_key = np.uint64(streams["read_noise"].integers(2**63))
        self._n_reads = 0
        self._front_end_rng = streams["front_end"]

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` (>= 0 s) pass without reading: the conductances drift."""
        self._time += _real("seconds", seconds, low=0.0, unit=" (s)")

    # ------------------------------------------------------------------ programming
    def program(self, weights, *, weight_scale: float | None = None, verify_iterations: int = 0,
                tolerance: float | None = None, pairs=None) -> ProgramReport:
        """Write a signed weight matrix into differential pairs of devices, at t = 0.

        Mapping: ``G+ = max(w, 0) * c`` and ``G- = max(-w, 0) * c`` with
        ``c = g_max / weight_scale`` S per weight unit, so ``|w| = weight_scale`` maps to
        ``g_max``. The targets are then quantised to ``n_levels`` (if set), written with
        programming noise (stuck devices ignore the write), optionally improved by
        program-and-verify, and each written device draws its drift exponent. The clock
        goes back to 0, and a calibration read (every row at ``read_voltage``, one read
        period, so :attr:`time` is ``dt`` afterwards) records the baseline of global drift
        compensation.

        Parameters
        ----------
        weights : array of shape (n_rows, n_outputs), or (n_rows, len(pairs))
            Finite weights, ``|w| <= weight_scale``.
        weight_scale : float > 0, optional
            The weight that maps to ``g_max``; default ``max |weights|`` (1.0 if all are 0).
        verify_iterations : int >= 0, default 0
            Program-and-verify passes: each reads every device back (with the read noise of
            a read at ``t0``) and rewrites those further than ``tolerance`` from target.
        tolerance : float, S (> 0), optional
            Verify tolerance; default ``0.04 * g_max`` (1 uS for the default PCM device,
            about the programming noise at high conductance).
        pairs : sequence of int or None
            Write only these differential pairs (outputs ``k``: columns ``2k``, ``2k+1``),
            in this order; every other device keeps its conductance and drift exponent,
            as when a chip writes one block of devices after another. The clock still
            goes back to 0 for the whole array (the earlier writes are treated as
            simultaneous: drift is negligible before ``drift_reference_time``). The
            report then covers the written pairs only. None writes every pair.

        Returns
        -------
        ProgramReport

        Raises
        ------
        ValueError
            Wrong shape, non-finite weights, weights beyond ``weight_scale``, pair
            indices outside ``[0, n_outputs)`` or repeated.

        Examples
        --------
        >>> import numpy as np
        >>> from substrates.crossbar import Crossbar
        >>> xbar = Crossbar(2, 2, random_state=1)
        >>> r = xbar.program(np.array([[0.5], [-1.0]]))
        >>> (r.target_conductance * 1e6).round(1).tolist()  # uS: (G+, G-) per row
        [[12.5, 0.0], [0.0, 25.0]]
        """
        pairs = self._pairs(pairs)
        shape = (self.n_rows, pairs.size)
        w = _matrix("weights", weights, shape, "weight units")
        peak = float(np.max(np.abs(w))) if w.size else 0.0
        if weight_scale is None:
            weight_scale = peak if peak > 0 else 1.0
        weight_scale = _real("weight_scale", weight_scale, low=0.0, low_open=True)
        if peak > weight_scale * (1 + 1e-12):
            raise ValueError(
                f"weights must lie within +-weight_scale = +-{weight_scale:g} (the weight that maps "
                f"to g_max = {self.device.g_max:g} S), got max |w| = {peak:g}"
            )
        c = self.device.g_max / weight_scale
        g_plus = np.minimum(np.maximum(w, 0.0) * c, self.device.g_max)
        g_minus = np.minimum(np.maximum(-w, 0.0) * c, self.device.g_max)
        return self._program(g_plus, g_minus, w, c, verify_iterations, tolerance, pairs)

    def program_conductances(self, g_plus, g_minus, *, verify_iterations: int = 0,
                             tolerance: float | None = None, pairs=None) -> ProgramReport:
        """Write target conductances directly into the differential pairs, at t = 0.

        As :meth:`program` with the mapping skipped; weights in the report are
        ``G+ - G-`` in S (``conductance_per_weight = 1``).

        Parameters
        ----------
        g_plus, g_minus : arrays of shape (n_rows, n_outputs), or (n_rows, len(pairs)), S
            Targets in ``[0, g_max]``.
        verify_iterations, tolerance, pairs : see :meth:`program`

        Raises
        ------
        ValueError
            Wrong shape, non-finite values, or conductances outside ``[0, g_max]``.
        """
        pairs = self._pairs(pairs)
        shape = (self.n_rows, pairs.size)
        g_max = self.device.g_max
        gp = _matrix("g_plus", g_plus, shape, "S")
        gm = _matrix("g_minus", g_minus, shape, "S")
        for name, g in (("g_plus", gp), ("g_minus", gm)):
            outside = (g < 0) | (g > g_max)
            if np.any(outside):
                i, j = np.argwhere(outside)[0]
                raise ValueError(f"{name} must lie in the device range [0, g_max] = [0, {g_max:g}] S; "
                                 f"[{i}, {j}] is {g[i, j]:g} S")
        return self._program(gp, gm, gp - gm, 1.0, verify_iterations, tolerance, pairs)

    def _pairs(self, pairs):
        """Validated differential-pair indices, int array (every pair when None)."""
        if pairs is None:
            return np.arange(self.n_outputs)
        try:
            index = np.asarray(pairs)
        except (TypeError, ValueError):
            index = np.asarray([None])
        if index.ndim != 1 or index.size < 1 or index.dtype.kind not in "iu":
            raise ValueError(f"pairs must be a non-empty sequence of int (differential pairs), "
                             f"got {pairs!r}")
        if index.min() < 0 or index.max() >= self.n_outputs or np.unique(index).size != index.size:
            raise ValueError(f"pairs must be distinct indices in [0, n_outputs) = [0, {self.n_outputs}), "
                             f"got {index.tolist()}")
        return index.astype(np.int64)

    def _program(self, g_plus, g_minus, target_weights, c, verify_iterations, tolerance, pairs):
        device = self.device
        verify_iterations = _count("verify_iterations", verify_iterations, 0, ">= 0")
        if tolerance is None:
            tolerance = 0.04 * device.g_max
        tolerance = _real("tolerance", tolerance, low=0.0, low_open=True, unit=" (S)")
        if (pairs.size < self.n_outputs and self._conductance_per_weight is not None
                and not math.isclose(c, self._conductance_per_weight, rel_tol=1e-12)):
            raise ValueError(
                f"a write of some pairs must keep the array's conductance_per_weight "
                f"({self._conductance_per_weight:g} S per weight unit), got {c:g}: pass the same "
                "weight_scale as the earlier write (or write every pair)")
        # the written devices: columns 2k, 2k+1 of each pair k, in the order given
        columns = np.column_stack([2 * pairs, 2 * pairs + 1]).ravel()
        requested = np.empty((self.n_rows, columns.size))
        requested[:, 0::2] = g_plus
        requested[:, 1::2] = g_minus
        target = requested.copy()
        if self.n_levels is not None:
            step = device.g_max / (self.n_levels - 1)
            target = np.rint(target / step) * step
            np.minimum(target, device.g_max, out=target)
        stuck = self._stuck[:, columns]
        key_write, key_read = (np.uint64(k) for k in self._program_rng.integers(2**63, size=2))
        written = np.empty(target.size)
        history = np.zeros(verify_iterations + 1)
        c0, c1, c2 = device.programming_noise_coefficients
        used = K.program_devices(
            target.ravel(), stuck.ravel(), self._stuck_value[:, columns].ravel(), c0, c1, c2,
            device.programming_noise_scale, device.g_max, device.read_noise_coefficient,
            device.read_noise_exponent, device.read_noise_max,
            device.read_noise_scale * device.read_noise_time_factor(0.0),
            verify_iterations, tolerance, key_write, key_read, written, history)
        written = written.reshape(target.shape)
        mean, spread = device.drift_nu_statistics(target / device.g_max)
        nu = np.abs(mean + spread * self._program_rng.standard_normal(target.shape))
        self._g = self._g.copy()
        self._g[:, columns] = written
        self._nu = self._nu.copy()
        self._nu[:, columns] = np.where(stuck, 0.0, device.drift_scale * nu)
        self._q = device.read_noise_relative(self._g / device.g_max)
        self._time = 0.0
        self._conductance_per_weight = float(c)
        self._calibration = None
        self._calibration = self._calibration_read()

        effective = (written[:, 0::2] - written[:, 1::2]) / c
        return ProgramReport(
            requested_conductance=requested,
            target_conductance=target,
            written_conductance=written.copy(),
            target_weights=np.array(target_weights, dtype=np.float64),
            effective_weights=effective,
            conductance_per_weight=float(c),
            weight_rms_error=float(np.sqrt(np.mean((effective - target_weights) ** 2))),
            conductance_rms_error=float(history[used]),
            rms_error_history=history[:used + 1].copy(),
            stuck_devices=int(stuck.sum()),
            verify_iterations_used=int(used),
            tolerance=tolerance,
            pairs=pairs.copy(),
        )

    # ------------------------------------------------------------------ reads
    def _read(self, voltages, hidden_stride=0):
        """Clean column currents (n, n_cols) A of reads at the current time; advances the clock."""
        n = voltages.shape[0]
        times = self._time + np.arange(n) * self.dt
        currents = np.empty((n, self.n_cols))
        n_hidden = -(-n // hidden_stride) if hidden_stride else 0
        hidden = np.empty((n_hidden, self.n_rows * self.n_cols))
        d = self.device
        K.read_currents(np.ascontiguousarray(voltages, dtype=np.float64), times, self._g, self._nu,
                        self._q, d.drift_reference_time, d.read_time, d.read_noise_scale,
                        self._read_key, self._n_reads, hidden_stride, currents, hidden)
        self._n_reads += n
        self._time += n * self.dt
        return currents, hidden

    def _calibration_read(self):
        """Sum of all column currents for every row at +read_voltage (one read), A."""
        currents, _ = self._read(np.full((1, self.n_rows), self.read_voltage))
        return float(currents.sum())

    def drift_compensation_factor(self) -> float:
        """Global drift compensation (Joshi et al. 2020): baseline / now, from one calibration read.

        Drives every row at ``+read_voltage`` for one read (advancing the clock by ``dt``)
        and divides the sum of all column currents recorded right after programming by the
        sum now. Multiplying later outputs by this factor undoes the average drift (not
        its device-to-device spread). Both reads carry read noise, averaged over all
        devices.

        Returns
        -------
        float (>= 1 once drift has set in)

        Raises
        ------
        ValueError
            Before the crossbar is programmed, or when it conducts no current.
        """
        if self._calibration is None or self._calibration <= 0:
            raise ValueError("drift compensation needs a programmed crossbar with nonzero "
                             "conductances (call program() first)")
        now = self._calibration_read()
        if now <= 0:
            raise ValueError("drift compensation failed: the calibration read gave no current")
        return self._calibration / now

    def _voltages(self, stimulus, n_samples):
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        if stimulus.unit != "V":
            raise ValueError(f"stimulus.unit must be 'V' (crossbar rows are voltage-driven), got "
                             f"{stimulus.unit!r}")
        n_stim = self._electrodes.n_stimulating
        if stimulus.n_channels != n_stim:
            raise ValueError(f"stimulus has {stimulus.n_channels} channels but the crossbar has "
                             f"{n_stim} rows: stimulus.n_channels must equal n_rows")
        data = stimulus.resample(self.dt).data
        peak = float(np.max(np.abs(data)))
        if peak > self.read_voltage * (1 + _VOLTAGE_RTOL):
            raise ValueError(f"stimulus must stay within +-read_voltage = +-{self.read_voltage:g} V "
                             f"(larger voltages disturb the devices), got max |V| = {peak:g} V")
        out = np.zeros((n_samples, n_stim))
        m = min(n_samples, data.shape[0])
        out[:m] = data[:m]
        return out

    def run(self, stimulus: Stimulus | None = None, duration: float | None = None, *,
            record_hidden: bool = False, hidden_sampling_rate: float = 1000.0,
            progress: bool = False, drift_compensation: bool = False) -> Recording:
        """Read the crossbar once per sample, from the current time on.

        Each sample is one read: the row voltages of that sample, the conductances at
        that time (drift, then a fresh draw of read noise for every device), the column
        currents ``I = V @ G``, then the column front end (amplifier noise, ADC) via
        ``electrodes.acquire``. The clock advances by ``dt`` per read.

        Parameters
        ----------
        stimulus : Stimulus of shape (n_samples, n_rows), unit V, optional
            Row voltages, ``|V| <= read_voltage``; resampled onto ``dt``. None reads with
            every row at 0 V.
        duration : float, s, optional
            Defaults to the stimulus duration; a longer run pads with 0 V, a shorter one
            uses the beginning.
        record_hidden : bool
            Also return ``hidden_state["device_conductance"]``: array (n_hidden_samples,
            n_rows * n_cols), S, the conductance each device had in the reads taken every
            ``1 / hidden_sampling_rate`` s (device ``i * n_cols + j``; read noise included,
            so at ``hidden_sampling_rate == sampling_rate`` the currents are ``V @ G``).
        hidden_sampling_rate : float, Hz
            A divisor of ``sampling_rate``.
        progress : bool
            Accepted for the substrate protocol; reads are fast, nothing is shown.
        drift_compensation : bool
            First take a calibration read (:meth:`drift_compensation_factor`) and multiply
            the recorded currents by the factor (a digital gain after the ADC). Off by
            default: a raw recording.

        Returns
        -------
        Recording of shape (n_samples, electrodes.n_recording), in A; ``metadata`` holds
        ``start_time`` (s since programming) and ``drift_compensation_factor``.
        """
        duration = run_duration(stimulus, duration)
        duration = _real("duration", duration, low=0.0, low_open=True, unit=" (s)")
        n_samples = round(duration / self.dt)
        if n_samples < 1:
            raise ValueError(f"duration must be at least one read period ({self.dt:g} s), got {duration:g}")
        voltages = (np.zeros((n_samples, self.n_rows)) if stimulus is None
                    else self._voltages(stimulus, n_samples))
        stride = 0
        if record_hidden:
            rate = _real("hidden_sampling_rate", hidden_sampling_rate, low=0.0, low_open=True, unit=" (Hz)")
            stride = steps_per_sample(rate, self.sampling_rate, "hidden_sampling_rate",
                                      "the read rate")
        factor = self.drift_compensation_factor() if drift_compensation else 1.0
        start = self._time
        currents, hidden = self._read(voltages, stride)
        array = self._electrodes
        columns = array.recording_electrodes - self.n_rows
        data = array.acquire(currents[:, columns], self._front_end_rng)
        if drift_compensation:
            data *= factor
        return Recording(
            data, self.sampling_rate, "A",
            electrode_positions=array.positions[array.recording_electrodes],
            channel_electrodes=array.recording_electrodes,
            hidden_state={"device_conductance": hidden} if record_hidden else None,
            hidden_sampling_rate=self.sampling_rate / stride if record_hidden else None,
            metadata={"substrate": "Crossbar", "n_rows": self.n_rows, "n_cols": self.n_cols,
                      "dt": self.dt, "start_time": start, "drift_compensation_factor": factor},
        )

    # ------------------------------------------------------------------ differential helpers
    def outputs_from_currents(self, currents, *, amplitude: float | None = None) -> np.ndarray:
        """Differential outputs in weight units from the currents of all physical columns.

        ``y_k = (I_{2k} - I_{2k+1}) / (amplitude * conductance_per_weight)``: with inputs
        encoded as ``V = x * amplitude``, ``y`` estimates ``x @ weights``.

        Parameters
        ----------
        currents : array (n_samples, n_cols), A
            A recording of every column in physical order (the default routing).
        amplitude : float, V per input unit, default ``read_voltage``

        Returns
        -------
        array (n_samples, n_outputs), weight units
        """
        if self._conductance_per_weight is None:
            raise ValueError("outputs_from_currents needs a programmed crossbar (call program() first)")
        i = np.asarray(currents, dtype=np.float64)
        if i.ndim != 2 or i.shape[1] != self.n_cols:
            raise ValueError(f"currents must have shape (n_samples, {self.n_cols}) (every physical "
                             f"column), got {i.shape}")
        amplitude = self.read_voltage if amplitude is None else _real(
            "amplitude", amplitude, low=0.0, low_open=True, unit=" (V)")
        return (i[:, 0::2] - i[:, 1::2]) / (amplitude * self._conductance_per_weight)

    def matvec(self, inputs, *, drift_compensation: bool = False) -> np.ndarray:
        """Analog ``inputs @ weights``: one read per input row, decoded to weight units.

        Parameters
        ----------
        inputs : array (n_samples, n_rows), in [-1, 1]
            Encoded as ``inputs * read_voltage`` V (:attr:`encoding`).
        drift_compensation : bool
            Rescale by :meth:`drift_compensation_factor` (one extra calibration read).

        Returns
        -------
        array (n_samples, n_outputs), weight units
        """
        x = np.asarray(inputs)
        if x.dtype.kind not in "iuf":
            raise TypeError(f"inputs must be a real array of shape (n_samples, {self.n_rows}), got dtype {x.dtype}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_rows or x.shape[0] < 1:
            raise ValueError(f"inputs must have shape (n_samples >= 1, {self.n_rows}), got {x.shape}")
        if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1.0:
            raise ValueError("inputs must be finite and within [-1, 1] (scaled to +-read_voltage)")
        if self._electrodes.n_recording != self.n_cols or not np.array_equal(
                self._electrodes.recording_electrodes, self._full_array.recording_electrodes):
            raise ValueError("matvec needs every column recorded in physical order "
                             "(restore the default routing of electrodes)")
        recording = self.run(Stimulus(x * self.read_voltage, self.dt, "V"),
                             drift_compensation=drift_compensation)
        return self.outputs_from_currents(recording.data)

    def read_weights(self, *, drift_compensation: bool = False) -> np.ndarray:
        """The weights as the crossbar holds them now, read one row at a time.

        Drives row ``i`` alone at ``+read_voltage`` (``n_rows`` reads, read noise and drift
        included) and decodes the differential outputs.

        Returns
        -------
        array (n_rows, n_outputs), weight units
        """
        return self.matvec(np.eye(self.n_rows), drift_compensation=drift_compensation)

    def __repr__(self):
        levels = "analog" if self.n_levels is None else f"{self.n_levels} levels"
        return (f"Crossbar({self.n_rows} x {self.n_cols}, g_max {self.device.g_max * 1e6:g} uS, "
                f"{levels}, {int(self._stuck.sum())} stuck, t = {self._time:g} s)")
