"""Compile a linear map into an iontronic hydrogel: fit a fixed-charge / crosslink pattern.

The gel computes with its DC transfer resistance. Input ``i`` of the map is a constant
current ``x_i * input_current`` (A) into stimulating electrode ``input_electrodes[i]``
(returning through the gel's grounded counter electrode); output ``j`` is the settled
potential difference between recording electrodes ``output_electrodes[j] = (positive,
negative)`` times a gain. In the small-signal limit

    y = x @ W_gel,   W_gel[i, j] = scale_j * (R[i, positive_j] - R[i, negative_j]),

with ``R`` the gel's transfer resistance (ohm, :meth:`Hydrogel.transfer_matrix`) and
``scale_j = input_current * output_gain_j`` (weight units per ohm).

Why differential outputs: every single-ended transfer resistance is positive (current
flowing into the gel raises the potential everywhere against the grounded counter), so a
map with signed weights cannot be a multiple of ``R``; the difference of two electrodes'
potentials can take either sign, the way a crossbar uses a differential pair of columns
and EIT measures between electrode pairs. An affine fit (``W ~ a R + b``) would also give
signs, but its offset ``b`` is a digital bias that does not scale with the input, so the
gel would not compute ``x @ W`` by itself; the pair does.

The fit (an inverse problem, as in electrical impedance tomography): the fixed-charge and
crosslink maps (one value per cell, each normalised onto its write range
``writing.fixed_charge_range`` / ``writing.crosslink_range``, box-bounded) minimise

    J = ||scale R_diff(maps) - W||_F^2 / ||W||_F^2 + smoothness * mean_faces (dp)^2,

with the scale fitted in closed form at every step (variable projection: one scale for the
whole map, or one per output with ``column_scaling=True``, like the crossbar's digital
gains), by L-BFGS-B (scipy) with exact gradients from the adjoint (reciprocity) method:
one linear solve per input and per output electrode gives ``dR_ij / dg_f = -grad u_i .
grad v_j`` on each face ``f`` (Geselowitz's sensitivity theorem), chained to the maps
(:meth:`Hydrogel.transfer_sensitivity`). ``dp`` is the difference of normalised map
values across a face: a penalty on patterns finer than the patterning can resolve.

Then the fitted maps are :meth:`~Hydrogel.program`-med into the gel (clipped, write noise
applied) and what was written is **measured**: a bench twin of the programmed gel (its
parameters and written maps, an ideal noise-free front end, a time step suited to
settling) is run with a small constant current into each input in turn, both polarities,
until the outputs settle; ``written = scale * (V(+I) - V(-I)) / (2 I)``. Backward Euler's
steady state does not depend on the time step, so the twin settles where the gel itself
would (after seconds: the diffusion time of the gel); its recording is noise-free so the
measurement is limited only by settling and the linearisation (the probe keeps every
electrode within 1 % of R T / F, and the two polarities cancel the quadratic term).
"""

from __future__ import annotations

import math
import time

import numpy as np

from distill._compile import CompileReport, CompileResult

__all__ = ["compile_hydrogel"]

_MAPS = ("fixed_charge", "crosslink")
# the probe current keeps every input electrode's potential below this fraction of R T / F
# (the linearisation error of the +-I pair is then ~(1e-2)^2, far below any fit error)
_PROBE_FRACTION = 1e-2


def _electrode_indices(name, value, shape_hint):
    try:
        idx = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an integer array {shape_hint}") from None
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name} must hold electrode indices (int), got dtype {idx.dtype}")
    return idx.astype(np.int64)


