"""Read ``gateway.yaml`` into a validated GatewayConfig, or fail with file:line: reason."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from atlasgate.config.schema import GatewayConfig
from atlasgate.config.yamlpos import PositionedYAML, load_yaml
from atlasgate.errors import ConfigError
from atlasgate.shipped import SIGMA_PACK


class ConfigErrors(ConfigError):
    """Several problems in one file, reported together so users fix them in one pass."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.reason, first.path, first.line)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


@dataclass(frozen=True)
class ConfigOrigin:
    """Where a configuration came from, so policy rules can report their own lines."""

    path: str | None
    base_dir: Path
    document: PositionedYAML | None


def read_text(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError("file not found", str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (byte {exc.start})", str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", str(path)) from None


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    source = str(path)
    return parse_config(read_text(path), source, Path(source).resolve().parent)


def parse_config(text: str, source: str, base_dir: Path) -> GatewayConfig:
    document = load_yaml(text, source)
    data: Any = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping of sections", source, 1)
    return build_config(data, ConfigOrigin(source, base_dir, document))


def build_config(data: dict[str, Any], origin: ConfigOrigin) -> GatewayConfig:
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors([_located(err, origin) for err in exc.errors()]) from None
    config = _resolve_paths(config, origin.base_dir)
    config._origin = origin  # type: ignore[attr-defined]
    return config


def origin_of(config: GatewayConfig) -> ConfigOrigin:
    origin = getattr(config, "_origin", None)
    return origin if origin is not None else ConfigOrigin(None, Path.cwd(), None)


def _located(error: Any, origin: ConfigOrigin) -> ConfigError:
    loc = tuple(p for p in error["loc"] if isinstance(p, int) or not p.startswith("function-"))
    dotted = ".".join(str(p) for p in loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and the documented sections)"
    reason = f"{dotted}: {message}" if dotted else message
    line = origin.document.line_of(loc) if origin.document else None
    return ConfigError(reason, origin.path, line)


def _resolve(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _resolve_paths(config: GatewayConfig, base: Path) -> GatewayConfig:
    audit = config.audit.model_copy(
        update={
            "path": _resolve(base, config.audit.path),
            "signing_key": _resolve(base, config.audit.signing_key),
        }
    )
    policy = config.policy.model_copy(
        update={"files": [_resolve(base, f) for f in config.policy.files]}
    )
    sigma = config.sigma.model_copy(update={"rules": [
        r if r == SIGMA_PACK else _resolve(base, r) for r in config.sigma.rules]})
    atlas = config.atlas.model_copy(
        update={"data": _resolve(base, config.atlas.data) if config.atlas.data else None}
    )
    datasets = [
        spec.model_copy(update={
            "profile": _resolve(base, spec.profile),
            "accept_dir": _resolve(base, spec.accept_dir) if spec.accept_dir else None,
        })
        for spec in config.datasets
    ]
    exporters = [e.model_copy(update={"path": _resolve(base, e.path)}) for e in config.exporters]
    return config.model_copy(update={"audit": audit, "policy": policy, "sigma": sigma, "atlas": atlas,
                                     "datasets": datasets, "exporters": exporters})
