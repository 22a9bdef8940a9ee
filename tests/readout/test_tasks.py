"""Benchmark tasks: memory-capacity bound, the reservoirpy baseline, encodings, a spiking network."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readout._esn import ESN_PRESETS, esn_states
from readout._tasks import (
    NARMA10,
    BasicMotions,
    Henon,
    JapaneseVowels,
    MackeyGlass,
    MemoryCapacity,
    SpokenDigits,
    memory_capacity,
    narma10,
    nrmse,
)
from substrates import ElectrodeArray, SpikingNetwork, Stimulus


# ---------------------------------------------------------------- memory capacity
def _near_linear_esn(n_units, inputs, spectral_radius, seed):
    """tanh reservoir with an orthogonal recurrent matrix, driven by a tiny input (linear regime)."""
    from scipy.stats import ortho_group

    rng = np.random.default_rng(seed)
    w = spectral_radius * ortho_group.rvs(n_units, random_state=rng)
    v = rng.uniform(-1.0, 1.0, n_units)
    states = np.empty((inputs.size, n_units))
    x = np.zeros(n_units)
    for t, u in enumerate(inputs):
        x = np.tanh(w @ x + v * u)
        states[t] = x
    return states


@settings(max_examples=6, deadline=None)
@given(n_units=st.integers(20, 50), spectral_radius=st.floats(0.85, 0.95),
       seed=st.integers(0, 2**31 - 1))
def test_memory_capacity_of_a_linear_reservoir_is_close_to_n_and_never_above(
        n_units, spectral_radius, seed):
    # Jaeger (2001): for i.i.d. input, N linearly independent state features and a linear
    # readout, MC = sum_k r2_k <= N. In a finite test set the bound becomes: r2_k is at most
    # the squared multiple correlation of u[t-k] with the test states, and the sum of those
    # is trace(P C~) <= sum of the N largest eigenvalues of the correlation matrix of the
    # delayed test inputs (Ky Fan), which tends to N as the test set grows. A large test set
    # (4000 steps) and a held-out score (the readout cannot fit the noise it is scored on)
    # keep the finite-sample excess far below the margin: in practice MC stays under N.
    n_steps = 4000
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, 2 * n_steps)
    states = _near_linear_esn(n_units, 1e-4 * u, spectral_radius, seed)  # |W x + v u| < 1e-2
    max_delay = 3 * n_units  # rho^(3N) < 0.001 of the input variance is left beyond it
    mc = memory_capacity(states, u, max_delay, n_train=n_steps)
    rows = np.arange(n_steps, 2 * n_steps)
    delayed = np.stack([u[rows - k] for k in range(1, max_delay + 1)], axis=1)
    eigen = np.sort(np.linalg.eigvalsh(np.corrcoef(delayed, rowvar=False)))[::-1]
    assert mc <= eigen[:n_units].sum() + 1e-9  # the exact finite-sample bound (round-off slack)
    assert mc <= n_units
    # a linear network with an orthogonal matrix keeps nearly all of it (White et al. 2004);
    # 0.9 N leaves room for the delays past max_delay and the ridge's shrinkage
    assert mc >= 0.9 * n_units


def test_memory_capacity_of_a_delay_line_is_its_length():
    # states holding exactly u[t], u[t-1], u[t-2]: delays 1 and 2 are recalled perfectly,
    # later ones not at all (their correlation with the states is chance, ~1/n_test each)
    u = np.random.default_rng(0).uniform(-1, 1, 4000)
    states = np.stack([np.roll(u, k) for k in range(3)], axis=1)
    from readout._tasks import memory_curve

    curve = memory_curve(states, u, 6)
    np.testing.assert_allclose(curve[:2], 1.0, atol=1e-6)  # ridge shrinkage at alpha >= 1e-8
    assert np.all(curve[2:] < 0.01)  # chance r2 ~ 1/2000, 0.01 is ~20 of its sd


# ---------------------------------------------------------------- the reservoirpy baseline
def _reservoirpy_pipeline(task, n_units, seed):
    """reservoirpy's own ESN + Ridge, penalty by hold-out validation on the training part."""
    from reservoirpy.nodes import Reservoir, Ridge

    params = ESN_PRESETS[task.esn_preset]
    u, y = task.esn_inputs(), task.data().targets
    reservoir = Reservoir(n_units, lr=params["leak_rate"], sr=params["spectral_radius"],
                          input_scaling=params["input_scaling"], seed=seed)
    model = reservoir >> Ridge()
    n_train, warmup = task.n_train, task.warmup
    n_val = (n_train - warmup) // 5
    states = reservoir.run(u)
    fit, val = slice(warmup, n_train - n_val), slice(n_train - n_val, n_train)

    def val_error(ridge):
        return nrmse(y[val], Ridge(ridge=ridge).fit(states[fit], y[fit]).run(states[val]))

    best = min(10.0 ** np.arange(-9, 1), key=val_error)
    model = Reservoir(n_units, lr=params["leak_rate"], sr=params["spectral_radius"],
                      input_scaling=params["input_scaling"], seed=seed) >> Ridge(ridge=best)
    model.fit(u[:n_train], y[:n_train], warmup=warmup)
    return nrmse(y[n_train:], model.run(u[n_train:]))


