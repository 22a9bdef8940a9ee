"""The echo-state-network baseline: a reservoirpy reservoir run on a task's raw inputs.

Every benchmark task (:mod:`readout._tasks`) also scores an echo state network (ESN) of a
chosen size, with no electrodes in between: the task's normalised inputs go straight into
a :class:`reservoirpy.nodes.Reservoir`, one reservoir update per input step, and its states
are read out by the same readout, split and metric as the substrate's features.

The reservoir (reservoirpy 0.4) updates as
``x[t] = (1 - lr) x[t-1] + lr tanh(W x[t-1] + W_in u[t])``, with ``W`` a sparse normal
matrix rescaled to spectral radius ``sr`` and ``W_in`` a sparse Bernoulli(+-input_scaling)
matrix; no bias. So ``x[t]`` has seen ``u[t]``, like a substrate's features at the end of
step ``t``.

Hyperparameters per task (:data:`ESN_PRESETS`) are those of reservoirpy's own material
where it has some:

* ``"classification"``: ``Reservoir(500, sr=0.9, lr=0.1)``, the Japanese-vowels
  classification tutorial (reservoirpy ``tutorials/5-Classification-with-RC.ipynb``);
* ``"mackey_glass"``: ``lr=0.3, sr=1.25``, the Mackey-Glass one-step example of
  reservoirpy's README;
* ``"henon"``: ``lr=0.5, sr=0.9``, reservoirpy's "Getting started" tutorial
  (``tutorials/1-Getting_Started.ipynb``; one-step prediction of a time series);
* ``"narma"`` and ``"memory"``: reservoirpy has no tutorial for them; we use the values
  common in the literature for these tasks (Jaeger 2001; Rodan and Tino 2011):
  ``sr=0.9, lr=1.0`` with input scaling 0.5 for NARMA10, and ``sr=0.95, lr=1.0`` with a
  small input scaling (0.1, near-linear regime) for the memory capacity.

The ridge penalty is not a preset: the task's readout chooses it (generalised
cross-validation), for the ESN as for the substrate.
"""

from __future__ import annotations

import numbers

import numpy as np

from substrates._random import check_random_state

__all__ = ["ESN_PRESETS", "esn_states"]

#: ESN hyperparameters per task family (keyword arguments of :func:`esn_states`).
ESN_PRESETS = {
    "memory": {"spectral_radius": 0.95, "leak_rate": 1.0, "input_scaling": 0.1},
    "narma": {"spectral_radius": 0.9, "leak_rate": 1.0, "input_scaling": 0.5},
    "mackey_glass": {"spectral_radius": 1.25, "leak_rate": 0.3, "input_scaling": 1.0},
    "henon": {"spectral_radius": 0.9, "leak_rate": 0.5, "input_scaling": 1.0},
    "classification": {"spectral_radius": 0.9, "leak_rate": 0.1, "input_scaling": 1.0},
}


def _fraction(value, name, *, low_open=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = (0.0 < value <= 1.0) if low_open else (0.0 <= value <= 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1]' if low_open else '[0, 1]'}, got {value}")
    return value


def esn_states(inputs, n_units, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
               input_connectivity=0.1, rc_connectivity=0.1, random_state=None):
    """States of a reservoirpy echo state network driven by ``inputs``, from a zero state.

    Parameters
    ----------
    inputs : array of shape (n_steps,) or (n_steps, n_inputs)
        Finite input sequence, one reservoir update per row.
    n_units : int >= 1
        Reservoir size.
    spectral_radius : float > 0
        Spectral radius of the recurrent matrix (reservoirpy ``sr``).
    leak_rate : float in (0, 1]
        Leak rate (reservoirpy ``lr``).
    input_scaling : float > 0
        Magnitude of the input weights.
    input_connectivity, rc_connectivity : float in (0, 1]
        Densities of the input and recurrent matrices (reservoirpy defaults, 0.1).
    random_state : int, Generator, SeedSequence or None
        Draws the reservoir's weights.

    Returns
    -------
    states : array of shape (n_steps, n_units), float64

    Examples
    --------
    >>> import numpy as np
    >>> u = np.sin(np.arange(50) / 5.0)
    >>> x = esn_states(u, 20, random_state=0)
    >>> x.shape, bool(np.all(np.abs(x) < 1))
    ((50, 20), True)
    >>> bool(np.array_equal(x, esn_states(u, 20, random_state=0)))  # same seed, same bits
    True
    """
    u = np.asarray(inputs)
    if u.dtype.kind not in "iuf":
        raise TypeError(f"inputs must hold real numbers, got dtype {u.dtype}")
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 1:
        u = u[:, None]
    if u.ndim != 2 or u.shape[0] < 1 or u.shape[1] < 1:
        raise ValueError(f"inputs must have shape (n_steps,) or (n_steps, n_inputs), got {np.shape(inputs)}")
    if not np.all(np.isfinite(u)):
        raise ValueError("inputs must be finite (no NaN or inf)")
    if isinstance(n_units, bool) or not isinstance(n_units, numbers.Integral) or n_units < 1:
        raise ValueError(f"n_units must be an integer >= 1, got {n_units!r}")
    for name, value in (("spectral_radius", spectral_radius), ("input_scaling", input_scaling)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    leak_rate = _fraction(leak_rate, "leak_rate")
    input_connectivity = _fraction(input_connectivity, "input_connectivity")
    rc_connectivity = _fraction(rc_connectivity, "rc_connectivity")
    seed = int(check_random_state(random_state).integers(0, 2**63 - 1))

    from reservoirpy.nodes import Reservoir

    reservoir = Reservoir(int(n_units), lr=leak_rate, sr=float(spectral_radius),
                          input_scaling=float(input_scaling),
                          input_connectivity=input_connectivity,
                          rc_connectivity=rc_connectivity, seed=seed)
    return np.asarray(reservoir.run(u), dtype=np.float64)
