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
8:183) and Ostojic & Brunel (2011, PLoS Comput Biol 7:e1001056), through a measured
transfer curve as rate-to-spiking conversions do (Rueckauer et al. 2017, Front Neurosci
11:682):

1. *Transfer curve.* The population f-I curve ``phi(I)`` of the network's own neurons
   under its own background drive is simulated, not assumed: a probe of unconnected copies
   of the neurons (same parameters, heterogeneity, background) sits on one electrode and
   receives a staircase of extra mean currents ``I`` (:func:`transfer_curve`).
2. *Operating point.* A presynaptic rate ``r_i`` through synapses of weight ``w`` and time
   constant ``tau_syn`` gives a mean current ``w tau_syn r_i`` (Campbell's theorem), so
   with couplings ``J[i, j] = W[i, j] / phi_j'`` (A per Hz) the populations settle where
   ``I* = phi(I*) @ J``: solved by damped iteration, and, because the programmed synapses
   also add input noise that flattens the curve, alternated (3 rounds) with re-measuring
   each population's curve under a noise-matched drive (diffusion approximation: the
   probe's background weight and synaptic time constant are set so that its membrane
   variance and correlation time equal background plus programmed input; Fourcaud &
   Brunel 2002, Neural Comput 14:2057).
3. *Slopes.* At the operating point each population's gain to mean current, ``g_j``, is
   calibrated on the noise-matched probe by the same central difference the read-back
   uses, and its gain to input variance, ``h_j``, likewise. A presynaptic rate changes both
   the mean (``J``) and the variance (``c_ij J^2``, shot noise) of the input, so ``J`` is
   the root of ``g_j J + h_j c_ij J^2 = W[i, j]``: excitation needs a little less weight,
   inhibition more, and an inhibition so strong that the noise it adds outweighs it cannot
   be reached (``details["saturated_connections"]``, written at its strongest).
