"""The profile of a trusted data set: what a new batch, or a caller's input, is compared to.

One format serves both the ingestion checks and the model-access defence: per-feature
distributions and ranges, categorical domains, cross-feature order constraints, a
novelty scorer for single rows, a label-consistency model, near-duplicate scale, and
salted hashes of the training rows. It keeps summaries and fitted weights, never rows.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from threadpoolctl import threadpool_limits

from atlasgate.data import hashing
from atlasgate.data.encoding import Encoder
from atlasgate.data.errors import DataError
from atlasgate.data.labelmodel import LabelModel
from atlasgate.data.novelty import DEFAULT_QUANTILE, NoveltyModel
from atlasgate.data.schema import (
    CATEGORICAL,
    IDENTIFIER,
    NUMERIC,
    TEXT,
    Column,
    infer_columns,
    numeric_values,
    text_values,
)

FORMAT = "atlasgate.data.profile/1"
QUANTILES = 101
CLASS_QUANTILES = 21
BINS = 10
MAX_ATOMS = 32
RANGE_MARGIN = 0.05
MAX_CONSTRAINTS = 200
SPECTRAL_Z = 6.0
MAX_MODEL_ROWS = 20_000


@dataclass
class Profile:
    rows: int
    label: str | None
    columns: list[Column]
    features: list[str]
    numeric: dict[str, dict[str, Any]]
    categorical: dict[str, dict[str, Any]]
    text: dict[str, dict[str, Any]]
    classes: list[Any]
    class_counts: list[int]
    constraints: list[tuple[str, str]]
    encoder: Encoder
    novelty_model: NoveltyModel
    label_model: LabelModel | None
    class_centres: list[list[float]]
    duplicates: dict[str, float]
    salt: bytes
    row_hashes: frozenset[str]
    near_hashes: frozenset[str] = frozenset()
    near_projection: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- learning -------------------------------------------------------------------

    @classmethod
    def learn(
        cls,
        frame: pd.DataFrame,
        label: str | None,
        *,
        source: str = "",
        novelty_quantile: float = DEFAULT_QUANTILE,
        salt: bytes | None = None,
        seed: int = 0,
    ) -> Profile:
        """Learn from trusted rows; ``label`` names the target column, or None if unlabelled."""
        # Many small matrix products: BLAS threads only add contention, measured 12x
        # slower on a busy 2-core machine.
        with threadpool_limits(limits=1):
            return cls._learn(frame, label, source, novelty_quantile, salt, seed)

    @classmethod
    def _learn(
        cls,
        frame: pd.DataFrame,
        label: str | None,
        source: str,
        novelty_quantile: float,
        salt: bytes | None,
        seed: int,
    ) -> Profile:
        if frame.shape[0] < 10:
            raise DataError(f"a baseline needs at least 10 rows, got {frame.shape[0]}", source)
        if label is not None and label not in frame.columns:
            names = ", ".join(map(str, frame.columns[:20]))
            raise DataError(f"label column {label!r} not found (columns: {names})", source)
        frame = frame.reset_index(drop=True)
        columns = infer_columns(frame)
        feature_cols = [c for c in columns if c.name != label and c.kind != IDENTIFIER]
        if not feature_cols:
            raise DataError("no usable feature columns besides the label", source)
        labels = None
        if label is not None:
            if frame[label].isna().any():
                raise DataError(f"label column {label!r} has missing values", source)
            labels = frame[label].to_numpy()
        classes, y = _classes(labels)
        numeric = {
            c.name: _numeric_stats(numeric_values(frame[c.name]), y, len(classes))
            for c in feature_cols
            if c.kind == NUMERIC
        }
        categorical = {
            c.name: _categorical_stats(frame[c.name], y, len(classes))
            for c in feature_cols
            if c.kind == CATEGORICAL
        }
        text = {c.name: _text_stats(frame[c.name]) for c in feature_cols if c.kind == TEXT}
        encoder = Encoder.learn(frame, feature_cols)
        matrix = encoder.transform(frame)
        # Fitted models learn from a sample of a very large baseline; summaries and
        # hashes always cover every row.
        fit = _sample(len(frame), seed)
        fit_y = y[fit] if y is not None else None
        novelty_model = NoveltyModel.learn(matrix[fit], quantile=novelty_quantile, seed=seed)
        label_model = LabelModel.learn(matrix[fit], fit_y, seed=seed) if fit_y is not None else None
        centres = (
            [matrix[y == k].mean(axis=0).round(6).tolist() for k in range(len(classes))]
            if y is not None
            else [matrix.mean(axis=0).round(6).tolist()]
        )
        features = [c.name for c in feature_cols]
        numeric_names = frozenset(numeric)
        salt = salt if salt is not None else secrets.token_bytes(16)
        hashes = hashing.hash_frame(salt, features, numeric_names, frame)
        radius = _near_radius(matrix[fit])
        projection = hashing.near_projection(matrix.shape[1], radius, seed)
        near = hashing.near_signatures(salt, matrix, projection)
        return cls(
            rows=int(frame.shape[0]),
            label=label,
            columns=columns,
            features=features,
            numeric=numeric,
            categorical=categorical,
            text=text,
            classes=classes,
            class_counts=np.bincount(y, minlength=len(classes)).tolist() if y is not None else [],
            constraints=_order_constraints(frame, numeric),
            encoder=encoder,
            novelty_model=novelty_model,
            label_model=label_model,
            class_centres=centres,
            duplicates=_duplicate_scale(matrix, hashes, near, radius, seed),
            salt=salt,
            row_hashes=frozenset(hashes),
            near_hashes=frozenset(h for row in near for h in row),
            near_projection=projection,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            source=source,
            extra={"spectral_rate": _spectral_rates(matrix[fit], fit_y, len(classes))},
        )

    # ---- the interface the model-access defence reads ------------------------------

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Per numeric feature, the learned bounds (observed range plus a small margin)."""
        return {name: (s["low"], s["high"]) for name, s in self.numeric.items()}

    @property
    def novelty_threshold(self) -> float:
        """Scores above this are out of distribution (about 0.5% of clean rows are)."""
        return self.novelty_model.threshold

    def encode(self, rows: pd.DataFrame | np.ndarray | Sequence[Sequence[Any]]) -> np.ndarray:
        return self.encoder.transform(self.as_frame(rows))

    def novelty(self, rows: pd.DataFrame | np.ndarray | Sequence[Sequence[Any]]) -> np.ndarray:
        """Novelty score per row; compare with ``novelty_threshold``."""
        return self.novelty_model.score(self.encode(rows))

    def hash_row(self, row: Mapping[str, Any] | Sequence[Any]) -> str:
        """The salted hash of one row's features (a mapping by name, or values in order)."""
        return hashing.hash_row(self.salt, self.features, frozenset(self.numeric), row)

    def hash_rows(self, frame: pd.DataFrame) -> list[str]:
        return hashing.hash_frame(self.salt, self.features, frozenset(self.numeric), frame)

    def near_matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows lie about as close to a training row as near-copies do (LSH)."""
        if not self.near_projection:
            return np.zeros(len(frame), dtype=bool)
        matrix = self.encoder.transform(frame)
        signatures = hashing.near_signatures(self.salt, matrix, self.near_projection)
        return np.array([any(h in self.near_hashes for h in row) for row in signatures], dtype=bool)

    def contains(self, row: Mapping[str, Any] | Sequence[Any]) -> bool:
        """Whether this exact row was in the baseline."""
        return self.hash_row(row) in self.row_hashes

    def as_frame(self, rows: pd.DataFrame | np.ndarray | Sequence[Sequence[Any]]) -> pd.DataFrame:
        if isinstance(rows, pd.DataFrame):
            return rows
        array = np.asarray(rows, dtype=object)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != len(self.features):
            raise DataError(
                f"rows must have {len(self.features)} values in profile feature order "
                f"({', '.join(self.features[:8])}{', …' if len(self.features) > 8 else ''})"
            )
        frame = pd.DataFrame(array, columns=self.features)
        for name in self.numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        return frame

    # ---- storage --------------------------------------------------------------------

    def as_record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created": self.created,
            "source": self.source,
            "rows": self.rows,
            "label": self.label,
            "columns": [c.as_record() for c in self.columns],
            "features": self.features,
            "numeric": self.numeric,
            "categorical": self.categorical,
            "text": self.text,
            "classes": self.classes,
            "class_counts": self.class_counts,
            "constraints": [list(c) for c in self.constraints],
            "encoder": self.encoder.as_record(),
            "novelty": self.novelty_model.as_record(),
            "label_model": self.label_model.as_record() if self.label_model else None,
            "class_centres": self.class_centres,
            "duplicates": self.duplicates,
            "hashing": {
                "method": "HMAC-SHA256 of canonical feature values, truncated to 128 bits",
                "salt": self.salt.hex(),
                "rows": sorted(self.row_hashes),
                "near_projection": self.near_projection,
                "near": sorted(self.near_hashes),
            },
            "extra": self.extra,
        }

    def save(self, path: str | Path) -> None:
        data = orjson.dumps(self.as_record(), option=orjson.OPT_SERIALIZE_NUMPY)
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise DataError("no such profile file", name) from None
        except OSError as exc:
            raise DataError(f"cannot read profile: {exc.strerror or exc}", name) from None
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"profile is not valid JSON: {exc}", name) from None
        return cls.from_record(record, name)

    @classmethod
    def from_record(cls, record: Any, name: str = "<profile>") -> Profile:
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise DataError(f"not an AtlasGate data profile (expected format {FORMAT})", name)
        try:
            label_model = record["label_model"]
            return cls(
                rows=int(record["rows"]),
                label=record["label"],
                columns=[Column(**c) for c in record["columns"]],
                features=list(record["features"]),
                numeric=record["numeric"],
                categorical=record["categorical"],
                text=record["text"],
                classes=list(record["classes"]),
                class_counts=[int(c) for c in record["class_counts"]],
                constraints=[(str(a), str(b)) for a, b in record["constraints"]],
                encoder=Encoder.from_record(record["encoder"]),
                novelty_model=NoveltyModel.from_record(record["novelty"]),
                label_model=LabelModel.from_record(label_model) if label_model else None,
                class_centres=record["class_centres"],
                duplicates={k: float(v) for k, v in record["duplicates"].items()},
                salt=bytes.fromhex(record["hashing"]["salt"]),
                row_hashes=frozenset(record["hashing"]["rows"]),
                near_hashes=frozenset(record["hashing"].get("near", [])),
                near_projection=record["hashing"].get("near_projection", {}),
                created=record.get("created", ""),
                source=record.get("source", ""),
                extra=record.get("extra", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"profile is incomplete or corrupt ({type(exc).__name__}: {exc})", name) from None


# ---- summaries ---------------------------------------------------------------------


def _classes(labels: np.ndarray | None) -> tuple[list[Any], np.ndarray | None]:
    if labels is None:
        return [], None
    keys = np.array([_plain(v) for v in labels], dtype=object)
    as_text = np.array([str(v) for v in keys])
    _, first, y = np.unique(as_text, return_index=True, return_inverse=True)
    return [keys[i] for i in first], y


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _numeric_stats(values: np.ndarray, y: np.ndarray | None, k: int) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    missing = float(1.0 - finite.size / max(values.size, 1))
    if finite.size == 0:
        finite = np.zeros(1)
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    integer = bool(np.all(np.equal(np.mod(finite, 1), 0)))
    low = lo - RANGE_MARGIN * span
    high = hi + RANGE_MARGIN * span
    if lo >= 0 > low:
        low = 0.0
    quantiles = np.quantile(finite, np.linspace(0, 1, QUANTILES))
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1))[1:-1])
    stats: dict[str, Any] = {
        "min": lo,
        "max": hi,
        "low": float(low),
        "high": float(high),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "missing": missing,
        "integer": integer,
        "quantiles": quantiles.round(10).tolist(),
        "edges": edges.round(10).tolist(),
    }
    if y is not None:
        ok = np.isfinite(values)
        bins = np.searchsorted(edges, values[ok], side="right")
        counts = np.zeros((len(edges) + 1, k), dtype=int)
        np.add.at(counts, (bins, y[ok]), 1)
        stats["bin_class_counts"] = counts.tolist()
        stats["class_quantiles"] = [
            np.quantile(values[ok][y[ok] == c], np.linspace(0, 1, CLASS_QUANTILES)).round(10).tolist()
            if np.any(y[ok] == c)
            else []
            for c in range(k)
        ]
        stats["class_rows"] = np.bincount(y[ok], minlength=k).tolist()
    uniques, counts_ = np.unique(finite, return_counts=True)
    repeated = counts_ >= 2
    if repeated.any():
        order = np.argsort(-counts_[repeated])[:MAX_ATOMS]
        atom_values = uniques[repeated][order]
        atoms: dict[str, Any] = {}
        for v in atom_values:
            mask = values == v
            per_class = np.bincount(y[mask], minlength=k).tolist() if y is not None else []
            atoms[repr(float(v))] = {"count": int(mask.sum()), "classes": per_class}
        stats["atoms"] = atoms
        # A value not listed occurred at most this often (the list keeps the most frequent).
        stats["atom_floor"] = int(counts_[repeated][order[-1]]) if int(repeated.sum()) > MAX_ATOMS else 1
    else:
        stats["atoms"] = {}
        stats["atom_floor"] = 1
    return stats


def _categorical_stats(series: pd.Series, y: np.ndarray | None, k: int) -> dict[str, Any]:
    values = series.astype("string").fillna("\x00missing")
    counts = values.value_counts()
    stats: dict[str, Any] = {
        "counts": {str(v): int(c) for v, c in counts.items() if v != "\x00missing"},
        "missing": float((values == "\x00missing").mean()),
    }
    if y is not None:
        per_class: dict[str, list[int]] = {}
        arr = values.to_numpy()
        for v in stats["counts"]:
            per_class[v] = np.bincount(y[arr == v], minlength=k).tolist()
        stats["class_counts"] = per_class
    return stats


def _text_stats(series: pd.Series) -> dict[str, Any]:
    text = text_values(series)
    lengths = text.str.len().to_numpy(dtype=float)
    return {
        "length_quantiles": np.quantile(lengths, np.linspace(0, 1, QUANTILES)).tolist(),
        "missing": float(series.isna().mean()),
    }


def _order_constraints(frame: pd.DataFrame, numeric: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs (a, b) where a ≤ b held on every baseline row and was not mostly a tie."""
    names = [n for n, s in numeric.items() if s["max"] > s["min"] and s["missing"] == 0]
    if len(names) < 2:
        return []
    full = np.column_stack([numeric_values(frame[n]) for n in names])
    matrix = full[_sample(full.shape[0], 0)]
    found: list[tuple[float, str, str]] = []
    for i in range(len(names)):
        a = matrix[:, i : i + 1]
        le = np.all(a <= matrix, axis=0)
        strict = np.mean(a < matrix, axis=0)
        for j in np.flatnonzero(le & (strict >= 0.99)):
            if j != i:
                gap = float(np.median((matrix[:, j] - matrix[:, i]) / (np.std(matrix[:, j]) + 1e-12)))
                found.append((gap, names[i], names[j]))
    found.sort()
    index = {name: i for i, name in enumerate(names)}
    held = [(a, b) for _, a, b in found if np.all(full[:, index[a]] <= full[:, index[b]])]
    return held[:MAX_CONSTRAINTS]


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= MAX_MODEL_ROWS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_MODEL_ROWS, replace=False))


