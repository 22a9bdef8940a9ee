"""Parameter records of the spiking substrate (frozen dataclasses, SI units).

Each record checks its own values; ``from_dict`` refuses unknown keys by name, which is
how the TOML configs are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from substrates._records import ParameterRecord

__all__ = [
    "AdExParameters",
    "BackgroundParameters",
    "ConnectivityParameters",
    "ExtracellularParameters",
    "IzhikevichParameters",
    "LIFParameters",
    "STDPParameters",
    "ShortTermDepressionParameters",
    "SynapseParameters",
    "TissueParameters",
    "neuron_parameters_from_dict",
]


def _check(name, value, low=None, high=None, *, low_open=False, allow_none=False):
    """Raise ValueError naming ``name`` unless ``value`` is finite and inside the range."""
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


@dataclass(frozen=True)
class LIFParameters(ParameterRecord):
    """Leaky integrate-and-fire neuron.

    ``C dv/dt = (E_L - v) / R + I_syn + I_stim`` with ``R = membrane_time_constant /
    membrane_capacitance``; a spike when v exceeds ``threshold``, then v is held at
    ``reset`` for ``refractory_period``. Defaults: a cortical pyramidal cell in culture.

    Attributes
    ----------
    membrane_capacitance : float, F (> 0)
    membrane_time_constant : float, s (> 0)
    resting_potential : float, V
    threshold : float, V (> reset)
    reset : float, V
    refractory_period : float, s (>= 0)
    """

    membrane_capacitance: float = 250e-12
    membrane_time_constant: float = 20e-3
    resting_potential: float = -65e-3
    threshold: float = -50e-3
    reset: float = -60e-3
    refractory_period: float = 2e-3

    model = "lif"

    def __post_init__(self):
        _check("membrane_capacitance", self.membrane_capacitance, 0.0, low_open=True)
        _check("membrane_time_constant", self.membrane_time_constant, 0.0, low_open=True)
        for name in ("resting_potential", "threshold", "reset"):
            _check(name, getattr(self, name), -0.2, 0.2)
        _check("refractory_period", self.refractory_period, 0.0)
        if self.threshold <= self.reset:
            raise ValueError(
                f"threshold ({self.threshold} V) must be above reset ({self.reset} V)"
            )

    @property
    def membrane_resistance(self) -> float:
        """Ohm."""
        return self.membrane_time_constant / self.membrane_capacitance

    def time_constants(self) -> dict:
        return {"membrane_time_constant": self.membrane_time_constant}


@dataclass(frozen=True)
class AdExParameters(ParameterRecord):
    """Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

    ``C dv/dt = -g_L (v - E_L) + g_L Delta_T exp((v - V_T)/Delta_T) - w + I``,
    ``tau_w dw/dt = a (v - E_L) - w``; at ``spike_cutoff``: v -> ``reset``, w -> w + b.
    Integrated with forward Euler (Brian2's 'euler'). Defaults are the paper's.

    Attributes
    ----------
    membrane_capacitance : F; membrane_time_constant : s (g_L = C / tau)
    resting_potential : V (E_L); soft_threshold : V (V_T); slope_factor : V (Delta_T > 0)
    spike_cutoff : V (spike detection, above V_T); reset : V; refractory_period : s
    adaptation_conductance : S (a); adaptation_increment : A (b);
    adaptation_time_constant : s (tau_w)
    """

    membrane_capacitance: float = 281e-12
    membrane_time_constant: float = 281e-12 / 30e-9
    resting_potential: float = -70.6e-3
    soft_threshold: float = -50.4e-3
    slope_factor: float = 2e-3
    spike_cutoff: float = -30.4e-3
    reset: float = -70.6e-3
    refractory_period: float = 0.0
    adaptation_conductance: float = 4e-9
    adaptation_increment: float = 80.5e-12
    adaptation_time_constant: float = 144e-3

    model = "adex"

    def __post_init__(self):
        _check("membrane_capacitance", self.membrane_capacitance, 0.0, low_open=True)
        _check("membrane_time_constant", self.membrane_time_constant, 0.0, low_open=True)
        _check("slope_factor", self.slope_factor, 0.0, low_open=True)
        _check("adaptation_time_constant", self.adaptation_time_constant, 0.0, low_open=True)
        _check("refractory_period", self.refractory_period, 0.0)
        for name in ("resting_potential", "soft_threshold", "spike_cutoff", "reset"):
            _check(name, getattr(self, name), -0.2, 0.2)
        _check("adaptation_conductance", self.adaptation_conductance)
        _check("adaptation_increment", self.adaptation_increment)
        if self.spike_cutoff <= self.soft_threshold:
            raise ValueError(
                f"spike_cutoff ({self.spike_cutoff} V) must be above soft_threshold "
                f"({self.soft_threshold} V)"
            )

    @property
    def membrane_resistance(self) -> float:
        return self.membrane_time_constant / self.membrane_capacitance

    def time_constants(self) -> dict:
        return {
            "membrane_time_constant": self.membrane_time_constant,
            "adaptation_time_constant": self.adaptation_time_constant,
        }


@dataclass(frozen=True)
class IzhikevichParameters(ParameterRecord):
    """Izhikevich (2007) neuron in SI units.

    ``C dv/dt = k (v - v_r)(v - v_t) - u + I``, ``du/dt = a (b (v - v_r) - u)``; at
    ``peak``: v -> c (``reset``), u -> u + d. Forward Euler. Defaults: regular spiking
    pyramidal cell (C = 100 pF, k = 0.7 nS/mV, a = 0.03 /ms, b = -2 nS, d = 100 pA).

    Attributes
    ----------
    membrane_capacitance : F; k : A/V^2; resting_potential : V (v_r);
    instantaneous_threshold : V (v_t); peak : V; reset : V (c);
    recovery_rate : 1/s (a); recovery_conductance : S (b); recovery_increment : A (d);
    refractory_period : s
    """

    membrane_capacitance: float = 100e-12
    k: float = 0.7e-6
    resting_potential: float = -60e-3
    instantaneous_threshold: float = -40e-3
    peak: float = 35e-3
    reset: float = -50e-3
    recovery_rate: float = 30.0
    recovery_conductance: float = -2e-9
    recovery_increment: float = 100e-12
    refractory_period: float = 0.0

    model = "izhikevich"

    def __post_init__(self):
        _check("membrane_capacitance", self.membrane_capacitance, 0.0, low_open=True)
        _check("k", self.k, 0.0, low_open=True)
        _check("recovery_rate", self.recovery_rate, 0.0, low_open=True)
        _check("refractory_period", self.refractory_period, 0.0)
        for name in ("resting_potential", "instantaneous_threshold", "peak", "reset"):
            _check(name, getattr(self, name), -0.2, 0.2)
        _check("recovery_conductance", self.recovery_conductance)
        _check("recovery_increment", self.recovery_increment)
        if self.peak <= self.instantaneous_threshold:
            raise ValueError("peak must be above instantaneous_threshold")

    def time_constants(self) -> dict:
        # the fastest membrane time scale at rest: C / (k (v_t - v_r))
        tau = self.membrane_capacitance / (
            self.k * abs(self.instantaneous_threshold - self.resting_potential)
        )
        return {"membrane_time_constant": tau, "recovery_time_constant": 1.0 / self.recovery_rate}


_NEURON_MODELS = {
    "lif": LIFParameters,
    "adex": AdExParameters,
    "izhikevich": IzhikevichParameters,
}


def neuron_parameters_from_dict(values: dict):
    """Neuron parameters from a mapping with a ``model`` key ('lif', 'adex', 'izhikevich')."""
    values = dict(values)
    model = values.pop("model", "lif")
    if model not in _NEURON_MODELS:
        raise ValueError(f"neuron model must be one of {sorted(_NEURON_MODELS)}, got {model!r}")
    return _NEURON_MODELS[model].from_dict(values, where=f"[neuron] (model {model!r})")


@dataclass(frozen=True)
class SynapseParameters(ParameterRecord):
    """Exponentially decaying synapses, current- or conductance-based.

    For ``model="current"`` the weights are current jumps (A; inhibitory <= 0); for
    ``model="conductance"`` they are conductance jumps (S, both >= 0) acting through the
    reversal potentials. Axonal delay of a synapse is ``delay + distance /
    conduction_velocity`` (``conduction_velocity=None``: the same ``delay`` everywhere),
    rounded to whole time steps.

    Attributes
    ----------
    model : {"current", "conductance"}
    excitatory_time_constant, inhibitory_time_constant : s (> 0)
    excitatory_weight : A or S; inhibitory_weight : A (<= 0) or S (>= 0)
    excitatory_reversal, inhibitory_reversal : V (conductance model)
    delay : s (>= 0); conduction_velocity : m/s (> 0) or None
    weight_cv : coefficient of variation of log-normal weights (0 = all equal)
    """

    model: str = "current"
    excitatory_time_constant: float = 5e-3
    inhibitory_time_constant: float = 10e-3
    excitatory_weight: float = 100e-12
    inhibitory_weight: float = -400e-12
    excitatory_reversal: float = 0.0
    inhibitory_reversal: float = -80e-3
    delay: float = 1e-3
    conduction_velocity: float | None = 0.3
    weight_cv: float = 0.0

    def __post_init__(self):
        if self.model not in ("current", "conductance"):
            raise ValueError(f"synapse model must be 'current' or 'conductance', got {self.model!r}")
        _check("excitatory_time_constant", self.excitatory_time_constant, 0.0, low_open=True)
        _check("inhibitory_time_constant", self.inhibitory_time_constant, 0.0, low_open=True)
        _check("excitatory_weight", self.excitatory_weight, 0.0)
        if self.model == "current":
            _check("inhibitory_weight", self.inhibitory_weight, high=0.0)
        else:
            _check("inhibitory_weight", self.inhibitory_weight, 0.0)
        _check("excitatory_reversal", self.excitatory_reversal, -0.2, 0.2)
        _check("inhibitory_reversal", self.inhibitory_reversal, -0.2, 0.2)
        _check("delay", self.delay, 0.0, 1.0)
        _check("conduction_velocity", self.conduction_velocity, 0.0, low_open=True, allow_none=True)
        _check("weight_cv", self.weight_cv, 0.0, 10.0)


@dataclass(frozen=True)
class ConnectivityParameters(ParameterRecord):
    """Who connects to whom.

    ``rule="distance"``: a pair at distance d connects with probability
    ``connection_probability * exp(-d / connection_length)`` (cultures and organoids);
    ``rule="random"``: with ``connection_probability`` regardless of distance (the
    Vogels-Abbott benchmark networks).

    Attributes
    ----------
    rule : {"distance", "random"}
    connection_probability : in [0, 1]
    connection_length : m (> 0)
    autapses : bool
    """

    rule: str = "distance"
    connection_probability: float = 0.3
    connection_length: float = 150e-6
    autapses: bool = False

    def __post_init__(self):
        if self.rule not in ("distance", "random"):
            raise ValueError(f"connectivity rule must be 'distance' or 'random', got {self.rule!r}")
        _check("connection_probability", self.connection_probability, 0.0, 1.0)
        _check("connection_length", self.connection_length, 0.0, low_open=True)


@dataclass(frozen=True)
class ShortTermDepressionParameters(ParameterRecord):
    """Tsodyks-Markram depression of every synapse of a presynaptic neuron.

    Each spike releases a fraction ``use`` of the available resources x, which recover
    towards 1 with ``recovery_time_constant``; the delivered weight is ``weight * x``
    (weights are those of a rested synapse). This is what ends network bursts.

    Attributes
    ----------
    enabled : bool; use : in (0, 1]; recovery_time_constant : s (> 0)
    """

    enabled: bool = False
    use: float = 0.3
    recovery_time_constant: float = 0.8

    def __post_init__(self):
        _check("use", self.use, 0.0, 1.0, low_open=True)
        _check("recovery_time_constant", self.recovery_time_constant, 0.0, low_open=True)


@dataclass(frozen=True)
class STDPParameters(ParameterRecord):
    """Pair-based additive STDP on excitatory-to-excitatory synapses.

    Pre before post by dt > 0 changes the weight by ``+learning_rate * weight_max *
    exp(-dt / pre_time_constant)``; post before pre by ``-depression_ratio *
    learning_rate * weight_max * exp(-dt / post_time_constant)``; weights stay in
    [0, weight_max].

    Attributes
    ----------
    enabled : bool; pre_time_constant, post_time_constant : s; learning_rate : in [0, 1];
    depression_ratio : >= 0; weight_max : A or S (> 0)
    """

    enabled: bool = False
    pre_time_constant: float = 20e-3
    post_time_constant: float = 20e-3
    learning_rate: float = 0.01
    depression_ratio: float = 1.05
    weight_max: float = 300e-12

    def __post_init__(self):
        _check("pre_time_constant", self.pre_time_constant, 0.0, low_open=True)
        _check("post_time_constant", self.post_time_constant, 0.0, low_open=True)
        _check("learning_rate", self.learning_rate, 0.0, 1.0)
        _check("depression_ratio", self.depression_ratio, 0.0)
        _check("weight_max", self.weight_max, 0.0, low_open=True)


@dataclass(frozen=True)
class BackgroundParameters(ParameterRecord):
    """Background Poisson drive: ``n_inputs`` independent sources per neuron at ``rate``.

    Each step a neuron receives Binomial(n_inputs, rate * dt) events of ``weight`` (A or
    S, onto its excitatory synapse), as Brian2's PoissonInput does.

    Attributes
    ----------
    n_inputs : int >= 0; rate : Hz (>= 0); weight : A or S (>= 0)
    """

    n_inputs: int = 0
    rate: float = 0.0
    weight: float = 0.0

    def __post_init__(self):
        if not isinstance(self.n_inputs, int) or isinstance(self.n_inputs, bool) or self.n_inputs < 0:
            raise ValueError(f"n_inputs must be an integer >= 0, got {self.n_inputs!r}")
        _check("rate", self.rate, 0.0)
        _check("weight", self.weight, 0.0)


@dataclass(frozen=True)
class TissueParameters(ParameterRecord):
    """Where the neurons sit, relative to the electrode plane (z = 0, centred at 0).

    ``shape="culture"``: a 2D monolayer filling a square of side ``size``, somata at
    heights in [``soma_height_min``, ``soma_height_max``] above the electrodes.
    ``shape="organoid"``: an organoid attached to the array, flattened into a dome (a
    hemisphere of diameter ``size`` whose flat face lies on the electrodes, from
    ``soma_height_min`` up), neurons uniform in its volume.

    Attributes
    ----------
    shape : {"culture", "organoid"}; size : m (> 0); soma_height_min, soma_height_max : m
    """

    shape: str = "culture"
    size: float = 1.6e-3
    soma_height_min: float = 5e-6
    soma_height_max: float = 15e-6

    def __post_init__(self):
        if self.shape not in ("culture", "organoid"):
            raise ValueError(f"tissue shape must be 'culture' or 'organoid', got {self.shape!r}")
        _check("size", self.size, 0.0, 0.1, low_open=True)
        _check("soma_height_min", self.soma_height_min, 0.0)
        _check("soma_height_max", self.soma_height_max, self.soma_height_min)


@dataclass(frozen=True)
class ExtracellularParameters(ParameterRecord):
    """How electrodes see and touch the neurons.

    Recording: every spike is a stereotyped extracellular waveform whose trough is the
    potential of a current dipole: a sink of ``spike_current`` at the soma and the equal
    return source ``return_current_distance`` above it (towards the apical dendrite),
    ``I / (4 pi conductivity) (1/r_sink - 1/r_source)``, distances clipped below at
    ``minimum_distance``. Near a soma this is the point-source 1/r law; far away it falls
    as 1/r^2, as the field of a neuron whose membrane currents sum to zero must.
    Spikes are detected on the noisy, digitised traces at ``detection_threshold``
    robust standard deviations.
    Stimulation: a fraction ``stimulation_efficiency * exp(-d / stimulation_length)`` of
    an electrode's current enters the membrane of a neuron at distance d (cathodic,
    i.e. negative, electrode current depolarises); voltage-controlled stimuli are turned
    into currents through ``electrode_impedance``.

    Attributes
    ----------
    spike_current : A (> 0); conductivity : S/m (> 0); minimum_distance : m (> 0);
    return_current_distance : m (> 0);
    detection_threshold : (> 0); stimulation_efficiency : (>= 0);
    stimulation_length : m (> 0); electrode_impedance : Ohm (> 0)
    """

    spike_current: float = 20e-9
    conductivity: float = 0.3
    minimum_distance: float = 10e-6
    return_current_distance: float = 50e-6
    detection_threshold: float = 5.0
    stimulation_efficiency: float = 0.005
    stimulation_length: float = 100e-6
    electrode_impedance: float = 100e3

    def __post_init__(self):
        _check("spike_current", self.spike_current, 0.0, low_open=True)
        _check("conductivity", self.conductivity, 0.0, low_open=True)
        _check("minimum_distance", self.minimum_distance, 0.0, low_open=True)
        _check("return_current_distance", self.return_current_distance, 0.0, low_open=True)
        _check("detection_threshold", self.detection_threshold, 0.0, low_open=True)
        _check("stimulation_efficiency", self.stimulation_efficiency, 0.0)
        _check("stimulation_length", self.stimulation_length, 0.0, low_open=True)
        _check("electrode_impedance", self.electrode_impedance, 0.0, low_open=True)
