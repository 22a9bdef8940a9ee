"""Tests for the real-dataset loaders (readout/_datasets.py).

Counts and shapes are those published with each archive (UCI Japanese Vowels; the
UEA/UCR BasicMotions archive) or written by readout/data/make_spoken_digits.py.
"""

import numpy as np
import pytest

from readout._datasets import (
    japanese_vowels_subset,
    load_basic_motions,
    load_japanese_vowels,
    load_spoken_digits,
)
from readout._linear import RidgeClassifierReadout


@pytest.fixture(scope="module")
def vowels():
    return {split: load_japanese_vowels(split) for split in ("train", "test", "all")}


@pytest.fixture(scope="module")
def digits():
    return load_spoken_digits()


# ----------------------------------------------------------------------------------------
# Japanese Vowels
# ----------------------------------------------------------------------------------------
def test_japanese_vowels_uci_split(vowels):
    (tr_x, tr_y), (te_x, te_y), (all_x, all_y) = vowels["train"], vowels["test"], vowels["all"]
    assert (len(tr_x), len(te_x), len(all_x)) == (270, 370, 640)
    assert len(tr_y) == 270 and len(te_y) == 370
    # UCI: 30 training utterances per speaker; the test set is unbalanced (24 to 88)
    assert np.bincount(tr_y).tolist() == [0] + [30] * 9
    assert np.bincount(te_y).tolist() == [0, 31, 35, 88, 44, 29, 24, 40, 50, 29]
    assert all_y.dtype.kind == "i" and np.array_equal(all_y, np.concatenate([tr_y, te_y]))
    lengths = np.array([s.shape[0] for s in all_x])
    assert lengths.min() == 7 and lengths.max() == 29  # UCI: 7 to 29 frames, no padding
    for s in all_x:
        assert s.ndim == 2 and s.shape[1] == 12 and s.dtype == np.float64
        assert np.isfinite(s).all()
    # "all" keeps file order: train first, then test
    assert all(np.array_equal(a, b) for a, b in zip(all_x[:270], tr_x))


def test_japanese_vowels_subset_is_the_documented_choice(vowels):
    seqs, labels = japanese_vowels_subset()
    assert len(seqs) == 240 and np.bincount(labels).tolist() == [0] + [30] * 8
    # documented rule: speakers 1..8, first 30 of each in pooled file order = their
    # UCI training utterances
    tr_x, tr_y = vowels["train"]
    expected = [s for s, lab in zip(tr_x, tr_y) if lab <= 8]
    assert all(np.array_equal(a, b) for a, b in zip(seqs, expected))
    # beyond 30 per speaker the pooled order reaches into the test set
    seqs40, labels40 = japanese_vowels_subset(n_speakers=3, clips_per_speaker=40)
    te_x, te_y = vowels["test"]
    first_test_of_1 = te_x[np.flatnonzero(te_y == 1)[0]]
    assert np.array_equal(seqs40[30], first_test_of_1) and labels40.tolist() == [1] * 40 + [2] * 40 + [3] * 40


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_speakers": 10}, "n_speakers must be at most 9"),
        ({"n_speakers": 0}, "n_speakers must be a positive integer"),
        ({"clips_per_speaker": 55}, "clips_per_speaker must be at most 54"),
        ({"clips_per_speaker": 2.0}, "clips_per_speaker must be a positive integer"),
    ],
)
def test_japanese_vowels_subset_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        japanese_vowels_subset(**kwargs)


@pytest.mark.parametrize("loader", [load_japanese_vowels, load_basic_motions])
def test_bad_split(loader):
    with pytest.raises(ValueError, match="split must be one of"):
        loader("validation")


# ----------------------------------------------------------------------------------------
# BasicMotions
# ----------------------------------------------------------------------------------------
def test_basic_motions_shapes_and_balance():
    X, labels, names = load_basic_motions("train")
    Xt, labels_t, names_t = load_basic_motions("test")
    Xa, labels_a, _ = load_basic_motions("all")
    assert names == names_t == ("badminton", "running", "standing", "walking")
    assert X.shape == Xt.shape == (40, 100, 6) and Xa.shape == (80, 100, 6)
    assert np.isfinite(Xa).all()
    assert np.bincount(labels).tolist() == np.bincount(labels_t).tolist() == [10] * 4
    assert np.array_equal(labels_a, np.concatenate([labels, labels_t]))
    # time-major: the accelerometer of a runner varies more than that of a stander
    spread = [Xa[labels_a == k].std(axis=1).mean() for k in range(4)]
    assert spread[names.index("running")] > 5 * spread[names.index("standing")]


# ----------------------------------------------------------------------------------------
# spoken digits
# ----------------------------------------------------------------------------------------
def test_spoken_digits_shapes_balance_and_provenance(digits):
    seqs, labels, speakers, info = digits
    assert len(seqs) == 300 and labels.shape == speakers.shape == (300,)
    assert np.bincount(labels).tolist() == [30] * 10  # 10 digits x 30 variants
    assert np.bincount(speakers).tolist() == [30] * 10  # 10 voices x (10 digits x 3)
    for d in range(10):  # every voice says every digit 3 times
        assert np.bincount(speakers[labels == d], minlength=10).tolist() == [3] * 10
    for s in seqs:
        assert s.ndim == 2 and s.shape[1] == 13 and s.shape[0] >= 20 and np.isfinite(s).all()
    assert info["espeak_version"].startswith("eSpeak NG")
    assert info["words"][7] == "seven" and len(set(info["voices"].tolist())) == 10
    assert info["frame_step"] == 0.01


def _segment_means(seq, k=4):
    return np.concatenate([chunk.mean(axis=0) for chunk in np.array_split(seq, k)])


def test_spoken_digits_carry_digit_identity_across_voices(digits):
    # Leave-one-voice-out: a ridge classifier on the means of 4 equal time segments of the
    # MFCCs (52 numbers per clip), trained on 9 voices, names the digits of the 10th.
    # Chance is 1/10. Measured mean accuracy: 0.95 (per voice 0.83 to 1.0). The bound 0.7
    # is far above chance (binomial sd over 300 clips at p=0.1 is 0.017) and well below
    # the measurement, so it fails only if the features lose the digit.
    seqs, labels, speakers, _ = digits
    F = np.array([_segment_means(s) for s in seqs])
    correct = 0
    for v in range(10):
        train, test = speakers != v, speakers == v
        mu, sd = F[train].mean(axis=0), F[train].std(axis=0)
        clf = RidgeClassifierReadout(alphas=1.0).fit((F[train] - mu) / sd, labels[train])
        correct += (clf.predict((F[test] - mu) / sd) == labels[test]).sum()
    accuracy = correct / len(labels)
    assert accuracy > 0.7


def test_spoken_digits_nearest_class_mean_well_above_chance(digits):
    # The simplest readout: nearest class mean (standardised), leave-one-voice-out.
    # Measured 0.967; chance 0.1; bound 0.7 as above.
    seqs, labels, speakers, _ = digits
    F = np.array([_segment_means(s) for s in seqs])
    correct = 0
    for v in range(10):
        train, test = speakers != v, speakers == v
        mu = np.array([F[train][labels[train] == c].mean(axis=0) for c in range(10)])
        sd = F[train].std(axis=0)
        dist = (((F[test][:, None, :] - mu[None]) / sd) ** 2).sum(axis=-1)
        correct += (np.argmin(dist, axis=1) == labels[test]).sum()
    assert correct / len(labels) > 0.7
