"""Convert standard Sigma YAML with a pySigma backend; also runs as a script.

The SIEM backends need pySigma 1.x, which cannot share an environment with the
engine's pySigma 2. This module therefore imports nothing from AtlasGate: the
converter environment runs it as a script (JSON request on stdin, JSON result
on stdout), and the engine's own environment imports it for the SQLite backend.
"""

from __future__ import annotations

import json
import sys
from typing import Any

BACKENDS = {
    "sqlite": ("sigma.backends.sqlite", "sqliteBackend"),
    "splunk": ("sigma.backends.splunk", "SplunkBackend"),
    "elasticsearch": ("sigma.backends.elasticsearch", "LuceneBackend"),
    "esql": ("sigma.backends.elasticsearch", "ESQLBackend"),
    "kusto": ("sigma.backends.kusto", "KustoBackend"),
}


def backend_class(target: str) -> Any:
    import importlib

    module, name = BACKENDS[target]
    return getattr(importlib.import_module(module), name)


def convert_documents(text: str, target: str, placeholders: dict[str, Any]) -> list[dict[str, Any]]:
    """One result per rule: title, id, and queries or an error."""
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import ValueListPlaceholderTransformation

    pipeline = None
    if placeholders:
        pipeline = ProcessingPipeline(
            items=[ProcessingItem(ValueListPlaceholderTransformation())], vars=placeholders
        )
    backend = backend_class(target)(processing_pipeline=pipeline)
    collection = SigmaCollection.from_yaml(text)
    results: list[dict[str, Any]] = []
    for rule in collection.rules:
        entry: dict[str, Any] = {"title": rule.title, "id": str(rule.id or ""),
                                 "name": rule.name}
        try:
            if isinstance(rule, SigmaCorrelationRule):
                queries = backend.convert_correlation_rule(rule)
            else:
                queries = backend.convert_rule(rule)
            entry["queries"] = [q if isinstance(q, str) else json.dumps(q) for q in queries]
        except SigmaError as e:
            entry["error"] = str(e.args[0]) if e.args else str(e)
        except (NotImplementedError, ValueError, KeyError, TypeError) as e:
            entry["error"] = f"{type(e).__name__}: {e}"
        results.append(entry)
    return results


def main() -> None:
    request = json.load(sys.stdin)
    try:
        result: Any = {"results": convert_documents(
            request["yaml"], request["target"], request.get("placeholders") or {})}
    except ImportError as e:
        result = {"error": f"backend not installed: {e}"}
    except Exception as e:  # reported to the parent process as data, never as a traceback
        result = {"error": f"{type(e).__name__}: {e}"}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
