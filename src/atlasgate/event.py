"""The Event: the one record every stage of the gateway reads and adds to.

Field names are dotted and ECS-like so that a Sigma rule written for a SIEM reads
the same fields here. The Event is stored flat (``{"api.method": "chat"}``) because
Sigma rules, exports and the decision log address fields by their dotted name;
CEL conditions need a nested view (``api.method``), which ``nested()`` builds once
per Event and caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# Identity of the event and its time.
TIMESTAMP = "@timestamp"
EVENT_ID = "event.id"
EVENT_KIND = "event.kind"  # "request", "response", "alert", "ingest"

# Who called.
CLIENT_KEY_ID = "client.key_id"
CLIENT_TENANT = "client.tenant"
CLIENT_IP = "client.ip"
USER_ID = "user.id"
SESSION_ID = "session.id"

# What was called.
API_METHOD = "api.method"  # chat, completion, embedding, predict, ingest, models
API_ENDPOINT = "api.endpoint"
API_MODEL = "api.model"
API_UPSTREAM = "api.upstream"
API_STREAM = "api.stream"
API_BODY_BYTES = "api.body_bytes"

# Windowed features per identity + model (the default window; other windows carry
# a suffix such as ``api.request_count_1m``).
API_REQUEST_COUNT = "api.request_count"
API_REQUEST_RATE = "api.request_rate"
API_INPUT_SIMILARITY = "api.input_similarity_score"
API_DISTINCT_INPUTS = "api.distinct_inputs"

# LLM request/response content and usage.
LLM_PROMPT = "llm.prompt"  # all user-visible request text, joined
LLM_MAX_TOKENS = "llm.max_tokens"
LLM_LOGPROBS = "llm.logprobs"
LLM_MESSAGE_COUNT = "llm.message_count"
LLM_RESPONSE = "llm.response"
LLM_PROMPT_TOKENS = "llm.usage.prompt_tokens"
LLM_COMPLETION_TOKENS = "llm.usage.completion_tokens"

# Classic ML inference.
ML_INSTANCES = "ml.instance_count"
ML_FEATURES = "ml.feature_count"

# Upstream outcome.
HTTP_STATUS = "http.response.status_code"
UPSTREAM_ERROR = "upstream.error"

# The decision.
DECISION_ID = "decision.id"
DECISION_ACTION = "decision.action"
DECISION_RULE = "decision.rule"
DECISION_REASONS = "decision.reasons"
ATLAS_TECHNIQUES = "atlas.techniques"
ATLAS_TACTICS = "atlas.tactics"
ATLAS_PLAYBOOKS = "atlas.playbooks"  # incident-response playbook IDs (atlasgate playbook ID)

# Fields that carry content a caller sent or a model produced. They are read by
# detectors and policies but kept out of the decision log unless configured.
CONTENT_FIELDS = frozenset({LLM_PROMPT, LLM_RESPONSE})


class Event:
    """A mutable bag of dotted fields with a cached nested view for CEL."""

    __slots__ = ("_fields", "_nested")

    def __init__(self, fields: Mapping[str, Any] | None = None) -> None:
        self._fields: dict[str, Any] = dict(fields) if fields else {}
        self._nested: dict[str, Any] | None = None

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._fields[name] = value
        self._nested = None

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Event({self._fields!r})"

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def update(self, fields: Mapping[str, Any]) -> None:
        self._fields.update(fields)
        self._nested = None

    def add_techniques(self, techniques: Iterable[str]) -> None:
        """Union technique IDs into ``atlas.techniques``, keeping first-seen order."""
        current: list[str] = self._fields.setdefault(ATLAS_TECHNIQUES, [])
        for technique in techniques:
            if technique not in current:
                current.append(technique)
        self._nested = None

    def caller_key(self, per_model: bool = False) -> str:
        """Who is calling (tenant and API key), with ``per_model`` also which model: the
        unit that request windows, model-access state and identity actions are kept for."""
        key = f"{self._fields.get(CLIENT_TENANT)}\x1f{self._fields.get(CLIENT_KEY_ID)}"
        return f"{key}\x1f{self._fields.get(API_MODEL)}" if per_model else key

    def flat(self) -> dict[str, Any]:
        """The fields by dotted name (the live dict: callers must not mutate it)."""
        return self._fields

    def summary(self, include_content: bool = False) -> dict[str, Any]:
        """The fields that go to the decision log and exporters."""
        return loggable(self._fields, include_content)

    def nested(self) -> dict[str, Any]:
        """``{"api": {"method": ...}}``: the shape CEL expressions address."""
        if self._nested is None:
            self._nested = nest(self._fields)
        return self._nested


def loggable(fields: Mapping[str, Any], include_content: bool = False) -> dict[str, Any]:
    """A copy of ``fields`` for the log: without ``CONTENT_FIELDS`` unless asked for."""
    copy = dict(fields)
    if not include_content:
        for name in CONTENT_FIELDS:
            copy.pop(name, None)
    return copy


_PARTS: dict[str, tuple[str, ...]] = {}


def _parts(name: str) -> tuple[str, ...]:
    """Split a field name once; Events reuse a small vocabulary of names."""
    parts = _PARTS.get(name)
    if parts is None:
        parts = tuple(name.lstrip("@").split("."))
        if len(_PARTS) < 65_536:
            _PARTS[name] = parts
    return parts


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn dotted keys into nested dicts; ``@timestamp`` becomes ``timestamp``.

    A map-valued field and dotted fields under it (``y`` and ``y.z``) merge into a
    copy of the map: the field's own value is never written to, so it cannot end up
    holding itself (a cycle the CEL library would crash on).
    """
    root: dict[str, Any] = {}
    made: set[int] = set()  # ids of the dicts built here, the only ones written to
    for name, value in flat.items():
        parts = _parts(name)
        node = root
        for part in parts[:-1]:
            child: Any = node.get(part)
            if id(child) not in made:
                child = node[part] = dict(child) if isinstance(child, dict) else {}
                made.add(id(child))
            node = child
        node[parts[-1]] = value
    return root
