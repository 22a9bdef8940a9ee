"""Argument checks shared by the distill modules: each raises naming the parameter and its range."""

from __future__ import annotations

import math
import numbers

__all__ = ["count", "in_range", "nonnegative", "positive", "real"]


def real(name, value):
    """``value`` as a finite float, else TypeError / ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {value}")
    return value


def positive(name, value, unit="s"):
    """A finite float > 0 (in ``unit``)."""
    value = real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0 ({unit}), got {value}")
    return value


def nonnegative(name, value, unit):
    """A finite float >= 0 (in ``unit``)."""
    value = real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0 ({unit}), got {value}")
    return value


def in_range(name, value, low, high, *, low_open=False):
    """A finite float in [low, high] (or (low, high] with ``low_open``)."""
    value = real(name, value)
    if (value <= low if low_open else value < low) or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    return value


def count(name, value, minimum=1):
    """An int >= ``minimum`` (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value
