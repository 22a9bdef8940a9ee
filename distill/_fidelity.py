"""Fidelity: how well a student imitates its teacher, measured several ways.

A student can predict the electrodes well and still be a different system inside, so no
single number will do. This module measures, on held-out stimuli:

- **Prediction against the noise ceiling.** A substrate answers the same stimulus
  differently each time (background drive, channel noise), so even a perfect student
  cannot explain all the variance of one trial. :func:`noise_ceiling` estimates, from
  repeated trials, how much of the trial-averaged response is explainable (signal), and
  :func:`normalised_explained_variance` divides a prediction's explained variance by it:
  1 means as good as the teacher's own mean response, whatever the noise.
- **Spikes**, where the substrate spikes: :func:`spike_count_correlation` of binned counts
  and the :func:`van_rossum_distance` between spike trains.
- **Task transfer**: :func:`task_transfer` fits a readout on the teacher's output and
  applies it unchanged to the student's: how often they agree, and how well the student
  does the task.
- **Latent similarity**: :func:`latent_similarity` compares the student's internal state
  with the teacher's full hidden state (only a simulation has it) by a held-out linear
  probe R^2 or by regularised CCA. Good prediction can hide wrong dynamics; this is the
  number that says so.
- **Free-running statistics** of spiking teachers: :func:`free_running_statistics`
  (firing rates, network bursts, inter-burst intervals) and :func:`compare_free_running`.

:class:`FidelityReport` collects the numbers (``to_dict`` for JSON).

The noise ceiling
-----------------
Repeats ``y[r, t, k] = s[t, k] + e[r, t, k]`` (``r = 1..n``) with noise of variance
``sigma_k^2``, independent across repeats. Per channel ``k``:

- noise variance: ``N_k = mean_t var_r(y[:, t, k], ddof=1)`` (unbiased for ``sigma_k^2``);
- variance of the trial mean ``m = mean_r y``: ``M_k = var_t(m[:, k], ddof=1)``, whose
  expectation is ``var_t(s) + sigma_k^2 / n``;
- signal (explainable) variance: ``S_k = M_k - N_k / n``, unbiased for the signal's own
  sample variance ``var_t(s, ddof=1)``. This is the "signal power" of Sahani & Linden
  (2003) and the explainable variance of Schoppe et al. (2016) and Cadena et al. (2019).
- ceiling: ``C_k = S_k / M_k``, the largest fraction of the trial mean's variance any
  prediction can explain in expectation (the true signal explains ``1 - sigma_k^2 / (n M_k)``).

The normalised explained variance of a prediction ``p`` is then

``EV_norm_k = (SST_k - SSE_k) / ((T - 1) S_k) = EV_k / C_k``

with ``SSE_k = sum_t (m - p)^2`` and ``SST_k = sum_t (m - mean_t m)^2``: the explained
variance against the trial mean divided by the ceiling. It equals
``1 - (MSE_k - N_k / n) / S_k`` up to a ``1/T`` term, so it is (nearly) unbiased: 1 for the
true signal, ``1 - v / var(s)`` for the signal plus independent error of variance ``v``.
Pooled over channels it is ``sum_k (SST_k - SSE_k) / sum_k (T - 1) S_k``: each channel
weighted by its signal variance. Channels whose ceiling is at most ``min_ceiling`` (no
reliable signal) are left out (NaN).

References
----------
Sahani M, Linden JF (2003). How linear are auditory cortical responses? NIPS 15, 125-132.
Schoppe O, Harper NS, Willmore BDB, King AJ, Schnupp JWH (2016). Measuring the performance
of neural models. Front. Comput. Neurosci. 10:10.
Cadena SA et al. (2019). Deep convolutional models improve predictions of macaque V1
responses to natural images. PLoS Comput. Biol. 15:e1006897.
van Rossum MCW (2001). A novel spike distance. Neural Comput. 13:751-763.
Raghu M, Gilmer J, Yosinski J, Sohl-Dickstein J (2017). SVCCA: singular vector canonical
correlation analysis for deep learning dynamics and interpretability. NIPS 30.
Vinod HD (1976). Canonical ridge and econometrics of joint production. J. Econometrics 4:147.
Wagenaar DA, Pine J, Potter SM (2006). An extremely rich repertoire of bursting patterns
during the development of cortical cultures. BMC Neurosci. 7:11.
Chiappalone M, Bove M, Vato A, Tedesco M, Martinoia S (2006). Dissociated cortical networks
show spontaneously correlated activity patterns during in vitro development. Brain Res.
1093:41-53.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field

import numpy as np

from distill._checks import count as _count
from distill._checks import positive as _positive
from distill._checks import real as _real
from distill._students import bin_recording
from substrates._random import check_random_state
from substrates._recording import Recording

__all__ = [
    "FidelityReport", "FreeRunningStatistics", "LatentSimilarity", "NoiseCeiling",
    "NormalisedExplainedVariance", "TaskTransfer", "bin_responses", "compare_free_running",
    "free_running_statistics", "latent_similarity", "noise_ceiling",
    "normalised_explained_variance", "spike_count_correlation", "spike_trains",
    "spikes_from_counts", "task_transfer", "van_rossum_distance",
]

# default ridge penalties of the latent probe, on standardised student states: 1e-4 (almost
# least squares) to 1e4 (almost the mean), two per decade, chosen by efficient LOO (RidgeCV)
_PROBE_ALPHAS = tuple(np.logspace(-4, 4, 17))
# the fraction of held-out bins, taken from the end (time series: no shuffling)
_DEFAULT_TEST_FRACTION = 0.3


# ----------------------------------------------------------------------------- checks



def _finite_array(name, value, ndim=None):
    """``value`` (or a Recording's data) as a finite float64 array, optionally 1-D -> 2-D."""
    if isinstance(value, Recording):
        value = value.data
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if ndim == 2 and arr.ndim == 1:
        arr = arr[:, None]
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite (no NaN or inf); entry {tuple(bad.tolist())} "
                         f"is {arr[tuple(bad)]}")
    return arr


