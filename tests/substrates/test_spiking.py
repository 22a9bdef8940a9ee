"""Physics and behaviour of the spiking substrate (analytic answers, invariants, errors)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from substrates import ElectrodeArray, Stimulus
from substrates._prefetch import prefetch, prefetch_range
from substrates.spiking import (
    AdExParameters,
    BackgroundParameters,
    ConnectivityParameters,
    LIFParameters,
    ShortTermDepressionParameters,
    SpikingNetwork,
    STDPParameters,
    SynapseParameters,
    TissueParameters,
)
from tests.substrates.spiking_networks import noisy_network

ISOLATED = ConnectivityParameters(connection_probability=0.0)


def isolated_neurons(n, **kwargs):
    return SpikingNetwork(n, connectivity=ISOLATED, excitatory_fraction=1.0, **kwargs)


def test_subthreshold_lif_decays_exponentially_to_float_precision():
    lif = LIFParameters(membrane_time_constant=20e-3, resting_potential=-65e-3, threshold=-40e-3)
    net = isolated_neurons(5, neuron=lif, initial_potential=(-50e-3, -45e-3), random_state=0)
    v0 = net.state.membrane_potential
    rec = net.run(duration=0.1, record_hidden=True, hidden_sampling_rate=1e4)
    v = rec.hidden_state["membrane_potential"]
    t = np.arange(v.shape[0]) * 1e-4
    expected = -65e-3 + (v0 - -65e-3)[None, :] * np.exp(-t / 20e-3)[:, None]
    # the propagator is exact; only rounding accumulates: ~1,000 steps of a few ulp
    np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_synaptic_currents_and_their_psp_follow_the_analytic_solution(precision):
    # A current I0 exp(-t / tau_s) into a passive LIF membrane (tau_m dv/dt = -(v - E_L)
    # + R I) moves it by R I0 tau_s / (tau_s - tau_m) (exp(-t / tau_s) - exp(-t / tau_m)).
    # 3,000 steps span several of float32's synaptic epochs (512 steps here: the stored
    # variables are divided by their decay since the epoch began and decay once an
    # epoch), so this checks the scaled reads, the epoch ends and the state read back.
    lif = LIFParameters(membrane_time_constant=20e-3, resting_potential=-65e-3,
                        threshold=0.0)
    syn = SynapseParameters(excitatory_time_constant=5e-3, inhibitory_time_constant=10e-3)
    net = isolated_neurons(4, neuron=lif, synapses=syn, precision=precision, random_state=0)
    epoch = net._syn_scale.shape[1] - 1
    assert epoch == (512 if precision == "float32" else 1)
    start = net.state
    current_e = np.array([0.0, 50e-12, 200e-12, 400e-12])
    current_i = np.array([-300e-12, 0.0, -100e-12, -400e-12])
    net.set_state(start._replace(membrane_potential=np.full(4, -65e-3),
                                 excitatory_synaptic=current_e, inhibitory_synaptic=current_i))
    n_steps = 3000
    rec = net.run(duration=n_steps * 1e-4, record_hidden=True, hidden_sampling_rate=1e4)
    v = rec.hidden_state["membrane_potential"]  # v(k dt), k = 0 .. n_steps - 1
    t = np.arange(v.shape[0])[:, None] * 1e-4
    r = lif.membrane_time_constant / lif.membrane_capacitance

    def psp(current, tau_s):
        tau_m = lif.membrane_time_constant
        return r * current * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m))

    expected = -65e-3 + psp(current_e, 5e-3) + psp(current_i, 10e-3)
    end = net.state
    decayed_e = current_e * math.exp(-n_steps * 1e-4 / 5e-3)
    decayed_i = current_i * math.exp(-n_steps * 1e-4 / 10e-3)
    if precision == "float64":
        # exact propagators; rounding of a few ulp a step accumulates over 3,000 steps
        np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(end.excitatory_synaptic, decayed_e, rtol=1e-12)
        np.testing.assert_allclose(end.inhibitory_synaptic, decayed_i, rtol=1e-12)
    else:
        # float32: the potential's rounding near rest (an ulp of 65 mV, ~4 nV, a step)
        # is carried over tau_m / dt = 200 steps: ~0.8 uV at most, as with the plain
        # step-by-step decay. The currents round once per epoch end and read, not once
        # per step: ~1e-7 of themselves after 3,000 steps (decayed step by step in
        # float32 they were 2.6e-5 off)
        np.testing.assert_allclose(v, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(end.excitatory_synaptic, decayed_e, rtol=1e-6)
        np.testing.assert_allclose(end.inhibitory_synaptic, decayed_i, rtol=1e-6)
    assert np.all(np.abs(v - -65e-3).max(axis=0) > 5e-4)  # PSPs of about a mV


def test_synaptic_scale_table_and_its_epoch_length():
    from substrates.spiking._kernels import synaptic_scale

    # K = 1 is Brian2's decay: the factor is math.exp(-dt / tau), the very float64
    table = synaptic_scale(1e-4, 5e-3, 10e-3, 1, np.float64)
    assert table.shape == (4, 2)
    assert table[0, 1] == math.exp((-1e-4) / 5e-3) and table[1, 1] == math.exp((-1e-4) / 10e-3)
    np.testing.assert_array_equal(table[:, 0], 1.0)
    table = synaptic_scale(1e-4, 5e-3, 10e-3, 512, np.float32)
    assert table.dtype == np.float32 and table.shape == (4, 513)
    np.testing.assert_allclose(table[0], np.exp(-np.arange(513) * 1e-4 / 5e-3), rtol=1e-6)
    np.testing.assert_allclose(table[2] * table[0], 1.0, rtol=1e-6)
    for bad in (0, 3, 600):
        with pytest.raises(ValueError, match="epoch_steps must be a power of two"):
            synaptic_scale(1e-4, 5e-3, 10e-3, bad, np.float32)
    # the epoch: the longest power of two of steps over which the faster synapse decays
    # by 2**-20 at most, 1,024 at most; float64 decays every step
    for tau, dt, expected in ((5e-3, 1e-4, 512), (1e-3, 1e-4, 128), (0.5, 1e-4, 1024),
                              (1e-3, 2.5e-4, 32)):
        net = isolated_neurons(2, dt=dt, precision="float32", synapses=SynapseParameters(
            excitatory_time_constant=tau, inhibitory_time_constant=2 * tau))
        assert net._syn_scale.shape[1] - 1 == expected
        assert net._syn_scale[0, -1] >= 2.0 ** -20
    assert isolated_neurons(2)._syn_scale.shape == (4, 2)


def test_float32_delivery_across_synaptic_epochs_follows_float64():
    # Spikes that arrive at every phase of float32's synaptic epochs (before, at and
    # after an epoch's end) must add their weight, whatever the phase, and so must the
    # background's Poisson input (the same draws in both precisions): neurons kicked
    # far above threshold at chosen steps (so that both precisions spike at the same
    # steps), their targets resting 15 mV below threshold. float32 must follow float64
    # to float32 rounding: potentials within 1 uV, synaptic state within 1e-5.
    lif = LIFParameters(resting_potential=-65e-3, threshold=-50e-3, reset=-70e-3,
                        refractory_period=2e-3)
    kicks = {0: [3, 250], 300: [17, 260, 290], 511: [40, 241], 512: [55, 270],
             1100: [8, 299], 1535: [99, 284]}  # step: neurons (>= 240 are inhibitory)
    results = {}
    for precision in ("float64", "float32"):
        net = SpikingNetwork(300, dt=1e-4, neuron=lif, excitatory_fraction=0.8,
                             connectivity=ConnectivityParameters(connection_probability=0.3),
                             background=BackgroundParameters(n_inputs=100, rate=20.0,
                                                             weight=5e-12),
                             initial_potential=(-66e-3, -64e-3), precision=precision,
                             random_state=7)
        potentials, spikes = [], []
        steps = sorted(kicks) + [2000]
        for here, until in zip(steps[:-1], steps[1:]):
            if net.state.step < here:
                rec = net.run(duration=(here - net.state.step) * 1e-4, record_hidden=True,
                              hidden_sampling_rate=1e4)
                potentials.append(rec.hidden_state["membrane_potential"])
                spikes.append(rec.hidden_state["spike_times"] + rec.metadata["start_time"])
            state = net.state
            v = state.membrane_potential.copy()
            v[kicks[here]] = 0.0
            net.set_state(state._replace(membrane_potential=v))
            rec = net.run(duration=(until - here) * 1e-4, record_hidden=True,
                          hidden_sampling_rate=1e4)
            potentials.append(rec.hidden_state["membrane_potential"])
            spikes.append(rec.hidden_state["spike_times"] + rec.metadata["start_time"])
        results[precision] = (np.concatenate(potentials), np.concatenate(spikes), net.state)
    v64, spikes64, state64 = results["float64"]
    v32, spikes32, state32 = results["float32"]
    assert spikes64.size == sum(len(k) for k in kicks.values())  # only the kicked ones
    np.testing.assert_allclose(spikes32, spikes64, rtol=0, atol=1e-9)
    kicked = np.unique(np.concatenate(list(kicks.values())))
    quiet = np.setdiff1d(np.arange(300), kicked)
    assert np.abs(v64[:, quiet] - v64[0, quiet]).max() > 1e-3  # the PSPs are there
    np.testing.assert_allclose(v32, v64, rtol=0, atol=1e-6)
    for name in ("excitatory_synaptic", "inhibitory_synaptic"):
        ours, reference = getattr(state32, name), getattr(state64, name)
        assert np.abs(reference).max() > 0
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * np.abs(reference).max())


def test_float32_runs_cut_anywhere_give_the_bits_of_one_run():
    # float32's synaptic epochs are fixed steps (multiples of 512 here), not the start
    # of a run, so a run cut into pieces (here across two epoch ends, at steps 512 and
    # 1,024) is the same run, bit for bit, on one thread or two.
    runs = []
    for threads in (1, 2):
        whole = noisy_network(800, precision="float32", threads=threads)
        assert whole._syn_scale.shape[1] - 1 == 512 and whole._n_blocks() == threads
        expected = whole.spikes(0.12)
        cut = noisy_network(800, precision="float32", threads=threads)
        times, neurons = [], []
        for duration in (0.0511, 0.0513, 0.0176):
            start = cut.time
            t, i = cut.spikes(duration)  # times from the start of this call
            times.append(t + start)
            neurons.append(i)
        assert cut.state.step == whole.state.step == 1200
        assert expected[0].size > 500
        np.testing.assert_array_equal(np.concatenate(neurons), expected[1])
        np.testing.assert_allclose(np.concatenate(times), expected[0], rtol=0, atol=1e-9)
        for a, b in zip(cut.state, whole.state):
            np.testing.assert_array_equal(a, b)
        runs.append((expected, whole.state))
    (spikes_1, state_1), (spikes_2, state_2) = runs
    np.testing.assert_array_equal(spikes_2[1], spikes_1[1])
    np.testing.assert_array_equal(spikes_2[0], spikes_1[0])
    for a, b in zip(state_2, state_1):
        np.testing.assert_array_equal(a, b)


def test_isolated_lif_f_i_curve_matches_analytic_rate():
    # One neuron under one stimulating electrode, driven by constant cathodic currents.
    lif = LIFParameters(refractory_period=2e-3)
    array = ElectrodeArray.mea60()
    net = isolated_neurons(1, neuron=lif, electrodes=array, random_state=1)
    coupling = net.stimulation_coupling[0]
    e = int(np.argmin(coupling))  # strongest depolarising coupling
    assert coupling[e] < 0
    tau, r = lif.membrane_time_constant, lif.membrane_resistance
    rheobase = (lif.threshold - lif.resting_potential) / r
    duration = 2.0
    for factor in (1.2, 1.5, 2.0, 4.0):
        membrane_current = factor * rheobase
        stim = Stimulus.zeros(array.n_stimulating, duration, 1e-4).data.copy()
        stim[:, e] = membrane_current / coupling[e]
        net.reset()
        rec = net.run(Stimulus(stim, 1e-4, "A"), record_hidden=True)
        spikes = rec.hidden_state["spike_times"]
        isi = np.diff(spikes).mean()
        drive = r * membrane_current + lif.resting_potential
        theory = lif.refractory_period + tau * math.log((drive - lif.reset) / (drive - lif.threshold))
        # Brian2's schedule: a crossing during step k is stamped k*dt (up to dt early) and
        # the neuron integrates again from reset exactly one refractory period after that
        # stamp, so every interval is the analytic one rounded to the step grid, and
        # lies in [theory - dt, theory]
        assert theory - 1e-4 - 1e-12 <= isi <= theory + 1e-12


def test_same_seed_same_bits_and_seeds_differ():
    a = noisy_network(200, random_state=5).run(duration=0.2, record_hidden=True)
    b = noisy_network(200, random_state=5).run(duration=0.2, record_hidden=True)
    c = noisy_network(200, random_state=6).run(duration=0.2, record_hidden=True)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.hidden_state["spike_times"], b.hidden_state["spike_times"])
    assert not np.array_equal(a.hidden_state["spike_neurons"], c.hidden_state["spike_neurons"])


def test_reset_restores_initial_state_and_runs_continue():
    net = noisy_network(200, random_state=7)
    first = net.spikes(0.2)
    net.reset()
    split = [net.spikes(0.1), net.spikes(0.1)]
    times = np.concatenate([split[0][0], split[1][0] + 0.1])
    neurons = np.concatenate([split[0][1], split[1][1]])
    # running 0.2 s at once or as two 0.1 s runs is the same simulation
    np.testing.assert_allclose(times, first[0], atol=1e-12)
    np.testing.assert_array_equal(neurons, first[1])


def test_a_silent_stimulus_is_no_stimulus():
    # without a stimulus the kernel gets no electrode coupling at all (it is not worked
    # out); a stimulus of zeros on every stimulating electrode goes through the coupling
    # and must leave every bit the same
    quiet = noisy_network(200, random_state=8)
    silent = noisy_network(200, random_state=8)
    a = quiet.run(duration=0.1, record_hidden=True)
    zeros = np.zeros((1000, silent.electrodes.n_stimulating))
    b = silent.run(Stimulus(zeros, 1e-4, "A"), record_hidden=True)
    assert "stimulation" not in quiet._electrode_coupling
    assert "stimulation" in silent._electrode_coupling
    np.testing.assert_array_equal(a.hidden_state["spike_neurons"], b.hidden_state["spike_neurons"])
    np.testing.assert_array_equal(a.hidden_state["membrane_potential"],
                                  b.hidden_state["membrane_potential"])
    np.testing.assert_array_equal(a.data, b.data)


def test_recording_sees_spikes_of_nearby_neurons():
    net = noisy_network(300, random_state=8)
    rec = net.run(duration=0.5, record_hidden=True)
    assert rec.data.shape == (int(0.5 * net.electrodes.sampling_rate), net.electrodes.n_recording)
    assert rec.unit == "V"
    truth_times = rec.hidden_state["spike_times"]
    truth_neurons = rec.hidden_state["spike_neurons"]
    gain = net.recording_gain
    # channels whose nearest neuron gives a trough far above the noise must detect it
    loud = gain.max(axis=0) > 10 * net.electrodes.noise_rms
    assert loud.any()
    for c in np.flatnonzero(loud)[:5]:
        j = int(np.argmax(gain[:, c]))
        t_true = truth_times[truth_neurons == j]
        t_seen = rec.spike_times[rec.spike_channels == c]
        if t_true.size == 0:
            continue
        nearest = np.abs(t_seen[None, :] - t_true[:, None]).min(axis=1) if t_seen.size else np.inf
        # detection at the trough, within the waveform width of the true time
        assert np.mean(nearest < 1e-3) > 0.9


def test_fixed_detection_thresholds_make_spikes_independent_of_how_a_run_is_cut():
    from substrates import estimate_noise_levels

    net = noisy_network(300, random_state=8)
    whole = net.run(duration=0.4)
    # by default the levels are the recording's own median-absolute-deviation estimate
    np.testing.assert_array_equal(whole.metadata["detection_noise_levels"],
                                  estimate_noise_levels(whole.data))
    levels = np.asarray(whole.metadata["detection_noise_levels"]) * 1.3  # a rig's baseline
    net.reset()
    whole = net.run(duration=0.4, detection_noise_levels=levels)
    net.reset()
    halves = [net.run(duration=0.2, detection_noise_levels=levels) for _ in range(2)]
    assert whole.metadata["detection_noise_levels"] == levels.tolist()
    # the same simulation, the same noise stream and the same thresholds: the same spikes,
    # except within a spike waveform (2 ms) of the cut, where the first half's tails end
    t = np.concatenate([halves[0].spike_times, halves[1].spike_times + 0.2])
    c = np.concatenate([halves[0].spike_channels, halves[1].spike_channels])
    away = lambda times: np.abs(times - 0.2) > 2e-3  # noqa: E731
    np.testing.assert_allclose(t[away(t)], whole.spike_times[away(whole.spike_times)], atol=1e-12)
    np.testing.assert_array_equal(c[away(t)], whole.spike_channels[away(whole.spike_times)])
    for bad in (levels[:-1], np.full(levels.size, np.nan), -levels):
        with pytest.raises(ValueError, match=r"detection_noise_levels must be \d+ finite values >= 0 V"):
            net.run(duration=0.01, detection_noise_levels=bad)


def test_replacing_the_electrodes_rebuilds_their_coupling():
    net = noisy_network(200, random_state=8)
    full = net.recording_gain
    routed = net.electrodes.select(8, strategy="spread", random_state=0)
    net.electrodes = routed
    # the same neurons seen through the 8 routed channels: the same columns of the gains
    columns = np.searchsorted(ElectrodeArray.mea60().recording_electrodes, routed.recording_electrodes)
    np.testing.assert_array_equal(net.recording_gain, full[:, columns])
    assert net.run(duration=0.05).n_channels == 8
    with pytest.raises(TypeError, match="ElectrodeArray"):
        net.electrodes = "mea60"
    far = ElectrodeArray.grid(2, 2, pitch=200e-6).replace(
        positions=ElectrodeArray.grid(2, 2, pitch=200e-6).positions + 1.0)  # 1 m away
    with pytest.raises(ValueError, match="outside the tissue"):
        net.electrodes = far
    assert net.electrodes is routed  # a refused array leaves the old one in place


def test_bad_hidden_sampling_rate_is_named():
    net = noisy_network(50, random_state=1)
    with pytest.raises(ValueError, match="hidden_sampling_rate must be a finite rate > 0 Hz"):
        net.run(duration=0.01, record_hidden=True, hidden_sampling_rate=0.0)
    with pytest.raises(ValueError, match=r"hidden_sampling_rate must divide the simulation rate "
                                         r"1/dt = 10000 Hz"):
        net.run(duration=0.01, record_hidden=True, hidden_sampling_rate=3000.0)


def test_short_term_depression_turns_runaway_activity_into_network_bursts():
    # Strong recurrent excitation: without depression the culture locks into tonic
    # firing; with depression, synapses run down during a burst and the network falls
    # quiet until they recover, so activity comes in bursts (a population rate with a
    # coefficient of variation near 1), as in cultured networks.
    def population(enabled):
        net = SpikingNetwork(
            300, dt=1e-4, neuron=LIFParameters(resting_potential=-65e-3, refractory_period=2e-3),
            synapses=SynapseParameters(excitatory_weight=600e-12, inhibitory_weight=-2400e-12),
            connectivity=ConnectivityParameters(connection_probability=0.2, connection_length=150e-6),
            background=BackgroundParameters(n_inputs=200, rate=10.0, weight=15e-12),
            depression=ShortTermDepressionParameters(enabled=enabled, use=0.5,
                                                     recovery_time_constant=0.8),
            random_state=2,
        )
        times, _ = net.spikes(2.0)
        counts = np.histogram(times, bins=np.arange(0.0, 2.0 + 1e-9, 0.01))[0]
        return times.size / (300 * 2.0), counts.std() / counts.mean()

    tonic_rate, tonic_cv = population(False)
    burst_rate, burst_cv = population(True)
    assert tonic_rate > 5 * burst_rate > 0
    assert tonic_cv < 0.4 < 0.8 < burst_cv


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(dt=0.0), "dt must be"),
        (dict(dt=-1e-4), "dt must be"),
        (dict(dt=2e-3), "cannot resolve"),
        (dict(n_neurons=0), "n_neurons"),
        (dict(excitatory_fraction=1.5), "excitatory_fraction"),
        (dict(tissue=TissueParameters(size=0.5e-3)), "outside the tissue"),
        (dict(tissue=TissueParameters(shape="organoid", size=1.0e-3)), "outside the tissue"),
        (dict(threads=0), "threads must be an integer >= 1"),
        (dict(threads=1.5), "threads must be an integer >= 1"),
    ],
)
def test_bad_construction_is_named(kwargs, fragment):
    kwargs = {"n_neurons": 10, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        SpikingNetwork(**kwargs)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="inhibitory_weight"):
        SynapseParameters(inhibitory_weight=1e-9)
    with pytest.raises(ValueError, match="threshold"):
        LIFParameters(threshold=-70e-3, reset=-60e-3)
    with pytest.raises(ValueError, match="unknown key"):
        LIFParameters.from_dict({"membrane_tau": 1.0})


def test_bad_stimulus_is_named():
    net = isolated_neurons(5, random_state=0)
    n_stim = net.electrodes.n_stimulating
    with pytest.raises(ValueError, match="n_stimulating"):
        net.run(Stimulus.zeros(n_stim + 1, 0.01, 1e-4))
    with pytest.raises(ValueError, match="duration"):
        net.run(duration=-1.0)
    with pytest.raises(ValueError, match="finite|NaN"):
        bad = np.zeros((10, n_stim))
        bad[3, 0] = np.nan
        net.run(Stimulus(bad, 1e-4))


def test_electrodes_outside_an_organoid_footprint_are_listed():
    array = ElectrodeArray.mea60()
    with pytest.raises(ValueError, match=r"electrodes \[") as info:
        SpikingNetwork(10, electrodes=array, tissue=TissueParameters(shape="organoid", size=1.2e-3))
    assert "diameter" in str(info.value)


def test_random_wiring_is_binomial_without_duplicates_or_autapses():
    from substrates.spiking._network import _random_pairs

    rng = np.random.default_rng(0)
    n, p = 2000, 0.04
    source, target = _random_pairs(rng, n, n - 1, p)
    key = source * (n - 1) + target
    assert np.all(np.diff(key) > 0)  # by source, then target, no pair twice
    out_degree = np.bincount(source, minlength=n)
    # Binomial(n - 1, p) rows: mean 79.96, variance 76.8; the mean of 2,000 rows has a
    # standard error of 0.2, so 1.0 is 5 sigma
    assert abs(out_degree.mean() - (n - 1) * p) < 1.0
    assert 0.8 < out_degree.var() / ((n - 1) * p * (1 - p)) < 1.2
    # targets uniform over the candidates: chi-square over 20 bins of 100 candidates
    counts = np.bincount(target // 100, minlength=20)[:19]
    expected = source.size * 100 / (n - 1)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 18 degrees of freedom: P(chi2 > 50) < 1e-4
    net = SpikingNetwork(300, connectivity=ConnectivityParameters(rule="random", connection_probability=0.1),
                         random_state=1)
    table = net.synapse_table
    assert not np.any(table.source == table.target)


@pytest.mark.parametrize("rule", ["random", "distance"])
def test_delay_groups_list_their_targets_in_ascending_order(rule):
    # The kernel cuts each run of synapses with one source and one delay at the target
    # blocks of its threads, which needs the run's targets in ascending order.
    net = SpikingNetwork(
        500, connectivity=ConnectivityParameters(rule=rule, connection_probability=0.2),
        synapses=SynapseParameters(delay=0.5e-3, conduction_velocity=0.2), random_state=2,
    )
    table = net.synapse_table
    assert np.unique(table.delay_steps).size > 5  # many delays per source
    same_group = (table.source[1:] == table.source[:-1]) & (
        table.delay_steps[1:] == table.delay_steps[:-1])
    assert same_group.sum() > 100  # groups of several synapses
    assert np.all(table.target[1:][same_group] > table.target[:-1][same_group])
    # and synapses come by source, then delay (Brian2's delivery order)
    order = np.lexsort((table.delay_steps, table.source))
    np.testing.assert_array_equal(order, np.arange(table.source.size))


def test_float32_keeps_rates_and_f_i_curve():
    # float32 is offered for speed; chaotic networks diverge spike by spike from float64
    # (as they do from any rounding change), so what must survive is the statistics:
    # the population rate of the CUBA network over 2 s within 2 %, and an isolated
    # neuron's firing intervals to one time step.
    from tests.substrates.spiking_networks import cuba_network

    rates = [cuba_network(2000, precision=p).spikes(2.0)[0].size for p in ("float64", "float32")]
    assert abs(rates[1] - rates[0]) / rates[0] < 0.02
    lif = LIFParameters(refractory_period=2e-3)
    trains = []
    for precision in ("float64", "float32"):
        net = isolated_neurons(1, neuron=lif, precision=precision, random_state=1)
        coupling = net.stimulation_coupling[0]
        e = int(np.argmin(coupling))
        stim = np.zeros((10_000, net.electrodes.n_stimulating))
        stim[:, e] = 2.0 * (lif.threshold - lif.resting_potential) / lif.membrane_resistance / coupling[e]
        trains.append(net.run(Stimulus(stim, 1e-4), record_hidden=True).hidden_state["spike_times"])
    assert trains[0].size == trains[1].size
    assert np.max(np.abs(trains[0] - trains[1])) <= 1e-4 + 1e-12


def _everything_on(neuron, threads, **kwargs):
    """A culture with every feature the kernel has: delays of many lengths, short-term
    depression, STDP, background drive, heterogeneous neurons."""
    return SpikingNetwork(
        700, dt=1e-4, neuron=neuron,
        connectivity=ConnectivityParameters(connection_probability=0.3, connection_length=200e-6),
        synapses=SynapseParameters(delay=0.5e-3, conduction_velocity=0.2, weight_cv=0.3,
                                   **kwargs),
        depression=ShortTermDepressionParameters(enabled=True, use=0.3),
        stdp=STDPParameters(enabled=True, learning_rate=0.05),
        background=BackgroundParameters(n_inputs=200, rate=10.0, weight=60e-12),
        threshold_sd=1e-3, capacitance_cv=0.1, threads=threads, random_state=11,
    )


@pytest.mark.parametrize("neuron", [LIFParameters(resting_potential=-55e-3), AdExParameters()],
                         ids=["lif", "adex"])
def test_threads_do_not_change_the_bits(neuron):
    # Blocks of neurons on several threads: every neuron must see the same arithmetic in
    # the same order as on one thread, so spikes, potentials, synaptic state and
    # STDP-changed weights agree bit for bit. Two blocks run on two threads in one
    # parallel region (where Numba has two); eleven blocks (700 neurons: up to 11
    # blocks of 64) take turns on one thread.
    import numba

    stim = Stimulus.biphasic(60, 0.15, 1e-4, rate=50.0, amplitude=20e-6, phase_width=2e-4,
                             channels=[10, 27, 40])
    results = []
    for threads in (1, 2, 11):
        net = _everything_on(neuron, threads)
        assert net._n_blocks() == threads
        rec = net.run(stim, record_hidden=True, hidden_sampling_rate=2000.0)
        expected_threads = 2 if threads == 2 and numba.get_num_threads() >= 2 else 1
        assert rec.metadata["threads"] == expected_threads
        more = net.spikes(0.05)
        results.append((rec, more, net.state, net.synapse_table.weight))
    (rec, more, state, weight) = results[0]
    assert rec.hidden_state["spike_times"].size > 500  # an active network
    assert np.any(weight != _everything_on(neuron, 1).synapse_table.weight)  # STDP acted
    for other_rec, other_more, other_state, other_weight in results[1:]:
        for key in ("spike_times", "spike_neurons", "membrane_potential"):
            np.testing.assert_array_equal(other_rec.hidden_state[key], rec.hidden_state[key])
        np.testing.assert_array_equal(other_rec.data, rec.data)
        np.testing.assert_array_equal(other_more[1], more[1])
        np.testing.assert_array_equal(other_more[0], more[0])
        for a, b in zip(other_state, state):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(other_weight, weight)


_FORK_RIGHT_AFTER_BUILDING = """
import os, sys
sys.path.insert(0, sys.argv[1])
from tests.substrates.spiking_networks import noisy_network
net = noisy_network(300)  # building it starts Numba's set-up in a background thread
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    with os.fdopen(write, "wb") as out:
        out.write(net.spikes(0.1)[1].tobytes())
    os._exit(0)
