"""Linear readouts fitted from running sums: ridge regression and a ridge classifier.

Both readouts are scikit-learn estimators (``fit`` / ``predict`` / ``score``, learned
attributes ending in ``_``) that never keep the samples they were fitted on. Each trial is
reduced to its sufficient statistics (:class:`TrialSums`: sample count, means and the
centred scatter matrices X'X, X'Y, diag(Y'Y)), trials are merged exactly, and the solve uses
one symmetric eigendecomposition of the centred X'X, after which each candidate ridge
penalty costs O(d * n_targets) for generalised cross-validation (GCV) and O(d^2 * n_targets)
per trial for leave-one-trial-out (LOTO) cross-validation.

Why the sums are centred within each trial
------------------------------------------
Storing raw sums (X'X, sum x, n) and centring at the end, ``X'X - n m m'``, loses about
``log10(|m|^2 / var)`` digits to cancellation when the features ride on a large offset (a
reservoir's mean firing rate, an electrode's DC potential). Each :class:`TrialSums` is
therefore centred on its own trial mean and two of them are merged with the pairwise update
of Chan, Golub and LeVeque (1979), ``C = C_a + C_b + n_a n_b / n (m_a - m_b)(m_a - m_b)'``,
which holds the same information as the raw sums and loses no digits to the offset.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

__all__ = ["DEFAULT_ALPHAS", "RidgeClassifierReadout", "RidgeReadout", "TrialSums", "blocked_groups",
           "fit_time_series_ridge"]

#: The default grid of ridge penalties: 25 values, 10**-8 to 10**4 in half decades
#: (``np.logspace(-8, 4, 25)`` as a tuple of floats, so ``__init__`` can store it unchanged).
DEFAULT_ALPHAS = tuple(float(10.0 ** (k / 2)) for k in range(-16, 9))

_SELECTIONS = ("gcv", "loto")


# --------------------------------------------------------------------------------------
# sufficient statistics of one trial (or of several merged trials)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TrialSums:
    """Sufficient statistics of one trial for a linear least-squares readout.

    Everything a ridge fit needs from a trial, centred on the trial's own means (see the
    module docstring for why). ``a + b`` (or :meth:`merge`) combines trials exactly, so
    trials can be reduced in parallel and merged in any order.

    Parameters
    ----------
    n_samples : int
        Number of samples (time steps) in the trial, after any warm-up was dropped.
    mean_x : array of shape (n_features,)
        Mean of the features over the trial.
    mean_y : array of shape (n_targets,)
        Mean of the targets over the trial.
    scatter_xx : array of shape (n_features, n_features)
        Centred scatter ``(X - mean_x)' (X - mean_x)``.
    scatter_xy : array of shape (n_features, n_targets)
        Centred cross scatter ``(X - mean_x)' (Y - mean_y)``.
    scatter_yy : array of shape (n_targets,)
        Centred target sums of squares ``sum((Y - mean_y) ** 2, axis=0)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    >>> a = TrialSums.from_arrays(X[:20], y[:20])
    >>> b = TrialSums.from_arrays(X[20:], y[20:])
    >>> whole = TrialSums.from_arrays(X, y)
    >>> bool(np.allclose((a + b).scatter_xx, whole.scatter_xx))
    True
    """

    n_samples: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    scatter_xx: np.ndarray
    scatter_xy: np.ndarray
    scatter_yy: np.ndarray

    @classmethod
    def from_arrays(cls, X, y, warmup=0):
        """Reduce one trial to its sums.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            The trial's features, time-major.
        y : array of shape (n_samples,) or (n_samples, n_targets)
            The trial's targets.
        warmup : int, default 0
            Number of leading samples to drop (the transient); must be smaller than
            ``n_samples``.

        Returns
        -------
        TrialSums
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y must have shape (n_samples,) or (n_samples, n_targets) with "
                f"n_samples={X.shape[0]} like X, got shape {y.shape}"
            )
        warmup = _check_warmup(warmup)
        if warmup >= X.shape[0]:
            raise ValueError(
                f"warmup={warmup} must be smaller than the trial length; the trial has "
                f"{X.shape[0]} samples"
            )
        X, y = X[warmup:], y[warmup:]
        mean_x, mean_y = X.mean(axis=0), y.mean(axis=0)
        Xc, yc = X - mean_x, y - mean_y
        return cls(
            n_samples=int(X.shape[0]),
            mean_x=mean_x,
            mean_y=mean_y,
            scatter_xx=Xc.T @ Xc,
            scatter_xy=Xc.T @ yc,
            scatter_yy=np.einsum("ij,ij->j", yc, yc),
        )

    @property
    def n_features(self):
        """Number of features."""
        return self.mean_x.shape[0]

    @property
    def n_targets(self):
        """Number of targets."""
        return self.mean_y.shape[0]

    def __add__(self, other):
        if not isinstance(other, TrialSums):
            return NotImplemented
        if (other.n_features, other.n_targets) != (self.n_features, self.n_targets):
            raise ValueError(
                "cannot merge TrialSums of different shapes: "
                f"{self.n_features} features x {self.n_targets} targets and "
                f"{other.n_features} features x {other.n_targets} targets"
            )
        n = self.n_samples + other.n_samples
        fa, fb = self.n_samples / n, other.n_samples / n
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        w = self.n_samples * fb  # n_a n_b / n
        return TrialSums(
            n_samples=n,
            mean_x=fa * self.mean_x + fb * other.mean_x,
            mean_y=fa * self.mean_y + fb * other.mean_y,
            scatter_xx=self.scatter_xx + other.scatter_xx + w * np.outer(dx, dx),
            scatter_xy=self.scatter_xy + other.scatter_xy + w * np.outer(dx, dy),
            scatter_yy=self.scatter_yy + other.scatter_yy + w * dy * dy,
        )

    @staticmethod
    def merge(sums):
        """Merge a non-empty sequence of :class:`TrialSums` into one (pairwise, balanced)."""
        sums = list(sums)
        if not sums:
            raise ValueError("merge needs at least one TrialSums, got none")
        while len(sums) > 1:  # pairwise tree: error grows with log(n_trials), not n_trials
            sums = [sums[i] + sums[i + 1] if i + 1 < len(sums) else sums[i]
                    for i in range(0, len(sums), 2)]
        return sums[0]

    def sse(self, coef, intercept):
        """Sum of squared residuals of ``y ~ X coef + intercept`` over this trial.

        Parameters
        ----------
        coef : array of shape (..., n_features, n_targets)
        intercept : array of shape (..., n_targets)

        Returns
        -------
        array of shape (..., n_targets)
        """
        # residual = (yc - Xc coef) + (mean_y - mean_x coef - intercept); cross terms vanish
        coef = np.asarray(coef, dtype=np.float64)
        quad = ((self.scatter_xx @ coef) * coef).sum(axis=-2)  # batched BLAS matmul
        cross = (coef * self.scatter_xy).sum(axis=-2)
        offset = self.mean_y - self.mean_x @ coef - intercept
        return self.scatter_yy - 2.0 * cross + quad + self.n_samples * offset**2

    def _uncentred(self):
        """(X'X, X'Y, diag Y'Y) about the origin, for fits without an intercept."""
        n, mx, my = self.n_samples, self.mean_x, self.mean_y
        return (self.scatter_xx + n * np.outer(mx, mx),
                self.scatter_xy + n * np.outer(mx, my),
                self.scatter_yy + n * my * my)


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def blocked_groups(n_samples, n_blocks=5):
    """Contiguous blocks of a time series as cross-validation groups.

    Leave-one-out and generalised cross-validation treat samples as independent; the
    states of a reservoir or a substrate are autocorrelated in time, so they pick far too
    small a penalty (a neighbour in time leaks the held-out answer). Holding out whole
    contiguous blocks (``alpha_selection="loto"`` with these groups) does not.

    Parameters
    ----------
    n_samples : int >= n_blocks
    n_blocks : int >= 2

    Returns
    -------
    int array of shape (n_samples,): block index of each sample, non-decreasing.

    Examples
    --------
    >>> blocked_groups(7, 3).tolist()
    [0, 0, 1, 1, 1, 2, 2]
    """
    if n_blocks < 2 or n_samples < n_blocks:
        raise ValueError(f"need n_blocks >= 2 and n_samples >= n_blocks, got {n_blocks} and {n_samples}")
    return np.repeat(np.arange(n_blocks), np.diff(np.linspace(0, n_samples, n_blocks + 1).round().astype(int)))