def _default_electrodes(gel, n_in, n_out):
    """Inputs and output pairs spread over the array (farthest-point order from the centre).

    The spread order (nearest the centroid first, then each next electrode as far as
    possible from those taken) is split: its first ``n_in`` stimulating electrodes are the
    inputs, the next ``2 n_out`` recording electrodes the outputs, paired (k, k + n_out).
    """
    array = gel.electrodes
    both = np.union1d(array.stimulating_electrodes, array.recording_electrodes)
    pts = array.positions[both]
    extent = float(np.ptp(pts, axis=0).max()) if both.size > 1 else 1.0
    tol = 1e-9 * extent
    order = [int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))]
    nearest = np.linalg.norm(pts - pts[order[0]], axis=1)
    for _ in range(both.size - 1):
        nearest[order] = -1.0
        nxt = int(np.flatnonzero(nearest >= nearest.max() - tol)[0])
        order.append(nxt)
        np.minimum(nearest, np.linalg.norm(pts - pts[nxt], axis=1), out=nearest)
    ordered = both[order]
    stim = ordered[np.isin(ordered, array.stimulating_electrodes)]
    if stim.size < n_in:
        raise ValueError(f"weights has {n_in} inputs but the array has only {stim.size} "
                         "stimulating electrodes: n_inputs must be <= electrodes.n_stimulating")
    inputs = stim[:n_in]
    rest = ordered[np.isin(ordered, array.recording_electrodes) & ~np.isin(ordered, inputs)]
    if rest.size < 2 * n_out:
        raise ValueError(
            f"weights has {n_out} outputs, each a differential pair of recording electrodes, "
            f"but only {rest.size} recording electrodes remain besides the {n_in} inputs: "
            f"need n_inputs + 2 n_outputs <= {both.size} (or pass output_electrodes sharing a "
            "reference electrode)"
        )
    return inputs, np.column_stack([rest[:n_out], rest[n_out:2 * n_out]])


def _check_electrodes(gel, w, input_electrodes, output_electrodes):
    n_in, n_out = w.shape
    array = gel.electrodes
    if input_electrodes is None and output_electrodes is None:
        return _default_electrodes(gel, n_in, n_out)
    if input_electrodes is None or output_electrodes is None:
        raise ValueError("give both input_electrodes and output_electrodes, or neither "
                         "(defaults spread over the array)")
    inputs = _electrode_indices("input_electrodes", input_electrodes, "of shape (n_inputs,)")
    outputs = _electrode_indices("output_electrodes", output_electrodes,
                                 "of shape (n_outputs, 2)")
    if inputs.ndim != 1 or inputs.size != n_in:
        raise ValueError(f"input_electrodes must have shape ({n_in},) (one per weights row), "
                         f"got {inputs.shape}")
    if outputs.ndim != 2 or outputs.shape != (n_out, 2):
        raise ValueError(f"output_electrodes must have shape ({n_out}, 2): a (positive, negative) "
                         f"pair per weights column, got {outputs.shape}")
    if np.unique(inputs).size != inputs.size:
        raise ValueError(f"input_electrodes must be distinct, got {inputs.tolist()}")
    bad = inputs[~np.isin(inputs, array.stimulating_electrodes)]
    if bad.size:
        raise ValueError(f"input_electrodes {bad.tolist()} cannot stimulate; allowed: "
                         f"{array.stimulating_electrodes.tolist()}")
    bad = np.unique(outputs[~np.isin(outputs, array.recording_electrodes)])
    if bad.size:
        raise ValueError(f"output_electrodes {bad.tolist()} are not recorded; allowed: "
                         f"{array.recording_electrodes.tolist()}")
    if np.any(outputs[:, 0] == outputs[:, 1]):
        raise ValueError("each output pair of output_electrodes needs two different electrodes, "
                         f"got {outputs.tolist()}")
    overlap = np.intersect1d(inputs, outputs)
    if overlap.size:
        raise ValueError(
            f"electrodes {overlap.tolist()} are both inputs and outputs: input_electrodes and "
            "output_electrodes must be disjoint (a current-carrying electrode reads its own "
            "interface drop, not the gel)"
        )
    return inputs, outputs


def _fit_scale(rd, w, column_scaling):
    """Closed-form least-squares scale(s) of ``rd`` onto ``w``: array (n_out,)."""
    if column_scaling:
        num = np.sum(rd * w, axis=0)
        den = np.sum(rd * rd, axis=0)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    den = float(np.sum(rd * rd))
    return np.full(w.shape[1], float(np.sum(rd * w)) / den if den > 0 else 0.0)


