"""Which log source an event belongs to, and which rules can apply to it.

The gateway's own events are ``product: atlasgate``. Their categories:

- ``api_activity``: every event with ``api.method`` (requests and responses);
- ``llm``: chat, completion and embedding calls;
- ``ml_inference``: classic ``predict`` calls;
- ``data_ingest``: dataset ingestion;
- ``decision``: events carrying ``decision.action``;
- ``alert``: alerts (``event.kind: alert``).

The service is the protocol family: ``openai``, ``predict`` or ``datasets``.
Rules written for ``product: machine_learning_platform`` (the product name used
in published ML-platform rules) apply to the same events. An event may instead
name its source explicitly in ``logsource.product``/``category``/``service``,
as events exported from other systems do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigma.rule.logsource import SigmaLogSource

PRODUCT = "atlasgate"
PRODUCT_ALIASES = frozenset({PRODUCT, "machine_learning_platform"})

_LLM_METHODS = frozenset({"chat", "completion", "embedding"})
_SERVICES = {
    "chat": "openai", "completion": "openai", "embedding": "openai", "models": "openai",
    "predict": "predict", "ingest": "datasets",
}

# (product, categories, service) of one event.
EventSource = tuple[str | None, frozenset[str], str | None]


def event_source(event: Mapping[str, Any]) -> EventSource:
    explicit = event.get("logsource.product")
    if explicit is not None or event.get("logsource.category") is not None:
        category = event.get("logsource.category")
        return (
            str(explicit).lower() if explicit is not None else None,
            frozenset({str(category).lower()}) if category is not None else frozenset(),
            str(event["logsource.service"]).lower() if event.get("logsource.service") else None,
        )
    categories: set[str] = set()
    method = event.get("api.method")
    if method is not None and not isinstance(method, str):
        method = str(method)
    if method is not None:
        categories.add("api_activity")
        if method in _LLM_METHODS:
            categories.add("llm")
        elif method == "predict":
            categories.add("ml_inference")
        elif method == "ingest":
            categories.add("data_ingest")
    if event.get("decision.action") is not None:
        categories.add("decision")
    if event.get("event.kind") == "alert":
        categories.add("alert")
    return PRODUCT, frozenset(categories), _SERVICES.get(method) if method else None


CATEGORIES = frozenset({"api_activity", "llm", "ml_inference", "data_ingest", "decision", "alert"})
SERVICES = frozenset(_SERVICES.values())


def logsource_warning(logsource: SigmaLogSource) -> str | None:
    """Why a rule's log source can never match the gateway's own events, if it cannot."""
    product = (logsource.product or "").lower()
    if product and product not in PRODUCT_ALIASES:
        return (f"logsource product '{logsource.product}' is not the gateway's "
                f"({', '.join(sorted(PRODUCT_ALIASES))}): the rule only matches events that "
                "name their log source")
    category = (logsource.category or "").lower()
    if category and category not in CATEGORIES:
        return (f"logsource category '{logsource.category}' is not one of the gateway's "
                f"({', '.join(sorted(CATEGORIES))})")
    service = (logsource.service or "").lower()
    if service and service not in SERVICES:
        return (f"logsource service '{logsource.service}' is not one of the gateway's "
                f"({', '.join(sorted(SERVICES))})")
    return None


def accepts(logsource: SigmaLogSource, source: EventSource) -> bool:
    """Whether a rule with ``logsource`` can match events from ``source``."""
    product, categories, service = source
    if logsource.product is not None:
        wanted = logsource.product.lower()
        if product == PRODUCT:
            if wanted not in PRODUCT_ALIASES:
                return False
        elif wanted != product:
            return False
    if logsource.category is not None and logsource.category.lower() not in categories:
        return False
    return logsource.service is None or logsource.service.lower() == service
