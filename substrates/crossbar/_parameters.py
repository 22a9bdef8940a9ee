"""Device parameters of the memristive crossbar (a frozen dataclass, SI units).

The default device is the phase-change memory (PCM) statistical model of Joshi et al.
(2020), as implemented in IBM's aihwkit (``PCMLikeNoiseModel``). ``from_dict`` refuses
unknown keys by name, which is how the TOML configs are read.

References
----------
Joshi V, Le Gallo M, Haefeli S, Boybat I, Nandakumar SR, Piveteau C, Dazzi M, Rajendran B,
Sebastian A, Eleftheriou E (2020). Accurate deep neural network inference using
computational phase-change memory. Nature Communications 11:2473.

Nandakumar SR, Boybat I, Joshi V, Piveteau C, Le Gallo M, Rajendran B, Sebastian A,
Eleftheriou E (2019). Phase-change memory models for deep learning training and
inference. IEEE ICECS 2019, 727-730.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from substrates._records import ParameterRecord

__all__ = ["PCMParameters"]


def _check(name, value, low=None, high=None, *, low_open=False, unit=""):
    """Raise ValueError naming ``name`` unless ``value`` is a finite number inside the range."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{unit}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}{unit}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}{unit}, got {value!r}")


def _pair(name, value, unit=""):
    """A ``(low, high)`` pair of finite numbers with 0 <= low <= high, as a tuple of floats."""
    try:
        low, high = value
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a pair (low, high){unit}, got {value!r}") from exc
    _check(f"{name}[0]", low, 0.0, unit=unit)
    _check(f"{name}[1]", high, 0.0, unit=unit)
    if low > high:
        raise ValueError(f"{name} must satisfy low <= high{unit}, got {value!r}")
    return (float(low), float(high))