def _fraction(name, value):
    value = _real(name, value)
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


def _to_float(x):
    """A JSON-friendly copy: numpy scalars and arrays to floats and lists, NaN to None."""
    if isinstance(x, dict):
        return {k: _to_float(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_float(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_to_float(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (numbers.Integral,)):
        return int(x)
    if isinstance(x, numbers.Real):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


# ----------------------------------------------------------------------------- binning
def bin_responses(recordings, bin_width, target="auto") -> np.ndarray:
    """Repeated recordings as an array of per-bin features: (n_repeats, n_bins, n_channels).

    Parameters
    ----------
    recordings : Recording or sequence of Recording
        All with the same channels; the shortest sets ``n_bins``.
    bin_width : float, s
        For ``"trace"``: a whole multiple of the sample period.
    target : {"auto", "spike_counts", "trace"}
        ``"spike_counts"``: detected spikes per bin; ``"trace"``: mean recorded sample per
        bin; ``"auto"``: spike counts when every recording has spikes, else the trace.

    Returns
    -------
    float64 ndarray of shape (n_repeats, n_bins, n_channels), ``n_bins`` whole bins

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rec = Recording(np.zeros((100, 2)), 1000.0, "V", electrode_positions=np.zeros((2, 3)),
    ...                 spike_times=[0.001, 0.012, 0.013], spike_channels=[0, 1, 1])
    >>> bin_responses([rec, rec], 0.01)[0, :2].tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    if isinstance(recordings, Recording):
        recordings = [recordings]
    recordings = list(recordings)
    if not recordings:
        raise ValueError("recordings must hold at least one Recording")
    for i, r in enumerate(recordings):
        if not isinstance(r, Recording):
            raise TypeError(f"recordings[{i}] must be a Recording, got {type(r).__name__}")
        if r.n_channels != recordings[0].n_channels:
            raise ValueError(f"recordings[{i}] has {r.n_channels} channels, recordings[0] "
                             f"{recordings[0].n_channels}")
    if target == "auto":
        target = "spike_counts" if all(r.has_spikes for r in recordings) else "trace"
    if target not in ("spike_counts", "trace"):
        raise ValueError(f"target must be 'auto', 'spike_counts' or 'trace', got {target!r}")
    shortest = min(recordings, key=lambda r: r.duration)
    n_bins = bin_recording(shortest, bin_width, target).shape[0]
    return np.stack([bin_recording(r, bin_width, target, n_bins) for r in recordings])


def spike_trains(recording) -> list:
    """The detected spikes of a recording, one sorted array of times (s) per channel.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rec = Recording(np.zeros((10, 2)), 1000.0, "V", electrode_positions=np.zeros((2, 3)),
    ...                 spike_times=[0.001, 0.002], spike_channels=[1, 0])
    >>> [t.tolist() for t in spike_trains(rec)]
    [[0.002], [0.001]]
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
    if not recording.has_spikes:
        raise ValueError("the recording has no detected spikes (has_spikes is False)")
    times, channels = recording.spike_times, recording.spike_channels
    return [np.sort(times[channels == c]) for c in range(recording.n_channels)]


def spikes_from_counts(counts, bin_width, *, random_state=None) -> list:
    """Spike trains drawn from expected counts per bin (a student's prediction).

    Each bin gets a Poisson number of spikes with the predicted mean (negative means count
    as 0), placed uniformly at random within the bin.

    Parameters
    ----------
    counts : array_like of shape (n_bins, n_channels) or Recording
        Expected spikes per bin and channel.
    bin_width : float, s
    random_state : int, Generator, SeedSequence or None

    Returns
    -------
    list of n_channels sorted float arrays, spike times in s

    Examples
    --------
    >>> import numpy as np
    >>> trains = spikes_from_counts(np.full((1000, 1), 0.5), 0.01, random_state=0)
    >>> 400 < trains[0].size < 600  # 500 expected; Poisson sd 22
    True
    """
    lam = np.maximum(_finite_array("counts", counts, ndim=2), 0.0)
    bin_width = _positive("bin_width", bin_width)
    rng = check_random_state(random_state)
    drawn = rng.poisson(lam)
    out = []
    for c in range(lam.shape[1]):
        bins = np.repeat(np.arange(lam.shape[0]), drawn[:, c])
        out.append(np.sort((bins + rng.random(bins.size)) * bin_width))
    return out


# ----------------------------------------------------------------------------- noise ceiling
@dataclass(frozen=True)
class NoiseCeiling:
    """What repeated trials say about how much of a response is explainable.

    Attributes
    ----------
    signal_variance : ndarray of shape (n_channels,)
        ``S_k``: explainable variance (may be <= 0 by chance when there is no signal).
    noise_variance : ndarray of shape (n_channels,)
        ``N_k``: trial-to-trial variance.
    mean_variance : ndarray of shape (n_channels,)
        ``M_k``: variance over time of the trial mean.
    ceiling : ndarray of shape (n_channels,)
        ``S_k / M_k``: the largest explained variance of the trial mean a prediction can
        reach; NaN where the trial mean does not vary.
    n_repeats, n_bins : int
    pooled : float
        ``sum S_k / sum M_k`` over channels (variance-weighted).

    All variances in the squared unit of the responses.
    """

    signal_variance: np.ndarray
    noise_variance: np.ndarray
    mean_variance: np.ndarray
    ceiling: np.ndarray
    n_repeats: int
    n_bins: int
    pooled: float


def _check_repeats(repeats):
    if isinstance(repeats, (list, tuple)) and repeats and isinstance(repeats[0], Recording):
        raise TypeError("repeats must be an array (n_repeats, n_bins, n_channels); bin "
                        "recordings first with bin_responses(recordings, bin_width)")
    arr = _finite_array("repeats", repeats)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"repeats must have shape (n_repeats, n_bins, n_channels), got "
                         f"{arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"repeats must hold at least 2 repeats of the same stimulus to "
                         f"separate signal from noise, got {arr.shape[0]}")
    if arr.shape[1] < 2:
        raise ValueError(f"repeats must hold at least 2 bins, got {arr.shape[1]}")
    return arr


def noise_ceiling(repeats) -> NoiseCeiling:
    """Explainable variance per channel from repeated responses to one stimulus.

    See the module docstring for the estimator (Sahani & Linden 2003; Schoppe et al. 2016).

    Parameters
    ----------
    repeats : array_like of shape (n_repeats, n_bins, n_channels) or (n_repeats, n_bins)
        The teacher's binned responses to the same stimulus with different noise
        (:func:`bin_responses`); at least 2 repeats and 2 bins, finite.

    Returns
    -------
    NoiseCeiling

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> signal = np.sin(2 * np.pi * np.arange(20000) / 500)[:, None]  # variance 0.5
    >>> repeats = signal + rng.normal(0.0, 1.0, size=(4, 20000, 1))  # noise variance 1
    >>> nc = noise_ceiling(repeats)
    >>> round(float(nc.signal_variance[0]), 1), round(float(nc.noise_variance[0]), 1)
    (0.5, 1.0)
    >>> round(float(nc.ceiling[0]), 2)  # 0.5 / (0.5 + 1 / 4)
    0.67
    """
    y = _check_repeats(repeats)
    n, n_bins, _ = y.shape
    mean = y.mean(axis=0)
    noise = y.var(axis=0, ddof=1).mean(axis=0)
    total = mean.var(axis=0, ddof=1)
    signal = total - noise / n
    with np.errstate(invalid="ignore", divide="ignore"):
        ceiling = np.where(total > 0, signal / np.where(total > 0, total, 1.0), np.nan)
    pooled = float(signal.sum() / total.sum()) if total.sum() > 0 else float("nan")
    return NoiseCeiling(signal, noise, total, ceiling, int(n), int(n_bins), pooled)


@dataclass(frozen=True)
class NormalisedExplainedVariance:
    """A prediction's explained variance, raw and divided by the noise ceiling.

    Attributes
    ----------
    per_channel : ndarray of shape (n_channels,)
        ``EV_k / C_k``; NaN where the ceiling is at most ``min_ceiling``.
    pooled : float
        Signal-variance-weighted over the channels kept.
    raw : ndarray of shape (n_channels,)
        ``EV_k = 1 - SSE_k / SST_k`` against the trial mean.
    raw_pooled : float
        ``1 - sum SSE / sum SST`` over the channels kept.
    ceiling : NoiseCeiling
    """

    per_channel: np.ndarray
    pooled: float
    raw: np.ndarray
    raw_pooled: float
    ceiling: NoiseCeiling


def normalised_explained_variance(prediction, repeats, *, min_ceiling=0.0):
    """Explained variance of a prediction against the trial mean, over the noise ceiling.

    Parameters
    ----------
    prediction : array_like of shape (n_bins, n_channels) or Recording
        The student's prediction of the same binned features as ``repeats`` (e.g.
        ``student.predict(stimulus)``); it may be longer than ``repeats`` (cut to fit).
    repeats : array_like of shape (n_repeats, n_bins, n_channels)
        The teacher's held-out responses to the same stimulus (see :func:`noise_ceiling`).
    min_ceiling : float in [0, 1)
        Channels whose ceiling is at most this are left out (NaN): with no reliable signal
        the ratio is noise over noise.

    Returns
    -------
    NormalisedExplainedVariance

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> signal = rng.normal(size=(4000, 2))
    >>> repeats = signal + rng.normal(0.0, 2.0, size=(5, 4000, 2))
    >>> ev = normalised_explained_variance(signal, repeats)
    >>> round(ev.pooled, 1), round(ev.raw_pooled, 2)  # raw EV is capped near 1 / (1 + 4 / 5)
    (1.0, 0.56)
    """
    y = _check_repeats(repeats)
    _, n_bins, n_channels = y.shape
    p = _finite_array("prediction", prediction, ndim=2)
    if p.shape[1] != n_channels or p.shape[0] < n_bins:
        raise ValueError(f"prediction must have shape (>= {n_bins}, {n_channels}) to match "
                         f"repeats {y.shape}, got {p.shape}")
    p = p[:n_bins]
    min_ceiling = _real("min_ceiling", min_ceiling)
    if not 0 <= min_ceiling < 1:
        raise ValueError(f"min_ceiling must be in [0, 1), got {min_ceiling}")
    nc = noise_ceiling(y)
    mean = y.mean(axis=0)
    sst = ((mean - mean.mean(axis=0)) ** 2).sum(axis=0)
    sse = ((mean - p) ** 2).sum(axis=0)
    keep = np.isfinite(nc.ceiling) & (nc.ceiling > min_ceiling) & (nc.signal_variance > 0)
    raw = np.full(n_channels, np.nan)
    norm = np.full(n_channels, np.nan)
    raw[sst > 0] = 1.0 - sse[sst > 0] / sst[sst > 0]
    explainable = (n_bins - 1) * nc.signal_variance
    norm[keep] = (sst[keep] - sse[keep]) / explainable[keep]
    if np.any(keep):
        pooled = float((sst[keep] - sse[keep]).sum() / explainable[keep].sum())
        raw_pooled = float(1.0 - sse[keep].sum() / sst[keep].sum())
    else:
        pooled = raw_pooled = float("nan")
    return NormalisedExplainedVariance(norm, pooled, raw, raw_pooled, nc)


# ----------------------------------------------------------------------------- spikes
def spike_count_correlation(a_counts, b_counts) -> np.ndarray:
    """Pearson correlation over time of two sets of binned spike counts, per channel.

    Parameters
    ----------
    a_counts, b_counts : array_like of shape (n_bins, n_channels)
        E.g. the teacher's counts (or trial mean) and the student's predicted counts.

    Returns
    -------
    ndarray of shape (n_channels,), in [-1, 1]; NaN where either series is constant

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0, 1], [2, 1], [4, 1]])
    >>> spike_count_correlation(a, 2 * a + 1).tolist()
    [1.0, nan]
    """
    a = _finite_array("a_counts", a_counts, ndim=2)
    b = _finite_array("b_counts", b_counts, ndim=2)
    if a.shape != b.shape:
        raise ValueError(f"a_counts and b_counts must have one shape, got {a.shape} and "
                         f"{b.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"the counts must span at least 2 bins, got {a.shape[0]}")
    da = a - a.mean(axis=0)
    db = b - b.mean(axis=0)
    va = (da**2).sum(axis=0)
    vb = (db**2).sum(axis=0)
    out = np.full(a.shape[1], np.nan)
    ok = (va > 0) & (vb > 0)
    out[ok] = np.clip((da * db).sum(axis=0)[ok] / np.sqrt(va[ok] * vb[ok]), -1.0, 1.0)
    return out


def _check_trains(name, trains):
    if isinstance(trains, Recording):
        return spike_trains(trains)
    if isinstance(trains, np.ndarray) and trains.ndim == 1 and trains.dtype.kind in "iuf":
        trains = [trains]
    try:
        trains = list(trains)
    except TypeError:
        raise TypeError(f"{name} must be a list of spike-time arrays (one per channel) or a "
                        f"Recording, got {type(trains).__name__}") from None
    out = []
    for c, t in enumerate(trains):
        arr = np.asarray(t, dtype=np.float64) if np.size(t) else np.zeros(0)
        if arr.ndim != 1:
            raise ValueError(f"{name}[{c}] must be a 1-D array of spike times (s), got shape "
                             f"{arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}[{c}] must hold finite spike times (no NaN or inf)")
        out.append(np.sort(arr))
    return out


def _van_rossum_squared(a, b, tau):
    """Exact ``(1 / tau) int (f_a - f_b)^2 dt`` for causal exponential kernels, O(n)."""
    events = np.concatenate([a, b])
    signs = np.concatenate([np.ones(a.size), -np.ones(b.size)])
    order = np.argsort(events, kind="stable")
    times = events[order].tolist()
    signs = signs[order].tolist()
    total = 0.0
    g = 0.0  # f_a - f_b just after the last event
    last = times[0] if times else 0.0
    for t, s in zip(times, signs):
        # between events g decays as g exp(-(t - last) / tau):
        # (1 / tau) int_0^d g^2 exp(-2 u / tau) du = g^2 / 2 (1 - exp(-2 d / tau))
        decay = math.exp(-(t - last) / tau)
        total += 0.5 * g * g * (1.0 - decay * decay)
        g = g * decay + s
        last = t
    return total + 0.5 * g * g  # the tail after the last event, to infinity


def van_rossum_distance(spikes_a, spikes_b, tau) -> np.ndarray:
    """van Rossum (2001) distance between spike trains, per channel.

    Each train is convolved with a causal exponential, ``f(t) = sum_i exp(-(t - t_i) / tau)``
    for ``t >= t_i``, and ``D^2 = (1 / tau) int_{-inf}^{inf} (f_a - f_b)^2 dt``, computed
    exactly (no time grid, integrated to infinity) in one pass over the merged spikes.
    In this normalisation a single spike against no spike is ``D^2 = 1/2``, and two single
    spikes ``dt`` apart are ``D^2 = 1 - exp(-|dt| / tau)``; in closed form,
    ``D^2 = 1/2 [sum_ij K(a_i - a_j) + sum_ij K(b_i - b_j) - 2 sum_ij K(a_i - b_j)]`` with
    ``K(x) = exp(-|x| / tau)``.

    Parameters
    ----------
    spikes_a, spikes_b : list of array_like, or Recording
        Spike times (s) per channel, the same number of channels; a Recording gives its
        detected spikes (:func:`spike_trains`); a single 1-D array is one channel.
    tau : float, s
        Kernel time constant (> 0).

    Returns
    -------
    ndarray of shape (n_channels,): ``D`` (not squared), dimensionless

    Examples
    --------
    >>> import math
    >>> d = van_rossum_distance([[0.0]], [[0.01]], tau=0.01)
    >>> bool(abs(d[0] ** 2 - (1 - math.exp(-1))) < 1e-12)
    True
    """
    tau = _positive("tau", tau)
    a = _check_trains("spikes_a", spikes_a)
    b = _check_trains("spikes_b", spikes_b)
    if len(a) != len(b):
        raise ValueError(f"spikes_a and spikes_b must have the same number of channels, got "
                         f"{len(a)} and {len(b)}")
    return np.sqrt(np.maximum([_van_rossum_squared(x, y, tau) for x, y in zip(a, b)], 0.0))


# ----------------------------------------------------------------------------- task transfer
@dataclass(frozen=True)
class TaskTransfer:
    """A teacher-trained readout applied to the student.

    Attributes
    ----------
    agreement : float
        Classifiers: fraction of samples where the readout's outputs on teacher and
        student features are equal. Regressors: ``1 - sum (o_s - o_t)^2 / sum (o_t -
        mean o_t)^2`` (R^2 of the student's outputs against the teacher's, pooled over
        outputs).
    teacher_score, student_score : float
        The readout's accuracy (classifiers) or R^2 (regressors, pooled over outputs) on
        the labels, from teacher and from student features.
    metric : {"accuracy", "r2"}
    n_test : int
        Samples scored.
    """

    agreement: float
    teacher_score: float
    student_score: float
    metric: str
    n_test: int


def _r2(y, pred):
    y = y.reshape(y.shape[0], -1)
    pred = pred.reshape(pred.shape[0], -1)
    sst = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((y - pred) ** 2).sum() / sst) if sst > 0 else float("nan")


def task_transfer(readout, teacher_features, student_features, labels, *, train_fraction=0.5,
                  fitted=False) -> TaskTransfer:
    """Fit a readout on the teacher's features, apply it unchanged to the student's.

    Parameters
    ----------
    readout : estimator with ``fit(X, y)`` and ``predict(X)``
        A scikit-learn classifier (``sklearn.base.is_classifier``) or regressor, e.g.
        ``readout.RidgeClassifierReadout()``. It is cloned before fitting.
    teacher_features, student_features : array_like of shape (n_samples, n_features)
        The same samples (bins, trials) as seen through the teacher and the student: the
        teacher's recorded features and the student's predicted ones.
    labels : array_like of shape (n_samples,) or (n_samples, n_targets)
    train_fraction : float in (0, 1)
        The first ``train_fraction`` of the samples fit the readout (on the teacher); the
        rest are scored. Contiguous, not shuffled: samples of a time series are not
        independent.
    fitted : bool
        True: the readout is already fitted on the teacher; nothing is fitted and every
        sample is scored.

    Returns
    -------
    TaskTransfer

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import RidgeClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> labels = (X[:, 0] > 0).astype(int)
    >>> tt = task_transfer(RidgeClassifier(), X, X + 0.01 * rng.normal(size=X.shape), labels)
    >>> tt.metric, tt.agreement > 0.95, tt.student_score > 0.9
    ('accuracy', True, True)
    """
    from sklearn.base import clone, is_classifier

    if not (hasattr(readout, "fit") and hasattr(readout, "predict")):
        raise TypeError(f"readout must have fit and predict, got {type(readout).__name__}")
    xt = _finite_array("teacher_features", teacher_features, ndim=2)
    xs = _finite_array("student_features", student_features, ndim=2)
    if xt.shape != xs.shape:
        raise ValueError(f"teacher_features and student_features must have one shape, got "
                         f"{xt.shape} and {xs.shape}")
    y = np.asarray(labels)
    if y.shape[0] != xt.shape[0] or y.ndim not in (1, 2):
        raise ValueError(f"labels must have shape ({xt.shape[0]},) or ({xt.shape[0]}, "
                         f"n_targets), got {y.shape}")
    classifier = is_classifier(readout)
    if not classifier:
        y = _finite_array("labels", y)
    if fitted:
        model, test = readout, np.arange(xt.shape[0])
    else:
        train_fraction = _fraction("train_fraction", train_fraction)
        n_train = round(train_fraction * xt.shape[0])
        if n_train < 1 or n_train >= xt.shape[0]:
            raise ValueError(f"train_fraction {train_fraction:g} of {xt.shape[0]} samples "
                             "leaves no training or no test samples")
        model = clone(readout).fit(xt[:n_train], y[:n_train])
        test = np.arange(n_train, xt.shape[0])
    out_t = np.asarray(model.predict(xt[test]))
    out_s = np.asarray(model.predict(xs[test]))
    if classifier:
        agreement = float(np.mean(np.all((out_t == out_s).reshape(test.size, -1), axis=1)))
        eq_t = np.all((out_t == y[test]).reshape(test.size, -1), axis=1)
        eq_s = np.all((out_s == y[test]).reshape(test.size, -1), axis=1)
        return TaskTransfer(agreement, float(eq_t.mean()), float(eq_s.mean()), "accuracy",
                            int(test.size))
    return TaskTransfer(_r2(out_t, out_s), _r2(y[test], out_t), _r2(y[test], out_s), "r2",
                        int(test.size))


# ----------------------------------------------------------------------------- latent similarity
@dataclass(frozen=True)
class LatentSimilarity:
    """How much of the teacher's hidden state the student's state holds.

    Attributes
    ----------
    value : float
        ``"probe"``: held-out R^2 of the linear probe, pooled (variance-weighted) over the
        teacher's hidden units, at most 1. ``"cca"``: mean held-out canonical correlation
        over the compared components, in [-1, 1] (near [0, 1] in practice).
    method : {"probe", "cca"}
    per_dimension : ndarray
        ``"probe"``: held-out R^2 of each hidden unit (NaN for constant units), shape
        (n_hidden,). ``"cca"``: held-out correlation of each canonical pair, shape
        (n_components,).
    n_train, n_test : int
        Bins used to fit and to score.
    """

    value: float
    method: str
    per_dimension: np.ndarray
    n_train: int
    n_test: int


def _standardise(train, test):
    mu = train.mean(axis=0)
    sd = train.std(axis=0)
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def _pca(train, test, variance_kept, max_components):
    """Project onto the leading principal axes of ``train`` (SVCCA's first step)."""
    mu = train.mean(axis=0)
    _, s, vt = np.linalg.svd(train - mu, full_matrices=False)
    power = s**2
    if power.sum() == 0:
        return train[:, :0], test[:, :0]
    keep = int(np.searchsorted(np.cumsum(power) / power.sum(), variance_kept) + 1)
    keep = min(keep, max_components, int(np.sum(s > s[0] * 1e-10)))
    return (train - mu) @ vt[:keep].T, (test - mu) @ vt[:keep].T


def _inverse_sqrt(c):
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.maximum(w, 1e-300))) @ v.T


