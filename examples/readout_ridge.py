"""Stream trials into a ridge readout, pick the penalty, and compare with scikit-learn.

A small random tanh reservoir (plain NumPy, standing in for a recorded substrate) is driven
by white noise in 20 independent trials; the task is to recall the input 5 steps back.
The penalty is chosen by GCV with the trials streamed through ``partial_fit`` (each reduced
to its sums as it arrives), and by leave-one-trial-out with the trials reduced to
``TrialSums`` (as parallel workers would) and solved once with ``fit_sums``; both are
compared with scikit-learn's ``RidgeCV`` refitted on all the samples at once. Then the ridge classifier names synthetic spoken digits
from voices it never heard.

Run: ``python examples/readout_ridge.py [output_dir]`` (the output dir is ignored).
"""

import sys

import numpy as np
from sklearn.linear_model import RidgeCV

from readout._datasets import load_spoken_digits
from readout._linear import RidgeClassifierReadout, RidgeReadout, TrialSums

N_TRIALS, N_STEPS, N_UNITS, DELAY, WARMUP = 20, 500, 100, 5, 50


def reservoir_trial(weights, input_weights, rng):
    """States (N_STEPS, N_UNITS) and the delayed-input target (N_STEPS,) of one trial."""
    u = rng.uniform(-1.0, 1.0, N_STEPS)
    x = np.zeros(N_UNITS)
    states = np.empty((N_STEPS, N_UNITS))
    for t in range(N_STEPS):
        x = np.tanh(weights @ x + input_weights * u[t])
        states[t] = x
    target = np.concatenate([np.zeros(DELAY), u[:-DELAY]])
    return states, target


def main():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(N_UNITS, N_UNITS))
    weights *= 0.9 / np.max(np.abs(np.linalg.eigvals(weights)))  # spectral radius 0.9
    input_weights = rng.uniform(-0.5, 0.5, N_UNITS)
    trials = [reservoir_trial(weights, input_weights, rng) for _ in range(N_TRIALS + 5)]
    train, test = trials[:N_TRIALS], trials[N_TRIALS:]
    X_test = np.concatenate([x[WARMUP:] for x, _ in test])
    y_test = np.concatenate([y[WARMUP:] for _, y in test])
    alphas = np.logspace(-8, 4, 25)

    print(f"{N_TRIALS} trials x {N_STEPS} steps, {N_UNITS} units, recall u(t-{DELAY}), warmup {WARMUP}")
    # GCV: each trial is reduced to its sums as it arrives and the readout refits
    model = RidgeReadout(alphas=alphas, alpha_selection="gcv", warmup=WARMUP)
    for states, target in train:
        model.partial_fit(states, target)
    print(f"  streamed ridge (partial_fit), gcv : alpha = {model.alpha_:.1e}, "
          f"test R^2 = {model.score(X_test, y_test):.4f}")
    # leave-one-trial-out: reduce the trials (in parallel, if you like), solve once
    sums = [TrialSums.from_arrays(states, target, warmup=WARMUP) for states, target in train]
    model = RidgeReadout(alphas=alphas, alpha_selection="loto").fit_sums(sums, y_is_1d=True)
    print(f"  reduced trials + fit_sums,     loto: alpha = {model.alpha_:.1e}, "
          f"test R^2 = {model.score(X_test, y_test):.4f}")

    X_train = np.concatenate([x[WARMUP:] for x, _ in train])
    y_train = np.concatenate([y[WARMUP:] for _, y in train])
    ref = RidgeCV(alphas=alphas).fit(X_train, y_train)
    print(f"  sklearn RidgeCV (exact leave-one-sample-out on all {len(y_train)} samples): "
          f"alpha = {ref.alpha_:.1e}, test R^2 = {ref.score(X_test, y_test):.4f}")
    same = RidgeReadout(alphas=ref.alpha_, warmup=WARMUP)
    for states, target in train:
        same.partial_fit(states, target)
    rel = np.max(np.abs(same.coef_ - ref.coef_)) / np.max(np.abs(ref.coef_))
    print(f"  streamed ridge at sklearn's alpha: max relative coef difference {rel:.1e}")

    sequences, labels, speakers, _ = load_spoken_digits()
    features = np.array([np.concatenate([c.mean(axis=0) for c in np.array_split(s, 4)])
                         for s in sequences])
    correct = 0
    for voice in range(10):
        tr, te = speakers != voice, speakers == voice
        mu, sd = features[tr].mean(axis=0), features[tr].std(axis=0)
        clf = RidgeClassifierReadout(alphas=alphas).fit((features[tr] - mu) / sd, labels[tr])
        correct += (clf.predict((features[te] - mu) / sd) == labels[te]).sum()
    print(f"spoken digits, leave-one-voice-out ridge classifier (GCV alpha): "
          f"accuracy {correct / len(labels):.3f} (chance 0.100)")


if __name__ == "__main__":
    _ = sys.argv[1] if len(sys.argv) > 1 else None  # output dir accepted and ignored
    main()