def _settle_measure(gel, inputs, outputs, probe_current, settle_time, max_settle_rounds,
                    settle_tolerance):
    """Measured transfer (n_in, n_unique_outputs) ohm, by running a bench twin of ``gel``."""
    from substrates import Stimulus
    from substrates.hydrogel import Hydrogel

    steps = 100
    dt = settle_time / steps
    array = gel.electrodes.replace(noise_rms=0.0, adc_bits=None, sampling_rate=1.0 / dt)
    twin = Hydrogel(array, dt=dt, gel=gel.gel, interface=gel.interface, solver=gel.solver,
                    writing=gel.writing, readout="potential", random_state=0)
    twin.pattern(fixed_charge=gel.fixed_charge, crosslink=gel.crosslink)
    channel = np.searchsorted(array.recording_electrodes, outputs)
    stim_channel = np.searchsorted(array.stimulating_electrodes, inputs)
    measured = np.zeros((inputs.size, outputs.size))
    worst_change = 0.0
    rounds_used = 0
    for i in range(inputs.size):
        reading = []
        for sign in (1.0, -1.0):
            twin.reset()
            data = np.zeros((steps, array.n_stimulating))
            data[:, stim_channel[i]] = sign * probe_current
            stim = Stimulus(data, dt, "A")
            last = twin.run(stim).data[-1, channel]
            change = math.inf
            for rounds in range(2, max_settle_rounds + 1):
                now = twin.run(stim).data[-1, channel]
                change = float(np.max(np.abs(now - last)) / max(np.max(np.abs(now)), 1e-300))
                last = now
                if change <= settle_tolerance:
                    break
            rounds_used = max(rounds_used, rounds)
            worst_change = max(worst_change, change)
            reading.append(last)
        measured[i] = (reading[0] - reading[1]) / (2.0 * probe_current)
    return measured, worst_change, rounds_used * settle_time


