"""Tests for the ridge readouts fitted from running sums (readout/_linear.py).

References: scikit-learn's Ridge / RidgeCV / RidgeClassifier (direct solvers on the samples)
and brute-force loops (explicit hat matrix for GCV, refits for leave-one-trial-out).
"""

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeClassifier, RidgeCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from readout._linear import (
    DEFAULT_ALPHAS,
    RidgeClassifierReadout,
    RidgeReadout,
    TrialSums,
)

# Both sides solve the same float64 normal equations by different factorisations
# (eigendecomposition here, Cholesky/SVD in scikit-learn); their difference is rounding,
# ~ eps * cond(X'X + alpha I). The data below keep cond below ~1e3, so differences are
# ~1e-13; 1e-10 relative leaves three orders of margin and still catches any formula slip.
EXACT = 1e-10


def _data(seed=0, n=240, d=6, t=None, offset=5.0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + offset * rng.normal(size=d)
    W = rng.normal(size=(d,) if t is None else (d, t))
    y = X @ W + noise * rng.normal(size=(n,) if t is None else (n, t)) + 2.0
    return X, y


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# ----------------------------------------------------------------------------------------
# fixed alpha: identical to scikit-learn's Ridge
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 3])
@pytest.mark.parametrize("alpha", [1e-6, 1.0, 300.0])
def test_fixed_alpha_equals_sklearn_ridge(fit_intercept, n_targets, alpha):
    X, y = _data(t=n_targets)
    ours = RidgeReadout(alphas=alpha, fit_intercept=fit_intercept).fit(X, y)
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape
    assert _rel(ours.coef_, ref.coef_) < EXACT
    assert _rel(ours.intercept_, ref.intercept_) < EXACT or np.all(ref.intercept_ == 0)
    assert _rel(ours.predict(X), ref.predict(X)) < EXACT
    assert abs(ours.score(X, y) - ref.score(X, y)) < EXACT
    assert ours.alpha_ == alpha and ours.alpha_selection_used_ == "fixed"


def test_large_feature_offset_keeps_precision():
    # features riding on a 1e4 offset with unit spread: raw sums X'X - n m m' lose ~8 of
    # 16 digits (measured: 1.9e-7 relative error solving from uncentred sums); per-trial
    # centring + Chan's merge keeps the fit at 4e-14 of sklearn's (which centres the
    # samples directly). Streamed in 8 trials; 1e-11 separates the two by 4 decades.
    rng = np.random.default_rng(3)
    X = 1e4 + rng.normal(size=(400, 5))
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=400)
    ref = Ridge(alpha=0.1).fit(X, y)
    ours = RidgeReadout(alphas=0.1)
    for chunk in np.array_split(np.arange(400), 8):
        ours.partial_fit(X[chunk], y[chunk])
    assert _rel(ours.coef_, ref.coef_) < 1e-11
    # intercept = mean_y - mean_x . coef inherits the coef error times |mean_x . coef| / |b|
    # (~1e4 * 5 / 77 here): measured 1.7e-11; uncentred sums would give ~1e-4
    assert _rel(ours.intercept_, ref.intercept_) < 1e-9


# ----------------------------------------------------------------------------------------
# streaming and merging
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("selection", ["gcv", "loto"])
def test_partial_fit_over_trials_equals_one_fit(selection):
    X, y = _data(seed=1, t=2)
    groups = np.repeat(np.arange(6), 40)
    whole = RidgeReadout(alpha_selection=selection, warmup=5).fit(X, y, groups=groups)
    streamed = RidgeReadout(alpha_selection=selection, warmup=5)
    for g in range(6):
        streamed.partial_fit(X[groups == g], y[groups == g])
    assert streamed.n_trials_ == whole.n_trials_ == 6
    assert streamed.n_samples_seen_ == whole.n_samples_seen_ == 6 * 35
    assert streamed.alpha_ == whole.alpha_
    # the same sums merged in the same order: equal up to the rounding of a different
    # merge tree (prefix vs pairwise), ~1e-15
    assert _rel(streamed.coef_, whole.coef_) < EXACT
    assert _rel(streamed.cv_mse_, whole.cv_mse_) < EXACT


def test_trial_sums_merge_is_order_free_and_matches_concatenation():
    X, y = _data(seed=2, t=2)
    parts = [TrialSums.from_arrays(X[i:i + 30], y[i:i + 30]) for i in range(0, 240, 30)]
    whole = TrialSums.from_arrays(X, y)
    rng = np.random.default_rng(0)
    shuffled = TrialSums.merge([parts[i] for i in rng.permutation(len(parts))])
    for merged in (TrialSums.merge(parts), shuffled):
        assert merged.n_samples == 240
        for field in ("mean_x", "mean_y", "scatter_xx", "scatter_xy", "scatter_yy"):
            # float64 reductions in a different order: ~1e-15 relative
            assert _rel(getattr(merged, field), getattr(whole, field)) < 1e-12, field
    # fit_sums on parallel-reduced sums equals fit on samples with the same groups
    a = RidgeReadout(alpha_selection="loto").fit_sums(parts)
    b = RidgeReadout(alpha_selection="loto").fit(X, y, groups=np.repeat(np.arange(8), 30))
    assert a.alpha_ == b.alpha_ and _rel(a.coef_, b.coef_) < EXACT


