"""Experiment configs: TOML in, validated objects out, unknown keys refused by name."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

from substrates import ElectrodeArray, Stimulus
from substrates.spiking import (
    BackgroundParameters,
    ConnectivityParameters,
    ExtracellularParameters,
    ShortTermDepressionParameters,
    SpikingNetwork,
    STDPParameters,
    SynapseParameters,
    TissueParameters,
    neuron_parameters_from_dict,
)

__all__ = [
    "DEMO_CONFIG", "build_electrodes", "build_stimulus", "build_substrate", "load_config",
    "read_toml", "refuse_unknown",
]

DEMO_CONFIG = """\
# The default organoid on a 60-electrode MEA, stimulated at two electrodes.
seed = 1
duration = 2.0          # s of biological time
output = "jewelhead-demo"

[electrodes]
layout = "mea60"

[substrate]
type = "spiking"
n_neurons = 3000
dt = 1e-4

[substrate.tissue]
shape = "organoid"
size = 2.0e-3           # m, diameter of the dome on the array

[substrate.synapses]
excitatory_weight = 150e-12     # A, current jump of a rested synapse
inhibitory_weight = -600e-12

[substrate.connectivity]
connection_probability = 0.5
connection_length = 200e-6      # m

[substrate.depression]          # synapses run down in a burst: network bursts
enabled = true
use = 0.5

[substrate.background]          # 200 Poisson inputs per neuron at 10 Hz
n_inputs = 200
rate = 10.0
weight = 15e-12

[stimulus]
kind = "biphasic"
channels = [25, 34]     # the two electrodes nearest the centre
rate = 2.0              # pulses per second
amplitude = 20e-6       # A
phase_width = 200e-6    # s