def _duplicate_sample(matrix: np.ndarray) -> np.ndarray:
    n = matrix.shape[0]
    return matrix if n <= 3000 else matrix[np.random.default_rng(0).choice(n, 3000, replace=False)]


def _nearest_distances(sample: np.ndarray) -> np.ndarray:
    sq = np.sum(sample**2, axis=1)
    d2 = sq[:, None] - 2 * sample @ sample.T + sq[None, :]
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.clip(d2.min(axis=1), 0, None))


def _near_radius(matrix: np.ndarray) -> float:
    """Half the 1st percentile of nearest-neighbour distances: closer than rows ever are."""
    nearest = _nearest_distances(_duplicate_sample(matrix))
    positive = nearest[nearest > 1e-9]
    return float(np.quantile(positive, 0.01) * 0.5) if positive.size else 0.0


def _spectral_rates(matrix: np.ndarray, y: np.ndarray | None, k: int) -> list[float]:
    """Per class, how often clean rows sit beyond the spectral cut on the class's own top direction."""
    from atlasgate.data.stats import robust_z

    if y is None:
        return []
    rates = []
    for c in range(k):
        members = matrix[y == c]
        if members.shape[0] < 30 or members.shape[1] < 2:
            rates.append(0.02)
            continue
        centred = members - members.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        z = np.abs(robust_z(centred @ vt[0]))
        rates.append(float(max(np.mean(z > SPECTRAL_Z), 1.0 / members.shape[0])))
    return rates


