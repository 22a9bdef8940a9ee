"""Numba kernels of the hydrogel: Scharfetter-Gummel fluxes, residual and Jacobian.

The physics in one place (the public class in ``_gel.py`` validates, allocates and runs
the Newton loop with scipy.sparse; nothing here touches Python objects or random state).

Unknowns per cell ``i`` (finite volumes on a regular grid): the total mobile-ion
concentration ``ct_i = c+_i + c-_i`` (mol/m^3) and the dimensionless potential
``psi_i = F phi_i / (R T)``. Electroneutrality ``c+ - c- + X = 0`` gives
``c+ = (ct - X) / 2`` and ``c- = (ct + X) / 2`` exactly, so only the sum and the
charge balance are solved:

- ion balance  ``V (ct - ct_old) / dt + sum_faces (Jp + Jm) - S = 0``      (mol/s)
- charge balance ``sum_faces (Jp - Jm) - I / F = 0``                         (mol/s)

with face fluxes out of cell ``a`` into its neighbour ``b`` (mol/s), ``d = psi_b - psi_a``,
Bernoulli function ``B(x) = x / (exp(x) - 1)`` (Scharfetter & Gummel 1969):

- ``Jp = kp (B(d) c+_a - B(-d) c+_b)``,  ``Jm = km (B(-d) c-_a - B(d) c-_b)``,

``kp = thickness * D+_face`` (m^3/s: face area / centre distance times diffusivity), the
same for ``km``. Every flux leaves one cell and enters the other, so the summed ion
content changes only through the electrode sources ``S``: conservation holds to
round-off by construction.

Electrode contacts (one gel cell each): a voltage-driven contact carries
``I = G V_T (v - psi + a + faradaic * ln(c- / c_ref))`` into its cell (A), ``v`` the
applied metal potential over ``V_T``, ``a`` an interface offset; a current-driven
contact carries a given ``I``. A faradaic (Ag/AgCl) contact exchanges chloride:
``S = -I / F``; a blocking (capacitive) one takes cations and gives anions in equal
amounts, ``S = 0``. A reservoir port is a ghost neighbour cell holding the salt at
``c_ref`` and the potential ``v``, joined to its cell by the same fluxes as a face.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from substrates._numba import JIT

# |x| below which B and B' use their Taylor series (the closed forms cancel badly there;
# the series' truncation error at 1e-4 is ~x^4/720 ~ 1e-19, below double rounding)
_SERIES = 1e-4


@njit(**JIT)
def bernoulli(x):
    """B(x) = x / (exp(x) - 1), B(0) = 1, and its derivative B'(x); overflow-safe."""
    if abs(x) < _SERIES:
        return 1.0 - 0.5 * x + x * x / 12.0, -0.5 + x / 6.0
    if x > 0.0:
        e = math.exp(-x)  # B(x) = x e^-x / (1 - e^-x)
        one_minus = -math.expm1(-x)
        b = x * e / one_minus
        # B'(x) = B(x)/x - B(x) - B(x)^2/x ... written as (1 - B(x) e^x) B(x) / x
        db = b / x - b * (1.0 / one_minus)
        return b, db
    em1 = math.expm1(x)  # x < 0: exp(x) - 1 in (-1, 0)
    b = x / em1
    db = b / x - b * (em1 + 1.0) / em1
    return b, db


@njit(**JIT)
def face_fluxes(ct, fixed_charge, a, b, kp_f, km_f, bp, bm):
    """Scharfetter-Gummel cation and anion fluxes across the face from cell a to cell b.

    ``bp = B(psi_b - psi_a)`` and ``bm = B(psi_a - psi_b)``; the ion concentrations of a
    cell follow from electroneutrality, ``c+- = (ct -+ X) / 2``. Returns
    ``(jp, jm, cpa, cpb, cma, cmb)``: the fluxes (mol/s) and the four concentrations.
    """
    cpa = 0.5 * (ct[a] - fixed_charge[a])
    cpb = 0.5 * (ct[b] - fixed_charge[b])
    cma = 0.5 * (ct[a] + fixed_charge[a])
    cmb = 0.5 * (ct[b] + fixed_charge[b])
    return kp_f * (bp * cpa - bm * cpb), km_f * (bm * cma - bp * cmb), cpa, cpb, cma, cmb


