"""From recordings to features, readouts, benchmark tasks and electrode-count studies.

Public names: the readouts :class:`RidgeReadout` and :class:`RidgeClassifierReadout`
(scikit-learn estimators fitted from running sums, :class:`TrialSums`); the dataset
loaders (archives shipped inside sktime's wheel, spoken digits generated offline);
:func:`compare_electrodes` and its :class:`ElectrodeStudy`.
"""

from readout._datasets import (
    japanese_vowels_subset,
    load_basic_motions,
    load_japanese_vowels,
    load_spoken_digits,
)
from readout._linear import DEFAULT_ALPHAS, RidgeClassifierReadout, RidgeReadout, TrialSums
from readout._study import ElectrodeStudy, compare_electrodes, e90, hidden_state_r2

__all__ = [
    "DEFAULT_ALPHAS",
    "ElectrodeStudy",
    "RidgeClassifierReadout",
    "RidgeReadout",
    "TrialSums",
    "compare_electrodes",
    "e90",
    "hidden_state_r2",
    "japanese_vowels_subset",
    "load_basic_motions",
    "load_japanese_vowels",
    "load_spoken_digits",
]
