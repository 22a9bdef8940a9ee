"""ElectrodeArray: where the electrodes are, which ones stimulate, which ones record.

A substrate is only ever reached through an :class:`ElectrodeArray`, the way a wet lab
reaches a culture through a multi-electrode array (MEA): some electrodes deliver stimuli,
a subset of the recordable electrodes is routed to the amplifier's recording channels (an
HD-MEA routes 1,024 of its 26,400 electrodes), and every recorded sample passes through
an analog front end (thermal and amplifier noise, then an ADC of finite range and
resolution), which :meth:`ElectrodeArray.acquire` models.

The array is an immutable value: every "change" (:meth:`~ElectrodeArray.select`,
:meth:`~ElectrodeArray.route`, :meth:`~ElectrodeArray.replace`) returns a new array,
and two arrays are equal when all their fields are.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

from substrates._random import check_random_state

__all__ = ["ElectrodeArray"]

# probeinterface units -> how many of them make a metre
_UNITS_PER_METRE = {"um": 1e6, "mm": 1e3, "m": 1.0}
_SHAPES = ("circle", "square")
_SELECT_STRATEGIES = ("random", "spread")
# Annotations written by to_probe and read back by from_probe (probeinterface keeps them).
_PROBE_ANNOTATIONS = ("sampling_rate", "noise_rms", "adc_bits", "adc_range",
                      "max_recording_channels")
# Relative tolerance under which two distances count as tied in select(strategy="spread"):
# far above float rounding (~1e-16), far below any physical spacing difference.
_TIE_RTOL = 1e-9


# --------------------------------------------------------------------------- validation
def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _real(name: str, value, *, low: float, low_open: bool, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {allowed}, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (low_open and value == low):
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return value


def _optional_int(name: str, value, *, low: int, high: int | None, allowed: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {allowed} or None, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {allowed} or None, got {value}")
    return value


def _as_positions(name: str, value) -> np.ndarray:
    """(n, 2) or (n, 3) finite reals -> new float64 array (n, 3), z = 0 for 2D input."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array of shape (n, 2) or (n, 3) in metres") from exc
    if array.ndim != 2 or array.shape[1] not in (2, 3) or array.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (n, 2) or (n, 3) with n >= 1 (metres), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        bad = np.flatnonzero(~np.all(np.isfinite(array), axis=1))
        raise ValueError(f"{name} must be finite; rows {bad[:10].tolist()} are not")
    if array.shape[1] == 2:
        array = np.column_stack([array, np.zeros(array.shape[0])])
    array += 0.0  # -0.0 -> +0.0, so equal arrays hash alike
    return array


def _as_flags(name: str, value, n: int) -> np.ndarray:
    if value is None:
        return np.ones(n, dtype=bool)
    array = np.array(value)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array of shape ({n},), got dtype {array.dtype}")
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one flag per electrode), got {array.shape}")
    return array.copy()


def _as_electrode_indices(name: str, value, n_electrodes: int) -> np.ndarray:
    array = np.asarray(value)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of electrode indices, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (n_electrodes_chosen,), got shape {array.shape}")
    outside = (array < 0) | (array >= n_electrodes)
    if np.any(outside):
        raise ValueError(
            f"{name} must lie between 0 and {n_electrodes - 1} (the electrode indices), "
            f"got {array[outside][:10].tolist()}"
        )
    return array.astype(np.int64)


def _check_routing(name: str, electrodes: np.ndarray, can_record: np.ndarray,
                   max_channels: int | None) -> None:
    if not np.all(can_record[electrodes]):
        bad = electrodes[~can_record[electrodes]]
        raise ValueError(f"{name} must be electrodes that can record; {bad[:10].tolist()} cannot")
    unique, counts = np.unique(electrodes, return_counts=True)
    if unique.size != electrodes.size:
        raise ValueError(f"{name} must be unique; {unique[counts > 1][:10].tolist()} repeat")
    if max_channels is not None and electrodes.size > max_channels:
        raise ValueError(
            f"{name} must number at most max_recording_channels = {max_channels} "
            f"(the routing limit), got {electrodes.size}"
        )


