"""The same network in Brian2: the reference every spiking result is checked against.

:func:`simulate_brian2` builds a Brian2 model from a :class:`~substrates.SpikingNetwork`'s
own wiring, parameters and current state (nothing is redrawn), runs it, and returns the
spikes. Brian2 is given the equations and integrates them with its own methods ('exact'
for current-based LIF, 'exponential_euler' for conductance-based LIF, 'euler' for AdEx
and Izhikevich), in its C++ standalone mode.

With ``bitwise=True`` the generated C++ is compiled without ``-ffast-math`` and without
fused multiply-adds, so IEEE arithmetic is kept in the written order; a deterministic
current-based LIF network then gives identical spike trains in both simulators.
With ``bitwise=False`` Brian2 uses its default, fastest flags (for benchmarks).
"""

from __future__ import annotations

import tempfile
import time
from typing import NamedTuple

import numpy as np

__all__ = ["Brian2Result", "simulate_brian2"]


class Brian2Result(NamedTuple):
    """Spikes and timings of a Brian2 reference run.

    spike_times : float64 (n_spikes,), s from the start of the run
    spike_neurons : int64 (n_spikes,)
    run_time : float, s, Brian2's own timing of its simulation loop
    total_time : float, s, building, compiling and running (wall clock)
    """

    spike_times: np.ndarray
    spike_neurons: np.ndarray
    run_time: float
    total_time: float


def _uniform(values):
    """The common value if every entry is equal (to pass Brian2 a scalar), else None."""
    values = np.asarray(values)
    return float(values[0]) if values.size and np.all(values == values[0]) else None


def simulate_brian2(network, duration, *, bitwise=True, threads=1, directory=None):
    """Run ``network`` from its current state in Brian2's C++ standalone mode.

    Parameters
    ----------
    network : substrates.SpikingNetwork
        Its state is read, not changed. Stimulation is not part of the reference.
    duration : float, s
    bitwise : bool
        Compile without fast-math / FMA contraction (see module docstring).
    threads : int
        OpenMP threads for Brian2 (0 or 1: single-threaded).
    directory : str or None
        Where Brian2 writes and compiles its project (a temporary directory if None).

    Returns
    -------
    Brian2Result
    """
    import brian2 as b2

    from substrates.spiking import _kernels as K

    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a finite time > 0 s, got {duration!r}")
    started = time.perf_counter()
    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="jewelhead-brian2-")
        directory = tmp.name
    saved_args = list(b2.prefs.codegen.cpp.extra_compile_args_gcc)
    saved_threads = b2.prefs.devices.cpp_standalone.openmp_threads
    try:
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        if bitwise:
            b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O3", "-ffp-contract=off", "-std=c++11"]
        b2.prefs.devices.cpp_standalone.openmp_threads = int(threads) if threads > 1 else 0
        dt = network.dt
        clock_dt = dt * b2.second
        objects, monitor = _build(b2, network, clock_dt, K)
        net = b2.Network(*objects)
        net.run(duration * b2.second)
        b2.device.build(directory=directory, compile=True, run=True, debug=False,
                        with_output=False)
        run_time = float(b2.device._last_run_time)
        times = np.asarray(monitor.t[:] / b2.second, dtype=np.float64)
        neurons = np.asarray(monitor.i[:], dtype=np.int64)
    finally:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = saved_args
        b2.prefs.devices.cpp_standalone.openmp_threads = saved_threads
        b2.device.reinit()
        b2.set_device("runtime")
        if tmp is not None:
            tmp.cleanup()
    # Brian2's t is step * dt; report whole steps from the start like ours
    times = np.rint(times / dt) * dt
    return Brian2Result(times, neurons, run_time, time.perf_counter() - started)


