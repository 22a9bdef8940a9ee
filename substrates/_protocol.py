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

from typing import Protocol, runtime_checkable

__all__ = ["NotProgrammableError", "Substrate", "check_substrate"]


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
