"""Compile a rate network into a spiking culture through the neurons' transfer curve.

The digital model is a rate network of ``n`` units linearised around its operating point
``r*`` (Hz), in the ``y = x @ weights`` convention of :func:`distill.compile`
(``weights[i, j]`` is from unit ``i`` to unit ``j``)::

    tau dr/dt = -(r - r*) + (r - r*) @ W + s * dI_ext,

so that in steady state a rate change ``dr_ext`` imposed from outside becomes
``dr = dr_ext + dr @ W``: ``W[i, j]`` is dimensionless (Hz of unit ``j`` per Hz of unit
``i``), and the network is stable for spectral radius below 1.

Each unit becomes a *population*: the ``population_size`` neurons nearest one stimulating
electrode (nearer to it than to any other chosen electrode, and all inside its
stimulation field), so a task drives the unit through that electrode and the electrode
records it. A population's rate is the mean rate of its neurons.

The mapping is the linear-response (mean-field) one of Brunel (2000, J Comput Neurosci
8:183) and Ostojic & Brunel (2011, PLoS Comput Biol 7:e1001056), as used to convert rate
networks into spiking ones (Rueckauer et al. 2017, Front Neurosci 11:682, do the same
through a measured transfer curve):

1. *Transfer curve.* The population f-I curve ``phi(I)`` of the network's own neurons
   under its own background drive is simulated, not assumed: a probe of unconnected copies
   of the neurons (same parameters, heterogeneity, background) sits on one electrode and
   receives a staircase of extra mean currents ``I``.
2. *Operating point.* A presynaptic rate ``r_i`` through synapses of weight ``w`` and time
   constant ``tau_syn`` gives a mean current ``w tau_syn r_i``, so with the coupling
   ``J[i, j] = W[i, j] / phi'(I_j)`` (A per Hz) the populations settle where
   ``I* = phi(I*) @ J`` (solved by damped iteration on the measured curve, with the slope
   ``phi'`` re-read at each step).
3. *Synapses (Dale's law).* A positive ``W[i, j]`` is written on the excitatory synapses
   from population ``i`` onto population ``j``, a negative one on its inhibitory
   synapses (the two halves of a differential pair): every such synapse gets the same
   weight ``J[i, j] N_j / (tau_syn M_ij)``, with ``M_ij`` the synapses of that sign from
   ``i`` to ``j`` and ``N_j`` the size of ``j``, so a neuron of ``j`` receives on average
   ``J[i, j]`` per Hz of ``i``. The wiring is the culture's own: a connection without any
   synapse cannot be written (listed in ``details["unreachable_connections"]``). With
   ``silence_rest`` (default) every other synapse is written to 0, which isolates the
   circuit from the rest of the culture. :meth:`SpikingNetwork.program` applies the
   write noise and the weight limit.
4. *Read-back.* The effective weights are measured from the programmed network by linear
   response: each population's electrode injects a small DC current, ``+dI`` then ``-dI``
   (the same background noise both times: common random numbers), and the population rate
   changes ``R[k, :]`` (Hz, from the ground-truth spikes) obey
   ``R = D S + R W_eff``, where ``D[k, j]`` is the direct mean current experiment ``k``
   puts into population ``j`` (from the stimulation coupling, cross-talk included) and
   ``S`` the slopes at the measured operating rates. Hence ``W_eff = R^-1 (R - D S)``.
   This is what ``report.written`` holds, not the synaptic weights set.

Known sources of error: finite populations and measurement time (``details
["measurement_sd"]``, from the spread over sub-windows and of the fitted slope), write
noise and clipping, the second-order change of input noise that programmed synapses add
(which changes the slope a little), and the synaptic-count granularity of sparse wiring.
Inputs (a rate network's input weights) are not synapses here: a task reaches the
populations through their electrodes (``network.encoding``).
"""

from __future__ import annotations

import math

import numpy as np

from distill._compile import CompileReport, CompileResult
from substrates._electrodes import ElectrodeArray
from substrates._random import child_generators
from substrates._stimulus import Stimulus

