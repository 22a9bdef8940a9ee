"""Distil substrates into digital students, compile digital weights into substrates.

Public names: students (:class:`LinearStudent`, :class:`ESNStudent`,
:class:`GRUStudent`, :class:`SpikingStudent`, with :class:`StateProbe` for intermediate
targets); query design (:class:`QueryBudget`, the ``*_queries`` generators,
committee-based active selection); fidelity metrics (noise-ceiling-normalised explained
variance, spike-count correlation, van Rossum distance, task transfer, latent
similarity, free-running statistics, :class:`FidelityReport`); :func:`compile`
(digital -> analog, with a :class:`CompileReport` of what was written against what was
asked); :func:`fit_linear_student` (model extraction of a linear or softmax teacher) and
:func:`crossbar_round_trip` (digital -> crossbar -> student, with its loss budget).
"""

from distill._compile import CompileReport, CompileResult, compile
from distill._fidelity import (
    FidelityReport,
    FreeRunningStatistics,
    LatentSimilarity,
    NoiseCeiling,
    NormalisedExplainedVariance,
    TaskTransfer,
    bin_responses,
    compare_free_running,
    free_running_statistics,
    latent_similarity,
    noise_ceiling,
    normalised_explained_variance,
    spike_count_correlation,
    spike_trains,
    spikes_from_counts,
    task_transfer,
    van_rossum_distance,
)
from distill._query import (
    ActiveLearningResult,
    QueryBudget,
    active_learning_loop,
    chirp_queries,
    committee_disagreement,
    fit_committee,
    pink_noise_queries,
    pulse_train_queries,
    select_active,
    task_queries,
    white_noise_queries,
)
from distill._roundtrip import RoundTripResult, crossbar_round_trip, fit_linear_student
from distill._students import (
    ESNStudent,
    LinearStudent,
    StateProbe,
    bin_recording,
    bin_stimulus,
    explained_variance,
)
from distill._torch_students import GRUStudent, SpikingStudent

__all__ = [
    "ActiveLearningResult",
    "CompileReport",
    "CompileResult",
    "ESNStudent",
    "FidelityReport",
    "FreeRunningStatistics",
    "GRUStudent",
    "LatentSimilarity",
    "LinearStudent",
    "NoiseCeiling",
    "NormalisedExplainedVariance",
    "QueryBudget",
    "RoundTripResult",
    "SpikingStudent",
    "StateProbe",
    "TaskTransfer",
    "active_learning_loop",
    "bin_recording",
    "bin_responses",
    "bin_stimulus",
    "chirp_queries",
    "committee_disagreement",
    "compare_free_running",
    "compile",
    "crossbar_round_trip",
    "explained_variance",
    "fit_committee",
    "fit_linear_student",
    "free_running_statistics",
    "latent_similarity",
    "noise_ceiling",
    "normalised_explained_variance",
    "pink_noise_queries",
    "pulse_train_queries",
    "select_active",
    "spike_count_correlation",
    "spike_trains",
    "spikes_from_counts",
    "task_queries",
    "task_transfer",
    "van_rossum_distance",
    "white_noise_queries",
]
