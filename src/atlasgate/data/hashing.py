"""Salted row hashes: membership without keeping the rows.

A row's canonical text is its feature values in profile order, numbers written as
``repr(float(v))`` so that ``1``, ``1.0`` and ``"1"`` from CSV, JSON or Parquet hash
alike. HMAC-SHA256 with a per-profile salt stops anyone without the profile from
testing guesses against the hashes; whoever holds the profile can, so it is kept
as confidential as the model.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

SEPARATOR = "\x1f"
DIGEST_HEX = 32


def canonical_value(value: Any, numeric: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if numeric:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return "" if math.isnan(number) else repr(number)
    return str(value)


def hash_values(salt: bytes, values: Iterable[str]) -> str:
    text = SEPARATOR.join(values).encode("utf-8")
    return hmac.new(salt, text, hashlib.sha256).hexdigest()[:DIGEST_HEX]


def hash_row(
    salt: bytes,
    features: Sequence[str],
    numeric: frozenset[str],
    row: Mapping[str, Any] | Sequence[Any],
) -> str:
    """Hash one row given as a mapping by feature name or a sequence in feature order."""
    if isinstance(row, Mapping):
        values = [row.get(name) for name in features]
    else:
        if len(row) != len(features):
            raise ValueError(f"expected {len(features)} feature values, got {len(row)}")
        values = list(row)
    return hash_values(
        salt, (canonical_value(v, name in numeric) for name, v in zip(features, values, strict=True))
    )


def hash_frame(
    salt: bytes, features: Sequence[str], numeric: frozenset[str], frame: pd.DataFrame
) -> list[str]:
    columns = []
    for name in features:
        if name in frame.columns:
            columns.append([canonical_value(v, name in numeric) for v in frame[name].tolist()])
        else:
            columns.append([""] * len(frame))
    return [hash_values(salt, values) for values in zip(*columns, strict=True)]