def fit_time_series_ridge(X, y, *, n_blocks=5, alphas=None):
    """A :class:`RidgeReadout` whose penalty is chosen by blocked cross-validation (time series).

    Parameters
    ----------
    X : array of shape (n_samples, n_features), rows in time order
    y : array of shape (n_samples,) or (n_samples, n_targets)
    n_blocks : int
        Contiguous validation blocks (see :func:`blocked_groups`).
    alphas : sequence of float, optional
        Default :data:`DEFAULT_ALPHAS`.

    Returns
    -------
    RidgeReadout, fitted.
    """
    model = RidgeReadout(alphas=DEFAULT_ALPHAS if alphas is None else alphas, alpha_selection="loto")
    return model.fit(X, y, groups=blocked_groups(len(X), n_blocks))


def _check_warmup(warmup):
    if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0 (samples dropped per trial), got {warmup!r}")
    return int(warmup)


def _check_alphas(alphas):
    try:
        a = np.asarray(alphas, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"alphas must be a positive float or a sequence of them, got {alphas!r}") from None
    if a.size == 0:
        raise ValueError("alphas must hold at least one ridge penalty, got an empty sequence")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alphas must be finite and > 0, got {a.tolist()}")
    return a


def _check_params(est):
    alphas = _check_alphas(est.alphas)
    if not isinstance(est.fit_intercept, (bool, np.bool_)):
        raise TypeError(f"fit_intercept must be True or False, got {est.fit_intercept!r}")
    if est.alpha_selection not in _SELECTIONS:
        raise ValueError(f"alpha_selection must be one of {_SELECTIONS}, got {est.alpha_selection!r}")
    warmup = _check_warmup(est.warmup)
    return alphas, warmup


