"""One helper for random_state arguments, and child streams.

Every stochastic object in jewelhead takes ``random_state`` (an int, a
``numpy.random.Generator``, a ``numpy.random.SeedSequence`` or None) and turns it into a
Generator here. Independent parts (weights, noise, stimulation) draw from their own
children, made by :func:`child_generators`, so changing the noise does not change
the network.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_random_state", "child_generators"]


def check_random_state(random_state) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for ``random_state``.

    Parameters
    ----------
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        None gives fresh OS entropy; an int >= 0 or a SeedSequence gives a reproducible
        generator; a Generator is returned unchanged (shared, not copied).

    Raises
    ------
    ValueError
        For a negative integer or any other type.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be an integer >= 0, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise ValueError(
        "random_state must be None, an int >= 0, a numpy SeedSequence or a numpy Generator, "
        f"got {type(random_state).__name__}"
    )


def child_generators(random_state, names) -> dict[str, np.random.Generator]:
    """Independent child generators, one per name, from one ``random_state``.

    The children are spawned in the order of ``names``, so adding a name at the end
    leaves the earlier streams unchanged.

    Parameters
    ----------
    random_state : see :func:`check_random_state`
    names : sequence of str

    Returns
    -------
    dict mapping each name to its own ``numpy.random.Generator``.
    """
    parent = check_random_state(random_state)
    children = parent.spawn(len(names))
    return dict(zip(names, children))
