"""Students trained by gradient descent in torch: a GRU and a spiking network (snntorch).

Both share one training loop (:class:`_TorchStudent`): the binned, standardised stimulus
drives the network one step per bin; training runs on overlapping windows of each trial
(``window`` s, the first ``burn_in`` s of each window, where the state is still forgetting
its zero start, left out of the loss), so back-propagation through time is truncated at
the window's length and windows from all trials form mini-batches. Spike-count targets
are fitted with a Poisson likelihood (the output is an expected count, ``softplus`` of a
linear readout), traces with the mean squared error on standardised targets; probe
targets always with the squared error, weighted by ``probe_weight``.

torch is imported when a student is fitted, not when this module is imported. Training
is deterministic on the CPU: the weights and the batch order are drawn from
``random_state`` (torch's global generator is forked and restored, so the caller's torch
random state is untouched), and ``torch.use_deterministic_algorithms`` is switched on
for the fit and restored afterwards.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from distill._students import Student, _count, _nonnegative, _positive, _seed_from

__all__ = ["GRUStudent", "SpikingStudent"]


@contextlib.contextmanager
def _torch_context(seed=None, n_threads=1):
    """Seed torch inside a forked random state, with deterministic algorithms and
    ``n_threads`` intra-op threads; everything global is restored on the way out."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(n_threads)
        try:
            yield torch
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(previous)


def _inverse_softplus(x):
    x = np.maximum(np.asarray(x, dtype=np.float64), 1e-3)
    return x + np.log(-np.expm1(-x))


