"""The full ATLAS data file, loaded from a path the user gives, for prose and case studies.

The package ships only facts (see ``facts.py``); descriptions, mitigation advice
and case-study narratives are read from the user's own copy of ``ATLAS.yaml``
(``atlas.data`` in gateway.yaml, or ``--atlas-data``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from atlasgate.errors import ConfigError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


def read_atlas_file(path: str | Path) -> tuple[Mapping[str, Any], bytes]:
    """Parse an ATLAS.yaml, failing with file:line and a reason instead of a traceback."""
    source = str(path)
    try:
        blob = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("ATLAS data file not found", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read ATLAS data file: {exc.strerror}", source) from None
    try:
        raw = yaml.load(blob, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem}", source,
                          mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source) from None
    if not isinstance(raw, Mapping) or not (raw.get("matrices") or raw.get("techniques")):
        raise ConfigError("not an ATLAS data file (no 'matrices' or 'techniques')", source, 1)
    return raw, blob


def _text(value: Any) -> str:
    if isinstance(value, _dt.date):
        return value.isoformat()
    return "" if value is None else str(value).strip()


@dataclass(frozen=True, slots=True)
class CaseStudy:
    id: str
    name: str
    summary: str
    date: str
    kind: str
    techniques: tuple[str, ...]


class AtlasData:
    """Descriptions and case studies by ID, from the full data file."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.source = source
        self.version = _text(raw.get("version"))
        self.descriptions: dict[str, str] = {}
        self.mitigation_uses: dict[tuple[str, str], str] = {}
        matrices = raw.get("matrices") or [raw]
        for matrix in matrices:
            if not isinstance(matrix, Mapping):
                continue
            for key in ("tactics", "techniques", "mitigations"):
                for item in matrix.get(key) or []:
                    if isinstance(item, Mapping) and "id" in item:
                        self.descriptions[str(item["id"])] = _text(item.get("description"))
            for m in matrix.get("mitigations") or []:
                if not isinstance(m, Mapping):
                    continue
                entries = [*(m.get("techniques") or []),
                           *(x for x in m.get("ml-lifecycle") or [] if isinstance(x, Mapping))]
                for entry in entries:
                    if isinstance(entry, Mapping) and "id" in entry:
                        self.mitigation_uses[(str(m["id"]), str(entry["id"]))] = _text(
                            entry.get("use"))
        self.case_studies: list[CaseStudy] = []
        for study in raw.get("case-studies") or []:
            if not isinstance(study, Mapping):
                continue
            steps = [s.get("technique") for s in study.get("procedure") or []
                     if isinstance(s, Mapping)]
            self.case_studies.append(CaseStudy(
                id=_text(study.get("id")),
                name=_text(study.get("name")),
                summary=_text(study.get("summary")),
                date=_text(study.get("incident-date")),
                kind=_text(study.get("case-study-type")),
                techniques=tuple(dict.fromkeys(str(s) for s in steps if s)),
            ))

    def description(self, any_id: str) -> str:
        return self.descriptions.get(any_id, "")

    def case_studies_using(
        self, technique_id: str, *, subtechniques: bool = True
    ) -> list[CaseStudy]:
        prefix = technique_id + "."
        return [
            cs for cs in self.case_studies
            if technique_id in cs.techniques
            or (subtechniques and any(t.startswith(prefix) for t in cs.techniques))
        ]


def load_atlas_data(path: str | Path) -> AtlasData:
    raw, _ = read_atlas_file(path)
    return AtlasData(raw, str(path))


def atlas_data_path(option: str | None, config_path: str | None) -> Path | None:
    """``--atlas-data`` wins; otherwise ``atlas.data`` in the config (relative to it)."""
    if option:
        return Path(option)
    if not config_path:
        return None
    from atlasgate.atlas.yamlfile import load_yaml_file

    doc = load_yaml_file(config_path)
    section = doc.data.get("atlas") if isinstance(doc.data, Mapping) else None
    value = section.get("data") if isinstance(section, Mapping) else None
    if not value:
        return None
    candidate = Path(str(value)).expanduser()
    if not candidate.is_absolute():
        candidate = Path(config_path).resolve().parent / candidate
    return candidate
