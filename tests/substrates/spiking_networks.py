"""Networks shared by the spiking tests and benchmarks."""

from substrates.spiking import (
    BackgroundParameters,
    ConnectivityParameters,
    LIFParameters,
    SpikingNetwork,
    SynapseParameters,
    TissueParameters,
)

# Vogels & Abbott (2005) CUBA: tau_m = 20 ms, E_L = -49 mV above threshold -50 mV,
# reset -60 mV, 5 ms refractory; PSP-equivalent jumps 1.62 mV and -9 mV; ~80 inputs.
CUBA_CAPACITANCE = 250e-12
CUBA_TAU_M = 20e-3
CUBA_R = CUBA_TAU_M / CUBA_CAPACITANCE


def cuba_network(n_neurons=4000, *, inputs_per_neuron=80, background=None, random_state=1,
                 electrodes=None, precision="float64", threads=None):
    """The Vogels-Abbott CUBA benchmark network (random wiring, no delays)."""
    return SpikingNetwork(
        n_neurons,
        dt=1e-4,
        electrodes=electrodes,
        neuron=LIFParameters(
            membrane_capacitance=CUBA_CAPACITANCE, membrane_time_constant=CUBA_TAU_M,
            resting_potential=-49e-3, threshold=-50e-3, reset=-60e-3, refractory_period=5e-3,
        ),
        synapses=SynapseParameters(
            model="current", excitatory_time_constant=5e-3, inhibitory_time_constant=10e-3,
            excitatory_weight=1.62e-3 / CUBA_R, inhibitory_weight=-9e-3 / CUBA_R,
            delay=0.0, conduction_velocity=None,
        ),
        connectivity=ConnectivityParameters(rule="random",
                                            connection_probability=inputs_per_neuron / n_neurons),
        background=background,
        tissue=TissueParameters(size=4e-3),
        precision=precision,
        threads=threads,
        random_state=random_state,
    )


def noisy_network(n_neurons=1000, random_state=2, background_weight=17e-12, **kwargs):
    """A culture below threshold driven by background Poisson input, with delays.

    Fluctuation driven at about 12 Hz per neuron (1,000 neurons), as cultures fire.
    """
    return SpikingNetwork(
        n_neurons,
        dt=1e-4,
        neuron=LIFParameters(resting_potential=-65e-3, refractory_period=2e-3),
        connectivity=ConnectivityParameters(connection_probability=0.2, connection_length=150e-6),
        background=BackgroundParameters(n_inputs=200, rate=10.0, weight=background_weight),
        random_state=random_state,
        **{"synapses": SynapseParameters(excitatory_weight=100e-12, inhibitory_weight=-400e-12),
           **kwargs},
    )
