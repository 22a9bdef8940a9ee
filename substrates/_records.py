"""The base of every substrate's frozen parameter dataclasses: ``from_dict`` and ``to_dict``."""

from __future__ import annotations

import dataclasses

__all__ = ["ParameterRecord"]


class ParameterRecord:
    """Mixin for frozen parameter dataclasses: build from a mapping, refusing unknown keys.

    Subclasses set ``_tuples_as_lists = True`` when :meth:`to_dict` should write tuple
    fields as lists (as TOML and JSON hold them).
    """

    _tuples_as_lists = False

    @classmethod
    def from_dict(cls, values: dict, *, where: str | None = None):
        """Build from a mapping (a TOML table), refusing keys that are not fields of the record.

        Parameters
        ----------
        values : dict
        where : str, optional
            Where the mapping came from (e.g. ``"[substrate.tissue]"``), for the error message.
        """
        if not isinstance(values, dict):
            raise TypeError(f"{where or cls.__name__} must be a mapping, got {type(values).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in {where or cls.__name__}; allowed keys are {sorted(names)}"
            )
        return cls(**values)

    def to_dict(self) -> dict:
        """The fields as a plain dict."""
        fields = dataclasses.asdict(self)
        if self._tuples_as_lists:
            return {k: (list(v) if isinstance(v, tuple) else v) for k, v in fields.items()}
        return fields