def latent_similarity(student_states, teacher_hidden, method="probe", *,
                      test_fraction=_DEFAULT_TEST_FRACTION, alphas=_PROBE_ALPHAS,
                      n_components=None, regularisation=1e-3, variance_kept=0.99):
    """Similarity of the student's internal state to the teacher's full hidden state.

    Both arrays describe the same held-out bins. The first ``1 - test_fraction`` of them fit
    the map, the rest score it (contiguous blocks: no shuffling of a time series).

    ``method="probe"``: ridge regression from the standardised student states to the
    teacher's hidden state (penalty by efficient leave-one-out, ``sklearn.linear_model.RidgeCV``),
    scored by held-out R^2 pooled over hidden units: ``1 - sum SSE / sum SST``, so each unit
    counts by its variance (in its own unit, e.g. V^2 for membrane potentials). It asks: can
    the teacher's state be read off the student's? A student that only reproduces the
    electrodes typically cannot.

    ``method="cca"``: both sides are reduced to the principal components that keep
    ``variance_kept`` of their training variance (SVCCA, Raghu et al. 2017), then canonical
    correlation analysis with ridge regularisation (Vinod 1976): covariances
    ``C_xx + r tr(C_xx)/d I``. The canonical directions are fitted on the training bins and
    the correlation of each pair is measured on the held-out bins; the value is their mean
    over ``n_components`` pairs (default: all, ``min`` of the two reduced dimensions). It
    is symmetric and invariant to invertible linear maps of either side.

    Parameters
    ----------
    student_states : array_like of shape (n_bins, n_state)
        E.g. ``student.states(stimulus)``.
    teacher_hidden : array_like of shape (n_bins, n_hidden)
        The teacher's full hidden state binned alike (e.g. the mean membrane potential per
        bin of every neuron).
    method : {"probe", "cca"}
    test_fraction : float in (0, 1)
    alphas : sequence of float
        Probe penalties (on standardised states).
    n_components : int, optional
        CCA pairs to average (at most the reduced dimensions).
    regularisation : float >= 0
        CCA ridge, relative to the mean variance of each side.
    variance_kept : float in (0, 1]
        CCA: training variance kept by each side's principal components.

    Returns
    -------
    LatentSimilarity

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> hidden = rng.normal(size=(1000, 5))
    >>> states = hidden @ rng.normal(size=(5, 5))  # an invertible linear transform
    >>> round(latent_similarity(states, hidden).value, 3)
    1.0
    >>> round(latent_similarity(states, hidden, method="cca").value, 3)
    1.0
    """
    x = _finite_array("student_states", student_states, ndim=2)
    h = _finite_array("teacher_hidden", teacher_hidden, ndim=2)
    if x.shape[0] != h.shape[0]:
        raise ValueError(f"student_states and teacher_hidden must cover the same bins, got "
                         f"{x.shape[0]} and {h.shape[0]} rows")
    if method not in ("probe", "cca"):
        raise ValueError(f"method must be 'probe' or 'cca', got {method!r}")
    test_fraction = _fraction("test_fraction", test_fraction)
    n = x.shape[0]
    n_test = round(test_fraction * n)
    n_train = n - n_test
    if n_test < 2 or n_train < 3:
        raise ValueError(f"{n} bins with test_fraction {test_fraction:g} leave {n_train} "
                         f"training and {n_test} test bins; need at least 3 and 2")
    x_train, x_test = x[:n_train], x[n_train:]
    h_train, h_test = h[:n_train], h[n_train:]

    if method == "probe":
        from sklearn.linear_model import RidgeCV

        alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ValueError(f"alphas must be a non-empty sequence of penalties > 0, got "
                             f"{alphas.tolist()}")
        xs_train, xs_test = _standardise(x_train, x_test)
        model = RidgeCV(alphas=alphas, fit_intercept=True).fit(xs_train, h_train)
        pred = model.predict(xs_test).reshape(n_test, -1)
        sst = ((h_test - h_test.mean(axis=0)) ** 2).sum(axis=0)
        sse = ((h_test - pred) ** 2).sum(axis=0)
        per_unit = np.full(h.shape[1], np.nan)
        per_unit[sst > 0] = 1.0 - sse[sst > 0] / sst[sst > 0]
        value = float(1.0 - sse.sum() / sst.sum()) if sst.sum() > 0 else float("nan")
        return LatentSimilarity(value, "probe", per_unit, n_train, n_test)

    regularisation = _real("regularisation", regularisation)
    if regularisation < 0:
        raise ValueError(f"regularisation must be >= 0, got {regularisation}")
    variance_kept = _real("variance_kept", variance_kept)
    if not 0 < variance_kept <= 1:
        raise ValueError(f"variance_kept must be in (0, 1], got {variance_kept}")
    cap = max(n_train - 2, 1)
    a_train, a_test = _pca(x_train, x_test, variance_kept, cap)
    b_train, b_test = _pca(h_train, h_test, variance_kept, cap)
    d = min(a_train.shape[1], b_train.shape[1])
    if d == 0:
        raise ValueError("student_states or teacher_hidden does not vary over the training bins")
    if n_components is not None:
        n_components = _count("n_components", n_components)
        if n_components > d:
            raise ValueError(f"n_components must be at most {d} (the smaller reduced "
                             f"dimension), got {n_components}")
        d = n_components
    a_mu, b_mu = a_train.mean(axis=0), b_train.mean(axis=0)
    a0, b0 = a_train - a_mu, b_train - b_mu
    caa = a0.T @ a0 / (n_train - 1)
    cbb = b0.T @ b0 / (n_train - 1)
    cab = a0.T @ b0 / (n_train - 1)
    caa = caa + regularisation * np.trace(caa) / caa.shape[0] * np.eye(caa.shape[0])
    cbb = cbb + regularisation * np.trace(cbb) / cbb.shape[0] * np.eye(cbb.shape[0])
    wa, wb = _inverse_sqrt(caa), _inverse_sqrt(cbb)
    u, _, vt = np.linalg.svd(wa @ cab @ wb, full_matrices=False)
    dir_a = wa @ u[:, :d]
    dir_b = wb @ vt[:d].T
    pa = (a_test - a_mu) @ dir_a
    pb = (b_test - b_mu) @ dir_b
    pa -= pa.mean(axis=0)
    pb -= pb.mean(axis=0)
    denom = np.sqrt((pa**2).sum(axis=0) * (pb**2).sum(axis=0))
    corr = np.where(denom > 0, (pa * pb).sum(axis=0) / np.where(denom > 0, denom, 1.0), 0.0)
    return LatentSimilarity(float(np.mean(corr)), "cca", corr, n_train, n_test)