4. *Synapses (Dale's law).* A positive ``W[i, j]`` is written on the excitatory synapses
   from population ``i`` onto population ``j``, a negative one on its inhibitory
   synapses (the two halves of a differential pair). Each synapse onto neuron ``l`` gets
   ``J[i, j] / (tau_syn m_l)`` with ``m_l`` the synapses of that sign from ``i`` onto
   ``l`` (normalised per neuron, so every neuron reached receives the same mean; scaled
   by ``N_j / reached`` so the population's mean is ``J``). The wiring is the culture's
   own: a connection without any synapse cannot be written
   (``details["unreachable_connections"]``). With ``silence_rest`` (default) every other
   synapse is written to 0, isolating the circuit from the rest of the culture.
   :meth:`SpikingNetwork.program` applies the write noise and the weight limit.
5. *Read-back.* The effective weights are measured from the programmed network by linear
   response: each population's electrode injects a small DC current, ``+dI`` then ``-dI``
   (the same background noise both times: common random numbers), and the population rate
   changes ``R[k, :]`` (Hz, from the ground-truth spikes) obey ``R = D G + R W_eff``,
   where ``D[k, j]`` is the direct mean current experiment ``k`` puts into population
   ``j`` (from the stimulation coupling, cross-talk included) and ``G`` the gains of the
   noise-matched probes at the *measured* operating rates. Hence
   ``W_eff = R^-1 (R - D G)``. This is what ``report.written`` holds, not the synaptic
   weights set. (At zero frequency a population's gain and its self-coupling ``W[j, j]``
   enter together, so the gain must come from outside the loop; an in-situ estimate from
   the spread of electrode current within a population is reported as a check,
   ``details["in_situ_gain_Hz_per_A"]``.)

Known sources of error, largest first for the default culture: read-back noise (finite
populations and windows: ``details["measurement_sd"]``, a jackknife over sub-windows
plus the gains' standard errors), the saturation of strong inhibition, the diffusion
approximation of a few large synapses per neuron (heterogeneous across neurons), write
noise and clipping. Connections need a few synapses per neuron (``synapse_counts`` /
population size) for the mean-field mapping to hold: a sparse culture writes worse.
Strong net inhibition of a population by the others' baseline activity silences it,
which is refused (``ValueError``). Inputs (a rate network's input weights) are not
synapses here: a task reaches the populations through their electrodes
(``network.encoding``).
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
_N_BLOCKS = 5  # sub-windows of each read-back run, for the noise estimate
_PROBE_NEURONS = 200  # probe population: rate SEM ~ sqrt(r / (200 T)), ~2 % at 6 Hz, 1 s
_OUTER_ITERATIONS = 3  # operating point <-> input-noise rounds (converges in 2-3)


def _rheobase_scale(network):
    """A current scale (A): the current that moves the membrane from rest to threshold."""
    neuron = network.neuron
    tau = neuron.time_constants()["membrane_time_constant"]
    gap = abs(network._threshold_potential() - neuron.resting_potential)
    return neuron.membrane_capacitance * gap / tau


def _probe(network, n_neurons, random_state, background, synapses=None):
    """Unconnected copies of the network's neurons, all at one height above one electrode."""
    from substrates.spiking import (
        ConnectivityParameters,
        SpikingNetwork,
        TissueParameters,
    )

    height = 10e-6
    return SpikingNetwork(
        n_neurons,
        electrodes=ElectrodeArray.from_positions([[0.0, 0.0]], noise_rms=0.0),
        dt=network.dt,
        excitatory_fraction=1.0,
        neuron=network.neuron,
        synapses=synapses if synapses is not None else network.synapses,
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
    hold = round((warmup + duration) / probe.dt)
    skip = round(warmup / probe.dt)
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


def _matched_drive(network, extra):
    """Probe drives that add the programmed synapses' input noise to the network's own.

    Diffusion approximation (Brunel 2000; Fourcaud & Brunel 2002): a neuron's rate
    depends on the mean, the variance and the correlation time of its input, not on which
    synapses carry it. Each probe keeps the network's background (same sources and rate)
    with a weight and a synaptic time constant chosen so that its membrane variance equals
    background plus programmed synapses and its time constant is their variance-weighted
    mean. The extra mean this brings is returned (A, (n_units,)) and subtracted from the
    probe's current axis.

    Parameters
    ----------
    extra : array of shape (n_units, 2)
        Programmed input per population: variance-equivalent (see _noise_weight) and
        the same weighted by each input's synaptic time constant (A^2 s^2).

    Returns
    -------
    drives : list of (BackgroundParameters, SynapseParameters); shifts : (n_units,) A.
    """
    import dataclasses

    from substrates.spiking import BackgroundParameters

    bg = network.background
    tau_e = network.synapses.excitatory_time_constant
    tau_m = network.neuron.time_constants()["membrane_time_constant"]
    sources = bg.n_inputs * bg.rate
    base = sources * (bg.weight * _noise_weight(network, tau_e)) ** 2
    drives, shifts = [], []
    for variance, weighted in np.atleast_2d(extra):
        total = base + variance
        tau = (base * tau_e + weighted) / total
        if abs(tau - tau_m) < 1e-9:  # the exact LIF propagator needs tau_s != tau_m
            tau += 1e-8
        weight = math.sqrt(total / sources) / _noise_weight(network, tau)
        drives.append((BackgroundParameters(bg.n_inputs, bg.rate, weight),
                       dataclasses.replace(network.synapses, excitatory_time_constant=tau)))
        shifts.append(sources * (weight * tau - bg.weight * tau_e))
    return drives, np.asarray(shifts)


def _input_variance(network, table, used, target, src_pop, tgt_pop, sizes, rates, write_noise):
    """Input noise that the programmed synapses ``target`` bring, on average, to a neuron
    of each population when the populations fire at ``rates`` (Hz): (n_units, 2), the
    variance-equivalent (A^2 s, see _noise_weight) and the same times each input's
    synaptic time constant."""
    syn = network.synapses
    tau = np.where(target[used] >= 0, syn.excitatory_time_constant, syn.inhibitory_time_constant)
    factor = np.vectorize(lambda t: _noise_weight(network, t))(tau) if tau.size else tau
    contribution = rates[src_pop[used]] * (target[used] * factor) ** 2 * (1.0 + write_noise**2)
    out = np.zeros((sizes.size, 2))
    np.add.at(out[:, 0], tgt_pop[used], contribution)
    np.add.at(out[:, 1], tgt_pop[used], contribution * tau)
    return out / sizes[:, None]


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
    d = array.distances_to(network.positions, chosen)
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


def _slope(network, drive, current, delta, duration, warmup, seed):
    """Slope (Hz/A) of the probe's curve at ``current`` by a central difference of
    +-``delta`` with common random numbers (the same background spikes both times), the
    estimator the read-back uses, so the two share their curvature bias. Returns
    (slope, standard error)."""
    probe = _probe(network, _PROBE_NEURONS, seed, *drive)
    up = _staircase(probe, np.array([current + delta]), duration, warmup)[0]
    probe.reset()
    down = _staircase(probe, np.array([current - delta]), duration, warmup)[0]
    diff = (up - down) / (2.0 * delta)
    return diff.mean(), diff.std(ddof=1) / math.sqrt(diff.size)


def _variance_slope(network, extra, current, duration, warmup, seed):
    """Rate change (Hz) per unit of added input variance (A^2 s, see _noise_weight) at
    fixed mean current ``current`` (A over the network's background), for a population
    whose programmed input is ``extra`` (2,) (see _matched_drive): a central difference
    of +-20 % of the total variance, with common random numbers. Returns (slope, sem)."""
    (drive,), _ = _matched_drive(network, np.asarray(extra)[None, :])
    bg = network.background
    total = bg.n_inputs * bg.rate * (bg.weight * _noise_weight(
        network, network.synapses.excitatory_time_constant)) ** 2 + extra[0]
    tau = drive[1].excitatory_time_constant
    step = 0.2 * total
    rates = []
    for sign in (1.0, -1.0):
        moved = np.array([extra[0] + sign * step, extra[1] + sign * step * tau])
        (drive,), (shift,) = _matched_drive(network, moved[None, :])
        probe = _probe(network, _PROBE_NEURONS, seed, *drive)
        rates.append(_staircase(probe, np.array([current - shift]), duration, warmup)[0])
    diff = (rates[0] - rates[1]) / (2.0 * step)
    return diff.mean(), diff.std(ddof=1) / math.sqrt(diff.size)


def _couplings(w, gain, variance_gain, variance_per_rate):
    """Couplings J (A/Hz) whose effect through the mean and the variance of the input,
    ``gain_j J + variance_gain_j c_ij J^2``, equals ``w``: the root of that quadratic that
    tends to ``w / gain`` as the variance term vanishes. Where no root exists (an
    inhibition so strong that the noise it adds outweighs it), the coupling of largest
    effect is taken. Returns (J, bool mask of those saturated)."""
    a = variance_gain[None, :] * variance_per_rate
    b = gain[None, :]
    disc = b**2 + 4.0 * a * w
    saturated = disc < 0
    root = 2.0 * w / (b + np.sqrt(np.maximum(disc, 0.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where(a != 0, -b / (2.0 * a), 0.0)
    return np.where(saturated, best, root), saturated


def _read_back(network, populations, pop_of, chosen, delta, duration, warmup, seed):
    """Responses to +-``delta`` on each population's electrode (common random numbers).

    Experiment ``k`` holds a DC current on population ``k``'s electrode that puts a mean
    ``+-delta[k]`` (A) into that population's membranes, ``warmup + duration`` long, both
    signs from the same reset state and background spikes.

    Returns
    -------
    response : (n_experiments, n_blocks, n_circuit) Hz
        Half the rate difference (+ minus -) of every circuit neuron (the populations
        concatenated) in each sub-window.
    direct : (n_experiments, n_circuit) A
        The membrane current the electrode puts into each circuit neuron (for +).
    rates : (n_circuit,) Hz
        Mean rate of each circuit neuron over all runs (the operating point).
    """
    n = len(populations)
    circuit = np.concatenate(populations)
    position = np.full(network.n_neurons, -1)
    position[circuit] = np.arange(circuit.size)
    array = network.electrodes
    column = {int(e): c for c, e in enumerate(array.stimulating_electrodes)}
    coupling = network.stimulation_coupling  # (n_neurons, n_stimulating)
    own = np.array([coupling[populations[k], column[int(chosen[k])]].mean() for k in range(n)])
    electrode_current = delta / own  # A at the electrode (negative: cathodic depolarises)
    direct = np.array([coupling[circuit, column[int(chosen[k])]] * electrode_current[k]
                       for k in range(n)])
    hold = round((warmup + duration) / network.dt)
    skip = round(warmup / network.dt)
    block = (hold - skip) // _N_BLOCKS
    counts = np.zeros((n, 2, _N_BLOCKS, circuit.size))
    for k in range(n):
        for s, sign in enumerate((1.0, -1.0)):
            data = np.zeros((hold, array.n_stimulating))
            data[:, column[int(chosen[k])]] = sign * electrode_current[k]
            network.reset(seed)
            times, neurons = network.spikes(hold * network.dt, Stimulus(data, network.dt, "A"))
            steps = np.rint(times / network.dt).astype(np.int64) - skip
            where = position[neurons]
            keep = (steps >= 0) & (steps < block * _N_BLOCKS) & (where >= 0)
            np.add.at(counts[k, s], (steps[keep] // block, where[keep]), 1.0)
    network.reset()
    rates = counts / (block * network.dt)
    return 0.5 * (rates[:, 0] - rates[:, 1]), direct, rates.mean(axis=(0, 1, 2))


def _in_situ_gain(response, direct, members):
    """Each population's gain (Hz/A) to its own membrane current, measured in place.

    Within a population the electrode's current falls off with distance, so neurons
    receive different direct currents but (their synapses being normalised per neuron)
    the same synaptic input change; regressing each neuron's rate change on its direct
    current, with one intercept per experiment (the shared recurrent input), separates
    the population's gain from its recurrent loop.
    """
    gain = np.empty(len(members))
    for j, idx in enumerate(members):
        x = direct[:, idx] - direct[:, idx].mean(axis=1, keepdims=True)
        y = response[:, idx] - response[:, idx].mean(axis=1, keepdims=True)
        gain[j] = np.sum(x * y) / np.sum(x * x)
    return gain


def _effective(response, direct, members, gain):
    """W_eff from R = D G + R W_eff at the population level (least squares)."""
    r = np.stack([response[:, idx].mean(axis=1) for idx in members], axis=1)
    d = np.stack([direct[:, idx].mean(axis=1) for idx in members], axis=1)
    return np.linalg.lstsq(r, r - d * gain[None, :], rcond=None)[0]
def compile_spiking(weights, network, *, population_size: int = 40, electrodes=None,
                    duration: float = 2.0, warmup: float = 0.2, write_noise: float = 0.1,
                    weight_limit: float | None = None, silence_rest: bool = True,
                    perturbation: float = 0.3, verify_iterations: int = 0,
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
    verify_iterations : int >= 0, default 0
        Program-and-verify rounds: each corrects the couplings by the read-back error,
        ``J += (W - W_eff) / G``, rewrites and reads back again. Each correction carries
        the read-back's noise into the weights, so it helps only when ``duration`` makes
        ``measurement_sd`` small against the error (with the 2 s default it does not).
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
        mean target weight of a used synapse, before write noise), ``synapse_counts``
        (synapses used per connection), ``reached_fraction`` (of the target population's
        neurons that receive them), ``clipped_synapses``,
        ``unreachable_connections`` ([i, j] asked but without a synapse),
        ``transfer_current_A`` / ``transfer_rate_Hz`` / ``transfer_sem_Hz`` (the curve
        under the network's background), ``operating_current_A`` / ``operating_rate_Hz``
        (mean-field prediction), ``slope_Hz_per_A`` (the probe's slope programmed
        with), ``measured_rate_Hz``, ``measured_slope_Hz_per_A`` (the in-situ gain of
        the read-back),
        ``perturbation_current_A``, ``measurement_sd`` (n_units, n_units: jackknife sd
        of ``written`` over sub-windows of the read-back) and ``verify_errors``
        (relative error of each read-back).

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

    # the culture's wiring between populations: which synapses carry which connection
    table = network.synapse_table
    pop_of = np.full(network.n_neurons, -1)
    for k, pop in enumerate(populations):
        pop_of[pop] = k
    src, tgt = pop_of[table.source], pop_of[table.target]
    inside = (src >= 0) & (tgt >= 0)
    src_e = excitatory[table.source]
    positive = w > 0
    used = inside & (w[src, tgt] != 0) & (src_e == positive[src, tgt])
    sizes = np.array([p.size for p in populations], dtype=float)
    syn = network.synapses
    # per target neuron: m synapses from the source population share its coupling, and
    # the neurons reached carry the population's mean (normalised per neuron)
    key = src[used] * network.n_neurons + table.target[used]
    _, which, per_neuron = np.unique(key, return_inverse=True, return_counts=True)
    counts = np.zeros((n, n), np.int64)
    np.add.at(counts, (src[used], tgt[used]), 1)
    reached = np.zeros((n, n))
    np.add.at(reached, (src[used], tgt[used]), 1.0 / per_neuron[which])
    tau_syn = np.where(positive, syn.excitatory_time_constant, syn.inhibitory_time_constant)
    norm = (sizes[tgt[used]] / reached[src[used], tgt[used]]
            / (tau_syn[src[used], tgt[used]] * per_neuron[which]))
    reachable = counts > 0
    unreachable = np.argwhere((w != 0) & ~reachable).tolist()
    limit = weight_limit if weight_limit is not None else \
        10.0 * max(syn.excitatory_weight, abs(syn.inhibitory_weight))

    def targets(coupling):  # target weight of every synapse (A) for couplings J (A/Hz)
        out = np.zeros(table.weight.size) if silence_rest else np.where(inside, 0.0, table.weight)
        out[used] = coupling[src[used], tgt[used]] * norm
        return out

    def variance(coupling, rates):
        return _input_variance(network, table, used, targets(coupling), src, tgt, sizes, rates,
                               write_noise)

    # 1. transfer curve under the background, then noise-matched curves per population
    levels = _rheobase_scale(network) * _CURVE_LEVELS
    curve0, sem0 = transfer_curve(network, levels, duration=transfer_duration, random_state=probe_seed)
    curves = [curve0] * n
    drives, shifts = [(bg, network.synapses)] * n, np.zeros(n)
    current = np.zeros(n)
    for outer in range(_OUTER_ITERATIONS):
        # 2. mean-field fixed point I* = phi(I*) @ J, J = W / phi'(I*), on these curves
        for _ in range(500):
            current = np.clip(current, levels[0], levels[-1])
            fits = [_local_fit(levels, curves[j], current[j]) for j in range(n)]
            rate = np.maximum(np.array([f[0][0] for f in fits]), 0.0)
            slope = np.array([f[1][0] for f in fits])
            # a floor keeps W / slope finite while the iteration passes a flat stretch
            floor = 1e-2 * np.max(np.abs(np.diff(curve0) / np.diff(levels)))
            coupling = np.where(reachable, w / np.maximum(slope, floor)[None, :], 0.0)
            new = rate @ coupling
            done = np.max(np.abs(new - current)) < 1e-4 * np.ptp(levels)
            current = 0.5 * current + 0.5 * new
            if done:
                break
        if np.any(slope <= floor) or np.any(rate < 0.1):
            raise ValueError(
                "the populations fall silent at their operating point (rate < 0.1 Hz or a flat "
                "transfer curve): a stronger background drive, or weaker inhibition, keeps "
                "them firing"
            )
        if outer == _OUTER_ITERATIONS - 1 or not np.any(reachable):
            break
        drives, shifts = _matched_drive(network, variance(coupling, rate))
        curves = [_staircase(_probe(network, _PROBE_NEURONS, probe_seed, *drives[j]),
                             levels - shifts[j], transfer_duration, warmup).mean(axis=1)
                  for j in range(n)]
    delta = perturbation * np.maximum(rate, 1.0) / slope  # read-back drive (A)
    calibrated = np.array([_slope(network, drives[j], current[j] - shifts[j], delta[j],
                                  transfer_duration, warmup, probe_seed)[0] for j in range(n)])
    # a presynaptic rate also changes the variance of the input (shot noise): its effect,
    # d rate / d variance, adds to the mean's (excitation gains, inhibition loses)
    extra = variance(coupling, rate)
    variance_gain = np.array([_variance_slope(network, extra[j], current[j], transfer_duration,
                                              warmup, probe_seed)[0] for j in range(n)])
    per_rate = np.zeros((n, n))  # variance per Hz of the source, per unit coupling^2
    unit = np.zeros(table.weight.size)
    unit[used] = norm
    factor = np.where(positive, _noise_weight(network, syn.excitatory_time_constant),
                      _noise_weight(network, syn.inhibitory_time_constant))
    np.add.at(per_rate, (src[used], tgt[used]),
              (unit[used] * factor[src[used], tgt[used]]) ** 2 * (1.0 + write_noise**2))
    per_rate /= sizes[None, :]
    coupling, saturated = _couplings(w, calibrated, variance_gain, per_rate)
    coupling = np.where(reachable, coupling, 0.0)

    # 3. write, 4. read back; program-and-verify
    offsets = np.cumsum([0] + [p.size for p in populations])
    members = [np.arange(offsets[k], offsets[k + 1]) for k in range(n)]
    index = None if silence_rest else np.flatnonzero(inside)
    errors = []
    for iteration in range(verify_iterations + 1):
        target = targets(coupling)
        target = target if silence_rest else target[index]
        network.program(target, synapses=index, write_noise=write_noise,
                        weight_limit=weight_limit, random_state=streams["write"])
        clipped = int(np.count_nonzero(np.abs(target) > limit))
        response, direct, neuron_rates = _read_back(network, populations, pop_of, chosen, delta,
                                                    duration, warmup, measure_seed)
        mean_response = response.mean(axis=1)
        measured_rate = np.array([neuron_rates[m].mean() for m in members])
        # the gain of each population to its own direct current: the noise-matched probe
        # at the measured operating rate (the in-situ regression is kept as a check)
        matched, matched_shift = _matched_drive(network, variance(coupling, measured_rate))
        at = np.array([_inverse(levels, curves[j], measured_rate[j]) for j in range(n)])
        calib = np.array([_slope(network, matched[j], at[j] - matched_shift[j], delta[j],
                                 transfer_duration, warmup, probe_seed) for j in range(n)])
        gain, gain_sem = calib[:, 0], calib[:, 1]
        effective = _effective(mean_response, direct, members, gain)
        errors.append(CompileReport(w, effective).relative_error)
        if iteration < verify_iterations:
            corrected = coupling + (w - effective) / gain[None, :]
            coupling = np.where(reachable, np.where(positive, np.maximum(corrected, 0.0),
                                                    np.minimum(corrected, 0.0)), 0.0)
    # measurement noise: jackknife over the sub-windows of the read-back, plus the
    # calibrated gains' standard errors propagated to first order
    jack = np.asarray([_effective(np.delete(response, b, axis=1).mean(axis=1), direct, members,
                                  gain) for b in range(_N_BLOCKS)])
    variance_w = (_N_BLOCKS - 1) / _N_BLOCKS * np.sum((jack - jack.mean(axis=0)) ** 2, axis=0)
    for j in range(n):
        step = np.zeros(n)
        step[j] = gain_sem[j]
        variance_w += (_effective(mean_response, direct, members, gain + step) - effective) ** 2
    measurement_sd = np.sqrt(variance_w)
    in_situ = _in_situ_gain(mean_response, direct, members)

    array = network.electrodes
    recording = network.recording_gain
    channels = [int(array.recording_electrodes[np.argmax(np.abs(recording[pop]).mean(axis=0))])
                if recording.shape[1] else None for pop in populations]
    mean_weight = np.zeros((n, n))
    np.add.at(mean_weight, (src[used], tgt[used]), targets(coupling)[used])
    report = CompileReport(
        asked=w, written=effective,
        details={
            "electrodes": chosen.astype(np.int64),
            "populations": [pop.tolist() for pop in populations],
            "recording_channels": channels,
            "synaptic_weight_A": mean_weight / np.maximum(counts, 1),
            "synapse_counts": counts,
            "reached_fraction": reached / sizes[None, :],
            "clipped_synapses": clipped,
            "unreachable_connections": unreachable,
            "weight_limit_A": float(limit),
            "transfer_current_A": levels,
            "transfer_rate_Hz": curve0,
            "transfer_sem_Hz": sem0,
            "operating_current_A": current,
            "operating_rate_Hz": rate,
            "slope_Hz_per_A": calibrated,
            "variance_slope": variance_gain,
            "saturated_connections": np.argwhere(saturated & reachable).tolist(),
            "measured_rate_Hz": measured_rate,
            "measured_slope_Hz_per_A": gain,
            "in_situ_gain_Hz_per_A": in_situ,
            "perturbation_current_A": delta,
            "measurement_sd": measurement_sd,
            "verify_errors": errors,
        },
    )
    return CompileResult(network, report)
