"""From recordings to features, readouts, benchmark tasks and electrode-count studies.

Public names: features of a Recording (spike counts, low-pass traces, per-step
features); the readouts :class:`RidgeReadout` and :class:`RidgeClassifierReadout`
(scikit-learn estimators fitted from running sums, :class:`TrialSums`); the benchmark
tasks (:class:`Task` and its subclasses, :func:`make_task`), each with the reservoirpy
echo-state-network baseline (:func:`esn_states`); the dataset loaders (archives shipped
inside sktime's wheel, spoken digits generated offline); :func:`compare_electrodes`
and its :class:`ElectrodeStudy`.
"""

from readout._datasets import (
    japanese_vowels_subset,
    load_basic_motions,
    load_japanese_vowels,
    load_spoken_digits,
)
from readout._esn import ESN_PRESETS, esn_states
from readout._features import (
    filtered_traces,
    sample_at,
    spike_count_features,
    step_features,
)
from readout._linear import (
    DEFAULT_ALPHAS,
    RidgeClassifierReadout,
    RidgeReadout,
    TrialSums,
)
from readout._study import (
    TASKS,
    ElectrodeStudy,
    compare_electrodes,
    e90,
    hidden_state_r2,
    make_task,
)
from readout._tasks import (
    NARMA10,
    BasicMotions,
    Henon,
    JapaneseVowels,
    MackeyGlass,
    MemoryCapacity,
    SpokenDigits,
    Task,
    TaskData,
    memory_capacity,
    memory_curve,
    narma10,
    nrmse,
)

__all__ = [
    "DEFAULT_ALPHAS",
    "ESN_PRESETS",
    "NARMA10",
    "TASKS",
    "BasicMotions",
    "ElectrodeStudy",
    "Henon",
    "JapaneseVowels",
    "MackeyGlass",
    "MemoryCapacity",
    "RidgeClassifierReadout",
    "RidgeReadout",
    "SpokenDigits",
    "Task",
    "TaskData",
    "TrialSums",
    "compare_electrodes",
    "e90",
    "esn_states",
    "filtered_traces",
    "hidden_state_r2",
    "japanese_vowels_subset",
    "load_basic_motions",
    "load_japanese_vowels",
    "load_spoken_digits",
    "make_task",
    "memory_capacity",
    "memory_curve",
    "narma10",
    "nrmse",
    "sample_at",
    "spike_count_features",
    "step_features",
]
