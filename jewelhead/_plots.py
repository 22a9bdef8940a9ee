"""PNG figures: a Recording's raster, traces and hidden-state snapshots; study curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_electrode_study", "plot_raster", "plot_round_trip", "plot_snapshots", "plot_traces"]


def plot_raster(recording, path, *, max_points=200_000):
    """Raster of ground-truth spikes (every neuron) if known, else of detected spikes.

    Parameters
    ----------
    recording : substrates.Recording
    path : str or Path, PNG written here
    """
    fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    hidden = recording.hidden_state or {}
    if "spike_times" in hidden:
        t, y = hidden["spike_times"], hidden["spike_neurons"]
        ax.set_ylabel("neuron (ground truth)")
        title = f"{t.size} spikes of {hidden.get('neuron_positions', np.zeros((0,))).shape[0]} neurons"
    else:
        t, y = recording.spike_times, recording.spike_channels
        ax.set_ylabel("recording channel")
        title = f"{t.size} detected spikes on {recording.n_channels} channels"
    step = max(1, t.size // max_points)
    ax.plot(t[::step], y[::step], "|", color="k", markersize=2, alpha=0.6)
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _engineering(values, unit):
    """Scale factor and label putting ``values`` (in ``unit``) in a readable SI prefix."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    for factor, prefix in ((1.0, ""), (1e3, "m"), (1e6, "u"), (1e9, "n"), (1e12, "p")):
        if peak * factor >= 1.0:
            return factor, prefix + unit
    return 1e12, "p" + unit


