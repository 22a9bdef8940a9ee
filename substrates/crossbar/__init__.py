"""The memristive crossbar substrate: rows driven, columns read, PCM device statistics.

:class:`Crossbar` is a crossbar of phase-change memory devices (by default) reached
through its periphery: row drivers (stimulus in V) and column amplifiers (recording in A).
:class:`PCMParameters` holds the device statistics of Joshi et al. (2020);
:class:`ProgramReport` tells what a programming call asked for and what was written.
"""

from substrates.crossbar._crossbar import Crossbar, ProgramReport
from substrates.crossbar._parameters import PCMParameters

__all__ = ["Crossbar", "PCMParameters", "ProgramReport"]
