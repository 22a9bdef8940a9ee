"""SpikingNetwork: a culture or organoid of spiking neurons reached through electrodes."""

from __future__ import annotations

import math
import os
import threading
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from substrates._aligned import aligned_copy, aligned_full, aligned_rows
from substrates._electrodes import ElectrodeArray
from substrates._protocol import run_duration, steps_per_sample, stimulus_on_grid
from substrates._random import check_random_state, child_generators
from substrates._recording import Recording, detect_spikes, estimate_noise_levels
from substrates._stimulus import Stimulus
from substrates._threads import STATE as THREADS_STATE
from substrates.spiking import _kernels as K
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
)

__all__ = ["NetworkState", "SpikingNetwork", "SynapseTable"]

_NEVER = -(2**30)  # "last spike" step of a neuron that has not spiked
_MAX_STEPS = 2**30  # int32 step counters: runs up to 2**30 steps after a reset
_RESOLUTION = 4.0  # dt must be at most this fraction of the fastest time constant
_SPIKE_BUFFER = 4_000_000  # spike slots per kernel call: bounds its number of steps
_BLOCK_ALIGN = 64  # neurons per cache-line-aligned unit of a thread's block
# a thread needs about this many neurons to earn its barrier (one per step): CUBA in
# float32, us per step on 1 / 2 threads, fastest of 10 alternating 1 s runs (medians in
# brackets), two rounds on 2 cores: 1.65 / 1.99 (1.69 / 2.08) at 3,000 neurons; at
# 4,000 2.11 / 1.97 (3.20 / 2.52) and 2.06 / 1.70 (2.13 / 1.75); 5,000 2.47 / 1.90
# (2.66 / 2.88); 6,000 2.97 / 2.17 (3.11 / 3.29) and 3.03 / 2.27 (3.31 / 2.48); 8,000
# 4.15 / 2.91 (4.34 / 4.40) and 3.94 / 2.82 (4.43 / 3.80); 12,000 5.95 / 3.64
# (7.05 / 5.44). Two threads win from ~4,000 at their best, but their medians swing
# with whatever else the two cores run (a thread waits for the slower one every step),
# so a thread gets 3,500 neurons at least: 4,000 run on one, steadily
_NEURONS_PER_THREAD = 3_500
# float32 keeps the synaptic variables as value / decay since an epoch began and decays
# them once an epoch (K steps) instead of once a step: the integration loop then only
# reads them (25-30 % faster at 32,000 neurons, benchmarks/spiking_ab.py). An epoch
# lasts the longest power of two of steps (1,024 at most) in which the faster synapse
# decays by 2**-20 at most, so the stored value never exceeds 2**20 times the value (far
# inside float32's range).
# float64 decays every step (K = 1), as Brian2 does, bit for bit.
_EPOCH_DECAY_LOG2 = 20
_MAX_EPOCH_STEPS = 1024


class NetworkState(NamedTuple):
    """Dynamic state of a :class:`SpikingNetwork` (all arrays of shape (n_neurons,)).

    membrane_potential (V), excitatory_synaptic and inhibitory_synaptic (A or S),
    adaptation (A), last_spike_step (int32), depression_resource (fraction in [0, 1]),
    step (int, steps simulated since the last reset).
    """

    membrane_potential: np.ndarray
    excitatory_synaptic: np.ndarray
    inhibitory_synaptic: np.ndarray
    adaptation: np.ndarray
    last_spike_step: np.ndarray
    depression_resource: np.ndarray
    step: int


class SynapseTable(NamedTuple):
    """Every synapse, in delivery order (by source, then delay, then target).

    source, target : int64 (n_synapses,); weight : float64 (A or S);
    delay_steps : int64 (in time steps of the network's dt); plastic : bool.
    """

    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray
    plastic: np.ndarray