@njit(**JIT)
def assemble(ct, psi, ct_old, fixed_charge, volume, face_a, face_b, kp, km,
             contact_cell, contact_mode, contact_g, contact_v, contact_a, contact_current,
             contact_kp, contact_km, faradaic, c_ref, faraday, thermal_voltage, dt, explicit,
             residual, jac, contact_out):
    """Residual (2 n_cells,) and Jacobian block values of the backward-Euler system.

    Parameters
    ----------
    ct, psi, ct_old : float64 (n_cells,)
        Total ion concentration (mol/m^3) and potential / V_T at the iterate; ``ct`` at
        the start of the step.
    fixed_charge : float64 (n_cells,), mol/m^3
    volume : float
        Cell volume, m^3.
    face_a, face_b : int64 (n_faces,); kp, km : float64 (n_faces,), m^3/s
    contact_cell : int64 (n_contacts,)
    contact_mode : int64 (n_contacts,)
        1 voltage-driven through conductance ``contact_g`` (S) at ``contact_v`` (V / V_T)
        with offset ``contact_a``; 0 current-driven at ``contact_current`` (A); 2 a port
        onto a salt reservoir at ``c_ref`` and potential ``contact_v`` (V / V_T), with
        Scharfetter-Gummel fluxes through ``contact_kp``, ``contact_km`` (m^3/s).
    faradaic : bool
    c_ref : float, mol/m^3
        Chloride concentration at which the Ag/AgCl contact is at 0 V.
    explicit : bool
        Treat ``ct`` as fixed at ``ct_old`` (ion rows become ``V (ct - ct_old) / dt``).
    residual : float64 (2 n_cells,), out
        Interleaved: ``residual[2 i]`` ion balance, ``residual[2 i + 1]`` charge balance.
    jac : float64 (4 (n_cells + 2 n_faces),), out
        2x2 blocks: block ``i`` is the diagonal of cell ``i``; blocks
        ``n_cells + 2 f`` and ``n_cells + 2 f + 1`` the couplings (a, b) and (b, a) of
        face ``f``; entries (ion, ct), (ion, psi), (charge, ct), (charge, psi).
    contact_out : float64 (n_contacts,), out
        Current of each contact into the gel, A.

    Returns
    -------
    bool
        False when a concentration is not positive (the iterate is unphysical).
    """
    n = ct.size
    residual[:] = 0.0
    jac[:] = 0.0
    rate = volume / dt
    for i in range(n):
        cp = 0.5 * (ct[i] - fixed_charge[i])
        cm = 0.5 * (ct[i] + fixed_charge[i])
        if not (cp > 0.0 and cm > 0.0):
            return False
        residual[2 * i] = rate * (ct[i] - ct_old[i])
        jac[4 * i] = rate
    for f in range(face_a.size):
        a = face_a[f]
        b = face_b[f]
        d = psi[b] - psi[a]
        bp, dbp = bernoulli(d)
        bm, dbm = bernoulli(-d)
        jp, jm, cpa, cpb, cma, cmb = face_fluxes(ct, fixed_charge, a, b, kp[f], km[f], bp, bm)
        # derivatives (d/d psi_b; d/d psi_a is the negative); dB(-d)/dd = -B'(-d)
        jp_ca = 0.5 * kp[f] * bp
        jp_cb = -0.5 * kp[f] * bm
        jm_ca = 0.5 * km[f] * bm
        jm_cb = -0.5 * km[f] * bp
        jp_psib = kp[f] * (dbp * cpa + dbm * cpb)
        jm_psib = km[f] * (-dbm * cma - dbp * cmb)
        s_ca = jp_ca + jm_ca
        s_cb = jp_cb + jm_cb
        s_pb = jp_psib + jm_psib
        q_ca = jp_ca - jm_ca
        q_cb = jp_cb - jm_cb
        q_pb = jp_psib - jm_psib
        if not explicit:
            residual[2 * a] += jp + jm
            residual[2 * b] -= jp + jm
        residual[2 * a + 1] += jp - jm
        residual[2 * b + 1] -= jp - jm
        ab = 4 * (n + 2 * f)
        ba = ab + 4
        if not explicit:
            # ion rows
            jac[4 * a] += s_ca
            jac[4 * a + 1] -= s_pb
            jac[ab] += s_cb
            jac[ab + 1] += s_pb
            jac[ba] -= s_ca
            jac[ba + 1] += s_pb
            jac[4 * b] -= s_cb
            jac[4 * b + 1] -= s_pb
            # charge rows, ct columns
            jac[4 * a + 2] += q_ca
            jac[ab + 2] += q_cb
            jac[ba + 2] -= q_ca
            jac[4 * b + 2] -= q_cb
        # charge rows, psi columns
        jac[4 * a + 3] -= q_pb
        jac[ab + 3] += q_pb
        jac[ba + 3] += q_pb
        jac[4 * b + 3] -= q_pb
    for k in range(contact_cell.size):
        i = contact_cell[k]
        cm = 0.5 * (ct[i] + fixed_charge[i])
        if contact_mode[k] == 2:
            # a reservoir port: a ghost neighbour at (c_ref, c_ref, contact_v)
            cp = 0.5 * (ct[i] - fixed_charge[i])
            d = contact_v[k] - psi[i]
            bp, dbp = bernoulli(d)
            bm, dbm = bernoulli(-d)
            jp = contact_kp[k] * (bp * cp - bm * c_ref)
            jm = contact_km[k] * (bm * cm - bp * c_ref)
            jp_c = 0.5 * contact_kp[k] * bp
            jm_c = 0.5 * contact_km[k] * bm
            jp_psi = -contact_kp[k] * (dbp * cp + dbm * c_ref)
            jm_psi = contact_km[k] * (dbm * cm + dbp * c_ref)
            contact_out[k] = -faraday * (jp - jm)
            if not explicit:
                residual[2 * i] += jp + jm
                jac[4 * i] += jp_c + jm_c
                jac[4 * i + 1] += jp_psi + jm_psi
            residual[2 * i + 1] += jp - jm
            jac[4 * i + 2] += jp_c - jm_c
            jac[4 * i + 3] += jp_psi - jm_psi
            continue
        if contact_mode[k] == 1:
            g = contact_g[k] * thermal_voltage
            drive = contact_v[k] - psi[i] + contact_a[k]
            dcurrent_dct = 0.0
            if faradaic:
                drive += math.log(cm / c_ref)
                dcurrent_dct = g * 0.5 / cm
            current = g * drive
            dcurrent_dpsi = -g
        else:
            current = contact_current[k]
            dcurrent_dct = 0.0
            dcurrent_dpsi = 0.0
        contact_out[k] = current
        # charge balance: -I / F
        residual[2 * i + 1] -= current / faraday
        jac[4 * i + 2] -= dcurrent_dct / faraday
        jac[4 * i + 3] -= dcurrent_dpsi / faraday
        if faradaic and not explicit:
            # chloride leaves the gel at an anodic (positive) current: S = -I / F
            residual[2 * i] += current / faraday
            jac[4 * i] += dcurrent_dct / faraday
            jac[4 * i + 1] += dcurrent_dpsi / faraday
    return True