@dataclass(frozen=True)
class PCMParameters(ParameterRecord):
    """Statistics of one phase-change memory device (Joshi et al. 2020; aihwkit).

    With ``g = g_target / g_max`` the normalised target conductance:

    Programming noise (Gaussian, additive, written conductances clamped at 0 S)::

        sd_prog(g) = programming_noise_scale * max(c0 + c1 g + c2 g^2, 0)     [S]

    with ``(c0, c1, c2) = programming_noise_coefficients`` (fitted at g_max = 25 uS; scale
    them with ``g_max`` if you change it).

    Drift, from the time ``t0 = drift_reference_time`` after programming (a read before
    ``t0`` sees ``g(t0)``)::

        g_drift(t) = g_prog (max(t, t0) / t0) ** (-nu)
        nu = drift_scale * | mu(g) + sd(g) N(0, 1) |      (drawn once per device and write)
        mu(g) = clip(drift_nu_mean_slope ln g + drift_nu_mean_offset, *drift_nu_mean_range)
        sd(g) = clip(drift_nu_sd_slope ln g + drift_nu_sd_offset, *drift_nu_sd_range)

    Read (1/f) noise of a read at time ``t`` after programming::

        sd_read(t) = read_noise_scale * g_drift(t) * Q_s(g_prog) *
                     sqrt(ln((max(t, t0) + read_time) / (2 read_time)))
        Q_s(g) = min(read_noise_coefficient / g ** read_noise_exponent, read_noise_max)

    drawn independently for every device and every read; read conductances are clamped
    at 0 S.

    Attributes
    ----------
    g_max : float, S (> 0), default 25e-6
        Largest target conductance: the device range is ``[0, g_max]``. Written
        conductances may land slightly above it (programming noise), as in the model.
    programming_noise_coefficients : (float, float, float), S, default (0.26348e-6, 1.9650e-6, -1.1731e-6)
        Polynomial of the programming-noise standard deviation in ``g``.
    programming_noise_scale : float (>= 0), default 1.0
        Multiplies the programming noise (0 turns it off).
    drift_reference_time : float, s (> 0), default 20.0
        ``t0``: the first read of the drift fit.
    drift_nu_mean_slope, drift_nu_mean_offset : float, default -0.0155, 0.0244
    drift_nu_mean_range : (float, float), default (0.049, 0.1)
        Mean drift exponent ``mu(g)``, clipped to this range (about 0.05 at high g).
    drift_nu_sd_slope, drift_nu_sd_offset : float, default -0.0125, -0.0059
    drift_nu_sd_range : (float, float), default (0.008, 0.045)
        Device-to-device spread ``sd(g)`` of the drift exponent, clipped to this range.
    drift_scale : float (>= 0), default 1.0
        Multiplies every drift exponent (0 turns drift off).
    read_noise_coefficient : float (>= 0), default 0.0088
    read_noise_exponent : float (>= 0), default 0.65
    read_noise_max : float (>= 0), default 0.2
        ``Q_s(g)`` of the 1/f read noise (relative, dimensionless).
    read_time : float, s (> 0), default 250e-9
        ``t_read``: the duration of one read (the 1/f noise's high-frequency cut-off).
    read_noise_scale : float (>= 0), default 1.0
        Multiplies the read noise (0 turns it off).

    Examples
    --------
    >>> from substrates.crossbar import PCMParameters
    >>> p = PCMParameters()
    >>> round(p.programming_noise_sd(1.0) * 1e6, 4)  # uS at g = g_max
    1.0554
    >>> PCMParameters.from_dict({"g_max": 10e-6, "read_noise_scale": 0.0}).g_max
    1e-05
    """

    _tuples_as_lists = True  # to_dict writes tuples as lists, as TOML holds them

    g_max: float = 25e-6
    programming_noise_coefficients: tuple = (0.26348e-6, 1.9650e-6, -1.1731e-6)
    programming_noise_scale: float = 1.0
    drift_reference_time: float = 20.0
    drift_nu_mean_slope: float = -0.0155
    drift_nu_mean_offset: float = 0.0244
    drift_nu_mean_range: tuple = (0.049, 0.1)
    drift_nu_sd_slope: float = -0.0125
    drift_nu_sd_offset: float = -0.0059
    drift_nu_sd_range: tuple = (0.008, 0.045)
    drift_scale: float = 1.0
    read_noise_coefficient: float = 0.0088
    read_noise_exponent: float = 0.65
    read_noise_max: float = 0.2
    read_time: float = 250e-9
    read_noise_scale: float = 1.0

    def __post_init__(self):
        _check("g_max", self.g_max, 0.0, 1.0, low_open=True, unit=" (S)")
        coefficients = self.programming_noise_coefficients
        try:
            coefficients = tuple(coefficients)
        except TypeError as exc:
            raise ValueError("programming_noise_coefficients must be three numbers (S), "
                             f"got {coefficients!r}") from exc
        if len(coefficients) != 3:
            raise ValueError("programming_noise_coefficients must be three numbers (c0, c1, c2) "
                             f"in S, got {len(coefficients)}")
        for k, c in enumerate(coefficients):
            _check(f"programming_noise_coefficients[{k}]", c, unit=" (S)")
        object.__setattr__(self, "programming_noise_coefficients", tuple(float(c) for c in coefficients))
        for name in ("programming_noise_scale", "drift_scale", "read_noise_scale",
                     "read_noise_coefficient", "read_noise_exponent", "read_noise_max"):
            _check(name, getattr(self, name), 0.0)
        _check("drift_reference_time", self.drift_reference_time, 0.0, low_open=True, unit=" (s)")
        _check("read_time", self.read_time, 0.0, low_open=True, unit=" (s)")
        for name in ("drift_nu_mean_slope", "drift_nu_mean_offset", "drift_nu_sd_slope",
                     "drift_nu_sd_offset"):
            _check(name, getattr(self, name))
        object.__setattr__(self, "drift_nu_mean_range", _pair("drift_nu_mean_range", self.drift_nu_mean_range))
        object.__setattr__(self, "drift_nu_sd_range", _pair("drift_nu_sd_range", self.drift_nu_sd_range))
        if self.read_time >= self.drift_reference_time:
            raise ValueError(f"read_time ({self.read_time} s) must be shorter than "
                             f"drift_reference_time ({self.drift_reference_time} s)")

    # ------------------------------------------------------------------ records
    # ------------------------------------------------------------------ the model
    def programming_noise_sd(self, g):
        """Programming-noise standard deviation (S) at normalised target ``g = g_target / g_max``.

        Parameters
        ----------
        g : float or array, dimensionless, in [0, 1]

        Returns
        -------
        float or array like ``g``, S
        """
        c0, c1, c2 = self.programming_noise_coefficients
        g = np.asarray(g, dtype=np.float64)
        sd = self.programming_noise_scale * np.maximum(c0 + c1 * g + c2 * g * g, 0.0)
        return float(sd) if sd.ndim == 0 else sd

    def drift_nu_statistics(self, g):
        """Mean and spread of the drift exponent at normalised conductance ``g``.

        ``g`` is clipped below at 1e-7 (the log diverges at 0), as in aihwkit.

        Returns
        -------
        (mean, sd) : floats or arrays like ``g``, dimensionless, before ``drift_scale``
        """
        log_g = np.log(np.maximum(np.asarray(g, dtype=np.float64), 1e-7))
        mean = np.clip(self.drift_nu_mean_slope * log_g + self.drift_nu_mean_offset,
                       *self.drift_nu_mean_range)
        sd = np.clip(self.drift_nu_sd_slope * log_g + self.drift_nu_sd_offset, *self.drift_nu_sd_range)
        if mean.ndim == 0:
            return float(mean), float(sd)
        return mean, sd

    def read_noise_relative(self, g):
        """``Q_s(g)``: relative 1/f read-noise amplitude at normalised conductance ``g``."""
        g = np.asarray(g, dtype=np.float64)
        with np.errstate(divide="ignore"):
            q = np.minimum(self.read_noise_coefficient / g ** self.read_noise_exponent, self.read_noise_max)
        q = np.where(g > 0, q, self.read_noise_max)
        return float(q) if q.ndim == 0 else q

    def read_noise_time_factor(self, t):
        """``sqrt(ln((max(t, t0) + t_read) / (2 t_read)))`` for a read ``t`` s after programming."""
        t_eff = max(float(t), self.drift_reference_time)
        return math.sqrt(math.log((t_eff + self.read_time) / (2.0 * self.read_time)))
