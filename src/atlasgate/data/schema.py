"""Which columns are numeric, categorical, text or identifiers, decided once at profile time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
TEXT = "text"
IDENTIFIER = "identifier"
KINDS = (NUMERIC, CATEGORICAL, TEXT, IDENTIFIER)

MAX_CATEGORIES = 50
TEXT_MEAN_LENGTH = 24


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str
    dtype: str

    def as_record(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype}


def infer_kind(series: pd.Series) -> str:
    """Numbers are numeric; short repeated strings categorical; long strings text; the rest IDs."""
    if pd.api.types.is_bool_dtype(series):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(series):
        return NUMERIC
    values = series.dropna().astype(str)
    if values.empty:
        return CATEGORICAL
    distinct = values.nunique()
    if values.str.len().mean() >= TEXT_MEAN_LENGTH or values.str.contains(" ").mean() > 0.5:
        return TEXT
    if distinct <= MAX_CATEGORIES or distinct <= 0.5 * len(values):
        return CATEGORICAL
    return IDENTIFIER


def infer_columns(frame: pd.DataFrame) -> list[Column]:
    return [Column(str(c), infer_kind(frame[c]), str(frame[c].dtype)) for c in frame.columns]


def numeric_values(series: pd.Series) -> np.ndarray:
    """Floats, with anything unparseable as NaN (schema checks report those separately).

    ``-0.0`` becomes ``0.0`` (adding zero does it): the two are one value, and a file
    holding both must not count them, or key them, as two.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy() + 0.0
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float) + 0.0


def unparseable_numbers(series: pd.Series) -> np.ndarray:
    """Row positions holding a value that is present but not a number."""
    if pd.api.types.is_numeric_dtype(series):
        return np.zeros(len(series), dtype=bool)
    coerced = pd.to_numeric(series, errors="coerce")
    return (series.notna() & coerced.isna()).to_numpy()


def text_values(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("")