os.close(write)
with os.fdopen(read, "rb") as incoming:
    received = incoming.read()
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
expected = net.spikes(0.1)[1].tobytes()  # the same network from the same state
assert received == expected and len(expected) > 0, (len(received), len(expected))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_fork_right_after_building_a_network_can_still_simulate():
    # Building a network sets Numba up in a background thread, under Numba's compiler
    # lock; a child forked meanwhile would inherit the lock held by a thread it does
    # not have and wait forever at its first kernel (it did, before the fork hook).
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _FORK_RIGHT_AFTER_BUILDING, str(root)],
                          timeout=240, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_changing_threads_between_runs_keeps_the_queued_spikes():
    # Each block of neurons queues its spikes in its own region of the spike queue;
    # when the next run cuts the network into other blocks, the spikes still in flight
    # (delays of 0.5-8 ms here) are laid out again, in the same order, and the network
    # goes on as if it had kept one thread: the same bits. The potential is compared at
    # every step (a change in the order of a neuron's inputs shows in its last bits for
    # a few steps, until larger inputs round it away).
    neuron = LIFParameters(resting_potential=-55e-3)
    stim = Stimulus.biphasic(60, 0.1, 1e-4, rate=50.0, amplitude=20e-6, phase_width=2e-4,
                             channels=[10, 27, 40])

    def hidden(rec):
        return rec.hidden_state["spike_times"], rec.hidden_state["membrane_potential"]

    every_step = dict(record_hidden=True, hidden_sampling_rate=1e4)
    one = _everything_on(neuron, 1)
    assert one._n_slots > 5  # delays of several steps: spikes stay queued between runs
    reference = [hidden(one.run(stim, **every_step))]
    reference += [hidden(one.run(duration=0.03, **every_step)) for _ in range(3)]
    net = _everything_on(neuron, 11)
    results = [hidden(net.run(stim, **every_step))]
    pending = [int(net._queue_len.sum())]
    for threads in (2, 1, 11):
        net.threads = threads
        results.append(hidden(net.run(duration=0.03, **every_step)))
        pending.append(int(net._queue_len.sum()))
        assert net._queue_len.shape[0] == threads  # one region per block
    assert min(pending) > 0  # every change of layout had spikes in flight
    for (times, potentials), (expected_times, expected_potentials) in zip(results, reference):
        np.testing.assert_array_equal(times, expected_times)
        np.testing.assert_array_equal(potentials, expected_potentials)
    for a, b in zip(net.state, one.state):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.synapse_table.weight, one.synapse_table.weight)


