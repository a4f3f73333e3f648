"""Settings of the model-access monitor, read once from ``detectors.model_access``.

Every value is checked when the gateway starts, so a typo or an impossible size
fails with the configuration line instead of surfacing as a slow or blind monitor.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from atlasgate.config.durations import parse_duration
from atlasgate.config.schema import GatewayConfig
from atlasgate.errors import ConfigError

DEFAULT_REGISTRY = "atlasgate-data/models"


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    enabled: bool = True
    registry: str = DEFAULT_REGISTRY
    window: float = 300.0  # seconds; rates and counts cover this sliding window
    buffer: int = 100  # recent distinct inputs kept per caller and model
    k: int = 5  # neighbours in the stateful (k-NN) detector
    max_callers: int = 10_000  # callers tracked at once; least recently seen are dropped
    max_instances: int = 256  # instances of one request that enter the buffers
    stateful_hits: int = 3  # k-NN hits in the window that flag a caller
    fingerprint_hits: int = 3  # fingerprint matches in the window that flag a caller
    ood_min: int = 5  # out-of-distribution inputs before the OOD rate counts
    ood_rate: float = 0.5  # OOD share that flags a caller
    membership_min: int = 3  # training-set hits before the hit rate counts
    membership_rate: float = 0.2  # hit rate that flags a caller
    burst: int = 5  # near-duplicates around one training record that flag a caller
    normality_min: int = 20  # minimum distances before the normality test runs
    normality_samples: int = 50  # most recent minimum distances the test reads
    oversized_instances: int = 1000  # instances in one request that count as oversized
    inflight_ttl: float = 30.0  # seconds after which an unanswered request stops counting
    knn_threshold: float | None = None  # overrides the registered calibration
    similarity_scale: float | None = None  # distance at which similarity is 0.5
    normality_w: float | None = None  # Shapiro-Wilk W below this flags a caller
    fingerprint_threshold: int | None = None  # shared hashes that make two inputs match

    @classmethod
    def from_config(cls, config: GatewayConfig) -> MonitorSettings:
        raw = config.detectors.get("model_access", {}) or {}
        where = _locator(config)
        if not isinstance(raw, dict):
            raise ConfigError("detectors.model_access must be a mapping of settings", *where(None))
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        if "window" not in raw:
            values["window"] = float(config.features.default_window)
        for key, value in raw.items():
            if key not in known:
                raise ConfigError(
                    f"detectors.model_access.{key}: unknown setting; known settings: "
                    f"{', '.join(sorted(known))}", *where(key))
            try:
                values[key] = _CHECKS[key](value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"detectors.model_access.{key}: {exc}", *where(key)) from None
        registry = Path(values.get("registry", DEFAULT_REGISTRY)).expanduser()
        if not registry.is_absolute():
            registry = _base_dir(config) / registry
        values["registry"] = str(registry)
        settings = cls(**values)
        if settings.k >= settings.buffer:
            raise ConfigError(
                f"detectors.model_access.k ({settings.k}) must be smaller than buffer ({settings.buffer})",
                *where("k"))
        if settings.normality_min > settings.normality_samples:
            raise ConfigError("detectors.model_access.normality_min must not exceed normality_samples",
                              *where("normality_min"))
        return settings


def _int_between(low: int, high: int) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}, got {value!r}")
        return value
    return check


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"must be a number in (0, 1], got {value!r}")
    return float(value)


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _optional(check: Any) -> Any:
    return lambda value: None if value is None else check(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a directory path, got {value!r}")
    return value


_CHECKS: dict[str, Any] = {
    "enabled": _bool,
    "registry": _path,
    "window": parse_duration,
    "buffer": _int_between(8, 4096),
    "k": _int_between(1, 64),
    "max_callers": _int_between(1, 10_000_000),
    "max_instances": _int_between(1, 100_000),
    "stateful_hits": _int_between(1, 10_000),
    "fingerprint_hits": _int_between(1, 10_000),
    "ood_min": _int_between(1, 10_000),
    "ood_rate": _fraction,
    "membership_min": _int_between(1, 10_000),
    "membership_rate": _fraction,
    "burst": _int_between(2, 10_000),
    "normality_min": _int_between(8, 5000),
    "normality_samples": _int_between(8, 5000),
    "oversized_instances": _int_between(1, 10_000_000),
    "inflight_ttl": parse_duration,
    "knn_threshold": _optional(_positive),
    "similarity_scale": _optional(_positive),
    "normality_w": _optional(_fraction),
    "fingerprint_threshold": _optional(_int_between(1, 1000)),
}


def _base_dir(config: GatewayConfig) -> Path:
    from atlasgate.config.load import origin_of

    return origin_of(config).base_dir


def _locator(config: GatewayConfig) -> Any:
    from atlasgate.config.load import origin_of

    origin = origin_of(config)

    def where(key: str | None) -> tuple[str | None, int | None]:
        line = None
        if origin.document is not None:
            path = ("detectors", "model_access") if key is None else ("detectors", "model_access", key)
            line = origin.document.line_of(path)
        return origin.path, line

    return where
