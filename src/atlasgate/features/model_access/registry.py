"""Registered models: a training-data profile plus the thresholds of the query-stream detectors.

A model directory (``<registry>/<name>/``) holds ``profile.json`` (the data
profile shared with the ingestion checks: ranges, novelty prototypes, salted row
hashes; never rows), ``access.json`` (detector calibration) and ``model.json``
(what was registered, from which file, when).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from atlasgate.data import hashing
from atlasgate.data.profile import Profile
from atlasgate.errors import AtlasGateError
from atlasgate.features.model_access import calibration

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PROFILE_FILE = "profile.json"
ACCESS_FILE = "access.json"
META_FILE = "model.json"


class RegistryError(AtlasGateError):
    """A model cannot be registered or loaded; the message names the file and the reason."""


@dataclass
class RegisteredModel:
    """What the monitor needs of one model, prepared for vector arithmetic on the hot path."""

    name: str
    profile: Profile
    access: dict[str, Any]
    means: np.ndarray | None  # None when some feature is not numeric: encode via the profile
    stds: np.ndarray | None
    scales: np.ndarray | None  # per-feature unit of the distance space
    lows: np.ndarray | None
    highs: np.ndarray | None
    regions: np.ndarray
    region_norms: np.ndarray
    curve: np.ndarray
    stop: np.ndarray
    numeric_names: frozenset[str]

    @classmethod
    def from_parts(cls, name: str, profile: Profile, access: dict[str, Any]) -> RegisteredModel:
        numeric = [f for f in profile.features if f in profile.encoder.numeric]
        all_numeric = len(numeric) == len(profile.features) == len(profile.encoder.order)
        means = stds = lows = highs = scales = None
        if all_numeric:
            means = np.array([profile.encoder.numeric[f][0] for f in profile.features])
            stds = np.array([profile.encoder.numeric[f][1] for f in profile.features])
            spans = np.array([profile.numeric[f]["max"] - profile.numeric[f]["min"]
                              for f in profile.features])
            raw_std = np.array([profile.numeric[f]["std"] for f in profile.features])
            scales = np.maximum(np.maximum(raw_std, spans / 8), 0.25 * float(np.median(raw_std)))
            scales[scales <= 1e-12] = 1.0
            lows = np.array([profile.numeric[f]["low"] for f in profile.features])
            highs = np.array([profile.numeric[f]["high"] for f in profile.features])
        regions = np.asarray(profile.novelty_model.centres, dtype=np.float64)
        fp = access.get("fingerprint") or {}
        return cls(
            name=name, profile=profile, access=access, means=means, stds=stds, scales=scales, lows=lows,
            highs=highs, regions=regions, region_norms=np.sum(regions**2, axis=1),
            curve=np.asarray(access.get("curve") or [[0.0, 0.0], [1.0, 1.0]], dtype=np.float64),
            stop=np.asarray(fp.get("stop") or [], dtype=np.int64),
            numeric_names=frozenset(profile.numeric),
        )

    @property
    def width(self) -> int:
        return len(self.profile.features)

    @property
    def classes(self) -> int:
        return len(self.profile.classes)

    def encode(self, rows: np.ndarray) -> np.ndarray:
        if self.means is not None and self.stds is not None:
            return np.clip((rows - self.means) / self.stds, -1e3, 1e3)
        return np.asarray(self.profile.encode(rows), dtype=np.float64)

    def metric(self, rows: np.ndarray, encoded: np.ndarray) -> np.ndarray:
        """Rows in the space where stream distances are measured.

        Each feature is divided by its spread, floored at an eighth of its range and a
        quarter of the median feature's spread, so a feature that is nearly constant in
        training does not turn a small perturbation into a long distance.
        """
        if self.scales is None:
            return encoded
        return rows / self.scales

    def out_of_distribution(self, rows: np.ndarray, encoded: np.ndarray) -> np.ndarray:
        novel = self.profile.novelty_model.score(encoded) > self.profile.novelty_threshold
        if self.lows is not None and self.highs is not None and self.scales is not None:
            # one distance unit of slack: a feature that is constant in training is not
            # "out of range" because an honest caller's value carries a little noise
            novel |= np.any((rows < self.lows - self.scales) | (rows > self.highs + self.scales), axis=1)
        return novel

    def nearest_region(self, encoded: np.ndarray) -> np.ndarray:
        d2 = self.region_norms[None, :] - 2 * encoded @ self.regions.T
        return np.argmin(d2, axis=1)

    def progress(self, coverage: float) -> float:
        """Estimated fidelity of a copy trained on natural queries with this input-space coverage."""
        return float(np.interp(coverage, self.curve[:, 0], self.curve[:, 1]))

    def row_hash(self, row: np.ndarray) -> str:
        return hashing.hash_row(self.profile.salt, self.profile.features, self.numeric_names,
                                row.tolist())

    def training_row_hash(self, row: np.ndarray) -> str | None:
        """The row's hash if it is a training row, else None.

        A value that went through float32 on the caller's side (17.99 arrives as
        17.989999771118164) is also tried at 7 significant digits, float32's precision.
        """
        digest = self.row_hash(row)
        if digest in self.profile.row_hashes:
            return digest
        rounded = np.array([float(f"{v:.7g}") for v in row.tolist()])
        if not np.array_equal(rounded, row):
            digest = self.row_hash(rounded)
            if digest in self.profile.row_hashes:
                return digest
        return None

    def is_training_row(self, row: np.ndarray) -> bool:
        return self.training_row_hash(row) is not None


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise RegistryError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
                            "(as callers name it in the predict URL)")
    return name


def register(name: str, frame: Any, label: str | None, registry: str | Path,
             source: str = "") -> Path:
    """Profile and calibrate a model's training data; write its registry directory."""
    check_name(name)
    profile = Profile.learn(frame, label, source=source)
    model = RegisteredModel.from_parts(name, profile, {})
    features = frame[profile.features]
    if model.means is not None:
        values = features.to_numpy(dtype=np.float64)
        encoded = model.encode(values)
    else:
        values = encoded = np.asarray(profile.encode(features), dtype=np.float64)
    labels = None
    if label is not None:
        labels = np.unique(frame[label].astype(str).to_numpy(), return_inverse=True)[1]
    access = calibration.calibrate(model.metric(values, encoded), encoded, labels, model.regions)
    folder = Path(registry) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        profile.save(folder / PROFILE_FILE)
        _write_json(folder / ACCESS_FILE, access)
        _write_json(folder / META_FILE, {
            "name": name, "registered": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source": source, "rows": profile.rows, "label": label, "features": profile.features,
            "classes": [str(c) for c in profile.classes],
        })
    except OSError as exc:
        raise RegistryError(f"{folder}: cannot write the model registry: {exc.strerror or exc}") from None
    return folder


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    tmp.replace(path)


def load_model(folder: Path) -> RegisteredModel:
    profile = Profile.load(folder / PROFILE_FILE)
    path = folder / ACCESS_FILE
    try:
        access = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise RegistryError(f"{path}: missing; register the model again with "
                            f"`atlasgate model register {folder.name} --data ...`") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: unreadable calibration: {exc}") from None
    if not isinstance(access, dict) or access.get("format") != calibration.FORMAT:
        raise RegistryError(f"{path}: not a model-access calibration (expected {calibration.FORMAT})")
    return RegisteredModel.from_parts(folder.name, profile, access)


def load_registry(registry: str | Path) -> dict[str, RegisteredModel]:
    """Every model registered under ``registry`` (an absent directory holds none)."""
    root = Path(registry)
    if not root.is_dir():
        return {}
    models = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / PROFILE_FILE).exists()):
        models[folder.name] = load_model(folder)
    return models