def _build(b2, network, clock_dt, K):
    """Brian2 objects (NeuronGroup, Synapses, PoissonInput, SpikeMonitor) for ``network``."""
    n = network.n_neurons
    table = network.neuron_table
    state = network.state
    syn = network.synapses
    nrn = network.neuron
    model = network._model
    current = syn.model == "current"
    ns = {
        "taue": syn.excitatory_time_constant * b2.second,
        "taui": syn.inhibitory_time_constant * b2.second,
    }
    syn_unit = "amp" if current else "siemens"
    per_neuron = {}

    def param(name, values, unit):
        common = _uniform(values)
        if common is not None:
            ns[name] = common * getattr(b2, unit) if unit != "1" else common
            return ""
        per_neuron[name] = (np.asarray(values), unit)
        return f"{name} : {unit} (constant)\n"

    decl = param("El", table["resting_potential"], "volt")
    decl += param("vt", table["threshold"], "volt")
    decl += param("vr", table["reset"], "volt")
    decl += param("C", table["membrane_capacitance"], "farad")
    if current:
        i_syn = "(ie + ii)"
    else:
        ns["Ee"] = syn.excitatory_reversal * b2.volt
        ns["Ei"] = syn.inhibitory_reversal * b2.volt
        i_syn = "(ie*(Ee - v) + ii*(Ei - v))"
    syn_eqs = f"die/dt = -ie/taue : {syn_unit}\ndii/dt = -ii/taui : {syn_unit}\n"
    if model == K.LIF:
        decl += param("R", table["membrane_resistance"], "ohm")
        if current:
            ns["taum"] = nrn.membrane_time_constant * b2.second
            eqs = f"dv/dt = (R*{i_syn} - (v - El))/taum : volt (unless refractory)\n"
            method = "exact"
        else:
            eqs = f"dv/dt = ((El - v)/R + {i_syn})/C : volt (unless refractory)\n"
            method = "exponential_euler"
        reset = "v = vr"
    else:
        prm = network._prm
        decl += param("a_w", prm[K.ROW_ADAPT_CONDUCTANCE], "siemens")
        decl += param("b_w", prm[K.ROW_ADAPT_INCREMENT], "amp")
        decl += param("rate_w", prm[K.ROW_ADAPT_RATE], "hertz")
        decl += param("vsoft", prm[K.ROW_SOFT_THRESHOLD], "volt")
        if model == K.ADEX:
            decl += param("R", table["membrane_resistance"], "ohm")
            decl += param("DeltaT", prm[K.ROW_SLOPE], "volt")
            i_ion = "(-(v - El)/R + DeltaT/R*exp((v - vsoft)/DeltaT))"
        else:
            ns["k"] = float(prm[K.ROW_SLOPE, 0]) * b2.amp / b2.volt**2
            i_ion = "(k*(v - El)*(v - vsoft))"
        eqs = (
            f"dv/dt = ({i_ion} - adapt + {i_syn})/C : volt (unless refractory)\n"
            "dadapt/dt = rate_w*(a_w*(v - El) - adapt) : amp\n"
        )
        method = "euler"
        reset = "v = vr\nadapt += b_w"
    refractory = float(network.neuron.refractory_period) * b2.second
    group = b2.NeuronGroup(
        n, eqs + syn_eqs + decl, threshold="v > vt", reset=reset, refractory=refractory,
        method=method, namespace=ns, dt=clock_dt, name="neurons",
    )
    for name, (values, unit) in per_neuron.items():
        setattr(group, name, values * (getattr(b2, unit) if unit != "1" else 1))
    group.v = state.membrane_potential * b2.volt
    group.ie = state.excitatory_synaptic * getattr(b2, syn_unit)
    group.ii = state.inhibitory_synaptic * getattr(b2, syn_unit)
    if model != K.LIF:
        group.adapt = state.adaptation * b2.amp
    never = state.last_spike_step <= -(2**29)
    group.lastspike = np.where(never, -1e4, state.last_spike_step * network.dt) * b2.second
    objects = [group]
    table_syn = network.synapse_table
    excit = network.is_excitatory[table_syn.source]
    dep = network.depression
    stdp = network.stdp
    for label, mask, target in (("exc", excit, "ie"), ("inh", ~excit, "ii")):
        if not np.any(mask):
            continue
        model_s = f"w : {syn_unit}\n"
        on_pre = f"{target}_post += w"
        on_post = None
        syn_ns = {}
        if dep.enabled:
            model_s += "dx/dt = (1 - x)/tau_rec : 1 (event-driven)\n"
            on_pre = f"{target}_post += w*x\nx -= U*x"
            syn_ns.update(tau_rec=dep.recovery_time_constant * b2.second, U=dep.use)
        if stdp.enabled and label == "exc":
            step = stdp.learning_rate * stdp.weight_max
            model_s += (
                "plastic : boolean (constant)\n"
                "dapre/dt = -apre/taupre : 1 (event-driven)\n"
                "dapost/dt = -apost/taupost : 1 (event-driven)\n"
            )
            on_pre += (
                "\napre += int(plastic)*Apre"
                "\nw = int(plastic)*clip(w + apost*wunit, 0*wunit, wmax) + int(not plastic)*w"
            )
            on_post = (
                "apost += int(plastic)*Apost"
                "\nw = int(plastic)*clip(w + apre*wunit, 0*wunit, wmax) + int(not plastic)*w"
            )
            wunit = getattr(b2, syn_unit)
            syn_ns.update(
                taupre=stdp.pre_time_constant * b2.second,
                taupost=stdp.post_time_constant * b2.second,
                Apre=step / float(wunit),
                Apost=-stdp.depression_ratio * step / float(wunit),
                wmax=stdp.weight_max * wunit, wunit=wunit,
            )
        synapses = b2.Synapses(group, group, model_s, on_pre=on_pre, on_post=on_post,
                               namespace=syn_ns, dt=clock_dt, name=f"synapses_{label}")
        synapses.connect(i=table_syn.source[mask], j=table_syn.target[mask])
        synapses.w = table_syn.weight[mask] * getattr(b2, syn_unit)
        synapses.delay = table_syn.delay_steps[mask] * clock_dt
        if dep.enabled:
            synapses.x = 1.0
        if stdp.enabled and label == "exc":
            synapses.plastic = table_syn.plastic[mask]
        objects.append(synapses)
    bg = network.background
    if bg.n_inputs > 0 and bg.rate > 0 and bg.weight > 0:
        objects.append(
            b2.PoissonInput(group, "ie", bg.n_inputs, bg.rate * b2.hertz,
                            weight=bg.weight * getattr(b2, syn_unit))
        )
    monitor = b2.SpikeMonitor(group, name="spikes")
    objects.append(monitor)
    return objects, monitor
