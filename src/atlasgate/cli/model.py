"""``atlasgate model``: register a model's training profile for the model-access defence."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from atlasgate.cli.output import fail
from atlasgate.errors import AtlasGateError
from atlasgate.features.model_access.settings import DEFAULT_REGISTRY


def _registry(registry: str | None, config: str | None) -> Path:
    if registry:
        return Path(registry)
    if config:
        from atlasgate.config.load import load_config
        from atlasgate.features.model_access.settings import MonitorSettings

        return Path(MonitorSettings.from_config(load_config(config)).registry)
    return Path(DEFAULT_REGISTRY)


_REGISTRY = click.option("--registry", default=None, type=click.Path(file_okay=False),
                         help=f"Model registry directory (default: the configuration's "
                              f"detectors.model_access.registry, else {DEFAULT_REGISTRY}).")
_CONFIG = click.option("-c", "--config", default=None, type=click.Path(dir_okay=False),
                       help="Gateway configuration whose registry to use.")


@click.group()
def model() -> None:
    """Models the gateway protects: training profiles and detector calibration."""


@model.command("register")
@click.argument("name")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="Training data (CSV, Parquet or JSON lines).")
@click.option("--label", default=None, help="The label (target) column, if the data has one.")
@_REGISTRY
@_CONFIG
def register_cmd(name: str, data_path: str, label: str | None, registry: str | None,
                 config: str | None) -> None:
    """Profile NAME's training data and calibrate the query-stream detectors.

    Stores the profile (ranges, novelty prototypes, salted row hashes; never the rows)
    and the thresholds in REGISTRY/NAME/. NAME is the model name callers use in the
    predict URL. The gateway reads the registry when it starts.
    """
    from threadpoolctl import threadpool_limits

    from atlasgate.data.frames import read_path
    from atlasgate.features.model_access.registry import register

    try:
        target = _registry(registry, config)
        frame = read_path(data_path)
        with threadpool_limits(limits=1):
            folder = register(name, frame, label, target, source=data_path)
    except AtlasGateError as exc:
        fail(str(exc))
    access = orjson.loads((folder / "access.json").read_bytes())
    meta = orjson.loads((folder / "model.json").read_bytes())
    click.echo(f"registered {name}: {meta['rows']} rows, {len(meta['features'])} features"
               f"{', ' + str(len(meta['classes'])) + ' classes' if meta['classes'] else ''} -> {folder}")
    click.echo(f"k-NN threshold {access['knn_threshold']:.4g}, typical nearest distance "
               f"{access['nn_median']:.4g}, normality W threshold {access['normality_w']:.3f}")
    copies = access.get("copy_queries")
    if copies is not None:
        click.echo(f"a copy trained on about {copies} natural queries agrees with a reference model "
                   "on 90% of held-out rows")
        if copies <= 10:
            click.echo("warning: so few queries copy this model that the extraction-progress warning "
                       "cannot come before a close copy exists; limit who may query it and coarsen "
                       "its scores")
    click.echo("the profile keeps salted row hashes, not rows; restart or reload the gateway to use it")


@model.command("list")
@_REGISTRY
@_CONFIG
def list_cmd(registry: str | None, config: str | None) -> None:
    """Registered models."""
    try:
        root = _registry(registry, config)
    except AtlasGateError as exc:
        fail(str(exc))
    found = sorted(p for p in root.glob("*/model.json")) if root.is_dir() else []
    if not found:
        click.echo(f"no models registered in {root}")
        return
    for path in found:
        try:
            meta = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            click.echo(f"{path.parent.name}: unreadable ({exc})")
            continue
        click.echo(f"{meta.get('name')}: {meta.get('rows')} rows, {len(meta.get('features', []))} "
                   f"features, registered {meta.get('registered')} from {meta.get('source')}")
