"""Query design: the budget, the stimulus generators and query-by-committee selection.

The substrate and the students here are small stand-ins written in this file (a noisy
linear filter and a ridge on lagged inputs), so these tests check the query machinery
alone, with answers known in closed form.
"""

import math

import numpy as np
import pytest

from distill._query import (
    QueryBudget,
    active_learning_loop,
    chirp_queries,
    committee_disagreement,
    fit_committee,
    pink_noise_queries,
    pulse_train_queries,
    select_active,
    task_queries,
    white_noise_queries,
)
from substrates import Recording, Stimulus


# ----------------------------------------------------------------------------- stand-ins
class FilterSubstrate:
    """y_k(t) = sum_j h[j] u_k(t - j) + noise: one recording channel per stimulation channel."""

    dt = 1e-3
    hidden_state_keys = ()
    encoding = property(lambda self: {"hold": 10e-3, "mode": "amplitude", "amplitude": 1e-6,
                                      "unit": "A"})
    programmable = False

    def __init__(self, n_channels=2, kernel=(0.0, 1.0, 0.5), noise=0.05):
        self.n_channels = n_channels
        self.kernel = np.asarray(kernel)
        self.noise = noise
        self.runs = 0
        self.reset()

    def reset(self, seed=None):
        self.rng = np.random.default_rng(0 if seed is None else seed)

    def run(self, stimulus, duration=None, **kwargs):
        self.runs += 1
        u = stimulus.data / 1e-6
        y = np.stack([np.convolve(u[:, k], self.kernel)[: u.shape[0]]
                      for k in range(u.shape[1])], axis=1)
        y = y + self.noise * self.rng.standard_normal(y.shape)
        return Recording(y, 1.0 / self.dt, "V", electrode_positions=np.zeros((y.shape[1], 3)))


class LaggedRidge:
    """Least squares (tiny ridge) on n_lags lagged inputs, per output channel."""

    def __init__(self, n_lags=3, alpha=1e-6, seed=0):
        self.n_lags, self.alpha, self.seed = n_lags, alpha, seed

    def _design(self, stimulus):
        u = stimulus.data / 1e-6
        lags = [np.vstack([np.zeros((j, u.shape[1])), u[: u.shape[0] - j]])
                for j in range(self.n_lags)]
        return np.concatenate(lags, axis=1)

    def fit(self, stimuli, recordings):
        X = np.concatenate([self._design(s) for s in stimuli])
        Y = np.concatenate([r.data for r in recordings])
        self.coef_ = np.linalg.solve(X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ Y)
        return self

    def predict(self, stimulus):
        return self._design(stimulus) @ self.coef_


class Gain:
    """A 'fitted student' predicting gains @ stimulus: its disagreement is known exactly."""

    def __init__(self, gains):
        self.gains = np.asarray(gains, dtype=float)

    def predict(self, stimulus):
        return (stimulus.data @ self.gains)[:, None]


# ----------------------------------------------------------------------------- budget
def test_budget_counts_seconds_and_refuses_past_it():
    budget = QueryBudget(1.0)
    budget.charge(0.1, label="a")
    budget.charge(0.2)
    budget.charge(0.7)  # 0.1 + 0.2 + 0.7 != 1.0 in floats; the 1e-9 allowance accepts it
    assert budget.remaining == pytest.approx(0.0, abs=1e-12)
    assert [label for label, _ in budget.log] == ["a", "", ""]
    with pytest.raises(ValueError, match=r"query of 0.01 s exceeds the budget: 1 s of 1 s"):
        budget.charge(0.01)
    assert budget.spent == pytest.approx(1.0)  # a refused query is not charged
    with pytest.raises(ValueError, match="seconds must be > 0"):
        QueryBudget(0.0)
    with pytest.raises(ValueError, match="finite"):
        QueryBudget(float("nan"))
    with pytest.raises(ValueError, match=">= 0"):
        QueryBudget(1.0).charge(-0.5)


def test_budget_record_charges_before_running_and_repeats_are_all_or_nothing():
    sub = FilterSubstrate()
    stim = Stimulus(np.ones((100, 2)) * 1e-6, 1e-3)  # 0.1 s
    budget = QueryBudget(0.35)
    rec = budget.record(sub, stim, seed=3)
    assert rec.n_samples == 100 and budget.spent == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"3 repeats of 0.1 s \(0.3 s\) exceed the budget"):
        budget.record_repeats(sub, stim, 3, random_state=0)
    assert sub.runs == 1 and budget.spent == pytest.approx(0.1)  # nothing ran, nothing charged
    reps = budget.record_repeats(sub, stim, 2, random_state=0)
    assert sub.runs == 3 and budget.spent == pytest.approx(0.3)
    # repeats differ only by noise: the noise seeds differ, the signal is the same
    diff = reps[0].data - reps[1].data
    assert 0 < np.std(diff) < 3 * math.sqrt(2) * sub.noise  # noise sd sqrt(2) * 0.05
    # same random_state, same seeds, same bits
    again = QueryBudget(1.0).record_repeats(FilterSubstrate(), stim, 2, random_state=0)
    assert np.array_equal(again[0].data, reps[0].data)
    with pytest.raises(ValueError, match=r"query of 0.1 s exceeds the budget"):
        budget.record(sub, stim)