@njit(**JIT)
def explicit_update(ct_old, psi, fixed_charge, volume, face_a, face_b, kp, km,
                    contact_cell, contact_source, dt, ct_new):
    """Forward-Euler ion update at the potential ``psi``; returns the largest ``dt * out / V``.

    ``ct_new = ct_old - dt / V (sum_faces (Jp + Jm) - S)`` with the fluxes evaluated at
    ``ct_old`` and ``S = contact_source`` (mol/s into each contact's cell); the returned
    number is ``dt`` over the positivity (stability) limit of the step at this field:
    the step is stable when it is <= 1.
    """
    n = ct_old.size
    outflow = np.zeros(n)  # d(outflow)/d(ct_i): the forward-Euler stability coefficient
    ct_new[:] = ct_old
    for f in range(face_a.size):
        a = face_a[f]
        b = face_b[f]
        d = psi[b] - psi[a]
        bp, _ = bernoulli(d)
        bm, _ = bernoulli(-d)
        jp, jm, _, _, _, _ = face_fluxes(ct_old, fixed_charge, a, b, kp[f], km[f], bp, bm)
        s = jp + jm
        ct_new[a] -= dt / volume * s
        ct_new[b] += dt / volume * s
        outflow[a] += 0.5 * (kp[f] * bp + km[f] * bm)
        outflow[b] += 0.5 * (kp[f] * bm + km[f] * bp)
    for k in range(contact_cell.size):
        ct_new[contact_cell[k]] += dt / volume * contact_source[k]
    worst = 0.0
    for i in range(n):
        worst = max(worst, dt * outflow[i] / volume)
    return worst
