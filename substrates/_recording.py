"""What an electrode array records, its ground truth, and how it leaves jewelhead.

:class:`Recording` holds the samples of the recording channels (after noise and ADC),
the electrode geometry behind them, the spikes detected on them and, because the
substrate is simulated, the hidden state that no wet lab could see. It saves to and
loads from one versioned ``.npz`` file, exports to NWB (pynwb) and hands itself to
SpikeInterface. :func:`detect_spikes` is the threshold detector of Quian Quiroga et al.
(2004) used to fill in the detected spikes.

References
----------
Quian Quiroga R, Nadasdy Z, Ben-Shaul Y (2004). Unsupervised spike detection and sorting
with wavelets and superparamagnetic clustering. Neural Computation 16:1661-1687.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import numbers
import os
import secrets
import struct
import types
import zipfile
import zlib

import numpy as np

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "Recording", "RecordingFormatError", "detect_spikes",
    "estimate_noise_levels",
]

#: Name stored in every file written by :meth:`Recording.save`.
FORMAT_NAME = "jewelhead.recording"
#: Newest file format this module reads and the one it writes.
FORMAT_VERSION = 1

# Phi^-1(3/4): the median absolute deviation of a Gaussian is 0.6745 sigma.
_MAD_PER_SIGMA = 0.6744897501960817
# Elements handled per block by detect_spikes, to bound its temporary memory.
_BLOCK_ELEMENTS = 1 << 22
_UNITS = ("V", "A")
# What numpy and zipfile raise on a truncated or corrupted archive (zipfile reports
# unreadable headers as NotImplementedError or RuntimeError, e.g. "encrypted").
_CORRUPT = (ValueError, TypeError, KeyError, EOFError, OSError, zipfile.BadZipFile, zlib.error,
            struct.error, OverflowError, NotImplementedError, RuntimeError)
_SIGNS = ("negative", "positive", "both")


class RecordingFormatError(ValueError):
    """A file is not a readable jewelhead recording (corrupt, truncated, foreign or too new)."""


# ----------------------------------------------------------------------------- checks


def _check_rate(name, value, *, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in Hz, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite rate > 0 Hz, got {value}")
    return value


def _real_array(name, value, *, ndim=None, allow_bool=False):
    """``value`` as an ndarray of a real numeric dtype (no copy when it already is one)."""
    arr = np.asarray(value)
    kinds = "biuf" if allow_bool else "iuf"
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    return arr


def _finite_float(name, value, *, ndim=None, shape=None):
    arr = _real_array(name, value, ndim=ndim)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _int_array(name, value, *, ndim=1):
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):  # [] is float
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has values beyond the int64 range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _readonly(arr):
    """A read-only view: the Recording cannot be changed through its attributes."""
    view = arr.view()
    view.flags.writeable = False
    return view


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _metadata_json(metadata):
    try:
        return json.dumps(metadata, default=_json_default, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serialisable (finite numbers, str keys): {exc}") from exc


def _package_version():
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("jewelhead")
    except PackageNotFoundError:
        return "unknown"


def _check_hidden_state(hidden_state, hidden_sampling_rate):
    if hidden_state is None:
        if hidden_sampling_rate is not None:
            raise ValueError("hidden_sampling_rate is given but hidden_state is None")
        return None, None
    if not isinstance(hidden_state, dict):
        raise TypeError(f"hidden_state must be None or a dict of arrays, got {type(hidden_state).__name__}")
    rate = _check_rate("hidden_sampling_rate", hidden_sampling_rate, optional=True)
    out = {}
    for key, value in hidden_state.items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(f"hidden_state keys must be Python identifiers, got {key!r}")
        arr = _real_array(f"hidden_state[{key!r}]", value, allow_bool=True)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"hidden_state[{key!r}] must be finite (no NaN or inf)")
        out[key] = np.ascontiguousarray(arr)

    n_neurons = set()
    if "membrane_potential" in out:
        v = out["membrane_potential"]
        if v.ndim != 2:
            raise ValueError(
                f"hidden_state['membrane_potential'] must have shape (n_hidden_samples, n_neurons), "
                f"got {v.shape}"
            )
        if rate is None:
            raise ValueError("hidden_sampling_rate (Hz) is required with hidden_state['membrane_potential']")
        n_neurons.add(v.shape[1])
    if "neuron_positions" in out:
        p = out["neuron_positions"]
        if p.ndim != 2 or p.shape[1] != 3 or p.dtype.kind != "f":
            raise ValueError(
                f"hidden_state['neuron_positions'] must be a float array of shape (n_neurons, 3) "
                f"in m, got {p.dtype} {p.shape}"
            )
        n_neurons.add(p.shape[0])
    if len(n_neurons) > 1:
        raise ValueError(
            "hidden_state['membrane_potential'] columns and hidden_state['neuron_positions'] rows "
            f"must count the same neurons, got {sorted(n_neurons)}"
        )
    if ("spike_times" in out) != ("spike_neurons" in out):
        raise ValueError("hidden_state needs both 'spike_times' and 'spike_neurons', or neither")
    if "spike_times" in out:
        t, n = out["spike_times"], out["spike_neurons"]
        if t.ndim != 1 or t.dtype.kind != "f":
            raise ValueError(
                f"hidden_state['spike_times'] must be a 1-D float array in s, got {t.dtype} {t.shape}"
            )
        if n.ndim != 1 or n.dtype.kind not in "iu" or n.shape != t.shape:
            raise ValueError(
                f"hidden_state['spike_neurons'] must be a 1-D integer array of shape {t.shape}, "
                f"got {n.dtype} {n.shape}"
            )
        if t.size and t.min() < 0:
            raise ValueError("hidden_state['spike_times'] must be >= 0 s")
        if n.size and n.min() < 0:
            raise ValueError("hidden_state['spike_neurons'] must be >= 0")
        if n.size and n_neurons and n.max() >= min(n_neurons):
            raise ValueError(
                f"hidden_state['spike_neurons'] must be < n_neurons = {min(n_neurons)}, got {n.max()}"
            )
    return out, rate


# ----------------------------------------------------------------------- atomic writes


def _atomic_write(path, write):
    """Call ``write(temporary_path)``, then move the result onto ``path`` in one step.

    The temporary file lives in the destination's directory (so ``os.replace`` is an
    atomic rename on the same file system) and is removed if anything fails, leaving
    a file already at ``path`` untouched. Created with mode 0o666 filtered by the umask,
    like ``open(path, "w")``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}-{base}")  # keeps the extension
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
        os.close(fd)
        break
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # pragma: no cover
            return
        try:
            os.fsync(dfd)
        except OSError:  # pragma: no cover - some file systems refuse
            pass
        finally:
            os.close(dfd)