def _split_trials(X, y, groups, warmup):
    """TrialSums of each group (groups in order of first appearance)."""
    if groups is None:
        return [TrialSums.from_arrays(X, y, warmup)]
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != X.shape[0]:
        raise ValueError(
            f"groups must have shape (n_samples,) = ({X.shape[0]},), got shape {groups.shape}"
        )
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    sums = []
    for g in order:
        idx = np.flatnonzero(inverse == g)
        if idx.size <= warmup:
            raise ValueError(
                f"warmup={warmup} must be smaller than every trial's length; trial "
                f"{groups[idx[0]]!r} has {idx.size} samples"
            )
        sums.append(TrialSums.from_arrays(X[idx], y[idx], warmup))
    return sums


# --------------------------------------------------------------------------------------
# the solver shared by both readouts
# --------------------------------------------------------------------------------------
def _eig_problem(total, fit_intercept):
    """Eigendecomposition of the (centred) X'X and the projected X'Y."""
    if fit_intercept:
        sxx, sxy, syy = total.scatter_xx, total.scatter_xy, total.scatter_yy
    else:
        sxx, sxy, syy = total._uncentred()
    s, V = np.linalg.eigh(sxx)
    s = np.clip(s, 0.0, None)  # X'X is positive semi-definite; drop rounding negatives
    return s, V, V.T @ sxy, syy


def _coef_for(s, V, q, alpha):
    """Ridge weights, shape (n_features, n_targets), for one penalty."""
    return V @ (q / (s + alpha)[:, None])