# ----------------------------------------------------------------------------- generators
def test_white_noise_queries_are_safe_reproducible_and_drive_n_driven_channels():
    kw = {"n_channels": 8, "rms": 1e-6, "max_amplitude": 2.5e-6, "n_driven": 3,
          "random_state": 1}
    qs = white_noise_queries(20, 0.5, 1e-4, **kw)
    again = white_noise_queries(20, 0.5, 1e-4, **kw)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(qs, again))
    data = np.stack([q.data for q in qs])
    assert np.abs(data).max() <= 2.5e-6  # clipped at the safe limit
    assert all(np.count_nonzero(q.rms) == 3 for q in qs)
    # the driven subsets differ across queries (20 draws of 3 of 8 channels)
    assert len({tuple(np.flatnonzero(q.rms)) for q in qs}) > 5
    # rms about 1 uA: clipping at 2.5 sd removes 1.1 % of variance (truncated Gaussian),
    # and 20 x 3 x 5000 samples give a relative standard error of 0.3 %
    driven = data[np.abs(data) > 0]
    assert np.sqrt(np.mean(driven**2)) == pytest.approx(1e-6 * math.sqrt(1 - 0.011), rel=0.01)
    with pytest.raises(ValueError, match="stimulus is unsafe"):
        white_noise_queries(1, 0.5, 1e-4, n_channels=1, rms=1e-6, max_amplitude=2e-6,
                            clip=False, random_state=0)
    with pytest.raises(ValueError, match="n_driven must be at most the 2 channels"):
        white_noise_queries(1, 0.5, 1e-4, n_channels=8, rms=1e-6, max_amplitude=2e-6,
                            channels=[0, 5], n_driven=3)
    with pytest.raises(ValueError, match=r"channels must lie in \[0, 7\]"):
        white_noise_queries(1, 0.5, 1e-4, n_channels=8, rms=1e-6, max_amplitude=2e-6,
                            channels=[9])
    with pytest.raises(ValueError, match="max_amplitude must be > 0"):
        white_noise_queries(1, 0.5, 1e-4, n_channels=8, rms=1e-6, max_amplitude=-1.0)


def test_pink_noise_queries_only_touch_allowed_channels():
    qs = pink_noise_queries(5, 1.0, 1e-3, n_channels=6, rms=1e-6, max_amplitude=3e-6,
                            channels=[1, 4], random_state=2)
    for q in qs:
        assert np.abs(q.data).max() <= 3e-6
        assert np.flatnonzero(q.rms).tolist() == [1, 4]
    # pink: more power below 10 Hz than above 100 Hz, by about the 1/f ratio of the bands
    spectrum = np.mean([np.abs(np.fft.rfft(q.data[:, 1])) ** 2 for q in qs], axis=0)
    f = np.fft.rfftfreq(1000, 1e-3)
    low = spectrum[(f > 0) & (f < 10)].mean()
    high = spectrum[(f > 100) & (f < 500)].mean()
    assert low / high > 10  # 1/f predicts ~55 (mean 1/f over the two bands); 10 is lenient


def test_chirp_queries_sweep_the_range_with_the_right_number_of_cycles():
    f0, f1, T = 5.0, 80.0, 2.0
    qs = chirp_queries(6, T, 1e-4, n_channels=2, amplitude=1e-6, f_range=(f0, f1),
                       max_amplitude=1e-6, random_state=3)
    # a logarithmic chirp advances by 2 pi int f dt = 2 pi T (f1 - f0) / ln(f1 / f0) either
    # direction: cycles = 2 x 75 / ln 16 = 54.1; zero crossings are 2 per cycle, +-1 at the ends
    cycles = T * (f1 - f0) / math.log(f1 / f0)
    directions = set()
    for q in qs:
        assert np.abs(q.data).max() <= 1e-6 + 1e-18
        for k in range(2):
            x = q.data[:, k]
            crossings = np.count_nonzero(np.signbit(x[1:]) != np.signbit(x[:-1]))
            assert abs(crossings - 2 * cycles) <= 2
        first = q.data[:2000, 0]
        directions.add(np.count_nonzero(np.diff(np.signbit(first))) > 2 * 0.2 * 30)
    assert directions == {True, False}  # both sweep directions occur in 6 queries
    with pytest.raises(ValueError, match="f_range must satisfy"):
        chirp_queries(1, T, 1e-4, n_channels=1, amplitude=1e-6, f_range=(10.0, 5.0),
                      max_amplitude=1e-6)
    with pytest.raises(ValueError, match="stimulus is unsafe"):
        chirp_queries(1, T, 1e-4, n_channels=1, amplitude=2e-6, f_range=(5.0, 10.0),
                      max_amplitude=1e-6)


