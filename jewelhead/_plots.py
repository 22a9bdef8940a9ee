"""PNG figures of a Recording: a raster and per-electrode traces."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_raster", "plot_traces"]


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


def plot_traces(recording, path, *, n_channels=8, window=None):
    """Stacked extracellular traces of the channels with the most detected spikes.

    Parameters
    ----------
    recording : substrates.Recording
    path : str or Path, PNG written here
    n_channels : int, how many channels to show
    window : (start, stop) in s, or None for the whole recording
    """
    counts = np.bincount(recording.spike_channels, minlength=recording.n_channels)
    show = np.sort(np.argsort(counts)[::-1][: min(n_channels, recording.n_channels)])
    times = recording.times
    sel = slice(None)
    if window is not None:
        sel = (times >= window[0]) & (times < window[1])
    data = recording.data[sel][:, show] * 1e6  # microvolts for the eye
    spread = max(float(np.ptp(data)) if data.size else 1.0, 1e-9)
    fig, ax = plt.subplots(figsize=(9, 1 + 0.8 * len(show)), constrained_layout=True)
    for row, c in enumerate(show):
        offset = -row * spread * 0.6
        ax.plot(times[sel], data[:, row] + offset, lw=0.5, color="C0")
        mine = recording.spike_times[recording.spike_channels == c]
        if window is not None:
            mine = mine[(mine >= window[0]) & (mine < window[1])]
        ax.plot(mine, np.full(mine.size, offset + spread * 0.25), "v", color="C3", ms=3)
    ax.set_yticks([-row * spread * 0.6 for row in range(len(show))])
    ax.set_yticklabels([f"ch {c}" for c in show])
    ax.set_xlabel("time (s)")
    ax.set_title(f"extracellular potential (uV; spacing {spread * 0.6:.0f} uV), detected spikes in red")
    fig.savefig(path, dpi=110)
    plt.close(fig)
