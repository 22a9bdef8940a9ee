"""The potato-style tissue: a heterogeneous cell network with electrochemical electrodes.

:class:`Potato` is the substrate; :class:`TissueParameters` and
:class:`InterfaceParameters` its parameter records; :func:`run_ngspice` runs ngspice on a
netlist from :meth:`Potato.to_spice` (the reference the tests compare against).
"""

from substrates.potato._parameters import InterfaceParameters, TissueParameters
from substrates.potato._spice import NgspiceError, run_ngspice, write_netlist
from substrates.potato._tissue import Potato

__all__ = [
    "InterfaceParameters",
    "NgspiceError",
    "Potato",
    "TissueParameters",
    "run_ngspice",
    "write_netlist",
]