def _farthest_point_order(points: np.ndarray, k: int) -> np.ndarray:
    """First ``k`` indices of a farthest-point ordering of ``points`` (n, 3).

    Starts at the point nearest the centroid; each next point maximises its distance to
    the nearest point already chosen. Ties (within a relative ``_TIE_RTOL`` of the array's
    extent) go to the lowest index, so the order does not hinge on float rounding.
    """
    extent = float(np.ptp(points, axis=0).max()) if points.shape[0] > 1 else 1.0
    tol = _TIE_RTOL * extent
    to_centroid = np.linalg.norm(points - points.mean(axis=0), axis=1)
    first = int(np.flatnonzero(to_centroid <= to_centroid.min() + tol)[0])
    order = np.empty(k, dtype=np.int64)
    order[0] = first
    nearest = np.linalg.norm(points - points[first], axis=1)
    for i in range(1, k):
        nxt = int(np.flatnonzero(nearest >= nearest.max() - tol)[0])
        order[i] = nxt
        np.minimum(nearest, np.linalg.norm(points - points[nxt], axis=1), out=nearest)
    return order


def _grid_positions(rows: int, cols: int, pitch: float) -> np.ndarray:
    """Row-major (rows * cols, 3) grid centred at the origin, row 0 at the top (largest y)."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    x = (c - (cols - 1) / 2.0) * pitch
    y = ((rows - 1) / 2.0 - r) * pitch
    return np.column_stack([x, y, np.zeros(rows * cols)])


def _check_grid_size(rows, cols):
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer >= 1, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value}")


# --------------------------------------------------------------------------- the class
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ElectrodeArray:
    """A multi-electrode array: geometry, stimulation and recording routing, front end.

    An immutable value: arrays are stored as read-only copies; :meth:`select`,
    :meth:`route` and :meth:`replace` return new arrays. Build one with a factory
    (:meth:`mea60`, :meth:`hdmea`, :meth:`grid`, :meth:`from_positions`,
    :meth:`from_probe`) or directly.

    Parameters
    ----------
    positions : array of shape (n_electrodes, 3) or (n_electrodes, 2), m
        Electrode centres. 2D input is placed in the plane z = 0. Finite, no two equal.
    can_stimulate : bool array of shape (n_electrodes,), optional
        Electrodes connected to a stimulation channel; default all. Their indices, in
        ascending order, are the stimulus channels (:attr:`stimulating_electrodes`).
    can_record : bool array of shape (n_electrodes,), optional
        Electrodes that can be routed to a recording channel; default all.
    recording_electrodes : int array of shape (n_recording,), optional
        Electrodes routed to recording channels, in channel order: unique, recordable and
        at most ``max_recording_channels``. Default: the recordable electrodes in index
        order, the first ``max_recording_channels`` of them where that is set.
    max_recording_channels : int >= 1 or None, default None
        Routing limit (an HD-MEA routes at most 1,024 channels); None: no limit.
    sampling_rate : float, Hz, default 25_000.0
        Recording sampling rate (> 0).
    noise_rms : float, V, default 5e-6
        Root-mean-square of the white Gaussian noise added to every recorded sample
        (electrode thermal noise plus amplifier noise, referred to the input; >= 0).
    adc_bits : int in 1..32 or None, default 16
        ADC resolution; None for an ideal converter (no quantisation).
    adc_range : (float, float), V, default (-4.096 V / 1200, 4.096 V / 1200)
        ``(low, high)`` input range of the front end, ``low < high``; recorded values are
        clipped to it (with or without quantisation).
    electrode_radius : float, m, default 15e-6
        Radius of a circular electrode, or half the side of a square one (> 0).
    electrode_shape : {"circle", "square"}, default "circle"
    contact_ids : sequence of str of length n_electrodes, or None
        Names of the electrodes (e.g. MCS labels "21", "31", ...). None means "0", "1",
        ...; an explicit sequence equal to that default is stored as None.
    name : str, default ""

    Attributes
    ----------
    n_electrodes, n_recording, n_stimulating : int
    stimulating_electrodes : int array (n_stimulating,)
    recording_positions : array (n_recording, 3), m
    stimulating_positions : array (n_stimulating, 3), m
    adc_step : float, V
        Quantisation step ``(high - low) / 2**adc_bits``; 0.0 for an ideal ADC.

    Notes
    -----
    The generic defaults are those of :meth:`mea60` (a Multi Channel Systems MEA1060-like
    front end). :meth:`acquire` adds the noise, clips to ``adc_range`` and quantises.

    Examples
    --------
    >>> from substrates import ElectrodeArray
    >>> mea = ElectrodeArray.mea60()
    >>> mea.n_electrodes, mea.n_recording
    (60, 60)
    >>> eight = mea.select(8, strategy="spread")
    >>> eight.n_recording, eight.n_stimulating
    (8, 60)
    """

    positions: np.ndarray
    can_stimulate: np.ndarray | None = None
    can_record: np.ndarray | None = None
    recording_electrodes: np.ndarray | None = None
    max_recording_channels: int | None = None
    sampling_rate: float = 25_000.0
    noise_rms: float = 5e-6
    adc_bits: int | None = 16
    adc_range: tuple[float, float] = (-4.096 / 1200.0, 4.096 / 1200.0)
    electrode_radius: float = 15e-6
    electrode_shape: str = "circle"
    contact_ids: tuple[str, ...] | None = None
    name: str = ""

    def __post_init__(self):
        def store(field, value):
            object.__setattr__(self, field, value)

        positions = _as_positions("positions", self.positions)
        n = positions.shape[0]
        if np.unique(positions, axis=0).shape[0] != n:
            _, first, counts = np.unique(positions, axis=0, return_index=True, return_counts=True)
            dup = positions[first[counts > 1][0]]
            same = np.flatnonzero(np.all(positions == dup, axis=1))
            raise ValueError(f"positions must be distinct; electrodes {same.tolist()} share {dup.tolist()} m")
        store("positions", _read_only(positions))
        store("can_stimulate", _read_only(_as_flags("can_stimulate", self.can_stimulate, n)))
        can_record = _read_only(_as_flags("can_record", self.can_record, n))
        store("can_record", can_record)
        max_channels = _optional_int("max_recording_channels", self.max_recording_channels,
                                     low=1, high=None, allowed=">= 1")
        store("max_recording_channels", max_channels)
        if self.recording_electrodes is None:
            routed = np.flatnonzero(can_record).astype(np.int64)[:max_channels]
        else:
            routed = _as_electrode_indices("recording_electrodes", self.recording_electrodes, n).copy()
            _check_routing("recording_electrodes", routed, can_record, max_channels)
        store("recording_electrodes", _read_only(routed))

        store("sampling_rate", _real("sampling_rate", self.sampling_rate, low=0.0, low_open=True,
                                     allowed="> 0 (Hz)"))
        store("noise_rms", _real("noise_rms", self.noise_rms, low=0.0, low_open=False,
                                 allowed=">= 0 (V)"))
        store("adc_bits", _optional_int("adc_bits", self.adc_bits, low=1, high=32,
                                        allowed="between 1 and 32"))
        try:
            low, high = self.adc_range
        except (TypeError, ValueError) as exc:
            raise TypeError(f"adc_range must be a pair (low, high) in V, got {self.adc_range!r}") from exc
        low = _real("adc_range[0]", low, low=-math.inf, low_open=False, allowed="(V)")
        high = _real("adc_range[1]", high, low=-math.inf, low_open=False, allowed="(V)")
        if not low < high:
            raise ValueError(f"adc_range must satisfy low < high (V), got ({low!r}, {high!r})")
        store("adc_range", (low, high))
        store("electrode_radius", _real("electrode_radius", self.electrode_radius, low=0.0,
                                        low_open=True, allowed="> 0 (m)"))
        if self.electrode_shape not in _SHAPES:
            raise ValueError(f"electrode_shape must be one of {_SHAPES}, got {self.electrode_shape!r}")
        store("contact_ids", self._check_contact_ids(self.contact_ids, n))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")

    @staticmethod
    def _check_contact_ids(ids, n):
        if ids is None:
            return None
        if isinstance(ids, str):
            raise TypeError("contact_ids must be a sequence of str (one per electrode), not one str")
        ids = tuple(ids)
        if len(ids) != n:
            raise ValueError(f"contact_ids must have one entry per electrode ({n}), got {len(ids)}")
        if not all(isinstance(i, (str, np.str_)) for i in ids):
            raise TypeError("contact_ids must all be str")
        ids = tuple(str(i) for i in ids)
        if len(set(ids)) != n:
            raise ValueError("contact_ids must be unique")
        if all(i == str(k) for k, i in enumerate(ids)):
            return None
        return ids

    # ------------------------------------------------------------------ derived
    @property
    def n_electrodes(self) -> int:
        """Number of electrodes on the array."""
        return self.positions.shape[0]

    @property
    def n_recording(self) -> int:
        """Number of recording channels (routed recording electrodes)."""
        return self.recording_electrodes.shape[0]

    @property
    def n_stimulating(self) -> int:
        """Number of stimulation channels (electrodes that can stimulate)."""
        return int(np.count_nonzero(self.can_stimulate))

    @property
    def stimulating_electrodes(self) -> np.ndarray:
        """Electrode indices of the stimulation channels, ascending: int array (n_stimulating,)."""
        return _read_only(np.flatnonzero(self.can_stimulate).astype(np.int64))

    @property
    def recording_positions(self) -> np.ndarray:
        """Positions of the recording channels' electrodes, (n_recording, 3), m."""
        return _read_only(self.positions[self.recording_electrodes])

    @property
    def stimulating_positions(self) -> np.ndarray:
        """Positions of the stimulation channels' electrodes, (n_stimulating, 3), m."""
        return _read_only(self.positions[self.can_stimulate])

    @property
    def adc_step(self) -> float:
        """ADC quantisation step in V: ``(high - low) / 2**adc_bits``; 0.0 when ideal."""
        if self.adc_bits is None:
            return 0.0
        low, high = self.adc_range
        return (high - low) / 2.0**self.adc_bits

    # ------------------------------------------------------------------ factories
    @classmethod
    def from_positions(cls, positions, **kw) -> ElectrodeArray:
        """An array with electrodes at ``positions`` (n_electrodes, 2 or 3), m.

        Every other field is a keyword (see :class:`ElectrodeArray`).

        Examples
        --------
        >>> a = ElectrodeArray.from_positions([[0.0, 0.0], [100e-6, 0.0]], noise_rms=0.0)
        >>> a.n_electrodes, a.positions[1].tolist()
        (2, [0.0001, 0.0, 0.0])
        """
        return cls(positions, **kw)

    @classmethod
    def grid(cls, rows: int, cols: int, pitch: float = 200e-6, **kw) -> ElectrodeArray:
        """A rectangular grid of ``rows`` x ``cols`` electrodes at ``pitch`` (m), z = 0.

        Centred at the origin; electrodes are numbered row-major (index ``r * cols + c``),
        row 0 at the top (largest y), column 0 on the left (smallest x). Every other field
        is a keyword (see :class:`ElectrodeArray`).

        Examples
        --------
        >>> g = ElectrodeArray.grid(2, 3, 100e-6)
        >>> g.positions[:, :2].round(9).tolist()[:3]
        [[-0.0001, 5e-05], [0.0, 5e-05], [0.0001, 5e-05]]
        """
        _check_grid_size(rows, cols)
        pitch = _real("pitch", pitch, low=0.0, low_open=True, allowed="> 0 (m)")
        kw.setdefault("name", f"grid{rows}x{cols}")
        return cls(_grid_positions(int(rows), int(cols), pitch), **kw)

    @classmethod
    def mea60(cls, **kw) -> ElectrodeArray:
        """A 60-electrode MEA: 8 x 8 grid without its corners, 200 um pitch.

        Modelled on a Multi Channel Systems 60MEA200/30iR-Ti with an MEA1060 amplifier:
        30 um TiN electrodes (radius 15 um) 200 um apart, 60 channels sampled at 25 kHz,
        5 uV rms input-referred noise, and a 16-bit ADC over +-4.096 V behind a gain of
        1200, i.e. an input range of +-3.41 mV in steps of 0.104 uV. Every electrode
        records and stimulates (the internal reference electrode is treated as an ordinary
        one; route around it if needed). ``contact_ids`` are the MCS labels: column digit
        then row digit, "12" ... "87", column 1 on the left, row 1 at the top.

        Electrodes are numbered row-major over the 8 x 8 grid, skipping the corners.
        Keywords override any field.

        Examples
        --------
        >>> mea = ElectrodeArray.mea60()
        >>> mea.n_electrodes, mea.contact_ids[:3]
        (60, ('21', '31', '41'))
        """
        full = _grid_positions(8, 8, 200e-6)
        r, c = np.divmod(np.arange(64), 8)
        keep = ~(np.isin(r, (0, 7)) & np.isin(c, (0, 7)))
        labels = tuple(f"{ci + 1}{ri + 1}" for ri, ci in zip(r[keep], c[keep]))
        fields: dict[str, Any] = dict(
            sampling_rate=25_000.0, noise_rms=5e-6, adc_bits=16,
            adc_range=(-4.096 / 1200.0, 4.096 / 1200.0), electrode_radius=15e-6,
            contact_ids=labels, name="mea60",
        )
        fields.update(kw)
        return cls(full[keep], **fields)

    @classmethod
    def hdmea(cls, **kw) -> ElectrodeArray:
        """A 26,400-electrode CMOS HD-MEA with 1,024 routable channels (MaxOne-like).

        120 rows x 220 columns at 17.5 um pitch (a 3.85 mm x 2.1 mm sensing area),
        numbered row-major as in :meth:`grid`. Modelled on a MaxWell MaxOne: 20 kHz
        sampling, at most 1,024 recording channels, 2.4 uV rms noise (300 Hz - 10 kHz
        band), a 10-bit ADC over +-3.2 mV (gain 512, steps of 6.25 uV), electrodes of
        9.3 um x 5.45 um given as circles of equal area (radius 4.0 um).

        Default routing: a centred 32 x 32 block (1,024 electrodes). Stimulation: like the
        chip's 32 stimulation units, 32 electrodes spread over the routed ones by
        farthest-point sampling (as :meth:`select` with ``strategy="spread"``; all of them
        when fewer are routed). Keywords override any field; ``recording_electrodes`` moves
        the stimulation electrodes with it unless ``can_stimulate`` is also given.

        Examples
        --------
        >>> hd = ElectrodeArray.hdmea()
        >>> hd.n_electrodes, hd.n_recording, hd.n_stimulating
        (26400, 1024, 32)
        """
        rows, cols, pitch = 120, 220, 17.5e-6
        if "recording_electrodes" in kw and kw["recording_electrodes"] is not None:
            routed = _as_electrode_indices("recording_electrodes", kw["recording_electrodes"],
                                           rows * cols)
        else:
            r0, c0 = (rows - 32) // 2, (cols - 32) // 2
            block_r, block_c = np.meshgrid(np.arange(r0, r0 + 32), np.arange(c0, c0 + 32),
                                           indexing="ij")
            routed = (block_r * cols + block_c).ravel().astype(np.int64)
        positions = _grid_positions(rows, cols, pitch)
        fields: dict[str, Any] = dict(
            recording_electrodes=routed, max_recording_channels=1024, sampling_rate=20_000.0,
            noise_rms=2.4e-6, adc_bits=10, adc_range=(-3.2e-3, 3.2e-3), electrode_radius=4.0e-6,
            name="hdmea",
        )
        if "can_stimulate" not in kw:
            stimulating = np.zeros(rows * cols, dtype=bool)
            if routed.size:
                ordered = np.sort(routed)
                stimulating[ordered[_farthest_point_order(positions[ordered],
                                                          min(32, ordered.size))]] = True
            fields["can_stimulate"] = stimulating
        fields.update(kw)
        fields["recording_electrodes"] = routed
        return cls(positions, **fields)

    @classmethod
    def from_probe(cls, probe, **kw) -> ElectrodeArray:
        """An array from a ``probeinterface.Probe``.

        Contact positions (in the probe's ``si_units``) become metres; a 2D probe lies in
        z = 0. Contact ids are kept. All contacts must be circles of one radius or squares
        of one width, unless ``electrode_radius`` (and ``electrode_shape``) are given.
        Contacts with ``device_channel_indices >= 0`` are the recording electrodes, in
        ascending channel index (all contacts when the probe has no wiring). Contact
        annotations ``can_stimulate`` / ``can_record`` and the probe annotations written
        by :meth:`to_probe` (sampling_rate, noise_rms, adc_bits, adc_range,
        max_recording_channels) are read back; keywords override everything.

        Parameters
        ----------
        probe : probeinterface.Probe
        **kw
            Any :class:`ElectrodeArray` field.

        Examples
        --------
        >>> import probeinterface
        >>> probe = probeinterface.generate_linear_probe(num_elec=16, ypitch=20)
        >>> ElectrodeArray.from_probe(probe, electrode_radius=5e-6).n_electrodes
        16
        """
        import probeinterface

        if not isinstance(probe, probeinterface.Probe):
            raise TypeError(f"probe must be a probeinterface.Probe, got {type(probe).__name__}")
        if probe.contact_positions is None or probe.get_contact_count() == 0:
            raise ValueError("probe must have contacts (call probe.set_contacts first)")
        per_metre = _UNITS_PER_METRE.get(probe.si_units)
        if per_metre is None:
            raise ValueError(
                f"probe.si_units must be one of {tuple(_UNITS_PER_METRE)}, got {probe.si_units!r}"
            )
        positions = np.asarray(probe.contact_positions, dtype=np.float64) / per_metre
        fields: dict[str, Any] = {}
        for key in _PROBE_ANNOTATIONS:
            if key in probe.annotations:
                value = probe.annotations[key]
                fields[key] = tuple(value) if key == "adc_range" else value
        for key in ("can_stimulate", "can_record"):
            if key in probe.contact_annotations:
                fields[key] = np.asarray(probe.contact_annotations[key], dtype=bool)
        if probe.device_channel_indices is not None:
            channels = np.asarray(probe.device_channel_indices)
            wired = np.flatnonzero(channels >= 0)
            fields["recording_electrodes"] = wired[np.argsort(channels[wired], kind="stable")]
        if probe.contact_ids is not None and any(str(i) != "" for i in probe.contact_ids):
            fields["contact_ids"] = tuple(str(i) for i in probe.contact_ids)
        if probe.name:
            fields["name"] = str(probe.name)
        if "electrode_radius" not in kw:
            fields.update(cls._shape_from_probe(probe, per_metre))
        fields.update(kw)
        return cls(positions, **fields)

    @staticmethod
    def _shape_from_probe(probe, per_metre):
        shapes = set(np.asarray(probe.contact_shapes).tolist())
        params = list(probe.contact_shape_params)
        if shapes == {"circle"}:
            sizes = {float(p["radius"]) for p in params}
            if len(sizes) == 1:
                return {"electrode_shape": "circle", "electrode_radius": sizes.pop() / per_metre}
        elif shapes == {"square"}:
            sizes = {float(p["width"]) for p in params}
            if len(sizes) == 1:
                return {"electrode_shape": "square", "electrode_radius": sizes.pop() / 2.0 / per_metre}
        raise ValueError(
            "probe contacts must all be circles of one radius or squares of one width "
            f"(got shapes {sorted(shapes)}); pass electrode_radius= (and electrode_shape=) "
            "to set the electrode size yourself"
        )

    def to_probe(self):
        """This array as a ``probeinterface.Probe`` (positions in um).

        A planar array (all z = 0) gives a 2D probe, otherwise a 3D one. Contacts keep
        ``contact_ids``, shape and size; ``device_channel_indices`` give each recording
        electrode its channel (its place in :attr:`recording_electrodes`) and -1 to the
        others. ``can_stimulate`` / ``can_record`` are contact annotations, and the front
        end (sampling_rate, noise_rms, adc_bits, adc_range, max_recording_channels) probe
        annotations, so :meth:`from_probe` gives this array back (positions to float
        rounding).

        Returns
        -------
        probeinterface.Probe
        """
        import probeinterface

        planar = bool(np.all(self.positions[:, 2] == 0.0))
        ndim = 2 if planar else 3
        probe = probeinterface.Probe(ndim=ndim, si_units="um", name=self.name or None)
        positions_um = self.positions[:, :ndim] * 1e6
        if self.electrode_shape == "circle":
            shape_params = {"radius": self.electrode_radius * 1e6}
        else:
            shape_params = {"width": 2.0 * self.electrode_radius * 1e6}
        ids = self.contact_ids if self.contact_ids is not None else [str(i) for i in range(self.n_electrodes)]
        kwargs = {}
        if ndim == 3:
            # contacts face +z (the tissue side of a planar MEA)
            axes = np.zeros((self.n_electrodes, 2, 3))
            axes[:, 0, 0] = 1.0
            axes[:, 1, 1] = 1.0
            kwargs["plane_axes"] = axes
        probe.set_contacts(positions_um, shapes=self.electrode_shape, shape_params=shape_params,
                           contact_ids=list(ids), **kwargs)
        channels = np.full(self.n_electrodes, -1, dtype=np.int64)
        channels[self.recording_electrodes] = np.arange(self.n_recording)
        probe.set_device_channel_indices(channels)
        probe.annotate_contacts(can_stimulate=self.can_stimulate.copy(),
                                can_record=self.can_record.copy())
        probe.annotate(sampling_rate=self.sampling_rate, noise_rms=self.noise_rms,
                       adc_bits=self.adc_bits, adc_range=list(self.adc_range),
                       max_recording_channels=self.max_recording_channels)
        return probe

    # ------------------------------------------------------------------ new arrays
    def replace(self, **changes) -> ElectrodeArray:
        """A new array with ``changes`` applied to the fields, validated as in the constructor.

        Examples
        --------
        >>> ElectrodeArray.mea60().replace(noise_rms=0.0, adc_bits=None).adc_step
        0.0
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"replace got unknown fields {unknown}; fields are "
                            f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def route(self, electrodes) -> ElectrodeArray:
        """A new array recording exactly ``electrodes``, in that channel order.

        Parameters
        ----------
        electrodes : int array of shape (n_channels,)
            Electrode indices: in 0..n_electrodes-1, recordable, unique, at most
            ``max_recording_channels`` of them.

        Examples
        --------
        >>> ElectrodeArray.mea60().route([5, 2, 9]).recording_electrodes.tolist()
        [5, 2, 9]
        """
        routed = _as_electrode_indices("electrodes", electrodes, self.n_electrodes)
        _check_routing("electrodes", routed, self.can_record, self.max_recording_channels)
        return self.replace(recording_electrodes=routed)

    def select(self, k: int, strategy: str = "random", random_state=None) -> ElectrodeArray:
        """A new array recording only ``k`` of the currently routed recording electrodes.

        Everything else (geometry, stimulation, front end) is unchanged. The chosen
        electrodes are recorded in ascending electrode index.

        Parameters
        ----------
        k : int, 1 <= k <= n_recording
        strategy : {"random", "spread"}, default "random"
            "random": ``k`` uniformly without replacement, drawn from ``random_state``.
            "spread": deterministic farthest-point sampling over the recording positions,
            starting at the electrode nearest their centroid, each next electrode the one
            farthest from those already chosen (ties to the lowest electrode index). The
            choices for growing ``k`` are nested, and cover the array evenly.
        random_state : None, int, Generator or SeedSequence
            Used by "random" only.

        Returns
        -------
        ElectrodeArray with ``n_recording == k``.

        Examples
        --------
        >>> mea = ElectrodeArray.mea60()
        >>> mea.select(4, strategy="spread").contact_ids is not None
        True
        >>> (mea.select(5, random_state=0) == mea.select(5, random_state=0))
        True
        """
        n = self.n_recording
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"k must be an integer between 1 and {n} (the recording electrodes), "
                            f"got {type(k).__name__}")
        if not 1 <= k <= n:
            raise ValueError(f"k must be between 1 and {n} (the recording electrodes), got {k}")
        if strategy == "random":
            rng = check_random_state(random_state)
            chosen = self.recording_electrodes[rng.choice(n, size=int(k), replace=False)]
        elif strategy == "spread":
            ordered = np.sort(self.recording_electrodes)
            chosen = ordered[_farthest_point_order(self.positions[ordered], int(k))]
        else:
            raise ValueError(f"strategy must be one of {_SELECT_STRATEGIES}, got {strategy!r}")
        return self.replace(recording_electrodes=np.sort(chosen))

    # ------------------------------------------------------------------ physics
    def acquire(self, clean, random_state=None) -> np.ndarray:
        """The analog front end: add noise, clip to the ADC range, quantise.

        ``out = Q(clip(clean + noise_rms * N(0, 1), low, high))`` with a mid-tread uniform
        quantiser of step ``adc_step = (high - low) / 2**adc_bits``: levels at
        ``low + j * adc_step``, j = 0 .. 2**adc_bits - 1 (for a symmetric range, 0 V is
        a level and the top level is ``high - adc_step``), nearest level chosen. With
        ``adc_bits=None`` values are only clipped.

        Parameters
        ----------
        clean : array of shape (n_samples, n_recording), V
            Noise-free signal at the recording electrodes, finite.
        random_state : None, int, Generator or SeedSequence
            Noise source; ``n_samples * n_recording`` standard normals are drawn when
            ``noise_rms > 0``, none otherwise.

        Returns
        -------
        float64 array of shape (n_samples, n_recording), V

        Examples
        --------
        >>> import numpy as np
        >>> mea = ElectrodeArray.mea60(noise_rms=0.0)
        >>> out = mea.acquire(np.full((2, 60), 1e-3), random_state=0)
        >>> bool(np.all(np.abs(out - 1e-3) <= mea.adc_step / 2))
        True
        """
        try:
            data = np.array(clean, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("clean must be a real array of shape (n_samples, n_recording) in V") from exc
        if data.ndim != 2 or data.shape[1] != self.n_recording:
            raise ValueError(
                f"clean must have shape (n_samples, {self.n_recording}) (n_recording channels), "
                f"got {data.shape}"
            )
        if not np.all(np.isfinite(data)):
            raise ValueError("clean must be finite (no NaN or inf)")
        rng = check_random_state(random_state)
        if self.noise_rms > 0.0 and data.size:
            noise = rng.standard_normal(data.shape)
            noise *= self.noise_rms
            data += noise
        low, high = self.adc_range
        np.clip(data, low, high, out=data)
        if self.adc_bits is not None:
            step = self.adc_step
            codes = np.rint((data - low) / step)
            np.clip(codes, 0.0, 2.0**self.adc_bits - 1.0, out=codes)
            data = low + codes * step
        return data

    def distances_to(self, points, electrodes=None) -> np.ndarray:
        """Euclidean distances from ``points`` to every electrode (or to ``electrodes``).

        Parameters
        ----------
        points : array of shape (n_points, 3) or (n_points, 2), m
            2D points lie in z = 0.
        electrodes : sequence of int, optional
            Electrode indices (default: all, in order).

        Returns
        -------
        array of shape (n_points, n_electrodes) or (n_points, len(electrodes)), m

        Examples
        --------
        >>> g = ElectrodeArray.grid(1, 2, 100e-6)
        >>> (g.distances_to([[0.0, 0.0, 30e-6]]) * 1e6).round(2).tolist()  # um
        [[58.31, 58.31]]
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (n_points, 3) or (n_points, 2) (m), got {pts.shape}")
        positions = self.positions
        if electrodes is not None:
            index = np.asarray(electrodes)
            if index.ndim != 1 or index.dtype.kind not in "iu" or (
                    index.size and (index.min() < 0 or index.max() >= self.n_electrodes)):
                raise ValueError(f"electrodes must be indices in [0, n_electrodes) = "
                                 f"[0, {self.n_electrodes}), got {electrodes!r}")
            positions = positions[index]
        if pts.shape[0] == 0:
            return np.zeros((0, positions.shape[0]))
        pts = _as_positions("points", pts)
        # one coordinate at a time: memory (n_points, n_electrodes), no (.., .., 3) temporary,
        # and no scipy.spatial import (slow to load) on a simulator's start-up path
        squared = np.zeros((pts.shape[0], positions.shape[0]))
        for k in range(3):
            squared += np.subtract.outer(pts[:, k], positions[:, k]) ** 2
        return np.sqrt(squared)

    # ------------------------------------------------------------------ value semantics
    def _key(self):
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def __eq__(self, other):
        if not isinstance(other, ElectrodeArray):
            return NotImplemented
        for a, b in zip(self._key(), other._key()):
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    def __hash__(self):
        return hash(tuple((v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v
                          for v in self._key()))

    def __reduce__(self):
        # rebuild through the constructor so unpickled arrays are read-only again
        return (self.__class__, self._key())

    def __repr__(self):
        adc = "ideal ADC" if self.adc_bits is None else f"{self.adc_bits}-bit ADC"
        label = f"{self.name!r}, " if self.name else ""
        return (f"ElectrodeArray({label}{self.n_electrodes} electrodes, {self.n_recording} recording, "
                f"{self.n_stimulating} stimulating, {self.sampling_rate:g} Hz, "
                f"noise {self.noise_rms * 1e6:g} uV rms, {adc})")
