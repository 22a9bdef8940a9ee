"""Compile: write a digital network's weights into a substrate through its device physics.

``compile(weights, substrate, ...)`` dispatches on the substrate: the crossbar
(differential conductance pairs, program-and-verify), the spiking network (a rate
network's weights onto synaptic weights through the neurons' transfer curve,
:mod:`distill._compile_spiking`), the hydrogel (a fixed-charge / crosslink pattern whose
electrode-to-electrode transfer approximates a target linear map, fitted by a gradient
method, :mod:`distill._compile_hydrogel`). Substrates that cannot be written (a potato, a
brain) raise :class:`substrates.NotProgrammableError`.

Every compile returns a :class:`CompileResult`: the programmed substrate and a report of
what was asked against what was actually written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from substrates._protocol import NotProgrammableError, check_substrate

__all__ = ["CompileReport", "CompileResult", "compile"]


@dataclass
class CompileReport:
    """What was asked against what was written.

    Attributes
    ----------
    asked : array
        The target weights (in the digital model's units).
    written : array, same shape as ``asked``
        The weights the substrate actually holds, in the same units (read back through the
        device model, noise-free).
    relative_error : float
        ``||written - asked||_F / ||asked||_F``.
    details : dict
        Substrate-specific numbers (conductance errors, stuck devices, fitted maps, ...).
    """

    asked: np.ndarray
    written: np.ndarray
    details: dict = field(default_factory=dict)

    @property
    def relative_error(self) -> float:
        norm = float(np.linalg.norm(self.asked))
        diff = float(np.linalg.norm(self.written - self.asked))
        return diff / norm if norm > 0 else diff

    def to_dict(self) -> dict:
        """JSON-ready summary (arrays as lists)."""
        out = {"relative_error": self.relative_error, "asked": np.asarray(self.asked).tolist(),
               "written": np.asarray(self.written).tolist()}
        for key, value in self.details.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


@dataclass
class CompileResult:
    """The programmed substrate and its :class:`CompileReport`."""

    substrate: object
    report: CompileReport


def _weights(weights):
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("weights must be a real array of shape (n_inputs, n_outputs)") from None
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must have shape (n_inputs, n_outputs), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (no NaN or inf)")
    return w


def _compile_crossbar(w, crossbar, *, column_scaling=True, verify_iterations=3, tolerance=None,
                      max_significance=16.0, readback_reads=16):
    n_rows, n_pairs = crossbar.n_rows, crossbar.n_outputs
    n_out = w.shape[1]
    if w.shape[0] != n_rows or n_pairs % n_out:
        allowed = ", ".join(f"({n_rows}, {k})" for k in range(n_pairs, 0, -1) if n_pairs % k == 0)
        raise ValueError(
            f"weights must have shape (n_rows, n_outputs) with n_outputs dividing the {n_pairs} "
            f"differential pairs of a crossbar of {n_rows} rows and {crossbar.n_cols} columns "
            f"(each output gets n_pairs / n_outputs pairs of descending significance): one of "
            f"{allowed}; got {w.shape}"
        )
    per_output = n_pairs // n_out
    max_significance = float(max_significance)
    if not np.isfinite(max_significance) or max_significance < 1.0:
        raise ValueError(f"max_significance must be a finite float >= 1, got {max_significance!r}")
    readback_reads = int(readback_reads)
    if readback_reads < 1:
        raise ValueError(f"readback_reads must be >= 1, got {readback_reads!r}")

    # Each output column uses the whole conductance range (its largest |weight| -> g_max)
    # and a digital gain after the ADC restores its scale, as analog-AI compilers do: a
    # column of small weights would otherwise sit in the noisiest, low-conductance end.
    peak = np.abs(w).max(axis=0)
    if column_scaling:
        scale = np.where(peak > 0, peak, 1.0)
    else:
        scale = np.full(n_out, max(float(peak.max()), np.finfo(float).tiny))
    unit = w / scale

    # Pair p of output j is physical pair j * per_output + p. The first write puts the
    # whole weight into the most significant pairs and RESETs the rest; every further pair
    # is written with what the earlier ones missed, as read back through the periphery,
    # amplified by a significance factor (Ambrogio et al., Nature 2018; Mackin et al., Nat.
    # Commun. 2022): its own write error then counts 1 / factor as much.
    index = np.arange(n_out) * per_output
    gains = np.ones((per_output, n_out))  # weight units (of `unit`) per decoded pair unit
    first = np.zeros((n_rows, n_pairs))
    first[:, index] = unit
    program = crossbar.program(first, weight_scale=1.0, verify_iterations=verify_iterations,
                               tolerance=tolerance)
    history = [program.conductance_rms_error]
    for p in range(1, per_output):
        readback = np.mean([crossbar.read_weights() for _ in range(readback_reads)], axis=0)
        held = sum(readback[:, index + q] * gains[q] for q in range(p))
        residual = unit - held
        largest = np.abs(residual).max(axis=0) / gains[p - 1]
        factor = np.minimum(max_significance, 1.0 / np.maximum(largest, 1e-12))
        gains[p] = gains[p - 1] / factor
        program = crossbar.program(residual / gains[p], weight_scale=1.0,
                                   verify_iterations=verify_iterations, tolerance=tolerance,
                                   pairs=index + p)
        history.append(program.conductance_rms_error)

    output_matrix = np.zeros((n_pairs, n_out))
    for p in range(per_output):
        output_matrix[index + p, np.arange(n_out)] = gains[p] * scale
    g = crossbar.conductances
    pair_weights = (g[:, 0::2] - g[:, 1::2]) / crossbar.conductance_per_weight
    report = CompileReport(
        asked=w, written=pair_weights @ output_matrix,
        details={
            "output_matrix": output_matrix,
            "pairs_per_output": per_output,
            "significance": 1.0 / gains,
            "conductance_rms_error_S": history,
            "stuck_devices": int(np.count_nonzero(crossbar.stuck_mask)),
            "verify_iterations_used": int(program.verify_iterations_used),
            "conductance_per_weight_S": float(crossbar.conductance_per_weight),
        },
    )
    return CompileResult(crossbar, report)


def compile(weights, substrate, **options) -> CompileResult:
    """Write ``weights`` into ``substrate`` through its device physics.

    Parameters
    ----------
    weights : array of shape (n_inputs, n_outputs)
        The digital model's weights (``y = x @ weights``).
    substrate : Crossbar, SpikingNetwork or Hydrogel
        Programmed in place (and returned in the result).
    **options
        Crossbar: the crossbar's differential pairs are shared out evenly, ``P =
        n_pairs / n_outputs`` per output, in descending significance (``P = 1``: one
        pair per weight; ``P = 2``: a most significant pair holding the weight and a
        least significant pair holding, amplified, what the first missed as read back
        ``readback_reads`` (default 16) times through the periphery, the factor at most
        ``max_significance`` (default 16)). ``column_scaling`` (default True) scales each
        output to the full conductance range. ``report.details["output_matrix"]``, array
        (n_pairs, n_outputs), is the digital periphery that recombines pairs and restores
        the scale: ``y = crossbar.matvec(x) @ output_matrix``. ``verify_iterations``
        (default 3) and ``tolerance``: see :meth:`Crossbar.program`.
        SpikingNetwork and Hydrogel: see :mod:`distill._compile_spiking` and
        :mod:`distill._compile_hydrogel`.

    Returns
    -------
    CompileResult

    Raises
    ------
    NotProgrammableError
        For a substrate that cannot be written (a potato).
    ValueError
        Weights of the wrong shape for the substrate, or non-finite.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Crossbar
    >>> from distill import compile
    >>> w = np.array([[0.5, -1.0], [1.0, 0.25], [-0.5, 0.0]])
    >>> result = compile(w, Crossbar(3, 4, random_state=0))
    >>> result.report.written.shape, result.report.relative_error < 0.1
    ((3, 2), True)
    """
    check_substrate(substrate)
    kind = type(substrate).__name__
    if not substrate.programmable:
        raise NotProgrammableError(
            f"a {kind} is read-only: it can be stimulated and recorded, not written; "
            "compile onto a Crossbar, a SpikingNetwork or a Hydrogel instead"
        )
    w = _weights(weights)
    if kind == "Crossbar":
        return _compile_crossbar(w, substrate, **options)
    if kind == "SpikingNetwork":
        from distill._compile_spiking import compile_spiking

        return compile_spiking(w, substrate, **options)
    if kind == "Hydrogel":
        from distill._compile_hydrogel import compile_hydrogel

        return compile_hydrogel(w, substrate, **options)
    raise NotProgrammableError(f"no compiler for a {kind}: it declares programmable = True but "
                               "distill.compile does not know how to write it")
