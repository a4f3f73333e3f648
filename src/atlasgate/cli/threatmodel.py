"""``atlasgate threatmodel``: ATLAS techniques per asset, the controls that cover them, the gaps."""

from __future__ import annotations

import json
from pathlib import Path

import click

from atlasgate.atlas.assets import load_assets
from atlasgate.atlas.cli_support import (
    atlas_data_option,
    friendly_errors,
    optional_atlas_data,
    write_json,
)
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import load_index
from atlasgate.atlas.navigator import threatmodel_layer
from atlasgate.atlas.report_html import render_html
from atlasgate.atlas.report_md import render_markdown
from atlasgate.atlas.threatmodel import build_threat_model
from atlasgate.errors import ConfigError

_FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown",
            ".json": "json"}


@click.command()
@click.argument("assets", type=click.Path(dir_okay=False))
@click.option("--config", "-c", "config", type=click.Path(dir_okay=False),
              metavar="GATEWAY_YAML",
              help="Gateway configuration whose controls count (default: 'gateway:' in ASSETS, "
                   "else the shipped defaults).")
@click.option("--out", "-o", "outputs", multiple=True, metavar="PATH",
              help="Write the report; the format follows the suffix (.html, .md, .json). "
                   "Repeat for several.")
@click.option("--layer", "layer", metavar="PATH", help="Also write an ATLAS Navigator layer.")
@click.option("--top", default=15, show_default=True, help="Gaps to list in the summary.")
@atlas_data_option
@friendly_errors
def threatmodel(assets: str, config: str | None, outputs: tuple[str, ...], layer: str | None,
                top: int, atlas_data: str | None) -> None:
    """Threat-model the AI assets described in ASSETS (YAML) against MITRE ATLAS."""
    for out in outputs:
        if Path(out).suffix.lower() not in _FORMATS:
            raise ConfigError("unknown report format; use .html, .md or .json", out)
    index = load_index()
    model = load_assets(assets, index)
    config = config or model.gateway
    controls = controls_from_config(config, index)
    result = build_threat_model(model, controls, index)
    data = optional_atlas_data(atlas_data, config)
    studies = None
    if data is not None:
        studies = {tid: [(cs.id, cs.name) for cs in data.case_studies_using(tid)]
                   for tid in result.technique_status()}
    for out in outputs:
        kind = _FORMATS[Path(out).suffix.lower()]
        if kind == "html":
            Path(out).write_text(render_html(result, case_studies=studies), encoding="utf-8")
        elif kind == "markdown":
            Path(out).write_text(render_markdown(result), encoding="utf-8")
        else:
            Path(out).write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    if layer:
        write_json(layer, threatmodel_layer(result))
    gaps = result.ranked_gaps()
    click.echo(f"{result.system}: {len(result.assets)} assets, "
               f"{sum(len(a.threats) for a in result.assets)} asset-technique pairs, "
               f"{len(gaps)} without any control (gateway: {config or 'shipped defaults'})")
    for n, (asset, t) in enumerate(gaps[:top], 1):
        click.echo(f"{n:>3}. risk {t.risk:>5}  {asset.id:<22} {t.technique.id:<14} "
                   f"{t.technique.name}")
    for path in [*outputs, *([layer] if layer else [])]:
        click.echo(f"wrote {path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
