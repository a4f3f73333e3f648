"""The threat model as Markdown, for pull requests, wikis and the terminal."""

from __future__ import annotations

from atlasgate.atlas.assets import ACCESS
from atlasgate.atlas.threatmodel import Threat, ThreatModel


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _controls(t: Threat) -> str:
    if not t.controls:
        return "—"
    return ", ".join(
        f"{c.control.name} ({c.control.strength.label}"
        + ("" if c.via == "direct" else f", via {c.via}") + ")"
        for c in t.controls
    )


def render_markdown(model: ThreatModel, *, top: int = 15) -> str:
    out = [f"# Threat model: {model.system}", ""]
    out.append(f"ATLAS {model.index.version}; assets from `{model.source}`; gateway "
               + (f"configuration `{model.config}`." if model.config else
                  "configuration: none given (shipped defaults only)."))
    out += ["", "Risk = impact (1–5) × likelihood (1–5). Likelihood comes from the technique's "
            "maturity in ATLAS (realized > demonstrated > feasible), the number of ATLAS case "
            "studies that used it, and how exposed the asset is.", ""]
    if model.in_place:
        out += ["ATLAS mitigations the gateway puts in place (✓ below):", ""]
        out += [f"- {mid} {model.index.mitigations[mid].name}: {how}"
                for mid, how in sorted(model.in_place.items()) if mid in model.index.mitigations]
        out.append("")
    out += ["## Top gaps", "", "| # | asset | technique | risk | why it applies |",
            "|---|---|---|---|---|"]
    for n, (asset, t) in enumerate(model.ranked_gaps()[:top], 1):
        why = "; ".join(r for _, r in t.reasons)
        out.append(f"| {n} | {_cell(asset.name)} | {t.technique.id} {_cell(t.technique.name)} "
                   f"| {t.risk} | {_cell(why)} |")
    for a in model.assets:
        asset = a.asset
        out += ["", f"## {asset.name} (`{asset.id}`)", ""]
        if asset.description:
            out += [asset.description, ""]
        out.append(f"{asset.kind_label}; exposure {asset.exposure}; access "
                   f"{ACCESS[asset.access]}; data {asset.data_sensitivity}; "
                   + ("behind the gateway." if asset.behind_gateway else
                      "not behind the gateway (only its own controls count)."))
        gaps = a.gaps()
        out += ["", f"{len(a.threats)} techniques apply, {len(gaps)} without any control.", ""]
        out += ["| technique | coverage | controls | risk | ATLAS mitigations |",
                "|---|---|---|---|---|"]
        for t in a.threats:
            mitigations = ", ".join(m.id + (" ✓" if m.id in model.in_place else "")
                                    for m in t.mitigations) or "—"
            out.append(f"| {t.technique.id} {_cell(t.technique.name)} | {t.status} | "
                       f"{_cell(_controls(t))} | {t.risk} | {mitigations} |")
        out += ["", "Why these apply:", ""]
        reasons: dict[str, tuple[str, list[str]]] = {}
        for t in a.threats:
            for rule, text in t.reasons:
                reasons.setdefault(rule, (text, []))[1].append(t.technique.id)
        for rule, (text, ids) in reasons.items():
            out.append(f"- **{rule}** ({', '.join(ids)}): {text}")
    if model.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in model.warnings]
    return "\n".join(out) + "\n"
