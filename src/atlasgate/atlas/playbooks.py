"""Incident-response playbooks for the ATLAS techniques the gateway detects.

The text of each playbook is data (``playbooks.yaml``); rendering joins it with
the running configuration: which controls fire for the technique, which Sigma
rules carry it (with the commands to test and convert them), and the key and
policy commands to contain an incident. Alerts refer to a playbook by its ID,
``PB-<technique ID>``; ``playbook_refs`` gives the IDs for an alert's techniques.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from atlasgate.atlas.controls import ControlSet
from atlasgate.atlas.coverage import compute_coverage
from atlasgate.atlas.index import AtlasIndex, normalize_id
from atlasgate.errors import AtlasGateError

PREFIX = "PB-"
SIEM_TARGETS = ("splunk", "kusto", "elasticsearch")


class NoPlaybookError(AtlasGateError):
    """No playbook is written for the technique (nor for its parent)."""


@dataclass(frozen=True, slots=True)
class Playbook:
    technique: str
    title: str
    signal: str
    fields: tuple[str, ...]
    investigate: tuple[str, ...]
    contain: tuple[str, ...]
    policy: str
    remediate: tuple[str, ...]
    notify: tuple[str, ...]

    @property
    def id(self) -> str:
        return PREFIX + self.technique


@functools.lru_cache(maxsize=1)
def _raw() -> Mapping[str, Any]:
    text = resources.files("atlasgate.atlas").joinpath("playbooks.yaml").read_text("utf-8")
    data: Mapping[str, Any] = yaml.safe_load(text)["playbooks"]
    return data


def all_playbooks() -> dict[str, Playbook]:
    def clean(text: Any) -> str:
        return " ".join(str(text).split())

    return {
        tid: Playbook(
            technique=tid,
            title=clean(p["title"]),
            signal=clean(p["signal"]),
            fields=tuple(p.get("fields") or ()),
            investigate=tuple(clean(x) for x in p.get("investigate") or ()),
            contain=tuple(clean(x) for x in p.get("contain") or ()),
            policy=str(p.get("policy") or "").rstrip(),
            remediate=tuple(clean(x) for x in p.get("remediate") or ()),
            notify=tuple(p.get("notify") or ()),
        )
        for tid, p in _raw().items()
    }


def find_playbook(technique_or_id: str, index: AtlasIndex) -> Playbook:
    """The playbook for a technique (or ``PB-`` ID); a sub-technique falls back to its parent."""
    text = technique_or_id.strip()
    if text.upper().startswith(PREFIX):
        text = text[len(PREFIX):]
    technique = index.technique(normalize_id(text))
    books = all_playbooks()
    for tid in (technique.id, technique.parent):
        if tid and tid in books:
            return books[tid]
    raise NoPlaybookError(f"no playbook for {technique.id} {technique.name}; "
                          "`atlasgate playbook --list` shows the techniques that have one")


def playbook_refs(techniques: Iterable[str], index: AtlasIndex) -> list[str]:
    """Playbook IDs for an alert's technique IDs, for the alert's ``atlas.playbooks`` field."""
    refs: list[str] = []
    for tid in techniques:
        try:
            ref = find_playbook(tid, index).id
        except (NoPlaybookError, KeyError):
            continue
        if ref not in refs:
            refs.append(ref)
    return refs


def detectable(controls: ControlSet, index: AtlasIndex) -> list[str]:
    """Techniques at least one enabled control of the configuration covers."""
    return compute_coverage(controls, index).detectable()


Queries = Mapping[str, Mapping[str, list[str] | str]]


def convert_rules(paths: Iterable[str], targets: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SIEM queries per Sigma rule file and target, by the Sigma engine's converters.

    A target that cannot be converted here (its backend is not installed) gets the
    reason as a string instead of a list of queries.
    """
    result: dict[str, dict[str, Any]] = {}
    try:
        from atlasgate.sigma.convert import convert
        from atlasgate.sigma.engine import load_rules
    except ImportError:
        return {p: {t: "the Sigma engine is not installed" for t in targets} for p in paths}
    for path in paths:
        ruleset = load_rules([Path(path)])
        per_target: dict[str, Any] = {}
        for target in targets:
            try:
                entries = convert(ruleset, target)
            except AtlasGateError as exc:
                per_target[target] = str(getattr(exc, "reason", exc))
                continue
            queries = [q for e in entries for q in e.get("queries", [])]
            errors = [str(e["error"]) for e in entries if "error" in e]
            per_target[target] = queries if queries else "; ".join(errors) or "no query"
        result[path] = per_target
    return result


def _listen(config: Mapping[str, Any]) -> str:
    raw = config.get("listen")
    listen: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return f"{listen.get('host', '127.0.0.1')}:{listen.get('port', 8080)}"


