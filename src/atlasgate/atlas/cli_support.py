"""What every ATLAS-related command shares: error reporting and the optional full data file."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from atlasgate.atlas.data import AtlasData, atlas_data_path, load_atlas_data
from atlasgate.atlas.index import UnknownIdError
from atlasgate.errors import AtlasGateError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn the errors users cause into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (AtlasGateError, UnknownIdError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]


def optional_atlas_data(option: str | None, config: str | None) -> AtlasData | None:
    path = atlas_data_path(option, config)
    return load_atlas_data(path) if path else None


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


atlas_data_option = click.option(
    "--atlas-data", "atlas_data", metavar="PATH",
    help="The full ATLAS.yaml, for descriptions and case studies (default: atlas.data "
         "in the config).",
)
config_option = click.option(
    "--config", "-c", "config", metavar="GATEWAY_YAML", type=click.Path(dir_okay=False),
    help="The gateway configuration whose enabled controls count.",
)
