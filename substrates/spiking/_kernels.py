"""Numba kernels of the spiking substrate: the physics in one place.

Arrays and scalars in, arrays out; no Python objects and no global random state (the
background drive draws from a counter-based SplitMix64 stream keyed by seed, step and
neuron, so results do not depend on how the work is split).

Order of one time step (Brian2's default schedule, so the reference can match it spike
for spike): state update -> threshold -> synaptic delivery (pre, then post for STDP;
background Poisson input) -> reset.

Units are SI throughout: V, A, S, F, s.
"""

import math

import numpy as np
from numba import njit, prange

from substrates._aligned import aligned_full, aligned_rows
from substrates._counter_rng import uniform01
from substrates._numba import JIT, JIT_INLINE, JIT_LEAF, JIT_PARALLEL
from substrates._prefetch import prefetch, prefetch_range
from substrates._threads import SYNC_SIZE, barrier, join

# neuron models
LIF = 0
ADEX = 1
IZHIKEVICH = 2
# synapse models
CURRENT = 0
CONDUCTANCE = 1

# rows of the per-neuron parameter table, shape (N_ROWS, n_neurons)
ROW_REST = 0  # resting / leak reversal potential El (V)
ROW_THRESHOLD = 1  # spike detection: LIF threshold, AdEx cut-off, Izhikevich peak (V)
ROW_RESET = 2  # reset potential (V)
ROW_RESISTANCE = 3  # membrane resistance (Ohm), LIF and AdEx
ROW_CAPACITANCE = 4  # membrane capacitance (F)
ROW_DECAY_MEMBRANE = 5  # exp(-dt / membrane time constant), LIF propagator
ROW_PROP_EXC = 6  # LIF current-synapse propagator: effect of I_e on v over one step (Ohm)
ROW_PROP_INH = 7  # same for I_i (Ohm)
ROW_SLOPE = 8  # AdEx slope factor Delta_T (V); Izhikevich k (A / V^2)
ROW_SOFT_THRESHOLD = 9  # AdEx V_T (V); Izhikevich instantaneous threshold v_t (V)
ROW_ADAPT_CONDUCTANCE = 10  # AdEx a (S); Izhikevich b (S)
ROW_ADAPT_INCREMENT = 11  # AdEx b (A); Izhikevich d (A)
ROW_ADAPT_RATE = 12  # AdEx 1 / tau_w (1/s); Izhikevich a (1/s)
N_ROWS = 13



@njit(**JIT)
def binomial_inverse(u, n, p0, ratio):
    """Binomial(n, p) count by inversion of one uniform ``u``.

    ``p0`` is (1 - p)**n and ``ratio`` is p / (1 - p); the loop walks the CDF, a few
    iterations when n p is small, as for background synaptic bombardment.
    """
    k = 0
    prob = p0
    cdf = prob
    while u > cdf and k < n:
        prob *= (n - k) / (k + 1.0) * ratio
        k += 1
        cdf += prob
    return k


@njit(**JIT_INLINE)
def _value(stored, scale):
    """A synaptic variable's value from what is stored: ``stored * scale``, or
    ``stored`` itself where nothing is kept scaled (scale None: the branch is pruned
    at compile time, so no multiplication by 1 is left in the loop)."""
    return stored if scale is None else stored * scale


@njit(**JIT_LEAF)
def _lif_current(v, syn_e, syn_i, prm, scale_e, scale_i, epoch_decay, drive, use_drive,
                 uniform, spiked):
    """Current-based LIF: the exact propagator for drive held constant over the step.

    Written term for term as Brian2's 'exact' integrator emits it, so that the
    reference matches bit for bit; without drive the ``+ 0.0`` terms are dropped, which
    leaves every rounding unchanged. Branch-free so that the loop vectorises; with
    ``uniform`` (every neuron has the same parameters) the parameters are read once.
    Refractory neurons are updated too and put back afterwards (see update_neurons).
    The synaptic currents are ``syn_e * scale_e`` and ``syn_i * scale_i``; at the end
    of an epoch ``epoch_decay`` (see :func:`update_neurons`) multiplies them, else
    (None) they are only read.
    """
    el = prm[ROW_REST]
    thr = prm[ROW_THRESHOLD]
    decay_m = prm[ROW_DECAY_MEMBRANE]
    c_e = prm[ROW_PROP_EXC]
    c_i = prm[ROW_PROP_INH]
    res = prm[ROW_RESISTANCE]
    if use_drive:
        for i in range(v.shape[0]):
            i_e = _value(syn_e[i], scale_e)
            i_i = _value(syn_i[i], scale_i)
            r_drive = res[i] * drive[i]
            v_new = el[i] + (
                (((c_e[i] * i_e + c_i[i] * i_i) + r_drive) + decay_m[i] * v[i])
                + decay_m[i] * (-el[i] - r_drive)
            )
            v[i] = v_new
            if epoch_decay is not None:  # pruned at compile time when None
                syn_e[i] = syn_e[i] * epoch_decay[0]
                syn_i[i] = syn_i[i] * epoch_decay[1]
            spiked[i] = v_new > thr[i]
    elif uniform:
        # the same arithmetic with every parameter shared: scalars in registers
        el0 = el[0]
        thr0 = thr[0]
        dm0 = decay_m[0]
        ce0 = c_e[0]
        ci0 = c_i[0]
        rest_term = dm0 * (-el0)
        for i in range(v.shape[0]):
            i_e = _value(syn_e[i], scale_e)
            i_i = _value(syn_i[i], scale_i)
            v_new = el0 + (((ce0 * i_e + ci0 * i_i) + dm0 * v[i]) + rest_term)
            v[i] = v_new
            if epoch_decay is not None:  # pruned at compile time when None
                syn_e[i] = syn_e[i] * epoch_decay[0]
                syn_i[i] = syn_i[i] * epoch_decay[1]
            spiked[i] = v_new > thr0
    else:
        for i in range(v.shape[0]):
            i_e = _value(syn_e[i], scale_e)
            i_i = _value(syn_i[i], scale_i)
            v_new = el[i] + (
                ((c_e[i] * i_e + c_i[i] * i_i) + decay_m[i] * v[i])
                + decay_m[i] * (-el[i])
            )
            v[i] = v_new
            if epoch_decay is not None:  # pruned at compile time when None
                syn_e[i] = syn_e[i] * epoch_decay[0]
                syn_i[i] = syn_i[i] * epoch_decay[1]
            spiked[i] = v_new > thr[i]