# --------------------------------------------------------------------------- Recording


class Recording:
    """Samples of an electrode array's recording channels, and the ground truth behind them.

    Parameters
    ----------
    data : array of shape (n_samples, n_channels)
        The recorded signal after noise and ADC, in ``unit``; stored as float64. Must be
        finite.
    sampling_rate : float
        Samples per second of ``data``, Hz, > 0.
    unit : {"V", "A"}
        Unit of ``data``: volts (extracellular potential) or amperes (recorded current).
    electrode_positions : array of shape (n_channels, 3)
        Position in metres of the electrode behind each channel. Keyword-only, required.
    channel_electrodes : int array of shape (n_channels,), optional
        Index in the electrode array of the electrode behind each channel (an HD-MEA
        routes a subset of its electrodes to channels); distinct, >= 0. Default
        ``arange(n_channels)``.
    spike_times : float array of shape (n_spikes,), optional
        Times in s of the detected spikes, in [0, duration], sorted by time then channel.
        None (with ``spike_channels`` None) means the substrate does not spike:
        :attr:`has_spikes` is False and the spike arrays are empty.
    spike_channels : int array of shape (n_spikes,), optional
        Channel (column of ``data``, in [0, n_channels)) of each detected spike.
    hidden_state : dict of str -> array, optional
        Ground truth only a simulation can give. Keys are Python identifiers; values are
        finite real (or bool) arrays, kept with their dtype. Recognised entries, checked
        for consistency when present:

        - ``"membrane_potential"``: (n_hidden_samples, n_neurons), V, sampled at
          ``hidden_sampling_rate`` (then required).
        - ``"spike_times"`` (n,) s and ``"spike_neurons"`` (n,) int: every true spike.
        - ``"neuron_positions"``: (n_neurons, 3), m.
    hidden_sampling_rate : float, optional
        Hz, > 0: sampling rate of the time-series entries of ``hidden_state``.
    metadata : dict, optional
        JSON-serialisable (config, seed, ...); numpy scalars and arrays are turned into
        Python numbers and lists. ``"jewelhead_version"`` is added if absent.

    Attributes
    ----------
    data, sampling_rate, unit, electrode_positions, channel_electrodes, spike_times,
    spike_channels, has_spikes, hidden_state, hidden_sampling_rate, metadata
        As given (arrays as read-only views, ``hidden_state`` as a read-only mapping or
        None). ``metadata`` is a plain dict that may be extended; it must stay
        JSON-serialisable to be saved.

    Notes
    -----
    Arrays that already have the stored dtype and layout are not copied, so a
    Recording wrapping a large simulation output costs no extra memory; it shows them
    through read-only views.

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import Recording
    >>> rng = np.random.default_rng(0)
    >>> rec = Recording(rng.normal(0, 1e-5, (1000, 4)), 10_000.0, "V",
    ...                 electrode_positions=np.zeros((4, 3)))
    >>> rec.n_samples, rec.n_channels, rec.duration, rec.has_spikes
    (1000, 4, 0.1, False)
    """

    __slots__ = (
        "_data", "_sampling_rate", "_unit", "_electrode_positions", "_channel_electrodes",
        "_spike_times", "_spike_channels", "_has_spikes", "_hidden_state",
        "_hidden_sampling_rate", "metadata",
    )

    def __init__(
        self,
        data,
        sampling_rate,
        unit,
        *,
        electrode_positions,
        channel_electrodes=None,
        spike_times=None,
        spike_channels=None,
        hidden_state=None,
        hidden_sampling_rate=None,
        metadata=None,
    ):
        data = _real_array("data", data, ndim=2)
        n_samples, n_channels = data.shape
        if n_channels < 1:
            raise ValueError(f"data must have shape (n_samples, n_channels >= 1), got {data.shape}")
        data = np.ascontiguousarray(data, dtype=np.float64)
        if not np.isfinite(data).all():
            raise ValueError("data must be finite (no NaN or inf)")
        sampling_rate = _check_rate("sampling_rate", sampling_rate)
        if unit not in _UNITS:
            raise ValueError(f"unit must be 'V' (volts) or 'A' (amperes), got {unit!r}")
        positions = _finite_float("electrode_positions", electrode_positions, shape=(n_channels, 3))

        if channel_electrodes is None:
            electrodes = np.arange(n_channels, dtype=np.int64)
        else:
            electrodes = _int_array("channel_electrodes", channel_electrodes)
            if electrodes.shape != (n_channels,):
                raise ValueError(
                    f"channel_electrodes must have shape ({n_channels},), got {electrodes.shape}"
                )
            if electrodes.size and electrodes.min() < 0:
                raise ValueError("channel_electrodes must be >= 0 (indices into the electrode array)")
            if np.unique(electrodes).size != n_channels:
                raise ValueError("channel_electrodes must be distinct (one electrode per channel)")

        if (spike_times is None) != (spike_channels is None):
            raise ValueError("spike_times and spike_channels must both be given or both be None")
        has_spikes = spike_times is not None
        if has_spikes:
            times = _finite_float("spike_times", spike_times, ndim=1)
            channels = _int_array("spike_channels", spike_channels)
            if channels.shape != times.shape:
                raise ValueError(
                    f"spike_channels must have the shape of spike_times {times.shape}, got {channels.shape}"
                )
            duration = n_samples / sampling_rate
            if times.size:
                if times.min() < 0 or times.max() > duration:
                    raise ValueError(
                        f"spike_times must lie in [0, duration = {duration}] s, "
                        f"got [{times.min()}, {times.max()}]"
                    )
                if channels.min() < 0 or channels.max() >= n_channels:
                    raise ValueError(
                        f"spike_channels must be in [0, {n_channels}) (the recording channels), "
                        f"got [{channels.min()}, {channels.max()}]"
                    )
                dt, dc = np.diff(times), np.diff(channels)
                if np.any((dt < 0) | ((dt == 0) & (dc < 0))):
                    raise ValueError(
                        "spikes must be sorted by time then channel "
                        "(order them with np.lexsort((spike_channels, spike_times)))"
                    )
        else:
            times = np.zeros(0)
            channels = np.zeros(0, dtype=np.int64)

        hidden, hidden_rate = _check_hidden_state(hidden_state, hidden_sampling_rate)

        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        metadata = json.loads(_metadata_json(metadata))  # a deep, plain-JSON copy
        metadata.setdefault("jewelhead_version", _package_version())

        self._data = _readonly(data)
        self._sampling_rate = sampling_rate
        self._unit = unit
        self._electrode_positions = _readonly(positions)
        self._channel_electrodes = _readonly(electrodes)
        self._spike_times = _readonly(times)
        self._spike_channels = _readonly(channels)
        self._has_spikes = has_spikes
        self._hidden_state = None if hidden is None else {k: _readonly(v) for k, v in hidden.items()}
        self._hidden_sampling_rate = hidden_rate
        self.metadata = metadata

    # ------------------------------------------------------------------ attributes

    @property
    def data(self):
        """Array of shape (n_samples, n_channels), float64, in :attr:`unit` (read-only)."""
        return self._data

    @property
    def sampling_rate(self):
        """Samples per second, Hz."""
        return self._sampling_rate

    @property
    def unit(self):
        """``"V"`` or ``"A"``."""
        return self._unit

    @property
    def electrode_positions(self):
        """Array of shape (n_channels, 3), m: the electrode behind each channel."""
        return self._electrode_positions

    @property
    def channel_electrodes(self):
        """Int array of shape (n_channels,): electrode index (in the array) of each channel."""
        return self._channel_electrodes

    @property
    def spike_times(self):
        """Float array of shape (n_spikes,), s: detected spikes, sorted by time then channel."""
        return self._spike_times

    @property
    def spike_channels(self):
        """Int array of shape (n_spikes,): channel of each detected spike."""
        return self._spike_channels

    @property
    def has_spikes(self):
        """False for a substrate that does not spike (its spike arrays are empty)."""
        return self._has_spikes

    @property
    def hidden_state(self):
        """Read-only mapping str -> array of ground truth, or None."""
        if self._hidden_state is None:
            return None
        return types.MappingProxyType(self._hidden_state)

    @property
    def hidden_sampling_rate(self):
        """Hz, sampling rate of the hidden time series, or None."""
        return self._hidden_sampling_rate

    @property
    def n_samples(self):
        """Number of samples (rows of :attr:`data`)."""
        return self._data.shape[0]

    @property
    def n_channels(self):
        """Number of recording channels (columns of :attr:`data`)."""
        return self._data.shape[1]

    @property
    def duration(self):
        """n_samples / sampling_rate, s."""
        return self.n_samples / self._sampling_rate

    @property
    def times(self):
        """Array of shape (n_samples,), s: time of each sample, starting at 0."""
        return np.arange(self.n_samples) / self._sampling_rate

    def spike_counts(self, bin_width):
        """Detected spikes per time bin and channel.

        Parameters
        ----------
        bin_width : float
            s, > 0. Bin k covers [k bin_width, (k + 1) bin_width); the last bin may be
            cut short by the end of the recording (a spike exactly at ``duration`` falls
            in it).

        Returns
        -------
        counts : int64 array of shape (ceil(duration / bin_width), n_channels)

        Raises
        ------
        ValueError
            If the recording has no spikes (:attr:`has_spikes` False): a substrate that
            does not spike has no counts, which is not the same as zero counts.
        """
        if isinstance(bin_width, bool) or not isinstance(bin_width, numbers.Real):
            raise TypeError(f"bin_width must be a real number in s, got {type(bin_width).__name__}")
        bin_width = float(bin_width)
        if not (math.isfinite(bin_width) and bin_width > 0):
            raise ValueError(f"bin_width must be a finite time > 0 s, got {bin_width}")
        if not self._has_spikes:
            raise ValueError("this recording has no detected spikes (has_spikes is False)")
        ratio = self.duration / bin_width
        n_bins = max(0, math.ceil(ratio - 1e-9 * max(1.0, ratio)))  # an exact multiple adds no bin
        if n_bins == 0:
            return np.zeros((0, self.n_channels), dtype=np.int64)
        bins = np.minimum(np.floor(self._spike_times / bin_width).astype(np.int64), n_bins - 1)
        flat = np.bincount(bins * self.n_channels + self._spike_channels,
                           minlength=n_bins * self.n_channels)
        return flat.reshape(n_bins, self.n_channels).astype(np.int64, copy=False)

    # ------------------------------------------------------------------ value semantics

    def _arrays(self):
        return (self._data, self._electrode_positions, self._channel_electrodes,
                self._spike_times, self._spike_channels)

    def __eq__(self, other):
        if not isinstance(other, Recording):
            return NotImplemented
        if (self._sampling_rate, self._unit, self._has_spikes, self._hidden_sampling_rate) != (
            other._sampling_rate, other._unit, other._has_spikes, other._hidden_sampling_rate
        ):
            return False
        if not all(_same_array(a, b) for a, b in zip(self._arrays(), other._arrays())):
            return False
        if (self._hidden_state is None) != (other._hidden_state is None):
            return False
        if self._hidden_state is not None:
            if list(self._hidden_state) != list(other._hidden_state):
                return False
            if not all(_same_array(v, other._hidden_state[k]) for k, v in self._hidden_state.items()):
                return False
        return self.metadata == other.metadata

    __hash__ = None

    def __repr__(self):
        hidden = "None" if self._hidden_state is None else "[" + ", ".join(self._hidden_state) + "]"
        spikes = self._spike_times.size if self._has_spikes else "no spikes"
        return (
            f"Recording(n_samples={self.n_samples}, n_channels={self.n_channels}, "
            f"sampling_rate={self._sampling_rate:g} Hz, duration={self.duration:g} s, "
            f"unit={self._unit!r}, detected_spikes={spikes}, hidden_state={hidden})"
        )

    # ------------------------------------------------------------------ save / load

    def save(self, path):
        """Write the recording to one ``.npz`` file (format ``jewelhead.recording``, version 1).

        The file is written to a temporary file in the same directory and then renamed
        onto ``path``, so an existing file at ``path`` is replaced whole or not at all.
        ``path`` is used as given (no ``.npz`` is appended).

        Parameters
        ----------
        path : str or os.PathLike

        Notes
        -----
        The archive holds ``format`` (str), ``format_version`` (int), ``header`` (JSON:
        unit, has_spikes, hidden_keys, hidden_sampling_rate), ``metadata`` (JSON),
        ``sampling_rate``, ``data``, ``electrode_positions``, ``channel_electrodes``,
        ``spike_times``, ``spike_channels`` and one ``hidden.<key>`` array per hidden
        entry; it can be read with plain ``numpy.load(path)`` (no pickles). Every array
        comes back bit for bit.
        """
        header = {
            "unit": self._unit,
            "has_spikes": self._has_spikes,
            "hidden_keys": None if self._hidden_state is None else list(self._hidden_state),
            "hidden_sampling_rate": self._hidden_sampling_rate,
        }
        arrays = {
            "format": np.array(FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "header": np.array(json.dumps(header)),
            "metadata": np.array(_metadata_json(self.metadata)),
            "sampling_rate": np.array(self._sampling_rate, dtype=np.float64),
            "data": self._data,
            "electrode_positions": self._electrode_positions,
            "channel_electrodes": self._channel_electrodes,
            "spike_times": self._spike_times,
            "spike_channels": self._spike_channels,
        }
        for key, value in (self._hidden_state or {}).items():
            arrays[f"hidden.{key}"] = value

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez(fh, allow_pickle=False, **arrays)

        _atomic_write(path, write)

    @classmethod
    def load(cls, path):
        """Read a recording written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Recording equal (bit for bit) to the one saved.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        RecordingFormatError
            If the file is truncated or corrupt, is not a jewelhead recording, was
            written by a newer format version, or holds inconsistent contents. The
            message names the file.
        """
        name = os.fspath(path)
        try:
            archive = np.load(name, allow_pickle=False)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except _CORRUPT as exc:
            raise RecordingFormatError(f"{name!s}: not a readable .npz archive ({exc})") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise RecordingFormatError(f"{name!s}: a single .npy array, not a jewelhead recording archive")
        try:
            with archive:
                return cls._from_archive(archive, name)
        except RecordingFormatError:
            raise
        except _CORRUPT as exc:
            raise RecordingFormatError(f"{name!s}: corrupt or inconsistent recording file ({exc})") from exc

    @classmethod
    def _from_archive(cls, archive, name):
        files = set(archive.files)
        if "format" not in files or "format_version" not in files:
            raise RecordingFormatError(f"{name!s}: no 'format' entry, not a {FORMAT_NAME} file")
        fmt = _scalar_str(archive["format"], "format")
        if fmt != FORMAT_NAME:
            raise RecordingFormatError(f"{name!s}: format is {fmt!r}, expected {FORMAT_NAME!r}")
        version = archive["format_version"]
        if version.shape != () or version.dtype.kind not in "iu":
            raise RecordingFormatError(f"{name!s}: format_version must be an integer scalar")
        version = int(version)
        if version > FORMAT_VERSION:
            raise RecordingFormatError(
                f"{name!s}: format_version {version} is newer than this jewelhead reads "
                f"(<= {FORMAT_VERSION}); upgrade jewelhead"
            )
        if version < 1:
            raise RecordingFormatError(f"{name!s}: invalid format_version {version}")
        header = json.loads(_scalar_str(archive["header"], "header"))
        metadata = json.loads(_scalar_str(archive["metadata"], "metadata"))
        rate = archive["sampling_rate"]
        if rate.shape != () or rate.dtype != np.float64:
            raise RecordingFormatError(f"{name!s}: sampling_rate must be a float64 scalar")
        hidden_keys = header["hidden_keys"]
        hidden = None
        if hidden_keys is not None:
            hidden = {key: archive[f"hidden.{key}"] for key in hidden_keys}
        has_spikes = bool(header["has_spikes"])
        return cls(
            archive["data"],
            float(rate),
            header["unit"],
            electrode_positions=archive["electrode_positions"],
            channel_electrodes=archive["channel_electrodes"],
            spike_times=archive["spike_times"] if has_spikes else None,
            spike_channels=archive["spike_channels"] if has_spikes else None,
            hidden_state=hidden,
            hidden_sampling_rate=header["hidden_sampling_rate"],
            metadata=metadata,
        )

    # ------------------------------------------------------------------ NWB

    def content_hash(self):
        """SHA-256 hex digest of everything the recording holds (arrays, rates, metadata)."""
        h = hashlib.sha256()
        h.update(json.dumps([self._unit, self._sampling_rate, self._has_spikes,
                             self._hidden_sampling_rate]).encode())
        arrays = list(self._arrays())
        for key, value in (self._hidden_state or {}).items():
            h.update(key.encode())
            arrays.append(value)
        for arr in arrays:
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
        h.update(_metadata_json(self.metadata).encode())
        return h.hexdigest()

    def to_nwb(self, path):
        """Write the recording as an NWB 2 file (HDF5, through pynwb).

        Written to a temporary file and renamed onto ``path``, like :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Notes
        -----
        Layout of the file:

        - ``general/devices/electrode_array`` and one ElectrodeGroup ``array``.
        - ``general/extracellular_ephys/electrodes``: one row per channel, in channel
          order, with ids = ``channel_electrodes``; ``x, y, z`` and ``rel_x, rel_y,
          rel_z`` in micrometres (the NWB convention) in the array's frame; custom
          columns ``channel_electrode`` (int) and ``channel_name`` (str, the channel id
          :meth:`to_spikeinterface` uses).
        - ``acquisition/ElectricalSeries``: :attr:`data` in volts (conversion 1.0) at
          :attr:`sampling_rate`, starting at 0 s. A current recording (unit ``"A"``)
          becomes a TimeSeries ``recorded_current`` in amperes whose columns follow the
          electrodes table.
        - ``units``: the detected spikes, one unit per channel with at least one
          detected spike (threshold-crossing multi-unit activity, not sorted), linked to
          its electrode, with a ``channel`` column.
        - ``processing/ground_truth`` (when :attr:`hidden_state` is not None):
          ``membrane_potential`` as a TimeSeries (volts, ``hidden_sampling_rate``),
          the true spikes as a Units table ``true_units`` (one unit per neuron, with a
          ``neuron_position`` column in metres when positions are known), and any other
          entry as a DynamicTable with one ``value`` column (rows along the first axis).
        - ``notes``: :attr:`metadata` as JSON. The identifier is ``jewelhead-`` and the
          first 32 hex digits of :meth:`content_hash`; ``session_start_time`` is
          ``metadata["session_start_time"]`` (ISO 8601 with a time zone) if present,
          else the time of export (UTC).
        """
        nwbfile = self._build_nwb()
        from pynwb import NWBHDF5IO

        def write(tmp):
            with NWBHDF5IO(tmp, mode="w") as io:
                io.write(nwbfile)

        _atomic_write(path, write)

    def _build_nwb(self):
        from hdmf.common import DynamicTable, VectorData
        from pynwb import NWBFile, TimeSeries
        from pynwb.ecephys import ElectricalSeries
        from pynwb.misc import Units

        start = self.metadata.get("session_start_time")
        if start is None:
            start = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        else:
            start = _dt.datetime.fromisoformat(str(start))
            if start.tzinfo is None:
                raise ValueError(
                    f"metadata['session_start_time'] must carry a time zone (ISO 8601), got {start}"
                )
        n = self.n_channels
        description = self.metadata.get(
            "description",
            f"jewelhead simulated recording: {n} channels at {self._sampling_rate:g} Hz, "
            f"{self.duration:g} s ({self.metadata.get('substrate', 'substrate')})",
        )
        nwbfile = NWBFile(
            session_description=str(description),
            identifier=f"jewelhead-{self.content_hash()[:32]}",
            session_start_time=start,
            notes=_metadata_json(self.metadata),
            source_script=f"jewelhead {self.metadata.get('jewelhead_version', 'unknown')}",
            source_script_file_name="substrates/_recording.py",
        )
        if hasattr(nwbfile, "create_device_model"):  # NWB >= 2.9 keeps the maker on a model
            model = nwbfile.create_device_model(
                name="jewelhead_electrode_array", manufacturer="jewelhead (simulation)",
                description="simulated electrode array",
            )
            device = nwbfile.create_device(
                name="electrode_array", description="simulated electrode array (jewelhead)", model=model,
            )
        else:  # pragma: no cover - older pynwb
            device = nwbfile.create_device(
                name="electrode_array", description="simulated electrode array (jewelhead)",
                manufacturer="jewelhead (simulation)",
            )
        location = "simulated substrate; electrode positions x, y, z in micrometres, array frame"
        group = nwbfile.create_electrode_group(
            name="array", description="all recording channels of the electrode array",
            location=location, device=device,
        )
        nwbfile.add_electrode_column("channel_electrode", "index of the electrode in the array")
        nwbfile.add_electrode_column("channel_name", "channel id (str of channel_electrode)")
        pos_um = self._electrode_positions * 1e6
        for c in range(n):
            x, y, z = (float(v) for v in pos_um[c])
            nwbfile.add_electrode(
                id=int(self._channel_electrodes[c]), x=x, y=y, z=z, rel_x=x, rel_y=y, rel_z=z,
                location=location, group=group,
                channel_electrode=int(self._channel_electrodes[c]),
                channel_name=str(self._channel_electrodes[c]),
            )
        region = nwbfile.create_electrode_table_region(list(range(n)), "all recording channels")
        if self._unit == "V":
            series = ElectricalSeries(
                name="ElectricalSeries", data=np.asarray(self._data), electrodes=region,
                rate=self._sampling_rate, starting_time=0.0, conversion=1.0,
                description="extracellular potential after noise and ADC (jewelhead)",
            )
        else:
            series = TimeSeries(
                name="recorded_current", data=np.asarray(self._data), unit="amperes",
                rate=self._sampling_rate, starting_time=0.0, conversion=1.0,
                description="current recorded at each channel; columns follow the rows "
                            "of the electrodes table",
            )
        nwbfile.add_acquisition(series)

        if self._has_spikes:
            nwbfile.units = Units(
                name="units", electrode_table=nwbfile.electrodes,
                description="detected spikes (threshold crossings), one unit per channel with "
                            "spikes: multi-unit activity, not spike-sorted",
            )
            nwbfile.units.add_column("channel", "recording channel (column of the data)")
            for c in np.unique(self._spike_channels):
                nwbfile.units.add_unit(
                    spike_times=np.asarray(self._spike_times[self._spike_channels == c]),
                    electrodes=[int(c)], channel=int(c),
                )

        if self._hidden_state is not None:
            module = nwbfile.create_processing_module(
                "ground_truth", "hidden state of the simulated substrate (not observable in a lab)"
            )
            hidden = self._hidden_state
            if "membrane_potential" in hidden:
                module.add(TimeSeries(
                    name="membrane_potential", data=np.asarray(hidden["membrane_potential"]),
                    unit="volts", rate=self._hidden_sampling_rate, starting_time=0.0,
                    description="membrane potential of every neuron (columns)",
                ))
            if "spike_times" in hidden or "neuron_positions" in hidden:
                module.add(_true_units(hidden, Units))
            for key, value in hidden.items():
                if key in ("membrane_potential", "spike_times", "spike_neurons", "neuron_positions"):
                    continue
                arr = np.asarray(value)
                rows = arr.reshape(1) if arr.ndim == 0 else arr
                module.add(DynamicTable(
                    name=key,
                    description=f"hidden state entry {key!r}, shape {arr.shape}, dtype {arr.dtype}",
                    id=np.arange(rows.shape[0]),
                    columns=[VectorData(name="value", description=f"{key} along its first axis",
                                        data=rows)],
                ))
        return nwbfile

    # ------------------------------------------------------------------ SpikeInterface

    def to_spikeinterface(self, *, contact_radius=5e-6, plane="xy", dtype="float32"):
        """The recording as a SpikeInterface ``NumpyRecording`` with its probe attached.

        Traces are in microvolts (``gain_to_uV`` 1, ``offset_to_uV`` 0), as SpikeInterface
        and its sorters expect of float recordings (the MEArec convention), so
        ``get_traces()`` and ``get_traces(return_in_uV=True)`` both give microvolts.

        Parameters
        ----------
        contact_radius : float
            m, > 0: radius of the circular contacts drawn on the probe (default 5 um).
        plane : {"xy", "xz", "yz"}
            Which two coordinates of :attr:`electrode_positions` become the probe's 2-D
            contact positions (micrometres).
        dtype : {"float32", "float64"}
            Trace dtype; float32 keeps 24 bits, beyond any ADC.

        Returns
        -------
        spikeinterface.core.NumpyRecording
            One segment, ``sampling_frequency`` = :attr:`sampling_rate`, channel ids the
            strings of :attr:`channel_electrodes`, a probeinterface ``Probe`` with one
            contact per channel (``device_channel_indices`` 0..n_channels-1).

        Raises
        ------
        ValueError
            For a current recording (unit ``"A"``): SpikeInterface traces are voltages.
        """
        if self._unit != "V":
            raise ValueError("to_spikeinterface needs a voltage recording (unit 'V'), got unit 'A'")
        axes = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}
        if plane not in axes:
            raise ValueError(f"plane must be one of {sorted(axes)}, got {plane!r}")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if isinstance(contact_radius, bool) or not isinstance(contact_radius, numbers.Real) or not (
            math.isfinite(contact_radius) and contact_radius > 0
        ):
            raise ValueError(f"contact_radius must be a finite length > 0 m, got {contact_radius!r}")
        import probeinterface
        from spikeinterface.core import NumpyRecording

        ids = np.array([str(e) for e in self._channel_electrodes])
        traces = (np.asarray(self._data) * 1e6).astype(dtype)
        recording = NumpyRecording([traces], sampling_frequency=self._sampling_rate, channel_ids=ids)
        recording.set_channel_gains(1.0)
        recording.set_channel_offsets(0.0)
        radius_um = float(contact_radius) * 1e6
        probe = probeinterface.Probe(ndim=2, si_units="um", name="jewelhead electrode array",
                                     manufacturer="jewelhead (simulation)")
        probe.set_contacts(positions=self._electrode_positions[:, list(axes[plane])] * 1e6,
                           shapes="circle", shape_params={"radius": radius_um})
        probe.set_contact_ids(ids)
        probe.set_device_channel_indices(np.arange(self.n_channels))
        probe.create_auto_shape(probe_type="rect", margin=2 * radius_um)
        attached = recording.set_probe(probe)  # in place from 0.105; older versions return a copy
        recording = recording if attached is None else attached
        recording.set_property("channel_electrode", np.asarray(self._channel_electrodes))
        return recording


