"""Numba kernels of the potato tissue: Butler-Volmer currents and the interface Newton solve.

The tissue is linear apart from the faradaic branches of the electrode interfaces. One
backward-Euler step ``A x + B i_F(B^T x) = r`` (``A = C/dt + G``, factorised once) is
reduced exactly to the few interface overpotentials ``eta = B^T x``:

    eta + M i_F(eta) = B^T A^{-1} r,     M = B^T A^{-1} B   (n_interfaces x n_interfaces)

solved here by damped Newton; the caller then recovers ``x = A^{-1} r - W i_F(eta)`` with
``W = A^{-1} B``. Arrays and scalars in, arrays out; no Python objects, no random state.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from substrates._numba import JIT

__all__ = ["faradaic_current", "solve_interfaces"]


@njit(**JIT)
def faradaic_current(eta, exchange_current, anodic_slope, cathodic_slope, current, conductance):
    """Butler-Volmer current and its derivative, per interface.

    ``current[k] = i0[k] (exp(ka eta[k]) - exp(-kc eta[k]))`` (A) and
    ``conductance[k] = d current / d eta`` (S), with ``ka = alpha_a F/(R T)``,
    ``kc = alpha_c F/(R T)`` in 1/V. Fills the output arrays of shape (n,).
    """
    for k in range(eta.size):
        ea = np.exp(anodic_slope * eta[k])
        ec = np.exp(-cathodic_slope * eta[k])
        current[k] = exchange_current[k] * (ea - ec)
        conductance[k] = exchange_current[k] * (anodic_slope * ea + cathodic_slope * ec)


@njit(**JIT)
def solve_interfaces(eta, target, coupling, exchange_current, anodic_slope, cathodic_slope,
                     current, tolerance, max_step, max_iterations):
    """Solve ``eta + coupling @ i_F(eta) = target`` in place by damped Newton.

    Parameters
    ----------
    eta : float64 (n,), V
        Start value (the previous step's overpotentials); overwritten by the solution.
    target : float64 (n,), V
        ``B^T A^{-1} r``: the overpotentials with the faradaic currents switched off.
    coupling : float64 (n, n), Ohm
        ``M = B^T A^{-1} B`` (symmetric positive definite).
    exchange_current : float64 (n,), A
    anodic_slope, cathodic_slope : float (1/V)
    current : float64 (n,), A
        Filled with ``i_F(eta)`` at the solution.
    tolerance : float, V
        Converged when the largest Newton update is below it.
    max_step : float, V
        Largest change of any eta per iteration (damping: keeps the exponentials finite).
    max_iterations : int

    Returns
    -------
    int : iterations used, or -1 when not converged.
    """
    n = eta.size
    conductance = np.empty(n)
    jac = np.empty((n, n))
    res = np.empty(n)
    for it in range(max_iterations):
        faradaic_current(eta, exchange_current, anodic_slope, cathodic_slope, current, conductance)
        for i in range(n):
            s = eta[i] - target[i]
            for j in range(n):
                s += coupling[i, j] * current[j]
                jac[i, j] = coupling[i, j] * conductance[j]
            jac[i, i] += 1.0
            res[i] = -s
        delta = np.linalg.solve(jac, res)
        largest = 0.0
        for i in range(n):
            largest = max(largest, abs(delta[i]))
        scale = 1.0 if largest <= max_step else max_step / largest
        for i in range(n):
            eta[i] += scale * delta[i]
        if largest < tolerance:
            faradaic_current(eta, exchange_current, anodic_slope, cathodic_slope, current, conductance)
            return it + 1
    return -1