@njit(**JIT_LEAF)
def _lif_conductance(dt, v, syn_e, syn_i, prm, scale_e, scale_i, epoch_decay, reversal_e,
                     reversal_i, drive, spiked):
    """Conductance-based LIF: exponential Euler (exact for conductances frozen over dt)."""
    el = prm[ROW_REST]
    thr = prm[ROW_THRESHOLD]
    res = prm[ROW_RESISTANCE]
    cap = prm[ROW_CAPACITANCE]
    for i in range(v.shape[0]):
        ge = _value(syn_e[i], scale_e)
        gi = _value(syn_i[i], scale_i)
        g_leak = 1.0 / res[i]
        g_total = g_leak + ge + gi
        v_inf = (g_leak * el[i] + ge * reversal_e + gi * reversal_i + drive[i]) / g_total
        v_new = v_inf + (v[i] - v_inf) * np.exp(-dt * g_total / cap[i])
        v[i] = v_new
        if epoch_decay is not None:
            syn_e[i] = syn_e[i] * epoch_decay[0]
            syn_i[i] = syn_i[i] * epoch_decay[1]
        spiked[i] = v_new > thr[i]


@njit(**JIT_LEAF)
def _adaptive(model, synapse_model, dt, v, syn_e, syn_i, adapt, prm, scale_e, scale_i,
              epoch_decay, reversal_e, reversal_i, drive, spiked):
    """AdEx or Izhikevich membrane with an adaptation current: forward Euler."""
    el = prm[ROW_REST]
    thr = prm[ROW_THRESHOLD]
    cap = prm[ROW_CAPACITANCE]
    slope = prm[ROW_SLOPE]
    soft = prm[ROW_SOFT_THRESHOLD]
    a_cond = prm[ROW_ADAPT_CONDUCTANCE]
    a_rate = prm[ROW_ADAPT_RATE]
    res = prm[ROW_RESISTANCE]
    for i in range(v.shape[0]):
        vi = v[i]
        ie = _value(syn_e[i], scale_e)
        ii = _value(syn_i[i], scale_i)
        if synapse_model == CURRENT:
            i_syn = ie + ii
        else:
            i_syn = ie * (reversal_e - vi) + ii * (reversal_i - vi)
        if model == ADEX:
            g_leak = 1.0 / res[i]
            i_ion = -g_leak * (vi - el[i]) + g_leak * slope[i] * np.exp((vi - soft[i]) / slope[i])
        else:  # Izhikevich (2007): C dv/dt = k (v - v_r)(v - v_t) - u + I
            i_ion = slope[i] * (vi - el[i]) * (vi - soft[i])
        w = adapt[i]
        v_new = vi + dt * (i_ion - w + i_syn + drive[i]) / cap[i]
        adapt[i] = w + dt * a_rate[i] * (a_cond[i] * (vi - el[i]) - w)
        v[i] = v_new
        if epoch_decay is not None:
            syn_e[i] = syn_e[i] * epoch_decay[0]
            syn_i[i] = syn_i[i] * epoch_decay[1]
        spiked[i] = v_new > thr[i]


@njit(**JIT_LEAF)
def restore_refractory(v, ring, ring_v):
    """Put back the frozen membrane potential of every neuron in the refractory ring.

    ``ring`` and ``ring_v`` are as in :func:`update_neurons`.
    """
    n = v.shape[0]
    head = ring[n]
    length = ring[n + 1]
    # the ring as at most two contiguous runs (no modulo in the loops)
    first_run = min(length, n - head)
    for k in range(first_run):
        v[ring[head + k]] = ring_v[head + k]
    for k in range(length - first_run):
        v[ring[k]] = ring_v[k]


