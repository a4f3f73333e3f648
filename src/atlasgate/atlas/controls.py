"""The controls a gateway configuration turns on, each with the ATLAS techniques it covers.

Coverage, the threat model, playbooks and compliance reports all start here, so
that what they say follows from the configuration and never from a hand-kept
list. The raw YAML is read directly (with ``yaml.safe_load`` semantics) and the
in-package sources (detector registry, default policy packs) are imported only
when present.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from atlasgate.atlas.index import TECHNIQUE_ID, AtlasIndex, load_index, normalize_id
from atlasgate.atlas.sigma_tags import atlas_ids_from_tags
from atlasgate.atlas.yamlfile import YamlDoc, load_yaml_documents, load_yaml_file
from atlasgate.errors import ConfigError
from atlasgate.shipped import sigma_rule_path

Kind = Literal["detector", "policy", "sigma", "external"]


class Strength(enum.IntEnum):
    """How much a control does about a technique; ordered so the strongest is ``max()``."""

    NONE = 0
    DETECT = 1
    CONSTRAIN = 2
    BLOCK = 3

    @classmethod
    def parse(cls, text: str) -> Strength:
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown strength {text!r}; expected detect, constrain or block"
            ) from None

    @classmethod
    def of_action(cls, action: Any) -> Strength:
        """BLOCK blocks; CONSTRAIN and REVIEW constrain; LOG and ALLOW only detect."""
        name = str(getattr(action, "name", action) or "LOG").strip().upper()
        if name == "BLOCK":
            return cls.BLOCK
        if name in ("CONSTRAIN", "REVIEW"):
            return cls.CONSTRAIN
        return cls.DETECT

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Control:
    name: str
    kind: Kind
    techniques: tuple[str, ...]
    strength: Strength
    enabled: bool
    source: str
    tactics: tuple[str, ...] = ()
    detail: str = ""
    action: str = ""
    constraints: tuple[str, ...] = ()


@dataclass(slots=True)
class ControlSet:
    """Controls from one configuration, plus what could not be read and why."""

    controls: list[Control] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    config: Mapping[str, Any] = field(default_factory=dict)
    config_path: str | None = None

    @property
    def enabled(self) -> list[Control]:
        return [c for c in self.controls if c.enabled]

    def of_kind(self, kind: Kind) -> list[Control]:
        return [c for c in self.controls if c.kind == kind]

    def covering(self, technique_id: str) -> list[Control]:
        return [c for c in self.enabled if technique_id in c.techniques]


def _techniques(values: Any, index: AtlasIndex, where: str, warnings: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values if isinstance(values, list) else [values] if values else []:
        tid = normalize_id(str(value))
        if not TECHNIQUE_ID.match(tid) or not index.known(tid):
            warnings.append(f"{where}: {value!r} is not an ATLAS technique ID; ignored")
            continue
        if tid not in found:
            found.append(tid)
    return tuple(found)


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def _enabled(value: Any) -> bool:
    return value is not False and str(value).strip().lower() not in ("false", "no", "off", "0")


def detector_controls(config: Mapping[str, Any], index: AtlasIndex,
                      warnings: list[str]) -> list[Control]:
    try:
        registry = importlib.import_module("atlasgate.detectors.registry")
        detectors = dict(registry.DETECTORS)
    except (ImportError, AttributeError):
        warnings.append("detector registry not available: detectors are not counted")
        return []
    settings = _section(config, "detectors")
    controls = []
    for name, info in sorted(detectors.items()):
        own = settings.get(name)
        enabled = _enabled(own.get("enabled", True)) if isinstance(own, Mapping) else _enabled(own)
        controls.append(Control(
            name=f"detector:{name}",
            kind="detector",
            techniques=_techniques(list(getattr(info, "techniques", ())), index,
                                   f"detector {name}", warnings),
            strength=Strength.DETECT,
            enabled=enabled,
            source="atlasgate.detectors.registry",
            detail=str(getattr(info, "description", "")),
        ))
    for name in settings:
        if name not in detectors:
            warnings.append(f"detectors.{name}: no such detector in this build; ignored")
    return controls


def _rule_list(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping) and isinstance(data.get("rules"), list):
        return list(data["rules"])
    if data is None or (isinstance(data, Mapping) and not data.get("rules")):
        return []
    return None


def _rule_controls(rules: Iterable[Any], source: str, index: AtlasIndex,
                   warnings: list[str], doc: YamlDoc | None = None,
                   base_path: tuple[str | int, ...] = ()) -> list[Control]:
    controls = []
    for i, rule in enumerate(rules):
        where = source
        if doc is not None:
            line = doc.line((*base_path, i))
            where = f"{source}:{line}" if line else source
        if not isinstance(rule, Mapping) or not rule.get("id"):
            warnings.append(f"{where}: a policy rule without an id; ignored")
            continue
        controls.append(Control(
            name=f"policy:{rule['id']}",
            kind="policy",
            techniques=_techniques(rule.get("atlas") or [], index, where, warnings),
            strength=Strength.of_action(rule.get("action")),
            enabled=_enabled(rule.get("enabled", True)),
            source=where,
            detail=str(rule.get("description") or ""),
            action=str(rule.get("action") or "LOG").strip().upper(),
            constraints=tuple(str(k) for k in constraint) if isinstance(
                constraint := rule.get("constraint"), Mapping) else (),
        ))
    return controls


def default_pack_files() -> list[Path]:
    """The shipped default policy packs, if this build has any."""
    try:
        package = importlib.import_module("atlasgate.policy")
    except ImportError:
        return []
    folder = Path(next(iter(package.__path__))) / "defaults"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))


def policy_controls(config: Mapping[str, Any], base: Path, index: AtlasIndex,
                    warnings: list[str], doc: YamlDoc | None) -> list[Control]:
    policy = _section(config, "policy")
    controls: list[Control] = []
    if _enabled(policy.get("include_defaults", True)):
        for pack in default_pack_files():
            pack_doc = load_yaml_file(pack)
            rules = _rule_list(pack_doc.data)
            label = f"defaults/{pack.name}"
            if rules is None:
                warnings.append(f"{label}: not a list of rules; ignored")
                continue
            base_path: tuple[str | int, ...] = (
                ("rules",) if isinstance(pack_doc.data, Mapping) else ()
            )
            controls += _rule_controls(rules, label, index, warnings, pack_doc, base_path)
    for name in policy.get("files") or []:
        path = Path(str(name)).expanduser()
        if not path.is_absolute():
            path = base / path
        file_doc = load_yaml_file(path)
        rules = _rule_list(file_doc.data)
        if rules is None:
            raise ConfigError("expected a list of policy rules or a mapping with 'rules:'",
                              str(path), 1)
        base_path = ("rules",) if isinstance(file_doc.data, Mapping) else ()
        controls += _rule_controls(rules, str(path), index, warnings, file_doc, base_path)
    inline = policy.get("rules") or []
    if inline:
        label = doc.source if doc else "<config>"
        controls += _rule_controls(inline, label, index, warnings, doc, ("policy", "rules"))
    return controls


def _sigma_files(entry: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    return [entry]


_RETIRED = ("deprecated", "unsupported")


def _rule_atlas_ids(tags: list[Any], index: AtlasIndex) -> tuple[list[str], list[str]]:
    """Tags mapped the way the Sigma engine maps them, when that engine is installed."""
    try:
        from atlasgate.sigma.tags import map_tags
    except ImportError:
        return atlas_ids_from_tags(tags, index)
    mapping = map_tags([str(t) for t in tags])
    techniques = [t for t in mapping.techniques if index.known(t)]
    tactics = [t for t in mapping.tactics if t in index.tactics]
    return techniques, tactics


def sigma_controls(config: Mapping[str, Any], base: Path, index: AtlasIndex,
                   warnings: list[str]) -> list[Control]:
    sigma = _section(config, "sigma")
    entries = sigma.get("rules") or []
    if isinstance(entries, str):
        entries = [entries]
    controls = []
    for entry in entries:
        path = sigma_rule_path(str(entry)).expanduser()
        if not path.is_absolute():
            path = base / path
        if not path.exists():
            warnings.append(f"sigma.rules: {path} does not exist; no Sigma rules from it")
            continue
        for file in _sigma_files(path):
            for rule in load_yaml_documents(file):
                if not isinstance(rule, Mapping) or not ({"detection", "correlation"} & set(rule)):
                    continue
                techniques, tactics = _rule_atlas_ids(rule.get("tags") or [], index)
                extra = rule.get("atlasgate")
                action = extra.get("action") if isinstance(extra, Mapping) else None
                strength = Strength.of_action(action) if action else Strength.DETECT
                name = str(rule.get("name") or rule.get("title") or rule.get("id") or file.stem)
                if not techniques and tactics:
                    warnings.append(f"{file}: Sigma rule {name!r} names tactics only; "
                                    "it counts for no technique")
                controls.append(Control(
                    name=f"sigma:{name}",
                    kind="sigma",
                    techniques=tuple(techniques),
                    strength=strength,
                    enabled=str(rule.get("status", "")).lower() not in _RETIRED,
                    source=str(file),
                    tactics=tuple(tactics),
                    detail=str(rule.get("title") or ""),
                    action=str(action or "LOG").strip().upper(),
                ))
    return controls


_SHAPES: tuple[tuple[tuple[str, ...], type | tuple[type, ...], str], ...] = (
    (("detectors",), Mapping, "a mapping of detector names to settings"),
    (("policy",), Mapping, "a mapping (include_defaults, files, rules)"),
    (("policy", "files"), list, "a list of policy files"),
    (("policy", "rules"), list, "a list of policy rules"),
    (("sigma",), Mapping, "a mapping (rules: [paths])"),
    (("sigma", "rules"), (list, str), "a list of files or folders"),
    (("atlas",), Mapping, "a mapping (data: path)"),
)


def _check_shape(config: Mapping[str, Any], doc: YamlDoc | None) -> None:
    """Sections this module reads must have the right shape; wrong ones fail with file:line."""
    for path, kind, expected in _SHAPES:
        value: Any = config
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None and not isinstance(value, kind):
            reason = f"'{'.'.join(path)}' must be {expected}"
            if doc is not None:
                raise doc.error(reason, path)
            raise ConfigError(reason)


def controls_from_mapping(
    config: Mapping[str, Any], base_dir: str | Path = ".",
    index: AtlasIndex | None = None, doc: YamlDoc | None = None,
) -> ControlSet:
    index = index or load_index()
    base = Path(base_dir)
    _check_shape(config, doc)
    result = ControlSet(config=config)
    result.controls += detector_controls(config, index, result.warnings)
    result.controls += policy_controls(config, base, index, result.warnings, doc)
    result.controls += sigma_controls(config, base, index, result.warnings)
    return result


def controls_from_config(path: str | Path | None, index: AtlasIndex | None = None) -> ControlSet:
    """Controls of the gateway configured by ``path``; with no path, the shipped defaults only."""
    if path is None:
        return controls_from_mapping({}, ".", index)
    doc = load_yaml_file(path)
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, Mapping):
        raise doc.error("a gateway configuration must be a YAML mapping")
    result = controls_from_mapping(doc.data, Path(path).resolve().parent, index, doc)
    result.config_path = str(path)
    return result


def external_control(name: str, techniques: Iterable[str], strength: Strength,
                     source: str) -> Control:
    return Control(name=f"external:{name}", kind="external", techniques=tuple(techniques),
                   strength=strength, enabled=True, source=source)