@pytest.mark.parametrize("task", [NARMA10(), Henon()], ids=lambda t: t.name)
def test_esn_baseline_reproduces_reservoirpy(task):
    n_units, n_seeds = 100, 6
    ours = np.array([task.esn_score(n_units, random_state=k) for k in range(n_seeds)])
    theirs = np.array([_reservoirpy_pipeline(task, n_units, 1000 + k) for k in range(n_seeds)])
    # independent reservoirs on the same data: the means agree within 3 standard errors
    # (Welch), plus 0.01 NRMSE for the readouts' different penalty searches
    se = math.sqrt(ours.var(ddof=1) / n_seeds + theirs.var(ddof=1) / n_seeds)
    assert abs(ours.mean() - theirs.mean()) <= 3 * se + 0.01
    # and both learn the task (NRMSE 1 is predicting the mean)
    assert ours.max() < 0.6 and theirs.max() < 0.6


def test_esn_states_match_reservoirpy_update_rule():
    # x[t] = (1 - lr) x[t-1] + lr tanh(W x[t-1] + W_in u[t]) with reservoirpy's own matrices
    from reservoirpy.nodes import Reservoir

    u = np.random.default_rng(1).uniform(-1, 1, (60, 2))
    seed = int(np.random.default_rng(7).integers(0, 2**63 - 1))
    x = esn_states(u, 30, spectral_radius=0.8, leak_rate=0.4, input_scaling=0.5, random_state=7)
    res = Reservoir(30, lr=0.4, sr=0.8, input_scaling=0.5, seed=seed)
    res.initialize(u)
    w, w_in = res.W.toarray(), res.Win.toarray()
    assert abs(np.max(np.abs(np.linalg.eigvals(w)))) == pytest.approx(0.8, rel=1e-6)
    state, ref = np.zeros(30), []
    for row in u:
        state = 0.6 * state + 0.4 * np.tanh(w @ state + w_in @ row)
        ref.append(state)
    np.testing.assert_allclose(x, ref, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- data and encodings
def test_narma10_matches_its_definition():
    u = np.random.default_rng(0).uniform(0, 0.5, 300)
    y = narma10(u)
    for t in range(9, 299):
        expected = (0.3 * y[t] + 0.05 * y[t] * y[t - 9:t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1)
        assert y[t + 1] == pytest.approx(expected, rel=1e-12)
    assert np.all((y[1:] > 0) & (y[1:] < 1))  # the stable NARMA10 regime


@pytest.mark.parametrize("make", [
    lambda s: MemoryCapacity(n_train=50, n_test=50, max_delay=5, data_seed=s),
    lambda s: NARMA10(n_train=150, n_test=50, data_seed=s),
    lambda s: MackeyGlass(n_train=150, n_test=50, data_seed=s),
    lambda s: Henon(n_train=150, n_test=50, data_seed=s),
    lambda s: JapaneseVowels(n_train=2, n_test=1, data_seed=s),
    lambda s: JapaneseVowels(subset=True, n_train=2, n_test=1, data_seed=s),
    lambda s: BasicMotions(n_train=1, n_test=1, data_seed=s),
    lambda s: SpokenDigits(n_train=1, n_test=1, data_seed=s),
], ids=["memory", "narma10", "mackey_glass", "henon", "vowels", "vowels_subset", "motions", "digits"])
def test_task_data_is_deterministic_under_its_seed(make):
    a, b, c = make(0).data(), make(0).data(), make(1).data()
    for x, y in zip(a, b):
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.raw, c.raw)  # another seed, other data (or clip order)
    # inputs normalised by the training part only (warm-up included): it spans [0, 1]
    # exactly, the test stays inside
    inputs = a.inputs[~a.silent]
    train = ~a.test[~a.silent]
    np.testing.assert_allclose(inputs[train].min(axis=0), 0.0, atol=0)
    np.testing.assert_allclose(inputs[train].max(axis=0), 1.0, atol=0)
    assert inputs.min() >= 0.0 and inputs.max() <= 1.0


def test_classification_split_sizes():
    d = JapaneseVowels.full().data()
    assert d.clip_train.sum() == 270 and (~d.clip_train).sum() == 370  # the UCI split
    d = JapaneseVowels.full(subset=True).data()
    assert np.bincount(d.labels[d.clip_train]).tolist()[1:] == [20] * 8
    assert np.bincount(d.labels[~d.clip_train]).tolist()[1:] == [10] * 8
    d = SpokenDigits.full().data()
    assert d.clip_train.sum() == 200 and (~d.clip_train).sum() == 100


def _pulse_onsets(column, samples_per_step):
    """Pulses (cathodic onsets) per step on one stimulation channel."""
    onset = (column < 0) & np.concatenate([[True], column[:-1] >= 0])
    return onset.reshape(-1, samples_per_step).sum(axis=1)


@pytest.fixture(scope="module")
def network():
    return SpikingNetwork(200, electrodes=ElectrodeArray.mea60(), random_state=0)


def test_rate_encoding_of_a_sequence_task(network):
    task = NARMA10(n_train=120, n_test=30, warmup=20)
    stim = task.stimulus(network)
    enc = network.encoding
    per_step = round(enc["hold"] / network.dt)
    assert stim.data.shape == (task.n_steps * per_step, network.electrodes.n_stimulating)
    (channel,) = task.input_channels(network.electrodes)
    assert np.flatnonzero(np.abs(stim.data).sum(axis=0)).tolist() == [channel]
    # a channel nearest the array's centre carries the single input (the 8x8 grid has
    # four tied ones; rounding of the centroid makes their distances differ by ulps)
    positions = network.electrodes.stimulating_positions
    centre = np.linalg.norm(positions - positions.mean(axis=0), axis=1)
    assert centre[channel] == pytest.approx(centre.min(), rel=1e-9)
    # pulses per step = round(u * hold * max_rate) with u the [0, 1]-normalised input
    n_max = math.floor(enc["hold"] * enc["max_rate"] + 1e-9)
    expected = np.floor(task.data().inputs[:, 0] * n_max + 0.5)
    np.testing.assert_array_equal(_pulse_onsets(stim.data[:, channel], per_step), expected)
    assert np.all(np.abs(stim.charge) < 1e-18)  # charge-balanced biphasic pulses


def test_vowels_use_threshold_pulses_on_12_spread_electrodes(network):
    task = JapaneseVowels(subset=True, n_train=1, n_test=1)
    stim = task.stimulus(network)
    d = task.data()
    channels = task.input_channels(network.electrodes)
    assert len(set(channels.tolist())) == 12
    per_step = round(network.encoding["hold"] / network.dt)
    threshold = np.median(d.inputs[d.train], axis=0)
    for f, c in enumerate(channels):
        fires = (~d.silent) & (d.inputs[:, f] > threshold[f])
        np.testing.assert_array_equal(_pulse_onsets(stim.data[:, c], per_step), fires.astype(float))
    # spread: the 12 electrodes are farther apart than 12 neighbours on the 200 um grid
    pos = network.electrodes.stimulating_positions[channels]
    gaps = np.linalg.norm(pos[:, None] - pos[None], axis=2) + np.eye(12)
    assert gaps.min() >= 400e-6 - 1e-12


def test_amplitude_encoding_and_silent_gaps():
    class Gel:  # an amplitude-coded substrate stand-in: only what stimulus() reads
        electrodes = ElectrodeArray.grid(4, 4)
        dt = 1e-3
        hidden_state_keys = ()
        programmable = False

        def __init__(self):
            self.encoding = {"hold": 5e-3, "mode": "amplitude", "amplitude": 2e-9, "unit": "A"}

        def reset(self, seed=None):
            pass

        def run(self, *a, **k):
            raise AssertionError("not needed")

    task = BasicMotions(n_train=1, n_test=1)
    stim = task.stimulus(Gel())
    d = task.data()
    assert isinstance(stim, Stimulus) and stim.unit == "A"
    values = stim.data[::5][:, task.input_channels(Gel.electrodes)] / 2e-9
    np.testing.assert_allclose(values, np.where(d.silent[:, None], 0.0, 2 * d.inputs - 1),
                               rtol=1e-12, atol=1e-12)


def test_more_inputs_than_stimulating_electrodes_is_a_named_error():
    small = SpikingNetwork(20, electrodes=ElectrodeArray.grid(2, 2), random_state=0)
    with pytest.raises(ValueError, match=r"n_inputs = 12 .* n_stimulating = 4"):
        JapaneseVowels().stimulus(small)
    with pytest.raises(ValueError, match=r"n_inputs = 13 .* n_stimulating = 4"):
        SpokenDigits().run(small)


# ---------------------------------------------------------------- a real substrate
def test_spiking_network_remembers_its_input(network):
    # Behaviour, not "it ran": the stimulated network's recording recalls past inputs; the
    # same network run as long without stimulus (a recording with no information about u)
    # does not. Chance MC with a held-out score is ~max_delay / n_test = 0.03.
    task = MemoryCapacity(n_train=250, n_test=150, max_delay=5, warmup=10)
    recording = task.run(network, random_state=1)
    assert recording.metadata["hold"] == network.encoding["hold"]
    mc = task.score(recording)
    network.reset(1)
    quiet = network.run(duration=task.n_steps * network.encoding["hold"])
    mc_quiet = task.score(quiet, substrate_hold=network.encoding["hold"])
    assert mc > 0.8  # measured 1.36 (seed 1); one delay's worth of memory is the floor here
    assert mc_quiet < 0.2
    # scoring is deterministic: the same recording, the same number, bit for bit
    assert task.score(recording) == mc
    # and the electrode-study contract: features of a channel subset are columns of the full
    features, times = task.features(recording)
    sub, _ = task.features(recording, channels=[5, 2])
    np.testing.assert_array_equal(sub, features[:, [5, 2, 65, 62, 125, 122]])
    np.testing.assert_allclose(times[-1], recording.duration, rtol=1e-12)
