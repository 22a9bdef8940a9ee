"""Potato: plant tissue as an electrochemical circuit, reached through electrodes."""

from __future__ import annotations

import math
import numbers

import numpy as np

from substrates._electrodes import ElectrodeArray
from substrates._protocol import (
    NotProgrammableError,
    run_duration,
    steps_per_sample,
    stimulus_on_grid,
)
from substrates._random import check_random_state, child_generators
from substrates._recording import Recording
from substrates._stimulus import Stimulus
from substrates.potato import _kernels as K
from substrates.potato._parameters import InterfaceParameters, TissueParameters
from substrates.potato._spice import write_netlist

__all__ = ["Potato"]

# Newton on the interface overpotentials: converged below this update (V; far below the
# microvolt noise of any front end, far above float round-off of ~1 V potentials) ...
_NEWTON_TOLERANCE = 1e-11
# ... with each iteration moving any overpotential by at most this much (V: ~2 RT/F, keeps
# the exponentials of Butler-Volmer within a factor e^2 of the last iterate) ...
_NEWTON_MAX_STEP = 0.05
_NEWTON_MAX_ITERATIONS = 200
# positions within this fraction of a cell of the block's faces count as on the tissue
_FACE_TOLERANCE = 1e-9


def _lognormal(rng, median, cv, size):
    """``size`` log-normal draws with median ``median`` and coefficient of variation ``cv``."""
    if cv == 0.0:
        return np.full(size, float(median))
    sigma = math.sqrt(math.log1p(cv * cv))
    return median * np.exp(sigma * rng.standard_normal(size))


