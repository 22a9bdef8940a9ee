"""Parameter records of the hydrogel substrate (frozen dataclasses, SI units).

Each record checks its own values; ``from_dict`` refuses unknown keys by name, which is
how the TOML configs are read. Pairs (ranges, extents) are stored as tuples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from substrates._records import ParameterRecord

__all__ = [
    "ElectrodeInterfaceParameters",
    "HydrogelParameters",
    "SolverParameters",
    "WriteParameters",
]

COUNTER_ELECTRODES = ("perimeter", "left", "right", "bottom", "top", "none")
SCHEMES = ("implicit", "explicit")


def _check(name, value, low=None, high=None, *, low_open=False, high_open=False, unit=""):
    """Raise ValueError naming ``name`` unless ``value`` is a finite number in the range."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{unit and f' ({unit})'}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}{unit and f' {unit}'}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        bound = f"< {high}" if high_open else f"<= {high}"
        raise ValueError(f"{name} must be {bound}{unit and f' {unit}'}, got {value!r}")


def _pair(record, name, unit, *, low=None, positive=False, ordered=True):
    value = getattr(record, name)
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers ({unit}), got {value!r}") from None
    for part, v in ((f"{name}[0]", first), (f"{name}[1]", second)):
        _check(part, v, low=0.0 if positive else low, low_open=positive, unit=unit)
    if ordered and not first < second:
        raise ValueError(f"{name} must satisfy low < high ({unit}), got {value!r}")
    object.__setattr__(record, name, (float(first), float(second)))


@dataclass(frozen=True)
class HydrogelParameters(ParameterRecord):
    """The gel: geometry, electrolyte and the default (uniform) maps.

    A thin gel slab of ``size[0] x size[1] x thickness`` centred on the electrode array
    (x, y in the array's plane), cut into square cells of side ``cell_size`` (one cell
    through the thickness: a depth-averaged "thin 3D" gel). It holds a 1:1 salt (KCl by
    default) whose ions drift and diffuse through a polyelectrolyte network carrying the
    fixed charge ``X``; mobility is hindered by the network (Mackie & Meares 1955):
    ``D_eff = D ((1 - phi) / (1 + phi))^2`` with ``phi`` the polymer volume fraction
    (the "crosslink" map).

    Attributes
    ----------
    size : (float, float), m
        Extent in x and y; each a whole number of cells (default 100 um x 100 um).
    cell_size : float, m (> 0)
        Side of the square finite-volume cells (default 5 um).
    thickness : float, m (> 0)
        Slab thickness (default 10 um).
    salt_concentration : float, mol/m^3 (> 0)
        Concentration of the salt the gel was equilibrated with (default 10 mM = 10
        mol/m^3): the rest state is the Donnan equilibrium ``c+ c- = salt^2`` in every
        cell, and Ag/AgCl electrodes read 0 V at chloride concentration ``salt``.
    cation_diffusivity, anion_diffusivity : float, m^2/s (> 0)
        Free-solution diffusivities (defaults K+ 1.96e-9 and Cl- 2.03e-9 m^2/s).
    temperature : float, K (> 0)
        Sets the thermal voltage R T / F (25.7 mV at the default 298.15 K).
    fixed_charge : float, mol/m^3
        Default uniform fixed-charge concentration X (signed: > 0 for a positively
        charged, anion-selective network); overwritten by :meth:`Hydrogel.pattern`.
    crosslink : float in [0, 1)
        Default uniform polymer volume fraction (default 0.1: D_eff = 0.67 D).
    """

    size: tuple = (100e-6, 100e-6)
    cell_size: float = 5e-6
    thickness: float = 10e-6
    salt_concentration: float = 10.0
    cation_diffusivity: float = 1.96e-9
    anion_diffusivity: float = 2.03e-9
    temperature: float = 298.15
    fixed_charge: float = 0.0
    crosslink: float = 0.1

    def __post_init__(self):
        _pair(self, "size", "m", positive=True, ordered=False)
        _check("cell_size", self.cell_size, 0.0, low_open=True, unit="m")
        _check("thickness", self.thickness, 0.0, low_open=True, unit="m")
        _check("salt_concentration", self.salt_concentration, 0.0, low_open=True, unit="mol/m^3")
        _check("cation_diffusivity", self.cation_diffusivity, 0.0, low_open=True, unit="m^2/s")
        _check("anion_diffusivity", self.anion_diffusivity, 0.0, low_open=True, unit="m^2/s")
        _check("temperature", self.temperature, 0.0, low_open=True, unit="K")
        _check("fixed_charge", self.fixed_charge, unit="mol/m^3")
        _check("crosslink", self.crosslink, 0.0, 1.0, high_open=True, unit="volume fraction")
        for axis, extent in zip("xy", self.size):
            cells = extent / self.cell_size
            if abs(cells - round(cells)) > 1e-6 * cells or round(cells) < 1:
                raise ValueError(
                    f"size ({axis}) must be a whole number (>= 1) of cell_size = {self.cell_size} m; "
                    f"{extent} m / {self.cell_size} m = {cells:.6g} cells"
                )

    @property
    def grid_shape(self) -> tuple:
        """(ny, nx): cells along y (rows) and x (columns)."""
        return (round(self.size[1] / self.cell_size), round(self.size[0] / self.cell_size))