# ----------------------------------------------------------------------------- free running
@dataclass(frozen=True)
class FreeRunningStatistics:
    """Spontaneous-activity statistics of a spiking recording (or a student's imitation).

    Attributes
    ----------
    duration : float, s
    channel_rates : ndarray of shape (n_channels,), Hz
        Spikes per second on each channel.
    mean_rate : float, Hz
        Mean of ``channel_rates``.
    population_rate : float, Hz
        All spikes per second (sum over channels).
    burst_times : ndarray of shape (n_bursts, 2), s
        Start and end of each network burst.
    burst_rate : float, Hz
        Network bursts per second (per minute: times 60).
    inter_burst_intervals : ndarray of shape (n_bursts - 1,), s
        Between successive burst starts.
    mean_burst_duration : float, s
        NaN without bursts.
    fraction_in_bursts : float
        Fraction of all spikes that fall inside a burst (NaN without spikes).
    """

    duration: float
    channel_rates: np.ndarray
    mean_rate: float
    population_rate: float
    burst_times: np.ndarray
    burst_rate: float
    inter_burst_intervals: np.ndarray
    mean_burst_duration: float
    fraction_in_bursts: float

    @property
    def n_bursts(self) -> int:
        """Number of network bursts detected."""
        return int(self.burst_times.shape[0])

    def to_dict(self) -> dict:
        """JSON-friendly dict (arrays as lists, NaN as None)."""
        out = _to_float(asdict(self))
        out["n_bursts"] = self.n_bursts
        return out