def render_playbook(playbook: Playbook, technique_id: str, index: AtlasIndex,
                    controls: ControlSet | None = None, queries: Queries | None = None) -> str:
    """The playbook as Markdown, completed from the configuration when one is given.

    ``queries`` (from ``convert_rules``) adds the converted SIEM queries themselves.
    """
    technique = index.technique(technique_id)
    tactics = ", ".join(index.tactics[t].name for t in technique.tactics if t in index.tactics)
    cfg_path = controls.config_path if controls and controls.config_path else "gateway.yaml"
    config: Mapping[str, Any] = controls.config if controls else {}
    lines = [
        f"# {playbook.id}: {playbook.title}",
        "",
        f"ATLAS {technique.id} {technique.name} ({tactics}); maturity "
        f"{index.maturity_of(technique.id)}; ATLAS case studies that used it: "
        f"{index.case_studies_for(technique.id)}."
        + (f" This playbook is the one for the parent technique {playbook.technique}."
           if playbook.technique != technique.id else ""),
        "",
        "## What the alert means",
        "",
        playbook.signal,
    ]
    covering = []
    sigma_files: list[str] = []
    if controls is not None:
        coverage = compute_coverage(controls, index).of(technique.id)
        covering = [c for c in coverage.controls if c.via != "subtechnique"]
        for c in covering:
            if c.control.kind == "sigma" and c.control.source not in sigma_files:
                sigma_files.append(c.control.source)
    lines += ["", "## Controls that raise it", ""]
    if covering:
        lines += [f"- `{c.control.name}` ({c.control.kind}, {c.control.strength.label}; "
                  f"{c.control.source})" for c in covering]
    elif controls is not None:
        lines.append(f"- None in `{cfg_path}`: this gateway does not detect {technique.id}. "
                     f"Run `atlasgate coverage --config {cfg_path}`.")
    else:
        lines.append("- Pass `--config gateway.yaml` to list the detectors, policy rules and "
                     "Sigma rules of your gateway that raise this technique.")
    lines += ["", "## Investigate", "", "Decision-log fields: "
              + ", ".join(f"`{f}`" for f in playbook.fields), ""]
    lines += [f"{n}. {step}" for n, step in enumerate(playbook.investigate, 1)]
    lines += ["", "Queries:", "", "```sh",
              f"atlasgate audit --config {cfg_path} export -o decisions.jsonl",
              f"atlasgate audit --config {cfg_path} tail -n 50"]
    tag = "atlas." + technique.id.removeprefix("AML.").lower()
    if sigma_files:
        for path in sigma_files:
            lines.append(f"atlasgate sigma test {path} --events decisions.jsonl")
            lines += [f"atlasgate sigma convert {path} --target {t}" for t in SIEM_TARGETS]
        lines.append("```")
        for path in sigma_files:
            for target, converted in (queries or {}).get(path, {}).items():
                if isinstance(converted, str):
                    lines += ["", f"{target} ({Path(path).name}): not converted here: {converted}"]
                else:
                    lines += ["", f"{target} ({Path(path).name}):", "", "```", *converted, "```"]
    else:
        lines += ["```", "",
                  f"No Sigma rule in the configuration is tagged `{tag}`. Write one over the "
                  "fields above, tag it, add its folder to `sigma.rules`, and convert it for "
                  "your SIEM with `atlasgate sigma convert RULE --target splunk|kusto|"
                  "elasticsearch`."]
    lines += ["", "## Contain", ""]
    lines += [f"{n}. {step}" for n, step in enumerate(playbook.contain, 1)]
    lines += [
        "", f"Policy change (add under `policy.rules` in `{cfg_path}`, replace KEY_ID):", "",
        "```yaml", playbook.policy, "```", "",
        "Apply it, and revoke or rotate the key if the caller is not legitimate:", "",
        "```sh",
        f"atlasgate config check {cfg_path}",
        f"curl -sS -X POST -H \"Authorization: Bearer $ATLASGATE_ADMIN_KEY\" "
        f"http://{_listen(config)}/admin/reload",
        "# revoke: delete the key's entry (id: KEY_ID) from `keys:`, then reload as above",
        "atlasgate keys new --id KEY_ID-2 --tenant TENANT   # a replacement for a legitimate owner",
        "```",
        "", "## Remediate", "",
    ]
    lines += [f"- {step}" for step in playbook.remediate]
    mitigations = index.mitigations_for(technique.id)
    if mitigations:
        lines.append("- ATLAS mitigations: " + ", ".join(f"{m.id} {m.name}" for m in mitigations))
    lines += ["", "## Notify", ""] + [f"- {who}" for who in playbook.notify]
    return "\n".join(lines) + "\n"