@dataclass(frozen=True)
class ElectrodeInterfaceParameters(ParameterRecord):
    """The electrode-gel interfaces and the counter electrode.

    Every electrode of the array touches the gel cells under its footprint (a circle of
    the array's ``electrode_radius``, or a square; at least the cell under its centre).
    A faradaic electrode is reversible Ag/AgCl (``AgCl + e- <-> Ag + Cl-``): current
    crosses by exchanging chloride, through a linearised charge-transfer resistance
    ``interface_resistivity / area``, against the Nernst potential
    ``-(R T / F) ln(c- / salt_concentration)`` of the chloride next to it. A blocking
    (``faradaic=False``) electrode passes current only by charging its double layer
    (``double_layer_capacitance * area``) through the same resistance; it takes up
    cations and releases anions in equal amounts, so no ion enters or leaves the gel.

    Attributes
    ----------
    faradaic : bool
        Ag/AgCl (True, default) or blocking/capacitive (False) electrodes, counter
        electrode included.
    interface_resistivity : float, ohm m^2 (> 0)
        Area-specific interface (charge-transfer) resistance; default 1e-5 ohm m^2
        (0.1 ohm cm^2: a rough, well-chlorided Ag/AgCl surface).
    double_layer_capacitance : float, F/m^2 (> 0)
        Area-specific double-layer capacitance of a blocking electrode (default
        0.2 F/m^2 = 20 uF/cm^2).
    source_resistance : float, ohm (>= 0)
        Output resistance of a voltage source in series with each driven electrode.
    counter_electrode : {"perimeter", "left", "right", "bottom", "top", "none"}
        A large counter (ground) electrode at 0 V along the gel's edge cells, the way a
        bath electrode closes the circuit of an MEA; it is not part of the array.
        "none": the circuit closes through voltage-driven electrodes only (then a
        current stimulus cannot be applied).
    counter_width : float, m (> 0)
        Width of the counter electrode strip along the edge (default one 5 um cell);
        rounded to whole cells (at least one).
    reservoir : bool
        False (default): the electrodes above. True: each voltage-driven electrode and
        the counter electrode is a port onto a large salt reservoir (at
        ``salt_concentration``, held at the applied potential by an Ag/AgCl electrode
        in it), the way iontronic diodes and conical channels are measured: ions cross
        the port by the same Nernst-Planck fluxes as between cells (over half the gel
        thickness), and the reservoir never depletes. Floating electrodes stay closed;
        current stimuli are refused.
    """

    faradaic: bool = True
    interface_resistivity: float = 1e-5
    double_layer_capacitance: float = 0.2
    source_resistance: float = 0.0
    counter_electrode: str = "perimeter"
    counter_width: float = 5e-6
    reservoir: bool = False

    def __post_init__(self):
        for name in ("faradaic", "reservoir"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _check("interface_resistivity", self.interface_resistivity, 0.0, low_open=True,
               unit="ohm m^2")
        _check("double_layer_capacitance", self.double_layer_capacitance, 0.0, low_open=True,
               unit="F/m^2")
        _check("source_resistance", self.source_resistance, 0.0, unit="ohm")
        if self.counter_electrode not in COUNTER_ELECTRODES:
            raise ValueError(
                f"counter_electrode must be one of {COUNTER_ELECTRODES}, got {self.counter_electrode!r}"
            )
        _check("counter_width", self.counter_width, 0.0, low_open=True, unit="m")


@dataclass(frozen=True)
class SolverParameters(ParameterRecord):
    """Time stepping.

    Attributes
    ----------
    scheme : {"implicit", "explicit"}
        "implicit" (default): backward Euler for ions and potential together, solved by
        Newton's method with a sparse LU (scipy.sparse.linalg.splu) of the exact
        Jacobian; unconditionally stable, so dt follows the physics (ms), not the grid.
        "explicit": forward Euler for the ions with the potential solved at each step;
        refuses a dt past its stability limit (``HydrogelParameters.cell_size^2 /
        (2 n_dim D_max)`` at zero field, tighter under strong fields).
    newton_tolerance : float (> 0)
        Newton stops when the largest update is below this, relative: potential in
        units of R T / F, concentration relative to ``salt_concentration``.
    max_newton_iterations : int (>= 1)
    max_step_halvings : int (>= 0)
        A step whose Newton iteration fails (no convergence, or a non-positive
        concentration) is retried as two half steps, at most this deep; then the run
        raises a RuntimeError naming the time.
    """

    scheme: str = "implicit"
    newton_tolerance: float = 1e-9
    max_newton_iterations: int = 25
    max_step_halvings: int = 12

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        _check("newton_tolerance", self.newton_tolerance, 0.0, low_open=True)
        for name, low in (("max_newton_iterations", 1), ("max_step_halvings", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class WriteParameters(ParameterRecord):
    """The device physics of writing maps with :meth:`Hydrogel.program`.

    A written map is the asked one clipped to its allowed range, times
    ``1 + write_noise * N(0, 1)`` drawn per cell, clipped again (photopatterning of
    charged monomer and crosslinker: dose errors are relative).

    Attributes
    ----------
    write_noise : float (>= 0)
        Relative standard deviation of the written value (default 0.05).
    fixed_charge_range : (float, float), mol/m^3
        Allowed fixed charge (default -500 to 500 mol/m^3).
    crosslink_range : (float, float), volume fraction in [0, 1)
        Allowed polymer volume fraction (default 0.02 to 0.5).
    """

    write_noise: float = 0.05
    fixed_charge_range: tuple = (-500.0, 500.0)
    crosslink_range: tuple = (0.02, 0.5)

    def __post_init__(self):
        _check("write_noise", self.write_noise, 0.0)
        _pair(self, "fixed_charge_range", "mol/m^3")
        _pair(self, "crosslink_range", "volume fraction", low=0.0)
        if self.crosslink_range[1] >= 1.0:
            raise ValueError(f"crosslink_range[1] must be < 1 (volume fraction), got {self.crosslink_range[1]}")