__all__ = ["compile_spiking", "transfer_curve"]

_CURVE_LEVELS = np.linspace(-0.5, 0.5, 11)  # probe currents, in units of the rheobase scale
_N_BLOCKS = 4  # sub-windows of each read-back run, for the noise estimate
_PROBE_NEURONS = 200  # probe population: rate SEM ~ sqrt(r / (200 T)), ~2 % at 6 Hz, 1 s
_OUTER_ITERATIONS = 3  # operating point <-> input-noise rounds (converges in 2-3)


def _rheobase_scale(network):
    """A current scale (A): the current that moves the membrane from rest to threshold."""
    neuron = network.neuron
    tau = neuron.time_constants()["membrane_time_constant"]
    gap = abs(network._threshold_potential() - neuron.resting_potential)
    return neuron.membrane_capacitance * gap / tau


def _probe(network, n_neurons, random_state, background):
    """Unconnected copies of the network's neurons, all at one height above one electrode."""
    from substrates.spiking import ConnectivityParameters, SpikingNetwork, TissueParameters

    height = 10e-6
    return SpikingNetwork(
        n_neurons,
        electrodes=ElectrodeArray.from_positions([[0.0, 0.0]], noise_rms=0.0),
        dt=network.dt,
        excitatory_fraction=1.0,
        neuron=network.neuron,
        synapses=network.synapses,
        connectivity=ConnectivityParameters(connection_probability=0.0),
        background=background,
        tissue=TissueParameters(size=1e-9, soma_height_min=height, soma_height_max=height),
        extracellular=network.extracellular,
        threshold_sd=network.threshold_sd,
        capacitance_cv=network.capacitance_cv,
        initial_potential=network.initial_potential,
        precision=network.precision,
        random_state=random_state,
    )


def _staircase(probe, currents, duration, warmup):
    """Per-neuron rates (n_levels, n_neurons), Hz, of ``probe`` held at each current in turn."""
    coupling = probe.stimulation_coupling[:, 0]  # membrane A per electrode A (all equal)
    hold = int(round((warmup + duration) / probe.dt))
    skip = int(round(warmup / probe.dt))
    electrode = np.repeat(currents / coupling.mean(), hold)[:, None]
    times, neurons = probe.spikes(currents.size * hold * probe.dt, Stimulus(electrode, probe.dt, "A"))
    level, within = np.divmod(np.rint(times / probe.dt).astype(np.int64), hold)
    keep = within >= skip
    counts = np.zeros((currents.size, probe.n_neurons))
    np.add.at(counts, (level[keep], neurons[keep]), 1.0)
    return counts / ((hold - skip) * probe.dt)


