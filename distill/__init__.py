"""Distil substrates into digital students, compile digital weights into substrates.

Public names: :func:`compile` (digital -> analog, with a :class:`CompileReport` of what
was written against what was asked), :func:`fit_linear_student` (model extraction of a
linear or softmax teacher) and :func:`crossbar_round_trip` (digital -> crossbar ->
student, with its loss budget, :class:`RoundTripResult`).
"""

from distill._compile import CompileReport, CompileResult, compile
from distill._roundtrip import RoundTripResult, crossbar_round_trip, fit_linear_student

__all__ = [
    "CompileReport",
    "CompileResult",
    "RoundTripResult",
    "compile",
    "crossbar_round_trip",
    "fit_linear_student",
]
