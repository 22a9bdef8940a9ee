"""Physics layer: substrates reached only through an electrode array.

Public names: the contract (:class:`ElectrodeArray`, :class:`Stimulus`,
:class:`Recording`, :func:`detect_spikes` with :func:`estimate_noise_levels`, the :class:`Substrate` protocol) and the
substrates: :class:`SpikingNetwork` (parameter records in :mod:`substrates.spiking`, the
Brian2 reference in :mod:`substrates.reference.brian2`), :class:`Hydrogel`,
:class:`Potato` and :class:`Crossbar`.
"""

from substrates._electrodes import ElectrodeArray
from substrates._protocol import NotProgrammableError, Substrate, check_substrate
from substrates._recording import (
    Recording,
    RecordingFormatError,
    detect_spikes,
    estimate_noise_levels,
)
from substrates._stimulus import Stimulus
from substrates.crossbar import Crossbar
from substrates.hydrogel import Hydrogel
from substrates.potato import Potato
from substrates.spiking import SpikingNetwork

__all__ = [
    "Crossbar",
    "ElectrodeArray",
    "Hydrogel",
    "NotProgrammableError",
    "Potato",
    "Recording",
    "RecordingFormatError",
    "SpikingNetwork",
    "Stimulus",
    "Substrate",
    "check_substrate",
    "detect_spikes",
    "estimate_noise_levels",
]