def _step_to_sample(steps, samples_per_step):
    """Nearest recording sample of each time step (ties up), the same wherever a run starts.

    ``samples_per_step = dt * sampling_rate`` is often a ratio of small integers (2.5 at
    0.1 ms and 25 kHz); rounding ``step * 2.5`` in floating point would send half-sample
    ties up or down depending on the step's absolute value, so a recording cut into runs
    would not match one long run. The ratio is made exact first, the arithmetic integer.
    """
    steps = np.asarray(steps, dtype=np.int64)
    exact = Fraction(samples_per_step).limit_denominator(1_000_000)
    if abs(float(exact) - samples_per_step) <= 1e-12 * samples_per_step:
        p, q = exact.numerator, exact.denominator
        return (steps * p + q // 2) // q
    return np.floor(steps * samples_per_step + 0.5).astype(np.int64)


def _spike_waveform(sampling_rate):
    """Unit-trough extracellular spike waveform sampled at ``sampling_rate``.

    A sharp negative trough (sodium influx) and a slower, smaller positive repolarising
    phase, as recorded near the soma. Returns (waveform, index of the trough).
    """
    t = np.arange(-0.5e-3, 2.0e-3, 1.0 / sampling_rate)
    trough = -np.exp(-0.5 * (t / 0.12e-3) ** 2)
    rebound = 0.3 * np.exp(-0.5 * ((t - 0.45e-3) / 0.3e-3) ** 2)
    waveform = trough + rebound
    waveform /= -waveform.min()
    return waveform, int(np.argmin(waveform))


_NUMBA_SET_UP = "jewelhead-numba-set-up"  # the name of the thread doing it


def _finish_numba_set_up():
    """Wait for the background set-up (before a fork: the child would inherit Numba's
    compiler lock held by a thread it does not have, and wait for it forever)."""
    for thread in threading.enumerate():
        if thread.name == _NUMBA_SET_UP and thread is not threading.current_thread():
            thread.join()


def _set_up_numba_in_background():
    """Start Numba's one-time set-up in a background thread, if no kernel ran yet.

    The first kernel a process calls, even one loaded from Numba's on-disk cache, waits
    ~0.4 s for Numba to fill its typing and lowering registries (and, inside that, to
    import scipy.linalg while looking for BLAS). That is Python work, and drawing a
    large network's wiring is mostly numpy work that lets go of the GIL, so the two can
    overlap (see the commit that added this for the measurements). Nothing here changes
    a result; a failure shows again, in the caller's thread, when the kernels are
    called. A fork waits for the set-up to finish (:func:`_finish_numba_set_up`).
    """
    if K._record_row.signatures or any(t.name == _NUMBA_SET_UP for t in threading.enumerate()):
        return  # a kernel has run (Numba is set up), or the set-up is under way

    def set_up():
        try:
            K._record_row(0, 0, 0)  # any cached kernel will do
        except Exception:  # noqa: BLE001 - raised again where it matters
            pass

    if hasattr(os, "register_at_fork"):  # POSIX
        os.register_at_fork(before=_finish_numba_set_up)
    threading.Thread(target=set_up, name=_NUMBA_SET_UP, daemon=True).start()


def _random_pairs(rng, n, n_candidates, probability):
    """Each source connects to each of ``n_candidates`` targets with ``probability``.

    Binomial row counts, then that many distinct targets per row, drawn uniformly
    (duplicates are redrawn, which leaves a uniform k-subset by symmetry). Vectorised:
    O(n_synapses), not O(n^2). Returns (source, target) sorted by source then target;
    targets index the candidates 0..n_candidates-1.
    """
    counts = rng.binomial(n_candidates, probability, size=n)
    source = np.repeat(np.arange(n, dtype=np.int64), counts)
    # one integer key per pair sorts by source, then target (faster than lexsort); a
    # key that fits 32 bits sorts twice as fast
    key_type = np.int32 if n * n_candidates < 2**31 else np.int64
    key = (source * n_candidates + rng.integers(0, n_candidates, size=source.size)).astype(key_type)
    key.sort()
    first = np.cumsum(counts) - counts  # where each source's run of keys starts
    while True:
        duplicate = np.flatnonzero(key[1:] == key[:-1]) + 1
        if duplicate.size == 0:
            # sorting never moves a key out of its source's run: source is unchanged
            return source, key - source * n_candidates
        row = key[duplicate].astype(np.int64) // n_candidates
        key[duplicate] = row * n_candidates + rng.integers(0, n_candidates, size=duplicate.size)
        # only the rows with a redrawn target are out of order: sort those runs again
        # (keys carry their source, so sorting the runs together sorts each)
        rows = np.unique(row)
        runs = np.repeat(first[rows], counts[rows]) + _ranges(counts[rows])
        key[runs] = np.sort(key[runs])


def _ranges(lengths):
    """0, 1, ..., lengths[0] - 1, 0, 1, ..., lengths[1] - 1, ... (int64)."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def _numba_threads():
    """Numba's thread count for parallel regions (NUMBA_NUM_THREADS, set_num_threads)."""
    import numba

    return numba.get_num_threads()


class SpikingNetwork:
    """A spiking network standing in for a neuronal culture or organoid.

    Neurons (LIF, AdEx or Izhikevich; current or conductance synapses) are placed in a
    2D culture or a 3D organoid on top of an electrode array, wired with
    distance-dependent (or random) connectivity and axonal delays, optionally with
    short-term depression, STDP and background Poisson drive. It is reached only
    through the array: :meth:`run` takes a :class:`Stimulus` on the stimulating
    electrodes and returns a :class:`Recording` of the recording channels (extracellular
    potential after noise and ADC, with detected spikes), plus, on request, the ground
    truth no wet lab has.

    Parameters
    ----------
    n_neurons : int >= 1
    electrodes : ElectrodeArray, default ``ElectrodeArray.mea60()``
    dt : float, s
        Time step; must be at most 1/4 of the fastest synaptic and membrane time constant.
    excitatory_fraction : float in [0, 1]
        The first ``round(excitatory_fraction * n_neurons)`` neurons are excitatory.
    neuron : LIFParameters | AdExParameters | IzhikevichParameters
    synapses, connectivity, depression, stdp, background, tissue, extracellular :
        parameter records (see :mod:`substrates.spiking._parameters`).
    threshold_sd : float, V
        Standard deviation of per-neuron thresholds (heterogeneity).
    capacitance_cv : float
        Coefficient of variation of per-neuron membrane capacitance (log-normal).
    initial_potential : (float, float), V
        Membrane potentials start uniform in this range.
    precision : {"float64", "float32"}
        Floating-point type of the state and parameters. float64 matches Brian2 bit for
        bit; float32 halves memory traffic (tests bound its effect on rates) and decays
        the synaptic variables once every few hundred steps instead of every step
        (they are kept divided by their decay since the last such epoch, so the step
        loop only reads them; ``state`` gives the values), which rounds them less
        often than a decay per step would.
    threads : int >= 1 or None
        Blocks of neurons simulated at once, on Numba's threads (``NUMBA_NUM_THREADS``).
        None: ``numba.get_num_threads()``, but no more than one per 3,500 neurons (so
        one thread below 7,000 neurons, where synchronising the threads every step costs
        what it saves). The threads stay in one parallel region for a whole run and spin
        at a barrier once a step, so give each a core of its own. The bits do not
        depend on it: each neuron sees the same arithmetic in the same order.
        ``metadata["threads"]`` of a recording says how many threads ran it.
    random_state : int, Generator, SeedSequence or None
        Draws positions, wiring, weights and heterogeneity (fixed for the object's life),
        and, through :meth:`reset`, the initial state, background drive and electrode noise.

    Examples
    --------
    >>> from substrates import ElectrodeArray, SpikingNetwork, Stimulus
    >>> net = SpikingNetwork(200, electrodes=ElectrodeArray.mea60(), random_state=0)
    >>> stim = Stimulus.biphasic(60, 0.05, 1e-4, rate=20.0, amplitude=5e-6,
    ...                          phase_width=2e-4, channels=[27])
    >>> rec = net.run(stim)
    >>> rec.n_channels
    60
    """

    #: ground-truth time series that make up the full state (see substrates._protocol)
    hidden_state_keys = ("membrane_potential",)
    #: synaptic weights can be written (see :meth:`program`): a simulated culture only
    programmable = True

    def __init__(
        self,
        n_neurons: int = 1000,
        *,
        electrodes: ElectrodeArray | None = None,
        dt: float = 1e-4,
        excitatory_fraction: float = 0.8,
        neuron=None,
        synapses: SynapseParameters | None = None,
        connectivity: ConnectivityParameters | None = None,
        depression: ShortTermDepressionParameters | None = None,
        stdp: STDPParameters | None = None,
        background: BackgroundParameters | None = None,
        tissue: TissueParameters | None = None,
        extracellular: ExtracellularParameters | None = None,
        threshold_sd: float = 0.0,
        capacitance_cv: float = 0.0,
        initial_potential: tuple[float, float] | None = None,
        precision: str = "float64",
        threads: int | None = None,
        random_state=None,
    ):
        if not isinstance(n_neurons, (int, np.integer)) or isinstance(n_neurons, bool) or n_neurons < 1:
            raise ValueError(f"n_neurons must be an integer >= 1, got {n_neurons!r}")
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a finite time step > 0 s, got {dt!r}")
        if not (0.0 <= excitatory_fraction <= 1.0):
            raise ValueError(f"excitatory_fraction must be in [0, 1], got {excitatory_fraction!r}")
        if not (math.isfinite(threshold_sd) and threshold_sd >= 0):
            raise ValueError(f"threshold_sd must be >= 0 V, got {threshold_sd!r}")
        if not (math.isfinite(capacitance_cv) and 0 <= capacitance_cv <= 1):
            raise ValueError(f"capacitance_cv must be in [0, 1], got {capacitance_cv!r}")
        _set_up_numba_in_background()  # overlaps with building the network
        self.n_neurons = int(n_neurons)
        self.dt = float(dt)
        self.tissue = tissue or TissueParameters()
        self.electrodes = electrodes if electrodes is not None else ElectrodeArray.mea60()
        self.excitatory_fraction = float(excitatory_fraction)
        self.neuron = neuron if neuron is not None else LIFParameters()
        if not isinstance(self.neuron, (LIFParameters, AdExParameters, IzhikevichParameters)):
            raise TypeError("neuron must be LIFParameters, AdExParameters or IzhikevichParameters")
        self.synapses = synapses or SynapseParameters()
        self.connectivity = connectivity or ConnectivityParameters()
        self.depression = depression or ShortTermDepressionParameters()
        self.stdp = stdp or STDPParameters()
        self.background = background or BackgroundParameters()
        self.extracellular = extracellular or ExtracellularParameters()
        self.threshold_sd = float(threshold_sd)
        self.capacitance_cv = float(capacitance_cv)
        if precision not in ("float64", "float32"):
            raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
        self.precision = precision
        self._dtype = np.dtype(precision)
        if threads is not None and (not isinstance(threads, (int, np.integer))
                                    or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        if initial_potential is None:
            initial_potential = (self.neuron.reset, self._threshold_potential())
        low, high = (float(x) for x in initial_potential)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"initial_potential must be (low, high) in V with low <= high, got {initial_potential!r}")
        self.initial_potential = (low, high)
        self._check_time_step()

        # one entropy draw: spawn key 0 builds the tissue, spawn key 1 is the default
        # stream of reset() (initial state, background drive, electrode noise)
        self._entropy = int(check_random_state(random_state).integers(2**63))
        structure = child_generators(np.random.SeedSequence(self._entropy, spawn_key=(0,)),
                                     ["positions", "connectivity", "weights", "heterogeneity"])
        self.n_excitatory = int(round(self.excitatory_fraction * self.n_neurons))
        self.positions = self._place_neurons(structure["positions"])
        self._build_neuron_table(structure["heterogeneity"])
        self._build_synapses(structure["connectivity"], structure["weights"])
        self._electrode_coupling = {}  # kind -> (array, coupling), built on first use
        self._block_layout = None  # (n_blocks, layout), built on first run
        self._threads_refused = False  # the blocks did not all get a thread once
        self.reset()

    # ------------------------------------------------------------------ checks
    def _threshold_potential(self):
        n = self.neuron
        if isinstance(n, LIFParameters):
            return n.threshold
        if isinstance(n, AdExParameters):
            return n.soft_threshold
        return n.instantaneous_threshold

    def _check_time_step(self):
        constants = {
            "excitatory_time_constant": self.synapses.excitatory_time_constant,
            "inhibitory_time_constant": self.synapses.inhibitory_time_constant,
            **self.neuron.time_constants(),
        }
        name, fastest = min(constants.items(), key=lambda item: item[1])
        if self.dt > fastest / _RESOLUTION:
            raise ValueError(
                f"dt = {self.dt} s cannot resolve {name} = {fastest} s: dt must be in "
                f"(0, {fastest / _RESOLUTION}] s (a quarter of the fastest time constant)"
            )
        if isinstance(self.neuron, LIFParameters) and self.synapses.model == "current":
            tau_m = self.neuron.membrane_time_constant
            for key in ("excitatory_time_constant", "inhibitory_time_constant"):
                if getattr(self.synapses, key) == tau_m:
                    raise ValueError(
                        f"synapses.{key} must differ from membrane_time_constant ({tau_m} s) "
                        "for the exact LIF propagator"
                    )

    def _tissue_extent(self):
        return self.tissue.size / 2.0

    @property
    def electrodes(self) -> ElectrodeArray:
        """The electrode array the network sits on (stimulating and recording electrodes)."""
        return self._electrodes

    @electrodes.setter
    def electrodes(self, array):
        # the constructor's array, another routing of the same chip (array.select(k)) or
        # another array under the same tissue; the coupling is rebuilt on first use
        if not isinstance(array, ElectrodeArray):
            raise TypeError(f"electrodes must be an ElectrodeArray, got {type(array).__name__}")
        self._check_electrodes_on_tissue(array)
        self._electrodes = array

    def _check_electrodes_on_tissue(self, array):
        used = np.union1d(array.recording_electrodes, array.stimulating_electrodes)
        xy = array.positions[used, :2]
        half = self._tissue_extent()
        if self.tissue.shape == "culture":
            outside = np.any(np.abs(xy) > half * (1 + 1e-12), axis=1)
            allowed = f"|x|, |y| <= {half} m (a culture of side {self.tissue.size} m)"
        else:
            outside = np.hypot(xy[:, 0], xy[:, 1]) > half * (1 + 1e-12)
            allowed = f"x^2 + y^2 <= ({half} m)^2 (an organoid of diameter {self.tissue.size} m)"
        if np.any(outside):
            bad = used[outside]
            raise ValueError(
                f"electrodes {bad[:10].tolist()}{'...' if bad.size > 10 else ''} "
                f"({bad.size} in all) lie outside the tissue: electrode positions must satisfy "
                f"{allowed}; enlarge tissue.size or route/select electrodes under the tissue"
            )

    # ------------------------------------------------------------------ build
    def _place_neurons(self, rng):
        n = self.n_neurons
        half = self._tissue_extent()
        if self.tissue.shape == "culture":
            xy = rng.uniform(-half, half, size=(n, 2))
            z = rng.uniform(self.tissue.soma_height_min, self.tissue.soma_height_max, size=n)
            return np.column_stack([xy, z])
        # uniform in a dome (upper half ball): direction from a Gaussian folded upwards,
        # radius from the cube-root law
        direction = rng.standard_normal((n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        direction[:, 2] = np.abs(direction[:, 2])
        radius = half * rng.uniform(0.0, 1.0, size=n) ** (1.0 / 3.0)
        base = np.array([0.0, 0.0, self.tissue.soma_height_min])
        return base + direction * radius[:, None]

    def _build_neuron_table(self, rng):
        n = self.n_neurons
        nrn = self.neuron
        prm = np.zeros((K.N_ROWS, n))
        capacitance = np.full(n, nrn.membrane_capacitance)
        if self.capacitance_cv > 0:
            sigma = math.sqrt(math.log1p(self.capacitance_cv**2))
            capacitance *= rng.lognormal(-0.5 * sigma**2, sigma, size=n)
        prm[K.ROW_CAPACITANCE] = capacitance
        prm[K.ROW_REST] = nrn.resting_potential
        prm[K.ROW_RESET] = nrn.reset
        if isinstance(nrn, LIFParameters):
            self._model = K.LIF
            prm[K.ROW_THRESHOLD] = nrn.threshold
            prm[K.ROW_RESISTANCE] = nrn.membrane_time_constant / capacitance
        elif isinstance(nrn, AdExParameters):
            self._model = K.ADEX
            prm[K.ROW_THRESHOLD] = nrn.spike_cutoff
            prm[K.ROW_RESISTANCE] = nrn.membrane_time_constant / capacitance
            prm[K.ROW_SLOPE] = nrn.slope_factor
            prm[K.ROW_SOFT_THRESHOLD] = nrn.soft_threshold
            prm[K.ROW_ADAPT_CONDUCTANCE] = nrn.adaptation_conductance
            prm[K.ROW_ADAPT_INCREMENT] = nrn.adaptation_increment
            prm[K.ROW_ADAPT_RATE] = 1.0 / nrn.adaptation_time_constant
        else:
            self._model = K.IZHIKEVICH
            prm[K.ROW_THRESHOLD] = nrn.peak
            prm[K.ROW_SLOPE] = nrn.k
            prm[K.ROW_SOFT_THRESHOLD] = nrn.instantaneous_threshold
            prm[K.ROW_ADAPT_CONDUCTANCE] = nrn.recovery_conductance
            prm[K.ROW_ADAPT_INCREMENT] = nrn.recovery_increment
            prm[K.ROW_ADAPT_RATE] = nrn.recovery_rate
        if self.threshold_sd > 0:
            offsets = rng.normal(0.0, self.threshold_sd, size=n)
            prm[K.ROW_THRESHOLD] += offsets
            if isinstance(nrn, (AdExParameters, IzhikevichParameters)):
                prm[K.ROW_SOFT_THRESHOLD] += offsets
        self._synapse_model = K.CURRENT if self.synapses.model == "current" else K.CONDUCTANCE
        dt = self.dt
        tau_e = self.synapses.excitatory_time_constant
        tau_i = self.synapses.inhibitory_time_constant
        epoch = 1
        if self._dtype == np.float32:
            longest = _EPOCH_DECAY_LOG2 * math.log(2.0) * min(tau_e, tau_i) / dt
            epoch = 1 << max(0, min(_MAX_EPOCH_STEPS, int(longest)).bit_length() - 1)
        self._syn_scale = K.synaptic_scale(dt, tau_e, tau_i, epoch, self._dtype)
        if self._model == K.LIF and self._synapse_model == K.CURRENT:
            # Exact propagator, each constant written as Brian2's 'exact' integrator
            # hoists it (glibc exp through math.exp, the same as Brian2's generated C++).
            tau_m = nrn.membrane_time_constant
            tau_e = self.synapses.excitatory_time_constant
            tau_i = self.synapses.inhibitory_time_constant
            prm[K.ROW_DECAY_MEMBRANE] = math.exp((-dt) / tau_m)
            # one evaluation per distinct membrane resistance (one when homogeneous)
            resistances, which = np.unique(prm[K.ROW_RESISTANCE], return_inverse=True)
            for row, tau_s in ((K.ROW_PROP_EXC, tau_e), (K.ROW_PROP_INH, tau_i)):
                values = [
                    (((r * tau_s) * math.exp((-dt) / tau_s)
                      * (-math.exp(dt / tau_s) + math.exp(dt / tau_m)))
                     * math.exp((-dt) / tau_m)) / ((0.0 - tau_m) + tau_s)
                    for r in resistances.tolist()
                ]
                prm[row] = np.asarray(values)[which]
        refractory = nrn.refractory_period
        # Brian2's timestep(): int((t + 1e-3 dt) / dt)
        self._refractory_steps = int((refractory + 1e-3 * dt) / dt)
        self._uniform = bool(np.all(prm == prm[:, :1]))
        self._prm = prm.astype(self._dtype)

    def _build_synapses(self, rng_conn, rng_weight):
        n = self.n_neurons
        conn = self.connectivity
        syn = self.synapses
        n_candidates = n if conn.autapses else n - 1
        if conn.rule == "random":
            source, target = _random_pairs(rng_conn, n, n_candidates, conn.connection_probability)
        else:
            sources, targets = [], []
            # one row at a time keeps memory at O(n) while building
            for i in range(n):
                d = np.linalg.norm(self.positions - self.positions[i], axis=1)
                p = conn.connection_probability * np.exp(-d / conn.connection_length)
                if not conn.autapses:
                    p[i] = 0.0
                hit = np.flatnonzero(rng_conn.random(n) < p)
                sources.append(np.full(hit.size, i, dtype=np.int64))
                targets.append(hit.astype(np.int64))
            source = np.concatenate(sources)
            target = np.concatenate(targets)
        if not conn.autapses and conn.rule == "random":
            target = target + (target >= source)  # skip the neuron itself
        excit = source < self.n_excitatory
        weight = np.where(excit, float(syn.excitatory_weight), float(syn.inhibitory_weight))
        if syn.weight_cv > 0:
            sigma = math.sqrt(math.log1p(syn.weight_cv**2))
            weight *= rng_weight.lognormal(-0.5 * sigma**2, sigma, size=weight.size)
        if syn.conduction_velocity is None:
            delay_steps = np.full(source.size, np.rint(syn.delay / self.dt), dtype=np.int64)
        else:
            dist = np.linalg.norm(self.positions[source] - self.positions[target], axis=1)
            delay_steps = np.rint((syn.delay + dist / syn.conduction_velocity) / self.dt
                                  ).astype(np.int64)
        if self.stdp.enabled:
            plastic = excit & (target < self.n_excitatory)
        else:
            plastic = np.zeros(source.size, dtype=bool)
        # delivery order: by source, then delay, then creation order (stable); pairs are
        # created by source, then target, so equal delays need no sort, and the targets
        # of a delay group ascend (the kernel's per-block synapse ranges rely on it)
        if delay_steps.size and np.all(delay_steps == delay_steps[0]):
            order = slice(None)
        else:
            order = np.lexsort((np.arange(source.size), delay_steps, source))
        self._set_synapses(source[order], target[order], weight[order], delay_steps[order],
                           plastic[order])

    def _set_synapses(self, source, target, weight, delay_steps, plastic):
        n = self.n_neurons
        self._syn_source = source
        # unsigned CSR column indices, as narrow as the network allows (memory traffic)
        self._targets = target.astype(np.uint16 if n <= 2**16 else np.uint32)
        self._weights0 = weight.astype(self._dtype)
        self._delay_steps = delay_steps
        self._plastic = plastic
        # delay groups: maximal runs of equal (source, delay)
        if source.size:
            new_group = np.ones(source.size, dtype=bool)
            new_group[1:] = (source[1:] != source[:-1]) | (delay_steps[1:] != delay_steps[:-1])
            starts = np.flatnonzero(new_group)
        else:
            starts = np.zeros(0, np.int64)
        self._group_start = np.append(starts, source.size).astype(np.int64)
        group_src = source[starts]
        self._group_delay = delay_steps[starts].astype(np.int64)
        self._group_excitatory = group_src < self.n_excitatory
        # one weight per group where every synapse of the group has the same weight
        first = self._weights0[starts] if starts.size else np.zeros(0, self._dtype)
        same = np.all(self._weights0 == np.repeat(first, np.diff(self._group_start)))
        self._group_weight = first.astype(self._dtype)
        self._group_weight_uniform = bool(same and not self.stdp.enabled)
        self._source_group_ptr = np.searchsorted(group_src, np.arange(n + 1)).astype(np.int64)
        groups_per_source = np.diff(self._source_group_ptr)
        max_delay = int(delay_steps.max()) if delay_steps.size else 0
        # the spike queue: a slot per step of delay and one more (so the spikes of the
        # next step can be queued while this step's arrivals are delivered); a slot
        # receives each group at most once
        self._n_slots = max_delay + 2
        self._queue_capacity = max(1, int(groups_per_source.sum()))
        # incoming plastic synapses per target (for STDP potentiation at post spikes)
        plastic_ids = np.flatnonzero(plastic)
        by_target = plastic_ids[np.argsort(target[plastic_ids], kind="stable")]
        self._post_ptr = np.searchsorted(target[by_target], np.arange(n + 1)).astype(np.int64)
        self._post_synapse = by_target.astype(np.int64)

    # The electrode coupling is built when first needed (a run that records nothing, such
    # as spikes(), never builds the recording gains) and again whenever ``electrodes`` is
    # replaced, so it always belongs to the array in use.
    def _coupling(self, kind):
        """``"recording"`` or ``"stimulation"`` coupling of the current array, cached."""
        array = self.electrodes
        cached = self._electrode_coupling.get(kind)
        if cached is None or cached[0] is not array:
            build = self._recording_gains if kind == "recording" else self._stimulation_gains
            cached = self._electrode_coupling[kind] = (array, build(array))
        return cached[1]

    def _recording_gain_matrix(self):
        """Trough amplitude (V) of each neuron on each recording channel, (n_neurons, n_recording)."""
        return self._coupling("recording")

    def _stimulation_csr(self):
        """(ptr, neuron, gain): the neurons each stimulating electrode reaches, CSR by electrode."""
        return self._coupling("stimulation")

    def _recording_gains(self, array):
        ex = self.extracellular
        # a current dipole: sink at the soma, return source straight above it
        recording = array.recording_electrodes
        source = self.positions + np.array([0.0, 0.0, ex.return_current_distance])
        r_sink = np.maximum(array.distances_to(self.positions, recording), ex.minimum_distance)
        r_source = np.maximum(array.distances_to(source, recording), ex.minimum_distance)
        return ex.spike_current / (4.0 * np.pi * ex.conductivity) * (1.0 / r_sink - 1.0 / r_source)

    def _stimulation_gains(self, array):
        ex = self.extracellular
        d = array.distances_to(self.positions, array.stimulating_electrodes).T
        electrode, neuron = np.nonzero(d < 5.0 * ex.stimulation_length)  # row-major: by electrode
        ptr = np.searchsorted(electrode, np.arange(d.shape[0] + 1)).astype(np.int64)
        # cathodic (negative) electrode current depolarises: membrane current = -gain * I
        gain = -ex.stimulation_efficiency * np.exp(-d[electrode, neuron] / ex.stimulation_length)
        return ptr, neuron.astype(np.int64), gain.astype(self._dtype)

    # ------------------------------------------------------------------ state
    def reset(self, seed=None) -> None:
        """Return to an initial state: fresh membrane potentials, rested synapses, t = 0.

        Parameters
        ----------
        seed : int, Generator, SeedSequence or None
            Draws the initial potentials, the background drive and the electrode noise.
            None reuses the network's own stream, so ``reset()`` always returns to the
            same state (the wiring never changes).
        """
        if seed is None:
            seed = np.random.SeedSequence(self._entropy, spawn_key=(1,))
        streams = child_generators(seed, ["initial_state", "background", "noise"])
        n = self.n_neurons
        low, high = self.initial_potential
        v = low + streams["initial_state"].random(n) * (high - low)
        # the arrays the step loop streams through start on cache lines (substrates._aligned)
        self._state = NetworkState(
            membrane_potential=aligned_copy(v, self._dtype),
            excitatory_synaptic=aligned_full(n, 0.0, self._dtype),
            inhibitory_synaptic=aligned_full(n, 0.0, self._dtype),
            adaptation=aligned_full(n, 0.0, self._dtype),
            last_spike_step=np.full(n, _NEVER, dtype=np.int32),
            depression_resource=np.ones(n),
            step=0,
        )
        self._stp_last = np.full(n, _NEVER, dtype=np.int64)
        self._weights = self._weights0.copy()
        nsyn = self._targets.size
        self._stdp_pre_trace = np.zeros(nsyn, self._dtype)
        self._stdp_pre_last = np.zeros(nsyn, dtype=np.int64)
        self._stdp_post_trace = np.zeros(n, self._dtype)
        self._stdp_post_last = np.zeros(n, dtype=np.int64)
        self._queue_group = np.zeros((self._n_slots, self._queue_capacity), dtype=np.int64)
        self._queue_scale = np.ones((self._n_slots, self._queue_capacity), self._dtype)
        self._queue_start = np.zeros(1, dtype=np.int64)  # one region: all sources
        self._queue_len = self._queue_lengths(1)
        self._background_key = np.uint64(streams["background"].integers(2**63))
        self._noise_rng = streams["noise"]

    def _queue_lengths(self, n_regions):
        """Zeroed queue lengths (n_regions, slots): each region's row on cache lines of
        its own (every block writes its own row every step)."""
        return aligned_rows(n_regions, self._n_slots, 0, np.int64)

    def _lay_out_queue(self, bounds):
        """Give the spike queue one region per block of ``bounds`` (the pending spikes
        kept, in their order) unless it has them already."""
        start = self._source_group_ptr[bounds[:-1]]
        if np.array_equal(start, self._queue_start):
            return
        length = self._queue_lengths(start.size)
        if self._queue_len.any():  # spikes in flight (a fresh network has none)
            self._queue_group, self._queue_scale, length[:] = K.regroup_queue(
                self._queue_group, self._queue_scale, self._queue_len, self._queue_start,
                start, self._group_delay)
        self._queue_len, self._queue_start = length, start

    @property
    def state(self) -> NetworkState:
        """The current dynamic state (copies)."""
        s = self._state
        copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in s]
        # the synaptic variables are kept divided by their decay since their epoch began
        # (see substrates.spiking._kernels.synaptic_scale); here they are the values
        phase = s.step % (self._syn_scale.shape[1] - 1)
        copies[1] *= self._syn_scale[0, phase]
        copies[2] *= self._syn_scale[1, phase]
        return NetworkState(*copies)

    def set_state(self, state: NetworkState) -> None:
        """Replace the dynamic state (arrays of shape (n_neurons,), checked).

        In float64 the network then continues bit for bit as it would have from that
        state; in float32 the synaptic variables are stored divided by their decay
        since their epoch began (``state`` multiplies them back), so one rounding
        there may differ.
        """
        n = self.n_neurons
        arrays = []
        for name, value in zip(NetworkState._fields[:-1], state[:-1]):
            a = np.asarray(value, dtype=np.int32 if name == "last_spike_step" else self._dtype)
            if a.shape != (n,) or not np.all(np.isfinite(a)):
                raise ValueError(f"state.{name} must be a finite array of shape ({n},), got shape {a.shape}")
            arrays.append(aligned_copy(a, a.dtype))
        step = int(state.step)
        phase = step % (self._syn_scale.shape[1] - 1)
        arrays[1] /= self._syn_scale[0, phase]
        arrays[2] /= self._syn_scale[1, phase]
        self._state = NetworkState(*arrays, step)

    @property
    def time(self) -> float:
        """Biological time simulated since the last reset (s)."""
        return self._state.step * self.dt

    @property
    def synapse_table(self) -> SynapseTable:
        """All synapses with their current weights (copies)."""
        return SynapseTable(self._syn_source.copy(), self._targets.astype(np.int64), self._weights.copy(),
                            self._delay_steps.copy(), self._plastic.copy())

    def program(self, weights, *, synapses=None, write_noise: float = 0.0, weight_limit=None,
                random_state=None) -> np.ndarray:
        """Write synaptic weights; returns the weights actually written.

        There is no such operation for real tissue: a culture's synapses change only
        through plasticity that a protocol induces (paired optogenetic or electrical
        stimulation, pharmacology), imprecisely and with bounded strength. This method is
        that write for the simulated culture: every target weight is multiplied by
        ``1 + write_noise * N(0, 1)`` (independent per synapse) and clipped to the allowed
        range, ``[0, weight_limit]`` for an excitatory source and ``[-weight_limit, 0]``
        for an inhibitory one (current synapses; ``[0, weight_limit]`` for both with
        conductance synapses). Dale's law holds: a synapse keeps its source's sign, and a
        target of the wrong sign is refused. The wiring (who connects to whom, delays) is
        fixed: only strengths change. The programme persists: :meth:`reset` restores the
        programmed weights (undoing what STDP changed since), not those the network was
        built with.

        Parameters
        ----------
        weights : array of shape (n_synapses,) or (len(synapses),), A or S
            Target weights in the order of :attr:`synapse_table`.
        synapses : array of int, optional
            Indices into :attr:`synapse_table` of the synapses to write; the others keep
            their weights. Default: every synapse.
        write_noise : float >= 0
            Relative standard deviation of a write.
        weight_limit : float > 0, A or S, optional
            Largest weight magnitude a synapse can hold; default ten times the larger of
            ``synapses.excitatory_weight`` and ``|synapses.inhibitory_weight|``.
        random_state : int, Generator, SeedSequence or None
            Draws the write noise.

        Returns
        -------
        array of shape like ``weights``, A or S: the weights written.

        Examples
        --------
        >>> import numpy as np
        >>> from substrates import SpikingNetwork
        >>> net = SpikingNetwork(50, random_state=0)
        >>> table = net.synapse_table
        >>> written = net.program(0.5 * table.weight)
        >>> bool(np.allclose(net.synapse_table.weight, 0.5 * table.weight))
        True
        """
        n_syn = self._targets.size
        if synapses is None:
            index = np.arange(n_syn)
        else:
            index = np.asarray(synapses)
            if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
                raise TypeError("synapses must be a 1-d array of integer synapse indices")
            if index.size and (index.min() < 0 or index.max() >= n_syn):
                raise ValueError(f"synapses must be indices in [0, {n_syn}), got "
                                 f"[{index.min()}, {index.max()}]")
            if np.unique(index).size != index.size:
                raise ValueError("synapses must not repeat an index")
        try:
            target = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("weights must be a real array of synaptic weights (A or S)") from None
        if target.shape != index.shape:
            raise ValueError(f"weights must have shape {index.shape} (one per synapse written), "
                             f"got {target.shape}")
        if not np.all(np.isfinite(target)):
            raise ValueError("weights must be finite (no NaN or inf)")
        if not (math.isfinite(write_noise) and write_noise >= 0):
            raise ValueError(f"write_noise must be a relative sd >= 0, got {write_noise!r}")
        if weight_limit is None:
            weight_limit = 10.0 * max(self.synapses.excitatory_weight,
                                      abs(self.synapses.inhibitory_weight))
        if not (isinstance(weight_limit, (int, float)) and math.isfinite(weight_limit)
                and weight_limit > 0):
            raise ValueError(f"weight_limit must be a weight > 0 (A or S), got {weight_limit!r}")
        excitatory = self._syn_source[index] < self.n_excitatory
        negative = (~excitatory) & (self._synapse_model == K.CURRENT)
        wrong = np.where(negative, target > 0, target < 0)
        if np.any(wrong):
            first = int(np.flatnonzero(wrong)[0])
            allowed = "<= 0 (an inhibitory source)" if negative[first] else ">= 0"
            raise ValueError(
                f"weights must keep the source's sign (Dale's law): synapse {int(index[first])} "
                f"must be {allowed}, got {target[first]:g}"
            )
        written = target.copy()
        if write_noise > 0:
            written *= 1.0 + write_noise * check_random_state(random_state).standard_normal(index.size)
        written = np.where(negative, np.clip(written, -weight_limit, 0.0),
                           np.clip(written, 0.0, weight_limit))
        self._weights0[index] = written
        self._weights[index] = written
        # the kernel's one-weight-per-delay-group shortcut (as in _set_synapses)
        starts = self._group_start[:-1]
        first = self._weights0[starts] if starts.size else np.zeros(0, self._dtype)
        same = np.all(self._weights0 == np.repeat(first, np.diff(self._group_start)))
        self._group_weight = first.astype(self._dtype)
        self._group_weight_uniform = bool(same and not self.stdp.enabled)
        return self._weights0[index].astype(np.float64)

    @property
    def stimulation_coupling(self) -> np.ndarray:
        """Membrane current per unit electrode current, (n_neurons, n_stimulating), A/A.

        Negative: a cathodic (negative) electrode current depolarises nearby neurons.
        """
        ptr, neuron, gain = self._stimulation_csr()
        out = np.zeros((self.n_neurons, self.electrodes.n_stimulating))
        for e in range(out.shape[1]):
            sl = slice(ptr[e], ptr[e + 1])
            out[neuron[sl], e] = gain[sl]
        return out

    @property
    def recording_gain(self) -> np.ndarray:
        """Extracellular spike trough amplitude of each neuron on each channel (V).

        Shape (n_neurons, n_recording); a current dipole,
        I / (4 pi sigma) (1/r_sink - 1/r_source) (see ExtracellularParameters).
        """
        return self._recording_gain_matrix().copy()

    @property
    def n_synapses(self) -> int:
        return int(self._targets.size)

    @property
    def is_excitatory(self) -> np.ndarray:
        """bool (n_neurons,)."""
        return np.arange(self.n_neurons) < self.n_excitatory

    @property
    def neuron_table(self) -> dict:
        """Per-neuron parameters actually used, SI units: name -> array (n_neurons,)."""
        p = self._prm
        return {
            "resting_potential": p[K.ROW_REST].copy(),
            "threshold": p[K.ROW_THRESHOLD].copy(),
            "reset": p[K.ROW_RESET].copy(),
            "membrane_capacitance": p[K.ROW_CAPACITANCE].copy(),
            "membrane_resistance": p[K.ROW_RESISTANCE].copy(),
            "refractory_steps": np.full(self.n_neurons, self._refractory_steps),
        }

    @property
    def encoding(self) -> dict:
        """How task inputs reach the network: :meth:`Stimulus.encode` keywords plus ``hold``.

        Rate coding with charge-balanced biphasic current pulses: up to 200 pulses/s of
        20 uA (200 us phases) per input, each input step held 20 ms (a few membrane time
        constants, so the network's fading memory spans a few steps).
        """
        return {"hold": 20e-3, "mode": "rate", "amplitude": 20e-6, "max_rate": 200.0,
                "pulse_width": 200e-6, "unit": "A"}

    # ------------------------------------------------------------------ run
    def _steps(self, duration):
        """Whole time steps in ``duration`` (s); at least one, else a named error."""
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
            raise ValueError(f"duration must be a finite time > 0 s, got {duration!r}")
        n_steps = int(round(duration / self.dt))
        if n_steps < 1:
            raise ValueError(f"duration must be at least one time step ({self.dt} s), got {duration}")
        return n_steps

    def _stimulus_current(self, stimulus, n_steps):
        """Electrode currents (n_steps, n_stimulating) in A on the network's dt."""
        if stimulus is None:
            return np.zeros((n_steps, 0), self._dtype)  # no electrode carries current
        unit, data = stimulus_on_grid(stimulus, self.electrodes, self.dt, n_steps)
        if unit == "V":
            data = data / self.extracellular.electrode_impedance
        return data.astype(self._dtype, copy=False)

    def run(
        self,
        stimulus: Stimulus | None = None,
        duration: float | None = None,
        *,
        record_hidden: bool = False,
        hidden_sampling_rate: float = 1000.0,
        progress: bool = False,
        detection_noise_levels=None,
    ) -> Recording:
        """Stimulate and record, continuing from the current state.

        Parameters
        ----------
        stimulus : Stimulus of shape (n_samples, electrodes.n_stimulating), unit A or V
            Resampled onto ``dt``; None stimulates nothing.
        duration : float, s
            Defaults to the stimulus duration; a longer run pads the stimulus with zeros,
            a shorter one uses only its beginning.
        record_hidden : bool
            Also return the ground truth: every neuron's spikes and its membrane
            potential sampled at ``hidden_sampling_rate`` (Hz, a divisor of 1/dt).
        progress : bool
            Show a progress bar (tqdm).
        detection_noise_levels : array of shape (electrodes.n_recording,), V, optional
            Noise standard deviation per recording channel for spike detection (the
            threshold is ``extracellular.detection_threshold`` times it). None estimates
            it from this recording (median absolute deviation), so detected spikes then
            depend on how a long recording is cut into runs; a rig sets its thresholds
            once, from a baseline, and keeps them: pass the
            ``metadata["detection_noise_levels"]`` of an earlier recording to do the same.

        Returns
        -------
        Recording of shape (round(duration * sampling_rate), electrodes.n_recording), in V;
        ``metadata["detection_noise_levels"]`` holds the levels used (V, one per channel).
        """
        duration = run_duration(stimulus, duration)
        n_steps = self._steps(duration)
        stim = self._stimulus_current(stimulus, n_steps)
        levels = self._detection_levels(detection_noise_levels)
        stride = 0
        if record_hidden:
            stride = steps_per_sample(hidden_sampling_rate, 1.0 / self.dt, "hidden_sampling_rate")
        spike_steps, spike_neurons, v_rows, threads = self._simulate(stim, n_steps, stride,
                                                                      progress)
        first_step = self._state.step - n_steps
        return self._record(spike_steps - first_step, spike_neurons, n_steps, v_rows,
                            hidden_sampling_rate if record_hidden else None, levels, threads)

    def _detection_levels(self, levels):
        """Checked per-channel detection noise levels (V), or None."""
        if levels is None:
            return None
        n = self.electrodes.n_recording
        try:
            out = np.asarray(levels, dtype=np.float64)
        except (TypeError, ValueError):
            out = np.full(0, np.nan)
        if out.shape != (n,) or not np.all(np.isfinite(out)) or np.any(out < 0):
            raise ValueError(f"detection_noise_levels must be {n} finite values >= 0 V (one per "
                             f"recording channel), got {np.shape(levels)}")
        return out

    def _n_blocks(self):
        """How many blocks of neurons the kernel walks at once (see ``threads``)."""
        n = self.n_neurons
        if self.threads is not None:
            wanted = self.threads
        else:
            wanted = min(_numba_threads(), n // _NEURONS_PER_THREAD)
        return max(1, min(wanted, -(-n // _BLOCK_ALIGN)))

    def _blocks(self):
        """(bounds, per-block parameter tables, per-block synapse ranges), cached.

        ``bounds`` (n_blocks + 1,) cuts the neurons into blocks aligned to 64 neurons (so
        no two threads write one cache line); ``prm_blocks`` (n_blocks, N_ROWS,
        largest block) holds each block's parameter columns; ``group_ranges`` (n_groups,
        n_blocks + 1) gives the synapses of each delay group onto each block, which are
        contiguous because a group's targets ascend.
        """
        n_blocks = self._n_blocks()
        if self._block_layout is not None and self._block_layout[0] == n_blocks:
            return self._block_layout[1]
        n = self.n_neurons
        cuts = np.arange(n_blocks + 1, dtype=np.int64) * n // n_blocks
        bounds = np.minimum(-(-cuts // _BLOCK_ALIGN) * _BLOCK_ALIGN, n)
        group_start = self._group_start
        # every block's parameter rows start on a cache line (rows of whole lines)
        sizes = np.diff(bounds)
        prm_blocks = aligned_rows(n_blocks * K.N_ROWS, int(sizes.max()), 0.0,
                                  self._dtype).reshape(n_blocks, K.N_ROWS, -1)
        for b in range(n_blocks):
            prm_blocks[b, :, :sizes[b]] = self._prm[:, bounds[b]:bounds[b + 1]]
        if n_blocks == 1:
            group_ranges = np.stack([group_start[:-1], group_start[1:]], axis=1)
        else:
            n_groups = group_start.size - 1
            group_ranges = np.empty((n_groups, n_blocks + 1), dtype=np.int64)
            group_ranges[:, 0] = group_start[:-1]
            group_ranges[:, -1] = group_start[1:]
            if n_groups:
                targets = self._targets  # ascending within a group (see _build_synapses)
                for j in range(1, n_blocks):
                    below = np.add.reduceat((targets < bounds[j]).astype(np.int64),
                                            group_start[:-1])
                    group_ranges[:, j] = group_start[:-1] + below
        layout = (bounds, prm_blocks, group_ranges)
        self._block_layout = (n_blocks, layout)
        return layout

    def _simulate(self, stim, n_steps, stride, progress):
        st = self._state
        n = self.n_neurons
        if stim.shape[1]:
            stim_ptr, stim_neuron, stim_gain = self._stimulation_csr()
        else:  # no stimulus: no coupling to work out (~0.05 s at 32,000 neurons)
            stim_ptr = np.zeros(1, dtype=np.int64)
            stim_neuron = np.zeros(0, dtype=np.int64)
            stim_gain = np.zeros(0, self._dtype)
        if st.step + n_steps >= _MAX_STEPS:
            raise ValueError(
                f"a network runs at most {_MAX_STEPS} steps ({_MAX_STEPS * self.dt:.0f} s at "
                f"dt = {self.dt} s) between resets; call reset() or run shorter"
            )
        # steps per kernel call: a neuron spikes at most once per refractory period, so
        # n * ceil(chunk / refractory_steps) spike slots always suffice
        chunk = max(1, min(n_steps, (_SPIKE_BUFFER // n) * max(1, self._refractory_steps)))
        capacity = n * -(-chunk // max(1, self._refractory_steps))
        spike_step = np.empty(capacity, dtype=np.int64)
        spike_neuron = np.empty(capacity, dtype=np.int64)
        steps_out, neurons_out, v_out = [], [], []
        bg = self.background
        p = bg.rate * self.dt
        if bg.n_inputs > 0 and p >= 1.0:
            raise ValueError(f"background.rate * dt must be < 1, got {p}")
        bg_p0 = (1.0 - p) ** bg.n_inputs
        bg_ratio = p / (1.0 - p)
        bg_n = bg.n_inputs if (p > 0 and bg.weight > 0) else 0
        stdp = self.stdp
        step_potentiation = stdp.learning_rate * stdp.weight_max
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(round(n_steps * self.dt * 1e3)), unit="ms",
                       desc="simulating (biological time)", leave=False)
        done = 0
        step = st.step
        bounds, prm_blocks, group_ranges = self._blocks()
        n_blocks = bounds.size - 1
        largest = int(np.diff(bounds).max())
        self._lay_out_queue(bounds)
        rings = np.zeros((n_blocks, largest + 2), dtype=np.int64)
        ring_vs = np.zeros((n_blocks, largest), self._dtype)
        for b in range(n_blocks):
            lo, hi = bounds[b], bounds[b + 1]
            K.fill_refractory_ring(st.last_spike_step[lo:hi], st.membrane_potential[lo:hi],
                                   step, self._refractory_steps, rings[b, :hi - lo + 2],
                                   ring_vs[b, :hi - lo])
        threaded = n_blocks > 1 and n_blocks <= _numba_threads() and not self._threads_refused
        while done < n_steps:
            m = min(chunk, n_steps - done)
            if stride:
                first_rec = (-step) % stride
                n_rec = 0 if first_rec >= m else (m - 1 - first_rec) // stride + 1
            else:
                n_rec = 0
            v_record = np.empty((n_rec, n), self._dtype)
            arguments = (
                m, step, self.dt, self._model, self._synapse_model,
                st.membrane_potential, st.excitatory_synaptic, st.inhibitory_synaptic,
                st.adaptation, st.last_spike_step, st.depression_resource, self._stp_last,
                self._weights, self._stdp_pre_trace, self._stdp_pre_last,
                self._stdp_post_trace, self._stdp_post_last,
                self._queue_group, self._queue_scale, self._queue_len, self._queue_start,
                bounds, prm_blocks, self._uniform, self._refractory_steps, rings, ring_vs,
                self._group_excitatory,
                self._syn_scale,
                self._dtype.type(self.synapses.excitatory_reversal),
                self._dtype.type(self.synapses.inhibitory_reversal),
                self._source_group_ptr, group_ranges, self._group_delay,
                self._group_weight, self._group_weight_uniform, self._targets,
                self._plastic, self._post_ptr, self._post_synapse,
                bool(self.depression.enabled), self.depression.use,
                self.depression.recovery_time_constant,
                bool(stdp.enabled), stdp.pre_time_constant, stdp.post_time_constant,
                step_potentiation, -stdp.depression_ratio * step_potentiation, stdp.weight_max,
                bg_n, bg_p0, bg_ratio, self._dtype.type(bg.weight), self._background_key,
                np.ascontiguousarray(stim[done:done + m]), stim_ptr, stim_neuron,
                stim_gain, spike_step, spike_neuron, v_record, stride,
            )
            scratch = K.workspace(st.membrane_potential, n_blocks, largest)
            if threaded:
                sync = K.new_sync()
                K.run_chunk_threads(sync, *scratch, *arguments)
                threaded = sync[THREADS_STATE] == 1
                count = int(sync[K.SYNC_SPIKES])
                if not threaded:
                    # the threading layer ran the blocks one after another and nothing
                    # was changed (each wait for a partner costs up to a second): this
                    # run and later ones on one thread
                    self._threads_refused = True
            if not threaded:
                count = K.run_chunk(*scratch, *arguments)
            steps_out.append(spike_step[:count].copy())
            neurons_out.append(spike_neuron[:count].copy())
            if n_rec:
                v_out.append(v_record)
            step += m
            done += m
            st = st._replace(step=step)
            if bar is not None:
                bar.n = int(round(done * self.dt * 1e3))
                bar.refresh()
        if bar is not None:
            bar.close()
        self._state = st
        v_rows = np.concatenate(v_out) if v_out else np.zeros((0, n))
        threads = n_blocks if threaded else 1
        return np.concatenate(steps_out), np.concatenate(neurons_out), v_rows, threads

    def _record(self, spike_steps, spike_neurons, n_steps, v_rows, hidden_rate, levels=None,
                threads=1):
        array = self.electrodes
        fs = array.sampling_rate
        n_samples = int(round(n_steps * self.dt * fs))
        waveform, trough = _spike_waveform(fs)
        sample = _step_to_sample(spike_steps, self.dt * fs)
        impulses = K.extracellular_impulses(sample, spike_neurons, self._recording_gain_matrix(),
                                            n_samples + waveform.size)
        from scipy.signal import oaconvolve  # imported here: scipy.signal costs ~1 s

        clean = oaconvolve(impulses, waveform[:, None], axes=0)
        clean = clean[trough:trough + n_samples] if clean.shape[0] else clean
        clean = np.ascontiguousarray(clean[:n_samples])
        data = array.acquire(clean, self._noise_rng)
        if levels is None:
            levels = estimate_noise_levels(data)
        times, channels = detect_spikes(data, fs, threshold=self.extracellular.detection_threshold,
                                        noise_levels=levels)
        hidden = None
        if hidden_rate is not None:
            hidden = {
                "membrane_potential": v_rows,
                "spike_times": spike_steps * self.dt,
                "spike_neurons": spike_neurons.astype(np.int64),
                "neuron_positions": self.positions.copy(),
            }
        return Recording(
            data, fs, "V",
            electrode_positions=array.positions[array.recording_electrodes],
            channel_electrodes=array.recording_electrodes,
            spike_times=times, spike_channels=channels,
            hidden_state=hidden, hidden_sampling_rate=hidden_rate,
            metadata={"substrate": "SpikingNetwork", "n_neurons": self.n_neurons, "dt": self.dt,
                      "start_time": (self._state.step - n_steps) * self.dt,
                      "detection_noise_levels": levels.tolist(),
                      "threads": threads},
        )

    def spikes(self, duration: float, stimulus: Stimulus | None = None):
        """Run without electrodes' post-processing; ground-truth spikes only.

        Returns (spike_times (n,) s from the start of this run, spike_neurons (n,) int).
        Cheaper than :meth:`run` for reference comparisons and benchmarks.
        """
        n_steps = self._steps(duration)
        stim = self._stimulus_current(stimulus, n_steps)
        first = self._state.step
        steps, neurons, _, _ = self._simulate(stim, n_steps, 0, False)
        return (steps - first) * self.dt, neurons