def _same_array(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _scalar_str(arr, key):
    if arr.shape != () or arr.dtype.kind != "U":
        raise RecordingFormatError(f"entry {key!r} must be a string scalar")
    return str(arr)


def _true_units(hidden, Units):
    """Units table of the ground-truth spikes: one row per neuron, built column-wise."""
    from hdmf.common import VectorData, VectorIndex

    n_neurons = 0
    if "neuron_positions" in hidden:
        n_neurons = hidden["neuron_positions"].shape[0]
    elif "membrane_potential" in hidden:
        n_neurons = hidden["membrane_potential"].shape[1]
    times = np.asarray(hidden.get("spike_times", np.zeros(0)), dtype=np.float64)
    neurons = np.asarray(hidden.get("spike_neurons", np.zeros(0, np.int64)), dtype=np.int64)
    if neurons.size:
        n_neurons = max(n_neurons, int(neurons.max()) + 1)
    order = np.lexsort((times, neurons))  # by neuron, then time
    ends = np.cumsum(np.bincount(neurons, minlength=n_neurons))
    spike_times = VectorData(name="spike_times", description="true spike times, s",
                             data=times[order])
    columns = [spike_times, VectorIndex(name="spike_times_index", data=ends, target=spike_times)]
    if "neuron_positions" in hidden:
        columns.append(VectorData(name="neuron_position", description="neuron position (x, y, z), m",
                                  data=np.asarray(hidden["neuron_positions"])))
    return Units(name="true_units", id=np.arange(n_neurons), columns=columns,
                 description="ground-truth spikes of every neuron (row = neuron index)")


# ----------------------------------------------------------------------- spike detection


def estimate_noise_levels(data):
    """Robust per-channel noise standard deviation, ``median(|x - median(x)|) / 0.6745``.

    The median absolute deviation of Gaussian noise is Phi^-1(3/4) sigma = 0.6745 sigma;
    unlike the standard deviation it is barely moved by rare spikes (Quian Quiroga et
    al. 2004). This is the estimate :func:`detect_spikes` uses.

    Parameters
    ----------
    data : array of shape (n_samples, n_channels)
        Finite signal, any unit.

    Returns
    -------
    noise_levels : float64 array of shape (n_channels,)
        In the unit of ``data``; zeros when ``n_samples`` is 0.
    """
    data = _real_array("data", data, ndim=2)
    if not np.isfinite(data).all():
        raise ValueError("data must be finite (no NaN or inf)")
    return _mad_noise(data)


def _mad_noise(data):
    n_samples, n_channels = data.shape
    noise = np.zeros(n_channels)
    if n_samples == 0:
        return noise
    block = max(1, _BLOCK_ELEMENTS // n_samples)
    for c0 in range(0, n_channels, block):
        # channel-major copy, then two in-place medians (the second on half-sorted data)
        x = np.array(data[:, c0:c0 + block].T, dtype=np.float64, order="C")
        centre = np.median(x, axis=1, overwrite_input=True)
        np.subtract(x, centre[:, None], out=x)
        np.abs(x, out=x)
        noise[c0:c0 + block] = np.median(x, axis=1, overwrite_input=True) / _MAD_PER_SIGMA
    return noise


def detect_spikes(data, sampling_rate, *, threshold=5.0, sign="negative", dead_time=1e-3,
                  noise_levels=None):
    """Threshold-crossing spike detection (Quian Quiroga et al. 2004).

    Each channel's noise level is estimated robustly as
    ``sigma = median(|x - median(x)|) / 0.6745`` (the median absolute deviation of
    Gaussian noise is 0.6745 sigma; spikes, being rare, barely move it), unless
    ``noise_levels`` is given. A sample crosses when it is beyond ``threshold * sigma``
    on the side(s) chosen by ``sign``, measured from zero, so ``data`` should be
    high-pass filtered (zero baseline), as extracellular recordings are. Each run of
    crossing samples is an event, and events on one channel less than ``dead_time``
    apart (from the last crossing sample of one to the first of the next) are merged,
    transitively. An event's time is its peak: the most negative sample for
    ``"negative"``, the most positive for ``"positive"``, the largest ``|x|`` for
    ``"both"`` (the earliest on ties). Consequently two spikes on one channel are at
    least ``dead_time`` apart.

    Parameters
    ----------
    data : array of shape (n_samples, n_channels)
        Finite signal, any unit.
    sampling_rate : float
        Hz, > 0.
    threshold : float
        Multiple of the noise level, > 0 (default 5).
    sign : {"negative", "positive", "both"}
        Which excursions count (default ``"negative"``, the trough of an extracellular
        spike).
    dead_time : float
        s, >= 0 (default 1 ms).
    noise_levels : array of shape (n_channels,), optional
        Noise standard deviation per channel, in the unit of ``data``, >= 0.

    Returns
    -------
    spike_times : float64 array of shape (n_spikes,)
        s, sample index of the peak / sampling_rate, sorted by time then channel.
    spike_channels : int64 array of shape (n_spikes,)

    Examples
    --------
    >>> import numpy as np
    >>> from substrates import detect_spikes
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, (10_000, 2))
    >>> x[5000, 1] = -12.0
    >>> detect_spikes(x, 10_000.0)
    (array([0.5]), array([1]))
    """
    data = _real_array("data", data, ndim=2)
    n_samples, n_channels = data.shape
    sampling_rate = _check_rate("sampling_rate", sampling_rate)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
        math.isfinite(threshold) and threshold > 0
    ):
        raise ValueError(f"threshold must be a finite multiple of the noise level > 0, got {threshold!r}")
    if sign not in _SIGNS:
        raise ValueError(f"sign must be one of {_SIGNS}, got {sign!r}")
    if isinstance(dead_time, bool) or not isinstance(dead_time, numbers.Real) or not (
        math.isfinite(dead_time) and dead_time >= 0
    ):
        raise ValueError(f"dead_time must be a finite time >= 0 s, got {dead_time!r}")
    if not np.isfinite(data).all():
        raise ValueError("data must be finite (no NaN or inf)")
    if noise_levels is not None:
        noise = _finite_float("noise_levels", noise_levels, shape=(n_channels,))
        if noise.size and noise.min() < 0:
            raise ValueError("noise_levels must be >= 0")
    else:
        noise = _mad_noise(data)
    level = float(threshold) * noise
    # crossing samples (sample-major, as np.nonzero gives them), block by block over rows
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(1, n_channels))
    samples, channels, scores = [], [], []
    for r0 in range(0, n_samples, rows_per_block):
        x = np.asarray(data[r0:r0 + rows_per_block], dtype=np.float64)
        if sign == "negative":
            score = -x
        elif sign == "positive":
            score = x
        else:
            score = np.abs(x)
        s, c = np.nonzero(score > level)
        samples.append(s + r0)
        channels.append(c)
        scores.append(score[s, c])
    if not samples or sum(s.size for s in samples) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    sample = np.concatenate(samples).astype(np.int64)
    channel = np.concatenate(channels).astype(np.int64)
    score = np.concatenate(scores)
    order = np.argsort(channel, kind="stable")  # channel-major, time order kept within a channel
    sample, channel, score = sample[order], channel[order], score[order]

    min_gap = max(2, math.ceil(dead_time * sampling_rate - 1e-9 * max(1.0, dead_time * sampling_rate)))
    new_event = np.ones(sample.size, dtype=bool)
    new_event[1:] = (channel[1:] != channel[:-1]) | (np.diff(sample) >= min_gap)
    starts = np.flatnonzero(new_event)
    label = np.cumsum(new_event) - 1
    peak_value = np.maximum.reduceat(score, starts)
    at_peak = np.flatnonzero(score == peak_value[label])
    first = np.ones(at_peak.size, dtype=bool)
    first[1:] = label[at_peak[1:]] != label[at_peak[:-1]]
    peak = at_peak[first]
    peak_sample, peak_channel = sample[peak], channel[peak]
    order = np.lexsort((peak_channel, peak_sample))
    return peak_sample[order] / sampling_rate, peak_channel[order]