@njit(**JIT_LEAF)
def update_neurons(model, synapse_model, dt, step, v, syn_e, syn_i, adapt, last_spike,
                   refractory_steps, ring, ring_v, prm, uniform, drive, use_drive, scale_e,
                   scale_i, epoch_decay, reversal_e, reversal_i, spiked, spike_list):
    """Advance a run of neurons by one step; list those that crossed threshold.

    Every neuron is integrated by one branch-free (vectorised) loop, refractory or not;
    a refractory neuron (Brian2's rule: ``step - last_spike < refractory_steps``) keeps
    the potential it was reset to and cannot spike, which is the same arithmetic as
    skipping it, bit for bit. For LIF neurons the potential is the only variable that
    refractoriness freezes and no other variable reads it, so the frozen value is put
    back only when the period ends (and by :func:`restore_refractory` before anyone
    reads ``v``); AdEx and Izhikevich adaptation reads ``v``, so there it is put back
    after every step.

    The synaptic variables decay by whole epochs of K steps (see :func:`synaptic_scale`):
    ``syn_e`` holds the excitatory current (or conductance) divided by its decay since
    the epoch began, so this loop only reads it (``syn_e * scale_e``), and the last
    step of an epoch multiplies it by the epoch's decay (``epoch_decay``). With K = 1
    that is Brian2's decay, one multiplication a step, bit for bit, and nothing is
    scaled (``scale_e`` and ``scale_i`` None).

    Parameters
    ----------
    v, adapt : float arrays (n,), updated in place
        Membrane potential (V), adaptation current (A).
    syn_e, syn_i : float arrays (n,), updated in place at the end of an epoch
        Excitatory and inhibitory synaptic variables (A for current synapses, S for
        conductance synapses) divided by their decay since the epoch began.
    last_spike : int32 array (n,); refractory_steps : int (same for all)
    ring : int64 array (n + 2,)
        The neurons that may still be refractory, oldest spike first, as a ring buffer:
        ``ring[n]`` is the head position and ``ring[n + 1]`` the length.
    ring_v : float array (n,)
        The frozen membrane potential of each ring entry (V).
    prm : float array (N_ROWS, >= n), of the state's precision
    uniform : bool, every column of prm is the same
    drive : float array (n,)
        Stimulation current into each membrane this step (A); read only if use_drive.
    scale_e, scale_i : float or None
        The synaptic variables' decay since their epoch began (``syn_scale[:2, step %
        K]`` of :func:`synaptic_scale`); None where they are kept unscaled (K = 1).
    epoch_decay : (float, float) or None
        Their decay over a whole epoch if this step ends one (``syn_scale[:2, K]``),
        else None. Each None compiles a variant without that arithmetic.
    spiked : bool array (n rounded up to a multiple of 8,), scratch, zero padded
    spike_list : int64 array (n,), output: the spiking neurons, ascending

    Returns
    -------
    int : the number of spikes (the filled length of ``spike_list``).
    """
    n = v.shape[0]
    lazy = model == LIF
    # neurons whose refractory period is over leave the front of the ring
    head = ring[n]
    length = ring[n + 1]
    while length > 0 and step - last_spike[ring[head]] >= refractory_steps:
        if lazy:
            v[ring[head]] = ring_v[head]
        head += 1
        if head == n:
            head = 0
        length -= 1
    ring[n] = head
    ring[n + 1] = length
    if model == LIF and synapse_model == CURRENT:
        _lif_current(v, syn_e, syn_i, prm, scale_e, scale_i, epoch_decay, drive, use_drive,
                     uniform, spiked)
    elif model == LIF:
        _lif_conductance(dt, v, syn_e, syn_i, prm, scale_e, scale_i, epoch_decay, reversal_e,
                         reversal_i, drive, spiked)
    else:
        _adaptive(model, synapse_model, dt, v, syn_e, syn_i, adapt, prm, scale_e, scale_i,
                  epoch_decay, reversal_e, reversal_i, drive, spiked)
    if not lazy:
        restore_refractory(v, ring, ring_v)
    # gather: spikes are rare, so skip eight flags at a time (spiked is padded to a
    # multiple of 8 with zeros); a refractory neuron's crossing does not count
    words = spiked.view(np.uint64)
    count = 0
    for w in range(words.shape[0]):
        if words[w] != 0:
            for i in range(8 * w, 8 * w + 8):
                if spiked[i] and step - last_spike[i] >= refractory_steps:
                    spike_list[count] = i
                    count += 1
    return count


@njit(**JIT)
def fill_refractory_ring(last_spike, v, step, refractory_steps, ring, ring_v):
    """The ring buffer of update_neurons for a state: neurons in their refractory
    period at ``step``, oldest spike first (ties by index), with their potentials."""
    n = last_spike.shape[0]
    candidates = np.flatnonzero(step - last_spike.astype(np.int64) < refractory_steps)
    order = np.argsort(last_spike[candidates], kind="mergesort")
    for k in range(candidates.shape[0]):
        ring[k] = candidates[order[k]]
        ring_v[k] = v[ring[k]]
    ring[n] = 0
    ring[n + 1] = candidates.shape[0]


@njit(**JIT)
def _decayed(value, step, last_step, dt, time_constant):
    """An exponentially decaying trace, read at ``step`` after its last update."""
    return value * np.exp(-(step - last_step) * dt / time_constant)


@njit(**JIT_LEAF)
def _stimulation_drive(currents, stim_ptr, stim_neuron, stim_gain, drive, buf, have_drive):
    """Fill ``drive[buf]`` (A per neuron) from one step of electrode ``currents`` (A);
    returns whether any electrode carries current (else that buffer is all zero)."""
    if have_drive:
        drive[buf, :] = 0.0
        have_drive = False
    for e in range(currents.shape[0]):
        current = currents[e]
        if current != 0.0:
            have_drive = True
            for k in range(stim_ptr[e], stim_ptr[e + 1]):
                drive[buf, stim_neuron[k]] += stim_gain[k] * current
    return have_drive


