"""Program a trained digit classifier into a PCM crossbar; read it fresh and after one day.

Usage: python examples/crossbar_pcm.py [output_dir]

Trains a logistic-regression classifier on scikit-learn's 8x8 digits (64 inputs, 10
classes; pixel values scaled to [0, 1] drive the rows at 0 .. 0.2 V), programs its weights
into a 64 x 20 phase-change-memory crossbar (differential pairs, the statistics of Joshi
et al. 2020), keeps the bias digital, and classifies the test set with one read per digit:
right after programming, and after one day of drift without and with global drift
compensation. Done without and with program-and-verify (5 passes), on 3 crossbars each.
Prints the agreement with the digital model and the accuracies; with ``output_dir``,
writes ``crossbar_pcm.png`` there (written vs target conductance, accuracies). A few
seconds.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from substrates.crossbar import Crossbar

ONE_DAY = 86_400.0  # s
SEEDS = (0, 1, 2)  # crossbars per setting
VERIFY = (0, 5)  # program-and-verify passes


def train():
    x, y = load_digits(return_X_y=True)
    x = x / 16.0  # pixel intensities in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    clf = LogisticRegression(C=0.1, max_iter=5000).fit(x_train, y_train)
    return clf.coef_.T, clf.intercept_, x_test, y_test


def evaluate(weights, bias, x_test, y_test, verify, seed):
    digital = (x_test @ weights + bias).argmax(1)
    xbar = Crossbar(weights.shape[0], 2 * weights.shape[1], random_state=seed)
    report = xbar.program(weights, verify_iterations=verify)
    fresh = (xbar.matvec(x_test) + bias).argmax(1)
    xbar.wait(ONE_DAY)
    drifted = (xbar.matvec(x_test) + bias).argmax(1)
    compensated = (xbar.matvec(x_test, drift_compensation=True) + bias).argmax(1)
    return report, {
        "agreement": np.mean(fresh == digital),
        "accuracy fresh": np.mean(fresh == y_test),
        "accuracy 1 day": np.mean(drifted == y_test),
        "accuracy 1 day, compensated": np.mean(compensated == y_test),
    }


def main(output_dir=None):
    weights, bias, x_test, y_test = train()
    digital_accuracy = np.mean((x_test @ weights + bias).argmax(1) == y_test)
    print(f"digits: {x_test.shape[0]} test digits, 64 inputs -> 10 classes; "
          f"digital accuracy {digital_accuracy:.4f}")
    print(f"crossbar {weights.shape[0]} x {2 * weights.shape[1]} PCM (g_max 25 uS), bias digital, "
          f"one read per digit; mean over crossbars {SEEDS}")
    results, reports = {}, {}
    for verify in VERIFY:
        rows = []
        for seed in SEEDS:
            report, row = evaluate(weights, bias, x_test, y_test, verify, seed)
            rows.append(row)
            reports.setdefault(verify, report)
        results[verify] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        per_seed = ", ".join(f"{r['agreement']:.4f}" for r in rows)
        print(f"\nverify passes {verify}: conductance rms error "
              f"{reports[verify].conductance_rms_error * 1e6:.3f} uS (seed {SEEDS[0]})")
        print(f"  agreement with digital, fresh     {results[verify]['agreement']:.4f}  ({per_seed})")
        for key in ("accuracy fresh", "accuracy 1 day", "accuracy 1 day, compensated"):
            print(f"  {key:<33} {results[verify][key]:.4f}")
    if output_dir is not None:
        path = plot(reports, results, digital_accuracy, Path(output_dir))
        print(f"\nwrote {path}")


def plot(reports, results, digital_accuracy, output_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for verify, report in reports.items():
        left.plot(report.target_conductance.ravel() * 1e6, report.written_conductance.ravel() * 1e6,
                  ".", ms=2, alpha=0.5, label=f"verify passes {verify}")
    left.plot([0, 25], [0, 25], "k-", lw=0.8)
    left.set(xlabel="target conductance (uS)", ylabel="written conductance (uS)",
             title="programming (PCM statistics)")
    left.legend()
    keys = ["accuracy fresh", "accuracy 1 day", "accuracy 1 day, compensated"]
    width = 0.35
    for k, verify in enumerate(results):
        right.bar(np.arange(3) + (k - 0.5) * width, [results[verify][key] for key in keys], width,
                  label=f"verify passes {verify}")
    right.axhline(digital_accuracy, color="k", lw=0.8, ls="--", label="digital")
    right.set_xticks(np.arange(3), ["fresh", "1 day", "1 day,\ncompensated"])
    right.set(ylim=(0.5, 1.0), ylabel="test accuracy", title="digits on the crossbar")
    right.legend(loc="lower left")
    fig.tight_layout()
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "crossbar_pcm.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