def free_running_statistics(spikes, duration=None, *, window=10e-3, min_channels=None,
                            rate_factor=4.0, max_gap=None):
    """Firing rates and network bursts of a spiking recording.

    Network bursts are detected the way MEA studies of cultures do, from population
    activity across electrodes (Chiappalone et al. 2006; Wagenaar et al. 2006): time is cut
    into windows of ``window`` s; a window is *in a burst* when (a) at least
    ``min_channels`` channels fire in it and (b) the population spike count in it is at
    least ``rate_factor`` times the recording's mean count per window. Runs of such windows
    separated by at most ``max_gap`` are merged; each run is one burst, from the start of
    its first window to the end of its last.

    Parameters
    ----------
    spikes : Recording or list of array_like
        A recording with detected spikes, or spike times (s) per channel.
    duration : float, s, optional
        Needed with spike lists (the recording's own duration otherwise).
    window : float, s
        Detection window (> 0); 10 ms resolves the ~100 ms bursts of cultures.
    min_channels : int, optional
        Default ``max(2, ceil(n_channels / 4))``: a quarter of the array must take part.
    rate_factor : float
        Population-rate threshold, in multiples of the mean (> 0).
    max_gap : float, s, optional
        Quiet time bridged within one burst; default ``window`` (one quiet window).

    Returns
    -------
    FreeRunningStatistics

    Examples
    --------
    >>> import numpy as np
    >>> bursts = [0.5, 1.5, 2.5]  # three bursts: every channel fires 3 spikes in 20 ms
    >>> trains = [np.sort(np.concatenate([b + np.array([0.002, 0.008, 0.015]) for b in bursts]))
    ...           for _ in range(8)]
    >>> stats = free_running_statistics(trains, duration=3.0)
    >>> stats.n_bursts, round(stats.burst_rate, 3), stats.inter_burst_intervals.round(2).tolist()
    (3, 1.0, [1.0, 1.0])
    """
    if isinstance(spikes, Recording):
        if duration is None:
            duration = spikes.duration
        trains = spike_trains(spikes)
    else:
        trains = _check_trains("spikes", spikes)
        if duration is None:
            raise ValueError("duration (s) is needed when spikes is a list of spike trains")
    duration = _positive("duration", duration)
    window = _positive("window", window)
    rate_factor = _positive("rate_factor", rate_factor, "multiples of the mean rate")
    max_gap = window if max_gap is None else _real("max_gap", max_gap)
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0 (s), got {max_gap}")
    n_channels = len(trains)
    if n_channels == 0:
        raise ValueError("spikes must hold at least one channel")
    if min_channels is None:
        min_channels = max(2, math.ceil(n_channels / 4))
    min_channels = _count("min_channels", min_channels)
    for c, t in enumerate(trains):
        if t.size and (t[0] < 0 or t[-1] > duration):
            raise ValueError(f"spikes[{c}] has times outside [0, duration = {duration:g} s]")
    counts = np.array([t.size for t in trains], dtype=np.float64)
    channel_rates = counts / duration
    n_windows = max(1, math.ceil(duration / window - 1e-9))
    per_window = np.zeros((n_windows, n_channels))
    for c, t in enumerate(trains):
        idx = np.minimum((t / window).astype(np.int64), n_windows - 1)
        np.add.at(per_window[:, c], idx, 1.0)
    population = per_window.sum(axis=1)
    active = (per_window > 0).sum(axis=1)
    mean_count = counts.sum() / n_windows
    hot = (active >= min_channels) & (population >= rate_factor * mean_count) & (population > 0)
    bursts = []
    gap_windows = math.floor(max_gap / window + 1e-9)
    idx = np.flatnonzero(hot)
    if idx.size:
        start = prev = idx[0]
        for i in idx[1:]:
            if i - prev - 1 > gap_windows:
                bursts.append((start, prev))
                start = i
            prev = i
        bursts.append((start, prev))
    burst_times = np.array([(s * window, min((e + 1) * window, duration)) for s, e in bursts],
                           dtype=np.float64).reshape(-1, 2)
    in_burst = sum(float(population[s:e + 1].sum()) for s, e in bursts)
    total = float(counts.sum())
    return FreeRunningStatistics(
        duration=duration,
        channel_rates=channel_rates,
        mean_rate=float(channel_rates.mean()),
        population_rate=float(counts.sum() / duration),
        burst_times=burst_times,
        burst_rate=len(bursts) / duration,
        inter_burst_intervals=np.diff(burst_times[:, 0]),
        mean_burst_duration=(float(np.mean(burst_times[:, 1] - burst_times[:, 0]))
                             if bursts else float("nan")),
        fraction_in_bursts=in_burst / total if total > 0 else float("nan"),
    )