def test_warmup_drops_the_first_samples_of_each_trial():
    X, y = _data(seed=4)
    groups = np.tile(np.repeat([7, 3, 5], 20), 4)  # non-contiguous trials (12 runs, 3 labels)
    warmup = 6
    keep = np.ones(len(y), bool)
    for g in (7, 3, 5):
        keep[np.flatnonzero(groups == g)[:warmup]] = False
    ours = RidgeReadout(alphas=0.5, warmup=warmup).fit(X, y, groups=groups)
    ref = Ridge(alpha=0.5).fit(X[keep], y[keep])
    assert ours.n_samples_seen_ == keep.sum() == 240 - 3 * warmup
    assert _rel(ours.coef_, ref.coef_) < EXACT


# ----------------------------------------------------------------------------------------
# alpha selection
# ----------------------------------------------------------------------------------------
def _gcv_brute_force(X, y, alpha, fit_intercept):
    """GCV from the explicit hat matrix: n ||(I - H) y||^2 / (n - tr H)^2."""
    n = X.shape[0]
    if fit_intercept:
        Xc = X - X.mean(axis=0)
        H = Xc @ np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T) + 1.0 / n
    else:
        H = X @ np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T)
    r = y - H @ y
    return n * (r**2).sum(axis=0) / (n - np.trace(H)) ** 2


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gcv_from_sums_equals_hat_matrix_gcv(fit_intercept):
    X, y = _data(seed=5, n=80, d=12, t=2, noise=2.0)
    alphas = np.logspace(-4, 4, 17)
    ours = RidgeReadout(alphas=alphas, fit_intercept=fit_intercept).fit(X, y)
    ref = np.array([_gcv_brute_force(X, y, a, fit_intercept) for a in alphas])
    # RSS from sums, y'y - sum q^2 (s+2a)/(s+a)^2, cancels about log10(y'y/RSS) ~ 1-2
    # digits against the residuals formed from samples: 1e-9 relative is ample
    assert _rel(ours.cv_mse_per_target_, ref) < 1e-9
    assert ours.alpha_ == alphas[np.argmin(ref.mean(axis=1))]


def test_gcv_choice_within_one_grid_step_of_sklearn_ridgecv():
    # sklearn's RidgeCV(gcv_mode=...) minimises the exact leave-one-out error (from the
    # diagonal of the hat matrix, which needs the samples); GCV replaces each leverage by
    # its mean tr(H)/n (Golub, Heath & Wahba 1979), which only sums can give. The two
    # criteria differ by O(leverage spread), so the chosen alpha may move by a grid step.
    alphas = np.logspace(-3, 4, 29)  # quarter-decade grid
    steps = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(60, 20))
        y = X @ rng.normal(size=20) * 0.3 + rng.normal(size=60)
        ours = RidgeReadout(alphas=alphas).fit(X, y)
        ref = RidgeCV(alphas=alphas, gcv_mode="eigen").fit(X, y)
        steps.append(abs(np.searchsorted(alphas, ours.alpha_) - np.searchsorted(alphas, ref.alpha_)))
    assert max(steps) <= 1
    assert steps.count(0) >= 6  # measured: 7 of 8 seeds choose the same grid point (seed 6: one step)


def _loto_brute_force(X, y, groups, alphas, fit_intercept, warmup):
    sse = np.zeros((len(alphas),) + y.shape[1:])
    n = 0
    labels = list(dict.fromkeys(groups.tolist()))
    keep = np.ones(len(y), bool)
    for g in labels:
        keep[np.flatnonzero(groups == g)[:warmup]] = False
    for g in labels:
        train, test = keep & (groups != g), keep & (groups == g)
        for i, a in enumerate(alphas):
            model = Ridge(alpha=a, fit_intercept=fit_intercept).fit(X[train], y[train])
            sse[i] += ((y[test] - model.predict(X[test])) ** 2).sum(axis=0)
        n += test.sum()
    return sse / n


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 2])
def test_loto_equals_brute_force_leave_one_trial_out(fit_intercept, n_targets):
    X, y = _data(seed=6, n=150, d=10, t=n_targets, noise=3.0)
    groups = np.repeat(np.arange(5), 30)
    alphas = np.logspace(-3, 4, 15)
    ours = RidgeReadout(alphas=alphas, fit_intercept=fit_intercept, alpha_selection="loto",
                        warmup=4).fit(X, y, groups=groups)
    ref = _loto_brute_force(X, y, groups, alphas, fit_intercept, warmup=4)
    ref = ref if ref.ndim == 2 else ref[:, None]
    # held-out SSE from sums vs residuals from samples: same cancellation as GCV
    assert _rel(ours.cv_mse_per_target_, ref) < 1e-9
    assert ours.alpha_ == alphas[np.argmin(ref.mean(axis=1))]
    assert ours.alpha_selection_used_ == "loto"


