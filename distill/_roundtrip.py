"""The round trip: digital -> analog -> digital, and what each step loses.

A digital classifier is trained on a task, compiled into a substrate that can be
programmed, run on the substrate, then distilled back, from electrode recordings alone,
into a student of the same architecture. Because the substrate is simulated, a noiseless
twin of it (same written devices, no read noise, no amplifier noise, an ideal ADC) can be
read too, which splits the end-to-end loss into three terms:

- compile: the noiseless substrate against the digital model (what writing lost: levels,
  programming noise, stuck devices);
- distillation: a student fitted on the noiseless twin's responses against that twin
  (what the student's architecture and the finite query set lose);
- observation: the student fitted on the real, noisy electrode recordings against the
  student fitted on the noiseless ones (what electrode noise, read noise and the ADC lose).

Each term is a normalised mean squared error of the class scores on the test set,
``mean |f_a - f_b|^2 / var(f_digital)``. The three error sources are independent, so
their mean squared errors add: the sum matches the measured end-to-end loss
(student against digital) up to cross terms that average out; :class:`RoundTripResult`
reports the closure ``sum / end_to_end``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from substrates._random import check_random_state, child_generators

__all__ = ["RoundTripResult", "crossbar_round_trip", "fit_linear_student", "vowel_features"]


def vowel_features(sequences):
    """Clip-level features of JapaneseVowels: mean and standard deviation of each coefficient.

    Parameters
    ----------
    sequences : list of arrays (n_frames_i, 12)

    Returns
    -------
    array of shape (n_clips, 24)
    """
    return np.array([np.concatenate([s.mean(axis=0), s.std(axis=0)]) for s in sequences])


def fit_linear_student(inputs, responses, *, link="identity", alphas=None):
    """Least-squares extraction of a linear (or softmax) teacher from its responses.

    Parameters
    ----------
    inputs : array (n_queries, n_inputs)
        The queries (the bias, if any, is one of the inputs: no intercept is fitted).
    responses : array (n_queries, n_outputs)
        The teacher's outputs: scores for ``link="identity"``, probabilities for
        ``link="softmax"`` (their logarithm, centred per query, is linear in the input
        up to the softmax's free constant, which centring removes).
    alphas : sequence of float or None
        Ridge penalties searched by generalised cross-validation (default: a tiny grid
        from 1e-10, so well-posed noiseless problems are solved essentially exactly).

    Returns
    -------
    array (n_inputs, n_outputs): the student's weights, ``y ~ x @ W``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(size=(5, 3))
    >>> x = rng.uniform(-1, 1, (10, 5))
    >>> bool(np.allclose(fit_linear_student(x, x @ w), w, atol=1e-6))
    True
    """
    from readout._linear import RidgeReadout

    x = np.asarray(inputs, dtype=float)
    y = np.asarray(responses, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs (n_queries, n_inputs) and responses (n_queries, n_outputs) must "
                         f"share n_queries, got {x.shape} and {y.shape}")
    if link == "softmax":
        if np.any(y <= 0):
            raise ValueError("softmax responses must be probabilities > 0")
        y = np.log(y)
        y = y - y.mean(axis=1, keepdims=True)
    elif link != "identity":
        raise ValueError(f"link must be 'identity' or 'softmax', got {link!r}")
    alphas = (1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0) if alphas is None else alphas
    model = RidgeReadout(alphas=tuple(alphas), fit_intercept=False).fit(x, y)
    return np.asarray(model.coef_).reshape(y.shape[1], x.shape[1]).T


def _nmse(a, b, scale):
    return float(np.mean((a - b) ** 2) / scale)


@dataclass
class RoundTripResult:
    """Scores, agreements and the loss budget of one round trip.

    Attributes
    ----------
    accuracy : dict
        Test accuracy of the ``"digital"`` model, the ``"substrate"`` running it (real,
        noisy reads) and the ``"student"`` distilled back.
    agreement : dict
        Fraction of test clips on which two stages predict the same class:
        ``"substrate_vs_digital"``, ``"student_vs_substrate"``, ``"student_vs_digital"``.
    loss_budget : dict
        ``"compile"``, ``"observation"``, ``"distillation"`` (normalised mean squared
        errors of the class scores), their ``"sum"``, the measured ``"end_to_end"``
        (student against digital) and ``"closure"`` = sum / end_to_end.
    n_queries : int
        Query vectors used to distil (each is one read of every output).
    query_seconds : float
        Recorded time the queries took on the substrate (s).
    compile_report : dict
    config : dict
    """

    accuracy: dict
    agreement: dict
    loss_budget: dict
    n_queries: int
    query_seconds: float
    compile_report: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _noiseless_twin(crossbar):
    """The same written crossbar read without read noise, amplifier noise or ADC."""
    twin = copy.deepcopy(crossbar)
    twin.device = dataclasses.replace(twin.device, read_noise_scale=0.0)
    twin.electrodes = twin.electrodes.replace(noise_rms=0.0, adc_bits=None)
    return twin


def crossbar_round_trip(*, n_queries=None, pairs_per_weight=2, verify_iterations=3,
                        reads_per_input=32, n_levels=None, stuck_fraction=0.0, age=0.0,
                        drift_compensation=False, random_state=0) -> RoundTripResult:
    """JapaneseVowels speaker classifier -> PCM crossbar -> linear student, with its loss budget.

    1. Digital: a ridge classifier on clip features (mean and spread of the 12
       coefficients, standardised on the training clips and scaled into [-1, 1], plus a
       constant bias input), full UCI split (270 train, 370 test clips, 9 speakers).
    2. Compile: :func:`distill.compile` writes its 25 x 9 weights as differential PCM
       conductance pairs (Joshi et al. 2020 statistics) with program-and-verify, each
       output column scaled to the full conductance range (a digital gain restores it);
       with ``pairs_per_weight=2`` a second, less significant pair per weight holds what
       the first missed (read back, amplified up to 16x).
    3. Substrate: each test clip is read ``reads_per_input`` times (row voltages =
       features x read voltage) and the decoded outputs averaged.
    4. Distil: ``n_queries`` random input vectors (uniform in [-1, 1]) are read through
       the electrodes; a linear student of the digital model's shape is fitted to them.

    Parameters
    ----------
    n_queries : int or None
        Query vectors; default ``16 * n_inputs`` (400: fewer than twice the 225 unknowns,
        the model-extraction budget; with fewer, the observation term grows until its
        chance correlation with the compile error breaks the budget's closure).
    pairs_per_weight : int >= 1
        Differential pairs per weight, of descending significance (the crossbar has
        ``2 * pairs_per_weight * n_classes`` columns).
    verify_iterations : int
        Program-and-verify passes of the compile.
    reads_per_input : int >= 1
        Reads averaged per input vector (test clips and queries alike). The model draws
        read noise independently per read; real PCM 1/f noise is correlated between
        reads, so averaging helps a real chip less than it helps here.
    n_levels : int or None
        Conductance levels (None: analog devices).
    stuck_fraction : float
        Fraction of stuck devices.
    age : float, s
        Time between programming and use (drift); 0 uses the devices fresh.
    drift_compensation : bool
        Rescale every read by the crossbar's global drift-compensation factor.
    random_state : int, Generator or SeedSequence

    Returns
    -------
    RoundTripResult
    """
    from distill._compile import compile as compile_weights
    from readout._datasets import load_japanese_vowels
    from readout._linear import RidgeClassifierReadout
    from substrates.crossbar import Crossbar

    streams = child_generators(check_random_state(random_state), ["crossbar", "queries", "reads"])
    train_seq, train_y = load_japanese_vowels("train")
    test_seq, test_y = load_japanese_vowels("test")
    f_train, f_test = vowel_features(train_seq), vowel_features(test_seq)
    mean, std = f_train.mean(axis=0), f_train.std(axis=0)
    f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    peak = np.abs(f_train).max(axis=0)
    x_train = np.column_stack([f_train / peak, np.ones(len(f_train))])
    x_test = np.column_stack([np.clip(f_test / peak, -1, 1), np.ones(len(f_test))])
    n_inputs = x_train.shape[1]

    classifier = RidgeClassifierReadout(fit_intercept=False).fit(x_train, train_y)
    classes = classifier.classes_
    w_digital = np.asarray(classifier.coef_).T  # (n_inputs, n_classes)
    scores_digital = x_test @ w_digital

    per_weight = int(pairs_per_weight)
    if per_weight < 1:
        raise ValueError(f"pairs_per_weight must be >= 1, got {pairs_per_weight!r}")
    crossbar = Crossbar(n_inputs, 2 * per_weight * w_digital.shape[1], n_levels=n_levels,
                        stuck_fraction=stuck_fraction, random_state=streams["crossbar"])
    compiled = compile_weights(w_digital, crossbar, verify_iterations=verify_iterations)
    decode = compiled.report.details["output_matrix"]
    crossbar.reset(streams["reads"])
    if age > 0:
        crossbar.wait(age)
    twin = _noiseless_twin(crossbar)
    reads = int(reads_per_input)
    if reads < 1:
        raise ValueError(f"reads_per_input must be >= 1, got {reads_per_input!r}")

    def read(device, x, n_reads):
        return np.mean([device.matvec(x, drift_compensation=drift_compensation)
                        for _ in range(n_reads)], axis=0) @ decode

    scores_clean = read(twin, x_test, 1)
    scores_substrate = read(crossbar, x_test, reads)

    n_queries = 16 * n_inputs if n_queries is None else int(n_queries)
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1, got {n_queries}")
    queries = streams["queries"].uniform(-1.0, 1.0, (n_queries, n_inputs))
    w_student = fit_linear_student(queries, read(crossbar, queries, reads))
    w_student_clean = fit_linear_student(queries, read(twin, queries, 1))
    scores_student = x_test @ w_student
    scores_student_clean = x_test @ w_student_clean

    def predicted(scores):
        return classes[np.argmax(scores, axis=1)]

    p_digital, p_substrate, p_student = (predicted(s) for s in
                                         (scores_digital, scores_substrate, scores_student))
    scale = float(np.var(scores_digital))
    budget = {
        "compile": _nmse(scores_clean, scores_digital, scale),
        "distillation": _nmse(scores_student_clean, scores_clean, scale),
        "observation": _nmse(scores_student, scores_student_clean, scale),
        "end_to_end": _nmse(scores_student, scores_digital, scale),
    }
    budget["sum"] = budget["compile"] + budget["distillation"] + budget["observation"]
    budget["closure"] = budget["sum"] / budget["end_to_end"] if budget["end_to_end"] > 0 else 1.0
    return RoundTripResult(
        accuracy={"digital": float(np.mean(p_digital == test_y)),
                  "substrate": float(np.mean(p_substrate == test_y)),
                  "student": float(np.mean(p_student == test_y))},
        agreement={"substrate_vs_digital": float(np.mean(p_substrate == p_digital)),
                   "student_vs_substrate": float(np.mean(p_student == p_substrate)),
                   "student_vs_digital": float(np.mean(p_student == p_digital))},
        loss_budget=budget,
        n_queries=n_queries,
        query_seconds=n_queries * reads * crossbar.dt,
        compile_report={k: v for k, v in compiled.report.to_dict().items()
                        if k not in ("asked", "written")},
        config={"task": "japanese_vowels", "substrate": "crossbar", "n_inputs": n_inputs,
                "n_classes": int(w_digital.shape[1]), "pairs_per_weight": per_weight,
                "verify_iterations": verify_iterations,
                "reads_per_input": reads, "drift_compensation": drift_compensation,
                "n_levels": n_levels, "stuck_fraction": stuck_fraction, "age_s": age},
    )