def compare_free_running(teacher, student) -> dict:
    """Side-by-side ratios of two :class:`FreeRunningStatistics` (student over teacher).

    Returns
    -------
    dict of float (NaN where undefined, e.g. a ratio to zero or no bursts)
        ``mean_rate_ratio``, ``burst_rate_ratio``, ``mean_ibi_ratio`` (mean inter-burst
        interval), ``mean_burst_duration_ratio``, ``fraction_in_bursts_difference``
        (student minus teacher) and ``channel_rate_correlation`` (Pearson, over channels).

    Examples
    --------
    >>> import numpy as np
    >>> t = free_running_statistics([np.arange(10) * 0.1] * 4, duration=1.0)
    >>> s = free_running_statistics([np.arange(20) * 0.05] * 4, duration=1.0)
    >>> compare_free_running(t, s)["mean_rate_ratio"]
    2.0
    """
    for name, value in (("teacher", teacher), ("student", student)):
        if not isinstance(value, FreeRunningStatistics):
            raise TypeError(f"{name} must be FreeRunningStatistics, got {type(value).__name__}")
    if teacher.channel_rates.size != student.channel_rates.size:
        raise ValueError(f"teacher and student must count the same channels, got "
                         f"{teacher.channel_rates.size} and {student.channel_rates.size}")

    def ratio(a, b):
        return float(b / a) if (a > 0 and math.isfinite(a) and math.isfinite(b)) else float("nan")

    def mean_or_nan(x):
        return float(np.mean(x)) if x.size else float("nan")

    rates_t, rates_s = teacher.channel_rates, student.channel_rates
    if rates_t.size > 1 and rates_t.std() > 0 and rates_s.std() > 0:
        corr = float(np.corrcoef(rates_t, rates_s)[0, 1])
    else:
        corr = float("nan")
    return {
        "mean_rate_ratio": ratio(teacher.mean_rate, student.mean_rate),
        "burst_rate_ratio": ratio(teacher.burst_rate, student.burst_rate),
        "mean_ibi_ratio": ratio(mean_or_nan(teacher.inter_burst_intervals),
                                mean_or_nan(student.inter_burst_intervals)),
        "mean_burst_duration_ratio": ratio(teacher.mean_burst_duration,
                                           student.mean_burst_duration),
        "fraction_in_bursts_difference": float(student.fraction_in_bursts
                                               - teacher.fraction_in_bursts),
        "channel_rate_correlation": corr,
    }


