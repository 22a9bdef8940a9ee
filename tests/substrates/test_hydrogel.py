"""Physics and behaviour of the hydrogel substrate (analytic answers, a reference solver,
conservation, the ionic diode and memristor, determinism, bad input)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from substrates import ElectrodeArray, Stimulus, check_substrate
from substrates.hydrogel import (
    FARADAY,
    GAS_CONSTANT,
    ElectrodeInterfaceParameters,
    Hydrogel,
    HydrogelParameters,
    SolverParameters,
    WriteParameters,
)
from substrates.hydrogel import _kernels as K
from tests.substrates.grid_reference import grid_laplacian

# an ideal front end wide enough for any current (A) or potential (V) here
IDEAL = {"noise_rms": 0.0, "adc_bits": None, "adc_range": (-10.0, 10.0)}


def conductivity(gel_parameters, concentration):
    """Ohmic conductivity of a neutral gel at salt ``concentration`` (S/m), Mackie-Meares hindered."""
    p = gel_parameters
    hindrance = ((1 - p.crosslink) / (1 + p.crosslink)) ** 2
    return (FARADAY**2 / (GAS_CONSTANT * p.temperature)
            * (p.cation_diffusivity + p.anion_diffusivity) * concentration * hindrance)


def strip(length, cell, *, positions, dt, readout="current", interface=None, sampling_rate=None,
          **gel_fields):
    """A 1D gel strip (one cell wide) with electrodes at ``positions`` (x, m)."""
    array = ElectrodeArray.from_positions([[x, 0.0] for x in positions], electrode_radius=cell / 2,
                                          sampling_rate=sampling_rate or 1.0 / dt, **IDEAL)
    gel = HydrogelParameters(size=(length, cell), cell_size=cell, thickness=cell, **gel_fields)
    return Hydrogel(array, dt=dt, gel=gel, interface=interface, readout=readout)


# ----------------------------------------------------------------------------- kernels
def test_bernoulli_matches_its_definition_and_derivative():
    for x in (-700.0, -30.0, -1.0, -1e-3, -1e-5, 0.0, 1e-5, 1e-3, 1.0, 30.0, 700.0):
        b, db = K.bernoulli(x)
        exact = 1.0 if x == 0 else x / math.expm1(x)
        # closed forms and series agree with x/expm1(x) to a few ulp (series truncation 1e-19)
        assert b == pytest.approx(exact, rel=1e-13, abs=1e-300)
        step = 1e-6 * max(1.0, abs(x))
        numeric = (K.bernoulli(x + step)[0] - K.bernoulli(x - step)[0]) / (2 * step)
        # central difference: O(step^2) truncation and O(eps/step) rounding, ~1e-9 relative
        assert db == pytest.approx(numeric, rel=1e-6, abs=1e-12)


def test_jacobian_matches_finite_differences_of_the_residual():
    # a patterned gel at a non-equilibrium state, voltage-driven faradaic and reservoir contacts
    for reservoir in (False, True):
        gel = strip(12e-6, 1e-6, positions=[-5.5e-6, 5.5e-6], dt=1e-3,
                    interface=ElectrodeInterfaceParameters(counter_electrode="none",
                                                           reservoir=reservoir))
        gel.pattern(fixed_charge=lambda x, y: 40.0 * np.sign(x), crosslink=lambda x, y: 0.1 + 1e4 * np.abs(x))
        rng = np.random.default_rng(0)
        ct = gel._ct * (1 + 0.2 * rng.random(gel.n_cells))
        psi = gel._psi + rng.normal(0, 1.0, gel.n_cells)
        mode, g, v, a, current = gel._contacts(np.array([0.3, -0.2]), True, 1e-3)
        args = gel._solve_inputs(mode, g, v, a, current, 1e-3, False)
        n = gel.n_cells

        def residual(x, gel=gel, args=args, n=n):
            r = np.empty(2 * n)
            jac = np.empty(4 * (n + 2 * gel._face_a.size))
            assert K.assemble(x[0::2], x[1::2], gel._ct, *args, r, jac, np.empty(gel.n_contacts))
            return r, jac

        x0 = np.empty(2 * n)
        x0[0::2], x0[1::2] = ct, psi
        _r0, jac = residual(x0)
        from scipy import sparse

        analytic = sparse.csc_matrix((jac[gel._csc_perm], gel._csc_indices, gel._csc_indptr),
                                     shape=(2 * n, 2 * n)).toarray()
        numeric = np.empty_like(analytic)
        for j in range(2 * n):
            step = 1e-6 * (abs(x0[j]) + 1.0)
            xp, xm = x0.copy(), x0.copy()
            xp[j] += step
            xm[j] -= step
            numeric[:, j] = (residual(xp)[0] - residual(xm)[0]) / (2 * step)
        # central differences of a smooth residual: ~1e-9 relative to the largest entry
        np.testing.assert_allclose(analytic, numeric, atol=1e-6 * np.abs(analytic).max())


# ----------------------------------------------------------------------------- conservation
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nx=st.integers(3, 6), ny=st.integers(2, 5), seed=st.integers(0, 2**31 - 1),
    voltage=st.booleans(), counter=st.sampled_from(["perimeter", "left", "none"]),
)
def test_total_ions_conserved_to_roundoff_with_blocking_electrodes(nx, ny, seed, voltage, counter):
    if counter == "none":
        voltage = True  # a current needs a counter electrode to return through
    rng = np.random.default_rng(seed)
    h = 5e-6
    cells = rng.choice(nx * ny, size=min(3, nx * ny), replace=False)
    xs = -nx * h / 2 + (cells % nx + 0.5) * h
    ys = -ny * h / 2 + (cells // nx + 0.5) * h
    array = ElectrodeArray.from_positions(np.column_stack([xs, ys]), electrode_radius=1e-6,
                                          sampling_rate=1000.0, **IDEAL)
    gel = Hydrogel(array, dt=1e-3,
                   gel=HydrogelParameters(size=(nx * h, ny * h), cell_size=h),
                   interface=ElectrodeInterfaceParameters(faradaic=False, counter_electrode=counter))
    gel.pattern(fixed_charge=rng.uniform(-200, 200, (ny, nx)), crosslink=rng.uniform(0, 0.6, (ny, nx)))
    before = gel.total_ions
    if voltage:
        drive = Stimulus(rng.uniform(-1.0, 1.0, (20, 3)), 1e-3, "V")
    else:
        drive = Stimulus(rng.uniform(-5e-9, 5e-9, (20, 3)), 1e-3, "A")
    gel.run(drive)
    after = gel.total_ions
    state = gel.state
    assert state.cation_concentration.min() > 0 and state.anion_concentration.min() > 0
    # fluxes telescope exactly; what remains is the linear solve's backward error and the
    # summation of ~30 cells over 20 steps: <= 6e-16 relative seen over 150 random cases,
    # so 1e-14 (~50 ulp) is round-off with room
    assert abs(after - before) <= 1e-14 * before
    # the drive did move ions (so the test is not vacuous)
    assert np.ptp(state.cation_concentration) > 0


def test_faradaic_electrodes_exchange_exactly_the_charge_passed():
    # Ag/AgCl: each coulomb through an electrode moves 1/F mol chloride; with the counter
    # electrode returning the current, the gel's ions change by -(I_e + I_counter) dt / F = 0
    # in total, while the anode region loses chloride
    gel = Hydrogel(dt=1e-3, electrodes=Hydrogel.default_electrodes("current").replace(**IDEAL),
                   readout="current")
    stim = Stimulus.encode(np.array([[1.0]]), n_channels=16, channel_map=[5], dt=1e-3,
                           hold=0.05, mode="amplitude", amplitude=20e-9, unit="A")
    before = gel.total_ions
    rec = gel.run(stim)
    # the recorded electrode current is the stimulus (floating electrodes: exactly 0 A)
    np.testing.assert_allclose(rec.data[:, 5], 20e-9, rtol=1e-12)
    assert np.all(rec.data[:, np.arange(16) != 5] == 0.0)
    # electrode (-20 nA in) and counter (+20 nA in) exchange opposite chloride: net zero
    assert abs(gel.total_ions - before) <= 1e-12 * before


# ----------------------------------------------------------------------------- analytic
def test_point_diffusion_spreads_with_variance_2Dt():
    h, n = 5e-6, 41
    array = ElectrodeArray.from_positions([[0.0, 0.0]], electrode_radius=1e-6, sampling_rate=500.0,
                                          **IDEAL)
    p = HydrogelParameters(size=(n * h, n * h), cell_size=h, crosslink=0.0)
    gel = Hydrogel(array, dt=2e-3, gel=p, interface=ElectrodeInterfaceParameters(counter_electrode="none"))
    c0 = 10.0
    c = np.full(gel.n_cells, c0)
    c[gel.n_cells // 2] += 1.0  # a point of salt (X = 0: c+ = c-)
    gel.set_state(c, c)
    duration = 0.1
    rec = gel.run(duration=duration, record_hidden=True, hidden_sampling_rate=500.0)
    excess = rec.hidden_state["cation_concentration"][-1] - c0
    x, y = gel.cell_positions[:, 0], gel.cell_positions[:, 1]
    # salt diffuses with the ambipolar diffusivity of a binary electrolyte at zero current
    d = 2 * p.cation_diffusivity * p.anion_diffusivity / (p.cation_diffusivity + p.anion_diffusivity)
    for coordinate in (x, y):
        variance = np.sum(excess * coordinate**2) / np.sum(excess)
        # backward Euler keeps the second moment exact (it grows by 2 D dt a step); what is
        # left is the edge (5 sigma away) and the 10 % excess's nonlinearity: < 1e-4 seen
        assert variance == pytest.approx(2 * d * duration, rel=1e-2)
    assert np.sum(excess) == pytest.approx(1.0, rel=1e-10)  # the point's salt is all still there


def test_conduction_between_two_electrodes_matches_grid_resistance():
    from scipy.sparse.linalg import spsolve

    h = 5e-6
    array = ElectrodeArray.from_positions([[-20e-6 + h / 2, 2.5e-6], [20e-6 - h / 2, -7.5e-6]],
                                          electrode_radius=1e-6, sampling_rate=1e6, **IDEAL)
    p = HydrogelParameters(size=(60e-6, 40e-6), cell_size=h)
    itf = ElectrodeInterfaceParameters(counter_electrode="none", interface_resistivity=1e-6)
    # one 1 us step: the chloride the Ag/AgCl electrodes exchange in it shifts their Nernst
    # potentials by ~1e-4 of the drive (a 100 us step gave 0.5 %)
    gel = Hydrogel(array, dt=1e-6, gel=p, interface=itf, readout="current")
    volts = 1e-3  # 1 mV << R T / F = 25.7 mV: the linear (Ohmic) regime
    rec = gel.run(Stimulus([[volts, 0.0]], 1e-6, "V"))
    current = rec.data[0, 0]
    # independent: the grid's conductance network, face conductance sigma * thickness
    ny, nx = gel.grid_shape
    g_face = conductivity(p, p.salt_concentration) * p.thickness
    lap = grid_laplacian(gel.grid_shape, g_face)
    source, sink = gel._contact_cell[:2]
    rhs = np.zeros(nx * ny)
    rhs[source], rhs[sink] = 1.0, -1.0
    keep = np.arange(nx * ny) != sink  # ground the sink
    phi = np.zeros(nx * ny)
    phi[keep] = spsolve(lap.tocsc()[keep][:, keep], rhs[keep])
    r_grid = phi[source] - phi[sink]
    r_interfaces = 2 * itf.interface_resistivity / (math.pi * 1e-6**2)
    expected = volts / (r_grid + r_interfaces)
    # Ohm's law on the same grid: SG currents at uniform salt are exactly linear in the
    # potential, so only the step's chloride exchange remains (~1e-4 seen); 1 % asked
    assert current == pytest.approx(expected, rel=1e-2)
    assert r_grid > r_interfaces / 10  # the gel, not only the interfaces, is being measured


def test_strip_resistance_matches_analytic_ohmic_resistance():
    h, length = 2e-6, 100e-6
    gel = strip(length, h, positions=[-length / 2 + h / 2, length / 2 - h / 2], dt=1e-6,
                interface=ElectrodeInterfaceParameters(counter_electrode="none", interface_resistivity=1e-9))
    p = gel.gel
    rec = gel.run(Stimulus([[1e-3, 0.0]], 1e-6, "V"))
    # resistance between the two end-cell centres of a uniform strip, plus both interfaces
    r = (length - h) / (conductivity(p, p.salt_concentration) * h * p.thickness)
    r += 2 * 1e-9 / (math.pi * (h / 2) ** 2)
    # the same Ohmic regime as above: agreement to ~1e-4 expected, 1 % asked
    assert rec.data[0, 0] == pytest.approx(1e-3 / r, rel=1e-2)


def test_one_dimensional_polarisation_matches_solve_ivp():
    from scipy.integrate import solve_ivp

    h, n = 2e-6, 30
    length = n * h
    x = -length / 2 + (np.arange(n) + 0.5) * h
    fixed = 8.0 * np.tanh(x / 10e-6)  # a smooth selectivity gradient (cell Peclet number << 1)
    itf = ElectrodeInterfaceParameters(counter_electrode="right", counter_width=h)
    gel = strip(length, h, positions=[x[0]], dt=2e-3, readout="potential", interface=itf)
    gel.pattern(fixed_charge=fixed.reshape(1, n))
    p = gel.gel
    current = 2e-10  # A, into the gel at the left electrode (below its diffusion limit)
    duration = 0.4
    ct0 = gel._ct.copy()
    gel.run(Stimulus([[current]], duration, "A"))
    ours = gel.state.cation_concentration + gel.state.anion_concentration

    # independent reference: method of lines with central differences; in 1D the current
    # through every face is known, so the field follows from it explicitly
    area = h * p.thickness
    hind = ((1 - p.crosslink) / (1 + p.crosslink)) ** 2
    dp, dm = p.cation_diffusivity * hind, p.anion_diffusivity * hind
    volume = h * area

    def rhs(_, ct):
        cp, cm = (ct - fixed) / 2, (ct + fixed) / 2
        dcp, dcm = np.diff(cp), np.diff(cm)
        mp, mm = (cp[1:] + cp[:-1]) / 2, (cm[1:] + cm[:-1]) / 2
        # i = F (Jp - Jm) / area with J = -D (dc/h +- c dpsi/h) area
        dpsi = -(current * h / (FARADAY * area) + dp * dcp - dm * dcm) / (dp * mp + dm * mm)
        jp = -dp * (dcp + mp * dpsi) * area / h
        jm = -dm * (dcm - mm * dpsi) * area / h
        flow = np.zeros(n)
        flow[:-1] -= jp + jm
        flow[1:] += jp + jm
        flow[0] -= current / FARADAY  # Ag/AgCl anode takes chloride
        flow[-1] += current / FARADAY  # the cathode gives it back
        return flow / volume

    ref = solve_ivp(rhs, (0, duration), ct0, method="BDF", rtol=1e-10, atol=1e-12).y[:, -1]
    change = ref - ct0
    # backward Euler (O(dt / tau)) and SG vs central fluxes (O(h^2) at small Peclet number):
    # well inside 1 % of the polarisation the current built up
    np.testing.assert_allclose(ours - ct0, change, atol=1e-2 * np.abs(change).max())
    assert np.abs(change).max() > 0.1  # mol/m^3: a real polarisation, not noise


# ----------------------------------------------------------------------------- diode and memristor
def diode(dt, sampling_rate=None):
    length, h = 40e-6, 1e-6
    itf = ElectrodeInterfaceParameters(counter_electrode="none", reservoir=True)
    gel = strip(length, h, positions=[-length / 2 + h / 2, length / 2 - h / 2], dt=dt,
                interface=itf, sampling_rate=sampling_rate)
    # reservoirs | +100 mM (anion-selective) | -100 mM (cation-selective) | reservoirs
    gel.pattern(fixed_charge=lambda x, y: np.where(np.abs(x) < 10e-6, -100.0 * np.sign(x), 0.0))
    return gel


def test_bipolar_junction_rectifies():
    gel = diode(dt=10e-3)
    steady = {}
    for volts in (1.0, -1.0):
        gel.reset()
        # +V on the cation-selective side is forward bias: counter-ions flood the junction
        rec = gel.run(Stimulus(np.tile([0.0, volts], (100, 1)), 10e-3, "V"))
        steady[volts] = rec.data[-1, 1]
    assert steady[1.0] > 0 > steady[-1.0]
    ratio = steady[1.0] / -steady[-1.0]
    # the issue asks >= 10 at +-1 V; this junction gives ~100 (depleted co-ions in reverse)
    assert ratio >= 10


def loop_metrics(frequency, steps_per_period=200):
    dt = 1.0 / (frequency * steps_per_period)
    gel = diode(dt)
    t = (np.arange(2 * steps_per_period) + 1) * dt
    volts = np.sin(2 * np.pi * frequency * t)
    rec = gel.run(Stimulus(np.column_stack([np.zeros_like(volts), volts]), dt, "V"))
    current, v = rec.data[steps_per_period:, 1], volts[steps_per_period:]  # second period
    segment = 0.5 * (current[1:] + current[:-1]) * np.diff(v)
    middle = 0.5 * (v[1:] + v[:-1])
    # a pinched loop has two lobes of opposite sense: add their areas, do not cancel them
    lobes = abs(segment[middle > 0].sum()) + abs(segment[middle < 0].sum())
    crossings = np.flatnonzero(np.sign(v[1:]) != np.sign(v[:-1]))
    at_zero = max(abs(current[k] - (current[k + 1] - current[k]) * v[k] / (v[k + 1] - v[k]))
                  for k in crossings)
    peak = np.abs(current).max()
    return lobes / peak, at_zero / peak  # area per (I_max * 1 V)


def test_sinusoidal_drive_gives_pinched_hysteresis_peaking_at_the_diffusion_frequency():
    low, middle, high = (loop_metrics(f) for f in (0.01, 100.0, 1e4))
    # the loop opens where the drive period meets the junction's diffusion times and closes
    # towards quasi-static (low) and frozen-state (high) frequency: 0.007, 0.82, 0.04 seen
    assert middle[0] > 5 * low[0]
    assert middle[0] > 5 * high[0]
    assert middle[0] > 0.3
    # pinched: the current at V = 0 is a small part of the peak current at every frequency;
    # what remains (< 15 % seen) is the bipolar junction's concentration-cell voltage
    # while salt is stored in it (the memory itself), gone at low and high frequency
    for area, at_zero in (low, middle, high):
        assert at_zero < 0.2
    assert low[1] < 0.01 and high[1] < 0.03


# ----------------------------------------------------------------------------- protocol and API
def test_default_gel_keeps_the_substrate_contract_and_runs_fast():
    gel = Hydrogel(random_state=0)
    check_substrate(gel)
    assert gel.hidden_state_keys == ("cation_concentration", "anion_concentration", "potential")
    assert gel.programmable is True
    enc = gel.encoding
    stim = Stimulus.encode(np.array([[1.0], [-0.5], [0.25], [0.0]]), n_channels=16,
                           channel_map=[5], dt=gel.dt, **enc)
    rec = gel.run(stim, record_hidden=True, hidden_sampling_rate=100.0)
    assert rec.data.shape == (round(4 * enc["hold"] * 1000.0), 16)
    assert rec.hidden_state["potential"].shape == (20, gel.n_cells)
    assert rec.hidden_state["cell_positions"].shape == (gel.n_cells, 3)
    # the driven electrode's potential follows the current's sign, neighbours weaker
    v = rec.data[: 50, :]
    assert v[:, 5].mean() > 5 * abs(v[:, 0].mean())


def test_rest_state_reads_zero_and_stays_at_rest():
    # Donnan equilibrium with a patterned charge map: Ag/AgCl electrodes read 0 V everywhere
    gel = Hydrogel(electrodes=Hydrogel.default_electrodes().replace(**IDEAL))
    gel.pattern(fixed_charge=lambda x, y: 200.0 * np.sign(x) * (np.abs(y) < 20e-6))
    before = gel.state
    rec = gel.run(duration=0.05)
    # the discrete Boltzmann profile is an exact zero of the SG fluxes: only round-off moves
    np.testing.assert_allclose(rec.data, 0.0, atol=1e-12)
    np.testing.assert_allclose(gel.state.cation_concentration, before.cation_concentration, rtol=1e-12)


def test_recording_is_passive():
    # recording more or fewer electrodes does not change the physics
    base = Hydrogel.default_electrodes().replace(**IDEAL)
    stim = Stimulus.encode(np.array([[1.0], [-1.0]]), n_channels=16, channel_map=[6], dt=1e-3,
                           hold=0.02, mode="amplitude", amplitude=30e-9, unit="A")
    full = Hydrogel(base).run(stim)
    few = Hydrogel(base.route([2, 9])).run(stim)
    np.testing.assert_array_equal(few.data, full.data[:, [2, 9]])


def test_same_seed_same_bits_and_seed_changes_only_noise():
    stim = Stimulus.encode(np.array([[0.5], [1.0]]), n_channels=16, channel_map=[3], dt=1e-3,
                           hold=0.02, mode="amplitude", amplitude=20e-9, unit="A")
    a = Hydrogel(random_state=7).run(stim)
    b = Hydrogel(random_state=7).run(stim)
    np.testing.assert_array_equal(a.data, b.data)
    gel = Hydrogel(random_state=7)
    gel.reset(seed=1)
    c = gel.run(stim)
    assert not np.array_equal(a.data, c.data)
    # the difference is noise: 10 uV rms each (6 sigma of a difference: 85 uV) plus up to
    # two ADC steps (31 uV each over +-1 V at 16 bit)
    assert np.abs(a.data - c.data).max() < 1.5e-4
    gel.reset(seed=1)
    np.testing.assert_array_equal(gel.run(stim).data, c.data)


def test_sample_and_hold_between_gel_steps_and_recording_rate():
    array = Hydrogel.default_electrodes().replace(**IDEAL)
    stim = Stimulus.encode(np.array([[1.0], [0.0]]), n_channels=16, channel_map=[5], dt=1e-3,
                           hold=0.02, mode="amplitude", amplitude=20e-9, unit="A")
    fine = Hydrogel(array, dt=1e-3).run(stim)
    coarse = Hydrogel(array, dt=5e-3).run(stim)  # each gel step held for 5 samples
    assert coarse.data.shape == fine.data.shape
    np.testing.assert_array_equal(coarse.data[0:5, 5], np.repeat(coarse.data[0, 5], 5))
    # same physics at a coarser backward-Euler step: within a few % at the end of the pulse
    assert coarse.data[19, 5] == pytest.approx(fine.data[19, 5], rel=0.05)


def test_explicit_scheme_agrees_with_implicit_and_refuses_large_steps():
    length, h = 20e-6, 2e-6
    kwargs = {"positions": [-length / 2 + h / 2, length / 2 - h / 2], "readout": "potential",
                  "interface": ElectrodeInterfaceParameters(counter_electrode="right", counter_width=h)}
    implicit = strip(length, h, dt=1e-4, **kwargs)
    limit = implicit.explicit_stability_limit
    # zero-field forward-Euler limit of a 1D strip: h^2 / (2 D_mean), D hindered
    p = implicit.gel
    d_mean = 0.5 * (p.cation_diffusivity + p.anion_diffusivity) * ((1 - p.crosslink) / (1 + p.crosslink)) ** 2
    assert limit == pytest.approx(h**2 / (2 * d_mean), rel=1e-12)
    with pytest.raises(ValueError, match=r"dt = .* exceeds the explicit scheme's stability limit"):
        Hydrogel(implicit.electrodes, dt=1.01 * limit, gel=p, interface=kwargs["interface"],
                 solver=SolverParameters(scheme="explicit"))
    dt = 1e-4
    explicit = Hydrogel(implicit.electrodes, dt=dt, gel=p, interface=kwargs["interface"],
                        solver=SolverParameters(scheme="explicit"))
    stim = Stimulus([[1e-10, 0.0]], 0.03, "A")
    a = implicit.run(stim).data[:, 0]
    b = explicit.run(stim).data[:, 0]
    assert a[-1] > 1.2 * a[0]  # polarisation builds up: a dynamic comparison
    # first-order schemes of opposite sign error at dt / tau_cell ~ 0.05: 1 % of the signal
    np.testing.assert_allclose(b, a, rtol=1e-2, atol=1e-2 * np.abs(a).max())


def test_program_clips_adds_write_noise_and_reports():
    gel = Hydrogel(random_state=3, writing=WriteParameters(write_noise=0.1))
    asked = np.linspace(-800, 800, gel.n_cells).reshape(gel.grid_shape)
    report = gel.program(fixed_charge=asked, crosslink=0.3)
    written = report["fixed_charge"]["written"]
    np.testing.assert_array_equal(gel.fixed_charge, written)
    assert written.min() >= -500 and written.max() <= 500
    inside = np.abs(asked) < 400
    relative = written[inside] / asked[inside] - 1
    # 10 % relative write noise: the sample sd of ~300 draws is within 20 % of it
    assert np.std(relative) == pytest.approx(0.1, rel=0.2)
    rms = np.sqrt(np.mean((written - asked) ** 2))
    assert report["fixed_charge"]["rms_error"] == pytest.approx(rms)
    assert report["crosslink"]["written"].mean() == pytest.approx(0.3, rel=0.02)
    # programming returns the gel to rest at the written map: electroneutral everywhere
    s = gel.state
    np.testing.assert_allclose(s.cation_concentration - s.anion_concentration + gel.fixed_charge.ravel(),
                               0.0, atol=1e-9)
    # same seed, same written map
    again = Hydrogel(random_state=3, writing=WriteParameters(write_noise=0.1))
    np.testing.assert_array_equal(again.program(fixed_charge=asked, crosslink=0.3)["fixed_charge"]["written"],
                                  written)


def test_crosslink_slows_ions():
    gel = Hydrogel()
    gel.pattern(crosslink=lambda x, y: np.where(x < 0, 0.0, 0.5))
    d = gel.effective_diffusivity["anion"]
    # Mackie-Meares: ((1 - 0.5) / (1 + 0.5))^2 = 1/9 of the free diffusivity
    assert d[:, -1].max() == pytest.approx(gel.gel.anion_diffusivity / 9, rel=1e-12)
    assert d[:, 0].max() == pytest.approx(gel.gel.anion_diffusivity, rel=1e-12)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    gel = Hydrogel()
    with pytest.raises(ValueError, match="finite"):
        Stimulus(np.full((5, 16), np.nan), 1e-3, "A")  # a NaN stimulus never gets built
    with pytest.raises(ValueError, match="n_stimulating"):
        gel.run(Stimulus(np.zeros((5, 3)), 1e-3, "A"))
    with pytest.raises(ValueError, match=r"electrodes \[0, 3\] .* outside the gel"):
        Hydrogel(ElectrodeArray.from_positions([[-1e-3, 0], [0, 0], [1e-5, 0], [0, 2e-3]]))
    with pytest.raises(ValueError, match="cation_diffusivity must be > 0"):
        HydrogelParameters(cation_diffusivity=-1e-9)
    with pytest.raises(ValueError, match="salt_concentration must be > 0"):
        HydrogelParameters(salt_concentration=-1.0)
    with pytest.raises(ValueError, match="cation_concentration must be finite and > 0"):
        gel.set_state(np.full(gel.n_cells, -1.0), np.full(gel.n_cells, 1.0))
    with pytest.raises(ValueError, match="electroneutrality"):
        gel.set_state(np.full(gel.n_cells, 2.0), np.full(gel.n_cells, 1.0))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['viscosity'\]"):
        HydrogelParameters.from_dict({"viscosity": 1.0})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bogus'\]"):
        ElectrodeInterfaceParameters.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="whole number"):
        HydrogelParameters(size=(101e-6, 100e-6), cell_size=5e-6)
    with pytest.raises(ValueError, match="crosslink must be a polymer volume fraction"):
        gel.pattern(crosslink=1.5)
    with pytest.raises(ValueError, match="grid's shape"):
        gel.pattern(fixed_charge=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        gel.pattern(fixed_charge=np.full(gel.grid_shape, np.nan))
    with pytest.raises(ValueError, match="readout"):
        Hydrogel(readout="charge")
    with pytest.raises(ValueError, match="dt must be a finite time > 0"):
        Hydrogel(dt=-1e-3)
    with pytest.raises(ValueError, match="duration"):
        gel.run(duration=float("nan"))
    no_counter = Hydrogel(interface=ElectrodeInterfaceParameters(counter_electrode="none"))
    with pytest.raises(ValueError, match="counter electrode"):
        no_counter.run(Stimulus(np.full((5, 16), 1e-9), 1e-3, "A"))
    with pytest.raises(RuntimeError, match="did not converge"):
        # 2 uA from a 5 um Ag/AgCl electrode: far past its chloride diffusion limit
        Hydrogel(solver=SolverParameters(max_step_halvings=3)).run(
            Stimulus.encode(np.array([[1.0]]), n_channels=16, channel_map=[5], dt=1e-3,
                            hold=0.05, mode="amplitude", amplitude=2e-6, unit="A"))
