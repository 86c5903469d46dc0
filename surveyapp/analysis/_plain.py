"""Conversion of result dataclasses to JSON-ready plain data (no numpy types, no NaN)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Return `value` as JSON-safe Python data: NaN and infinity become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {plain_key(key): plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def plain_key(key: Any) -> Any:
    """JSON object keys must be strings; keep strings and stringify the rest."""
    return key if isinstance(key, str) else str(plain(key))


def plain_label(value: Any) -> Any:
    """A category label as a plain Python scalar (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def optional_float(value: float) -> float | None:
    """NaN (undefined) becomes None so results never carry NaN."""
    number = float(value)
    return number if math.isfinite(number) else None
