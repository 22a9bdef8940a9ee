"""Numba kernels of the memristive crossbar: the physics in one place.

Arrays and scalars in, arrays out; no Python objects and no global random state. Every
random number is a standard normal drawn from a counter-based SplitMix64 stream keyed by a
seed and a counter (read index x device, or pass x device), so a run split into chunks, or
a hidden-state row recomputed later, draws exactly the same numbers.

Units are SI throughout: V, A, S, s. A device ``(i, j)`` sits where row line ``i`` crosses
column line ``j``; its flat index is ``i * n_cols + j``.

Physics of one read (all rows driven at once, every column held at virtual ground by its
transimpedance amplifier, no wire resistance)::

    g_ij(t)  = g_prog_ij (max(t, t0) / t0) ** (-nu_ij)              drift
    g_ij    <- max(g_ij + sd_ij(t) N(0, 1), 0)                       1/f read noise
    I_j      = sum_i V_i g_ij                                        Ohm + Kirchhoff
"""

import math

import numpy as np
from numba import njit

from substrates._counter_rng import uniform01
from substrates._numba import JIT

_ONE = np.uint64(1)
_TWO = np.uint64(2)
_TWO_PI = 2.0 * math.pi


@njit(**JIT)
def standard_normal(key, counter):
    """A standard normal (Box-Muller on uniforms ``2 counter`` and ``2 counter + 1`` of ``key``)."""
    c = np.uint64(counter) * _TWO
    u1 = 1.0 - uniform01(key, c)  # in (0, 1]: log is finite
    u2 = uniform01(key, c + _ONE)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@njit(**JIT)
def normals(key, first, n):
    """``n`` standard normals at counters ``first .. first + n - 1`` of stream ``key`` (for tests)."""
    out = np.empty(n)
    for k in range(n):
        out[k] = standard_normal(key, np.uint64(first + k))
    return out


@njit(**JIT)
def read_currents(voltages, times, g_prog, nu, q_read, t0, t_read, read_noise_scale, key,
                  first_read, hidden_stride, currents, hidden):
    """Column currents of ``n_samples`` reads, each with its own drift and read noise.

    Parameters
    ----------
    voltages : (n_samples, n_rows) V
        Row voltages of each read.
    times : (n_samples,) s
        Time since programming of each read.
    g_prog, nu, q_read : (n_rows, n_cols)
        Programmed conductance (S), drift exponent, relative read noise ``Q_s``.
    t0, t_read : float, s
        Drift reference time and read duration of the 1/f model.
    read_noise_scale : float
    key : uint64
        Read-noise stream; read ``first_read + k`` of device ``d`` uses counter
        ``(first_read + k) * n_devices + d``.
    first_read : int
        Index of the first read since the stream was keyed.
    hidden_stride : int
        Store every ``hidden_stride``-th read's device conductances in ``hidden``; 0: none.
    currents : (n_samples, n_cols) A, output
    hidden : (n_samples // hidden_stride rounded up, n_rows * n_cols) S, output
    """
    n_samples, n_rows = voltages.shape
    n_cols = g_prog.shape[1]
    n_devices = n_rows * n_cols
    for k in range(n_samples):
        t = max(times[k], t0)
        log_ratio = math.log(t / t0)
        noise_time = read_noise_scale * math.sqrt(math.log((t + t_read) / (2.0 * t_read)))
        base = np.uint64(first_read + k) * np.uint64(n_devices)
        store = hidden_stride > 0 and k % hidden_stride == 0
        row_out = k // hidden_stride if hidden_stride > 0 else 0
        for j in range(n_cols):
            currents[k, j] = 0.0
        for i in range(n_rows):
            v = voltages[k, i]
            if v == 0.0 and not store:
                continue  # no current flows; the noise streams are counter-based, nothing shifts
            for j in range(n_cols):
                g = g_prog[i, j]
                if log_ratio > 0.0:
                    g = g * math.exp(-nu[i, j] * log_ratio)
                sd = g * q_read[i, j] * noise_time
                if sd > 0.0:
                    g = g + sd * standard_normal(key, base + np.uint64(i * n_cols + j))
                    g = max(g, 0.0)
                currents[k, j] += v * g
                if store:
                    hidden[row_out, i * n_cols + j] = g


@njit(**JIT)
def program_devices(target, stuck, stuck_value, c0, c1, c2, programming_noise_scale, g_max,
                    q_coefficient, q_exponent, q_max, verify_read_factor, verify_iterations,
                    tolerance, key_write, key_read, written, rms_history):
    """Write every device, then program-and-verify: read back, rewrite those off target.

    Parameters
    ----------
    target : (n_devices,) S
        Target conductances.
    stuck, stuck_value : (n_devices,) bool, S
        Stuck devices keep ``stuck_value`` whatever is written.
    c0, c1, c2 : float, S
        Programming-noise polynomial: ``sd = scale * max(c0 + c1 g + c2 g^2, 0)`` with
        ``g = target / g_max``; written values are clamped at 0 S.
    q_coefficient, q_exponent, q_max : float
        Relative read noise ``Q_s(g) = min(q_coefficient / g**q_exponent, q_max)`` of
        the written conductance.
    verify_read_factor : float
        ``read_noise_scale * sqrt(ln((t0 + t_read) / (2 t_read)))``: a verify read has
        the read noise of a read at ``t0``.
    verify_iterations : int
        At most this many verify passes. A pass reads every free device once and
        rewrites (a fresh write, independent noise) those whose read differs from the
        target by more than ``tolerance`` (S). Passes stop early when none is rewritten.
    key_write, key_read : uint64
        Streams of the write noise (counter ``pass * n_devices + d``, pass 0 the first
        write) and of the verify reads (counter ``pass * n_devices + d``).
    written : (n_devices,) S, output
    rms_history : (verify_iterations + 1,) S, output
        Root-mean-square of ``written - target`` over all devices after the first write
        and after each pass that rewrote something.

    Returns
    -------
    int : passes that rewrote at least one device.
    """
    n = target.size
    for d in range(n):
        if stuck[d]:
            written[d] = stuck_value[d]
        else:
            written[d] = _write(target[d], c0, c1, c2, programming_noise_scale, g_max,
                                key_write, np.uint64(d))
    rms_history[0] = _rms_error(written, target)
    used = 0
    for p in range(verify_iterations):
        rewritten = 0
        base = np.uint64(p) * np.uint64(n)
        for d in range(n):
            if stuck[d]:
                continue
            g = written[d]
            x = g / g_max
            q = q_max
            if x > 0.0:
                q = min(q_coefficient / x ** q_exponent, q_max)
            read = g + g * q * verify_read_factor * standard_normal(key_read, base + np.uint64(d))
            read = max(read, 0.0)
            if abs(read - target[d]) > tolerance:
                written[d] = _write(target[d], c0, c1, c2, programming_noise_scale, g_max,
                                    key_write, base + np.uint64(n + d))
                rewritten += 1
        if rewritten == 0:
            break
        used += 1
        rms_history[used] = _rms_error(written, target)
    return used


@njit(**JIT)
def _write(target, c0, c1, c2, scale, g_max, key, counter):
    x = target / g_max
    sd = scale * max(c0 + c1 * x + c2 * x * x, 0.0)
    g = target
    if sd > 0.0:
        g = target + sd * standard_normal(key, counter)
    return max(g, 0.0)


@njit(**JIT)
def _rms_error(written, target):
    total = 0.0
    for d in range(written.size):
        e = written[d] - target[d]
        total += e * e
    return math.sqrt(total / max(written.size, 1))