# ----------------------------------------------------------------------------- the report
@dataclass
class FidelityReport:
    """The fidelity numbers of one student against its teacher, side by side.

    Every field is optional (None when not measured). Prediction fidelity and latent
    similarity are meant to be read together: high prediction with low latent similarity
    is a student that imitates the electrodes with different dynamics inside.

    Attributes
    ----------
    normalised_ev, raw_ev, noise_ceiling : float
        Pooled :func:`normalised_explained_variance`, its raw EV, and the pooled ceiling.
    spike_count_correlation : float
        Mean over channels of :func:`spike_count_correlation`.
    van_rossum : float
        Mean over channels of the student-teacher :func:`van_rossum_distance`.
    van_rossum_teacher : float
        The same between two teacher repeats: the distance noise alone gives.
    task_agreement, task_teacher_score, task_student_score : float
        From :func:`task_transfer`; ``task_metric`` says "accuracy" or "r2".
    latent_probe_r2, latent_cca : float
        From :func:`latent_similarity`.
    free_running : dict
        :func:`compare_free_running` output.
    extra : dict
        Anything else (budget, student name, ...).

    Examples
    --------
    >>> FidelityReport(normalised_ev=0.93, latent_probe_r2=0.12).to_dict()["latent_probe_r2"]
    0.12
    """

    normalised_ev: float | None = None
    raw_ev: float | None = None
    noise_ceiling: float | None = None
    spike_count_correlation: float | None = None
    van_rossum: float | None = None
    van_rossum_teacher: float | None = None
    task_agreement: float | None = None
    task_teacher_score: float | None = None
    task_student_score: float | None = None
    task_metric: str | None = None
    latent_probe_r2: float | None = None
    latent_cca: float | None = None
    free_running: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly dict (floats, lists; NaN as None)."""
        return _to_float(asdict(self))

    def summary(self) -> str:
        """One line per measured number."""
        lines = []
        for key, value in self.to_dict().items():
            if value is None or value == {}:
                continue
            if isinstance(value, dict):
                for k, v in value.items():
                    lines.append(f"{key}.{k}: {v:.4g}" if isinstance(v, float) else
                                 f"{key}.{k}: {v}")
            else:
                lines.append(f"{key}: {value:.4g}" if isinstance(value, float) else
                             f"{key}: {value}")
        return "\n".join(lines)