@pytest.mark.parametrize("threads", [1, 2])
def test_refractory_neurons_hold_their_reset_potential(threads):
    # Brian2's "unless refractory": for refractory_period after its spike step a neuron's
    # potential stays exactly at the reset value, whatever its synaptic input (the
    # kernel integrates refractory LIF neurons anyway and puts the frozen value back
    # before anyone reads v), and it cannot spike.
    lif = LIFParameters(resting_potential=-49e-3, refractory_period=2e-3, reset=-60e-3)
    net = SpikingNetwork(300, dt=1e-4, neuron=lif, initial_potential=(-60e-3, -50e-3),
                         connectivity=ConnectivityParameters(connection_probability=0.3),
                         threads=threads, random_state=12)
    rec = net.run(duration=0.1, record_hidden=True, hidden_sampling_rate=1e4)
    v = rec.hidden_state["membrane_potential"]  # row k: v(k dt), before step k
    steps = np.rint(rec.hidden_state["spike_times"] / 1e-4).astype(int)
    neurons = rec.hidden_state["spike_neurons"]
    assert steps.size > 300
    refractory_steps = 20
    held = 0
    for s, i in zip(steps, neurons):
        rows = np.arange(s + 1, min(s + 1 + refractory_steps, v.shape[0]))
        assert np.all(v[rows, i] == -60e-3)
        held += rows.size
        later = neurons[(steps > s) & (steps < s + refractory_steps)]
        assert i not in later
    assert held > 1000
    # a run that ends inside refractory periods leaves their frozen potentials in place
    state = net.state
    step = state.step
    still = step - state.last_spike_step < refractory_steps
    assert still.sum() > 0
    np.testing.assert_array_equal(state.membrane_potential[still], -60e-3)
    # and the state left behind continues exactly: 0.1 s then 0.05 s is one 0.15 s run
    tail = net.spikes(0.05)
    net.reset()
    whole = net.spikes(0.15)
    late = whole[0] >= 0.1 - 1e-12
    np.testing.assert_array_equal(whole[1][late], tail[1])