def transfer_curve(network, currents, *, duration: float = 1.0, warmup: float = 0.2,
                   n_neurons: int = _PROBE_NEURONS, background=None, random_state=None):
    """The population f-I curve of ``network``'s neurons under a background drive.

    ``n_neurons`` unconnected copies of the network's neurons (same neuron, synapse and
    heterogeneity parameters) sit at one height above one electrode, so each receives the
    same membrane current; the electrode holds each extra mean current of ``currents``
    for ``warmup + duration`` in turn (one staircase run), and the spikes in the last
    ``duration`` of each step give the rate.

    Parameters
    ----------
    network : SpikingNetwork
    currents : array of shape (n_levels,), A
        Extra membrane currents (positive depolarises), on top of the background drive.
    duration, warmup : float, s
        Counting window (> 0) and settling time (>= 0) at each level.
    n_neurons : int >= 2
        Size of the probe population.
    background : BackgroundParameters, False or None
        The drive of the probe: None, the network's own; False, none (isolated,
        deterministic neurons).
    random_state : int, Generator, SeedSequence or None

    Returns
    -------
    rates : array of shape (n_levels,), Hz
        Mean rate over the probe neurons at each current.
    sem : array of shape (n_levels,), Hz
        Standard error of that mean (the probe neurons are independent).

    Examples
    --------
    >>> from substrates.spiking import SpikingNetwork
    >>> net = SpikingNetwork(10, random_state=0)
    >>> rates, sem = transfer_curve(net, [0.0, 400e-12], duration=0.2, n_neurons=5,
    ...                             random_state=0)
    >>> float(rates[0]), bool(rates[1] > 40)  # silent at rest, firing at twice rheobase
    (0.0, True)
    """
    from substrates.spiking import BackgroundParameters

    i = np.asarray(currents, dtype=np.float64)
    if i.ndim != 1 or i.size == 0 or not np.all(np.isfinite(i)):
        raise ValueError("currents must be a non-empty 1-d array of finite currents (A)")
    _check_time("duration", duration, positive=True)
    _check_time("warmup", warmup, positive=False)
    if not isinstance(n_neurons, (int, np.integer)) or isinstance(n_neurons, bool) or n_neurons < 2:
        raise ValueError(f"n_neurons must be an integer >= 2, got {n_neurons!r}")
    if network.extracellular.stimulation_efficiency <= 0:
        raise ValueError("extracellular.stimulation_efficiency must be > 0 to inject current")
    if background is None:
        background = network.background
    elif background is False:
        background = BackgroundParameters()
    elif not isinstance(background, BackgroundParameters):
        raise TypeError("background must be None, False or a BackgroundParameters")
    probe = _probe(network, int(n_neurons), random_state, background)
    per_neuron = _staircase(probe, i, duration, warmup)
    return per_neuron.mean(axis=1), per_neuron.std(axis=1, ddof=1) / math.sqrt(probe.n_neurons)


def _check_time(name, value, *, positive):
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name} must be a finite time {'> 0' if positive else '>= 0'} s, "
                         f"got {value!r}")


def _local_fit(currents, rates, at, width=2):
    """Rate and slope of a measured curve at ``at`` (A): a quadratic through the
    ``2 width + 1`` nearest levels (a local polynomial smoother)."""
    at = np.atleast_1d(at)
    rate, slope = np.empty(at.size), np.empty(at.size)
    scale = float(np.ptp(currents)) or 1.0
    for k, x in enumerate(at):
        near = np.argsort(np.abs(currents - x), kind="stable")[: 2 * width + 1]
        coef = np.polyfit((currents[near] - x) / scale, rates[near], 2)
        rate[k], slope[k] = coef[2], coef[1] / scale
    return rate, slope


def _inverse(currents, rates, target):
    """Current (A) at which a measured curve reaches ``target`` (Hz)."""
    monotone = np.maximum.accumulate(rates) + 1e-9 * np.arange(rates.size)
    return np.interp(target, monotone, currents)


# ---------------------------------------------------------------- input statistics
def _noise_weight(network, tau_syn):
    """tau_s / sqrt(tau_m + tau_s): a shot-noise input of weight w and rate nu gives the
    membrane a variance R^2 nu (w tau_s)^2 / (2 (tau_m + tau_s)) (Campbell's theorem)."""
    tau_m = network.neuron.time_constants()["membrane_time_constant"]
    return tau_syn / math.sqrt(tau_m + tau_syn)


def _matched_background(network, extra_variance):
    """Background drives that add ``extra_variance`` (n_units,) to the network's own.

    Diffusion approximation (Brunel 2000): a neuron's rate depends on the mean and the
    variance of its input, not on which synapses carry it. The probe keeps the network's
    background (same sources and rate) with a larger weight, so its membrane variance
    equals background plus programmed synapses; the extra mean this brings is returned
    (A, (n_units,)) and subtracted from the probe's current axis.
    """
    from substrates.spiking import BackgroundParameters

    bg = network.background
    tau_e = network.synapses.excitatory_time_constant
    base = bg.n_inputs * bg.rate * (bg.weight * _noise_weight(network, tau_e)) ** 2
    out, shift = [], []
    for extra in np.atleast_1d(extra_variance):
        weight = bg.weight * math.sqrt((base + extra) / base)
        out.append(BackgroundParameters(bg.n_inputs, bg.rate, weight))
        shift.append(bg.n_inputs * bg.rate * (weight - bg.weight) * tau_e)
    return out, np.asarray(shift)


