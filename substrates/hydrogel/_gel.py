"""Hydrogel: an iontronic gel with patternable fixed charge and crosslinking, on electrodes."""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from substrates._electrodes import ElectrodeArray
from substrates._protocol import run_duration, stimulus_on_grid
from substrates._random import check_random_state, child_generators
from substrates._recording import Recording
from substrates._stimulus import Stimulus
from substrates.hydrogel import _kernels as K
from substrates.hydrogel._parameters import (
    ElectrodeInterfaceParameters,
    HydrogelParameters,
    SolverParameters,
    WriteParameters,
)

__all__ = ["GelState", "Hydrogel"]

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)
_READOUTS = ("potential", "current")
# relative slack for "electrode on the gel" (positions exactly on the edge are on it)
_EDGE_RTOL = 1e-9
# a chord-Newton iteration reuses the LU while each update shrinks at least this fast
_CHORD_CONTRACTION = 0.1


class GelState(NamedTuple):
    """Dynamic state of a :class:`Hydrogel`.

    cation_concentration, anion_concentration : float64 (n_cells,), mol/m^3
    potential : float64 (n_cells,), V (gel potential against the counter electrode)
    interface_charge : float64 (n_contacts,), C (double-layer charge of blocking
        contacts; zero for faradaic electrodes)
    time : float, s since the last reset
    """

    cation_concentration: np.ndarray
    anion_concentration: np.ndarray
    potential: np.ndarray
    interface_charge: np.ndarray
    time: float


