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

import numpy as np
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


NEAR_TABLES = 8
NEAR_PROJECTIONS = 8


def near_projection(dimensions: int, radius: float, seed: int) -> dict[str, object]:
    """Random projections for near-duplicate signatures (p-stable LSH, Datar et al. 2004).

    The bucket width is twice the near radius: rows a tenth of that radius apart agree
    on one of eight tables' eight buckets almost surely, rows at the radius rarely, and
    rows at ordinary nearest-neighbour distances almost never.
    """
    rng = np.random.default_rng(seed)
    width = 2.0 * radius if radius > 0 else 1.0
    count = NEAR_TABLES * NEAR_PROJECTIONS
    return {
        "width": width,
        "directions": rng.normal(size=(count, dimensions)).round(6).tolist(),
        "offsets": rng.uniform(0.0, width, count).round(6).tolist(),
    }


def near_signatures(salt: bytes, matrix: np.ndarray, projection: dict[str, object]) -> list[tuple[str, ...]]:
    """Per row, one salted hash per table of its bucket numbers along random directions."""
    directions = np.asarray(projection["directions"], dtype=float)
    offsets = np.asarray(projection["offsets"], dtype=float)
    width = float(projection["width"])  # type: ignore[arg-type]
    if matrix.shape[0] == 0 or directions.shape[0] == 0:
        return [() for _ in range(matrix.shape[0])]
    buckets = np.floor((matrix @ directions.T + offsets) / width).astype(np.int64)
    out: list[tuple[str, ...]] = []
    for r in range(matrix.shape[0]):
        row = []
        for t in range(NEAR_TABLES):
            part = buckets[r, t * NEAR_PROJECTIONS : (t + 1) * NEAR_PROJECTIONS]
            digest = hmac.new(salt, b"near%d" % t + part.tobytes(), hashlib.sha256).hexdigest()
            row.append(digest[:DIGEST_HEX])
        out.append(tuple(row))
    return out
