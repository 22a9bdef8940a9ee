"""Parameter records of the potato-style tissue (frozen dataclasses, SI units).

Each record checks its own values at construction; ``from_dict`` refuses unknown keys by
name, which is how TOML configs are read.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from substrates._records import ParameterRecord

__all__ = ["InterfaceParameters", "TissueParameters"]


def _check(name, value, low=None, high=None, *, low_open=False, unit=""):
    """Raise ValueError naming ``name`` unless ``value`` is a finite real inside the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{' (' + unit + ')' if unit else ''}, "
                         f"got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}{' ' + unit if unit else ''}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}{' ' + unit if unit else ''}, got {value!r}")


@dataclass(frozen=True)
class TissueParameters(ParameterRecord):
    """The tissue block: its cells, their electrical parts and how much they vary.

    Cells sit on a jittered cubic lattice filling a block ``cells_per_axis * cell_size``
    wide, centred on x = y = 0, from the electrode plane z = 0 up to
    z = ``cells_per_axis[2] * cell_size``. Each cell is three nodes of a bidomain circuit
    (see :class:`~substrates.potato.Potato`): apoplast (cell wall space), cytoplasm, and a
    slow ionic node. Resistances and capacitances below are medians; every cell and every
    link draws its own value log-normally with coefficient of variation ``heterogeneity``.
    Defaults: potato parenchyma (cells ~150 um, specific membrane capacitance ~1 uF/cm^2,
    beta dispersion in the tens of kHz, ionic relaxation over ~0.5 s).

    Attributes
    ----------
    cells_per_axis : (int, int, int)
        Cells along x, y, z (each >= 1).
    cell_size : float, m
        Lattice pitch (> 0), about one cell diameter.
    position_jitter : float
        Cell centres move uniformly by up to this fraction of ``cell_size`` along each
        axis (in [0, 0.5)).
    membrane_capacitance : float, F
        Plasma membrane capacitance of one cell (> 0); 150 um cell: ~3e-10 F.
    membrane_resistance : float, Ohm
        Membrane leak resistance of one cell (> 0).
    cytoplasm_resistance : float, Ohm
        Intracellular (symplastic) resistance between neighbouring cell centres: two half
        cytoplasms and the plasmodesmata joining them (> 0).
    apoplast_resistance : float, Ohm
        Extracellular resistance between neighbouring cells' apoplast nodes, through the
        cell walls and intercellular fluid (> 0).
    ion_resistance : float, Ohm
        Slow ionic branch across each membrane: resistance in series with
        ``ion_capacitance`` (> 0). Ions redistributing (concentration polarisation) give the
        tissue fading memory with time constant ``ion_resistance * ion_capacitance``.
    ion_capacitance : float, F
        Pseudo-capacitance of the slow ionic branch (> 0).
    counter_resistance : float, Ohm
        Resistance from each cell of the far face (z top) to the counter/reference plate
        (ground), which closes every stimulation circuit (> 0).
    heterogeneity : float
        Coefficient of variation of every per-cell and per-link value (log-normal, median
        kept; in [0, 2]). 0 gives identical cells.
    """

    _tuples_as_lists = True  # to_dict writes tuples as lists, as TOML holds them

    cells_per_axis: tuple = (12, 6, 4)
    cell_size: float = 150e-6
    position_jitter: float = 0.2
    membrane_capacitance: float = 3e-10
    membrane_resistance: float = 3e7
    cytoplasm_resistance: float = 2e4
    apoplast_resistance: float = 1e5
    ion_resistance: float = 1e8
    ion_capacitance: float = 5e-9
    counter_resistance: float = 1e4
    heterogeneity: float = 0.3

    def __post_init__(self):
        cells = self.cells_per_axis
        if isinstance(cells, list):
            cells = tuple(cells)
            object.__setattr__(self, "cells_per_axis", cells)
        if (not isinstance(cells, tuple) or len(cells) != 3
                or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 1
                           for c in cells)):
            raise ValueError(f"cells_per_axis must be three integers >= 1 (x, y, z), got {cells!r}")
        object.__setattr__(self, "cells_per_axis", tuple(int(c) for c in cells))
        _check("cell_size", self.cell_size, 0.0, low_open=True, unit="m")
        _check("position_jitter", self.position_jitter, 0.0, unit="(fraction of cell_size)")
        if self.position_jitter >= 0.5:
            raise ValueError(f"position_jitter must be in [0, 0.5) (fraction of cell_size), "
                             f"got {self.position_jitter!r}")
        for name, unit in (("membrane_capacitance", "F"), ("membrane_resistance", "Ohm"),
                           ("cytoplasm_resistance", "Ohm"), ("apoplast_resistance", "Ohm"),
                           ("ion_resistance", "Ohm"), ("ion_capacitance", "F"),
                           ("counter_resistance", "Ohm")):
            _check(name, getattr(self, name), 0.0, low_open=True, unit=unit)
        _check("heterogeneity", self.heterogeneity, 0.0, 2.0, unit="(coefficient of variation)")

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        x, y, z = self.cells_per_axis
        return x * y * z

    @property
    def size(self) -> tuple:
        """Block size (x, y, z), m."""
        return tuple(c * self.cell_size for c in self.cells_per_axis)

    @property
    def ion_time_constant(self) -> float:
        """Median ionic relaxation time ``ion_resistance * ion_capacitance``, s."""
        return self.ion_resistance * self.ion_capacitance