class _TorchStudent(Student):
    """Shared training loop of the torch students (see the module docstring)."""

    _standardise_targets = False  # done here: counts keep their scale for the Poisson loss

    def _check_torch_params(self):
        _count("n_epochs", self.n_epochs)
        _positive("learning_rate", self.learning_rate, "dimensionless")
        _count("batch_size", self.batch_size)
        window = _positive("window", self.window)
        burn_in = _nonnegative("burn_in", self.burn_in, "s")
        if burn_in >= window:
            raise ValueError(f"burn_in ({burn_in:g} s) must be shorter than window ({window:g} s)")
        if self.loss not in ("auto", "poisson", "mse"):
            raise ValueError(f"loss must be 'auto', 'poisson' or 'mse', got {self.loss!r}")
        _nonnegative("probe_weight", self.probe_weight, "dimensionless")
        _nonnegative("weight_decay", self.weight_decay, "dimensionless")
        _count("n_threads", self.n_threads)

    # -- hooks: build the network (a torch.nn.Module with forward(u) -> (features, states))
    def _build(self, torch, n_in):
        raise NotImplementedError

    def _fit_arrays(self, us, ys, keep, rng):
        n_out = self.n_outputs_
        loss = self.loss
        if loss == "auto":
            loss = "poisson" if self.target_ == "spike_counts" else "mse"
        if loss == "poisson" and self.target_ != "spike_counts":
            raise ValueError("loss='poisson' needs spike-count targets (target='spike_counts')")
        self.loss_ = loss
        # outputs: electrode channels (counts as they are, or standardised), probe standardised
        scale = self.target_scale_.copy()
        mean = self.target_mean_.copy()
        if loss == "poisson":
            scale[:n_out], mean[:n_out] = 1.0, 0.0
        self._out_mean, self._out_scale = mean, scale
        targets = [(y - mean) / scale for y in ys]
        # training windows of one width (the window, or the shortest trial), overlapping by
        # the burn-in; each bin enters the loss once, from the first window that scores it
        width = min([max(1, round(float(self.window) / float(self.bin_width)))]
                    + [u.shape[0] for u in us])
        burn = min(round(float(self.burn_in) / float(self.bin_width)), width - 1)
        xs, ts, ms = [], [], []
        for u, y, m in zip(us, targets, keep):
            n_bins = u.shape[0]
            starts = list(range(0, n_bins - width + 1, width - burn))
            if starts[-1] + width < n_bins:
                starts.append(n_bins - width)
            covered = np.zeros(n_bins, dtype=bool)
            for s in starts:
                mask = m[s:s + width].copy()
                if s > 0:
                    mask[:burn] = False
                mask &= ~covered[s:s + width]
                covered[s:s + width] |= mask
                xs.append(u[s:s + width])
                ts.append(y[s:s + width])
                ms.append(mask)
        x = np.stack(xs).astype(np.float32)
        t = np.stack(ts).astype(np.float32)
        mk = np.stack(ms)
        seed = _seed_from(rng)
        with _torch_context(seed, int(self.n_threads)) as torch:
            net = self._build(torch, x.shape[2])
            head = torch.nn.Linear(self._n_features, n_out + self.n_probe_dims_)
            with torch.no_grad():
                if loss == "poisson":
                    head.bias[:n_out] = torch.as_tensor(
                        _inverse_softplus(self.target_mean_[:n_out]), dtype=torch.float32)
            params = list(net.parameters()) + list(head.parameters())
            optimiser = torch.optim.Adam(params, lr=float(self.learning_rate),
                                         weight_decay=float(self.weight_decay))
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            mt = torch.from_numpy(mk.astype(np.float32))
            n_windows = x.shape[0]
            batch = min(int(self.batch_size), n_windows)
            history = []
            for _ in range(int(self.n_epochs)):
                order = rng.permutation(n_windows)
                total = 0.0
                for b0 in range(0, n_windows, batch):
                    idx = torch.from_numpy(order[b0:b0 + batch])
                    features, _ = net(xt[idx])
                    out = head(features)
                    mask = mt[idx][..., None]
                    weight = mask.sum().clamp(min=1.0)
                    value = self._loss(torch, out, tt[idx], mask, loss) / weight
                    optimiser.zero_grad()
                    value.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimiser.step()
                    total += float(value.detach()) * idx.numel()
                history.append(total / n_windows)
            self.network_ = net.eval()
            self.head_ = head.eval()
            self.loss_curve_ = np.array(history)

    # pickling (Dask, joblib, copy.deepcopy): the torch modules travel as state dicts,
    # since their classes are built when torch is first needed
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__ itself
        for key in ("network_", "head_"):
            if key in state:
                state[key] = {k: v.detach().clone() for k, v in state[key].state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = {key: state.pop(key) for key in ("network_", "head_") if key in state}
        super().__setstate__(state)
        if weights:
            with _torch_context(None, 1) as torch:
                net = self._build(torch, len(self.active_inputs_))
                net.load_state_dict(weights["network_"])
                head = torch.nn.Linear(self._n_features, self.n_outputs_ + self.n_probe_dims_)
                head.load_state_dict(weights["head_"])
            self.network_, self.head_ = net.eval(), head.eval()

    def _loss(self, torch, out, target, mask, loss):
        n_out = self.n_outputs_
        if loss == "poisson":
            rate = torch.nn.functional.softplus(out[..., :n_out]) + 1e-6
            main = (rate - target[..., :n_out] * torch.log(rate)) * mask
            main = main.sum() / n_out
        else:
            main = ((out[..., :n_out] - target[..., :n_out]) ** 2 * mask).sum() / n_out
        if self.n_probe_dims_:
            aux = ((out[..., n_out:] - target[..., n_out:]) ** 2 * mask).sum() / self.n_probe_dims_
            main = main + float(self.probe_weight) * aux
        return main

    def _forward(self, u):
        with _torch_context(None, int(self.n_threads)) as torch, torch.no_grad():
            features, states = self.network_(torch.from_numpy(u[None].astype(np.float32)))
            out = self.head_(features)[0].double()
            if self.loss_ == "poisson":
                out[:, : self.n_outputs_] = torch.nn.functional.softplus(out[:, : self.n_outputs_])
        return out.numpy() * self._out_scale + self._out_mean, states[0].double().numpy()

    def _predict_array(self, u):
        return self._forward(u)[0]

    def _states_array(self, u):
        return self._forward(u)[1]


def _gru_module(torch, n_in, hidden_size, n_layers):
    class _GRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(n_in, hidden_size, num_layers=n_layers, batch_first=True)

        def forward(self, u):
            h, _ = self.gru(u)
            return h, h

    return _GRU()


class GRUStudent(_TorchStudent):
    """A gated recurrent unit network (torch) with a linear readout.

    The binned, standardised stimulus drives a GRU (one step per bin, zero initial
    state at the start of each trial); a linear readout of its hidden state gives the
    expected spike count per bin (through ``softplus``, Poisson loss) or the trace.

    Parameters
    ----------
    hidden_size : int >= 1
    n_layers : int >= 1
    n_epochs : int >= 1
        Passes over the training windows.
    learning_rate : float > 0
        Adam's step size.
    batch_size : int >= 1
        Windows per gradient step.
    window : float, s
        Length of a training window (gradients are truncated there).
    burn_in : float, s
        Start of each window (after the first of a trial) left out of the loss.
    loss : {"auto", "poisson", "mse"}
        "auto": Poisson for spike counts, squared error for traces.
    probe_weight : float >= 0
        Weight of the probe targets' squared error (when fitted with a probe).
    weight_decay : float >= 0
        Adam's L2 penalty.
    n_threads : int >= 1
        torch intra-op threads while fitting and predicting (set for the call, then
        restored); one is fastest for small networks, and never slower on a busy machine.
    bin_width, target, warmup, random_state
        As in :class:`~distill._students.LinearStudent`; ``random_state`` draws the
        initial weights and the batch order.

    Attributes
    ----------
    network_, head_ : torch modules (the GRU and its readout)
    loss_curve_ : ndarray of shape (n_epochs,)
        Mean training loss per epoch.
    loss_ : str
        The loss used.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording, Stimulus
    >>> stim = Stimulus.white_noise(1, 1.0, 1e-3, rms=1.0, random_state=0)
    >>> rec = Recording(np.tanh(stim.data), 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> gru = GRUStudent(hidden_size=8, n_epochs=5, bin_width=1e-2, window=0.5,
    ...                  random_state=0).fit(stim, rec)
    >>> gru.predict(stim).data.shape
    (100, 1)
    """

    def __init__(self, hidden_size=64, *, n_layers=1, n_epochs=100, learning_rate=5e-3,
                 batch_size=16, window=1.0, burn_in=0.2, loss="auto", probe_weight=1.0,
                 weight_decay=0.0, n_threads=1, bin_width=10e-3, target="auto", warmup=0.0,
                 random_state=None):
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.window = window
        self.burn_in = burn_in
        self.loss = loss
        self.probe_weight = probe_weight
        self.weight_decay = weight_decay
        self.n_threads = n_threads
        self.bin_width = bin_width
        self.target = target
        self.warmup = warmup
        self.random_state = random_state

    def _check_params(self):
        _count("hidden_size", self.hidden_size)
        _count("n_layers", self.n_layers)
        self._check_torch_params()

    def _build(self, torch, n_in):
        self._n_features = int(self.hidden_size)
        return _gru_module(torch, n_in, int(self.hidden_size), int(self.n_layers))


def _snn_module(torch, n_in, n_neurons, beta, n_substeps, output_decay, slope):
    import snntorch as snn
    from snntorch import surrogate

    class _SNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w_in = torch.nn.Linear(n_in, n_neurons)
            self.w_rec = torch.nn.Linear(n_neurons, n_neurons, bias=False)
            with torch.no_grad():
                self.w_rec.weight.mul_(0.5)
            self.lif = snn.Leaky(beta=beta, spike_grad=surrogate.fast_sigmoid(slope=slope),
                                 reset_mechanism="subtract")

        def forward(self, u):
            batch, n_steps, _ = u.shape
            drive = self.w_in(u)
            mem = torch.zeros(batch, n_neurons)
            spk = torch.zeros(batch, n_neurons)
            trace = torch.zeros(batch, n_neurons)
            mems, traces = [], []
            for t in range(n_steps):
                for _ in range(n_substeps):
                    spk, mem = self.lif(drive[:, t] + self.w_rec(spk), mem)
                    trace = output_decay * trace + (1.0 - output_decay) * spk
                mems.append(mem)
                traces.append(trace)
            mem_all = torch.stack(mems, dim=1)
            trace_all = torch.stack(traces, dim=1)
            return torch.cat([mem_all, trace_all], dim=2), mem_all

    return _SNN()


class SpikingStudent(_TorchStudent):
    """A recurrent network of leaky integrate-and-fire neurons (snntorch), surrogate gradients.

    Each bin is ``n_substeps`` steps of ``bin_width / n_substeps`` s; per step every
    neuron integrates ``W_in u + W_rec s[t-1]`` with decay ``beta = exp(-step /
    membrane_time_constant)``, spikes on crossing 1 and is reset by subtraction
    (snntorch ``Leaky``, fast-sigmoid surrogate gradient). The readout is linear in the
    membrane potentials and in a low-pass of the spikes (time constant
    ``output_time_constant``), through ``softplus`` for spike counts.

    Parameters
    ----------
    n_neurons : int >= 1
    membrane_time_constant : float, s, > 0
    output_time_constant : float, s, > 0
        Of the spike low-pass read out.
    n_substeps : int >= 1
    surrogate_slope : float > 0
        Steepness of the fast-sigmoid surrogate derivative.
    n_epochs, learning_rate, batch_size, window, burn_in, loss, probe_weight, weight_decay,
    n_threads, bin_width, target, warmup, random_state
        As in :class:`GRUStudent`.

    Attributes
    ----------
    network_, head_, loss_curve_, loss_ : as in :class:`GRUStudent`.
    :meth:`states` returns the membrane potentials (dimensionless, threshold 1), one row
    per bin (the last substep).

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording, Stimulus
    >>> stim = Stimulus.white_noise(1, 1.0, 1e-3, rms=1.0, random_state=0)
    >>> rec = Recording(np.tanh(stim.data), 1000.0, "V", electrode_positions=np.zeros((1, 3)))
    >>> snn = SpikingStudent(n_neurons=16, n_epochs=2, bin_width=1e-2, window=0.5,
    ...                      random_state=0).fit(stim, rec)
    >>> snn.states(stim).shape
    (100, 16)
    """

    def __init__(self, n_neurons=128, *, membrane_time_constant=20e-3,
                 output_time_constant=20e-3, n_substeps=1, surrogate_slope=5.0, n_epochs=60,
                 learning_rate=5e-3, batch_size=16, window=1.0, burn_in=0.2, loss="auto",
                 probe_weight=1.0, weight_decay=0.0, n_threads=1, bin_width=10e-3, target="auto",
                 warmup=0.0, random_state=None):
        self.n_neurons = n_neurons
        self.membrane_time_constant = membrane_time_constant
        self.output_time_constant = output_time_constant
        self.n_substeps = n_substeps
        self.surrogate_slope = surrogate_slope
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.window = window
        self.burn_in = burn_in
        self.loss = loss
        self.probe_weight = probe_weight
        self.weight_decay = weight_decay
        self.n_threads = n_threads
        self.bin_width = bin_width
        self.target = target
        self.warmup = warmup
        self.random_state = random_state

    def _check_params(self):
        _count("n_neurons", self.n_neurons)
        _positive("membrane_time_constant", self.membrane_time_constant)
        _positive("output_time_constant", self.output_time_constant)
        _count("n_substeps", self.n_substeps)
        _positive("surrogate_slope", self.surrogate_slope, "dimensionless")
        self._check_torch_params()

    def _build(self, torch, n_in):
        step = float(self.bin_width) / int(self.n_substeps)
        beta = math.exp(-step / float(self.membrane_time_constant))
        decay = math.exp(-step / float(self.output_time_constant))
        self._n_features = 2 * int(self.n_neurons)
        return _snn_module(torch, n_in, int(self.n_neurons), beta, int(self.n_substeps), decay,
                           float(self.surrogate_slope))

