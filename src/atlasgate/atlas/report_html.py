"""The threat model as one self-contained HTML page: the coloured ATLAS matrix, the
ranked gaps, and per asset the techniques, their reasons, controls and mitigations."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from html import escape

from atlasgate import __version__
from atlasgate.atlas.assets import ACCESS
from atlasgate.atlas.threatmodel import Threat, ThreatModel

STATUS_COLOURS = {
    "none": "#e45756",
    "partial": "#f5a35c",
    "detect": "#f2d64b",
    "constrain": "#9ccf6f",
    "block": "#2e9e57",
    "n/a": "#f1f1f1",
}
STATUS_TEXT = {
    "none": "applies, no control",
    "partial": "some sub-techniques covered",
    "detect": "detected",
    "constrain": "constrained",
    "block": "blocked",
    "n/a": "does not apply",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d1d1f;
  background:#fff;line-height:1.4}
h1{font-size:1.6em;margin:0 0 4px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:.9em}
.cards{display:flex;gap:12px;margin:16px 0;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:1.6em}
.legend span{display:inline-block;margin-right:14px;font-size:.85em}
.legend i{display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:middle;
  margin-right:4px;border:1px solid #bbb}
.matrix{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(128px,1fr);gap:4px;
  overflow-x:auto;padding-bottom:8px}
.tactic h3{font-size:.78em;margin:0 0 4px;padding:6px;background:#333;color:#fff;border-radius:4px;
  min-height:2.6em}
.tech{font-size:.7em;padding:4px 5px;margin-bottom:3px;border-radius:3px;border:1px solid #ccc}
.tech.sub{margin-left:10px}
.tech .id{font-family:ui-monospace,monospace;display:block;opacity:.8}
table{border-collapse:collapse;width:100%;font-size:.86em;margin-top:8px}
th,td{border:1px solid #ddd;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f6f6f6}
.status{display:inline-block;padding:1px 7px;border-radius:10px;font-size:.85em;white-space:nowrap}
code{font-family:ui-monospace,monospace;font-size:.95em}
ul.reasons{margin:6px 0 0 0;padding-left:18px;font-size:.9em}
.asset-facts{color:#444}
.in-place{font-weight:600;color:#1a7f43}
"""


def _status(status: str) -> str:
    return (f'<span class="status" style="background:{STATUS_COLOURS[status]}">'
            f"{escape(STATUS_TEXT[status])}</span>")


def _controls(t: Threat) -> str:
    if not t.controls:
        return "—"
    items = []
    for c in t.controls:
        via = "" if c.via == "direct" else f", via {c.via}"
        items.append(f"{escape(c.control.name)} <small>({c.control.strength.label}{via})</small>")
    return "<br>".join(items)


def _mitigation(mid: str, name: str, model: ThreatModel, *, long: bool = False) -> str:
    label = f"{mid} {escape(name)}" if long else mid
    how = model.in_place.get(mid)
    if how:
        return (f'<span class="in-place" title="{escape(name)}: in place, {escape(how)}">'
                f"{label} ✓</span>")
    return f'<span title="{escape(name)}">{label}</span>'


def _studies(studies: list[tuple[str, str]]) -> str:
    if not studies:
        return "<td>—</td>"
    shown = "<br>".join(f"{escape(i)} {escape(n)}" for i, n in studies[:3])
    more = f"<br>… {len(studies) - 3} more" if len(studies) > 3 else ""
    return f"<td>{shown}{more}</td>"


def _matrix(model: ThreatModel) -> str:
    status = model.technique_status()
    assets_by_tid: dict[str, list[str]] = {}
    for a in model.assets:
        for t in a.threats:
            assets_by_tid.setdefault(t.technique.id, []).append(a.asset.id)
    columns = []
    for tactic in model.index.ordered_tactics():
        cells = [f'<h3 title="{tactic.id}">{escape(tactic.name)}</h3>']
        for tech in model.index.techniques_in(tactic.id, subtechniques=True):
            if tech.parent and tech.id not in status:
                continue
            st = status.get(tech.id, "n/a")
            who = ", ".join(assets_by_tid.get(tech.id, []))
            title = f"{tech.id} {tech.name}: {STATUS_TEXT[st]}" + (f" ({who})" if who else "")
            cells.append(
                f'<div class="tech{" sub" if tech.parent else ""}" data-technique="{tech.id}" '
                f'data-status="{st}" style="background:{STATUS_COLOURS[st]}" '
                f'title="{escape(title)}"><span class="id">{tech.id}</span>'
                f'{escape(tech.name)}</div>')
        columns.append(f'<div class="tactic" data-tactic="{tactic.id}">{"".join(cells)}</div>')
    return f'<div class="matrix" id="matrix">{"".join(columns)}</div>'


def _in_place(model: ThreatModel) -> str:
    if not model.in_place:
        return ""
    items = "".join(f"<li><b>{mid}</b> {escape(model.index.mitigations[mid].name)}: "
                    f"{escape(how)}</li>" for mid, how in sorted(model.in_place.items())
                    if mid in model.index.mitigations)
    return f'<h2>ATLAS mitigations the gateway puts in place</h2><ul id="in-place">{items}</ul>'


