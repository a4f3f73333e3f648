"""Read a YAML file (assets, gateway config, rule files) keeping the line of every value.

Errors about these files must name ``file:line``; composing the node tree keeps
a map from each path (``("assets", 2, "kind")``) to its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from atlasgate.errors import ConfigError

KeyPath = tuple[str | int, ...]


@dataclass(slots=True)
class YamlDoc:
    data: Any
    source: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, reason: str, path: KeyPath = ()) -> ConfigError:
        return ConfigError(reason, self.source, self.line(path))


def _walk(node: yaml.Node, path: KeyPath, doc: YamlDoc, ctor: yaml.SafeLoader) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise ConfigError("mapping keys must be scalars", doc.source,
                                  key_node.start_mark.line + 1)
            child = (*path, str(key))
            doc.lines[child] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, child, doc, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), doc, ctor) for i, item in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)


def parse_yaml(text: str, source: str) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = YamlDoc(None, source)
        if node is not None:
            doc.data = _walk(node, (), doc, yaml.SafeLoader(""))
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", source,
                          mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source) from None


def read_text(path: str | Path) -> str:
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source) from None


def load_yaml_file(path: str | Path) -> YamlDoc:
    return parse_yaml(read_text(path), str(path))


def load_yaml_documents(path: str | Path) -> list[Any]:
    """Every document of a multi-document file (Sigma rule files may hold several)."""
    source = str(path)
    text = read_text(path)
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", source,
                          mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source) from None
