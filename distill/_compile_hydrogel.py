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
crosslink maps (one value per cell, box-bounded to the write ranges
``writing.fixed_charge_range`` / ``writing.crosslink_range``) minimise

    J = ||scale R_diff(maps) - W||_F^2 / ||W||_F^2 + smoothness * mean_faces (dp)^2,

with the scale fitted in closed form at every step (variable projection: one scale for the
whole map, or one per output with ``column_scaling=True``, like the crossbar's digital
gains; its sign is free, so W and -W are the same target). The unknowns are normalised to
[0, 1]: the crosslink linearly, the fixed charge through the logarithm of the Donnan
chloride concentration ``c-`` it sets (equal steps are equal relative conductance
changes over the range's three decades). Exact sensitivities come from the adjoint
(reciprocity) method: one linear solve per input and per output electrode gives
``dR_ij / dg_f = -grad u_i . grad v_j`` on each face ``f`` (Geselowitz's sensitivity
theorem), chained to the maps (:meth:`Hydrogel.transfer_sensitivity`); ``dp`` is the
difference of normalised map values across a face, a penalty on patterns finer than
photopatterning resolves. The minimiser is Levenberg-Marquardt (Gauss-Newton with
adaptive damping; with fewer residuals than unknowns each step is the damped minimum-norm
step ``-J^T (J J^T + lambda I)^-1 r`` of EIT's one-step reconstructions), box bounds kept
by freezing the unknowns a step would push past them and projecting. The problem is not
convex (a region driven to the insulating end stops carrying current, and with it its
own sensitivity), so the fit restarts from ``restarts`` random patterns besides the
gel's own maps and keeps the best.

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

from distill import _checks as checks
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


def _check_options(maps, column_scaling, smoothness, max_iterations, tolerance, restarts,
                   measure, settle_time, max_settle_rounds, settle_tolerance):
    if isinstance(maps, str):
        maps = (maps,)
    try:
        maps = tuple(maps)
    except TypeError:
        raise TypeError(f"maps must be a tuple of names from {_MAPS}, got {maps!r}") from None
    if not maps or any(m not in _MAPS for m in maps) or len(set(maps)) != len(maps):
        raise ValueError(f"maps must be a non-empty tuple of distinct names from {_MAPS}, got {maps!r}")
    for name, value in (("column_scaling", column_scaling), ("measure", measure)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    checks.nonnegative("smoothness", smoothness, "dimensionless")
    checks.positive("tolerance", tolerance, "relative error")
    checks.positive("settle_tolerance", settle_tolerance, "relative change")
    if settle_time is not None:
        checks.positive("settle_time", settle_time, "s")
    checks.count("max_iterations", max_iterations, 1)
    checks.count("restarts", restarts, 0)
    checks.count("max_settle_rounds", max_settle_rounds, 2)
    return maps


class _Fit:
    """The least-squares problem in normalised unknowns ``p`` in [0, 1]^(n_maps n_cells)."""

    def __init__(self, gel, w, inputs, unique, combine, maps, column_scaling, smoothness):
        self.gel, self.w, self.inputs, self.unique, self.combine = gel, w, inputs, unique, combine
        self.maps, self.column_scaling = maps, column_scaling
        self.n = gel.n_cells
        self.w_norm = float(np.linalg.norm(w))
        self.ranges = {"fixed_charge": gel.writing.fixed_charge_range,
                       "crosslink": gel.writing.crosslink_range}
        self.salt = gel.gel.salt_concentration
        self.log_range = tuple(math.log(self.anion(v)) for v in self.ranges["fixed_charge"])
        # smoothness: mu p^T L p per map, L the grid's graph Laplacian (mean over faces)
        self.mu = smoothness / gel._face_a.size
        self.evaluations = 0
        if self.mu > 0:
            from scipy import sparse

            a, b, n = gel._face_a, gel._face_b, self.n
            one = np.ones(a.size)
            lap = sparse.coo_matrix((np.concatenate([one, one, -one, -one]),
                                     (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                                    shape=(n, n))
            self.laplacian = sparse.block_diag([lap] * len(maps)).tocsr()

    def anion(self, x):
        return 0.5 * (x + np.sqrt(x * x + 4.0 * self.salt * self.salt))

    def to_unit(self, fields):
        """Normalised unknowns of maps {name: (n_cells,)} (clipped into the write ranges)."""
        out = []
        for name in self.maps:
            low, high = self.ranges[name]
            value = np.clip(fields[name], low, high)
            if name == "fixed_charge":
                lo, hi = self.log_range
                out.append((np.log(self.anion(value)) - lo) / (hi - lo))
            else:
                out.append((value - low) / (high - low))
        return np.clip(np.concatenate(out), 0.0, 1.0)

    def fields(self, p):
        """Maps {name: (ny, nx)} and d map / d p (n_cells,) from the unknowns."""
        out, slope = {}, {}
        for k, name in enumerate(self.maps):
            q = p[k * self.n:(k + 1) * self.n]
            if name == "fixed_charge":
                lo, hi = self.log_range
                anion = np.exp(lo + (hi - lo) * q)
                s2 = self.salt * self.salt
                x = np.clip(anion - s2 / anion, *self.ranges[name])  # X = c- - c+ (clip: round-off)
                out[name] = x.reshape(self.gel.grid_shape)
                slope[name] = (anion + s2 / anion) * (hi - lo)
            else:
                low, high = self.ranges[name]
                out[name] = (low + (high - low) * q).reshape(self.gel.grid_shape)
                slope[name] = np.full(self.n, high - low)
        return out, slope

    def model(self, fields):
        """R_diff (n_in, n_out), ohm, for maps (the gel's own where not given)."""
        return self.gel.transfer_matrix(self.inputs, self.unique, **fields) @ self.combine

    def evaluate(self, p):
        """Residual (n_in n_out,) relative to |W|, its Jacobian (n_in n_out, n_p), the scale."""
        self.evaluations += 1
        fields, slope = self.fields(p)
        r, dx, dphi = self.gel.transfer_sensitivity(self.inputs, self.unique, **fields)
        rd = r @ self.combine
        s = _fit_scale(rd, self.w, self.column_scaling)
        residual = (rd * s - self.w) / self.w_norm
        blocks = []
        for name in self.maps:
            d = (dx if name == "fixed_charge" else dphi).reshape(r.shape[0], r.shape[1], self.n)
            d = np.einsum("iuk,uj->ijk", d, self.combine) * (s / self.w_norm)[None, :, None]
            blocks.append(d * slope[name])
        jac = np.concatenate(blocks, axis=2).reshape(residual.size, -1)
        # Kaufman's variable projection: the scale's own dependence on p is left out of the
        # Jacobian (it is optimal, so it changes the loss only at second order)
        return residual.ravel(), jac, s

    def penalty(self, p):
        return self.mu * float(p @ (self.laplacian @ p)) if self.mu > 0 else 0.0

    def levenberg_marquardt(self, p, max_iterations, tolerance):
        """Damped Gauss-Newton from ``p``: (p, relative errors per iteration, message, loss)."""
        r, jac, _ = self.evaluate(p)
        loss = float(r @ r) + self.penalty(p)
        history = [math.sqrt(float(r @ r))]
        losses = [loss]
        damping = 1e-3
        message = f"stopped after max_iterations = {max_iterations}"
        for _ in range(max_iterations):
            if history[-1] <= tolerance:
                message = f"relative error <= tolerance = {tolerance:g}"
                break
            grad = jac.T @ r
            if self.mu > 0:
                grad = grad + self.laplacian @ p * self.mu
            # unknowns on a bound whose descent direction points out stay there this step
            free = ~(((p <= 0.0) & (grad > 0)) | ((p >= 1.0) & (grad < 0)))
            jf = jac[:, free]
            gram = jf @ jf.T
            level = max(np.trace(gram) / gram.shape[0], np.finfo(float).tiny)
            if self.mu > 0:
                curvature = self.mu * self.laplacian[free][:, free]
            while True:
                if self.mu > 0:
                    # (J^T J + mu L + d I) step = -grad by Woodbury: a sparse solve with
                    # mu L + d I and a small (n_residuals) dense one
                    from scipy import sparse
                    from scipy.sparse.linalg import splu

                    lu = splu((curvature + damping * level * sparse.identity(jf.shape[1])).tocsc())
                    a_g = lu.solve(grad[free])
                    a_jt = lu.solve(np.ascontiguousarray(jf.T))
                    small = np.eye(jf.shape[0]) + jf @ a_jt
                    step = -(a_g - a_jt @ np.linalg.solve(small, jf @ a_g))
                else:  # fewer residuals than unknowns: the small dual system
                    step = -jf.T @ np.linalg.solve(gram + damping * level * np.eye(gram.shape[0]), r)
                trial = p.copy()
                trial[free] = np.clip(p[free] + step, 0.0, 1.0)
                r_new, jac_new, _ = self.evaluate(trial)
                loss_new = float(r_new @ r_new) + self.penalty(trial)
                if loss_new < loss:
                    p, r, jac, loss = trial, r_new, jac_new, loss_new
                    damping = max(damping / 3.0, 1e-12)
                    break
                damping *= 4.0
                if damping > 1e8:
                    break
            if damping > 1e8:
                message = "no step lowers the loss (a local minimum)"
                break
            history.append(math.sqrt(float(r @ r)))
            losses.append(loss)
            if len(losses) > 20 and losses[-21] - losses[-1] <= 1e-6 * losses[-21]:
                message = "stalled (the loss fell by < 1e-6 of itself over 20 iterations)"
                break
        return p, history, message, loss


def compile_hydrogel(weights, gel, *, input_electrodes=None, output_electrodes=None,
                     maps=_MAPS, column_scaling=False, smoothness=0.0, max_iterations=200,
                     tolerance=1e-6, restarts=3, random_state=0, measure=True, settle_time=None,
                     max_settle_rounds=8, settle_tolerance=1e-7, progress=None) -> CompileResult:
    """Fit, program and measure a hydrogel pattern whose DC transfer is ``weights``.

    Parameters
    ----------
    weights : array of shape (n_inputs, n_outputs)
        Target map ``y = x @ weights`` (finite, not all zero).
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
        Weight of the mean squared difference of normalised map values across faces
        (default 0).
    max_iterations : int (>= 1)
        Levenberg-Marquardt iterations per start (default 200).
    tolerance : float (> 0)
        Stop when the fit's relative error ``||scale R_diff - W|| / ||W||`` is below it.
    restarts : int (>= 0)
        Random starting patterns tried besides the gel's current maps (default 3); the
        best fit is kept.
    random_state : int, Generator, SeedSequence or None
        Draws the restarts' patterns (default 0: the fit is deterministic; the write noise
        comes from the gel's own stream).
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
        Called as ``progress(start, iteration, relative_error)`` after each start's fit
        for each of its iterations.

    Returns
    -------
    CompileResult
        ``report.asked`` the weights; ``report.written`` the measured (or modelled)
        map of the programmed gel in weight units, ``scale * R_diff``; ``report.details``:

        - ``input_electrodes`` (n_in,), ``output_electrodes`` (n_out, 2);
        - ``scale_per_ohm`` (n_out,): weight units per ohm; ``input_current_A`` (the
          probe current: A per unit input keeping every input within 1 % of R T / F)
          and ``output_gain_per_V`` (n_out,) = ``scale / input_current``;
        - ``fitted_fixed_charge``, ``fitted_crosslink`` (ny, nx): the maps asked of
          :meth:`Hydrogel.program`; ``written_fixed_charge``, ``written_crosslink``;
          ``write_rms_error``;
        - ``loss_history`` (relative error per iteration of the best start),
          ``iterations``, ``start_errors`` (final relative error of each start; start 0
          is the gel's own maps), ``best_start``, ``function_evaluations``,
          ``optimizer_message``, ``fit_seconds``;
        - ``fit_relative_error`` (fitted maps' model vs asked), ``model_relative_error``
          (written maps' model vs asked), ``uniform_relative_error`` (the gel's maps
          before compiling, a baseline), ``measured_relative_error`` (=
          ``report.relative_error`` when measured);
        - ``model_transfer_ohm`` (n_in, n_out) of the written maps, and when measured
          ``measured_transfer_ohm``, ``model_vs_measured`` (relative difference),
          ``settling_change`` and ``settling_time_s``; ``written_source``.

    Raises
    ------
    ValueError
        Weights of a bad shape or not finite, electrodes not on the array, overlapping
        inputs and outputs, too few electrodes, bad options, or a gel whose interface has
        no DC path.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates.hydrogel import Hydrogel, WriteParameters
    >>> from distill import compile
    >>> gel = Hydrogel(writing=WriteParameters(write_noise=0.0), random_state=0)
    >>> result = compile(np.array([[1.0, -0.5], [0.3, 0.8]]), gel, measure=False)
    >>> result.report.written.shape, result.report.relative_error < 1e-3
    ((2, 2), True)
    """
    from distill._compile import _weights
    from substrates._random import check_random_state

    w = _weights(weights)
    if not np.any(w):
        raise ValueError("weights must not be all zero (there is no scale to fit)")
    if gel.readout != "potential":
        raise ValueError("compile needs a gel with readout='potential' (outputs are electrode "
                         f"potentials), got readout={gel.readout!r}")
    maps = _check_options(maps, column_scaling, smoothness, max_iterations, tolerance, restarts,
                          measure, settle_time, max_settle_rounds, settle_tolerance)
    inputs, pairs = _check_electrodes(gel, w, input_electrodes, output_electrodes)
    n_out = w.shape[1]
    unique, where = np.unique(pairs, return_inverse=True)
    where = where.reshape(pairs.shape)
    combine = np.zeros((unique.size, n_out))  # R_diff = R @ combine
    combine[where[:, 0], np.arange(n_out)] += 1.0
    combine[where[:, 1], np.arange(n_out)] -= 1.0

    fit = _Fit(gel, w, inputs, unique, combine, maps, bool(column_scaling), float(smoothness))
    uniform_rd = fit.model({})  # also checks the interface has a DC path
    uniform_error = _relative_error(uniform_rd * _fit_scale(uniform_rd, w, column_scaling), w)
    rng = check_random_state(random_state)
    own = fit.to_unit({"fixed_charge": gel.fixed_charge.ravel(), "crosslink": gel.crosslink.ravel()})
    starts = [own] + [rng.uniform(0.0, 1.0, own.size) for _ in range(int(restarts))]
    t0 = time.perf_counter()
    best = None
    start_errors = []
    for k, p0 in enumerate(starts):
        p, history, message, loss = fit.levenberg_marquardt(p0, int(max_iterations), float(tolerance))
        if progress is not None:
            for it, err in enumerate(history):
                progress(k, it, err)
        start_errors.append(history[-1])
        if best is None or loss < best[4]:
            best = (p, history, message, k, loss)
        if history[-1] <= tolerance:
            break
    fit_seconds = time.perf_counter() - t0
    p, history, message, best_start, _ = best
    fitted = fit.fields(p)[0]
    fitted_rd = fit.model(fitted)
    scale = _fit_scale(fitted_rd, w, column_scaling)
    fit_error = _relative_error(fitted_rd * scale, w)

    programmed = gel.program(**fitted)
    model_rd = fit.model({})  # the gel now holds the written maps
    details = {
        "input_electrodes": inputs,
        "output_electrodes": pairs,
        "maps_fitted": list(maps),
        "column_scaling": bool(column_scaling),
        "scale_per_ohm": scale,
        "fitted_fixed_charge": fitted.get("fixed_charge", gel.fixed_charge),
        "fitted_crosslink": fitted.get("crosslink", gel.crosslink),
        "written_fixed_charge": gel.fixed_charge,
        "written_crosslink": gel.crosslink,
        "write_rms_error": {k: v["rms_error"] for k, v in programmed.items()},
        "loss_history": [float(x) for x in history],
        "iterations": len(history) - 1,
        "start_errors": [float(x) for x in start_errors],
        "best_start": int(best_start),
        "function_evaluations": int(fit.evaluations),
        "optimizer_message": message,
        "fit_seconds": fit_seconds,
        "fit_relative_error": fit_error,
        "model_relative_error": _relative_error(model_rd * scale, w),
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
                                                      int(max_settle_rounds), float(settle_tolerance))
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