def _gcv(eig, n, alphas, fit_intercept):
    """GCV criterion, shape (n_alphas, n_targets): n RSS / (n - dof)^2, from the sums alone."""
    s, _, q, syy = eig
    a = alphas[:, None]
    shrink = s / (s + a)  # (n_alphas, d)
    # RSS = y'y - 2 w'X'y + w'X'Xw with w = V q / (s + a): in each eigen-direction the
    # last two terms give q^2 (2/(s+a) - s/(s+a)^2) = q^2 (s + 2a)/(s+a)^2, so
    # RSS(a) = y'y - sum_i q_i^2 (s_i + 2a)/(s_i + a)^2: O(d n_targets) per penalty
    gain = (s + 2 * a) / (s + a) ** 2  # (n_alphas, d)
    rss = syy[None, :] - gain @ (q**2)
    rss = np.maximum(rss, 0.0)
    dof = shrink.sum(axis=1) + (1.0 if fit_intercept else 0.0)
    resid_dof = n - dof
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = np.where(resid_dof[:, None] > 0, n * rss / resid_dof[:, None] ** 2, np.inf)
    return crit


def _loto(trials, alphas, fit_intercept):
    """Leave-one-trial-out mean squared error, shape (n_alphas, n_targets)."""
    k = len(trials)
    # prefix/suffix merges give every "all but trial i" in O(k) merges with no subtraction
    prefix, suffix = [None] * (k + 1), [None] * (k + 1)
    for i in range(k):
        prefix[i + 1] = trials[i] if prefix[i] is None else prefix[i] + trials[i]
    for i in range(k - 1, -1, -1):
        suffix[i] = trials[i] if suffix[i + 1] is None else trials[i] + suffix[i + 1]
    sse = 0.0
    n_total = 0
    for i, held in enumerate(trials):
        parts = [p for p in (prefix[i], suffix[i + 1]) if p is not None]
        train = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        s, V, q, _ = _eig_problem(train, fit_intercept)
        W = V @ (q[None] / (s[None, :, None] + alphas[:, None, None]))  # (n_alphas, d, t)
        if fit_intercept:
            b = train.mean_y[None, :] - train.mean_x @ W
        else:
            b = np.zeros((alphas.size, train.n_targets))
        sse = sse + held.sse(W, b)
        n_total += held.n_samples
    return sse / n_total


class _SumsRidgeBase(BaseEstimator):
    """Shared fitting machinery: sums -> alpha selection -> coef_, intercept_."""

    def _solve(self, trials, alphas, selection, total=None):
        total = TrialSums.merge(trials) if total is None else total
        eig = _eig_problem(total, self.fit_intercept)
        if alphas.size == 1:
            scores = np.full((1, total.n_targets), np.nan)
            best = 0
        else:
            scores = (_gcv(eig, total.n_samples, alphas, self.fit_intercept) if selection == "gcv"
                      else _loto(trials, alphas, self.fit_intercept))
            mean = scores.mean(axis=1)
            finite = np.isfinite(mean)
            # ties go to the first listed penalty; with no finite score (n <= dof for
            # every alpha, e.g. a single sample) fall back to the largest, safest penalty
            best = (int(np.argmin(np.where(finite, mean, np.inf))) if finite.any()
                    else int(np.argmax(alphas)))
        s, V, q, _ = eig
        W = _coef_for(s, V, q, alphas[best])
        if self.fit_intercept:
            b = total.mean_y - total.mean_x @ W
        else:
            b = np.zeros(total.n_targets)
        self.alpha_ = float(alphas[best])
        self.alphas_ = alphas
        self.cv_mse_ = scores.mean(axis=1)
        self.cv_mse_per_target_ = scores
        self.alpha_selection_used_ = selection if alphas.size > 1 else "fixed"
        self.n_samples_seen_ = total.n_samples
        self.n_trials_ = len(trials)
        self.trial_sums_ = list(trials)
        self._total_sums = total
        return W.T, b  # (n_targets, n_features), (n_targets,)

    def _selection_for(self, n_trials, *, partial):
        if self.alpha_selection == "loto" and n_trials < 2:
            if partial:
                return "gcv"
            raise ValueError(
                "alpha_selection='loto' needs at least 2 trials (distinct groups); got "
                f"{n_trials}. Pass groups=, or use alpha_selection='gcv'"
            )
        return self.alpha_selection