[record]
hidden = true
hidden_sampling_rate = 1000.0
"""

_TOP_KEYS = {"seed", "duration", "output", "electrodes", "substrate", "stimulus", "record"}
_SPIKING_SECTIONS = {
    "synapses": SynapseParameters,
    "connectivity": ConnectivityParameters,
    "depression": ShortTermDepressionParameters,
    "stdp": STDPParameters,
    "background": BackgroundParameters,
    "tissue": TissueParameters,
    "extracellular": ExtracellularParameters,
}
_SPIKING_SCALARS = {"n_neurons", "dt", "excitatory_fraction", "threshold_sd", "capacitance_cv",
                    "initial_potential"}


def refuse_unknown(section: dict, allowed, where: str):
    """Raise ValueError naming every key of ``section`` not in ``allowed``."""
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in [{where}]; allowed keys are {sorted(allowed)}")


def read_toml(source) -> dict:
    """Parse TOML from a path (str or Path, no newline) or from TOML text.

    Raises FileNotFoundError for a missing file and ValueError for invalid TOML.
    """
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source)
        try:
            source = path.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"config file {path} does not exist") from None
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config is not valid TOML: {exc}") from None


def load_config(source) -> dict:
    """Read and check a config: a path to a TOML file, or TOML text.

    Returns the parsed mapping (a deep copy); raises ValueError naming any unknown key.
    """
    cfg = read_toml(source)
    refuse_unknown(cfg, _TOP_KEYS, "top level")
    for key in ("electrodes", "substrate"):
        if key not in cfg:
            raise ValueError(f"config needs a [{key}] section")
    duration = cfg.get("duration", 1.0)
    if not isinstance(duration, (int, float)) or duration <= 0:
        raise ValueError(f"duration must be a time > 0 s, got {duration!r}")
    return copy.deepcopy(cfg)


def build_electrodes(section: dict) -> ElectrodeArray:
    """An ElectrodeArray from an [electrodes] section.

    Keys: layout ("mea60", "hdmea", "grid"), rows, cols, pitch (grid), select (k),
    select_strategy ("spread" or "random"), and ElectrodeArray fields to override
    (sampling_rate, noise_rms, adc_bits, adc_range, electrode_radius).
    """
    section = dict(section)
    layout = section.pop("layout", "mea60")
    select = section.pop("select", None)
    strategy = section.pop("select_strategy", "spread")
    overrides = {k: section.pop(k) for k in ("sampling_rate", "noise_rms", "adc_bits", "adc_range",
                                             "electrode_radius") if k in section}
    if "adc_range" in overrides:
        overrides["adc_range"] = tuple(overrides["adc_range"])
    if layout == "grid":
        grid_args = {k: section.pop(k) for k in ("rows", "cols", "pitch") if k in section}
        refuse_unknown(section, [], "electrodes")
        array = ElectrodeArray.grid(**grid_args, **overrides)
    elif layout in ("mea60", "hdmea"):
        refuse_unknown(section, [], "electrodes")
        array = getattr(ElectrodeArray, layout)(**overrides)
    else:
        raise ValueError(f"electrodes.layout must be 'mea60', 'hdmea' or 'grid', got {layout!r}")
    if select is not None:
        array = array.select(int(select), strategy=strategy, random_state=0)
    return array


def _build_spiking(section, electrodes, seed):
    refuse_unknown(section, _SPIKING_SCALARS | set(_SPIKING_SECTIONS) | {"neuron"}, "substrate")
    kwargs = {k: section[k] for k in _SPIKING_SCALARS if k in section}
    if "initial_potential" in kwargs:
        kwargs["initial_potential"] = tuple(kwargs["initial_potential"])
    for name, record in _SPIKING_SECTIONS.items():
        if name in section:
            kwargs[name] = record.from_dict(section[name], where=f"[substrate.{name}]")
    if "neuron" in section:
        kwargs["neuron"] = neuron_parameters_from_dict(section["neuron"])
    return SpikingNetwork(electrodes=electrodes, random_state=seed, **kwargs)


def _build_with_records(cls, section, electrodes, seed, scalars, records):
    """``cls(electrodes=..., random_state=seed, **scalars, **records)`` from a section."""
    refuse_unknown(section, set(scalars) | set(records), "substrate")
    kwargs = {k: section[k] for k in scalars if k in section}
    for name, record in records.items():
        if name in section:
            kwargs[name] = record.from_dict(section[name], where=f"[substrate.{name}]")
    return cls(electrodes=electrodes, random_state=seed, **kwargs)


def _build_potato(section, electrodes, seed):
    from substrates.potato import InterfaceParameters, Potato, TissueParameters

    return _build_with_records(Potato, section, electrodes, seed, {"dt"},
                               {"tissue": TissueParameters, "interface": InterfaceParameters})


def _build_hydrogel(section, electrodes, seed):
    from substrates.hydrogel import (
        ElectrodeInterfaceParameters,
        Hydrogel,
        HydrogelParameters,
        SolverParameters,
        WriteParameters,
    )

    return _build_with_records(Hydrogel, section, electrodes, seed, {"dt", "readout"},
                               {"gel": HydrogelParameters, "interface": ElectrodeInterfaceParameters,
                                "solver": SolverParameters, "writing": WriteParameters})


_SUBSTRATE_BUILDERS = {"spiking": _build_spiking, "potato": _build_potato,
                       "hydrogel": _build_hydrogel}


def build_substrate(section: dict, electrodes: ElectrodeArray, seed):
    """A substrate from a [substrate] section; ``type`` is one of ``_SUBSTRATE_BUILDERS``.

    The other keys are the substrate's scalar arguments, and its parameter records as
    sub-tables (``[substrate.tissue]``, ...), unknown keys refused by name.
    """
    section = dict(section)
    kind = section.pop("type", "spiking")
    if kind not in _SUBSTRATE_BUILDERS:
        raise ValueError(f"substrate.type must be one of {sorted(_SUBSTRATE_BUILDERS)}, got {kind!r}")
    return _SUBSTRATE_BUILDERS[kind](section, electrodes, seed)


_STIMULUS_KINDS = {"biphasic", "pulse_train", "white_noise", "pink_noise", "chirp", "none"}


def build_stimulus(section: dict | None, n_channels: int, duration: float, dt: float):
    """A Stimulus from a [stimulus] section, or None for ``kind = "none"`` / no section.

    ``kind`` names a Stimulus generator; the other keys are its keyword arguments
    (``channels``, ``rate``, ``amplitude``, ...), checked by the generator itself.
    """
    if not section:
        return None
    section = dict(section)
    kind = section.pop("kind", "biphasic")
    if kind not in _STIMULUS_KINDS:
        raise ValueError(f"stimulus.kind must be one of {sorted(_STIMULUS_KINDS)}, got {kind!r}")
    if kind == "none":
        return None
    generator = getattr(Stimulus, kind)
    try:
        return generator(n_channels, duration, dt, **section)
    except TypeError as exc:
        raise ValueError(f"bad key in [stimulus] for kind {kind!r}: {exc}") from None