def _synaptic_input(network, synaptic_weight, counts, sizes, rates, write_noise):
    """Extra shot-noise variance (A^2 s, in units of _noise_weight) that the programmed
    synapses bring to each population at presynaptic ``rates`` (Hz)."""
    syn = network.synapses
    tau = np.where(synaptic_weight >= 0, syn.excitatory_time_constant,
                   syn.inhibitory_time_constant)
    factor = np.vectorize(lambda t: _noise_weight(network, t))(tau)
    per_neuron = counts / sizes[None, :]
    return np.sum(per_neuron * rates[:, None] * (synaptic_weight * factor) ** 2
                  * (1.0 + write_noise**2), axis=0)


# ---------------------------------------------------------------- layout
def _choose_electrodes(network, n, electrodes):
    array = network.electrodes
    stimulating = array.stimulating_electrodes
    if electrodes is None:
        if stimulating.size < n:
            raise ValueError(
                f"weights ask for {n} populations but the array has only {stimulating.size} "
                "stimulating electrodes: each population needs its own electrode "
                f"(n_units must be <= {stimulating.size})"
            )
        xy = array.positions[stimulating, :2]
        centre = network.positions[:, :2].mean(axis=0)
        order = np.lexsort((stimulating, np.linalg.norm(xy - centre, axis=1)))
        return stimulating[order[:n]]
    chosen = np.asarray(electrodes)
    if chosen.shape != (n,) or not np.issubdtype(chosen.dtype, np.integer):
        raise ValueError(f"electrodes must be {n} integer electrode indices, got {electrodes!r}")
    if np.unique(chosen).size != n or not np.all(np.isin(chosen, stimulating)):
        raise ValueError(f"electrodes must be {n} distinct stimulating electrodes "
                         f"(from {stimulating.tolist()}), got {chosen.tolist()}")
    return chosen


def _populations(network, chosen, population_size):
    """The ``population_size`` neurons nearest each chosen electrode (Voronoi cells)."""
    array = network.electrodes
    d = np.linalg.norm(network.positions[:, None, :] - array.positions[chosen][None, :, :], axis=2)
    owner = np.argmin(d, axis=1)
    coupling = network.stimulation_coupling
    column = {int(e): k for k, e in enumerate(array.stimulating_electrodes)}
    populations = []
    for k, e in enumerate(chosen):
        mine = np.flatnonzero(owner == k)
        if mine.size < population_size:
            raise ValueError(
                f"population_size = {population_size} but only {mine.size} neurons lie nearest "
                f"electrode {int(e)}: population_size must be <= {mine.size} here (fewer units, "
                "a denser culture or a smaller population)"
            )
        pop = np.sort(mine[np.argsort(d[mine, k], kind="stable")[:population_size]])
        if np.any(coupling[pop, column[int(e)]] == 0):
            raise ValueError(
                f"population_size = {population_size} reaches neurons outside the stimulation "
                f"field of electrode {int(e)} (5 stimulation lengths): choose a smaller "
                "population_size"
            )
        populations.append(pop)
    return populations


def _check_options(population_size, duration, warmup, write_noise, perturbation,
                   verify_iterations, transfer_duration):
    if not isinstance(population_size, (int, np.integer)) or isinstance(population_size, bool) \
            or population_size < 2:
        raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
    if not isinstance(verify_iterations, (int, np.integer)) or isinstance(verify_iterations, bool) \
            or verify_iterations < 0:
        raise ValueError(f"verify_iterations must be an integer >= 0, got {verify_iterations!r}")
    _check_time("duration", duration, positive=True)
    _check_time("transfer_duration", transfer_duration, positive=True)
    _check_time("warmup", warmup, positive=False)
    for name, value, positive in (("write_noise", write_noise, False),
                                  ("perturbation", perturbation, True)):
        if not (isinstance(value, (int, float)) and math.isfinite(value)
                and (value > 0 if positive else value >= 0)):
            raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, "
                             f"got {value!r}")


