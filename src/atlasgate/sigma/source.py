"""Read rule files as YAML documents while remembering the line of every key.

pySigma's errors name the rule but not the line; the loader keeps these line maps
so each problem can be reported as ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass
class RuleDocument:
    """One YAML document of a rule file: plain data plus where each key sits."""

    path: str
    line: int
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, *keys: Any) -> int:
        """The line of the deepest key path that exists, else the document's first line."""
        for end in range(len(keys), 0, -1):
            found = self.lines.get(tuple(keys[:end]))
            if found is not None:
                return found
        return self.line


class _LineLoader(yaml.SafeLoader):
    pass


def _plain(node: yaml.Node, loader: _LineLoader, prefix: tuple[Any, ...],
           lines: dict[tuple[Any, ...], int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list):
                key = tuple(key)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            result[key] = _plain(value_node, loader, (*prefix, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            items.append(_plain(item, loader, (*prefix, index), lines))
        return items
    return loader.construct_object(node, deep=True)


def parse_documents(text: str, path: str) -> Iterator[RuleDocument]:
    """Yield each non-empty document; raises ``yaml.MarkedYAMLError`` on bad YAML."""
    loader = _LineLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[tuple[Any, ...], int] = {}
            data = _plain(node, loader, (), lines)
            if data is None:
                continue
            yield RuleDocument(path, node.start_mark.line + 1, data, lines)
    finally:
        loader.dispose()


def rule_files(paths: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand directories to their rule files (sorted); report paths that do not exist."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(raw))
    return files, missing