def test_pulse_train_queries_are_charge_balanced_at_rates_in_range():
    low, high, T = 4.0, 40.0, 2.0
    qs = pulse_train_queries(10, T, 1e-4, n_channels=5, amplitude=10e-6, rate_range=(low, high),
                             max_amplitude=10e-6, phase_width=200e-6, random_state=4)
    again = pulse_train_queries(10, T, 1e-4, n_channels=5, amplitude=10e-6,
                                rate_range=(low, high), max_amplitude=10e-6, random_state=4)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(qs, again))  # same seed, same bits
    rates = []
    for q in qs:
        assert np.all(np.abs(q.charge) < 1e-18)  # biphasic: zero net charge on every channel
        assert np.abs(q.data).max() == pytest.approx(10e-6)
        for k in range(5):
            onsets = np.flatnonzero((q.data[1:, k] < 0) & (q.data[:-1, k] >= 0)) + 1
            onsets = np.concatenate([[0], onsets]) if q.data[0, k] < 0 else onsets
            period = np.diff(onsets) * 1e-4
            assert np.ptp(period) <= 1.01e-4  # a regular train, up to rounding to the grid
            rates.append(1.0 / period.mean())
    rates = np.array(rates)
    assert rates.min() >= low * 0.99 and rates.max() <= high * 1.01
    # log-uniform: half the rates below the geometric mean sqrt(4 * 40) = 12.6 Hz;
    # 50 draws give a binomial sd of 3.5 on 25
    assert 25 - 4 * 3.5 < np.count_nonzero(rates < math.sqrt(low * high)) < 25 + 4 * 3.5


def test_task_queries_match_stimulus_encode_and_check_safety():
    enc = {"hold": 20e-3, "mode": "rate", "amplitude": 20e-6, "max_rate": 200.0,
           "pulse_width": 200e-6, "unit": "A"}
    rng = np.random.default_rng(5)
    xs = [rng.random((8, 2)), rng.random((5, 2))]
    qs = task_queries(xs, encoding=enc, dt=1e-4, n_channels=60, max_amplitude=20e-6,
                      channel_map=[3, 7])
    assert len(qs) == 2 and qs[1].data.shape == (1000, 60)
    expected = Stimulus.encode(xs[0], hold=20e-3, dt=1e-4, amplitude=20e-6, mode="rate",
                               max_rate=200.0, pulse_width=200e-6, channel_map=[3, 7],
                               n_channels=60)
    assert np.array_equal(qs[0].data, expected.data)
    with pytest.raises(ValueError, match="stimulus is unsafe"):
        task_queries(xs[0], encoding=enc, dt=1e-4, n_channels=60, max_amplitude=10e-6)
    with pytest.raises(TypeError, match="encoding must be a dict with 'hold'"):
        task_queries(xs[0], encoding={"mode": "rate"}, dt=1e-4, n_channels=60,
                     max_amplitude=10e-6)


# ----------------------------------------------------------------------------- selection
def test_committee_disagreement_matches_its_closed_form():
    # students agree on channel 0 (gain 1) and disagree on channel 1 (gains 0, 1, 2, 3):
    # across-student variance of g1 * u1 is var(g1) u1^2 = 1.25 u1^2
    students = [Gain([1.0, g]) for g in (0.0, 1.0, 2.0, 3.0)]
    rng = np.random.default_rng(6)
    u = [rng.normal(size=(200, 1)) for _ in range(4)]
    zero = np.zeros((200, 1))
    cands = [Stimulus(np.hstack([u[0], zero]), 1e-3),        # channel 0 only: no dispute
             Stimulus(np.hstack([zero, u[1]]), 1e-3),        # channel 1, amplitude 1
             Stimulus(np.hstack([zero, 3.0 * u[2]]), 1e-3),  # channel 1, amplitude 3
             Stimulus(np.hstack([u[3], 0.5 * u[3]]), 1e-3)]
    scores = committee_disagreement(cands, students)
    all_preds = np.concatenate([s.predict(c).ravel() for c in cands for s in students])
    scale = all_preds.var()
    mean_sq = [np.mean(c.data[:, 1] ** 2) for c in cands]
    expected = [1.25 * m / scale for m in mean_sq]
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-15)  # float round-off
    assert scores[0] == 0.0
    # invariant to the output's scale (the normaliser divides it out)
    scaled = committee_disagreement(cands, [Gain(1e3 * s.gains) for s in students])
    np.testing.assert_allclose(scaled, scores, rtol=1e-10)
    assert select_active(cands, students, 2, random_state=0).tolist() == [2, 1]
    with pytest.raises(ValueError, match="at least 2 fitted students"):
        committee_disagreement(cands, students[:1])
    with pytest.raises(ValueError, match="n_select must be at most the 4 candidates"):
        select_active(cands, students, 5)


