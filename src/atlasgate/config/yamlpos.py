"""YAML loading that remembers where every value came from.

Validation errors from pydantic carry a location like ``("policy", "rules", 2,
"action")``; users need ``gateway.yaml:41``. Composing the node tree ourselves
keeps a map from each such path to its line, at no cost after start-up.
"""

from __future__ import annotations

from typing import Any

import yaml

from atlasgate.errors import ConfigError

Path = tuple[str | int, ...]


class PositionedYAML:
    """A parsed YAML document plus the line (1-based) of every path in it."""

    def __init__(self, data: Any, lines: dict[Path, int], source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_yaml(text: str, source: str) -> PositionedYAML:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or str(exc)
        raise ConfigError(f"invalid YAML: {reason}", source, line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source) from None
    lines: dict[Path, int] = {}
    if node is None:
        return PositionedYAML(None, lines, source)
    constructor = yaml.SafeLoader(text)
    data = _convert(node, (), lines, constructor, source)
    return PositionedYAML(data, lines, source)


def _convert(
    node: yaml.Node, path: Path, lines: dict[Path, int], ctor: yaml.SafeLoader, source: str
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<) are not supported", source,
                                  key_node.start_mark.line + 1)
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                raise ConfigError("mapping keys must be scalars", source,
                                  key_node.start_mark.line + 1)
            if key in result:
                raise ConfigError(f"duplicate key {key!r}", source, key_node.start_mark.line + 1)
            child = (*path, str(key))
            lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, child, lines, ctor, source)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), lines, ctor, source) for i, item in enumerate(node.value)
        ]
    try:
        return ctor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"invalid YAML value: {exc.problem}", source,
                          node.start_mark.line + 1) from None
