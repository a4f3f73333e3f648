"""``atlasgate atlas``: look techniques, tactics and mitigations up in MITRE ATLAS."""

from __future__ import annotations

import textwrap

import click

from atlasgate.atlas.cli_support import (
    atlas_data_option,
    config_option,
    friendly_errors,
    optional_atlas_data,
)
from atlasgate.atlas.index import load_index, normalize_id
from atlasgate.errors import AtlasGateError


@click.group()
def atlas() -> None:
    """Browse MITRE ATLAS (the shipped index; --atlas-data adds descriptions)."""


def _wrap(text: str, indent: str = "  ") -> str:
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 96, initial_indent=indent,
                                     subsequent_indent=indent) for p in paragraphs)


@atlas.command()
@click.argument("atlas_id")
@atlas_data_option
@config_option
@friendly_errors
def show(atlas_id: str, atlas_data: str | None, config: str | None) -> None:
    """Show a technique, tactic, mitigation or case study by ID (e.g. AML.T0024.002)."""
    index = load_index()
    data = optional_atlas_data(atlas_data, config)
    key = normalize_id(atlas_id)
    if key in index.tactics:
        tactic = index.tactic(key)
        position = f"tactic {tactic.order + 1} of {len(index.tactics)}"
        click.echo(f"{tactic.id}  {tactic.name}  ({position})")
        if data:
            click.echo(_wrap(data.description(key)))
        click.echo("techniques:")
        for t in index.techniques_in(key):
            click.echo(f"  {t.id:<14} {t.name}")
        return
    if key in index.mitigations:
        m = index.mitigation(key)
        click.echo(f"{m.id}  {m.name}  ({', '.join(m.category)})")
        if data:
            click.echo(_wrap(data.description(key)))
        click.echo("mitigates:")
        for tid in m.techniques:
            use = data.mitigation_uses.get((m.id, tid), "") if data else ""
            name = index.techniques[tid].name if tid in index.techniques else ""
            click.echo(f"  {tid:<14} {name}")
            if use:
                click.echo(_wrap(use, "      "))
        return
    if key.startswith("AML.CS"):
        if data is None:
            raise AtlasGateError("case studies need the full data file (--atlas-data PATH)")
        study = next((cs for cs in data.case_studies if cs.id == key), None)
        if study is None:
            raise AtlasGateError(f"{atlas_id}: no such case study in {data.source}")
        click.echo(f"{study.id}  {study.name}  ({study.kind}, {study.date})")
        click.echo(_wrap(study.summary))
        click.echo("procedure:")
        for tid in study.techniques:
            name = index.techniques[tid].name if tid in index.techniques else ""
            click.echo(f"  {tid:<14} {name}")
        return
    t = index.technique(key)
    tactics = ", ".join(f"{index.tactics[x].name} ({x})" for x in t.tactics if x in index.tactics)
    click.echo(f"{t.id}  {t.name}")
    if t.parent:
        click.echo(f"  sub-technique of {t.parent} {index.techniques[t.parent].name}")
    click.echo(f"  tactics: {tactics}")
    click.echo(f"  maturity: {index.maturity_of(t.id)}")
    click.echo(f"  case studies: {index.case_studies_for(t.id)}"
               + (f" ({t.case_studies} directly)" if t.subtechniques else ""))
    click.echo(f"  likelihood (1-5, from maturity and case studies): {index.likelihood(t.id)}")
    if t.subtechniques:
        click.echo("  sub-techniques:")
        for s in t.subtechniques:
            click.echo(f"    {s:<14} {index.techniques[s].name}")
    mitigations = index.mitigations_for(t.id)
    if mitigations:
        click.echo("  mitigations:")
        for m in mitigations:
            click.echo(f"    {m.id:<10} {m.name}")
    if data:
        click.echo("")
        click.echo(_wrap(data.description(t.id)))
        studies = data.case_studies_using(t.id)
        if studies:
            click.echo("\n  case studies:")
            for cs in studies:
                click.echo(f"    {cs.id:<13} {cs.date[:4]}  {cs.name}")
    else:
        click.echo("  (descriptions and case studies: --atlas-data PATH/ATLAS.yaml)")


@atlas.command()
@click.argument("words", nargs=-1, required=True)
@atlas_data_option
@config_option
@friendly_errors
def search(words: tuple[str, ...], atlas_data: str | None, config: str | None) -> None:
    """Find tactics, techniques and mitigations whose ID or name has all WORDS.

    With the full data file, descriptions are searched too (listed after name matches).
    """
    index = load_index()
    data = optional_atlas_data(atlas_data, config)
    hits = index.search(" ".join(words), data.descriptions if data else None)
    if not hits:
        click.echo(f"nothing in ATLAS {index.version} matches {' '.join(words)!r}")
        raise SystemExit(1)
    for item in hits:
        kind = type(item).__name__.lower()
        click.echo(f"{item.id:<14} {kind:<10} {item.name}")


@atlas.command()
@click.option("--subtechniques/--no-subtechniques", default=False,
              help="List sub-techniques under their parent.")
@config_option
@friendly_errors
def matrix(subtechniques: bool, config: str | None) -> None:
    """The ATLAS matrix: tactics in matrix order with their techniques.

    With --config, each technique is marked with the strongest control the
    gateway has for it: [B]lock, [C]onstrain, [D]etect, [p]artial or [ ] none.
    """
    index = load_index()
    marks: dict[str, str] = {}
    if config:
        from atlasgate.atlas.controls import controls_from_config
        from atlasgate.atlas.coverage import compute_coverage

        coverage = compute_coverage(controls_from_config(config), index)
        for tid, entry in coverage.techniques.items():
            marks[tid] = "p" if entry.partial else " DCB"[int(entry.strength)]
    click.echo(f"MITRE ATLAS {index.version}: {len(index.tactics)} tactics, "
               f"{len(index.techniques)} techniques")
    for tactic in index.ordered_tactics():
        click.echo(f"\n{tactic.order + 1:>2}. {tactic.name} ({tactic.id})")
        for t in index.techniques_in(tactic.id, subtechniques=subtechniques):
            mark = f"[{marks.get(t.id, ' ')}] " if config else ""
            indent = "      " if t.parent else "    "
            click.echo(f"{indent}{mark}{t.id:<14} {t.name}")