def test_select_active_breaks_ties_at_random_but_reproducibly():
    students = [Gain([1.0]), Gain([2.0])]
    cands = [Stimulus(np.ones((10, 1)), 1e-3) for _ in range(6)]  # all tied
    picks = {tuple(select_active(cands, students, 2, random_state=s).tolist()) for s in range(10)}
    assert len(picks) > 1
    assert (select_active(cands, students, 3, random_state=7).tolist()
            == select_active(cands, students, 3, random_state=7).tolist())


def test_fit_committee_bootstraps_trials():
    sub = FilterSubstrate(n_channels=1, noise=0.5)
    stims = white_noise_queries(4, 0.2, 1e-3, n_channels=1, rms=1e-6, max_amplitude=4e-6,
                                random_state=8)
    recs = [sub.run(s) for s in stims]
    seeds = []

    def make(seed):
        seeds.append(seed)
        return LaggedRidge(seed=seed)

    bagged = fit_committee(make, stims, recs, 3, random_state=0)
    plain = fit_committee(make, stims, recs, 3, bootstrap=False, random_state=0)
    assert len(seeds) == 6 and len({s.seed for s in bagged}) == 3  # one seed per member
    # without resampling every member sees the same data: identical fits
    assert all(np.array_equal(p.coef_, plain[0].coef_) for p in plain)
    # with it (4 trials, noise 0.5) the members differ
    assert not np.array_equal(bagged[0].coef_, bagged[1].coef_)
    # the true kernel (0, 1, 0.5) is recovered by each member to within the noise
    for member in bagged:
        np.testing.assert_allclose(member.coef_[:, 0], [0.0, 1.0, 0.5], atol=0.1)


def test_active_learning_loop_spends_within_budget_and_prefers_the_unexplored():
    # candidates: 0.1 s of white noise at amplitude 1 (like the initial query) and at
    # amplitude 3: a linear student's predictive variance grows as amplitude^2, so the
    # committee disputes the strong ones most and the loop records them first
    sub = FilterSubstrate(n_channels=1, noise=0.3)
    weak = white_noise_queries(6, 0.1, 1e-3, n_channels=1, rms=0.5e-6, max_amplitude=5e-6,
                               random_state=9)
    strong = [q.scale(3.0) for q in
              white_noise_queries(3, 0.1, 1e-3, n_channels=1, rms=0.5e-6, max_amplitude=2e-6,
                                  random_state=10)]
    cands = weak + strong
    budget = QueryBudget(0.45)  # four 0.1 s queries fit, a fifth does not

    def run():
        return active_learning_loop(sub, lambda seed: LaggedRidge(seed=seed), cands,
                                    QueryBudget(0.45), n_members=4, n_initial=1,
                                    random_state=11)

    result = active_learning_loop(sub, lambda seed: LaggedRidge(seed=seed), cands, budget,
                                  n_members=4, n_initial=1, random_state=11)
    assert len(result.selected) == 4 and len(set(result.selected)) == 4
    assert budget.spent == pytest.approx(0.4) and result.spent == pytest.approx(0.4)
    assert budget.spent <= budget.seconds
    # after the random first query, the three strong candidates come next
    first = result.selected[0]
    chosen_next = result.selected[1:]
    strong_left = [i for i in (6, 7, 8) if i != first]
    assert sorted(chosen_next[: len(strong_left)]) == strong_left
    assert len(result.disagreement) == 3
    assert np.isnan(result.disagreement[0][first])
    # same seed, same queries, same recordings
    again = run()
    assert again.selected == result.selected
    assert all(np.array_equal(a.data, b.data) for a, b in zip(again.recordings,
                                                              result.recordings))
    with pytest.raises(TypeError, match="budget must be a QueryBudget"):
        active_learning_loop(sub, LaggedRidge, cands, 1.0)
