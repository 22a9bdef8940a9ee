"""The spiking substrate: LIF, AdEx and Izhikevich networks in a culture or organoid."""

from substrates.spiking._network import NetworkState, SpikingNetwork, SynapseTable
from substrates.spiking._parameters import (
    AdExParameters,
    BackgroundParameters,
    ConnectivityParameters,
    ExtracellularParameters,
    IzhikevichParameters,
    LIFParameters,
    ShortTermDepressionParameters,
    STDPParameters,
    SynapseParameters,
    TissueParameters,
    neuron_parameters_from_dict,
)

__all__ = [
    "AdExParameters",
    "BackgroundParameters",
    "ConnectivityParameters",
    "ExtracellularParameters",
    "IzhikevichParameters",
    "LIFParameters",
    "NetworkState",
    "STDPParameters",
    "ShortTermDepressionParameters",
    "SpikingNetwork",
    "SynapseParameters",
    "SynapseTable",
    "TissueParameters",
    "neuron_parameters_from_dict",
]