def _positive_time(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a finite time > 0 s, got {value!r}")
    return float(value)


class Potato:
    """Plant (potato) tissue: a heterogeneous 3D cell network with electrochemical electrodes.

    **Tissue.** Cells sit on a jittered cubic lattice filling a block (see
    :class:`TissueParameters`). The circuit is a discretised *bidomain*: each cell has an
    apoplast node (cell wall and intercellular fluid), a cytoplasm node, and a slow ionic
    node. Neighbouring cells' apoplast nodes are joined by apoplast resistances and their
    cytoplasm nodes by cytoplasm (symplast: cytoplasm plus plasmodesmata) resistances;
    within a cell the membrane (capacitance in parallel with a leak resistance) joins
    cytoplasm to apoplast, and so does a slow ionic branch (``ion_resistance`` in series
    with ``ion_capacitance``, the concentration polarisation of ions redistributing),
    whose ~0.5 s relaxation is the cells' slow memory (seen at the electrodes, fading
    memory comes mostly from the interfaces below: double layers discharging through
    charge transfer and the CPE's slow branches, over tens of ms to seconds). At low
    frequency current keeps
    to the apoplast; above ``~1/(2 pi C_m (R_cyto + R_apo))`` the membranes short and the
    cytoplasm carries current too: the beta dispersion of plant tissue, broadened into
    Cole-like behaviour by the log-normal spread of every cell and link value.
    Node voltages are deviations from the resting state (resting membrane potentials add
    a constant and are left out). The far face of the block (largest z) is tied to the
    counter/reference plate (ground) through ``counter_resistance`` per cell; electrodes
    lie on the near face z = 0 (or inside the block).

    **Electrodes.** Each electrode in use (stimulating or recording) touches the apoplast
    node nearest it through ``series_resistance`` and an interface: double layer (a
    constant-phase element as an R-C ladder, or a capacitor) in parallel with
    Butler-Volmer charge transfer (see :class:`InterfaceParameters`). Stimulation is
    current-controlled (Stimulus unit "A", current into the tissue positive; 0 A leaves an
    electrode floating) or voltage-controlled (unit "V": every stimulating electrode's
    metal is held at its value against the counter, 0 V included, through an MNA branch
    current). Recording is passive: electrode (metal) potentials against the
    counter/reference, through ``electrodes.acquire`` (noise, ADC).

    **Numerics.** Modified nodal analysis ``C dx/dt + G x + B i_F(B^T x) = S u`` with
    backward Euler at fixed ``dt`` (L-stable: the microsecond membrane modes of the
    beta dispersion relax without limiting ``dt``). ``A = C/dt + G`` is factorised once
    (``scipy.sparse.linalg.splu``) and ``W = A^{-1} B``, ``M = B^T W`` formed once; each step
    is one sparse solve, a damped Newton on the few interface overpotentials (the exact
    Schur complement, in a Numba kernel) and ``x = A^{-1} r - W i_F``. Voltage control
    factorises the MNA matrix bordered by the sources' branch currents instead. About
    0.1 ms per step for the default 928-node potato on one core.

    The potato cannot be programmed: it is read-only, like a brain (:meth:`program` says so).

    Parameters
    ----------
    electrodes : ElectrodeArray, optional
        Default :meth:`default_electrodes`: 8 electrodes (2 x 4 grid, 300 um pitch, radius
        50 um) at 10 kHz, 10 uV rms noise, 16-bit ADC over +-1 V.
    dt : float, s, default 1e-4
        Time step; ``1/dt`` must be a whole multiple of ``electrodes.sampling_rate``.
    tissue : TissueParameters, optional
    interface : InterfaceParameters, optional
    random_state : int, Generator, SeedSequence or None
        Draws the cell positions and every cell and link value (fixed for the object's
        life: two seeds, two potatoes) and, through :meth:`reset`, the recording noise.

    Attributes
    ----------
    n_cells, n_nodes : int
    node_names : tuple of str (n_nodes,)
        SPICE names: ``a{i}`` apoplast, ``c{i}`` cytoplasm, ``s{i}`` ionic node of cell i;
        ``m{e}`` metal, ``d{e}`` solution side, ``l{e}_{k}`` CPE ladder nodes of the e-th
        electrode in use.
    node_positions : array (n_nodes, 3), m
    cell_positions : array (n_cells, 3), m
    electrodes_in_use : int array (n_in_use,)
        Electrode indices with an interface (stimulating or recording), ascending.
    contact_cells : int array (n_in_use,)
        The cell whose apoplast each of them touches.
    electrode_area : float, m^2
    links : int array (n_links, 2)
        Neighbouring cell pairs.
    cell_values : dict of arrays (n_cells,)
        Drawn membrane_capacitance (F), membrane_resistance, ion_resistance (Ohm),
        ion_capacitance (F).
    link_values : dict of arrays (n_links,)
        Drawn apoplast_resistance and cytoplasm_resistance (Ohm).
    counter_cells : int array
        Cells of the far face, tied to the counter plate.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Stimulus
    >>> from substrates.potato import Potato, TissueParameters
    >>> potato = Potato(tissue=TissueParameters(cells_per_axis=(6, 4, 2)), random_state=0)
    >>> stim = Stimulus.pulse_train(8, 0.02, potato.dt, rate=100.0, amplitude=2e-8,
    ...                             width=2e-3, channels=[0])
    >>> rec = potato.run(stim)
    >>> rec.data.shape
    (200, 8)
    >>> z = potato.impedance([1e2, 1e6])
    >>> bool(abs(z[0]) > 3 * abs(z[1]))  # the beta dispersion
    True
    """

    #: ground-truth time series that make up the full state (see substrates._protocol)
    hidden_state_keys = ("node_voltage",)
    #: a potato is read-only
    programmable = False

    def __init__(self, *, electrodes: ElectrodeArray | None = None, dt: float = 1e-4,
                 tissue: TissueParameters | None = None,
                 interface: InterfaceParameters | None = None, random_state=None):
        self.electrodes = electrodes if electrodes is not None else self.default_electrodes()
        if not isinstance(self.electrodes, ElectrodeArray):
            raise TypeError(f"electrodes must be an ElectrodeArray, got {type(self.electrodes).__name__}")
        self.dt = _positive_time("dt", dt)
        self._record_stride = steps_per_sample(self.electrodes.sampling_rate, 1.0 / self.dt,
                                               "electrodes.sampling_rate")
        self.tissue = tissue if tissue is not None else TissueParameters()
        if not isinstance(self.tissue, TissueParameters):
            raise TypeError(f"tissue must be TissueParameters, got {type(self.tissue).__name__}")
        self.interface = interface if interface is not None else InterfaceParameters()
        if not isinstance(self.interface, InterfaceParameters):
            raise TypeError(f"interface must be InterfaceParameters, got {type(self.interface).__name__}")
        self._entropy = int(check_random_state(random_state).integers(2**63))
        streams = child_generators(np.random.SeedSequence(self._entropy, spawn_key=(0,)),
                                   ["positions", "cells", "links"])
        self._place_cells(streams["positions"])
        self._attach_electrodes()
        self._build_circuit(streams["cells"], streams["links"])
        self._factors = {}
        self.reset()

    @staticmethod
    def default_electrodes() -> ElectrodeArray:
        """8 electrodes on the tissue surface: 2 x 4 grid, 300 um pitch, radius 50 um.

        10 kHz sampling, 10 uV rms noise, 16-bit ADC over +-1 V (interface overpotentials
        reach a few hundred mV).

        Examples
        --------
        >>> Potato.default_electrodes().n_electrodes
        8
        """
        return ElectrodeArray.grid(2, 4, pitch=300e-6, sampling_rate=10_000.0, noise_rms=10e-6,
                                   adc_bits=16, adc_range=(-1.0, 1.0), electrode_radius=50e-6,
                                   name="potato8")

    # ------------------------------------------------------------------ build
    def _place_cells(self, rng):
        t = self.tissue
        nx, ny, nz = t.cells_per_axis
        ix, iy, iz = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
        self._lattice = np.column_stack([ix.ravel(), iy.ravel(), iz.ravel()])  # (n_cells, 3)
        s = t.cell_size
        centre = (self._lattice + 0.5) * s - np.array([nx * s / 2, ny * s / 2, 0.0])
        jitter = rng.uniform(-t.position_jitter, t.position_jitter, size=centre.shape) * s
        self.cell_positions = centre + jitter
        self.n_cells = centre.shape[0]

    def _attach_electrodes(self):
        array = self.electrodes
        used = np.union1d(array.recording_electrodes, array.stimulating_electrodes).astype(np.int64)
        if used.size == 0:
            raise ValueError("electrodes must have at least one stimulating or recording electrode")
        pos = array.positions[used]
        sx, sy, sz = self.tissue.size
        tol = _FACE_TOLERANCE * self.tissue.cell_size
        outside = ((np.abs(pos[:, 0]) > sx / 2 + tol) | (np.abs(pos[:, 1]) > sy / 2 + tol)
                   | (pos[:, 2] < -tol) | (pos[:, 2] > sz + tol))
        if np.any(outside):
            bad = used[outside]
            raise ValueError(
                f"electrodes {bad[:10].tolist()}{'...' if bad.size > 10 else ''} ({bad.size} in all) "
                f"lie off the tissue: positions must satisfy |x| <= {sx / 2:g} m, |y| <= {sy / 2:g} m, "
                f"0 <= z <= {sz:g} m (the block of tissue.cells_per_axis * tissue.cell_size); "
                "enlarge the tissue or route/select electrodes on it"
            )
        d2 = ((pos[:, None, :] - self.cell_positions[None, :, :]) ** 2).sum(axis=2)
        self.electrodes_in_use = used
        self.contact_cells = np.argmin(d2, axis=1).astype(np.int64)
        r = array.electrode_radius
        self.electrode_area = math.pi * r * r if array.electrode_shape == "circle" else 4.0 * r * r

    def _build_circuit(self, rng_cells, rng_links):
        t, itf = self.tissue, self.interface
        n = self.n_cells
        cv = t.heterogeneity
        apo, cyt, ion = np.arange(n), n + np.arange(n), 2 * n + np.arange(n)
        names = [f"a{i}" for i in range(n)] + [f"c{i}" for i in range(n)] + [f"s{i}" for i in range(n)]
        positions = [self.cell_positions] * 3
        r_a, r_b, r_v, c_a, c_b, c_v = [], [], [], [], [], []

        def resistor(a, b, v):
            r_a.append(np.asarray(a))
            r_b.append(np.asarray(b))
            r_v.append(np.asarray(v, float))

        def capacitor(a, b, v):
            c_a.append(np.asarray(a))
            c_b.append(np.asarray(b))
            c_v.append(np.asarray(v, float))

        # per-cell membrane, leak, slow ionic branch
        self.cell_values = {
            "membrane_capacitance": _lognormal(rng_cells, t.membrane_capacitance, cv, n),
            "membrane_resistance": _lognormal(rng_cells, t.membrane_resistance, cv, n),
            "ion_resistance": _lognormal(rng_cells, t.ion_resistance, cv, n),
            "ion_capacitance": _lognormal(rng_cells, t.ion_capacitance, cv, n),
        }
        cv_ = self.cell_values
        capacitor(cyt, apo, cv_["membrane_capacitance"])
        resistor(cyt, apo, cv_["membrane_resistance"])
        resistor(cyt, ion, cv_["ion_resistance"])
        capacitor(ion, apo, cv_["ion_capacitance"])
        # lattice links (x, y, z neighbours)
        nx, ny, nz = t.cells_per_axis
        index = np.arange(n).reshape(nx, ny, nz)
        first = np.concatenate([index[:-1, :, :].ravel(), index[:, :-1, :].ravel(),
                                index[:, :, :-1].ravel()])
        second = np.concatenate([index[1:, :, :].ravel(), index[:, 1:, :].ravel(),
                                 index[:, :, 1:].ravel()])
        self.links = np.column_stack([first, second])
        m = first.size
        self.link_values = {
            "apoplast_resistance": _lognormal(rng_links, t.apoplast_resistance, cv, m),
            "cytoplasm_resistance": _lognormal(rng_links, t.cytoplasm_resistance, cv, m),
        }
        resistor(apo[first], apo[second], self.link_values["apoplast_resistance"])
        resistor(cyt[first], cyt[second], self.link_values["cytoplasm_resistance"])
        # counter / reference plate on the far face
        far = index[:, :, -1].ravel()
        self.counter_cells = far
        resistor(apo[far], np.full(far.size, -1), _lognormal(rng_links, t.counter_resistance, cv, far.size))

        # electrode interfaces
        area = self.electrode_area
        ladder_r, ladder_c = itf.cpe_ladder(area)
        node = 3 * n
        metal, solution = [], []
        for k, (e, cell) in enumerate(zip(self.electrodes_in_use, self.contact_cells)):
            m_node, d_node = node, node + 1
            node += 2
            names += [f"m{k}", f"d{k}"]
            epos = self.electrodes.positions[e][None, :]
            positions += [epos, epos]
            metal.append(m_node)
            solution.append(d_node)
            resistor([d_node], [apo[cell]], [itf.series_resistance])
            if ladder_r.size == 0:
                capacitor([m_node], [d_node], ladder_c)
            else:
                inner = node + np.arange(ladder_r.size)
                node += ladder_r.size
                names += [f"l{k}_{j}" for j in range(ladder_r.size)]
                positions += [np.repeat(epos, ladder_r.size, axis=0)]
                resistor(np.full(ladder_r.size, m_node), inner, ladder_r)
                capacitor(inner, np.full(ladder_r.size, d_node), ladder_c)
        self.n_nodes = node
        self.node_names = tuple(names)
        self.node_positions = np.concatenate(positions, axis=0)
        self._metal = np.array(metal, dtype=np.int64)
        self._solution = np.array(solution, dtype=np.int64)
        self._resistors = (np.concatenate(r_a).astype(np.int64), np.concatenate(r_b).astype(np.int64),
                           np.concatenate(r_v))
        self._capacitors = (np.concatenate(c_a).astype(np.int64), np.concatenate(c_b).astype(np.int64),
                            np.concatenate(c_v))
        vt = itf.thermal_voltage
        self._anodic_slope = itf.anodic_transfer_coefficient / vt
        self._cathodic_slope = itf.cathodic_transfer_coefficient / vt
        self._exchange_current = np.full(len(metal), itf.exchange_current_density * area)
        self._conductance = self._stamp(self._resistors, reciprocal=True)
        self._capacitance = self._stamp(self._capacitors, reciprocal=False)
        # electrode index -> row in electrodes_in_use
        where = {int(e): k for k, e in enumerate(self.electrodes_in_use)}
        self._stim_metal = self._metal[[where[int(e)] for e in self.electrodes.stimulating_electrodes]]
        self._rec_metal = self._metal[[where[int(e)] for e in self.electrodes.recording_electrodes]]
        self._where = where

    def _stamp(self, table, reciprocal):
        from scipy import sparse

        a, b, v = table
        g = 1.0 / v if reciprocal else v
        n = self.n_nodes
        rows, cols, vals = [], [], []
        for i, j, s in ((a, a, g), (b, b, g), (a, b, -g), (b, a, -g)):
            keep = (i >= 0) & (j >= 0)
            rows.append(i[keep])
            cols.append(j[keep])
            vals.append(s[keep])
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(n, n))

    def linear_matrices(self):
        """The linear part of the circuit's modified nodal analysis.

        Returns
        -------
        conductance : scipy.sparse.csr_matrix (n_nodes, n_nodes), S
        capacitance : scipy.sparse.csr_matrix (n_nodes, n_nodes), F
            ``C dx/dt + G x + sum_e (e_m - e_d) i_F(x_m - x_d) = injected currents``.

        Examples
        --------
        >>> from substrates.potato import Potato, TissueParameters
        >>> tissue = TissueParameters(cells_per_axis=(6, 4, 2))
        >>> g, c = Potato(tissue=tissue, random_state=0).linear_matrices()
        >>> g.shape == c.shape
        True
        """
        return self._conductance.copy(), self._capacitance.copy()

    def _factorise(self, unit):
        """LU of the backward-Euler matrix for current ("A") or voltage ("V") stimulation.

        Current control: ``A = C/dt + G`` (n_nodes square). Voltage control adds one MNA
        branch-current unknown per stimulating electrode (an ideal voltage source from
        ground to its metal): ``[[C/dt + G, E], [E^T, 0]]``.
        """
        key = (unit, self.dt)
        if key in self._factors:
            return self._factors[key]
        from scipy import sparse
        from scipy.sparse.linalg import splu

        n = self.n_nodes
        a = self._capacitance / self.dt + self._conductance
        size = n
        if unit == "V":
            n_s = self._stim_metal.size
            e = sparse.csr_matrix((np.ones(n_s), (self._stim_metal, np.arange(n_s))), shape=(n, n_s))
            a = sparse.bmat([[a, e], [e.T, None]])
            size = n + n_s
        lu = splu(a.tocsc())
        k = self._metal.size
        b = np.zeros((size, k))
        b[self._metal, np.arange(k)] = 1.0
        b[self._solution, np.arange(k)] = -1.0
        w = lu.solve(b)
        coupling = np.ascontiguousarray(w[self._metal] - w[self._solution])
        self._factors = {key: (lu, w, coupling, size)}  # keep one: a run uses one unit
        return self._factors[key]

    # ------------------------------------------------------------------ state
    def reset(self, seed=None) -> None:
        """Back to rest (every node at 0 V); ``seed`` redraws the recording noise stream.

        The tissue (positions, cell and link values) never changes; ``seed=None`` uses the
        object's own noise stream, so ``reset()`` always gives the same recordings.
        """
        if seed is None:
            seed = np.random.SeedSequence(self._entropy, spawn_key=(1,))
        self._noise_rng = child_generators(seed, ["noise"])["noise"]
        self._x = np.zeros(self.n_nodes)
        self._eta = np.zeros(self._metal.size)
        self._step = 0

    @property
    def node_voltage(self) -> np.ndarray:
        """Current node voltages, array (n_nodes,), V (a copy)."""
        return self._x.copy()

    @property
    def time(self) -> float:
        """Time simulated since the last reset, s."""
        return self._step * self.dt

    @property
    def encoding(self) -> dict:
        """How task inputs reach the potato: :meth:`Stimulus.encode` keywords plus ``hold``.

        Amplitude coding with current (A): each input step held for a tenth of the ionic
        relaxation time (so the fading memory spans about ten steps), at 20 times one
        electrode's exchange current, which drives the interfaces into their nonlinear
        (Butler-Volmer) range, overpotentials ~0.1-0.2 V.
        """
        hold = max(1, round(self.tissue.ion_time_constant / 10.0 / self.dt)) * self.dt
        exchange = float(self._exchange_current[0]) if self._exchange_current.size else 0.0
        amplitude = 20.0 * exchange if exchange > 0 else 1e-8
        return {"hold": hold, "mode": "amplitude", "amplitude": amplitude, "unit": "A"}

    def program(self, *args, **kwargs):
        """Refuse: a potato cannot be written.

        Raises
        ------
        NotProgrammableError
            Always.

        Examples
        --------
        >>> from substrates.potato import Potato, TissueParameters
        >>> Potato(tissue=TissueParameters(cells_per_axis=(6, 4, 2))).program([1.0])
        Traceback (most recent call last):
        ...
        substrates._protocol.NotProgrammableError: a potato is read-only, like a brain: ...
        """
        raise NotProgrammableError(
            "a potato is read-only, like a brain: it can be stimulated and recorded through its "
            "electrodes, not written (programmable is False)"
        )

    # ------------------------------------------------------------------ run
    def _stimulus_current(self, stimulus, n_steps):
        if stimulus is None:
            return np.zeros((n_steps, self.electrodes.n_stimulating))
        return stimulus_on_grid(stimulus, self.electrodes, self.dt, n_steps)[1]

    def _steps(self, duration):
        duration = _positive_time("duration", duration)
        n_steps = round(duration / self.dt)
        if n_steps < 1:
            raise ValueError(f"duration must be at least one time step ({self.dt} s), got {duration}")
        return n_steps

    def run(self, stimulus: Stimulus | None = None, duration: float | None = None, *,
            record_hidden: bool = False, hidden_sampling_rate: float = 1000.0,
            progress: bool = False) -> Recording:
        """Stimulate and record, continuing from the current state.

        Parameters
        ----------
        stimulus : Stimulus (n_samples, electrodes.n_stimulating), optional
            Unit "A": current into the tissue at each stimulating electrode (0 A: floating).
            Unit "V": the stimulating electrodes' metal potentials (held, 0 V included).
            Resampled onto ``dt``; None stimulates nothing (all electrodes float).
        duration : float, s
            Default: the stimulus duration; longer pads with zeros, shorter truncates.
        record_hidden : bool
            Also return ``hidden_state["node_voltage"]`` (n_hidden_samples, n_nodes) V at
            ``hidden_sampling_rate`` and ``hidden_state["node_positions"]`` (n_nodes, 3) m.
        hidden_sampling_rate : float, Hz
            Must divide ``1/dt``.
        progress : bool
            Show a progress bar (tqdm).

        Returns
        -------
        Recording (round(duration * sampling_rate), electrodes.n_recording), V
            Sample i is the electrode potential at ``start + i / sampling_rate`` (so the
            response to stimulus sample i appears from sample i + 1 on).
        """
        if stimulus is not None and not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a Stimulus, got {type(stimulus).__name__}")
        duration = run_duration(stimulus, duration)
        n_steps = self._steps(duration)
        current = self._stimulus_current(stimulus, n_steps)
        unit = "A" if stimulus is None else stimulus.unit
        hidden_stride = steps_per_sample(hidden_sampling_rate, 1.0 / self.dt,
                                         "hidden_sampling_rate") if record_hidden else 0
        clean, hidden = self._simulate(current, unit, n_steps, hidden_stride, progress)
        array = self.electrodes
        data = array.acquire(clean, self._noise_rng)
        hidden_state = None
        if record_hidden:
            hidden_state = {"node_voltage": hidden, "node_positions": self.node_positions.copy()}
        return Recording(
            data, array.sampling_rate, "V",
            electrode_positions=array.positions[array.recording_electrodes],
            channel_electrodes=array.recording_electrodes,
            hidden_state=hidden_state,
            hidden_sampling_rate=hidden_sampling_rate if record_hidden else None,
            metadata={"substrate": "Potato", "n_cells": self.n_cells, "n_nodes": self.n_nodes,
                      "dt": self.dt, "start_time": (self._step - n_steps) * self.dt},
        )

    def _simulate(self, current, unit, n_steps, hidden_stride, progress):
        """Backward Euler over ``n_steps``; returns (recorded metal potentials, hidden rows)."""
        lu, w, coupling, size = self._factorise(unit)
        cdt = (self._capacitance / self.dt).tocsr()
        n = self.n_nodes
        stim_rows = self._stim_metal if unit == "A" else n + np.arange(self._stim_metal.size)
        metal, solution = self._metal, self._solution
        i0 = self._exchange_current
        faradaic = bool(np.any(i0 > 0))
        x, eta = self._x, self._eta
        i_f = np.zeros(metal.size)
        rs = self._record_stride
        clean = np.empty(((n_steps + rs - 1) // rs, self._rec_metal.size))
        hidden = np.empty(((n_steps + hidden_stride - 1) // hidden_stride, self.n_nodes)) \
            if hidden_stride else None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_steps, unit="step", desc="potato", leave=False)
        for k in range(n_steps):
            if k % rs == 0:
                clean[k // rs] = x[self._rec_metal]
            if hidden_stride and k % hidden_stride == 0:
                hidden[k // hidden_stride] = x
            rhs = np.zeros(size)
            rhs[:n] = cdt @ x
            rhs[stim_rows] += current[k]
            y = lu.solve(rhs)
            if faradaic:
                target = y[metal] - y[solution]
                used = K.solve_interfaces(eta, target, coupling, i0, self._anodic_slope,
                                          self._cathodic_slope, i_f, _NEWTON_TOLERANCE,
                                          _NEWTON_MAX_STEP, _NEWTON_MAX_ITERATIONS)
                if used < 0:
                    eta[:] = x[metal] - x[solution]  # leave the state as it was before this run's step
                    self._x = x
                    self._step += k
                    raise RuntimeError(
                        f"Newton on the electrode interfaces did not converge at t = "
                        f"{(self._step + k + 1) * self.dt:g} s; lower dt or the stimulus amplitude"
                    )
                x = (y - w @ i_f)[:n]
            else:
                x = y[:n]
            if bar is not None and k % 1000 == 0:
                bar.update(min(1000, n_steps - k))
        if bar is not None:
            bar.close()
        eta[:] = x[metal] - x[solution]
        self._x = x
        self._step += n_steps
        return clean, hidden

    # ------------------------------------------------------------------ small-signal
    def _terminals(self, between, interfaces):
        if between is None:
            stim = self.electrodes.stimulating_electrodes
            pool = stim if stim.size >= 2 else self.electrodes_in_use
            if pool.size < 2:
                between = (int(pool[0]), None)
            else:
                between = (int(pool[0]), int(pool[-1]))
        try:
            a, b = between
        except (TypeError, ValueError):
            raise TypeError(f"between must be a pair (electrode_a, electrode_b or None for the "
                            f"counter), got {between!r}") from None
        nodes = []
        for label, e in (("between[0]", a), ("between[1]", b)):
            if e is None and label == "between[1]":
                nodes.append(-1)
                continue
            if isinstance(e, bool) or not isinstance(e, numbers.Integral) or int(e) not in self._where:
                raise ValueError(f"{label} must be an electrode in use "
                                 f"{self.electrodes_in_use.tolist()}, got {e!r}")
            k = self._where[int(e)]
            nodes.append(int(self._metal[k]) if interfaces else int(self.contact_cells[k]))
        if nodes[0] == nodes[1]:
            raise ValueError(f"between {tuple(between)} gives one node twice (the two electrodes "
                             "touch the same cell); choose electrodes further apart")
        return nodes[0], nodes[1]

    def impedance_terminals(self, between=None, *, interfaces: bool = False):
        """SPICE node names (a, b) across which :meth:`impedance` is taken ("0" is the counter).

        Examples
        --------
        >>> from substrates.potato import Potato
        >>> Potato(random_state=0).impedance_terminals(interfaces=True)
        ('m0', 'm7')
        """
        a, b = self._terminals(between, interfaces)
        return self.node_names[a], ("0" if b < 0 else self.node_names[b])

    def impedance(self, frequencies, between=None, *, interfaces: bool = False) -> np.ndarray:
        """Small-signal impedance of the model at rest, from its own MNA matrices.

        ``Z(f) = (e_a - e_b)^T (G + G_F + j 2 pi f C)^{-1} (e_a - e_b)``, with ``G_F`` the
        Butler-Volmer conductances ``i0 A (alpha_a + alpha_c) F/(R T)`` linearised at rest
        (every node at 0 V, as ngspice's operating point); one sparse LU per frequency.

        Parameters
        ----------
        frequencies : array_like (n_frequencies,), Hz
            Finite, > 0.
        between : (int, int or None), optional
            Electrode indices (in use); None as the second means the counter/reference.
            Default: the first and last stimulating electrodes.
        interfaces : bool, default False
            False: between the apoplast nodes the electrodes touch, i.e. the tissue alone
            (a four-electrode measurement, where electrode polarisation drops out). True:
            between the electrodes' metal, through both interfaces (two-electrode).

        Returns
        -------
        complex array (n_frequencies,), Ohm

        Examples
        --------
        >>> from substrates.potato import Potato
        >>> z = Potato(random_state=0).impedance([1e2, 1e4, 1e6])
        >>> bool(abs(z[0]) > abs(z[1]) > abs(z[2]))
        True
        """
        from scipy.sparse.linalg import splu

        f = np.asarray(frequencies, dtype=np.float64)
        if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f)) or np.any(f <= 0):
            raise ValueError("frequencies must be a non-empty 1-D array of finite values > 0 Hz, "
                             f"got {np.asarray(frequencies)!r}")
        a, b = self._terminals(between, interfaces)
        from scipy import sparse

        gf = self._exchange_current * (self._anodic_slope + self._cathodic_slope)
        m, d = self._metal, self._solution
        linearised = sparse.csr_matrix(
            (np.concatenate([gf, gf, -gf, -gf]),
             (np.concatenate([m, d, m, d]), np.concatenate([m, d, d, m]))),
            shape=(self.n_nodes, self.n_nodes))
        g = (self._conductance + linearised).tocsc().astype(np.complex128)
        c = self._capacitance.tocsc().astype(np.complex128)
        e = np.zeros(self.n_nodes, dtype=np.complex128)
        e[a] += 1.0
        if b >= 0:
            e[b] -= 1.0
        out = np.empty(f.size, dtype=np.complex128)
        for i, freq in enumerate(f):
            v = splu(g + (2j * math.pi * freq) * c).solve(e)
            out[i] = v[a] - (v[b] if b >= 0 else 0.0)
        return out

    # ------------------------------------------------------------------ SPICE
    def to_spice(self, stimulus: Stimulus | None = None, duration: float | None = None, *,
                 analysis: str = "tran", max_step: float | None = None,
                 frequency_range: tuple = (1e2, 1e6), points_per_decade: int = 10,
                 between=None, interfaces: bool = False, reltol: float = 1e-6,
                 save=None) -> str:
        """A SPICE netlist of the same circuit, for ngspice.

        Every resistor, capacitor, CPE ladder branch and Butler-Volmer interface (a
        behavioural current source ``B... I = i0*(exp(ka*V)-exp(-kc*V))``) of the model,
        with values to 17 digits; node names are :attr:`node_names`, ground ("0") is the
        counter/reference plate.

        Parameters
        ----------
        stimulus, duration :
            ``analysis="tran"``: the stimulus as sources on the stimulating electrodes with
            piecewise-linear waveforms (starting from rest at t = 0) (each sample held for ``dt``, jumps taking
            ``dt * 1e-3``), simulated for ``duration`` (default the stimulus duration).
        analysis : {"tran", "ac"}
            "tran": ``.tran dt duration 0 max_step`` with Gear integration (current
            sources ``IS{j}``, or voltage sources ``VS{j} m{e} 0`` for a unit "V" stimulus,
            every stimulating electrode driven), saving the
            metal potentials of the electrodes in use (``v(m{k})``). "ac": a 1 A AC current
            source into terminal a and out of terminal b (see :meth:`impedance_terminals`),
            ``.ac dec points_per_decade f_low f_high``; the impedance is
            ``v(a) - v(b)``.
        max_step : float, s
            Largest ngspice time step; default ``dt``.
        frequency_range : (float, float), Hz
        points_per_decade : int
        between, interfaces : see :meth:`impedance`.
        reltol : float
            ngspice's relative tolerance (tight by default: the netlist is for comparison).
        save : sequence of str, optional
            Nodes whose voltages a transient saves (names from :attr:`node_names`);
            default the metal of every electrode in use.

        Returns
        -------
        str

        Examples
        --------
        >>> from substrates.potato import Potato, TissueParameters
        >>> net = Potato(tissue=TissueParameters(cells_per_axis=(6, 4, 2)),
        ...              random_state=0).to_spice(duration=1e-3)
        >>> sum(line.startswith("BF") for line in net.splitlines())  # one per electrode in use
        8
        """
        options = (f"reltol={reltol:g} abstol=1e-15 vntol=1e-9 chgtol=1e-20 gmin=1e-15 "
                   "method=gear maxord=2")
        sources, commands = [], []
        if analysis == "tran":
            duration = run_duration(stimulus, duration, " for a transient netlist")
            n_steps = self._steps(duration)
            current = self._stimulus_current(stimulus, n_steps)
            rise = self.dt * 1e-3
            unit = "A" if stimulus is None else stimulus.unit
            for j, node in enumerate(self._stim_metal):
                u = current[:, j]
                if unit == "A" and not np.any(u):
                    continue  # 0 A: the electrode floats
                # at rest at t = 0 (the operating point), then sample 0 from t = rise on
                pts = [(0.0, 0.0), (rise, u[0])] if u[0] != 0 else [(0.0, 0.0)]
                for k in np.flatnonzero(np.diff(u)) + 1:
                    pts += [(k * self.dt, u[k - 1]), (k * self.dt + rise, u[k])]
                pts.append((n_steps * self.dt, u[-1]))
                body = " ".join(f"{t:.17g} {v:.17g}" for t, v in pts)
                if unit == "A":
                    sources.append(f"IS{j} 0 {self.node_names[node]} PWL({body})")
                else:
                    sources.append(f"VS{j} {self.node_names[node]} 0 PWL({body})")
            step = self.dt if max_step is None else _positive_time("max_step", max_step)
            if save is None:
                save = [self.node_names[m] for m in self._metal]
            unknown = sorted(set(save) - set(self.node_names))
            if unknown:
                raise ValueError(f"save must name nodes of node_names, got unknown {unknown[:5]}")
            commands.append(".save " + " ".join(f"v({name})" for name in save))
            commands.append(f".tran {self.dt:.17g} {n_steps * self.dt:.17g} 0 {step:.17g}")
        elif analysis == "ac":
            a, b = self.impedance_terminals(between, interfaces=interfaces)
            low, high = (float(v) for v in frequency_range)
            if not (0 < low < high and math.isfinite(high)):
                raise ValueError(f"frequency_range must be (low, high) Hz with 0 < low < high, "
                                 f"got {frequency_range!r}")
            sources.append(f"IAC {b} {a} DC 0 AC 1")
            saved = [f"v({a})"] + ([f"v({b})"] if b != "0" else [])
            commands.append(".save " + " ".join(saved))
            commands.append(f".ac dec {int(points_per_decade)} {low:.17g} {high:.17g}")
        else:
            raise ValueError(f"analysis must be 'tran' or 'ac', got {analysis!r}")
        return write_netlist(
            f"jewelhead potato: {self.n_cells} cells, {self._metal.size} electrode interfaces",
            self.node_names, self._resistors, self._capacitors,
            (self._metal, self._solution, self._exchange_current, self._anodic_slope,
             self._cathodic_slope),
            sources=sources, commands=commands, options=options)