# --------------------------------------------------------------------------------------
# public estimators
# --------------------------------------------------------------------------------------
class RidgeReadout(RegressorMixin, _SumsRidgeBase):
    """Ridge regression fitted from running sums, with GCV or leave-one-trial-out alpha search.

    Minimises ``||y - X w - b||^2 + alpha ||w||^2`` (the intercept ``b`` is not penalised),
    exactly like :class:`sklearn.linear_model.Ridge`, but from per-trial sums only, so
    trials can stream in (:meth:`partial_fit`) or be reduced in parallel and merged
    (:class:`TrialSums`, :meth:`fit_sums`). One eigendecomposition of the centred X'X serves
    every candidate penalty.

    Parameters
    ----------
    alphas : float or sequence of float, default DEFAULT_ALPHAS
        Candidate ridge penalties (> 0), in units of the squared features. A single value
        fits that penalty with no search. Default: 25 values, ``np.logspace(-8, 4, 25)``.
    fit_intercept : bool, default True
        Fit an unpenalised intercept (centre X and y).
    alpha_selection : {"gcv", "loto"}, default "gcv"
        ``"gcv"``: generalised cross-validation from the merged sums alone,
        ``GCV(alpha) = n RSS(alpha) / (n - dof(alpha))^2`` with
        ``dof = sum_i s_i / (s_i + alpha)`` (+1 for the intercept), ``s_i`` the eigenvalues
        of the centred X'X. ``"loto"``: leave-one-trial-out cross-validation, the mean
        squared error on each held-out trial of the fit to the others (needs >= 2 trials:
        ``groups`` in :meth:`fit`, or several :meth:`partial_fit` calls). With several
        targets one penalty is chosen for all of them, by the mean over targets.
    warmup : int, default 0
        Samples dropped at the start of each trial (each group) before the sums, to discard
        the substrate's transient. Applies to fitting only; :meth:`predict` and
        :meth:`score` use every sample they are given.

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
        Weights; 1-D when ``y`` was 1-D, as in scikit-learn.
    intercept_ : float or array of shape (n_targets,)
    alpha_ : float
        The chosen penalty.
    alphas_ : array of shape (n_alphas,)
        The candidate penalties, as validated.
    cv_mse_ : array of shape (n_alphas,)
        The selection criterion for each candidate (lower is better), averaged over
        targets: the GCV estimate of the out-of-sample mean squared error, or the
        leave-one-trial-out mean squared error. NaN when a single alpha was given; inf
        where GCV is undefined (n_samples <= degrees of freedom); if every candidate is
        inf, the largest penalty is chosen.
    cv_mse_per_target_ : array of shape (n_alphas, n_targets)
    alpha_selection_used_ : str
        "gcv", "loto" or "fixed" (single alpha). :meth:`partial_fit` with
        ``alpha_selection="loto"`` uses "gcv" while only one trial has been seen.
    n_features_in_ : int
    n_samples_seen_ : int
        Samples in the sums (after warm-up).
    n_trials_ : int
    trial_sums_ : list of TrialSums
        Per-trial sums, kept for leave-one-trial-out and further :meth:`partial_fit`.

    Notes
    -----
    Cost: reducing a trial of T samples is O(T d^2); each fit is one O(d^3)
    eigendecomposition, then O(d n_targets) per penalty for GCV, or for LOTO one
    eigendecomposition per trial and O(d^2 n_targets) per penalty and trial. Every
    :meth:`partial_fit` refits, so streaming k trials with ``"loto"`` costs O(k^2 d^3) in
    all; for many trials, reduce them with :meth:`TrialSums.from_arrays` and call
    :meth:`fit_sums` once.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.01 * rng.normal(size=200)
    >>> model = RidgeReadout().fit(X, y)
    >>> bool(np.allclose(model.coef_, [1.0, -2.0, 0.5, 0.0], atol=0.01))
    True
    >>> streamed = RidgeReadout()
    >>> for trial in np.split(np.arange(200), 4):
    ...     streamed = streamed.partial_fit(X[trial], y[trial])
    >>> bool(np.allclose(streamed.coef_, model.coef_))
    True
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, fit_intercept=True, alpha_selection="gcv", warmup=0):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.alpha_selection = alpha_selection
        self.warmup = warmup

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _validate_xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, multi_output=True, y_numeric=True,
                             dtype=np.float64)
        return X, y

    def fit(self, X, y, groups=None):
        """Fit from samples, one trial per distinct value of ``groups``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,) or (n_samples, n_targets)
        groups : array of shape (n_samples,), optional
            Trial label of each sample (any hashable values; trials need not be
            contiguous; within a trial, samples are in time order). None: one trial.

        Returns
        -------
        self
        """
        alphas, warmup = _check_params(self)
        X, y = self._validate_xy(X, y, reset=True)
        trials = _split_trials(X, y, groups, warmup)
        return self._finish(trials, alphas, self._selection_for(len(trials), partial=False),
                            y_is_1d=(y.ndim == 1))

    def partial_fit(self, X, y):
        """Add one trial's sums and refit (trials stream; the samples are not kept).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            One trial, time-major; its first ``warmup`` samples are dropped.
        y : array of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        alphas, warmup = _check_params(self)
        first = not hasattr(self, "trial_sums_")
        X, y = self._validate_xy(X, y, reset=first)
        trial = TrialSums.from_arrays(X, y, warmup)
        if not first and ((y.ndim == 1) != self._y_is_1d
                          or trial.n_targets != self.trial_sums_[0].n_targets):
            raise ValueError(
                f"y has {trial.n_targets} target(s) (ndim {y.ndim}), but earlier trials had "
                f"{self.trial_sums_[0].n_targets} (ndim {1 if self._y_is_1d else 2})"
            )
        trials = ([] if first else list(self.trial_sums_)) + [trial]
        total = trial if first else self._total_sums + trial  # running merge: O(d^2) a trial
        return self._finish(trials, alphas, self._selection_for(len(trials), partial=True),
                            y_is_1d=(y.ndim == 1), total=total)

    def fit_sums(self, trial_sums, y_is_1d=False):
        """Fit from precomputed :class:`TrialSums` (one per trial, e.g. reduced in parallel).

        Parameters
        ----------
        trial_sums : sequence of TrialSums
            One entry per trial (LOTO holds out each entry); warm-up was applied when they
            were made, so ``self.warmup`` is not used here.
        y_is_1d : bool, default False
            Give ``coef_`` shape (n_features,) and a float ``intercept_`` (one target only).

        Returns
        -------
        self
        """
        alphas, _ = _check_params(self)
        trials = list(trial_sums)
        if not trials or not all(isinstance(t, TrialSums) for t in trials):
            raise TypeError("trial_sums must be a non-empty sequence of TrialSums")
        if y_is_1d and trials[0].n_targets != 1:
            raise ValueError(f"y_is_1d=True needs one target, got {trials[0].n_targets}")
        self.n_features_in_ = trials[0].n_features
        if hasattr(self, "feature_names_in_"):  # sums carry no column names
            del self.feature_names_in_
        return self._finish(trials, alphas, self._selection_for(len(trials), partial=False),
                            y_is_1d=y_is_1d)

    def _finish(self, trials, alphas, selection, y_is_1d, total=None):
        coef, intercept = self._solve(trials, alphas, selection, total)
        self._y_is_1d = y_is_1d
        if y_is_1d:
            self.coef_, self.intercept_ = coef[0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef, intercept
        return self

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_


class RidgeClassifierReadout(ClassifierMixin, _SumsRidgeBase):
    """Ridge classifier fitted from running sums (one-vs-all regression on +-1 targets).

    Labels are coded +1 for the sample's class and -1 for the others (a single +-1 column
    for two classes), a :class:`RidgeReadout`-style fit is made from the sums, and the class
    with the largest decision value wins: the same model as
    :class:`sklearn.linear_model.RidgeClassifier`, with the penalty chosen by GCV or
    leave-one-trial-out mean squared error on the coded targets.

    Parameters
    ----------
    alphas, fit_intercept, alpha_selection, warmup
        As in :class:`RidgeReadout`.

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    coef_ : array of shape (n_features,) for two classes, else (n_classes, n_features)
        As :class:`sklearn.linear_model.RidgeClassifier` (1.9): 1-D for two classes.
    intercept_ : array of shape (1,) or (n_classes,)
    alpha_, alphas_, cv_mse_, cv_mse_per_target_, alpha_selection_used_, n_features_in_,
    n_samples_seen_, n_trials_, trial_sums_
        As in :class:`RidgeReadout` (MSE on the +-1 coded targets).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    >>> labels = np.repeat([0, 1, 2], 50)
    >>> X = centres[labels] + 0.5 * rng.normal(size=(150, 2))
    >>> clf = RidgeClassifierReadout().fit(X, labels)
    >>> clf.classes_
    array([0, 1, 2])
    >>> clf.score(X, labels) > 0.95
    True
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, fit_intercept=True, alpha_selection="gcv", warmup=0):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.alpha_selection = alpha_selection
        self.warmup = warmup

    def _encode(self, y):
        Y = self._binarizer.transform(y).astype(np.float64)
        return Y

    def _set_classes(self, classes):
        classes = np.asarray(classes)
        if classes.ndim != 1 or np.unique(classes).size != classes.size:
            raise ValueError(f"classes must be a 1-D array of distinct labels, got {classes!r}")
        if classes.size < 2:
            raise ValueError(
                f"RidgeClassifierReadout needs at least 2 classes; got {classes.size} class"
            )
        self._binarizer = LabelBinarizer(pos_label=1, neg_label=-1).fit(classes)
        self.classes_ = self._binarizer.classes_

    def fit(self, X, y, groups=None):
        """Fit from samples, one trial per distinct value of ``groups``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,)
            Class labels.
        groups : array of shape (n_samples,), optional
            Trial label of each sample. None: one trial.

        Returns
        -------
        self
        """
        alphas, warmup = _check_params(self)
        X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._set_classes(np.unique(y))
        trials = _split_trials(X, self._encode(y), groups, warmup)
        coef, intercept = self._solve(trials, alphas, self._selection_for(len(trials), partial=False))
        self._set_coef(coef, intercept)
        return self

    def partial_fit(self, X, y, classes=None):
        """Add one trial's sums and refit.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            One trial; its first ``warmup`` samples are dropped.
        y : array of shape (n_samples,)
        classes : array of shape (n_classes,), optional
            Every class that will ever be seen; required on the first call (a trial rarely
            holds every class), ignored afterwards unless it disagrees.

        Returns
        -------
        self
        """
        alphas, warmup = _check_params(self)
        first = not hasattr(self, "trial_sums_")
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._set_classes(np.unique(classes))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} differs from the classes of the first call {self.classes_!r}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown!r} not in classes {self.classes_!r}")
        trial = TrialSums.from_arrays(X, self._encode(y), warmup)
        trials = ([] if first else list(self.trial_sums_)) + [trial]
        total = trial if first else self._total_sums + trial
        coef, intercept = self._solve(trials, alphas, self._selection_for(len(trials), partial=True),
                                      total)
        self._set_coef(coef, intercept)
        return self

    def _set_coef(self, coef, intercept):
        # as sklearn's RidgeClassifier (>= 1.8): coef_ is 1-D for two classes
        self.coef_ = coef[0] if coef.shape[0] == 1 else coef
        self.intercept_ = intercept

    def decision_function(self, X):
        """Decision values.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,) for two classes (positive means ``classes_[1]``), else
        (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
