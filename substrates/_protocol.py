"""What every substrate offers, so readouts, studies and students treat them alike.

A substrate is reached only through its :class:`~substrates.ElectrodeArray`:
:meth:`Substrate.run` takes a :class:`~substrates.Stimulus` on the stimulating electrodes
and returns a :class:`~substrates.Recording` of the recording channels. Recording is
passive (it does not change the physics), so a study may record every channel once and
select columns afterwards: ``electrodes.select(k)`` and ``recording.data[:, columns]``
give the same numbers, up to noise.

This module holds no code that runs a simulation; it names the contract and a helper
that checks an object keeps it.
"""

from __future__ import annotations

import math
import numbers
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["NotProgrammableError", "Substrate", "check_substrate", "run_duration", "steps_per_sample", "stimulus_on_grid"]


class NotProgrammableError(TypeError):
    """Raised when weights are written into a substrate that cannot be written (a potato, a brain)."""


@runtime_checkable
class Substrate(Protocol):
    """The contract of a simulated substrate (structural: no base class to inherit).

    Attributes
    ----------
    electrodes : ElectrodeArray
        The array through which the substrate is stimulated and recorded.
    dt : float, s
        The simulation time step.
    hidden_state_keys : tuple of str
        Time-series entries of ``Recording.hidden_state`` (each of shape
        (n_hidden_samples, n_units), sampled at ``hidden_sampling_rate``) that together are
        the substrate's full dynamic state: membrane potentials, ion concentrations, node
        voltages. Studies of what the electrodes reveal regress onto these.
    encoding : dict
        How a task's input reaches this substrate: keyword arguments of
        :meth:`Stimulus.encode` (``mode``, ``amplitude``, ``unit`` and, for pulse modes,
        ``max_rate`` / ``pulse_width``), plus ``hold``: the time in s each input step is
        held, matched to the substrate's own time constants.
    programmable : bool
        Whether :meth:`program` can write weights into it.

    Methods
    -------
    reset(seed=None)
        Back to the initial state; ``seed`` redraws the run-time noise.
    run(stimulus=None, duration=None, *, record_hidden=False, hidden_sampling_rate=..., progress=False)
        -> Recording with ``round(duration * electrodes.sampling_rate)`` samples and
        ``electrodes.n_recording`` channels, continuing from the current state.
    """

    electrodes: object
    dt: float
    hidden_state_keys: tuple
    encoding: dict
    programmable: bool

    def reset(self, seed=None) -> None: ...

    def run(self, stimulus=None, duration=None, *, record_hidden=False,
            hidden_sampling_rate=1000.0, progress=False): ...


def check_substrate(obj, name: str = "substrate"):
    """Return ``obj`` if it keeps the :class:`Substrate` contract, else raise TypeError naming what is missing."""
    missing = [attr for attr in ("electrodes", "dt", "hidden_state_keys", "encoding",
                                 "programmable", "reset", "run") if not hasattr(obj, attr)]
    if missing:
        raise TypeError(
            f"{name} must be a substrate (SpikingNetwork, Hydrogel, Potato, Crossbar, ...); "
            f"{type(obj).__name__} lacks {missing}"
        )
    return obj


def run_duration(stimulus, duration, context=""):
    """How long a ``run`` lasts: ``duration`` (s) if given, else the stimulus's duration.

    Raises a ValueError (ending in ``context``) when neither is given. The duration itself
    is checked by the substrate, against its own time step.
    """
    if duration is None:
        if stimulus is None:
            raise ValueError(f"give a stimulus or a duration (s){context}")
        duration = stimulus.duration
    return duration


def steps_per_sample(rate, base_rate, name, base="the simulation rate 1/dt"):
    """Whole base periods per sample when sampling at ``rate`` (Hz) a process at ``base_rate``.

    For a substrate's hidden-state or recording rate against its step rate ``1 / dt`` (or
    a crossbar's read rate): ``base_rate / rate`` must be a whole number >= 1 (to a
    relative 1e-9), else a ValueError naming ``name`` and ``base``.
    """
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not math.isfinite(rate) \
            or rate <= 0:
        raise ValueError(f"{name} must be a finite rate > 0 Hz, got {rate!r}")
    ratio = base_rate / rate
    stride = round(ratio)
    if stride < 1 or abs(ratio - stride) > 1e-9 * ratio:
        raise ValueError(f"{name} must divide {base} = {base_rate:g} Hz ({base} / {name} a "
                         f"whole number >= 1), got {rate!r} Hz")
    return stride


def stimulus_on_grid(stimulus, electrodes, dt, n_steps):
    """A Stimulus checked against ``electrodes`` and laid on a substrate's time grid.

    Parameters
    ----------
    stimulus : Stimulus of shape (n_samples, electrodes.n_stimulating)
    electrodes : ElectrodeArray
    dt : float, s
        The substrate's time step; the stimulus is resampled onto it.
    n_steps : int
        Steps of the run: a shorter stimulus is padded with zeros, a longer one cut.

    Returns
    -------
    (unit, values) : the stimulus unit ("A" or "V") and a float64 array of shape
        (n_steps, electrodes.n_stimulating).

    Raises
    ------
    TypeError
        When ``stimulus`` is not a Stimulus.
    ValueError
        When its channel count is not ``electrodes.n_stimulating`` or a sample is not finite.
    """
    from substrates._stimulus import Stimulus

    n_stim = electrodes.n_stimulating
    if not isinstance(stimulus, Stimulus):
        raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
    if stimulus.n_channels != n_stim:
        raise ValueError(
            f"stimulus has {stimulus.n_channels} channels but the array has {n_stim} "
            "stimulating electrodes: stimulus.n_channels must equal electrodes.n_stimulating"
        )
    data = stimulus.resample(dt).data
    if not np.all(np.isfinite(data)):
        raise ValueError("stimulus must be finite (no NaN or inf samples)")
    out = np.zeros((n_steps, n_stim))
    m = min(n_steps, data.shape[0])
    out[:m] = data[:m]
    return stimulus.unit, out
