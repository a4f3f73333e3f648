"""``atlasgate compliance``: which requirements of a framework the gateway gives evidence for."""

from __future__ import annotations

import json

import click

from atlasgate.atlas.cli_support import friendly_errors
from atlasgate.atlas.compliance import assess, framework_names, load_framework
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import load_index

_MARK = {"evidence": "[x]", "partial": "[~]", "no evidence": "[ ]", "organisational": "[-]"}


@click.command()
@click.option("--framework", "-f", "framework", metavar="NAME",
              help="nist-ai-rmf, iso-42001, owasp-llm-2025 or eu-ai-act.")
@click.option("--config", "-c", "config", type=click.Path(dir_okay=False), metavar="GATEWAY_YAML",
              help="The gateway configuration (default: the shipped defaults only).")
@click.option("--assets", type=click.Path(dir_okay=False), metavar="ASSETS_YAML",
              help="The threat model's assets file, as evidence of risk identification.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--list", "list_frameworks", is_flag=True, help="List the frameworks.")
@friendly_errors
def compliance(framework: str | None, config: str | None, assets: str | None, as_json: bool,
               list_frameworks: bool) -> None:
    """Report which requirements of a framework have evidence in this gateway and which do not."""
    if list_frameworks or not framework:
        for name in framework_names():
            click.echo(f"{name:<16} {load_framework(name).name}")
        if not framework:
            click.echo("\nchoose one with --framework NAME")
        return
    index = load_index()
    fw = load_framework(framework)
    if assets:
        from atlasgate.atlas.assets import load_assets

        load_assets(assets, index)
    results = assess(fw, controls_from_config(config, index), index, assets)
    if as_json:
        click.echo(json.dumps({
            "framework": fw.name, "source": fw.source, "config": config, "assets": assets,
            "requirements": [{
                "id": r.requirement.id, "title": r.requirement.title, "status": r.status,
                "reasoning": r.requirement.reasoning, "note": r.requirement.note,
                "checks": [{"label": c.label, "met": c.met, "evidence": c.evidence}
                           for c in r.checks],
            } for r in results],
        }, indent=2))
        return
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    click.echo(f"{fw.name}: gateway {config or '(shipped defaults)'}")
    click.echo(f"source: {fw.source}")
    click.echo("  ".join(f"{_MARK[s]} {s}: {counts.get(s, 0)}" for s in _MARK) + "\n")
    for r in results:
        click.echo(f"{_MARK[r.status]} {r.requirement.id}  {r.requirement.title}")
        click.echo(f"      why: {r.requirement.reasoning}")
        for c in r.checks:
            click.echo(f"      {'+' if c.met else '-'} {c.label}: {c.evidence}")
        if r.requirement.note:
            click.echo(f"      note: {r.requirement.note}")