def compile_hydrogel(weights, gel, *, input_electrodes=None, output_electrodes=None,
                     maps=_MAPS, column_scaling=False, smoothness=0.0, max_iterations=300,
                     tolerance=1e-12, measure=True, settle_time=None, max_settle_rounds=8,
                     settle_tolerance=1e-7, progress=None) -> CompileResult:
    """Fit, program and measure a hydrogel pattern whose DC transfer is ``weights``.

    Parameters
    ----------
    weights : array of shape (n_inputs, n_outputs)
        Target map ``y = x @ weights`` (finite; checked by :func:`distill.compile`).
    gel : Hydrogel
        Programmed in place (its write noise applies). Needs Ag/AgCl electrodes, a
        counter electrode and potential readout (``readout="potential"``).
    input_electrodes : sequence of int, shape (n_inputs,), optional
        Stimulating electrode of each input (current into it, A).
    output_electrodes : array of int, shape (n_outputs, 2), optional
        (positive, negative) recording electrodes of each output; a negative may be
        shared (a common reference). Disjoint from the inputs. Default for both: spread
        over the array (needs ``n_inputs + 2 n_outputs`` electrodes; 16 on the default
        array).
    maps : tuple of {"fixed_charge", "crosslink"}
        Which maps are fitted (the others keep the gel's current values).
    column_scaling : bool
        False (default): one scale for the whole map (the gel alone sets the ratios of
        all weights). True: one per output (a digital gain after each differential
        amplifier, as for the crossbar; a column's sign and size are then free).
    smoothness : float (>= 0)
        Weight of the mean squared difference of normalised map values across faces.
    max_iterations : int (>= 1)
        L-BFGS-B iterations.
    tolerance : float (> 0)
        L-BFGS-B's ``ftol`` on the relative loss.
    measure : bool
        True (default): ``written`` is measured by running the programmed gel's bench
        twin (see the module notes). False: ``written`` is the forward model of the
        written maps (no run).
    settle_time : float, s, optional
        Length of one settling round (default five slowest diffusion times
        ``(size / pi)^2 / D_min`` of the written gel); rounds repeat, up to
        ``max_settle_rounds``, until the outputs change by less than
        ``settle_tolerance`` (relative) from one round to the next.
    progress : callable, optional
        Called as ``progress(iteration, relative_loss)`` after each L-BFGS-B iteration.

    Returns
    -------
    CompileResult
        ``report.asked`` the weights; ``report.written`` the measured (or modelled)
        map of the programmed gel in weight units, ``scale * R_diff``; ``report.details``:

        - ``input_electrodes`` (n_in,), ``output_electrodes`` (n_out, 2);
        - ``scale_per_ohm`` (n_out,): weight units per ohm, ``input_current_A`` (the
          probe current, A per unit input within the linear regime) and
          ``output_gain_per_V`` (n_out,) = ``scale / input_current``;
        - ``fitted_fixed_charge``, ``fitted_crosslink`` (ny, nx): the maps asked of
          :meth:`Hydrogel.program`; ``written_fixed_charge``, ``written_crosslink``;
        - ``loss_history`` (relative loss per iteration), ``iterations``,
          ``function_evaluations``, ``optimizer_message``, ``fit_seconds``;
        - ``fit_relative_error`` (fitted maps' model vs asked), ``model_relative_error``
          (written maps' model vs asked), ``uniform_relative_error`` (the gel's starting
          maps, as a baseline), ``measured_relative_error`` (= report.relative_error
          when measured);
        - ``model_transfer_ohm`` (n_in, n_out) of the written maps, and when measured
          ``measured_transfer_ohm``, ``model_vs_measured`` (relative difference),
          ``settling_change`` and ``settling_time_s``.

    Raises
    ------
    ValueError
        Electrodes not on the array, overlapping inputs and outputs, too few electrodes,
        bad options, or a gel whose interface has no DC path.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates.hydrogel import Hydrogel, WriteParameters
    >>> from distill import compile
    >>> gel = Hydrogel(writing=WriteParameters(write_noise=0.0), random_state=0)
    >>> result = compile(np.array([[1.0, -0.5], [0.3, 0.8]]), gel, max_iterations=60,
    ...                  measure=False)
    >>> result.report.written.shape, result.report.relative_error < 0.1
    ((2, 2), True)
    """
    from scipy.optimize import minimize

    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError("weights must be a finite array of shape (n_inputs, n_outputs)")
    if gel.readout != "potential":
        raise ValueError("compile needs a gel with readout='potential' (outputs are electrode "
                         f"potentials), got readout={gel.readout!r}")
    if isinstance(maps, str):
        maps = (maps,)
    maps = tuple(maps)
    if not maps or any(m not in _MAPS for m in maps) or len(set(maps)) != len(maps):
        raise ValueError(f"maps must be a non-empty tuple of distinct names from {_MAPS}, got {maps!r}")
    for name, value, low in (("smoothness", smoothness, 0.0), ("tolerance", tolerance, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < low or (name == "tolerance" and value == 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if name == 'tolerance' else '>= 0'}, "
                             f"got {value!r}")
    for name, value in (("max_iterations", max_iterations), ("max_settle_rounds", max_settle_rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "max_iterations" else 2):
            raise ValueError(f"{name} must be an integer >= {1 if name == 'max_iterations' else 2}, "
                             f"got {value!r}")
    if settle_time is not None and (isinstance(settle_time, bool) or not isinstance(settle_time, (int, float))
                                    or not math.isfinite(settle_time) or settle_time <= 0):
        raise ValueError(f"settle_time must be a finite time > 0 s, got {settle_time!r}")
    if not (isinstance(settle_tolerance, (int, float)) and settle_tolerance > 0):
        raise ValueError(f"settle_tolerance must be > 0, got {settle_tolerance!r}")
    if not np.any(w):
        raise ValueError("weights must not be all zero (nothing to fit a scale to)")
    inputs, pairs = _check_electrodes(gel, w, input_electrodes, output_electrodes)
    n_in, n_out = w.shape
    unique, where = np.unique(pairs, return_inverse=True)
    where = where.reshape(pairs.shape)
    combine = np.zeros((unique.size, n_out))  # R_diff = R @ combine
    combine[where[:, 0], np.arange(n_out)] += 1.0
    combine[where[:, 1], np.arange(n_out)] -= 1.0

    ranges = {"fixed_charge": gel.writing.fixed_charge_range,
              "crosslink": gel.writing.crosslink_range}
    start = {"fixed_charge": gel.fixed_charge.ravel(), "crosslink": gel.crosslink.ravel()}
    n = gel.n_cells
    a, b = gel._face_a, gel._face_b
    w_norm2 = float(np.sum(w * w))

    salt = gel.gel.salt_concentration

    def donnan_anion(x):
        return 0.5 * (x + np.sqrt(x * x + 4.0 * salt * salt))

    # the fixed charge is fitted through ln c- (the Donnan chloride, which sets the
    # conductance: c- = (X + sqrt(X^2 + 4 salt^2)) / 2, X = c- - salt^2 / c-), spread
    # linearly over [0, 1]: equal steps are equal relative conductance changes, which keeps
    # the problem well scaled over the range's three decades; the crosslink linearly
    log_lo, log_hi = (math.log(donnan_anion(v)) for v in ranges["fixed_charge"])

    def to_unit(name, values):
        low, high = ranges[name]
        if name == "fixed_charge":
            u = (np.log(donnan_anion(np.clip(values, low, high))) - log_lo) / (log_hi - log_lo)
        else:
            u = (values - low) / (high - low)
        return np.clip(u, 0.0, 1.0)

    def unpack(p):
        """Maps (ny, nx) from unit parameters, and d map / d p per cell."""
        out, slope = {}, {}
        for k, name in enumerate(maps):
            q = p[k * n:(k + 1) * n]
            if name == "fixed_charge":
                anion = np.exp(log_lo + (log_hi - log_lo) * q)
                out[name] = (anion - salt * salt / anion).reshape(gel.grid_shape)
                slope[name] = (anion + salt * salt / anion) * (log_hi - log_lo)
            else:
                low, high = ranges[name]
                out[name] = (low + (high - low) * q).reshape(gel.grid_shape)
                slope[name] = np.full(n, high - low)
        return out, slope

    p0 = np.concatenate([to_unit(m, start[m]) for m in maps])

    def model(fields):
        r = gel.transfer_matrix(inputs, unique, **fields)
        return r @ combine

    n_scale = n_out if column_scaling else 1
    n_map = len(maps) * n

    def objective(z):
        p, t = z[:n_map], z[n_map:]
        fields, slope = unpack(p)
        r, dx, dphi = gel.transfer_sensitivity(inputs, unique, **fields)
        rd = r @ combine
        s = s0 * (t if column_scaling else np.full(n_out, t[0]))
        resid = rd * s - w
        loss = float(np.sum(resid * resid)) / w_norm2
        g_rd = 2.0 * resid * s / w_norm2  # dJ/dR_diff
        g_s = 2.0 * np.sum(resid * rd, axis=0) / w_norm2 * s0  # dJ/dt per output
        g_r = g_rd @ combine.T  # (n_in, n_unique)
        grads = []
        for name in maps:
            d = dx if name == "fixed_charge" else dphi
            grads.append(np.einsum("iu,iuyx->yx", g_r, d).ravel() * slope[name])
        grads.append(g_s if column_scaling else np.array([g_s.sum()]))
        grad = np.concatenate(grads)
        if smoothness > 0:
            for k in range(len(maps)):
                q = p[k * n:(k + 1) * n]
                diff = q[a] - q[b]
                loss += smoothness * float(np.mean(diff * diff))
                gs = np.zeros(n)
                np.add.at(gs, a, 2.0 * smoothness * diff / a.size)
                np.add.at(gs, b, -2.0 * smoothness * diff / a.size)
                grad[k * n:(k + 1) * n] += gs
        return loss, grad

    history = []

    def callback(p):
        loss = objective(p)[0]
        history.append(loss)
        if progress is not None:
            progress(len(history), loss)

    uniform_rd = model({})
    uniform_error = _relative_error(uniform_rd * _fit_scale(uniform_rd, w, column_scaling), w)
    # scales start at the size that maps a typical single-ended transfer onto the weights
    # (not the closed-form scale: at a symmetric start a pair's difference can vanish, and
    # there the least-squares scale is 0 and its gradient too, a saddle the fit would sit on)
    single = gel.transfer_matrix(inputs, unique)
    s0 = float(np.linalg.norm(w) / np.linalg.norm(single))
    z0 = np.concatenate([p0, np.ones(n_scale)])
    t0 = time.perf_counter()
    history.append(objective(z0)[0])
    result = minimize(objective, z0, jac=True, method="L-BFGS-B",
                      bounds=[(0.0, 1.0)] * p0.size + [(None, None)] * n_scale, callback=callback,
                      options={"maxiter": max_iterations, "ftol": tolerance, "gtol": 1e-14,
                               "maxcor": 20})
    fit_seconds = time.perf_counter() - t0
    fitted = unpack(result.x[:n_map])[0]
    fitted_rd = model(fitted)
    scale = _fit_scale(fitted_rd, w, column_scaling)
    fit_error = _relative_error(fitted_rd * scale, w)

    programmed = gel.program(**fitted)
    written_maps = {"fixed_charge": gel.fixed_charge, "crosslink": gel.crosslink}
    model_rd = model({})  # the gel now holds the written maps
    model_error = _relative_error(model_rd * scale, w)
    details = {
        "input_electrodes": inputs,
        "output_electrodes": pairs,
        "maps_fitted": list(maps),
        "column_scaling": bool(column_scaling),
        "scale_per_ohm": scale,
        "fitted_fixed_charge": fitted.get("fixed_charge", start["fixed_charge"].reshape(gel.grid_shape)),
        "fitted_crosslink": fitted.get("crosslink", start["crosslink"].reshape(gel.grid_shape)),
        "written_fixed_charge": written_maps["fixed_charge"],
        "written_crosslink": written_maps["crosslink"],
        "write_rms_error": {k: v["rms_error"] for k, v in programmed.items()},
        "loss_history": [float(x) for x in history],
        "iterations": int(result.nit),
        "function_evaluations": int(result.nfev),
        "optimizer_message": str(result.message),
        "fit_seconds": fit_seconds,
        "fit_relative_error": fit_error,
        "model_relative_error": model_error,
        "uniform_relative_error": uniform_error,
        "model_transfer_ohm": model_rd,
    }
    self_r = np.diag(gel.transfer_matrix(inputs, inputs))
    probe = _PROBE_FRACTION * gel.thermal_voltage / float(self_r.max())
    details["input_current_A"] = probe
    details["output_gain_per_V"] = scale / probe
    written = model_rd * scale
    if measure:
        if settle_time is None:
            dmin = float(min(v.min() for v in gel.effective_diffusivity.values()))
            settle_time = 5.0 * (max(gel.gel.size) / math.pi) ** 2 / dmin
        measured_r, change, settled = _settle_measure(gel, inputs, unique, probe, float(settle_time),
                                                      max_settle_rounds, settle_tolerance)
        measured_rd = measured_r @ combine
        written = measured_rd * scale
        details["measured_transfer_ohm"] = measured_rd
        details["model_vs_measured"] = _relative_error(model_rd, measured_rd)
        details["settling_change"] = change
        details["settling_time_s"] = settled
        details["measured_relative_error"] = _relative_error(written, w)
    details["written_source"] = "measured" if measure else "model"
    return CompileResult(gel, CompileReport(asked=w, written=written, details=details))


def _relative_error(x, ref):
    norm = float(np.linalg.norm(ref))
    return float(np.linalg.norm(x - ref)) / norm if norm > 0 else float(np.linalg.norm(x))
