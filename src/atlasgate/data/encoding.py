"""A fixed numeric encoding of rows, learned from the baseline and stored in the profile.

The novelty scorer, the label model, near-duplicate search and spectral scores all
work on this one representation, so that a profile never needs the rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from atlasgate.data.schema import CATEGORICAL, NUMERIC, TEXT, Column, numeric_values, text_values

MAX_ONE_HOT = 30
CLIP = 1e3


@dataclass
class Encoder:
    """Standardised numbers, one-hot categories, and length/word counts for text."""

    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    text: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @classmethod
    def learn(cls, frame: pd.DataFrame, columns: list[Column]) -> Encoder:
        enc = cls()
        for col in columns:
            series = frame[col.name]
            if col.kind == NUMERIC:
                values = numeric_values(series)
                finite = values[np.isfinite(values)]
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 1.0
                enc.numeric[col.name] = (mean, std if std > 1e-12 else 1.0)
            elif col.kind == CATEGORICAL:
                counts = series.dropna().astype(str).value_counts()
                enc.categories[col.name] = [str(v) for v in counts.index[:MAX_ONE_HOT]]
            elif col.kind == TEXT:
                lengths, words = _text_stats(series)
                enc.text[col.name] = (
                    float(lengths.mean()),
                    float(lengths.std()) or 1.0,
                    float(words.mean()),
                    float(words.std()) or 1.0,
                )
            else:
                continue
            enc.order.append(col.name)
        return enc

    @property
    def names(self) -> list[str]:
        """One name per output dimension, to explain which features a finding involves."""
        out: list[str] = []
        for name in self.order:
            if name in self.numeric:
                out.append(name)
            elif name in self.categories:
                out.extend(f"{name}={v}" for v in self.categories[name])
            else:
                out.extend((f"len({name})", f"words({name})"))
        return out

    def source_of(self) -> list[str]:
        """The column each output dimension came from."""
        out: list[str] = []
        for name in self.order:
            if name in self.categories:
                out.extend([name] * len(self.categories[name]))
            elif name in self.text:
                out.extend([name, name])
            else:
                out.append(name)
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts: list[np.ndarray] = []
        rows = len(frame)
        for name in self.order:
            present = name in frame.columns
            if name in self.numeric:
                mean, std = self.numeric[name]
                values = numeric_values(frame[name]) if present else np.full(rows, mean)
                values = np.where(np.isfinite(values), values, mean)
                parts.append(np.clip((values - mean) / std, -CLIP, CLIP)[:, None])
            elif name in self.categories:
                vocab = self.categories[name]
                block = np.zeros((rows, len(vocab)))
                if present:
                    index = {v: i for i, v in enumerate(vocab)}
                    for r, value in enumerate(frame[name].astype(str)):
                        j = index.get(value)
                        if j is not None:
                            block[r, j] = 1.0
                parts.append(block)
            else:
                lmean, lstd, wmean, wstd = self.text[name]
                if present:
                    lengths, words = _text_stats(frame[name])
                else:
                    lengths, words = np.full(rows, lmean), np.full(rows, wmean)
                parts.append(np.column_stack([(lengths - lmean) / lstd, (words - wmean) / wstd]))
        if not parts:
            return np.zeros((rows, 0))
        return np.hstack(parts)

    def as_record(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "numeric": {k: list(v) for k, v in self.numeric.items()},
            "categories": self.categories,
            "text": {k: list(v) for k, v in self.text.items()},
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Encoder:
        return cls(
            numeric={k: (float(v[0]), float(v[1])) for k, v in record["numeric"].items()},
            categories={k: [str(x) for x in v] for k, v in record["categories"].items()},
            text={k: tuple(float(x) for x in v) for k, v in record["text"].items()},  # type: ignore[misc]
            order=list(record["order"]),
        )


def _text_stats(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    text = text_values(series)
    lengths = text.str.len().to_numpy(dtype=float)
    words = text.str.split().str.len().fillna(0).to_numpy(dtype=float)
    return lengths, words