def render_html(model: ThreatModel, *, top: int = 20,
                case_studies: Mapping[str, list[tuple[str, str]]] | None = None) -> str:
    """The report; ``case_studies`` (technique → [(id, name)]) adds real incidents to the gaps."""
    gaps = model.ranked_gaps()
    applicable = model.technique_status()
    today = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Threat model: {escape(model.system)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Threat model: {escape(model.system)}</h1>",
        f'<div class="meta">MITRE ATLAS {escape(model.index.version)} · assets '
        f"<code>{escape(model.source)}</code> · gateway "
        + (f"<code>{escape(model.config)}</code>" if model.config else "defaults only")
        + f" · generated {today} by AtlasGate {__version__}</div>",
        '<div class="cards">',
        f'<div class="card"><b>{len(model.assets)}</b>assets</div>',
        f'<div class="card"><b>{len(applicable)}</b>techniques apply</div>',
        f'<div class="card"><b id="gap-count">{len(gaps)}</b>asset–technique gaps</div>',
        f'<div class="card"><b>{sum(1 for s in applicable.values() if s == "none")}</b>'
        "techniques with no control anywhere</div>",
        "</div>",
        "<h2>ATLAS matrix</h2>",
        "<p>Each technique is coloured by its weakest coverage across the assets it applies to. "
        "Hover for the assets.</p>",
        '<div class="legend">' + "".join(
            f'<span><i style="background:{c}"></i>{escape(STATUS_TEXT[s])}</span>'
            for s, c in STATUS_COLOURS.items()) + "</div>",
        _matrix(model),
        _in_place(model),
        "<h2>Gaps, ranked</h2>",
        "<p>Risk = impact (1–5) × likelihood (1–5). Likelihood draws on the technique's maturity "
        "(realized &gt; demonstrated &gt; feasible), the number of ATLAS case studies that used "
        "it, and the asset's exposure.</p>",
        '<table id="gaps"><tr><th>#</th><th>asset</th><th>technique</th><th>impact</th>'
        "<th>likelihood</th><th>risk</th><th>why it applies</th><th>ATLAS mitigations</th>"
        + ("<th>ATLAS case studies</th>" if case_studies is not None else "") + "</tr>",
    ]
    for n, (asset, t) in enumerate(gaps[:top], 1):
        mitigations = "<br>".join(_mitigation(m.id, m.name, model, long=True)
                                  for m in t.mitigations) or "—"
        parts.append(
            f"<tr><td>{n}</td><td>{escape(asset.name)}</td>"
            f"<td><code>{t.technique.id}</code> {escape(t.technique.name)}</td>"
            f"<td>{t.impact}</td><td>{t.likelihood}</td><td><b>{t.risk}</b></td>"
            f"<td>{escape('; '.join(r for _, r in t.reasons))}</td><td>{mitigations}</td>"
            + (_studies(case_studies.get(t.technique.id, [])) if case_studies is not None else "")
            + "</tr>")
    parts.append("</table>")
    if len(gaps) > top:
        parts.append(f"<p>… and {len(gaps) - top} more in the per-asset tables below.</p>")
    for a in model.assets:
        asset = a.asset
        parts += [
            f'<h2 id="asset-{escape(asset.id)}">{escape(asset.name)} <small><code>'
            f"{escape(asset.id)}</code></small></h2>",
            f"<p>{escape(asset.description)}</p>" if asset.description else "",
            f'<p class="asset-facts">{escape(asset.kind_label)} · exposure {asset.exposure} · '
            f"access: {escape(ACCESS[asset.access])} · data {asset.data_sensitivity} · "
            + ("behind the gateway" if asset.behind_gateway else
               "not behind the gateway (only its own controls count)") + "</p>",
            "<table><tr><th>technique</th><th>coverage</th><th>controls</th><th>risk</th>"
            "<th>why it applies</th><th>ATLAS mitigations</th></tr>",
        ]
        for t in a.threats:
            reasons = "".join(f"<li><b>{escape(r)}</b>: {escape(text)}</li>"
                              for r, text in t.reasons)
            mitigations = ", ".join(_mitigation(m.id, m.name, model)
                                    for m in t.mitigations) or "—"
            parts.append(
                f'<tr data-technique="{t.technique.id}"><td><code>{t.technique.id}</code> '
                f"{escape(t.technique.name)}</td><td>{_status(t.status)}</td>"
                f"<td>{_controls(t)}</td><td>{t.risk}</td>"
                f'<td><ul class="reasons">{reasons}</ul></td><td>{mitigations}</td></tr>')
        parts.append("</table>")
    if model.warnings:
        parts.append("<h2>Warnings</h2><ul>"
                     + "".join(f"<li>{escape(w)}</li>" for w in model.warnings) + "</ul>")
    parts.append(f'<p class="meta">{escape(model.index.attribution)}</p></body></html>')
    return "\n".join(p for p in parts if p)