@njit(**JIT_INLINE)
def _begin_step(b, step, record_row, model, synapse_model, dt, bounds, v, syn_e, syn_i,
                adapt, last_spike, refractory_steps, rings, ring_vs, prm_blocks, uniform,
                drive, buf, have_drive, syn_scale, reversal_e, reversal_i, spiked,
                block_spikes, block_counts, v_record):
    """Block ``b`` of neurons: record v(step) if ``record_row >= 0``, then integrate
    the step (stimulation ``drive[buf]``) and list its threshold crossings
    (block-local indices) in ``block_spikes[buf, b]``, their number in
    ``block_counts[buf, b]``."""
    lo = bounds[b]
    hi = bounds[b + 1]
    m = hi - lo
    if record_row >= 0:
        restore_refractory(v[lo:hi], rings[b, :m + 2], ring_vs[b, :m])
        for i in range(lo, hi):  # v(step * dt), before this step's update
            v_record[record_row, i] = v[i]
    # the synaptic variables' scale this step (see update_neurons and synaptic_scale);
    # each case is its own compiled variant of the integration loop
    epoch = syn_scale.shape[1] - 1
    phase = step & (epoch - 1)  # step % epoch: epoch is a power of two
    v_b, syn_e_b, syn_i_b = v[lo:hi], syn_e[lo:hi], syn_i[lo:hi]
    ring, ring_v, flags = rings[b, :m + 2], ring_vs[b, :m], spiked[lo:lo + 8 * ((m + 7) // 8)]
    if epoch == 1:  # Brian2's decay: one multiplication a step, nothing kept scaled
        count = update_neurons(
            model, synapse_model, dt, step, v_b, syn_e_b, syn_i_b, adapt[lo:hi],
            last_spike[lo:hi], refractory_steps, ring, ring_v, prm_blocks[b], uniform,
            drive[buf, lo:hi], have_drive, None, None, (syn_scale[0, 1], syn_scale[1, 1]),
            reversal_e, reversal_i, flags, block_spikes[buf, b])
    elif phase + 1 == epoch:  # the epoch ends: what is stored decays by the epoch's decay
        count = update_neurons(
            model, synapse_model, dt, step, v_b, syn_e_b, syn_i_b, adapt[lo:hi],
            last_spike[lo:hi], refractory_steps, ring, ring_v, prm_blocks[b], uniform,
            drive[buf, lo:hi], have_drive, syn_scale[0, phase], syn_scale[1, phase],
            (syn_scale[0, epoch], syn_scale[1, epoch]), reversal_e, reversal_i, flags,
            block_spikes[buf, b])
    else:
        count = update_neurons(
            model, synapse_model, dt, step, v_b, syn_e_b, syn_i_b, adapt[lo:hi],
            last_spike[lo:hi], refractory_steps, ring, ring_v, prm_blocks[b], uniform,
            drive[buf, lo:hi], have_drive, syn_scale[0, phase], syn_scale[1, phase], None,
            reversal_e, reversal_i, flags, block_spikes[buf, b])
    block_counts[buf, b] = count


@njit(**JIT_LEAF)
def _next_run(slot, queue_group, queue_len, queue_start, group_delay, position, row):
    """The next entries of a queue slot to deliver, in the serial order.

    A slot holds what arrives at one step, in one region per block of source neurons
    (block ``r``'s at ``queue_group[slot, queue_start[r]:][:queue_len[r, slot]]``; each
    block's lengths are on cache lines of their own), each region in order of emission.
    The serial order is by emission step (the longest delay first, as every entry of
    the slot arrives at the same step), then source neuron, so the regions are merged:
    returns ``(r, stop)``, the region whose entries from ``position[row, r]`` to
    ``stop`` come next, or ``(-1, 0)`` when the slot is done.
    """
    best = -1
    best_delay = -1
    n_open = 0
    for r in range(queue_start.shape[0]):
        p = position[row, r]
        if p < queue_len[r, slot]:
            n_open += 1
            delay = group_delay[queue_group[slot, queue_start[r] + p]]
            if delay > best_delay:  # ties: the lower region, whose neurons come first
                best_delay = delay
                best = r
    if best < 0:
        return -1, 0
    stop = queue_len[best, slot]
    if n_open > 1:  # only this region's run of the same emission step
        base = queue_start[best]
        stop = position[row, best] + 1
        while (stop < queue_len[best, slot]
               and group_delay[queue_group[slot, base + stop]] == best_delay):
            stop += 1
    return best, stop


@njit(**JIT_INLINE)
def _end_step(b, step, slot, dt, bounds, v, syn_e, syn_i, adapt, last_spike,
              refractory_steps, rings, ring_vs, prm_blocks, block_spikes, block_counts, buf,
              group_excitatory, queue_group, queue_scale, queue_len, queue_start,
              merge_position, group_ranges, group_delay, group_weight,
              group_weight_uniform, targets, weights, plastic, post_ptr, post_synapse,
              stdp_on, stdp_pre_trace, stdp_pre_last, stdp_post_trace, stdp_post_last,
              stdp_pre_time, stdp_post_time, stdp_pre_increment, stdp_post_increment,
              stdp_weight_max, bg_n, bg_p0, bg_ratio, bg_weight, bg_key, syn_scale):
    """Block ``b`` of neurons after every block has queued this step's spikes: synaptic
    delivery of what arrives now (queue ``slot``) to its neurons, STDP, background
    input and the reset of its own spikes (``block_spikes[buf, b]``, ``block_counts[buf, b]``).

    What arrives adds to the synaptic variables of step + 1, which hold the value
    divided by its decay since their epoch began (:func:`update_neurons`), so every
    weight is divided by that decay too (``syn_scale[2:, (step + 1) % K]``; 1 at the
    start of an epoch, which leaves every product's bits unchanged).

    A block touches only its own neurons and the synapses onto them (``group_ranges``
    splits each delay group by target block), so blocks can run at once; each neuron
    still receives its inputs in the serial order (:func:`_next_run`), so the bits do
    not depend on the number of blocks. ``merge_position[b]`` is this block's scratch
    for the merge.
    """
    lo = bounds[b]
    hi = bounds[b + 1]
    m = hi - lo
    n = v.shape[0]
    n_regions = queue_start.shape[0]
    phase = (step + 1) & (syn_scale.shape[1] - 2)  # K is a power of two
    unscale_e = syn_scale[2, phase]
    unscale_i = syn_scale[3, phase]
    # ask for every arriving group's record, then all its synapses onto this block,
    # before delivering (scattered cache misses that would otherwise be paid one group,
    # and within a group one cache line, at a time)
    for r in range(n_regions):
        base = queue_start[r]
        for q in range(queue_len[r, slot]):
            g = queue_group[slot, base + q]
            prefetch(group_ranges[g], b)
            prefetch(group_weight, g)
            prefetch(group_excitatory, g)
            if n_regions > 1:
                prefetch(group_delay, g)
    for r in range(n_regions):
        base = queue_start[r]
        for q in range(queue_len[r, slot]):
            g = queue_group[slot, base + q]
            prefetch_range(targets, group_ranges[g, b], group_ranges[g, b + 1])
            if not group_weight_uniform:
                prefetch_range(weights, group_ranges[g, b], group_ranges[g, b + 1])
        merge_position[b, r] = 0
    # deliver what arrives now, one synapse at a time, in order of emission, source and
    # synapse index (the order Brian2's SpikeQueue uses)
    while True:
        r, stop = _next_run(slot, queue_group, queue_len, queue_start, group_delay,
                            merge_position, b)
        if r < 0:
            break
        base = queue_start[r]
        for q in range(base + merge_position[b, r], base + stop):
            g = queue_group[slot, q]
            excitatory = group_excitatory[g]
            # short-term depression's scale over the epoch's decay
            scale = queue_scale[slot, q] * (unscale_e if excitatory else unscale_i)
            start = group_ranges[g, b]
            stop_k = group_ranges[g, b + 1]
            if not stdp_on:
                # the common case, kept lean: one weight per group when all are equal
                # (the same product weights[k] * scale, so the same bits)
                if group_weight_uniform:
                    w = group_weight[g] * scale
                    if excitatory:
                        for k in range(start, stop_k):
                            syn_e[targets[k]] += w
                    else:
                        for k in range(start, stop_k):
                            syn_i[targets[k]] += w
                elif excitatory:
                    for k in range(start, stop_k):
                        syn_e[targets[k]] += weights[k] * scale
                else:
                    for k in range(start, stop_k):
                        syn_i[targets[k]] += weights[k] * scale
                continue
            post = syn_e if excitatory else syn_i
            for k in range(start, stop_k):
                t = targets[k]
                post[t] += weights[k] * scale
                if plastic[k]:
                    # pre spike: pre trace grows, weight depressed by the post trace
                    a_pre = _decayed(stdp_pre_trace[k], step, stdp_pre_last[k], dt,
                                     stdp_pre_time)
                    stdp_pre_trace[k] = a_pre + stdp_pre_increment
                    stdp_pre_last[k] = step
                    a_post = _decayed(stdp_post_trace[t], step, stdp_post_last[t], dt,
                                      stdp_post_time)
                    weights[k] = min(max(weights[k] + a_post, 0.0), stdp_weight_max)
        merge_position[b, r] = stop
    spikes = block_spikes[buf, b]
    count = block_counts[buf, b]
    # post spikes: potentiation by the pre traces of incoming plastic synapses
    if stdp_on:
        for c in range(count):
            t = lo + spikes[c]
            a_post = _decayed(stdp_post_trace[t], step, stdp_post_last[t], dt, stdp_post_time)
            stdp_post_trace[t] = a_post + stdp_post_increment
            stdp_post_last[t] = step
            for j in range(post_ptr[t], post_ptr[t + 1]):
                k = post_synapse[j]
                a_pre = _decayed(stdp_pre_trace[k], step, stdp_pre_last[k], dt, stdp_pre_time)
                weights[k] = min(max(weights[k] + a_pre, 0.0), stdp_weight_max)
    # background Poisson bombardment onto the excitatory synapses
    if bg_n > 0:
        base = np.uint64(step) * np.uint64(n)
        for i in range(lo, hi):
            u = uniform01(bg_key, base + np.uint64(i))
            if u > bg_p0:
                syn_e[i] += (bg_weight * unscale_e) * binomial_inverse(u, bg_n, bg_p0,
                                                                      bg_ratio)
    # reset
    reset = prm_blocks[b, ROW_RESET]
    adapt_increment = prm_blocks[b, ROW_ADAPT_INCREMENT]
    ring = rings[b]
    ring_v = ring_vs[b]
    for c in range(count):
        local = spikes[c]
        i = lo + local
        v[i] = reset[local]
        adapt[i] += adapt_increment[local]
        last_spike[i] = step
        if refractory_steps > 0:
            tail = ring[m] + ring[m + 1]
            if tail >= m:
                tail -= m
            ring[tail] = local
            ring_v[tail] = reset[local]
            ring[m + 1] += 1


@njit(**JIT_INLINE)
def _push_spikes(b, buf, step, dt, bounds, block_spikes, block_counts, stp_on, stp_resource,
                 stp_last, stp_use, stp_recovery_time, source_group_ptr, group_delay,
                 queue_group, queue_scale, queue_len, queue_start):
    """Queue block ``b``'s spikes of ``step`` (spike buffer ``buf``) in its own region
    of the queue.

    A spike pushes one entry (delay group, scale) per distinct delay of its neuron, in
    the slot where it arrives (the queue has one slot more than the longest delay, so a
    block never writes the slot that others are taking delivery from); short-term
    depression scales it. Block ``b``'s region of a slot starts at ``queue_start[b]``
    (= ``source_group_ptr[bounds[b]]``) and has room for every group of its neurons. The
    scattered records a spike needs are asked for first, so their cache misses overlap.
    """
    lo = bounds[b]
    spikes = block_spikes[buf, b]
    count = block_counts[buf, b]
    n_slots = queue_group.shape[0]
    base = queue_start[b]
    for c in range(count):
        prefetch(source_group_ptr, lo + spikes[c])
    for c in range(count):
        prefetch(group_delay, source_group_ptr[lo + spikes[c]])
    for c in range(count):
        i = lo + spikes[c]
        scale = 1.0
        if stp_on:
            # Tsodyks-Markram depression: resources recover towards 1 between spikes
            x = 1.0 - _decayed(1.0 - stp_resource[i], step, stp_last[i], dt, stp_recovery_time)
            scale = x
            stp_resource[i] = x - stp_use * x
            stp_last[i] = step
        for g in range(source_group_ptr[i], source_group_ptr[i + 1]):
            slot = (step + group_delay[g]) % n_slots
            q = queue_len[b, slot]
            queue_group[slot, base + q] = g
            queue_scale[slot, base + q] = scale
            queue_len[b, slot] = q + 1


@njit(**JIT_INLINE)
def _record_spikes(step, buf, n_spikes, bounds, block_spikes, block_counts, spike_step,
                   spike_neuron):
    """Append every block's spikes of ``step`` (spike buffer ``buf``) to the output, in
    neuron order; returns the new number of recorded spikes."""
    for b in range(bounds.shape[0] - 1):
        lo = bounds[b]
        for c in range(block_counts[buf, b]):
            spike_step[n_spikes] = step
            spike_neuron[n_spikes] = lo + block_spikes[buf, b, c]
            n_spikes += 1
    return n_spikes


@njit(**JIT)
def regroup_queue(queue_group, queue_scale, queue_len, queue_start, new_start, group_delay):
    """The spike queue laid out for other blocks of source neurons: new
    ``(queue_group, queue_scale, queue_len)`` with regions at ``new_start``, the same
    entries in the same serial order (see :func:`_next_run`)."""
    n_slots = queue_group.shape[0]
    n_new = new_start.shape[0]
    group = np.zeros_like(queue_group)
    scale = np.ones_like(queue_scale)
    length = np.zeros((n_new, queue_len.shape[1]), dtype=np.int64)
    position = np.zeros((1, queue_start.shape[0]), dtype=np.int64)
    for slot in range(n_slots):
        position[0, :] = 0
        while True:
            r, stop = _next_run(slot, queue_group, queue_len, queue_start, group_delay,
                                position, 0)
            if r < 0:
                break
            for q in range(queue_start[r] + position[0, r], queue_start[r] + stop):
                g = queue_group[slot, q]
                owner = n_new - 1  # the block of g's source: the last starting at or before g
                while new_start[owner] > g:
                    owner -= 1
                group[slot, new_start[owner] + length[owner, slot]] = g
                scale[slot, new_start[owner] + length[owner, slot]] = queue_scale[slot, q]
                length[owner, slot] += 1
            position[0, r] = stop
    return group, scale, length


@njit(**JIT)
def _record_row(step, first_step, record_stride):
    """The row of v_record for v(step * dt), or -1 if that step is not recorded."""
    if record_stride <= 0 or step % record_stride != 0:
        return -1
    # rows already written in this chunk: recorded steps in [first_step, step)
    return (step - 1) // record_stride - (first_step - 1) // record_stride


@njit(**JIT)
def run_chunk(
    drive,
    spiked,
    block_spikes,
    block_counts,
    merge_position,
    n_steps,
    first_step,
    dt,
    model,
    synapse_model,
    # state (modified in place)
    v,
    syn_e,
    syn_i,
    adapt,
    last_spike,
    stp_resource,
    stp_last,
    weights,
    stdp_pre_trace,
    stdp_pre_last,
    stdp_post_trace,
    stdp_post_last,
    # spike queue: a ring of slots (one per step of delay, and one more), each with a
    # region per block of source neurons (see _push_spikes and _next_run)
    queue_group,
    queue_scale,
    queue_len,
    queue_start,
    # neurons in blocks: per-block parameters and refractory rings
    bounds,
    prm_blocks,
    uniform,
    refractory_steps,
    rings,
    ring_vs,
    group_excitatory,
    syn_scale,
    reversal_e,
    reversal_i,
    # connectivity: synapses in CSR by source, grouped by delay within a source
    source_group_ptr,
    group_ranges,
    group_delay,
    group_weight,
    group_weight_uniform,
    targets,
    plastic,
    post_ptr,
    post_synapse,
    # short-term depression
    stp_on,
    stp_use,
    stp_recovery_time,
    # STDP (pair-based, additive, on synapses flagged plastic)
    stdp_on,
    stdp_pre_time,
    stdp_post_time,
    stdp_pre_increment,
    stdp_post_increment,
    stdp_weight_max,
    # background Poisson drive
    bg_n,
    bg_p0,
    bg_ratio,
    bg_weight,
    bg_key,
    # stimulation: current per electrode, and electrode-to-membrane coupling in CSR
    stim,
    stim_ptr,
    stim_neuron,
    stim_gain,
    # outputs
    spike_step,
    spike_neuron,
    v_record,
    record_stride,
):
    """Simulate ``n_steps`` steps from ``first_step``; returns the number of spikes.

    The neurons are cut into blocks ``bounds[b]:bounds[b + 1]`` (cache-line aligned),
    each with its own refractory ring (``rings[b]``, ``ring_vs[b]``, see
    :func:`update_neurons`) and parameter table ``prm_blocks[b]``; the synapses of delay
    group ``g`` onto block ``b`` are ``group_ranges[g, b]:group_ranges[g, b + 1]``, and
    the spikes of block ``b``'s neurons go to its own region of every queue slot
    (``queue_start[b]``, see :func:`_push_spikes`). Here the blocks take turns on one
    thread; :func:`run_chunk_threads` runs them at once, with the same arithmetic for
    every neuron. Spikes go to ``spike_step`` / ``spike_neuron``
    (n_neurons * ceil(n_steps / refractory_steps) of them at worst); the membrane
    potential at the start of every ``record_stride``-th step (counted from step 0)
    goes to the rows of ``v_record`` (stride 0 records nothing).

    Order of one step (Brian2's schedule): integrate and threshold every block, each
    queueing its spikes (:func:`_begin_step`, :func:`_push_spikes`); then every block
    takes delivery of what arrives now, STDP, background input and its resets
    (:func:`_end_step`).

    The first five arguments are scratch from :func:`workspace` (a fresh set per call).
    """
    n_blocks = bounds.shape[0] - 1
    n_slots = queue_group.shape[0]
    n_spikes = 0
    step = np.int32(first_step)  # int32 like last_spike
    have_drive = False
    # iteration s finishes step s and begins step s + 1 (s = -1 only begins the first):
    # one call of each step helper, so that inlining them does not copy them. One
    # buffer of spikes and drive (0) is enough here: a block's spikes of step s are
    # recorded before, and reset by itself before it lists those of step s + 1.
    for s in range(-1, n_steps):
        following = np.int32(first_step + s + 1)
        more = s + 1 < n_steps
        if s >= 0:
            step = np.int32(first_step + s)
            n_spikes = _record_spikes(step, 0, n_spikes, bounds, block_spikes,
                                      block_counts, spike_step, spike_neuron)
        if more:
            have_drive = _stimulation_drive(stim[s + 1], stim_ptr, stim_neuron, stim_gain,
                                            drive, 0, have_drive)
        row = _record_row(following, first_step, record_stride)
        # finish this step and begin the next, block by block
        for b in range(n_blocks):
            if s >= 0:
                # the slot of step - 1 is delivered: empty this block's region of it
                queue_len[b, (step + n_slots - 1) % n_slots] = 0
                _end_step(b, step, step % n_slots, dt, bounds, v, syn_e, syn_i, adapt,
                          last_spike, refractory_steps, rings, ring_vs, prm_blocks,
                          block_spikes, block_counts, 0, group_excitatory,
                          queue_group, queue_scale, queue_len, queue_start, merge_position,
                          group_ranges, group_delay, group_weight, group_weight_uniform,
                          targets, weights, plastic, post_ptr, post_synapse, stdp_on,
                          stdp_pre_trace, stdp_pre_last, stdp_post_trace, stdp_post_last,
                          stdp_pre_time, stdp_post_time, stdp_pre_increment,
                          stdp_post_increment, stdp_weight_max, bg_n, bg_p0, bg_ratio,
                          bg_weight, bg_key, syn_scale)
            if more:
                _begin_step(b, following, row, model, synapse_model, dt, bounds, v, syn_e,
                            syn_i, adapt, last_spike, refractory_steps, rings, ring_vs,
                            prm_blocks, uniform, drive, 0, have_drive, syn_scale,
                            reversal_e, reversal_i, spiked, block_spikes,
                            block_counts, v_record)
                _push_spikes(b, 0, following, dt, bounds, block_spikes, block_counts,
                             stp_on, stp_resource, stp_last, stp_use, stp_recovery_time,
                             source_group_ptr, group_delay, queue_group, queue_scale,
                             queue_len, queue_start)
    # leave the state exact: the last slot emptied, frozen potentials back in place
    for b in range(n_blocks):
        if n_steps > 0:
            queue_len[b, step % n_slots] = 0
        m = bounds[b + 1] - bounds[b]
        restore_refractory(v[bounds[b]:bounds[b + 1]], rings[b, :m + 2], ring_vs[b, :m])
    return n_spikes


# shared scalars of a threaded run, in ``sync`` after the barrier's own (own cache line):
# whether each of the two drive buffers carries current, and the number of spikes
SYNC_HAVE_DRIVE = SYNC_SIZE
SYNC_SPIKES = SYNC_SIZE + 8


@njit(**JIT)
def _block_steps(
    b,
    sync,
    drive,
    spiked,
    block_spikes,
    block_counts,
    merge_position,
    n_steps,
    first_step,
    dt,
    model,
    synapse_model,
    # state (modified in place)
    v,
    syn_e,
    syn_i,
    adapt,
    last_spike,
    stp_resource,
    stp_last,
    weights,
    stdp_pre_trace,
    stdp_pre_last,
    stdp_post_trace,
    stdp_post_last,
    # spike queue: a ring of slots (one per step of delay, and one more), each with a
    # region per block of source neurons (see _push_spikes and _next_run)
    queue_group,
    queue_scale,
    queue_len,
    queue_start,
    # neurons in blocks: per-block parameters and refractory rings
    bounds,
    prm_blocks,
    uniform,
    refractory_steps,
    rings,
    ring_vs,
    group_excitatory,
    syn_scale,
    reversal_e,
    reversal_i,
    # connectivity: synapses in CSR by source, grouped by delay within a source
    source_group_ptr,
    group_ranges,
    group_delay,
    group_weight,
    group_weight_uniform,
    targets,
    plastic,
    post_ptr,
    post_synapse,
    # short-term depression
    stp_on,
    stp_use,
    stp_recovery_time,
    # STDP (pair-based, additive, on synapses flagged plastic)
    stdp_on,
    stdp_pre_time,
    stdp_post_time,
    stdp_pre_increment,
    stdp_post_increment,
    stdp_weight_max,
    # background Poisson drive
    bg_n,
    bg_p0,
    bg_ratio,
    bg_weight,
    bg_key,
    # stimulation: current per electrode, and electrode-to-membrane coupling in CSR
    stim,
    stim_ptr,
    stim_neuron,
    stim_gain,
    # outputs
    spike_step,
    spike_neuron,
    v_record,
    record_stride,
):
    """Block ``b``'s part of :func:`run_chunk_threads`: every step of its own neurons,
    meeting the other blocks at a barrier once a step.

    Each block queues its own spikes (its own region of the queue), and the queue has a
    slot more than the longest delay, so the spikes of step s + 1 can be queued while
    other blocks still take delivery of step s: one barrier a step, after every block
    has integrated and queued. The spike lists and the stimulation drive have two
    buffers (step parity), so what is read after a barrier is not overwritten before
    the next. Block 0 also does the step's serial part (recording the spikes, the drive
    two steps ahead) while the others go on.
    """
    n_blocks = bounds.shape[0] - 1
    if not join(sync, n_blocks):
        return  # not every block has a thread: sync[STATE] tells the caller
    n_slots = queue_group.shape[0]
    leader = b == 0
    generation = 0
    n_spikes = 0
    step = np.int32(first_step)
    if leader and n_steps > 0:
        sync[SYNC_HAVE_DRIVE] = _stimulation_drive(stim[0], stim_ptr, stim_neuron, stim_gain,
                                                    drive, 0, False)
    # the first drive is set
    generation = barrier(sync, n_blocks, generation)
    # iteration s finishes step s and begins step s + 1 (s = -1 only begins the first),
    # as in run_chunk
    for s in range(-1, n_steps):
        following = np.int32(first_step + s + 1)
        more = s + 1 < n_steps
        buf = (s + 1) & 1
        if s >= 0:
            step = np.int32(first_step + s)
            # every block has integrated and queued step s, and delivered step s - 1
            generation = barrier(sync, n_blocks, generation)
            queue_len[b, (step + n_slots - 1) % n_slots] = 0
            if leader:
                n_spikes = _record_spikes(step, s & 1, n_spikes, bounds, block_spikes,
                                          block_counts, spike_step, spike_neuron)
            _end_step(b, step, step % n_slots, dt, bounds, v, syn_e, syn_i, adapt,
                      last_spike, refractory_steps, rings, ring_vs, prm_blocks,
                      block_spikes, block_counts, s & 1, group_excitatory,
                      queue_group, queue_scale, queue_len, queue_start, merge_position,
                      group_ranges, group_delay, group_weight, group_weight_uniform,
                      targets, weights, plastic, post_ptr, post_synapse, stdp_on, stdp_pre_trace,
                      stdp_pre_last, stdp_post_trace, stdp_post_last, stdp_pre_time,
                      stdp_post_time, stdp_pre_increment, stdp_post_increment,
                      stdp_weight_max, bg_n, bg_p0, bg_ratio, bg_weight, bg_key, syn_scale)
        if leader and s + 2 < n_steps:
            # the drive of step s + 2, into the buffer last read for step s (before the
            # barrier above) and next read after the coming one
            ahead = (s + 2) & 1
            sync[SYNC_HAVE_DRIVE + ahead] = _stimulation_drive(
                stim[s + 2], stim_ptr, stim_neuron, stim_gain, drive, ahead,
                sync[SYNC_HAVE_DRIVE + ahead] != 0)
        if more:
            row = _record_row(following, first_step, record_stride)
            _begin_step(b, following, row, model, synapse_model, dt, bounds, v, syn_e,
                        syn_i, adapt, last_spike, refractory_steps, rings, ring_vs,
                        prm_blocks, uniform, drive, buf, sync[SYNC_HAVE_DRIVE + buf] != 0,
                        syn_scale, reversal_e, reversal_i, spiked,
                        block_spikes, block_counts, v_record)
            _push_spikes(b, buf, following, dt, bounds, block_spikes, block_counts,
                         stp_on, stp_resource, stp_last, stp_use, stp_recovery_time,
                         source_group_ptr, group_delay, queue_group, queue_scale, queue_len,
                         queue_start)
    # every block has delivered the last step
    generation = barrier(sync, n_blocks, generation)
    if n_steps > 0:
        queue_len[b, step % n_slots] = 0
    if leader:
        sync[SYNC_SPIKES] = n_spikes
    m = bounds[b + 1] - bounds[b]
    restore_refractory(v[bounds[b]:bounds[b + 1]], rings[b, :m + 2], ring_vs[b, :m])


def synaptic_scale(dt, excitatory_time_constant, inhibitory_time_constant, epoch_steps,
                   dtype):
    """The synaptic variables' decay by phase of an epoch of ``epoch_steps`` (K) steps,
    a power of two (the kernels take a phase as ``step & (K - 1)``).

    Returns an array of shape (4, K + 1) and ``dtype``: rows 0 and 1 are the
    excitatory and inhibitory decay over p steps, ``exp(-p dt / tau)`` for p = 0..K,
    rows 2 and 3 their inverses. A synaptic variable stored at phase p (steps since its
    epoch began, ``step % K``) is the value divided by row 0 or 1 at p; the step loop
    reads it times that decay and multiplies it by the decay over K steps when the
    epoch ends (:func:`update_neurons`), and what arrives is divided by the decay at
    the next step's phase (:func:`_end_step`). With K = 1 that is the plain decay of
    one multiplication a step: row 0 is ``[1, exp(-dt / tau_e)]`` with ``math.exp``,
    as Brian2 computes it (so the float64 reference matches bit for bit), and every
    inverse used is 1. dt and the time constants in s.
    """
    if epoch_steps < 1 or epoch_steps & (epoch_steps - 1):
        raise ValueError(f"epoch_steps must be a power of two >= 1, got {epoch_steps}")
    table = np.empty((4, epoch_steps + 1))
    for row, tau in enumerate((excitatory_time_constant, inhibitory_time_constant)):
        for p in range(epoch_steps + 1):
            table[row, p] = math.exp((-dt * p) / tau)
    table[2:] = 1.0 / table[:2]
    return table.astype(dtype)


def workspace(v, n_blocks, largest_block):
    """The scratch arrays of :func:`run_chunk` and :func:`run_chunk_threads`, allocated
    by the caller, a fresh set per call: drive (two buffers of at least n, A), spiked,
    block_spikes and block_counts (two buffers each) and merge_position. A threaded
    call also takes a zeroed ``sync`` (:func:`new_sync`)."""
    n = v.shape[0]
    return (aligned_rows(2, n, 0.0, v.dtype),  # each drive buffer on cache lines
            aligned_full(8 * ((n + 7) // 8), False, np.bool_),
            np.zeros((2, n_blocks, largest_block), dtype=np.int64),
            np.zeros((2, n_blocks), dtype=np.int64),
            # each block's merge positions on cache lines of their own
            aligned_rows(n_blocks, n_blocks, 0, np.int64))


def new_sync():
    """A zeroed ``sync`` for one :func:`run_chunk_threads` call: the barrier's own
    entries, then SYNC_HAVE_DRIVE (two) and SYNC_SPIKES on a cache line of their own."""
    return np.zeros(SYNC_SIZE + 16, dtype=np.int64)


@njit(**JIT_PARALLEL)
def run_chunk_threads(sync, drive, spiked, block_spikes, block_counts, *arguments):
    """:func:`run_chunk` with its blocks at once, one thread each, in one parallel region.

    After ``sync`` (from :func:`new_sync`) come :func:`run_chunk`'s arguments, in its
    order. Needs as many Numba threads as
    blocks. Afterwards ``sync[STATE] == 1`` if every block had a thread, and
    ``sync[SYNC_SPIKES]`` is the number of spikes; else nothing was changed and the
    caller runs :func:`run_chunk`. (The results travel through arrays the caller reads:
    Numba's parallel lowering does not see writes made inside a called function, and a
    value read back within this function after the region may be stale.)
    """
    for b in prange(block_counts.shape[1]):  # one per block
        _block_steps(b, sync, drive, spiked, block_spikes, block_counts, *arguments)


@njit(**JIT)
def extracellular_impulses(spike_sample, spike_neuron, gain, n_samples):
    """Sum each spike's point-source gain on every channel at its sample.

    Parameters
    ----------
    spike_sample : int64 (n_spikes,), spike_neuron : int64 (n_spikes,)
    gain : float64 (n_neurons, n_channels), volts per unit template
    Returns float64 (n_samples, n_channels).
    """
    n_channels = gain.shape[1]
    out = np.zeros((n_samples, n_channels))
    for s in range(spike_sample.shape[0]):
        t = spike_sample[s]
        if t < 0 or t >= n_samples:
            continue
        i = spike_neuron[s]
        for c in range(n_channels):
            out[t, c] += gain[i, c]
    return out
