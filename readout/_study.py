"""The electrode-count study: how much computing power and hidden state k electrodes reveal.

A substrate is recorded once per seed with every routed channel; each electrode count is
then studied by selecting columns of that one recording. Recording is passive in every
substrate (``substrates._protocol``), so ``recording.data[:, columns]`` is what the
selected array would have recorded, noise included, at a fraction of the cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from substrates._protocol import check_substrate

__all__ = ["TASKS", "ElectrodeStudy", "compare_electrodes", "e90", "hidden_state_r2", "make_task"]

#: task names accepted by :func:`make_task` (and study configs) -> (class name, fixed options)
TASKS = {
    "memory_capacity": ("MemoryCapacity", {}),
    "narma10": ("NARMA10", {}),
    "mackey_glass": ("MackeyGlass", {}),
    "henon": ("Henon", {}),
    "japanese_vowels": ("JapaneseVowels", {"subset": False}),
    "japanese_vowels_subset": ("JapaneseVowels", {"subset": True}),
    "basic_motions": ("BasicMotions", {}),
    "spoken_digits": ("SpokenDigits", {}),
}


def make_task(name, *, full=False, **options):
    """A task by name (see :data:`TASKS`).

    Parameters
    ----------
    name : str
        One of :data:`TASKS`.
    full : bool
        Use the task's full, published sizes (``Task.full``) instead of its small defaults.
    **options
        Keyword arguments of the task class (``n_train``, ``n_test``, ...).

    Examples
    --------
    >>> make_task("narma10", n_train=200, n_test=100).name
    'narma10'
    """
    from readout import _tasks

    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {name!r}")
    class_name, fixed = TASKS[name]
    cls = getattr(_tasks, class_name)
    clash = sorted(set(fixed) & set(options))
    if clash:
        raise ValueError(f"task {name!r} fixes {clash}; leave them out of the options")
    return cls.full(**fixed, **options) if full else cls(**fixed, **options)

_STRATEGIES = ("random", "spread")


def _check_counts(counts, n_recording):
    try:
        counts = [int(c) for c in counts]
    except TypeError:
        raise TypeError(f"counts must be a sequence of electrode counts, got {counts!r}") from None
    if not counts:
        raise ValueError("counts must name at least one electrode count, got an empty list")
    bad = [c for c in counts if c < 1 or c > n_recording]
    if bad:
        raise ValueError(
            f"counts must lie in [1, {n_recording}] (the substrate's recording electrodes), got {bad}"
        )
    return sorted(set(counts))


def _check_seeds(seeds):
    seeds = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty list")
    for s in seeds:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0:
            raise ValueError(f"seeds must be integers >= 0, got {s!r}")
    return [int(s) for s in seeds]


def e90(counts, scores, *, greater_is_better=True):
    """E90: the smallest electrode count that reaches 90% of the best score.

    Parameters
    ----------
    counts : array of shape (n,), int
    scores : array of shape (n,)
        Mean score at each count (over seeds).
    greater_is_better : bool
        True for accuracies and capacities: the threshold is ``0.9 * best``. False for
        errors (NRMSE): a count qualifies when its error is within ``best / 0.9`` (its
        "performance" 1/error is 90% of the best), so the definition stays scale-free.

    Returns
    -------
    int, or None when no score is finite.

    Examples
    --------
    >>> e90([4, 8, 16, 32], [0.5, 0.8, 0.95, 1.0])
    16
    >>> e90([4, 8, 16], [0.4, 0.2, 0.19], greater_is_better=False)
    8
    """
    counts = np.asarray(counts)
    scores = np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    if not ok.any():
        return None
    if greater_is_better:
        best = scores[ok].max()
        reached = ok & (scores >= 0.9 * best if best >= 0 else scores >= best / 0.9)
    else:
        best = scores[ok].min()
        reached = ok & (scores <= best / 0.9 if best >= 0 else scores <= 0.9 * best)
    return int(counts[reached].min())


def _hidden_matrix(recording, keys, times):
    """Hidden-state time series named by ``keys``, sampled at ``times`` (s): (n_times, n_units)."""
    hidden = recording.hidden_state
    if hidden is None:
        raise ValueError("the recording has no hidden state: run the task with record_hidden=True")
    rate = recording.hidden_sampling_rate
    parts = []
    for key in keys:
        if key not in hidden:
            raise ValueError(f"hidden state has no entry {key!r}; it has {sorted(hidden)}")
        series = np.asarray(hidden[key], dtype=float)
        series = series.reshape(series.shape[0], -1)
        rows = np.clip(np.floor(np.asarray(times) * rate + 1e-9).astype(np.int64) - 1, 0,
                       series.shape[0] - 1)
        parts.append(series[rows])
    return np.concatenate(parts, axis=1)


def hidden_state_r2(recording, features, step_end_times, keys, *, train_fraction=0.5):
    """R^2 of a linear map from recorded features to the full hidden state.

    The map (ridge, regularisation chosen by blocked cross-validation on the first
    ``train_fraction`` of the steps) is scored on the remaining steps. The score is the
    variance-weighted R^2 over all hidden units, ``1 - sum SS_res / sum SS_tot``, so units
    that barely move (a resting neuron) do not dominate it; units with zero variance on the
    test steps are left out. Each hidden unit is standardised on the training steps first,
    so the ridge penalty treats concentrations and potentials alike.

    Parameters
    ----------
    recording : Recording with ``hidden_state`` (time series at ``hidden_sampling_rate``)
    features : array of shape (n_steps, n_features)
        The readout's features, one row per input step.
    step_end_times : array of shape (n_steps,), s
        Time of each feature row; the hidden state is sampled at the last hidden sample
        at or before it.
    keys : sequence of str
        Entries of the hidden state that make up the full state (``substrate.hidden_state_keys``).
    train_fraction : float in (0, 1)

    Returns
    -------
    float
        R^2 on the held-out steps (1 = the electrodes reveal the whole state linearly;
        it can be negative when the map generalises worse than the mean).
    """
    from readout._linear import fit_time_series_ridge

    features = np.asarray(features, dtype=float)
    target = _hidden_matrix(recording, keys, step_end_times)
    if features.shape[0] != target.shape[0]:
        raise ValueError(
            f"features have {features.shape[0]} rows but step_end_times gives {target.shape[0]}"
        )
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    n_train = int(round(train_fraction * features.shape[0]))
    if n_train < 2 or features.shape[0] - n_train < 2:
        raise ValueError(f"need at least 2 training and 2 test steps, got {features.shape[0]} steps")
    mean = target[:n_train].mean(axis=0)
    scale = target[:n_train].std(axis=0)
    moving = scale > 0
    z = (target[:, moving] - mean[moving]) / scale[moving]
    model = fit_time_series_ridge(features[:n_train], z[:n_train])
    predicted = model.predict(features[n_train:])
    truth = z[n_train:]
    ss_tot = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    keep = ss_tot > 0
    ss_res = ((truth - predicted.reshape(truth.shape)) ** 2).sum(axis=0)
    return float(1.0 - ss_res[keep].sum() / ss_tot[keep].sum())


@dataclass
class ElectrodeStudy:
    """The result of :func:`compare_electrodes`.

    Attributes
    ----------
    substrate, task, metric : str
        Names (the substrate's class, the task's name, its metric).
    greater_is_better : bool
    rows : list of dict
        One per (count, seed): ``count``, ``seed``, ``score`` and ``hidden_r2`` (NaN when
        the hidden state was not studied).
    strategy : str
    esn_score : float or None
        The echo-state-network baseline of the task (same readout, raw inputs), if asked.
    """

    substrate: str
    task: str
    metric: str
    greater_is_better: bool
    strategy: str
    rows: list = field(default_factory=list)
    esn_score: float | None = None

    def summary(self):
        """Per count: mean and standard deviation over seeds of score and hidden R^2.

        Returns
        -------
        dict with arrays ``count``, ``score_mean``, ``score_std``, ``hidden_r2_mean``,
        ``hidden_r2_std`` (each of shape (n_counts,)).
        """
        counts = np.array(sorted({r["count"] for r in self.rows}), dtype=int)
        out = {"count": counts}
        for key in ("score", "hidden_r2"):
            per = [np.array([r[key] for r in self.rows if r["count"] == c], dtype=float) for c in counts]
            out[f"{key}_mean"] = np.array([p.mean() if p.size else math.nan for p in per])
            out[f"{key}_std"] = np.array([p.std() if p.size > 1 else 0.0 for p in per])
        return out

    @property
    def e90(self):
        """Smallest count reaching 90% of the best mean score (see :func:`e90`)."""
        s = self.summary()
        return e90(s["count"], s["score_mean"], greater_is_better=self.greater_is_better)

    def to_dict(self):
        """JSON-ready dict: names, rows, the per-count summary, E90 and the ESN baseline."""
        s = self.summary()
        return {
            "substrate": self.substrate, "task": self.task, "metric": self.metric,
            "greater_is_better": self.greater_is_better, "strategy": self.strategy,
            "rows": [dict(r) for r in self.rows],
            "summary": {k: v.tolist() for k, v in s.items()},
            "e90": self.e90, "esn_score": self.esn_score,
        }


def compare_electrodes(substrate, task, counts, seeds=(0,), strategy="random", *,
                       hidden_state=True, esn_units=None, progress=False, on_row=None):
    """Score a task read out from k electrodes, for each count k and seed.

    For each seed the substrate is reset with that seed and the whole task is run once,
    recording every routed channel (and the hidden state, if asked). For each count,
    ``substrate.electrodes.select(count, strategy, random_state=seed)`` picks the
    electrodes; the task is scored from those channels only, and the linear map from the
    same features to the full hidden state is scored too (:func:`hidden_state_r2`).

    Parameters
    ----------
    substrate : a substrate (see :class:`substrates.Substrate`)
    task : readout.Task
    counts : sequence of int
        Electrode counts, each in [1, substrate.electrodes.n_recording].
    seeds : int or sequence of int >= 0
        One run per seed: the seed resets the substrate (its noise and initial state) and
        picks the electrodes (for ``strategy="random"``).
    strategy : {"random", "spread"}
        How ``select`` picks the electrodes; "spread" is deterministic (farthest points),
        so its spread over seeds is the substrate's run-to-run noise alone.
    hidden_state : bool
        Also report the hidden-state R^2 per count (needs a simulated substrate).
    esn_units : int or None
        Also score the task's echo-state-network baseline of this size.
    progress : bool
        A tqdm progress bar over (seed, count) points.
    on_row : callable or None
        Called with each finished row (dict), e.g. to write it at once.

    Returns
    -------
    ElectrodeStudy

    Raises
    ------
    ValueError
        For an empty count list, a count outside [1, n_recording], a bad strategy, or a
        task needing more input channels than the array can stimulate.
    """
    check_substrate(substrate)
    array = substrate.electrodes
    counts = _check_counts(counts, array.n_recording)
    seeds = _check_seeds(seeds)
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if task.n_inputs > array.n_stimulating:
        raise ValueError(
            f"task {task.name!r} needs {task.n_inputs} input channels (n_inputs) but the array "
            f"has only {array.n_stimulating} stimulating electrodes (n_stimulating)"
        )
    study = ElectrodeStudy(type(substrate).__name__, task.name, task.metric,
                           bool(task.greater_is_better), strategy)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds) * len(counts), desc=f"{study.substrate} {task.name}",
                   unit="point")
    column_of = {int(e): i for i, e in enumerate(array.recording_electrodes)}
    for seed in seeds:
        recording = task.run(substrate, random_state=seed, record_hidden=hidden_state)
        for count in counts:
            chosen = array.select(count, strategy=strategy, random_state=seed).recording_electrodes
            channels = np.array([column_of[int(e)] for e in chosen], dtype=np.int64)
            score = float(task.score(recording, channels=channels))
            r2 = math.nan
            if hidden_state:
                features, times = task.features(recording, channels=channels)
                r2 = hidden_state_r2(recording, features, times, substrate.hidden_state_keys)
            row = {"count": count, "seed": seed, "score": score, "hidden_r2": r2}
            study.rows.append(row)
            if on_row is not None:
                on_row(dict(row))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    if esn_units is not None:
        study.esn_score = float(task.esn_score(int(esn_units), random_state=seeds[0]))
    return study
