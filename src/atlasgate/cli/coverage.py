"""``atlasgate coverage``: what a gateway configuration covers in ATLAS, and how strongly."""

from __future__ import annotations

import json

import click

from atlasgate.atlas.cli_support import friendly_errors, write_json
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.coverage import compute_coverage
from atlasgate.atlas.index import load_index
from atlasgate.atlas.navigator import coverage_layer


@click.command()
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False),
              metavar="GATEWAY_YAML", help="The gateway configuration.")
@click.option("--layer", "layer_path", default="coverage-layer.json", show_default=True,
              metavar="PATH", help="Where to write the ATLAS Navigator layer ('-' for none).")
@click.option("--all", "show_all", is_flag=True, help="List uncovered techniques too.")
@click.option("--json", "as_json", is_flag=True, help="Print the coverage as JSON.")
@friendly_errors
def coverage(config: str, layer_path: str, show_all: bool, as_json: bool) -> None:
    """Compute ATLAS coverage from the detectors, policy rules and Sigma rules CONFIG enables."""
    index = load_index()
    controls = controls_from_config(config, index)
    result = compute_coverage(controls, index)
    if layer_path != "-":
        write_json(layer_path, coverage_layer(result, config=config))
    if as_json:
        click.echo(json.dumps({
            "config": config,
            "atlas_version": index.version,
            "counts": result.counts(),
            "techniques": {
                tid: {"strength": e.strength.label, "partial": e.partial,
                      "controls": e.names()}
                for tid, e in sorted(result.techniques.items()) if e.controls
            },
            "disabled_controls": [c.name for c in result.disabled],
            "warnings": result.warnings,
        }, indent=2))
        return
    counts = result.counts()
    total = len(index.techniques)
    covered = total - counts["none"] - counts["partial"]
    click.echo(f"{config}: {sum(c.enabled for c in controls.controls)} controls enabled, "
               f"{len(result.disabled)} disabled; ATLAS {index.version}")
    click.echo(f"covered {covered} of {total} techniques: block {counts['block']}, "
               f"constrain {counts['constrain']}, detect {counts['detect']}; "
               f"partial {counts['partial']}")
    for tactic in index.ordered_tactics():
        rows = []
        for t in index.techniques_in(tactic.id, subtechniques=True):
            entry = result.of(t.id)
            if not entry.controls and not show_all:
                continue
            label = "none" if not entry.controls else (
                f"partial:{entry.strength.label}" if entry.partial else entry.strength.label)
            names = ", ".join(entry.names()) if entry.controls else "-"
            rows.append(f"    {t.id:<14} {label:<17} {t.name} <- {names}")
        if rows:
            click.echo(f"\n  {tactic.name} ({tactic.id})")
            for row in rows:
                click.echo(row)
    if result.disabled:
        click.echo("\n  disabled (cover nothing): " + ", ".join(c.name for c in result.disabled))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if layer_path != "-":
        click.echo(f"\nNavigator layer: {layer_path} (open in the ATLAS Navigator)")