def test_partial_fit_loto_uses_gcv_until_a_second_trial():
    X, y = _data(seed=7)
    model = RidgeReadout(alpha_selection="loto").partial_fit(X[:120], y[:120])
    assert model.alpha_selection_used_ == "gcv"
    model.partial_fit(X[120:], y[120:])
    assert model.alpha_selection_used_ == "loto" and model.n_trials_ == 2


def test_single_sample_falls_back_to_largest_alpha():
    # n = 1 with an intercept: n - dof = 0 for every alpha, GCV undefined everywhere
    model = RidgeReadout().fit(np.ones((1, 3)), np.ones(1))
    assert np.all(np.isinf(model.cv_mse_)) and model.alpha_ == DEFAULT_ALPHAS[-1]
    assert np.allclose(model.coef_, 0.0) and model.intercept_ == 1.0


# ----------------------------------------------------------------------------------------
# classifier
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_classifier_equals_sklearn_ridge_classifier(n_classes, fit_intercept):
    rng = np.random.default_rng(8)
    names = np.array(["a", "b", "c", "d"])[:n_classes]
    y = names[rng.integers(0, n_classes, 200)]
    X = rng.normal(size=(200, 5)) + (np.searchsorted(names, y)[:, None] == np.arange(5)) * 1.5
    ours = RidgeClassifierReadout(alphas=2.0, fit_intercept=fit_intercept).fit(X, y)
    ref = RidgeClassifier(alpha=2.0, fit_intercept=fit_intercept).fit(X, y)
    assert np.array_equal(ours.classes_, ref.classes_)
    # binary coef_ is 1-D, as sklearn's RidgeClassifier in 1.9 (older sklearn: (1, d))
    assert ours.coef_.shape == ((5,) if n_classes == 2 else (n_classes, 5))
    assert _rel(ours.coef_.ravel(), np.ravel(ref.coef_)) < EXACT
    assert _rel(ours.decision_function(X), ref.decision_function(X)) < EXACT
    assert np.array_equal(ours.predict(X), ref.predict(X))
    assert ours.score(X, y) == ref.score(X, y)


def test_classifier_partial_fit_equals_fit_with_groups():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, 180)
    X = rng.normal(size=(180, 4)) + y[:, None]
    groups = np.repeat(np.arange(6), 30)
    whole = RidgeClassifierReadout(alpha_selection="loto", warmup=2).fit(X, y, groups=groups)
    streamed = RidgeClassifierReadout(alpha_selection="loto", warmup=2)
    for g in range(6):
        streamed.partial_fit(X[groups == g], y[groups == g], classes=[0, 1, 2])
    assert streamed.alpha_ == whole.alpha_
    assert _rel(streamed.coef_, whole.coef_) < EXACT


# ----------------------------------------------------------------------------------------
# scikit-learn's estimator checks (all apply; none is expected to fail)
# ----------------------------------------------------------------------------------------
@parametrize_with_checks([RidgeReadout(), RidgeClassifierReadout(),
                          RidgeReadout(alphas=1.0, fit_intercept=False)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"alphas": [1.0, -1.0]}, "alphas must be finite and > 0"),
        ({"alphas": 0.0}, "alphas must be finite and > 0"),
        ({"alphas": []}, "at least one ridge penalty"),
        ({"alphas": [1.0, np.nan]}, "alphas must be finite"),
        ({"alpha_selection": "loo"}, "alpha_selection must be one of"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"warmup": 2.5}, "warmup must be an integer >= 0"),
    ],
)
def test_bad_parameters_raise(params, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        RidgeReadout(**params).fit(X, y)
    with pytest.raises(ValueError, match=match):
        RidgeClassifierReadout(**params).fit(X, y > y.mean())


def test_bad_data_raise():
    X, y = _data()
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeReadout().fit(Xn, y)
    yn = y.copy()
    yn[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeReadout().fit(X, yn)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RidgeReadout().fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        RidgeReadout().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="groups must have shape"):
        RidgeReadout().fit(X, y, groups=np.zeros(10))
    with pytest.raises(ValueError, match="warmup=30 must be smaller than every trial's length"):
        RidgeReadout(warmup=30).fit(X, y, groups=np.repeat(np.arange(8), 30))
    with pytest.raises(ValueError, match="warmup=300 must be smaller than the trial length"):
        RidgeReadout(warmup=300).partial_fit(X, y)
    with pytest.raises(ValueError, match="needs at least 2 trials"):
        RidgeReadout(alpha_selection="loto").fit(X, y)
    model = RidgeReadout().fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="X has 5 features"):
        model.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="target"):
        model.partial_fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        RidgeClassifierReadout().partial_fit(X, y > 0)
    with pytest.raises(ValueError, match="not in classes"):
        RidgeClassifierReadout().partial_fit(X, (y > 0).astype(int) + 1, classes=[0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        RidgeClassifierReadout().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        RidgeClassifierReadout().fit(X, y)
