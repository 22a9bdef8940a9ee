"""The iontronic hydrogel substrate: ions drifting and diffusing in a patternable gel."""

from substrates.hydrogel._gel import FARADAY, GAS_CONSTANT, GelState, Hydrogel
from substrates.hydrogel._parameters import (
    ElectrodeInterfaceParameters,
    HydrogelParameters,
    SolverParameters,
    WriteParameters,
)

__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "ElectrodeInterfaceParameters",
    "GelState",
    "Hydrogel",
    "HydrogelParameters",
    "SolverParameters",
    "WriteParameters",
]
