"""Query a small spiking culture within a budget, distil a linear student, measure its fidelity.

1. A 500-neuron culture on a 60-electrode MEA (background drive, short-term depression:
   it bursts on its own) is the teacher. Every recorded second is charged to a
   :class:`QueryBudget`.
2. Training queries: band-limited white noise on the 8 electrodes that reach the most
   neurons. Then active selection: a committee of linear students, each fitted on a
   bootstrap resample of those trials, scores a mixed pool (pink noise, chirps, pulse
   trains) and the most disputed candidates are recorded too.
3. A held-out stimulus is recorded 5 times (different noise seeds) for the noise ceiling,
   with the ground-truth membrane potentials; the culture also runs free for 3 s.
4. A :class:`~distill._students.LinearStudent` (ridge on lagged binned inputs) is fitted,
   and every fidelity metric is printed: normalised explained variance, spike-count
   correlation, van Rossum distance (against the teacher's own repeat-to-repeat distance),
   task transfer (a stimulus-reconstruction readout trained on the teacher), latent
   similarity (probe R^2 and CCA against all 500 membrane potentials) and free-running
   statistics. Then the normalised EV against the training seconds used.

    python examples/distill_fidelity.py [OUTPUT_DIR]

writes ``fidelity_report.json`` to OUTPUT_DIR (a temporary folder by default).
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import RidgeCV

from distill._fidelity import (
    FidelityReport,
    bin_responses,
    compare_free_running,
    free_running_statistics,
    latent_similarity,
    normalised_explained_variance,
    spike_count_correlation,
    spike_trains,
    spikes_from_counts,
    task_transfer,
    van_rossum_distance,
)
from distill._query import (
    QueryBudget,
    chirp_queries,
    committee_disagreement,
    fit_committee,
    pink_noise_queries,
    pulse_train_queries,
    white_noise_queries,
)
from distill._students import LinearStudent
from substrates import ElectrodeArray, Stimulus
from substrates.spiking import (
    BackgroundParameters,
    ConnectivityParameters,
    ShortTermDepressionParameters,
    SpikingNetwork,
    SynapseParameters,
)

BIN = 10e-3  # s: the student's time base
MAX_AMPLITUDE = 20e-6  # A: the safe limit of these electrodes in this example
TAU = 10e-3  # s: van Rossum kernel


def make_teacher():
    return SpikingNetwork(
        500,
        electrodes=ElectrodeArray.mea60(),
        synapses=SynapseParameters(excitatory_weight=150e-12, inhibitory_weight=-600e-12),
        connectivity=ConnectivityParameters(connection_probability=0.5,
                                            connection_length=200e-6),
        depression=ShortTermDepressionParameters(enabled=True, use=0.5),
        background=BackgroundParameters(n_inputs=200, rate=10.0, weight=15e-12),
        random_state=0,
    )


def lagged(x, n_lags):
    """Features at bins t .. t + n_lags - 1 (the response follows the input): (n, n_lags * d)."""
    pad = np.vstack([x, np.zeros((n_lags - 1, x.shape[1]))])
    return np.hstack([pad[k: k + x.shape[0]] for k in range(n_lags)])


def binned_stimulus(stim, channels):
    k = round(BIN / stim.dt)
    n = stim.n_samples // k
    return stim.data[: n * k, channels].reshape(n, k, len(channels)).mean(axis=1)


def main(out_dir):
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    teacher = make_teacher()
    dt, n_stim = teacher.dt, teacher.electrodes.n_stimulating
    # the 8 stimulating electrodes that reach the most neurons
    reach = (teacher.stimulation_coupling < -1e-3).sum(axis=0)
    driven = np.sort(np.argsort(reach)[-8:])
    budget = QueryBudget(30.0)

    # ---- training queries, then active selection from a mixed pool
    common = {"n_channels": n_stim, "channels": driven, "max_amplitude": MAX_AMPLITUDE}
    train = white_noise_queries(8, 1.0, dt, rms=6e-6, bandwidth=20.0, random_state=rng,
                                **common)
    train_recs = [budget.record(teacher, s, seed=int(rng.integers(2**31)), label="white")
                  for s in train]
    pool = (pink_noise_queries(4, 1.0, dt, rms=6e-6, f_min=1.0, random_state=rng, **common)
            + chirp_queries(4, 1.0, dt, amplitude=10e-6, f_range=(1.0, 20.0),
                            random_state=rng, **common)
            + pulse_train_queries(4, 1.0, dt, amplitude=15e-6, rate_range=(2.0, 20.0),
                                  random_state=rng, **common))
    committee = fit_committee(lambda seed: LinearStudent(n_lags=5, bin_width=BIN),
                              train, train_recs, 4, random_state=rng)
    disagreement = committee_disagreement(pool, committee)
    chosen = np.argsort(-disagreement)[:4]
    kinds = ["pink"] * 4 + ["chirp"] * 4 + ["pulses"] * 4
    print("committee disagreement, pink / chirp / pulses:",
          " / ".join(f"{disagreement[i:i + 4].mean():.3f}" for i in (0, 4, 8)))
    print("actively chosen:", [kinds[i] for i in chosen])
    for i in chosen:
        train.append(pool[i])
        train_recs.append(budget.record(teacher, pool[i], seed=int(rng.integers(2**31)),
                                        label=kinds[i]))

    # ---- held-out repeats (with the ground truth) and free running
    test = white_noise_queries(1, 2.0, dt, rms=6e-6, bandwidth=20.0, random_state=rng,
                               **common)[0]
    repeats = budget.record_repeats(teacher, test, 5, random_state=rng, record_hidden=True)
    teacher.reset(int(rng.integers(2**31)))
    budget.charge(3.0, label="free running")
    free = teacher.run(duration=3.0)
    print(f"budget: {budget.spent:g} s of {budget.seconds:g} s recorded")

    # ---- the student and its fidelity
    student = LinearStudent(n_lags=5, bin_width=BIN).fit(train, train_recs)
    counts = bin_responses(repeats, BIN, "spike_counts")  # (5, 200, 60)
    prediction = student.predict(test).data[: counts.shape[1]]
    ev = normalised_explained_variance(prediction, counts, min_ceiling=0.1)
    corr = spike_count_correlation(counts.mean(axis=0), prediction)
    student_spikes = spikes_from_counts(prediction, BIN, random_state=rng)
    teacher_spikes = [spike_trains(r) for r in repeats[:2]]
    vr_student = van_rossum_distance(teacher_spikes[0], student_spikes, TAU)
    vr_teacher = van_rossum_distance(teacher_spikes[0], teacher_spikes[1], TAU)

    # task transfer: reconstruct the driven inputs from the counts at bins t .. t+2; the
    # readout is fitted on the teacher's training recordings, then applied to both
    feats = [lagged(bin_responses(r, BIN, "spike_counts")[0], 3) for r in train_recs]
    labels = [binned_stimulus(s, driven)[: f.shape[0]] for s, f in zip(train, feats)]
    readout = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(np.vstack(feats), np.vstack(labels))
    tt = task_transfer(readout, lagged(counts[0], 3), lagged(prediction, 3),
                       binned_stimulus(test, driven)[: counts.shape[1]], fitted=True)

    # latent similarity: the student's state against every neuron's membrane potential
    v = np.asarray(repeats[0].hidden_state["membrane_potential"])  # (2000, 500) at 1 kHz
    k = round(BIN * repeats[0].hidden_sampling_rate)
    hidden = v[: counts.shape[1] * k].reshape(counts.shape[1], k, -1).mean(axis=1)
    states = student.states(test)[: counts.shape[1]]
    probe = latent_similarity(states, hidden, method="probe")
    cca = latent_similarity(states, hidden, method="cca")
    # reference: what the electrodes themselves (one repeat's counts, lags 0..2) reveal
    electrodes_probe = latent_similarity(lagged(counts[0], 3), hidden, method="probe")

    # free running: the student, given no stimulus, predicts its constant mean counts
    zero = Stimulus.zeros(n_stim, 3.0, dt)
    free_t = free_running_statistics(free)
    free_s = free_running_statistics(
        spikes_from_counts(student.predict(zero).data, BIN, random_state=rng), duration=3.0)

    report = FidelityReport(
        normalised_ev=ev.pooled, raw_ev=ev.raw_pooled, noise_ceiling=ev.ceiling.pooled,
        spike_count_correlation=float(np.nanmean(corr)),
        van_rossum=float(vr_student.mean()), van_rossum_teacher=float(vr_teacher.mean()),
        task_agreement=tt.agreement, task_teacher_score=tt.teacher_score,
        task_student_score=tt.student_score, task_metric=tt.metric,
        latent_probe_r2=probe.value, latent_cca=cca.value,
        free_running=compare_free_running(free_t, free_s),
        extra={"budget_spent_s": budget.spent, "electrodes_probe_r2": electrodes_probe.value,
               "teacher_burst_rate_hz": free_t.burst_rate,
               "teacher_mean_rate_hz": free_t.mean_rate,
               "channels_with_signal": int(np.isfinite(ev.per_channel).sum())},
    )
    print(report.summary())

    # ---- fidelity against the training seconds used (the lead's budget study, in small)
    for n_trials in (2, 4, 8, 12):
        s = LinearStudent(n_lags=5, bin_width=BIN).fit(train[:n_trials], train_recs[:n_trials])
        e = normalised_explained_variance(s.predict(test).data[: counts.shape[1]], counts,
                                          min_ceiling=0.1)
        print(f"training {n_trials:2d} s: normalised EV {e.pooled:.3f}")

    path = out / "fidelity_report.json"
    path.write_text(json.dumps(report.to_dict(), indent=2))
    print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")
    return report


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="jewelhead-"))
