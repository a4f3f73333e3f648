"""``atlasgate playbook``: the incident-response playbook for an ATLAS technique."""

from __future__ import annotations

import click

from atlasgate.atlas.cli_support import friendly_errors
from atlasgate.atlas.controls import controls_from_config
from atlasgate.atlas.index import load_index
from atlasgate.atlas.playbooks import (
    all_playbooks,
    convert_rules,
    detectable,
    find_playbook,
    playbook_refs,
    render_playbook,
)


@click.command()
@click.argument("technique", required=False)
@click.option("--config", "-c", "config", type=click.Path(dir_okay=False), metavar="GATEWAY_YAML",
              help="Complete the playbook from this gateway's controls and Sigma rules.")
@click.option("--list", "list_all", is_flag=True,
              help="List the techniques the configuration detects and their playbooks.")
@click.option("--queries", "targets", multiple=True, metavar="TARGET",
              help="Include the Sigma rules converted for TARGET (splunk, kusto, "
                   "elasticsearch, esql, sqlite); repeatable. Needs --config.")
@friendly_errors
def playbook(technique: str | None, config: str | None, list_all: bool,
             targets: tuple[str, ...]) -> None:
    """Print the incident-response playbook for an ATLAS technique.

    TECHNIQUE is a technique ID such as AML.T0024.002, or a playbook ID such as
    PB-AML.T0024.002 as alerts carry it.
    """
    index = load_index()
    if list_all or technique is None:
        controls = controls_from_config(config, index)
        books = all_playbooks()
        for tid in detectable(controls, index):
            refs = playbook_refs([tid], index)
            click.echo(f"{tid:<14} {refs[0] if refs else 'NO PLAYBOOK':<18} "
                       f"{index.techniques[tid].name}")
        click.echo(f"\n{len(books)} playbooks shipped; show one with "
                   "`atlasgate playbook TECHNIQUE`.")
        return
    book = find_playbook(technique, index)
    selected = controls_from_config(config, index) if config else None
    tid = technique.strip()
    tid = index.technique(tid[3:] if tid.upper().startswith("PB-") else tid).id
    queries = None
    if targets and selected is not None:
        files = sorted({c.source for c in selected.covering(tid) if c.kind == "sigma"})
        queries = convert_rules(files, targets)
    click.echo(render_playbook(book, tid, index, selected, queries), nl=False)
