"""Real benchmark datasets for readouts: nothing is downloaded at run time.

* Japanese Vowels (UCI; Kudo, Toyama and Shimbo 1999) and BasicMotions come from the ``.ts``
  archives that ship inside sktime's wheel, read with sktime's own loader.
* Spoken digits are synthetic: espeak-ng speech turned into MFCCs offline by
  ``readout/data/make_spoken_digits.py`` and shipped as ``readout/data/spoken_digits.npz``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = [
    "japanese_vowels_subset",
    "load_basic_motions",
    "load_japanese_vowels",
    "load_spoken_digits",
]

_SPLITS = ("train", "test", "all")


def _check_split(split):
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    return ("train", "test") if split == "all" else (split,)


def _sktime_nested(loader, split):
    """Nested (pandas) frame and labels of one split, via sktime's bundled-archive loader."""
    try:
        from sktime import datasets
    except ImportError as err:  # pragma: no cover - sktime is a declared dependency
        raise ImportError("the real-dataset loaders need sktime (pip install sktime)") from err
    return getattr(datasets, loader)(split=split, return_X_y=True, return_type="nested_univ")


def _strip_padding(frame):
    """Drop trailing all-NaN frames (padding) from a (n_frames, n_channels) array."""
    finite = np.isfinite(frame).all(axis=1)
    last = np.flatnonzero(finite)
    if last.size == 0:
        raise ValueError("a sequence holds no finite frame")
    frame = frame[: last[-1] + 1]
    if not np.isfinite(frame).all():
        raise ValueError("a sequence holds NaN inside it, not only as trailing padding")
    return frame


def load_japanese_vowels(split="train"):
    """The UCI Japanese Vowels speaker-identification set.

    Nine male speakers uttered the Japanese vowel pair /ae/; each utterance is a sequence
    of 12 linear-prediction cepstrum coefficients per frame (7 to 29 frames). The UCI split
    has 270 training utterances (30 per speaker) and 370 test utterances (24 to 88 per
    speaker). Read from the archive bundled with sktime; padding, if any, is removed.

    Parameters
    ----------
    split : {"train", "test", "all"}, default "train"
        "all" is the training set followed by the test set, each in file order.

    Returns
    -------
    sequences : list of arrays of shape (n_frames_i, 12), float64
        One array per utterance, time-major.
    labels : array of shape (n_sequences,), int
        Speaker id, 1 to 9.

    Examples
    --------
    >>> sequences, labels = load_japanese_vowels("train")
    >>> len(sequences), sequences[0].shape[1], sorted(set(labels.tolist()))[:3]
    (270, 12, [1, 2, 3])
    """
    sequences, labels = [], []
    for part in _check_split(split):
        X, y = _sktime_nested("load_japanese_vowels", part)
        values = X.to_numpy()
        for row in values:
            n = max(len(cell) for cell in row)
            frame = np.full((n, len(row)), np.nan)
            for c, cell in enumerate(row):
                frame[: len(cell), c] = np.asarray(cell, dtype=np.float64)
            sequences.append(_strip_padding(frame))
        labels.append(np.asarray(y).astype(np.int64))
    return sequences, np.concatenate(labels)