@dataclass(frozen=True)
class InterfaceParameters(ParameterRecord):
    """Electrode-tissue interface: double layer, Butler-Volmer charge transfer, series resistance.

    Between an electrode's metal and the apoplast node nearest it sit, in series, the
    interface proper and ``series_resistance``. The interface is a double layer (a
    constant-phase element of admittance ``Q A (j omega)^alpha``, ``A`` the electrode area
    from the array's ``electrode_radius``; a plain capacitor ``Q A`` when alpha = 1) in
    parallel with the faradaic current

        i_F = i0 A (exp(alpha_a F eta / (R T)) - exp(-alpha_c F eta / (R T)))

    (Butler-Volmer), with ``eta`` the metal potential minus the solution potential behind
    the double layer (the interface is at equilibrium at eta = 0). A CPE with alpha < 1 is
    approximated by ``cpe_branches`` series R-C branches in parallel, with relaxation rates
    spaced log-evenly over [``cpe_min_frequency``, ``cpe_max_frequency``] and weights from
    the CPE's distribution of relaxation times (exact in the limit of many branches); the
    ladder is part of the circuit, in the model and in the SPICE netlist alike.

    Attributes
    ----------
    double_layer_capacitance : float, F m^-2 s^(alpha-1)
        Q per electrode area (> 0); 0.2 F/m^2 is 20 uF/cm^2, a metal in saline.
    cpe_exponent : float
        alpha in (0, 1]; 1 gives an ideal capacitor.
    cpe_branches : int
        R-C branches of the CPE ladder when alpha < 1 (in 1..40).
    cpe_min_frequency, cpe_max_frequency : float, Hz
        Band over which the ladder follows the CPE (0 < min < max).
    exchange_current_density : float, A/m^2
        i0 (>= 0; 0 switches charge transfer off).
    anodic_transfer_coefficient, cathodic_transfer_coefficient : float
        alpha_a, alpha_c in (0, 1].
    temperature : float, K
        (> 0).
    series_resistance : float, Ohm
        Spreading resistance from the interface into the tissue (> 0).
    """

    _tuples_as_lists = True  # to_dict writes tuples as lists, as TOML holds them

    double_layer_capacitance: float = 0.2
    cpe_exponent: float = 0.9
    cpe_branches: int = 6
    cpe_min_frequency: float = 0.1
    cpe_max_frequency: float = 1e5
    exchange_current_density: float = 0.1
    anodic_transfer_coefficient: float = 0.5
    cathodic_transfer_coefficient: float = 0.5
    temperature: float = 295.15
    series_resistance: float = 2e3

    def __post_init__(self):
        _check("double_layer_capacitance", self.double_layer_capacitance, 0.0, low_open=True,
               unit="F m^-2 s^(alpha-1)")
        _check("cpe_exponent", self.cpe_exponent, 0.0, 1.0, low_open=True)
        if (isinstance(self.cpe_branches, bool) or not isinstance(self.cpe_branches, numbers.Integral)
                or not 1 <= self.cpe_branches <= 40):
            raise ValueError(f"cpe_branches must be an integer in 1..40, got {self.cpe_branches!r}")
        _check("cpe_min_frequency", self.cpe_min_frequency, 0.0, low_open=True, unit="Hz")
        _check("cpe_max_frequency", self.cpe_max_frequency, 0.0, low_open=True, unit="Hz")
        if self.cpe_max_frequency <= self.cpe_min_frequency:
            raise ValueError(f"cpe_max_frequency ({self.cpe_max_frequency} Hz) must exceed "
                             f"cpe_min_frequency ({self.cpe_min_frequency} Hz)")
        _check("exchange_current_density", self.exchange_current_density, 0.0, unit="A/m^2")
        _check("anodic_transfer_coefficient", self.anodic_transfer_coefficient, 0.0, 1.0, low_open=True)
        _check("cathodic_transfer_coefficient", self.cathodic_transfer_coefficient, 0.0, 1.0,
               low_open=True)
        _check("temperature", self.temperature, 0.0, low_open=True, unit="K")
        _check("series_resistance", self.series_resistance, 0.0, low_open=True, unit="Ohm")

    @property
    def thermal_voltage(self) -> float:
        """R T / F, V."""
        return 8.314462618 * self.temperature / 96485.33212

    def cpe_ladder(self, area: float):
        """The double layer of an electrode of ``area`` (m^2) as series R-C branches.

        Returns
        -------
        resistances : array (n_branches,), Ohm, or empty for alpha = 1
        capacitances : array (n_branches,), F; for alpha = 1 one capacitor ``Q * area``
            (with ``resistances`` empty).

        Notes
        -----
        For 0 < alpha < 1, ``s^alpha = sin(alpha pi)/pi * int_0^inf u^(alpha-1) s/(s+u) du``;
        each term ``s/(s+u)`` is a series R-C branch with ``1/(R C) = u``. The integral is
        sampled at ``u_k = 2 pi f_k`` log-evenly spaced (step ``delta`` in ln u), giving
        ``1/R_k = Q A sin(alpha pi)/pi * u_k^alpha * delta`` and ``C_k = 1/(R_k u_k)``.

        Examples
        --------
        >>> r, c = InterfaceParameters(cpe_exponent=1.0).cpe_ladder(1e-8)
        >>> r.size, float(c[0])
        (0, 2e-09)
        """
        import numpy as np

        q = self.double_layer_capacitance * area
        alpha = self.cpe_exponent
        if alpha == 1.0:
            return np.zeros(0), np.array([q])
        n = int(self.cpe_branches)
        lo, hi = math.log(2 * math.pi * self.cpe_min_frequency), math.log(2 * math.pi * self.cpe_max_frequency)
        if n == 1:
            ln_u = np.array([(lo + hi) / 2])
            delta = hi - lo
        else:
            delta = (hi - lo) / (n - 1)
            ln_u = lo + delta * np.arange(n)
        u = np.exp(ln_u)
        conductance = q * math.sin(alpha * math.pi) / math.pi * u**alpha * delta
        resistance = 1.0 / conductance
        return resistance, 1.0 / (resistance * u)