def _duplicate_scale(
    matrix: np.ndarray, hashes: list[str], near: list[tuple[str, ...]], radius: float, seed: int
) -> dict[str, float]:
    """How often the baseline itself repeats rows, and the distance that counts as 'near'.

    ``near_replay_rate`` is how often a fresh clean row shares a near signature with a
    training row: measured between two halves of the baseline and doubled, since the
    chance grows with the number of rows it is compared to.
    """
    n = matrix.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    half_a, half_b = order[: n // 2], order[n // 2 :]
    seen = {h for i in half_a for h in near[i]}
    exact_a = {hashes[i] for i in half_a}
    shared = [any(h in seen for h in near[i]) and hashes[i] not in exact_a for i in half_b]
    near_replay_rate = 2.0 * float(np.mean(shared)) if shared else 0.0
    exact_rate = 1.0 - len(set(hashes)) / max(n, 1)
    sample = _duplicate_sample(matrix)
    nearest = _nearest_distances(sample)
    # Few baseline rows fall inside the radius, so the count is smoothed upwards by two
    # standard errors and one row, as for the other rates estimated from the baseline.
    inside = float(np.sum(nearest <= radius)) if radius > 0 else exact_rate * nearest.size
    near_rate = (inside + 2.0 * math.sqrt(inside) + 1.0) / max(nearest.size, 1)
    positive = nearest[nearest > 1e-9]
    median = float(np.median(positive)) if positive.size else 0.0
    return {
        "exact_rate": float(exact_rate),
        "near_radius": radius,
        "near_ratio": radius / median if median > 0 else 0.0,
        "near_rate": near_rate,
        "sample_rows": float(sample.shape[0]),
        "near_replay_rate": near_replay_rate,
    }