def test_prefetch_is_only_a_hint():
    from numba import njit

    @njit
    def summed(a, index):
        total = 0.0
        for k in range(index.shape[0]):
            prefetch(a, index[k])
        for k in range(index.shape[0]):
            total += a[index[k]]
        return total

    a = np.arange(1000, dtype=np.float32)
    for dtype in (np.int32, np.int64, np.uint16):
        index = np.array([3, 999, 0, 512], dtype=dtype)
        assert summed(a, index) == 3 + 999 + 0 + 512
    with pytest.raises(Exception, match="prefetch"):
        summed(np.zeros((3, 3)), np.array([0]))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.float32, np.float64])
def test_prefetch_range_is_only_a_hint_for_any_range(dtype):
    from numba import njit

    @njit
    def summed(a, start, stop):
        prefetch_range(a, start, stop)
        total = 0.0
        for k in range(start, stop):
            total += a[k]
        return total

    a = np.arange(100, dtype=dtype)
    # empty, reversed, one element, the ends, ranges that straddle cache lines
    for start, stop in [(0, 0), (5, 3), (0, 1), (99, 100), (0, 100), (15, 17), (7, 71)]:
        assert summed(a, start, stop) == float(a[start:stop].sum())
    with pytest.raises(Exception, match="prefetch"):
        summed(np.zeros((3, 3)), 0, 1)