def _bernoulli(x):
    """B(x) = x / (exp(x) - 1) elementwise (numpy twin of the kernel's, same branches)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) < 1e-4
    out[small] = 1.0 - 0.5 * x[small] + x[small] ** 2 / 12.0
    pos = ~small & (x > 0)
    out[pos] = x[pos] * np.exp(-x[pos]) / -np.expm1(-x[pos])
    neg = ~small & (x < 0)
    out[neg] = x[neg] / np.expm1(x[neg])
    return out


def _slotboom_mean(x, y):
    """``M = x y / logmean(x, y)`` elementwise and its log-derivatives ``d ln M / d ln x, y``.

    Written as ``sqrt(x y) z / sinh(z)`` with ``z = ln(y / x) / 2`` (symmetric, and a
    Taylor series where ``|z| < 1e-3``: truncation ~z^6 < 1e-18).
    """
    z = 0.5 * (np.log(y) - np.log(x))
    az = np.abs(z)
    small = az < 1e-3
    safe = np.where(small, 1.0, az)
    z2 = z * z
    shape = np.where(small, 1.0 - z2 / 6.0 + 7.0 * z2 * z2 / 360.0,
                     2.0 * safe * np.exp(-safe) / -np.expm1(-2.0 * safe))
    zs = np.where(small, 1.0, z)
    q = np.where(small, -z / 3.0 + z * z2 / 45.0, 1.0 / zs - 1.0 / np.tanh(zs))  # (ln s)'(z)
    return np.sqrt(x * y) * shape, 0.5 - 0.5 * q, 0.5 + 0.5 * q


def _positive_time(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a finite time > 0 s, got {value!r}")
    return float(value)


class Hydrogel:
    """An iontronic hydrogel reached through an electrode array.

    Mobile cations and anions (a 1:1 salt, KCl by default) drift and diffuse through an
    electroneutral polyelectrolyte gel (``c+ - c- + X = 0`` in every cell) whose fixed
    charge ``X`` and crosslink density (polymer volume fraction, which hinders ion
    mobility) are maps that can be written (:meth:`pattern`, :meth:`program`): a
    bipolar junction of positive and negative fixed charge is an ionic diode, and
    concentration polarisation at junctions and electrodes gives the gel a memory that
    fades over the diffusion time ``L^2 / D`` of its features, as in conical-channel
    iontronic memristors.

    Model: finite volumes on a regular grid (cells of ``gel.cell_size``, one cell
    through ``gel.thickness``), Nernst-Planck fluxes with the Scharfetter-Gummel
    discretisation (exact for exponential profiles, positive at any field), the
    potential from current conservation, backward Euler in time solved by Newton's
    method with the exact sparse Jacobian (see :mod:`substrates.hydrogel._kernels`).
    Every flux leaves one cell and enters its neighbour, so ions are conserved to
    round-off unless a faradaic electrode exchanges them. The LU factorisation is reused
    across Newton iterations and steps while updates contract fast (a chord method) and
    a step with the same drive as the last starts from their linear extrapolation; the
    converged state does not depend on either. For the default gel (20 x 20 cells) a
    step costs ~0.25 ms at rest and ~0.8 ms under a changing drive (one core).
    A deterministic, differentiable-in-principle forward model: no randomness except
    the recording noise and the write noise of :meth:`program`.

    Electrodes are boundary conditions on the cells under their footprint:

    - a **current** stimulus (unit "A") injects each stimulating electrode's current
      (0 A: the electrode floats, drawing nothing); the counter electrode (a strip of
      gel edge at 0 V, ``interface.counter_electrode``) closes the circuit;
    - a **voltage** stimulus (unit "V") holds every stimulating electrode at its
      voltage through its interface (and ``interface.source_resistance``); electrodes
      that cannot stimulate float. Route the drive with ``can_stimulate``.

    Faradaic electrodes are reversible Ag/AgCl: current crosses by exchanging chloride
    against the local Nernst potential, so an electrode at rest reads 0 V whatever the
    local Donnan potential; a current past an electrode's chloride diffusion limit
    (about 80 nA for a 5 um electrode in the default gel) cannot be carried, and the run
    stops with a RuntimeError naming the time. Blocking electrodes (``faradaic=False``)
    charge a double layer instead and exchange no ions. Reservoir electrodes
    (``reservoir=True``, voltage drive only) open onto a salt bath that never depletes,
    as in iontronic diode measurements.

    Recording is passive (floating electrodes draw no current): electrode potentials in
    V (default) or electrode currents in A (``readout="current"``), through
    ``electrodes.acquire`` (noise, ADC) at ``electrodes.sampling_rate``. The gel's own
    step ``dt`` may be finer or coarser: sample ``k`` (time ``k / sampling_rate``)
    takes the value of the gel step whose interval contains that time (sample and
    hold), the same rule for the hidden state.

    Parameters
    ----------
    electrodes : ElectrodeArray, optional
        Default :meth:`default_electrodes` for ``readout`` (a 4 x 4 grid at 25 um pitch,
        1 kHz). Its front end (noise_rms, adc_range) is in the recorded unit: V for
        potentials, A for currents. Every stimulating or recording electrode must lie
        on the gel.
    dt : float, s
        Gel time step (default 1 ms, against a cell diffusion time ``h^2 / D`` of ~20 ms
        and a diffusion time across the 25 um pitch of ~0.5 s for the default gel).
        Backward Euler is stable at any dt; its error is first order in ``dt / tau``.
    gel : HydrogelParameters
    interface : ElectrodeInterfaceParameters
    solver : SolverParameters
    writing : WriteParameters
        Limits and noise of :meth:`program`.
    readout : {"potential", "current"}
    random_state : int, Generator, SeedSequence or None
        Seeds the write noise of :meth:`program` and, through :meth:`reset`, the
        recording noise. The gel itself is deterministic.

    Attributes
    ----------
    grid_shape : (ny, nx)
        Map shape for :meth:`pattern` (row ``iy`` at y, column ``ix`` at x, both ascending).
    n_cells : int
    cell_positions : array (n_cells, 3), m
        Cell centres (row-major over ``grid_shape``; z at mid-thickness).
    explicit_stability_limit : float, s
        Forward-Euler limit at zero field for the current maps.
    thermal_voltage : float, V
        R T / F.

    Notes
    -----
    "Thin 3D": the slab is depth-averaged (one cell through ``thickness``), valid while
    the thickness is at most a few cells; electrodes sit under it (their z is ignored).
    A floating Ag/AgCl electrode reads ``phi - (R T / F) ln(c- / salt)`` (the chloride
    electrochemical potential, 0 V at rest), a current-driven one adds its interface
    drop, a voltage-driven one reads its applied voltage.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Stimulus
    >>> from substrates.hydrogel import Hydrogel
    >>> gel = Hydrogel(random_state=0)
    >>> stim = Stimulus.encode(np.array([[1.0], [-1.0]]), n_channels=16,
    ...                        channel_map=[5], dt=gel.dt, **gel.encoding)
    >>> rec = gel.run(stim)
    >>> rec.data.shape, rec.unit
    ((100, 16), 'V')
    """

    #: ground-truth time series that make up the full state (see substrates._protocol)
    hidden_state_keys = ("cation_concentration", "anion_concentration", "potential")
    #: fixed-charge and crosslink maps can be written (see :meth:`program`)
    programmable = True

    def __init__(
        self,
        electrodes: ElectrodeArray | None = None,
        *,
        dt: float = 1e-3,
        gel: HydrogelParameters | None = None,
        interface: ElectrodeInterfaceParameters | None = None,
        solver: SolverParameters | None = None,
        writing: WriteParameters | None = None,
        readout: str = "potential",
        random_state=None,
    ):
        if readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
        self.readout = readout
        self.dt = _positive_time("dt", dt)
        self.electrodes = electrodes if electrodes is not None else self.default_electrodes(readout)
        if not isinstance(self.electrodes, ElectrodeArray):
            raise TypeError(f"electrodes must be an ElectrodeArray, got {type(self.electrodes).__name__}")
        for name, value, record in (("gel", gel, HydrogelParameters),
                                    ("interface", interface, ElectrodeInterfaceParameters),
                                    ("solver", solver, SolverParameters),
                                    ("writing", writing, WriteParameters)):
            if value is None:
                value = record()
            if not isinstance(value, record):
                raise TypeError(f"{name} must be a {record.__name__}, got {type(value).__name__}")
            setattr(self, name, value)
        g = self.gel
        self.thermal_voltage = GAS_CONSTANT * g.temperature / FARADAY
        self._build_grid()
        self._build_contacts()
        self._fixed_charge = np.full(self.n_cells, float(g.fixed_charge))
        self._crosslink = np.full(self.n_cells, float(g.crosslink))
        self._update_coefficients()
        self._entropy = int(check_random_state(random_state).integers(2**63))
        self._write_rng = child_generators(np.random.SeedSequence(self._entropy, spawn_key=(0,)),
                                           ["write"])["write"]
        self.reset()

    # ------------------------------------------------------------------ defaults
    @staticmethod
    def default_electrodes(readout: str = "potential") -> ElectrodeArray:
        """The default array: a 4 x 4 grid at 25 um pitch, 5 um radius, 1 kHz.

        Potentials: 10 uV rms noise, 16-bit ADC over +-1 V. Currents: 10 pA rms noise,
        16-bit ADC over +-1 uA.

        Examples
        --------
        >>> Hydrogel.default_electrodes().n_electrodes
        16
        """
        if readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {readout!r}")
        if readout == "potential":
            front = {"noise_rms": 10e-6, "adc_range": (-1.0, 1.0)}
        else:
            front = {"noise_rms": 10e-12, "adc_range": (-1e-6, 1e-6)}
        return ElectrodeArray.grid(4, 4, pitch=25e-6, electrode_radius=5e-6, sampling_rate=1000.0,
                                   adc_bits=16, name="hydrogel4x4", **front)

    # ------------------------------------------------------------------ build
    def _build_grid(self):
        g = self.gel
        ny, nx = g.grid_shape
        h = g.cell_size
        self.grid_shape = (ny, nx)
        self.n_cells = nx * ny
        x = -g.size[0] / 2 + (np.arange(nx) + 0.5) * h
        y = -g.size[1] / 2 + (np.arange(ny) + 0.5) * h
        xx, yy = np.meshgrid(x, y)  # (ny, nx), row iy, column ix
        self._x, self._y = xx, yy
        self.cell_positions = np.column_stack([xx.ravel(), yy.ravel(),
                                               np.full(self.n_cells, g.thickness / 2)])
        self.cell_positions.setflags(write=False)
        self._volume = h * h * g.thickness
        ids = np.arange(self.n_cells).reshape(ny, nx)
        a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
        b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
        self._face_a = a.astype(np.int64)
        self._face_b = b.astype(np.int64)
        n, nf = self.n_cells, a.size
        # sparse pattern of the interleaved 2n x 2n Jacobian, in the kernel's block order
        block_row = np.concatenate([np.arange(n), a, b])
        block_col = np.concatenate([np.arange(n), b, a])
        order = np.empty(n + 2 * nf, dtype=np.int64)  # kernel block order: diag, (a,b),(b,a),...
        order[:n] = np.arange(n)
        order[n::2] = n + np.arange(nf)
        order[n + 1::2] = n + nf + np.arange(nf)
        br, bc = block_row[order], block_col[order]
        rows = (2 * br[:, None] + np.array([0, 0, 1, 1])[None, :]).ravel()
        cols = (2 * bc[:, None] + np.array([0, 1, 0, 1])[None, :]).ravel()
        from scipy import sparse

        probe = sparse.csc_matrix((np.arange(rows.size, dtype=np.float64) + 1.0, (rows, cols)),
                                  shape=(2 * n, 2 * n))
        probe.sort_indices()
        self._csc_perm = (probe.data - 1.0).astype(np.int64)  # CSC data[k] = jac[perm[k]]
        self._csc_indices = probe.indices.copy()
        self._csc_indptr = probe.indptr.copy()
        # jac slots of the charge row of cell 0 (replaced by a gauge when nothing fixes psi)
        slots = np.flatnonzero(rows == 1)
        self._gauge_slots = slots
        self._gauge_diag = int(np.flatnonzero((rows == 1) & (cols == 1))[0])

    def _footprint_cells(self, position):
        array = self.electrodes
        dx = self._x.ravel() - position[0]
        dy = self._y.ravel() - position[1]
        r = array.electrode_radius
        if array.electrode_shape == "circle":
            inside = np.flatnonzero(dx * dx + dy * dy <= r * r * (1 + 1e-12))
        else:
            inside = np.flatnonzero((np.abs(dx) <= r * (1 + 1e-12)) & (np.abs(dy) <= r * (1 + 1e-12)))
        if inside.size == 0:
            inside = np.array([int(np.argmin(dx * dx + dy * dy))])
        return inside

    def _build_contacts(self):
        array = self.electrodes
        g, itf = self.gel, self.interface
        used = np.union1d(array.recording_electrodes, array.stimulating_electrodes)
        xy = array.positions[used, :2]
        half = np.array(g.size) / 2 * (1 + _EDGE_RTOL)
        outside = np.any(np.abs(xy) > half, axis=1)
        if np.any(outside):
            bad = used[outside]
            raise ValueError(
                f"electrodes {bad[:10].tolist()}{'...' if bad.size > 10 else ''} ({bad.size} in all) "
                f"lie outside the gel: positions must satisfy |x| <= {g.size[0] / 2} m and "
                f"|y| <= {g.size[1] / 2} m (gel.size = {g.size} m, centred on the array); "
                "enlarge gel.size or route/select electrodes on the gel"
            )
        if array.electrode_shape == "circle":
            area = math.pi * array.electrode_radius**2
        else:
            area = 4.0 * array.electrode_radius**2
        cells, owner, areas = [], [], []
        for e in used.tolist():
            inside = self._footprint_cells(array.positions[e])
            cells.append(inside)
            owner.append(np.full(inside.size, e))
            areas.append(np.full(inside.size, area / inside.size))
        counter = self._counter_cells()
        if counter.size:
            cells.append(counter)
            owner.append(np.full(counter.size, -1))
            areas.append(np.full(counter.size, g.cell_size**2))
        self._contact_cell = np.concatenate(cells).astype(np.int64)
        self._contact_owner = np.concatenate(owner).astype(np.int64)
        self._contact_area = np.concatenate(areas)
        self.n_contacts = self._contact_cell.size
        # per-contact interface resistance (ohm) and double-layer capacitance (F)
        self._contact_resistance = itf.interface_resistivity / self._contact_area
        self._contact_capacitance = itf.double_layer_capacitance * self._contact_area
        counts = np.bincount(self._contact_owner[self._contact_owner >= 0],
                             minlength=array.n_electrodes)
        n_of_owner = np.where(self._contact_owner >= 0, counts[np.maximum(self._contact_owner, 0)], 1)
        # each of an electrode's n contacts gets n times the source resistance: in parallel
        # they add up to one source resistance (exact for equal contacts)
        self._contact_source = np.where(self._contact_owner >= 0, itf.source_resistance * n_of_owner, 0.0)
        # fraction of an electrode's current through each contact (by area)
        self._contact_share = np.where(self._contact_owner >= 0, 1.0 / n_of_owner, 0.0)
        channel_of = np.full(array.n_electrodes, -1, dtype=np.int64)
        channel_of[array.stimulating_electrodes] = np.arange(array.n_stimulating)
        self._contact_channel = np.where(self._contact_owner >= 0,
                                         channel_of[np.maximum(self._contact_owner, 0)], -1)
        rec_of = np.full(array.n_electrodes, -1, dtype=np.int64)
        rec_of[array.recording_electrodes] = np.arange(array.n_recording)
        self._contact_recording = np.where(self._contact_owner >= 0,
                                           rec_of[np.maximum(self._contact_owner, 0)], -1)
        recorded = self._contact_recording >= 0
        self._rec_contacts = np.flatnonzero(recorded)
        self._rec_index = self._contact_recording[recorded]
        self._rec_weight = 1.0 / np.bincount(self._rec_index, minlength=array.n_recording)[self._rec_index]

    def _counter_cells(self):
        itf = self.interface
        ny, nx = self.grid_shape
        w = max(1, round(itf.counter_width / self.gel.cell_size))
        mask = np.zeros((ny, nx), dtype=bool)
        side = itf.counter_electrode
        if side == "none":
            return np.zeros(0, dtype=np.int64)
        if side in ("perimeter", "left"):
            mask[:, :w] = True
        if side in ("perimeter", "right"):
            mask[:, nx - w:] = True
        if side in ("perimeter", "bottom"):
            mask[:w, :] = True
        if side in ("perimeter", "top"):
            mask[ny - w:, :] = True
        return np.flatnonzero(mask.ravel()).astype(np.int64)

    def _update_coefficients(self):
        g = self.gel
        hindrance = ((1.0 - self._crosslink) / (1.0 + self._crosslink)) ** 2  # Mackie-Meares
        a, b = self._face_a, self._face_b

        def face(d_free):
            d = d_free * hindrance
            return g.thickness * 2.0 * d[a] * d[b] / (d[a] + d[b])  # harmonic mean, x A/h

        self._kp = face(g.cation_diffusivity)
        self._km = face(g.anion_diffusivity)
        # reservoir ports: the cell's diffusivity over half the thickness, times the area
        port = self._contact_area / (g.thickness / 2)
        cell = self._contact_cell
        self._port_kp = g.cation_diffusivity * hindrance[cell] * port
        self._port_km = g.anion_diffusivity * hindrance[cell] * port
        outflow = np.zeros(self.n_cells)
        np.add.at(outflow, a, 0.5 * (self._kp + self._km))
        np.add.at(outflow, b, 0.5 * (self._kp + self._km))
        with np.errstate(divide="ignore"):
            self.explicit_stability_limit = float(np.min(np.where(outflow > 0, self._volume / outflow,
                                                                  np.inf)))
        self._check_explicit_dt()

    def _check_explicit_dt(self):
        if self.solver.scheme == "explicit" and self.dt > self.explicit_stability_limit:
            raise ValueError(
                f"dt = {self.dt:g} s exceeds the explicit scheme's stability limit "
                f"{self.explicit_stability_limit:g} s (cell_size^2 / (2 n_dim D_eff) at zero field); "
                "use dt <= the limit or solver.scheme = 'implicit'"
            )

    # ------------------------------------------------------------------ maps
    @property
    def fixed_charge(self) -> np.ndarray:
        """Fixed-charge map X, array (ny, nx), mol/m^3 (signed; a copy)."""
        return self._fixed_charge.reshape(self.grid_shape).copy()

    @property
    def crosslink(self) -> np.ndarray:
        """Crosslink map (polymer volume fraction), array (ny, nx) (a copy)."""
        return self._crosslink.reshape(self.grid_shape).copy()

    @property
    def effective_diffusivity(self) -> dict:
        """Cell diffusivities after hindrance: {"cation", "anion"} -> array (ny, nx), m^2/s."""
        h = ((1.0 - self._crosslink) / (1.0 + self._crosslink)) ** 2
        return {"cation": (self.gel.cation_diffusivity * h).reshape(self.grid_shape),
                "anion": (self.gel.anion_diffusivity * h).reshape(self.grid_shape)}

    def _resolve_map(self, name, value):
        if callable(value):
            value = value(self._x.copy(), self._y.copy())
        try:
            arr = np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), self.grid_shape))
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be an array of the grid's shape {self.grid_shape} (ny, nx), a scalar, "
                f"or a callable f(x, y) of cell centres (m) returning one; got shape "
                f"{np.shape(value)}"
            ) from None
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
        if name == "crosslink" and (arr.min() < 0.0 or arr.max() >= 1.0):
            raise ValueError(
                f"crosslink must be a polymer volume fraction in [0, 1), got values in "
                f"[{arr.min():g}, {arr.max():g}]"
            )
        return arr

    def pattern(self, fixed_charge=None, crosslink=None) -> None:
        """Write maps into the gel exactly, then return it to rest.

        The gel re-equilibrates with its salt (Donnan equilibrium in every cell, time 0)
        as if soaked after patterning; the recording noise stream is not touched.

        Parameters
        ----------
        fixed_charge : array (ny, nx), scalar or callable f(x, y) -> array, mol/m^3, optional
            Signed fixed charge X (``c+ - c- + X = 0``). ``x, y`` are the cell centres
            (arrays of shape (ny, nx), m).
        crosslink : array (ny, nx), scalar or callable, optional
            Polymer volume fraction in [0, 1).

        Examples
        --------
        >>> gel = Hydrogel()
        >>> gel.pattern(fixed_charge=lambda x, y: 50.0 * np.sign(x))
        >>> float(gel.fixed_charge.max())
        50.0
        """
        fc = None if fixed_charge is None else self._resolve_map("fixed_charge", fixed_charge)
        cl = None if crosslink is None else self._resolve_map("crosslink", crosslink)
        old = (self._fixed_charge, self._crosslink)
        if fc is not None:
            self._fixed_charge = fc.ravel().copy()
        if cl is not None:
            self._crosslink = cl.ravel().copy()
        try:
            self._update_coefficients()
        except ValueError:
            self._fixed_charge, self._crosslink = old
            self._update_coefficients()
            raise
        self._equilibrate()

    def program(self, fixed_charge=None, crosslink=None) -> dict:
        """Write maps with the device physics of writing; report what was written.

        Each asked map is clipped to its allowed range (``writing.fixed_charge_range``,
        ``writing.crosslink_range``), multiplied per cell by ``1 + writing.write_noise *
        N(0, 1)`` (drawn from the gel's own write stream) and clipped again, then
        written with :meth:`pattern`.

        Parameters
        ----------
        fixed_charge, crosslink : as in :meth:`pattern`

        Returns
        -------
        dict
            For each map given, ``{"asked": (ny, nx), "written": (ny, nx), "rms_error":
            float}`` (mol/m^3 for fixed charge, volume fraction for crosslink).

        Examples
        --------
        >>> gel = Hydrogel(random_state=0)
        >>> report = gel.program(fixed_charge=1000.0)
        >>> float(report["fixed_charge"]["written"].max()) <= 500.0
        True
        """
        w = self.writing
        report, written = {}, {}
        for name, value, (low, high) in (("fixed_charge", fixed_charge, w.fixed_charge_range),
                                         ("crosslink", crosslink, w.crosslink_range)):
            if value is None:
                continue
            asked = self._resolve_map(name, value)
            out = np.clip(asked, low, high)
            if w.write_noise > 0:
                out = out * (1.0 + w.write_noise * self._write_rng.standard_normal(out.shape))
                out = np.clip(out, low, high)
            written[name] = out
            report[name] = {"asked": asked, "written": out.copy(),
                            "rms_error": float(np.sqrt(np.mean((out - asked) ** 2)))}
        if written:
            self.pattern(**written)
        return report

    # ------------------------------------------------------------------ small-signal transfer
    def _transfer_electrodes(self, name, values, allowed, what):
        try:
            idx = np.asarray(values)
        except (TypeError, ValueError):
            idx = np.asarray([None])
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{name} must be a non-empty 1D sequence of electrode indices (int), "
                             f"got {values!r}")
        bad = idx[~np.isin(idx, allowed)]
        if bad.size:
            raise ValueError(f"{name} {bad.tolist()} are not {what} electrodes of the array; "
                             f"allowed: {np.asarray(allowed).tolist()}")
        return idx.astype(np.int64)

    def _transfer_network(self, fixed_charge, crosslink):
        """Face conductances (S) of the DC small-signal network and their derivatives.

        Returns ``g, dg_dx_a, dg_dx_b, dg_dphi_a, dg_dphi_b`` (all (n_faces,)): derivatives
        by the fixed charge (S per mol/m^3) and crosslink (S) of the face's two cells.
        """
        itf = self.interface
        if not itf.faradaic or itf.reservoir or itf.counter_electrode == "none":
            raise ValueError(
                "the DC transfer needs reversible (faradaic) electrodes, no reservoir ports and a "
                "counter electrode (interface.faradaic=True, interface.reservoir=False, "
                f"interface.counter_electrode != 'none'); got faradaic={itf.faradaic}, "
                f"reservoir={itf.reservoir}, counter_electrode={itf.counter_electrode!r}"
            )
        p = self.gel
        x = self._fixed_charge if fixed_charge is None else \
            self._resolve_map("fixed_charge", fixed_charge).ravel()
        phi = self._crosslink if crosslink is None else \
            self._resolve_map("crosslink", crosslink).ravel()
        c = p.salt_concentration
        root = np.sqrt(x * x + 4.0 * c * c)
        anion = 0.5 * (x + root)  # Donnan equilibrium c- (mol/m^3)
        danion = anion / root  # dc-/dX
        ratio = (1.0 - phi) / (1.0 + phi)
        diff = p.anion_diffusivity * ratio**2  # Mackie-Meares D-_eff
        ddiff = p.anion_diffusivity * 2.0 * ratio * (-2.0 / (1.0 + phi) ** 2)
        a, b = self._face_a, self._face_b
        da, db = diff[a], diff[b]
        km = p.thickness * 2.0 * da * db / (da + db)  # the kernel's harmonic-mean face
        dkm_a = p.thickness * 2.0 * db * db / (da + db) ** 2
        dkm_b = p.thickness * 2.0 * da * da / (da + db) ** 2
        mean, dlog_a, dlog_b = _slotboom_mean(anion[a], anion[b])
        factor = FARADAY / self.thermal_voltage
        g = factor * km * mean
        dg_dx_a = g * dlog_a / anion[a] * danion[a]
        dg_dx_b = g * dlog_b / anion[b] * danion[b]
        dg_dphi_a = factor * mean * dkm_a * ddiff[a]
        dg_dphi_b = factor * mean * dkm_b * ddiff[b]
        return g, dg_dx_a, dg_dx_b, dg_dphi_a, dg_dphi_b

    def _transfer_solve(self, inputs, outputs, g):
        """Unit-current potentials (n_cells, n_in), readout adjoints (n_cells, n_out), R."""
        from scipy import sparse
        from scipy.sparse.linalg import splu

        n = self.n_cells
        a, b = self._face_a, self._face_b
        counter = self._contact_owner < 0
        cc = self._contact_cell[counter]
        rows = np.concatenate([a, b, a, b, cc])
        cols = np.concatenate([a, b, b, a, cc])
        vals = np.concatenate([g, g, -g, -g, 1.0 / self._contact_resistance[counter]])
        lap = sparse.csc_matrix((vals, (rows, cols)), shape=(n, n))
        lu = splu(lap, permc_spec="MMD_AT_PLUS_A")
        owner, cell = self._contact_owner, self._contact_cell
        inject = np.zeros((n, inputs.size))
        read = np.zeros((n, outputs.size))
        for i, e in enumerate(inputs.tolist()):
            k = owner == e
            np.add.at(inject[:, i], cell[k], self._contact_share[k])
        for j, e in enumerate(outputs.tolist()):
            k = owner == e
            np.add.at(read[:, j], cell[k], 1.0 / np.count_nonzero(k))
        forward = lu.solve(inject)
        adjoint = lu.solve(read)
        transfer = forward.T @ read
        for i, e in enumerate(inputs.tolist()):  # an electrode reading its own current:
            for j in np.flatnonzero(outputs == e):  # plus its interface drop
                k = owner == e
                transfer[i, j] += np.sum(self._contact_share[k] * self._contact_resistance[k]) \
                    / np.count_nonzero(k)
        return forward, adjoint, transfer

    def transfer_matrix(self, inputs, outputs, *, fixed_charge=None, crosslink=None) -> np.ndarray:
        """DC small-signal transfer resistance from input to output electrodes, ohm.

        ``R[i, j]`` is the steady potential (V, against the grounded counter electrode)
        that electrode ``outputs[j]`` reads per ampere of constant current into electrode
        ``inputs[i]``, in the limit of small currents, computed exactly for this model
        (the same Scharfetter-Gummel discretisation :meth:`run` integrates) from its
        equations linearised about the rest state:

        - at a steady state no cation crosses an Ag/AgCl electrode, so the cation flux
          vanishes on every face and only chloride carries the current;
        - the Scharfetter-Gummel chloride flux in Slotboom form, ``Jm = km B(d) exp(psi_b)
          (u_a - u_b)`` with ``u = c- exp(-psi)``, linearised about the Donnan rest state
          (``u = salt`` everywhere), is a resistor network for the recorded
          potential ``V = (R T / F)(psi - ln(c- / salt))``, with face conductance
          ``g = (F^2 / R T) km c-_a c-_b / logmean(c-_a, c-_b)`` (S; ``km`` = thickness
          times the harmonic mean of the hindered ``D-``, ``c-`` the Donnan chloride of
          each cell: ``(X + sqrt(X^2 + 4 salt^2)) / 2``);
        - the counter electrode's cells go to ground through their interface
          resistances, an input's current splits over its contact cells by area, an
          output reads the mean over its cells (plus its own interface drop when it is
          also the input).

        So ``R`` is symmetric in the sense of reciprocity (``transfer_matrix(a, b) ==
        transfer_matrix(b, a).T`` for electrodes with equal footprints), positive, and
        set by the fixed charge (through ``c-``, 0.2 to 500 mol/m^3 over the default
        write range) and the crosslink (through ``D-``, a factor 8). It is what a run
        under a small constant current settles to after the diffusion time of the gel
        (seconds); right after a current step both ions carry the current (the Ohmic
        response), and concentration polarisation then shifts it to this.

        Parameters
        ----------
        inputs : sequence of int, shape (n_inputs,)
            Stimulating electrodes (indices into the array).
        outputs : sequence of int, shape (n_outputs,)
            Recording electrodes.
        fixed_charge, crosslink : array (ny, nx), scalar or callable, optional
            Evaluate for these maps instead of the gel's own (nothing is written).

        Returns
        -------
        array of shape (n_inputs, n_outputs), ohm

        Raises
        ------
        ValueError
            Electrodes that cannot stimulate / record, bad maps, or an interface without a
            DC path (blocking electrodes, reservoir ports, no counter electrode).

        Examples
        --------
        >>> gel = Hydrogel()
        >>> r = gel.transfer_matrix([5, 10], [5, 10])
        >>> bool(np.allclose(r, r.T)), r.shape
        (True, (2, 2))
        """
        inputs = self._transfer_electrodes("inputs", inputs, self.electrodes.stimulating_electrodes,
                                           "stimulating")
        outputs = self._transfer_electrodes("outputs", outputs, self.electrodes.recording_electrodes,
                                            "recording")
        g = self._transfer_network(fixed_charge, crosslink)[0]
        return self._transfer_solve(inputs, outputs, g)[2]

    def transfer_sensitivity(self, inputs, outputs, *, fixed_charge=None, crosslink=None) -> tuple:
        """:meth:`transfer_matrix` and its derivatives by each cell's fixed charge and crosslink.

        Adjoint (reciprocity, Geselowitz) sensitivities: with ``u_i`` the cell potentials
        for a unit current into input ``i`` and ``v_j`` those for a unit "read" current
        into output ``j`` (one solve each), ``dR_ij / dg_f = -(u_i[a] - u_i[b])(v_j[a] -
        v_j[b])`` for the face ``f`` between cells ``a`` and ``b``, chained through the face
        conductance's dependence on its two cells' maps.

        Parameters
        ----------
        inputs, outputs, fixed_charge, crosslink : as in :meth:`transfer_matrix`

        Returns
        -------
        transfer : array (n_inputs, n_outputs), ohm
        d_fixed_charge : array (n_inputs, n_outputs, ny, nx), ohm per mol/m^3
        d_crosslink : array (n_inputs, n_outputs, ny, nx), ohm per unit volume fraction

        Examples
        --------
        >>> gel = Hydrogel()
        >>> r, dx, dphi = gel.transfer_sensitivity([5], [10])
        >>> dx.shape, bool(dphi.sum() > 0)  # crosslinking hinders ions: resistance rises
        ((1, 1, 20, 20), True)
        """
        inputs = self._transfer_electrodes("inputs", inputs, self.electrodes.stimulating_electrodes,
                                           "stimulating")
        outputs = self._transfer_electrodes("outputs", outputs, self.electrodes.recording_electrodes,
                                            "recording")
        g, dxa, dxb, dpa, dpb = self._transfer_network(fixed_charge, crosslink)
        forward, adjoint, transfer = self._transfer_solve(inputs, outputs, g)
        a, b = self._face_a, self._face_b
        du = forward[a] - forward[b]  # (n_faces, n_in)
        dv = adjoint[a] - adjoint[b]  # (n_faces, n_out)
        dr_dg = -du[:, :, None] * dv[:, None, :]  # (n_faces, n_in, n_out)
        n = self.n_cells
        out = []
        for wa, wb in ((dxa, dxb), (dpa, dpb)):
            cells = np.zeros((n, inputs.size, outputs.size))
            np.add.at(cells, a, dr_dg * wa[:, None, None])
            np.add.at(cells, b, dr_dg * wb[:, None, None])
            out.append(np.moveaxis(cells, 0, -1).reshape(inputs.size, outputs.size, *self.grid_shape))
        return transfer, out[0], out[1]

    # ------------------------------------------------------------------ state
    def _equilibrate(self):
        x = self._fixed_charge
        c = self.gel.salt_concentration
        root = np.sqrt(x * x + 4.0 * c * c)
        anion = 0.5 * (x + root)
        # c+ = c^2 / c- written without cancellation where X >> c
        self._ct = 2.0 * anion - x
        self._psi = np.log(anion / c)  # Donnan potential: chloride electrochemical potential 0
        self._psi_rest = self._psi.copy()
        self._q = np.zeros(self.n_contacts)
        self._time = 0.0
        self._forget_jacobian()

    def _forget_jacobian(self):
        self._lu = None
        self._lu_key = None
        self._previous = None  # (drive key, ct, psi) of the last step, for the predictor
        self._residual = np.empty(2 * self.n_cells)
        self._jac = np.empty(4 * (self.n_cells + 2 * self._face_a.size))
        self._contact_buffer = np.empty(self.n_contacts)
        #: work counters since the last reset (Newton iterations, LU factorisations)
        self.newton_iterations = 0
        self.factorizations = 0

    def reset(self, seed=None) -> None:
        """Back to rest (Donnan equilibrium with the salt, time 0); maps are kept.

        Parameters
        ----------
        seed : int, Generator, SeedSequence or None
            Draws the recording noise. None reuses the gel's own stream, so ``reset()``
            always gives the same recordings for the same stimuli.
        """
        if seed is None:
            seed = np.random.SeedSequence(self._entropy, spawn_key=(1,))
        self._noise_rng = child_generators(seed, ["noise"])["noise"]
        self._equilibrate()

    @property
    def state(self) -> GelState:
        """The current dynamic state (copies)."""
        ct, x = self._ct, self._fixed_charge
        return GelState(0.5 * (ct - x), 0.5 * (ct + x), self._psi * self.thermal_voltage,
                        self._q.copy(), self._time)

    def set_state(self, cation_concentration, anion_concentration) -> None:
        """Set the ion concentrations (the potential follows at the next step).

        Parameters
        ----------
        cation_concentration, anion_concentration : array (n_cells,) or (ny, nx), mol/m^3
            Positive, finite and electroneutral with the fixed charge:
            ``c+ - c- + X = 0`` to within 1e-9 of the largest of them.
        """
        arrays = []
        for name, value in (("cation_concentration", cation_concentration),
                            ("anion_concentration", anion_concentration)):
            a = np.asarray(value, dtype=np.float64).reshape(-1)
            if a.size != self.n_cells:
                raise ValueError(f"{name} must have {self.n_cells} cells (grid {self.grid_shape}), "
                                 f"got {np.shape(value)}")
            if not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise ValueError(f"{name} must be finite and > 0 mol/m^3, got minimum {a.min()!r}")
            arrays.append(a)
        cp, cm = arrays
        scale = max(cp.max(), cm.max())
        imbalance = np.abs(cp - cm + self._fixed_charge).max()
        if imbalance > 1e-9 * scale:
            raise ValueError(
                "cation_concentration - anion_concentration + fixed_charge must be 0 "
                f"(electroneutrality), off by up to {imbalance:g} mol/m^3"
            )
        self._ct = cp + cm
        self._psi = np.log(cm / self.gel.salt_concentration)
        self._lu = None
        self._previous = None

    @property
    def time(self) -> float:
        """Time simulated since the last reset, s."""
        return self._time

    @property
    def total_ions(self) -> float:
        """Mobile ions in the gel, mol: sum over cells of (c+ + c-) times cell volume."""
        return float(np.sum(self._ct) * self._volume)

    @property
    def encoding(self) -> dict:
        """How task inputs reach the gel: :meth:`Stimulus.encode` keywords plus ``hold``.

        Amplitude coding with current: an input of 1 injects 50 nA, about 60 % of a
        default (5 um Ag/AgCl) electrode's chloride diffusion limit (~80 nA): 25 mV at
        once, rising to ~60 mV as the chloride next to it polarises (a nonlinear,
        fading response; sustainable indefinitely for inputs in [-1, 1]). Each step is
        held 50 ms, a tenth of the diffusion time across the electrode pitch (~0.5 s),
        so the concentration memory spans several steps.
        """
        return {"hold": 50e-3, "mode": "amplitude", "amplitude": 50e-9, "unit": "A"}

    # ------------------------------------------------------------------ run
    def _drive(self, stimulus, n_steps):
        """(unit, values (n_steps, n_stimulating)) on the gel's dt."""
        n_stim = self.electrodes.n_stimulating
        if stimulus is None:
            return "A", np.zeros((n_steps, n_stim))
        unit, out = stimulus_on_grid(stimulus, self.electrodes, self.dt, n_steps)
        data = out
        if unit == "A" and self.interface.reservoir and np.any(data != 0):
            raise ValueError(
                "a current stimulus (unit 'A') cannot drive reservoir electrodes "
                "(interface.reservoir = True): use a voltage stimulus"
            )
        if unit == "A" and self.interface.counter_electrode == "none" and np.any(data != 0):
            raise ValueError(
                "a current stimulus (unit 'A') needs a counter electrode to return its current; "
                "interface.counter_electrode is 'none' (use a voltage stimulus, or a counter electrode)"
            )
        return unit, out

    def run(self, stimulus: Stimulus | None = None, duration: float | None = None, *,
            record_hidden: bool = False, hidden_sampling_rate: float = 1000.0,
            progress: bool = False) -> Recording:
        """Stimulate and record, continuing from the current state.

        Parameters
        ----------
        stimulus : Stimulus of shape (n_samples, electrodes.n_stimulating), unit A or V
            Resampled onto ``dt`` (``Stimulus.resample``: ``dt`` must be a whole multiple
            or fraction of the stimulus's). None stimulates nothing (all electrodes float).
        duration : float, s
            Defaults to the stimulus duration; longer pads with zeros (0 A, or 0 V for a
            voltage stimulus), shorter uses its beginning. Rounded to whole gel steps.
        record_hidden : bool
            Also return cation and anion concentrations (mol/m^3) and the potential (V)
            of every cell, (n_hidden_samples, n_cells), sampled and held at
            ``hidden_sampling_rate`` (Hz), with ``cell_positions`` (n_cells, 3) m and the
            maps ``fixed_charge`` (mol/m^3) and ``crosslink`` (n_cells,).
        progress : bool
            Show a progress bar (tqdm).

        Returns
        -------
        Recording of shape (round(duration * sampling_rate), electrodes.n_recording), in V
        (``readout="potential"``) or A (``readout="current"``).
        """
        duration = run_duration(stimulus, duration)
        duration = _positive_time("duration", duration)
        n_steps = round(duration / self.dt)
        if n_steps < 1:
            raise ValueError(f"duration must be at least one time step ({self.dt} s), got {duration}")
        unit, drive = self._drive(stimulus, n_steps)
        array = self.electrodes
        fs = array.sampling_rate
        n_samples = round(duration * fs)
        sample_step = np.minimum(np.floor(np.arange(n_samples) / (fs * self.dt) + 1e-9).astype(np.int64),
                                 n_steps - 1)
        hidden_rate = None
        if record_hidden:
            hidden_rate = float(hidden_sampling_rate)
            if not (math.isfinite(hidden_rate) and hidden_rate > 0):
                raise ValueError(f"hidden_sampling_rate must be a finite rate > 0 Hz, got {hidden_sampling_rate!r}")
            n_hidden = round(duration * hidden_rate)
            hidden_step = np.minimum(
                np.floor(np.arange(n_hidden) / (hidden_rate * self.dt) + 1e-9).astype(np.int64),
                n_steps - 1)
            hidden = {k: np.empty((n_hidden, self.n_cells)) for k in self.hidden_state_keys}
        signal = np.empty((n_steps, array.n_recording))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_steps, unit="step", desc="simulating gel", leave=False)
        start = self._time
        h_next = 0
        voltage = unit == "V"
        for n in range(n_steps):
            currents = self._advance(drive[n], voltage, self.dt, 0)
            signal[n] = self._electrode_signal(currents, drive[n], voltage)
            if record_hidden:
                while h_next < n_hidden and hidden_step[h_next] == n:
                    x = self._fixed_charge
                    hidden["cation_concentration"][h_next] = 0.5 * (self._ct - x)
                    hidden["anion_concentration"][h_next] = 0.5 * (self._ct + x)
                    hidden["potential"][h_next] = self._psi * self.thermal_voltage
                    h_next += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        clean = np.ascontiguousarray(signal[sample_step])
        data = array.acquire(clean, self._noise_rng)
        hidden_state = None
        if record_hidden:
            hidden_state = dict(hidden, cell_positions=np.array(self.cell_positions),
                                fixed_charge=self._fixed_charge.copy(),
                                crosslink=self._crosslink.copy())
        return Recording(
            data, fs, "V" if self.readout == "potential" else "A",
            electrode_positions=array.positions[array.recording_electrodes],
            channel_electrodes=array.recording_electrodes,
            hidden_state=hidden_state, hidden_sampling_rate=hidden_rate,
            metadata={"substrate": "Hydrogel", "dt": self.dt, "readout": self.readout,
                      "stimulus_unit": unit, "start_time": start,
                      "grid_shape": list(self.grid_shape)},
        )

    # ------------------------------------------------------------------ one step
    def _contacts(self, values, voltage, dt):
        """Per-contact mode, conductance (S), applied v (V/V_T), offset a, current (A)."""
        vt = self.thermal_voltage
        channel = self._contact_channel
        driven = (channel >= 0) if voltage else np.zeros(self.n_contacts, dtype=bool)
        counter = self._contact_owner < 0
        mode = (driven | counter).astype(np.int64) * (2 if self.interface.reservoir else 1)
        resistance = self._contact_resistance + np.where(driven, self._contact_source, 0.0)
        cap = self._contact_capacitance
        v = np.zeros(self.n_contacts)
        if voltage:
            v[driven] = values[channel[driven]] / vt
        if self.interface.faradaic:
            g = 1.0 / resistance
            a = np.zeros(self.n_contacts)
        else:
            # backward Euler of the double layer: q' = I, I = (V - phi + phi_rest - q/C) / R
            g = 1.0 / (resistance + dt / cap)
            a = self._psi_rest[self._contact_cell] - self._q / (cap * vt)
        current = np.zeros(self.n_contacts)
        if not voltage:
            on = channel >= 0
            current[on] = values[channel[on]] * self._contact_share[on]
        return mode, g, v, a, current

    def _advance(self, values, voltage, dt, depth):
        """One step of ``dt`` (halved on failure); returns the contact currents (A)."""
        mode, g, v, a, current = self._contacts(values, voltage, dt)
        if self.solver.scheme == "implicit":
            result = self._newton(mode, g, v, a, current, dt, explicit=False)
        else:
            result = self._explicit(mode, g, v, a, current, dt)
        if result is None:
            if depth >= self.solver.max_step_halvings:
                raise RuntimeError(
                    f"the gel step at t = {self._time:g} s did not converge even at dt = {dt:g} s "
                    f"(after {depth} halvings): the drive exceeds what the gel can carry "
                    "(e.g. a current past an electrode's diffusion-limited current)"
                )
            first = self._advance(values, voltage, dt / 2, depth + 1)
            second = self._advance(values, voltage, dt / 2, depth + 1)
            return 0.5 * (first + second)
        ct, psi, contact_current, _ = result
        self._ct, self._psi = ct, psi
        self._q = self._q + dt * contact_current
        self._time += dt
        return contact_current

    def _solve_inputs(self, mode, g, v, a, current, dt, explicit):
        return (self._fixed_charge, self._volume, self._face_a, self._face_b, self._kp, self._km,
                self._contact_cell, mode, g, v, a, current, self._port_kp, self._port_km,
                self.interface.faradaic,
                self.gel.salt_concentration, FARADAY, self.thermal_voltage, dt, explicit)

    def _newton(self, mode, g, v, a, current, dt, explicit):
        """Newton's method for one backward-Euler step; None when it fails.

        The LU factorisation of the Jacobian is kept across iterations and steps (a
        chord method) while the updates contract fast (ratio < 0.1) and the step's dt
        and electrode modes are unchanged; otherwise it is refreshed. The converged
        state does not depend on which Jacobian was used (to the tolerance), and
        conservation does not either: every Jacobian's ion rows telescope.
        """
        from scipy import sparse
        from scipy.sparse.linalg import splu

        n = self.n_cells
        ct_old = self._ct
        key = (dt, explicit, mode.tobytes(), g.tobytes(), v.tobytes(), current.tobytes())
        if self._previous is not None and self._previous[0] == key and not explicit:
            # same drive as the last step: start from the linear extrapolation of the last
            # two states (it keeps the ion total, so conservation is untouched)
            _, ct_before, psi_before = self._previous
            ct = 2.0 * ct_old - ct_before
            psi = 2.0 * self._psi - psi_before
            if np.any(ct <= np.abs(self._fixed_charge)):
                ct, psi = ct_old.copy(), self._psi.copy()
        else:
            ct, psi = ct_old.copy(), self._psi.copy()
        self._previous = (key, ct_old, self._psi)
        residual = self._residual
        jac = self._jac
        contact_out = self._contact_buffer
        args = self._solve_inputs(mode, g, v, a, current, dt, explicit)
        gauge = not np.any(mode > 0)
        lu_key = (dt, explicit, gauge, mode.tobytes(), g.tobytes())
        if self._lu_key != lu_key:
            self._lu = None
        floor = np.abs(self._fixed_charge)
        c_scale = self.gel.salt_concentration
        tol = self.solver.newton_tolerance
        previous = math.inf
        for iteration in range(self.solver.max_newton_iterations):
            if not K.assemble(ct, psi, ct_old, *args, residual, jac, contact_out):
                self._lu = None
                return None
            if gauge:  # nothing fixes the potential: pin psi of cell 0 (its charge row is redundant)
                scale = jac[self._gauge_diag] if jac[self._gauge_diag] != 0 else 1.0
                jac[self._gauge_slots] = 0.0
                jac[self._gauge_diag] = scale
                residual[1] = 0.0
            if self._lu is None:
                matrix = sparse.csc_matrix((jac[self._csc_perm], self._csc_indices, self._csc_indptr),
                                           shape=(2 * n, 2 * n))
                try:
                    self._lu = splu(matrix, permc_spec="MMD_AT_PLUS_A")
                except RuntimeError:  # exactly singular
                    return None
                self._lu_key = lu_key
                self.factorizations += 1
            delta = self._lu.solve(-residual)
            if not np.all(np.isfinite(delta)):
                self._lu = None
                return None
            dct, dpsi = delta[0::2], delta[1::2]
            step = 1.0
            falling = dct < 0
            if np.any(falling):  # stay inside c+ > 0, c- > 0 (ct > |X|)
                room = (ct[falling] - floor[falling]) / (-dct[falling])
                step = min(1.0, 0.9 * float(room.min()))
            ct = ct + step * dct
            psi = psi + step * dpsi
            size = max(float(np.abs(dpsi).max()), float(np.abs(dct).max()) / c_scale) * step
            ratio = size / previous if previous < math.inf else 1.0
            if step == 1.0 and (size <= tol or (ratio < 0.5 and size * ratio / (1.0 - ratio) <= tol)):
                self.newton_iterations += iteration + 1
                return (ct, psi) + self._contact_exchange(ct, psi, mode, g, v, a, current)
            if (previous < math.inf and ratio > _CHORD_CONTRACTION) or step < 1.0:
                self._lu = None  # slow contraction: refresh the Jacobian
            previous = size
        self._lu = None
        return None

    def _contact_exchange(self, ct, psi, mode, g, v, a, current):
        """Current (A) of each contact into the gel, and ions (mol/s) it brings in."""
        cell = self._contact_cell
        anion = 0.5 * (ct[cell] + self._fixed_charge[cell])
        drive = v - psi[cell] + a
        if self.interface.faradaic:
            drive = drive + np.log(anion / self.gel.salt_concentration)
        out = np.where(mode == 1, g * self.thermal_voltage * drive, current)
        source = -out / FARADAY if self.interface.faradaic else np.zeros(self.n_contacts)
        port = mode == 2
        if np.any(port):
            c_ref = self.gel.salt_concentration
            cation = 0.5 * (ct[cell] - self._fixed_charge[cell])
            d = (v - psi[cell])[port]
            bp, bm = _bernoulli(d), _bernoulli(-d)
            jp = self._port_kp[port] * (bp * cation[port] - bm * c_ref)
            jm = self._port_km[port] * (bm * anion[port] - bp * c_ref)
            out[port] = -FARADAY * (jp - jm)
            source[port] = -(jp + jm)
        return out, source

    def _explicit(self, mode, g, v, a, current, dt):
        # potential: Newton on psi with the ions frozen at ct_old
        result = self._newton(mode, g, v, a, current, dt, explicit=True)
        if result is None:
            return None
        _, psi, contact_current, contact_source = result
        ct_new = np.empty(self.n_cells)
        worst = K.explicit_update(self._ct, psi, self._fixed_charge, self._volume, self._face_a,
                                  self._face_b, self._kp, self._km, self._contact_cell,
                                  contact_source, dt, ct_new)
        if worst > 1.0:
            raise ValueError(
                f"dt = {dt:g} s exceeds the explicit scheme's stability limit {dt / worst:g} s "
                f"at the field reached at t = {self._time:g} s (drift steepens the limit); "
                "use a smaller dt or solver.scheme = 'implicit'"
            )
        if np.any(ct_new <= np.abs(self._fixed_charge)):
            return None
        return ct_new, psi, contact_current, contact_source

    def _electrode_signal(self, contact_current, values, voltage):
        """Recorded clean signal of each recording channel (V or A) after a step."""
        array = self.electrodes
        idx = self._rec_contacts
        if self.readout == "current":
            out = np.zeros(array.n_recording)
            np.add.at(out, self._rec_index, contact_current[idx])
            return out
        vt = self.thermal_voltage
        cell = self._contact_cell[idx]
        if self.interface.faradaic:
            anion = 0.5 * (self._ct[cell] + self._fixed_charge[cell])
            metal = vt * (self._psi[cell] - np.log(anion / self.gel.salt_concentration))
        else:
            metal = vt * (self._psi[cell] - self._psi_rest[cell]) + self._q[idx] / self._contact_capacitance[idx]
        metal = metal + contact_current[idx] * self._contact_resistance[idx]
        if voltage:
            channel = self._contact_channel[idx]
            driven = channel >= 0
            metal[driven] = values[channel[driven]]
        out = np.zeros(array.n_recording)
        np.add.at(out, self._rec_index, metal * self._rec_weight)
        return out