def japanese_vowels_subset(n_speakers=8, clips_per_speaker=30):
    """The 240-clip, 8-speaker Japanese Vowels subset used for the organoid "Brainoware" study.

    Cai et al. (Nature Electronics 2023) classified 240 clips of 8 speakers. The published
    description does not list the clips, so this choice is ours and deterministic:
    speakers ``1 .. n_speakers``, and for each the first ``clips_per_speaker`` utterances of
    the pooled set (UCI training set, then test set, in file order). With the defaults this
    is exactly the UCI training utterances of speakers 1 to 8 (the training set holds 30 per
    speaker).

    Parameters
    ----------
    n_speakers : int, default 8
        Number of speakers, 1 to 9.
    clips_per_speaker : int, default 30
        Utterances per speaker, 1 to 54 (speaker 6 has the fewest pooled utterances:
        30 training + 24 test).

    Returns
    -------
    sequences : list of arrays of shape (n_frames_i, 12)
        Grouped by speaker, in file order within a speaker.
    labels : array of shape (n_speakers * clips_per_speaker,), int
        Speaker id, 1 to ``n_speakers``.

    Examples
    --------
    >>> sequences, labels = japanese_vowels_subset()
    >>> len(sequences), np.bincount(labels)[1:].tolist()
    (240, [30, 30, 30, 30, 30, 30, 30, 30])
    """
    for name, value, high in (("n_speakers", n_speakers, 9), ("clips_per_speaker", clips_per_speaker, None)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if high is not None and value > high:
            raise ValueError(f"{name} must be at most {high}, got {value}")
    sequences, labels = load_japanese_vowels("all")
    counts = np.bincount(labels)[1 : n_speakers + 1]
    if clips_per_speaker > counts.min():
        raise ValueError(
            f"clips_per_speaker must be at most {counts.min()} for {n_speakers} speakers "
            f"(the fewest utterances any of them has), got {clips_per_speaker}"
        )
    chosen = np.concatenate(
        [np.flatnonzero(labels == s)[:clips_per_speaker] for s in range(1, n_speakers + 1)]
    )
    return [sequences[i] for i in chosen], labels[chosen]


def load_basic_motions(split="train"):
    """BasicMotions: smart-watch accelerometer and gyroscope, 4 activities.

    Each case is 10 s at 10 Hz of a 3-axis accelerometer and a 3-axis gyroscope (6 channels,
    100 samples) while standing, walking, running or playing badminton; 40 training and 40
    test cases, 10 per class in each. Read from the archive bundled with sktime.

    Parameters
    ----------
    split : {"train", "test", "all"}, default "train"

    Returns
    -------
    X : array of shape (n_cases, 100, 6), float64
        Time-major.
    labels : array of shape (n_cases,), int
        Class index into ``class_names``.
    class_names : tuple of str
        ``("badminton", "running", "standing", "walking")`` (sorted).

    Examples
    --------
    >>> X, labels, class_names = load_basic_motions("train")
    >>> X.shape, class_names
    ((40, 100, 6), ('badminton', 'running', 'standing', 'walking'))
    """
    arrays, names = [], []
    for part in _check_split(split):
        X, y = _sktime_nested("load_basic_motions", part)
        arrays.append(np.stack([np.stack([np.asarray(c, dtype=np.float64) for c in row], axis=1)
                                for row in X.to_numpy()]))
        names.append(np.asarray(y).astype(str))
    names = np.concatenate(names)
    class_names = tuple(sorted(set(names.tolist())))
    labels = np.searchsorted(np.array(class_names), names).astype(np.int64)
    return np.concatenate(arrays), labels, class_names


def load_spoken_digits():
    """Synthetic spoken digits: 10 digits x 30 espeak-ng voice variants, as 13 MFCCs.

    Made offline by ``readout/data/make_spoken_digits.py``: each English digit word
    ("zero" ... "nine") spoken by 10 espeak-ng voices (accent + voice variant) at 3
    (pitch, speed) settings each, resampled to 16 kHz, silence trimmed, then 13 MFCCs
    (coefficients 0-12, 26 mel bands) from 25 ms frames every 10 ms. The provenance
    (espeak-ng version, command, feature recipe) is stored in the file; see
    ``info`` below.

    Returns
    -------
    sequences : list of 300 arrays of shape (n_frames_i, 13), float64
        Time-major MFCC frames (10 ms apart), 22 to 71 frames.
    labels : array of shape (300,), int
        The digit, 0 to 9 (30 clips each).
    speakers : array of shape (300,), int
        Voice id, 0 to 9 (each voice says every digit 3 times), for speaker-held-out splits.
    info : dict
        ``voices`` (espeak-ng voice of each clip), ``pitch`` and ``speed`` (espeak-ng ``-p``
        and ``-s`` of each clip), ``espeak_version``, ``command``, ``feature_recipe``,
        ``seed``, ``frame_step`` (0.01 s).

    Examples
    --------
    >>> sequences, labels, speakers, info = load_spoken_digits()
    >>> len(sequences), sequences[0].shape[1], np.bincount(labels).tolist()[:3]
    (300, 13, [30, 30, 30])
    """
    path = resources.files("readout.data").joinpath("spoken_digits.npz")
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as d:
        features = d["features"].astype(np.float64)
        lengths = d["lengths"].astype(np.int64)
        labels = d["labels"].astype(np.int64)
        speakers = d["speakers"].astype(np.int64)
        info = {
            "voices": d["voices"].astype(str),
            "pitch": d["pitch"].astype(np.int64),
            "speed": d["speed"].astype(np.int64),
            "words": tuple(d["words"].astype(str).tolist()),
            "espeak_version": str(d["espeak_version"]),
            "command": str(d["command"]),
            "feature_recipe": str(d["feature_recipe"]),
            "seed": int(d["seed"]),
            "frame_step": 0.01,
        }
    sequences = np.split(features, np.cumsum(lengths)[:-1])
    return sequences, labels, speakers, info
