"""The gateway configuration, validated once at start-up.

Every section forbids unknown keys: a typo such as ``max_body_byte`` should fail
at start with its line number, not be silently ignored in production.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from atlasgate.audit.settings import AuditSettings
from atlasgate.config.durations import Duration
from atlasgate.policy.decision import Action, Severity

TECHNIQUE_ID = re.compile(r"^AML\.T\d{4}(\.\d{3})?$")
KEY_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
# orjson refuses nesting deeper than this before the gateway's own depth check runs,
# so a larger limits.max_json_depth would promise what the parser cannot deliver.
JSON_PARSER_MAX_DEPTH = 1024


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class Limits(Section):
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_json_depth: int = Field(default=64, gt=0)
    body_timeout: Duration = 30.0
    max_response_bytes: int = Field(default=67_108_864, gt=0)

    @field_validator("max_json_depth")
    @classmethod
    def _parser_can_honour(cls, value: int) -> int:
        if value > JSON_PARSER_MAX_DEPTH:
            raise ValueError(f"max_json_depth can be at most {JSON_PARSER_MAX_DEPTH}: the JSON "
                             f"parser itself refuses deeper nesting, got {value}")
        return value


class KeySpec(Section):
    id: str = Field(min_length=1)
    hash: str
    tenant: str = "default"
    user: str | None = None
    admin: bool = False

    @field_validator("hash")
    @classmethod
    def _hash_format(cls, value: str) -> str:
        if not KEY_HASH.match(value):
            raise ValueError(
                "key hash must be 'sha256:' and 64 lowercase hex digits "
                "(create one with `atlasgate keys new`)"
            )
        return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_http_url)]


class OpenAIUpstream(Section):
    name: str = "openai"
    base_url: BaseUrl
    api_key_env: str | None = None
    models: list[str] = []
    timeout: Duration = 60.0
    connect_timeout: Duration = 5.0


class PredictUpstream(Section):
    name: str = Field(min_length=1, description="the model name callers use")
    base_url: BaseUrl
    upstream_model: str | None = None
    timeout: Duration = 10.0
    connect_timeout: Duration = 5.0


class Upstreams(Section):
    openai: list[OpenAIUpstream] = []
    predict: list[PredictUpstream] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Upstreams:
        for kind, items in (("openai", self.openai), ("predict", self.predict)):
            names = [u.name for u in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} upstream names: {', '.join(dupes)}")
        return self


class Features(Section):
    windows: list[Duration] = [60.0, 300.0, 3600.0]
    default_window: Duration = 300.0
    max_keys: int = Field(default=100_000, gt=0)

    @model_validator(mode="after")
    def _default_in_windows(self) -> Features:
        if self.default_window not in self.windows:
            object.__setattr__(self, "windows", sorted({*self.windows, self.default_window}))
        return self


class StateSettings(Section):
    """Where per-caller windows and Sigma correlations live: this process, or Redis for replicas."""

    backend: Literal["memory", "redis"] = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = Field(default="atlasgate:", min_length=1)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must start with redis://, rediss:// or unix://, got {value!r}")
        return value


class RuleSpec(Section):
    id: str = Field(min_length=1)
    description: str = ""
    condition: str = Field(min_length=1)
    action: Action
    constraint: dict[str, Any] = {}
    severity: Severity = Severity.MEDIUM
    atlas: list[str] = []
    phase: Literal["request", "response"] = "request"
    enabled: bool = True

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: object) -> Action:
        return Action.parse(str(value)) if not isinstance(value, Action) else value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        return Severity.parse(str(value)) if not isinstance(value, Severity) else value

    @field_validator("atlas")
    @classmethod
    def _technique_ids(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not TECHNIQUE_ID.match(t)]
        if bad:
            raise ValueError(f"not ATLAS technique IDs (AML.T0000 or AML.T0000.000): {bad}")
        return value

    @model_validator(mode="after")
    def _constraint_only_with_constrain(self) -> RuleSpec:
        if self.constraint and self.action is not Action.CONSTRAIN:
            raise ValueError("a constraint is only meaningful with action CONSTRAIN")
        if self.action is Action.CONSTRAIN and not self.constraint:
            raise ValueError("action CONSTRAIN needs a constraint (e.g. {cap_max_tokens: 256})")
        return self


class PolicySettings(Section):
    include_defaults: bool = True
    files: list[str] = []
    rules: list[RuleSpec] = []


class ReviewSettings(Section):
    timeout: Duration = 30.0
    default: Literal["ALLOW", "BLOCK"] = "BLOCK"


class SigmaSettings(Section):
    rules: list[str] = []
    expand: dict[str, list[str]] = {}


class AtlasSettings(Section):
    data: str | None = None


class DatasetSpec(Section):
    """A training-data set whose batches arrive at POST /v1/datasets/{name}/batches."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    profile: str = Field(min_length=1, description="profile.json from `atlasgate data profile`")
    checks: dict[str, Any] = {}
    max_batch_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    accept_dir: str | None = Field(default=None, description="where accepted batches are written")


class ExporterSpec(Section):
    type: Literal["jsonl"] = "jsonl"
    path: str = Field(min_length=1)


class GatewayConfig(Section):
    listen: Listen = Listen()
    fail_mode: Literal["open", "closed"] = "closed"
    limits: Limits = Limits()
    keys: list[KeySpec] = []
    upstreams: Upstreams = Upstreams()
    features: Features = Features()
    state: StateSettings = StateSettings()
    detectors: dict[str, dict[str, Any]] = {}
    policy: PolicySettings = PolicySettings()
    review: ReviewSettings = ReviewSettings()
    audit: AuditSettings = AuditSettings()
    sigma: SigmaSettings = SigmaSettings()
    atlas: AtlasSettings = AtlasSettings()
    datasets: list[DatasetSpec] = []
    exporters: list[ExporterSpec] = []

    @model_validator(mode="after")
    def _unique_key_ids(self) -> GatewayConfig:
        ids = [k.id for k in self.keys]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate key ids: {', '.join(dupes)}")
        hashes = [k.hash for k in self.keys]
        if len(set(hashes)) != len(hashes):
            raise ValueError("two keys share the same hash")
        return self
