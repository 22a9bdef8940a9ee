"""Compile a linear map into the hydrogel: the DC transfer model, its adjoint gradient, the
fit, the measured run, write noise, determinism and bad input."""

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from distill import CompileResult, compile
from distill._compile_hydrogel import _default_electrodes
from substrates import ElectrodeArray
from substrates.hydrogel import (
    FARADAY,
    GAS_CONSTANT,
    ElectrodeInterfaceParameters,
    Hydrogel,
    HydrogelParameters,
    WriteParameters,
)
from tests.substrates.grid_reference import grid_laplacian


def exact_gel(noise=0.0, seed=0, **kw):
    return Hydrogel(writing=WriteParameters(write_noise=noise), random_state=seed, **kw)


def realisable_target(gel, shape, seed):
    """A map the gel can hold: the differential transfer of a smooth random pattern."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=gel.grid_shape), 3.0)
    fixed_charge = 500.0 * field / np.abs(field).max()
    crosslink = rng.uniform(0.02, 0.5, gel.grid_shape)
    inputs, pairs = _default_electrodes(gel, *shape)
    r = gel.transfer_matrix(inputs, pairs.ravel(), fixed_charge=fixed_charge, crosslink=crosslink)
    rd = r[:, 0::2] - r[:, 1::2]
    return rd / np.abs(rd).max()


# ----------------------------------------------------------------------------- forward model
def test_transfer_sensitivity_matches_finite_differences():
    gel = exact_gel()
    rng = np.random.default_rng(3)
    x = rng.uniform(-300, 300, gel.grid_shape)
    x[:, :8] = 20.0  # a uniform block: faces between equal cells use the series branch
    phi = rng.uniform(0.05, 0.45, gel.grid_shape)
    inputs, outputs = [5, 15], [0, 3, 10]
    r, dx, dphi = gel.transfer_sensitivity(inputs, outputs, fixed_charge=x, crosslink=phi)
    assert np.allclose(r, gel.transfer_matrix(inputs, outputs, fixed_charge=x, crosslink=phi),
                       rtol=1e-14)
    for d_map, step, key in ((rng.normal(size=x.shape), 1e-2, "x"),
                             (rng.normal(size=x.shape), 1e-5, "phi")):
        def at(h, d_map=d_map, key=key):
            maps = {"fixed_charge": x + h * d_map, "crosslink": phi} if key == "x" else \
                   {"fixed_charge": x, "crosslink": phi + h * d_map}
            return gel.transfer_matrix(inputs, outputs, **maps)
        numeric = (at(step) - at(-step)) / (2 * step)
        analytic = np.einsum("ijyx,yx->ij", dx if key == "x" else dphi, d_map)
        # central difference: truncation O(step^2 R''') ~1e-9 relative at these steps,
        # rounding eps R / step ~1e-12; 1e-6 leaves room and catches any wrong term
        assert np.allclose(numeric, analytic, rtol=1e-6, atol=1e-6 * np.abs(analytic).max())


def test_uniform_gel_is_the_chloride_resistor_network_and_reciprocal():
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    gel = exact_gel()
    gel.pattern(fixed_charge=80.0, crosslink=0.3)
    p, itf = gel.gel, gel.interface
    c = p.salt_concentration
    anion = 0.5 * (80.0 + math.sqrt(80.0**2 + 4 * c * c))
    d_anion = p.anion_diffusivity * ((1 - 0.3) / (1 + 0.3)) ** 2
    # steady state: no cation crosses Ag/AgCl, so only chloride conducts (not D+ c+ + D- c-)
    g_face = FARADAY**2 / (GAS_CONSTANT * p.temperature) * d_anion * anion * p.thickness
    ny, nx = gel.grid_shape
    lap = grid_laplacian(gel.grid_shape, g_face)
    ring = np.zeros((ny, nx), dtype=bool)
    ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = True  # the perimeter counter
    lap = lap + sparse.diags(ring.ravel() * p.cell_size**2 / itf.interface_resistivity)

    def footprint(e):
        pos = gel.electrodes.positions[e]
        d2 = (gel.cell_positions[:, 0] - pos[0]) ** 2 + (gel.cell_positions[:, 1] - pos[1]) ** 2
        v = (d2 <= gel.electrodes.electrode_radius**2 * (1 + 1e-9)).astype(float)
        return v / v.sum()

    inputs, outputs = [5, 15], [0, 6, 10]
    u = spsolve(lap.tocsc(), np.column_stack([footprint(e) for e in inputs]))
    expected = u.T @ np.column_stack([footprint(e) for e in outputs])
    r = gel.transfer_matrix(inputs, outputs)
    # the same linear system assembled independently: agreement to solver round-off
    assert np.allclose(r, expected, rtol=1e-10)
    assert np.all(r > 0)  # current in raises every potential against the grounded counter
    # reciprocity (equal footprints): R(a -> b) == R(b -> a) to round-off
    square = gel.transfer_matrix([0, 5, 6, 15], [0, 5, 6, 15])
    off = ~np.eye(4, dtype=bool)
    assert np.allclose(square[off], square.T[off], rtol=1e-12)
    # a driven electrode reads its own interface drop on top: the diagonal is larger
    assert np.all(np.diag(square) > square.max(axis=1, where=off, initial=0.0))


def test_strip_transfer_matches_one_dimensional_ohms_law():
    h, n = 5e-6, 20
    positions = [[(-n / 2 + 0.5 + k) * h, 0.0] for k in (10, 15, 18)]
    array = ElectrodeArray.from_positions(positions, electrode_radius=h / 2, sampling_rate=1.0,
                                          noise_rms=0.0, adc_bits=None)
    p = HydrogelParameters(size=(n * h, h), cell_size=h, thickness=h, fixed_charge=100.0)
    itf = ElectrodeInterfaceParameters(counter_electrode="left")
    gel = Hydrogel(array, gel=p, interface=itf)
    anion = 0.5 * (100.0 + math.sqrt(100.0**2 + 4 * p.salt_concentration**2))
    d_eff = p.anion_diffusivity * ((1 - p.crosslink) / (1 + p.crosslink)) ** 2
    g = FARADAY**2 / (GAS_CONSTANT * p.temperature) * d_eff * anion * p.thickness  # S per face
    r_counter = itf.interface_resistivity / h**2
    r = gel.transfer_matrix([1], [0, 2])
    # cell 15 injects; cell 10 sits 10 faces from the counter cell, cell 18 beyond the input
    # (no current there: it reads the input cell's potential, 15 faces out)
    assert r[0, 0] == pytest.approx(r_counter + 10 / g, rel=1e-12)
    assert r[0, 1] == pytest.approx(r_counter + 15 / g, rel=1e-12)


# ----------------------------------------------------------------------------- the fit
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_a_map_the_gel_can_hold(seed):
    gel = exact_gel()
    w = realisable_target(gel, (3, 3), seed)
    result = compile(w, gel, measure=False)
    d = result.report.details
    # a zero-residual problem: Gauss-Newton converges quadratically; the fit stops at the
    # default tolerance 1e-6 (seen: 5e-9 .. 6e-7 in <= 10 iterations); the uniform gel it
    # starts from is far off (seen 0.4 .. 1.0), so the fit did the work
    assert result.report.relative_error < 1e-5
    assert d["uniform_relative_error"] > 0.1
    assert d["iterations"] <= 30


def test_random_target_fit_beats_the_uniform_gel_and_reports_consistently():
    gel = exact_gel(noise=0.05, seed=4)
    w = np.random.default_rng(11).normal(size=(2, 3))
    result = compile(w, gel, measure=False, restarts=1)
    d = result.report.details
    assert isinstance(result, CompileResult) and result.substrate is gel
    assert d["fit_relative_error"] < d["uniform_relative_error"]
    assert d["fit_relative_error"] == pytest.approx(min(d["start_errors"]), rel=1e-9)
    assert d["loss_history"][-1] == pytest.approx(d["fit_relative_error"], rel=1e-9)
    assert np.all(np.diff(d["loss_history"]) <= 0)  # LM accepts only steps that lower the loss
    # written is the written maps' model times the reported scale, and the gel holds them
    assert np.allclose(result.report.written, d["model_transfer_ohm"] * d["scale_per_ohm"])
    assert np.array_equal(gel.fixed_charge, d["written_fixed_charge"])
    low, high = gel.writing.fixed_charge_range
    assert d["fitted_fixed_charge"].min() >= low and d["fitted_fixed_charge"].max() <= high


def test_measured_run_agrees_with_the_model_of_the_written_gel():
    gel = exact_gel(noise=0.05, seed=1)
    w = realisable_target(gel, (2, 2), 5)
    result = compile(w, gel)
    d = result.report.details
    # the run settles to the steady state of the same discretisation; what remains is the
    # linearisation (+-I cancels the quadratic term; |V| < 1 % of R T / F: ~1e-4 bound,
    # seen 1e-7 .. 2e-5) and settling (1e-7 between rounds)
    assert d["model_vs_measured"] < 1e-4
    assert d["settling_change"] < 1e-6
    assert d["measured_relative_error"] == pytest.approx(result.report.relative_error)
    assert np.allclose(result.report.written, d["measured_transfer_ohm"] * d["scale_per_ohm"])
    assert d["written_source"] == "measured"
    # the write noise (5 %) moved the transfer away from the fit, by far more than the run
    assert d["model_relative_error"] > 10 * d["fit_relative_error"]


def test_more_write_noise_gives_larger_errors_on_average():
    w = realisable_target(exact_gel(), (3, 3), 0)
    mean_error = {}
    for noise in (0.0, 0.05, 0.2):
        errors = [compile(w, exact_gel(noise, seed), measure=False).report.relative_error
                  for seed in range(4)]
        mean_error[noise] = float(np.mean(errors))
    # the fit is the same each time (deterministic): only the written maps differ; relative
    # noise on X scales the transfer error about linearly (seen 0.005 at 5 %, 0.02 at 20 %)
    assert mean_error[0.0] < 1e-5
    assert mean_error[0.0] < mean_error[0.05] < mean_error[0.2]


def test_same_seed_same_bits():
    w = np.array([[1.0, -0.4], [0.2, 0.7]])
    runs = [compile(w, exact_gel(0.05, 7), restarts=1, max_iterations=50) for _ in range(2)]
    other = compile(w, exact_gel(0.05, 8), restarts=1, max_iterations=50, measure=False)
    a, b = runs[0].report, runs[1].report
    assert np.array_equal(a.written, b.written)
    assert np.array_equal(a.details["written_fixed_charge"], b.details["written_fixed_charge"])
    # another gel seed: the same fit, other write noise
    assert np.array_equal(a.details["fitted_fixed_charge"], other.report.details["fitted_fixed_charge"])
    assert not np.array_equal(a.details["written_fixed_charge"],
                              other.report.details["written_fixed_charge"])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("weights, options, error, fragment", [
    (np.ones((17, 1)), {}, ValueError, "n_inputs must be <="),
    (np.ones((4, 7)), {}, ValueError, r"n_inputs \+ 2 n_outputs"),
    (np.array([[1.0, np.nan]]), {}, ValueError, "finite"),
    (np.zeros((2, 2)), {}, ValueError, "all zero"),
    (np.ones((2, 1)), {"input_electrodes": [5, 6], "output_electrodes": [[6, 0]]},
     ValueError, "disjoint"),
    (np.ones((2, 1)), {"input_electrodes": [5, 16], "output_electrodes": [[1, 0]]},
     ValueError, "cannot stimulate"),
    (np.ones((2, 1)), {"input_electrodes": [5, 6], "output_electrodes": [1, 0]},
     ValueError, r"shape \(1, 2\)"),
    (np.ones((2, 1)), {"input_electrodes": [5, 6]}, ValueError, "both"),
    (np.ones((2, 1)), {"input_electrodes": [5, 5], "output_electrodes": [[1, 0]]},
     ValueError, "distinct"),
    (np.ones((2, 1)), {"input_electrodes": [5, 6], "output_electrodes": [[1, 1]]},
     ValueError, "two different"),
    (np.ones((2, 2)), {"maps": ("charge",)}, ValueError, "maps"),
    (np.ones((2, 2)), {"smoothness": -1.0}, ValueError, "smoothness"),
    (np.ones((2, 2)), {"max_iterations": 0}, ValueError, "max_iterations"),
    (np.ones((2, 2)), {"restarts": -1}, ValueError, "restarts"),
])
def test_bad_input_is_named(weights, options, error, fragment):
    with pytest.raises(error, match=fragment):
        compile(weights, exact_gel(), **options)


def test_gels_without_a_dc_path_or_potential_readout_are_refused():
    with pytest.raises(ValueError, match="faradaic"):
        compile(np.ones((2, 2)), exact_gel(interface=ElectrodeInterfaceParameters(faradaic=False)))
    with pytest.raises(ValueError, match="readout='potential'"):
        compile(np.ones((2, 2)), exact_gel(readout="current"))
    with pytest.raises(ValueError, match="not recording"):
        exact_gel().transfer_matrix([0], [99])


def test_smoothness_trades_a_little_fit_for_a_much_smoother_pattern():
    w = realisable_target(exact_gel(), (3, 3), 1)

    def roughness(result):
        x = result.report.details["fitted_fixed_charge"]
        return np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2)

    rough = compile(w, exact_gel(), measure=False, restarts=0)
    smooth = compile(w, exact_gel(), measure=False, restarts=0, smoothness=1e-2, max_iterations=30)
    # seen: roughness 5.6e4 -> 2.7e3 (mol/m^3)^2 in 30 iterations, fit error 5e-9 -> 1.2e-4
    assert roughness(smooth) < 0.05 * roughness(rough)
    assert smooth.report.relative_error < 1e-2
