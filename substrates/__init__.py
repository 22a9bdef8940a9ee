"""Physics layer: substrates reached only through an electrode array.

Public names: :class:`ElectrodeArray`, :class:`Stimulus`, :class:`Recording`,
:func:`detect_spikes`, :class:`SpikingNetwork` and its parameter records.
"""

from substrates._electrodes import ElectrodeArray
from substrates._recording import Recording, RecordingFormatError, detect_spikes
from substrates._stimulus import Stimulus

__all__ = [
    "ElectrodeArray",
    "Recording",
    "RecordingFormatError",
    "Stimulus",
    "detect_spikes",
]