def _slope(network, background, current, delta, duration, warmup, seed):
    """Slope (Hz/A) of the probe's curve at ``current`` by a central difference of
    +-``delta`` with common random numbers (the same background spikes both times), the
    estimator the read-back uses, so the two share their curvature bias. Returns
    (slope, standard error)."""
    probe = _probe(network, _PROBE_NEURONS, seed, background)
    up = _staircase(probe, np.array([current + delta]), duration, warmup)[0]
    probe.reset()
    down = _staircase(probe, np.array([current - delta]), duration, warmup)[0]
    diff = (up - down) / (2.0 * delta)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


def _read_back(network, w, populations, pop_of, chosen, delta, duration, warmup, seed):
    """Rate responses to +-``delta`` on each population's electrode (common random numbers).

    Returns (response R (n, n) Hz, direct D (n, n) A, block responses (n, blocks, n),
    mean rates (n,) Hz)."""
    n = len(populations)
    array = network.electrodes
    column = {int(e): c for c, e in enumerate(array.stimulating_electrodes)}
    coupling = network.stimulation_coupling  # (n_neurons, n_stimulating)
    cross = np.array([[coupling[populations[j], column[int(chosen[k])]].mean() for j in range(n)]
                      for k in range(n)])  # mean membrane A in population j per A at electrode k
    own = np.diag(cross).copy()
    hold = int(round((warmup + duration) / network.dt))
    skip = int(round(warmup / network.dt))
    block = (hold - skip) // _N_BLOCKS
    counts = np.zeros((n, 2, _N_BLOCKS, n))  # experiment, sign, block, population
    sizes = np.array([p.size for p in populations], dtype=float)
    for k in range(n):
        for s, sign in enumerate((1.0, -1.0)):
            data = np.zeros((hold, array.n_stimulating))
            data[:, column[int(chosen[k])]] = sign * delta[k] / own[k]
            network.reset(seed)
            times, neurons = network.spikes(hold * network.dt, Stimulus(data, network.dt, "A"))
            steps = np.rint(times / network.dt).astype(np.int64) - skip
            p = pop_of[neurons]
            keep = (steps >= 0) & (steps < block * _N_BLOCKS) & (p >= 0)
            np.add.at(counts[k, s], (steps[keep] // block, p[keep]), 1.0)
    network.reset()
    rates = counts / (sizes * block * network.dt)  # Hz
    blocks = 0.5 * (rates[:, 0] - rates[:, 1])
    direct = delta[:, None] * cross / own[:, None]
    return blocks.mean(axis=1), direct, blocks, rates.mean(axis=(0, 1, 2))


def _effective(response, direct, slopes):
    """W_eff from R = D S + R W_eff (least squares)."""
    return np.linalg.lstsq(response, response - direct * slopes[None, :], rcond=None)[0]


def compile_spiking(weights, network, *, population_size: int = 40, electrodes=None,
                    duration: float = 2.0, warmup: float = 0.2, write_noise: float = 0.1,
                    weight_limit: float | None = None, silence_rest: bool = True,
                    perturbation: float = 0.3, verify_iterations: int = 1,
                    transfer_duration: float = 1.0, random_state=None) -> CompileResult:
    """Write a rate network's recurrent weights into a :class:`SpikingNetwork`.

    See the module docstring for the rate model, the mapping and the read-back.

    Parameters
    ----------
    weights : array of shape (n_units, n_units)
        Dimensionless recurrent weights, ``weights[i, j]`` from unit ``i`` to unit ``j``
        (Hz of ``j`` per Hz of ``i`` in the linearised rate network).
    network : SpikingNetwork
        Current-based synapses and a background drive; programmed in place (the
        programme survives ``reset()``) and left reset.
    population_size : int >= 2
        Neurons per unit (the nearest to its electrode).
    electrodes : array of n_units int, optional
        Stimulating electrodes of the units (array indices); default the ``n_units``
        stimulating electrodes nearest the culture's centre (neighbours, so the
        distance-dependent wiring connects their populations).
    duration, warmup : float, s
        Counting window and settling time of each read-back run (2 n_units runs per
        read-back).
    write_noise : float >= 0
        Relative sd of each synaptic write (plasticity-induced writes are imprecise).
    weight_limit : float, A, optional
        Largest synaptic weight magnitude (see :meth:`SpikingNetwork.program`).
    silence_rest : bool
        Write every synapse outside the compiled circuit to 0 (default); False leaves
        the culture's other synapses as they are, and their indirect paths show in the
        read-back.
    perturbation : float > 0
        Read-back drive: the rate change (as a fraction of the operating rate, at least
        1 Hz) that the direct current alone causes.
    verify_iterations : int >= 0
        Program-and-verify rounds: each corrects the couplings by the read-back error,
        ``J += (W - W_eff) / S``, rewrites and reads back again.
    transfer_duration : float, s
        Counting window per level of the transfer curves and slope calibrations.
    random_state : int, Generator, SeedSequence or None
        Draws the probes, the write noise and the measurement noise.

    Returns
    -------
    CompileResult
        ``report.asked`` = ``weights``; ``report.written`` = the effective weights read
        back (same units); ``report.details``: ``electrodes`` (n_units,),
        ``populations`` (lists of neuron indices), ``recording_channels`` (the electrode
        seeing each population best), ``synaptic_weight_A`` (n_units, n_units: the
        target weight of each used synapse, before write noise), ``synapse_counts``
        (synapses used per connection), ``clipped_synapses``,
        ``unreachable_connections`` ([i, j] asked but without a synapse),
        ``transfer_current_A`` / ``transfer_rate_Hz`` / ``transfer_sem_Hz`` (the curve
        under the network's background), ``operating_current_A`` / ``operating_rate_Hz``
        (mean-field prediction), ``slope_Hz_per_A`` (the slope programmed with),
        ``measured_rate_Hz``, ``measured_slope_Hz_per_A`` (the read-back's),
        ``perturbation_current_A``, ``measurement_sd`` (n_units, n_units: sd of
        ``written`` from measurement noise) and ``verify_errors`` (relative error of each
        read-back).

    Raises
    ------
    ValueError
        Weights not square or not finite; more units than stimulating electrodes;
        populations that do not fit; conductance synapses; no background drive, or a
        silent operating point.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import ElectrodeArray
    >>> from substrates.spiking import (BackgroundParameters, ConnectivityParameters,
    ...                                 SpikingNetwork, TissueParameters)
    >>> net = SpikingNetwork(300, electrodes=ElectrodeArray.grid(2, 2, 200e-6),
    ...                      connectivity=ConnectivityParameters(connection_length=300e-6),
    ...                      background=BackgroundParameters(200, 10.0, 17e-12),
    ...                      tissue=TissueParameters(size=0.5e-3), random_state=0)
    >>> w = np.array([[0.0, 0.4], [0.0, 0.0]])
    >>> result = compile_spiking(w, net, population_size=30, duration=1.0,
    ...                          transfer_duration=0.5, random_state=0)
    >>> result.report.written.shape, bool(result.report.written[0, 1] > 0.2)
    ((2, 2), True)
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.size == 0:
        raise ValueError(f"weights must be a square (n_units, n_units) recurrent matrix, "
                         f"got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (no NaN or inf)")
    if network.synapses.model != "current":
        raise ValueError("compile_spiking writes current-based synapses: network.synapses.model "
                         f"must be 'current', got {network.synapses.model!r}")
    bg = network.background
    if bg.n_inputs == 0 or bg.rate == 0 or bg.weight == 0:
        raise ValueError("compiling needs a background drive that keeps the neurons firing "
                         "(network.background with n_inputs, rate and weight > 0): a silent "
                         "neuron has no slope to map weights through")
    _check_options(population_size, duration, warmup, write_noise, perturbation,
                   verify_iterations, transfer_duration)
    n = w.shape[0]
    chosen = _choose_electrodes(network, n, electrodes)
    if n * population_size > network.n_neurons:
        raise ValueError(f"n_units * population_size = {n * population_size} exceeds the "
                         f"{network.n_neurons} neurons of the network")
    populations = _populations(network, chosen, int(population_size))
    excitatory = network.is_excitatory
    for k, pop in enumerate(populations):
        for sign, has, kind in ((1, excitatory[pop].any(), "excitatory"),
                                (-1, (~excitatory[pop]).any(), "inhibitory")):
            if np.any(sign * w[k] > 0) and not has:
                raise ValueError(f"population {k} has no {kind} neuron but weights[{k}] asks "
                                 f"for {'positive' if sign > 0 else 'negative'} weights: "
                                 "a larger population_size gives it one")
    streams = child_generators(random_state, ["transfer", "write", "measure"])
    probe_seed = int(streams["transfer"].integers(2**63))  # one seed: common random numbers
    measure_seed = int(streams["measure"].integers(2**63))

    # wiring between populations, by sign of the source
    table = network.synapse_table
    pop_of = np.full(network.n_neurons, -1)
    for k, pop in enumerate(populations):
        pop_of[pop] = k
    src, tgt = pop_of[table.source], pop_of[table.target]
    inside = (src >= 0) & (tgt >= 0)
    src_e = excitatory[table.source]
    count_e, count_i = np.zeros((n, n), np.int64), np.zeros((n, n), np.int64)
    np.add.at(count_e, (src[inside & src_e], tgt[inside & src_e]), 1)
    np.add.at(count_i, (src[inside & ~src_e], tgt[inside & ~src_e]), 1)
    sizes = np.array([p.size for p in populations], dtype=float)
    syn = network.synapses
    positive = w > 0
    tau_syn = np.where(positive, syn.excitatory_time_constant, syn.inhibitory_time_constant)
    counts = np.where(w == 0, 0, np.where(positive, count_e, count_i))
    reachable = counts > 0
    unreachable = np.argwhere((w != 0) & ~reachable).tolist()
    limit = weight_limit if weight_limit is not None else \
        10.0 * max(syn.excitatory_weight, abs(syn.inhibitory_weight))

    def synaptic(coupling):  # uniform weight of each connection's synapses (A)
        return np.where(reachable, coupling * sizes[None, :] / (tau_syn * np.maximum(counts, 1)), 0.0)

    # 1. transfer curve under the background, then noise-matched curves per population
    levels = _rheobase_scale(network) * _CURVE_LEVELS
    curve0, sem0 = transfer_curve(network, levels, duration=transfer_duration, random_state=probe_seed)
    curves = [curve0] * n
    backgrounds, shifts = [bg] * n, np.zeros(n)
    current = np.zeros(n)
    for outer in range(_OUTER_ITERATIONS):
        # 2. mean-field fixed point I* = phi(I*) @ J, J = W / phi'(I*), on these curves
        for _ in range(500):
            fits = [_local_fit(levels, curves[j], current[j]) for j in range(n)]
            rate = np.array([f[0][0] for f in fits])
            slope = np.array([f[1][0] for f in fits])
            if np.any(slope <= 0) or np.any(rate <= 0):
                raise ValueError(
                    "the populations fall silent at their operating point (transfer slope "
                    "<= 0): a stronger background drive, or smaller weights, keeps them firing"
                )
            coupling = np.where(reachable, w / slope[None, :], 0.0)
            new = rate @ coupling
            done = np.max(np.abs(new - current)) < 1e-4 * np.ptp(levels)
            current = 0.5 * current + 0.5 * new
            if done:
                break
        if outer == _OUTER_ITERATIONS - 1 or not np.any(reachable):
            break
        extra = _synaptic_input(network, synaptic(coupling), counts, sizes, rate, write_noise)
        backgrounds, shifts = _matched_background(network, extra)
        curves = [transfer_curve(network, levels - shifts[j], duration=transfer_duration,
                                 background=backgrounds[j], random_state=probe_seed)[0]
                  for j in range(n)]
    delta = perturbation * np.maximum(rate, 1.0) / slope  # read-back drive (A)
    calibrated = np.array([_slope(network, backgrounds[j], current[j] - shifts[j], delta[j],
                                  transfer_duration, warmup, probe_seed)[0] for j in range(n)])
    coupling = np.where(reachable, w / calibrated[None, :], 0.0)

    # 3. write, 4. read back; program-and-verify
    errors = []
    for iteration in range(verify_iterations + 1):
        target_weight = synaptic(coupling)
        target = np.zeros(table.weight.size) if silence_rest else np.where(inside, 0.0, table.weight)
        used = inside & reachable[np.maximum(src, 0), np.maximum(tgt, 0)] \
            & (src_e == positive[np.maximum(src, 0), np.maximum(tgt, 0)])
        target[used] = target_weight[src[used], tgt[used]]
        index = None if silence_rest else np.flatnonzero(inside)
        chosen_target = target if silence_rest else target[index]
        network.program(chosen_target, synapses=index, write_noise=write_noise,
                        weight_limit=weight_limit, random_state=streams["write"])
        clipped = int(np.count_nonzero(np.abs(chosen_target) > limit))
        response, direct, blocks, measured_rate = _read_back(
            network, w, populations, pop_of, chosen, delta, duration, warmup, measure_seed)
        inv = np.array([_inverse(levels, curves[j], measured_rate[j]) for j in range(n)])
        extra = _synaptic_input(network, target_weight, counts, sizes, measured_rate, write_noise)
        matched, matched_shift = _matched_background(network, extra)
        calib = [_slope(network, matched[j], inv[j] - matched_shift[j], delta[j],
                        transfer_duration, warmup, probe_seed) for j in range(n)]
        measured_slope = np.array([c[0] for c in calib])
        slope_sem = np.array([c[1] for c in calib])
        effective = _effective(response, direct, measured_slope)
        errors.append(CompileReport(w, effective).relative_error)
        if iteration < verify_iterations:
            corrected = coupling + (w - effective) / measured_slope[None, :]
            coupling = np.where(reachable, np.where(positive, np.maximum(corrected, 0.0),
                                                    np.minimum(corrected, 0.0)), 0.0)

    # measurement noise: spread of R over sub-windows and of the calibrated slopes,
    # propagated by Monte Carlo
    response_sd = blocks.std(axis=1, ddof=1) / math.sqrt(_N_BLOCKS)
    rng = np.random.default_rng(measure_seed)
    draws = [_effective(response + response_sd * rng.standard_normal(response.shape), direct,
                        measured_slope + slope_sem * rng.standard_normal(n)) for _ in range(200)]
    measurement_sd = np.std(draws, axis=0, ddof=1)

    array = network.electrodes
    recording = network.recording_gain
    channels = [int(array.recording_electrodes[np.argmax(np.abs(recording[pop]).mean(axis=0))])
                if recording.shape[1] else None for pop in populations]
    report = CompileReport(
        asked=w, written=effective,
        details={
            "electrodes": chosen.astype(np.int64),
            "populations": [pop.tolist() for pop in populations],
            "recording_channels": channels,
            "synaptic_weight_A": synaptic(coupling),
            "synapse_counts": counts,
            "clipped_synapses": clipped,
            "unreachable_connections": unreachable,
            "weight_limit_A": float(limit),
            "transfer_current_A": levels,
            "transfer_rate_Hz": curve0,
            "transfer_sem_Hz": sem0,
            "operating_current_A": current,
            "operating_rate_Hz": rate,
            "slope_Hz_per_A": calibrated,
            "measured_rate_Hz": measured_rate,
            "measured_slope_Hz_per_A": measured_slope,
            "perturbation_current_A": delta,
            "measurement_sd": measurement_sd,
            "verify_errors": errors,
        },
    )
    return CompileResult(network, report)