def plot_traces(recording, path, *, n_channels=8, window=None):
    """Stacked traces of the most active channels, with detected spikes where there are any.

    Channels are ranked by detected spikes when the substrate spikes, else by variance.

    Parameters
    ----------
    recording : substrates.Recording
    path : str or Path, PNG written here
    n_channels : int, how many channels to show
    window : (start, stop) in s, or None for the whole recording
    """
    if recording.has_spikes:
        activity = np.bincount(recording.spike_channels, minlength=recording.n_channels)
    else:
        activity = recording.data.var(axis=0)
    show = np.sort(np.argsort(activity)[::-1][: min(n_channels, recording.n_channels)])
    times = recording.times
    sel = slice(None)
    if window is not None:
        sel = (times >= window[0]) & (times < window[1])
    raw = recording.data[sel][:, show]
    factor, label = _engineering(raw, recording.unit)
    data = raw * factor
    spread = max(float(np.ptp(data)) if data.size else 1.0, 1e-9)
    fig, ax = plt.subplots(figsize=(9, 1 + 0.8 * len(show)), constrained_layout=True)
    for row, c in enumerate(show):
        offset = -row * spread * 0.6
        ax.plot(times[sel], data[:, row] + offset, lw=0.5, color="C0")
        if recording.has_spikes:
            mine = recording.spike_times[recording.spike_channels == c]
            if window is not None:
                mine = mine[(mine >= window[0]) & (mine < window[1])]
            ax.plot(mine, np.full(mine.size, offset + spread * 0.25), "v", color="C3", ms=3)
    ax.set_yticks([-row * spread * 0.6 for row in range(len(show))])
    ax.set_yticklabels([f"ch {c}" for c in show])
    ax.set_xlabel("time (s)")
    what = ("extracellular potential" if recording.has_spikes else "electrode potential") \
        if recording.unit == "V" else "electrode current"
    title = f"{what} ({label}; spacing {spread * 0.6:.3g} {label})"
    ax.set_title(title + (", detected spikes in red" if recording.has_spikes else ""))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_snapshots(recording, key, path, *, n_snapshots=4, positions_key="cell_positions"):
    """Snapshots of a hidden field (e.g. an ion concentration) over the substrate's cells.

    Parameters
    ----------
    recording : substrates.Recording with ``hidden_state[key]`` of shape
        (n_hidden_samples, n_cells) and ``hidden_state[positions_key]`` (n_cells, 3) m
    key : str, the field to show
    path : str or Path, PNG written here
    n_snapshots : int, evenly spaced in time
    """
    hidden = recording.hidden_state or {}
    if key not in hidden or positions_key not in hidden:
        raise ValueError(f"the recording's hidden state needs {key!r} and {positions_key!r}")
    field = np.asarray(hidden[key])
    xy = np.asarray(hidden[positions_key])[:, :2] * 1e6
    rows = np.linspace(0, field.shape[0] - 1, n_snapshots).round().astype(int)
    low, high = float(field.min()), float(field.max())
    fig, axes = plt.subplots(1, n_snapshots, figsize=(3.2 * n_snapshots, 3.2),
                             constrained_layout=True, squeeze=False)
    for ax, r in zip(axes[0], rows):
        im = ax.scatter(xy[:, 0], xy[:, 1], c=field[r], s=max(2.0, 9000.0 / len(xy)), marker="s",
                        vmin=low, vmax=high,
                        cmap="viridis")
        ax.set_title(f"t = {r / recording.hidden_sampling_rate:.3g} s")
        ax.set_aspect("equal")
        ax.set_xlabel("x (um)")
    axes[0][0].set_ylabel("y (um)")
    fig.colorbar(im, ax=axes[0].tolist(), label=key.replace("_", " "))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_electrode_study(studies, path):
    """Score and hidden-state R^2 against electrode count, one curve per substrate.

    Mean over seeds with a band of one standard deviation, log-x; the task's
    echo-state-network baseline (if any) as a horizontal line.

    Parameters
    ----------
    studies : sequence of readout.ElectrodeStudy (same task)
    path : str or Path, PNG written here
    """
    fig, (ax, ax_r2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    baseline = None
    for i, study in enumerate(studies):
        s = study.summary()
        colour = f"C{i}"
        for axis, key in ((ax, "score"), (ax_r2, "hidden_r2")):
            mean, std = s[f"{key}_mean"], s[f"{key}_std"]
            if not np.any(np.isfinite(mean)):
                continue  # not studied (hidden_state = false)
            axis.plot(s["count"], mean, "o-", color=colour, label=study.substrate)
            axis.fill_between(s["count"], mean - std, mean + std, color=colour, alpha=0.2)
        e90 = study.e90
        if e90 is not None:
            ax.axvline(e90, color=colour, ls=":", lw=1)
        if study.esn_score is not None:
            baseline = study.esn_score
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=1, label="ESN baseline")
    task, metric = studies[0].task, studies[0].metric
    ax.set(xscale="log", xlabel="recording electrodes", ylabel=metric,
           title=f"{task}: {metric} vs electrodes (dotted: E90)")
    ax_r2.set(xscale="log", xlabel="recording electrodes", ylabel="hidden-state R^2 (held out)",
              title="how much of the hidden state the electrodes reveal")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_round_trip(result, path):
    """Accuracy at each stage of a round trip, and its loss budget.

    Parameters
    ----------
    result : distill.RoundTripResult
    path : str or Path, PNG written here
    """
    fig, (ax, ax_budget) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    stages = list(result.accuracy)
    ax.bar(stages, [result.accuracy[s] for s in stages], color=["C0", "C1", "C2"])
    low = min(result.accuracy.values())
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title("digital -> substrate -> student")
    for i, s in enumerate(stages):
        ax.text(i, result.accuracy[s], f"{result.accuracy[s]:.3f}", ha="center", va="bottom")
    budget = result.loss_budget
    bottom = 0.0
    for i, term in enumerate(("compile", "observation", "distillation")):
        ax_budget.bar(0, budget[term], bottom=bottom, color=f"C{i + 3}", label=term)
        bottom += budget[term]
    ax_budget.bar(1, budget["end_to_end"], color="0.4", label="measured end to end")
    ax_budget.set_xticks([0, 1], ["sum of terms", "end to end"])
    ax_budget.set_ylabel("normalised MSE of class scores")
    ax_budget.set_title(f"loss budget (closure {budget['closure']:.3f})")
    top = max(budget["sum"], budget["end_to_end"])
    ax_budget.set_ylim(0.0, 1.45 * top if top > 0 else 1.0)  # room for the legend above the bars
    ax_budget.legend(loc="upper center", ncol=2, fontsize="small")
    fig.savefig(path, dpi=110)
    plt.close(fig)
