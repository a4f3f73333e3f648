"""The gateway's long-lived state, and the snapshot that reload swaps.

Everything a request reads from configuration sits in one immutable ``Snapshot``;
reload builds a complete new one and replaces the reference in a single
assignment, so a request never sees half of an old policy and half of a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlasgate.audit.log import DecisionLog
from atlasgate.auth import KeyStore
from atlasgate.config.load import load_config, origin_of
from atlasgate.config.schema import GatewayConfig, OpenAIUpstream, PredictUpstream
from atlasgate.detectors.content.inspector import ContentInspector
from atlasgate.errors import AtlasGateError, ConfigError
from atlasgate.features.model_access.monitor import ModelAccessMonitor
from atlasgate.features.store import MemoryStateStore, StateStore
from atlasgate.features.windows import RequestWindows
from atlasgate.gateway.dataset_registry import Dataset, load_datasets
from atlasgate.gateway.enforcement import IdentityActions
from atlasgate.gateway.exporters import JsonlExporter
from atlasgate.gateway.review import ReviewQueue
from atlasgate.gateway.upstream import UpstreamClient
from atlasgate.policy.engine import PolicySet
from atlasgate.policy.load import load_policy
from atlasgate.sigma.engine import SigmaEngine
from atlasgate.sigma.state import CorrelationState, MemoryCorrelationState

log = logging.getLogger("atlasgate")

# The detector sections of the configuration that belong to the content inspector.
CONTENT_SECTIONS = frozenset({"injection", "jailbreak", "extraction", "obfuscation", "secrets", "pii",
                              "leakage", "classifier", "scan_cache"})
DETECTOR_SECTIONS = CONTENT_SECTIONS | {"model_access"}

Observer = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Snapshot:
    config: GatewayConfig
    policy: PolicySet
    keys: KeyStore
    openai_by_model: dict[str, OpenAIUpstream]
    openai_default: OpenAIUpstream | None
    predict_by_name: dict[str, PredictUpstream]
    upstream_auth: dict[str, str]
    sigma: SigmaEngine | None
    content: ContentInspector | None
    datasets: dict[str, Dataset]
    loaded_at: float

    @classmethod
    def build(cls, config: GatewayConfig, sigma_state: CorrelationState) -> Snapshot:
        """Everything a configuration implies, loaded and checked; raises ConfigError."""
        _check_detector_names(config)
        by_model: dict[str, OpenAIUpstream] = {}
        default = None
        for upstream in config.upstreams.openai:
            for model in upstream.models:
                by_model.setdefault(model, upstream)
            if not upstream.models and default is None:
                default = upstream
        auth = {}
        for upstream in config.upstreams.openai:
            if upstream.api_key_env and os.environ.get(upstream.api_key_env):
                auth[upstream.name] = f"Bearer {os.environ[upstream.api_key_env]}"
        return cls(
            config=config,
            policy=load_policy(config),
            keys=KeyStore(config.keys),
            openai_by_model=by_model,
            openai_default=default,
            predict_by_name={p.name: p for p in config.upstreams.predict},
            upstream_auth=auth,
            sigma=_sigma_engine(config, sigma_state),
            content=_content_inspector(config),
            datasets=load_datasets(config),
            loaded_at=time.time(),
        )

    def openai_upstream(self, model: str) -> OpenAIUpstream | None:
        return self.openai_by_model.get(model) or self.openai_default


class Gateway:
    def __init__(
        self, config: GatewayConfig, *, config_path: str | None = None,
        store: StateStore | None = None, decision_log: DecisionLog | None = None,
    ) -> None:
        self.config_path = config_path
        self.sigma_state = _correlation_state(config)
        self.snapshot = Snapshot.build(config, self.sigma_state)
        self.store = store or _state_store(config)
        self.windows = RequestWindows(config.features, self.store, self._sigma_windows())
        self.identity_actions = IdentityActions()
        self.shared_state = config.state.backend == "redis"
        self.upstream = UpstreamClient()
        self.reviews = ReviewQueue()
        self.decision_log = decision_log
        self.observers: list[Observer] = []
        self.exporters = [JsonlExporter(spec.path) for spec in config.exporters]
        self.observers.extend(self.exporters)
        self.model_access = ModelAccessMonitor(config, self.store)
        self.noise_secret = b""
        self.started = False
        self.in_flight = 0  # requests inside the app (see close)
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        if self.started:
            return
        await self.upstream.start()
        if self.decision_log is None:
            self.decision_log = await DecisionLog.open(self.snapshot.config.audit)
        self.noise_secret = _noise_secret(self.snapshot.config)
        _settle_heap()
        self.started = True

    async def close(self) -> None:
        if not self.started:
            return
        self.started = False
        # The server has cancelled the requests it gave up waiting for; each still logs
        # how it ended (a withdrawn hold, a stopped stream) before the log closes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), SETTLE_SECONDS)
        await self.upstream.close()
        if self.decision_log is not None:
            await self.decision_log.close()
        await self.store.close()
        for exporter in self.exporters:
            await asyncio.to_thread(exporter.close)

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_ended(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    def reload(self) -> tuple[bool, str]:
        """Re-read the configuration file; on any error keep the running snapshot."""
        if self.config_path is None:
            return False, "the gateway runs on embedded defaults; there is no file to reload"
        try:
            snapshot = Snapshot.build(load_config(self.config_path), self.sigma_state)
            self.model_access.reload(snapshot.config)  # keeps the running settings if it raises
        except AtlasGateError as exc:
            message = f"reload failed, keeping policy revision {self.snapshot.policy.revision}: {exc}"
            log.error(message)
            return False, message
        self.snapshot = snapshot
        _settle_heap()
        for exporter in self.exporters:
            exporter.reopen()
        missing = self._sigma_windows() - set(self.windows.windows)
        if missing:
            log.warning("Sigma rules ask for feature windows %s; they take effect on restart",
                        sorted(missing))
        message = (f"reloaded {self.config_path}: policy revision {snapshot.policy.revision}, "
                   f"{len(snapshot.policy.rules)} rules")
        log.warning(message)
        return True, message

    def _sigma_windows(self) -> set[float]:
        engine = self.snapshot.sigma
        return {float(w) for w in engine.required_windows()} if engine is not None else set()

    def notify(self, entry: dict[str, Any]) -> None:
        for observer in self.observers:
            try:
                observer(entry)
            except Exception:  # an observer must never break a request
                log.exception("decision observer failed")


def _state_store(config: GatewayConfig) -> StateStore:
    settings = config.state
    if settings.backend == "redis":
        from atlasgate.features.redis_store import RedisStateStore

        return RedisStateStore(settings.url, prefix=settings.prefix + "w:")
    return MemoryStateStore(config.features.max_keys)


def _correlation_state(config: GatewayConfig) -> Any:
    settings = config.state
    if settings.backend == "redis":
        from atlasgate.sigma.redis_state import RedisCorrelationState

        return RedisCorrelationState(settings.url, prefix=settings.prefix + "c:")
    return MemoryCorrelationState()


# How long closing waits for requests the server cancelled to log how they ended.
SETTLE_SECONDS = 2.0

# Young-generation collections every 10,000 net allocations instead of 700: a request
# allocates a few hundred containers, nearly all freed by reference counting, so the
# default collected every couple of requests for little (about 6% of the gateway's CPU
# per chat request under load; bench/bench_gateway.py). Older generations keep their
# default schedule relative to it.
GC_THRESHOLDS = (10_000, 10, 10)


def _settle_heap() -> None:
    """Move what start-up loaded (models, rules, ATLAS index) out of the collector's way.

    A full collection otherwise walks millions of long-lived objects and stalls
    requests for tens of milliseconds; frozen objects are never traversed.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _noise_secret(config: GatewayConfig) -> bytes:
    """Output noise is keyed by the signing key, so every replica adds the same noise to the
    same answer and repeating a question cannot average it away."""
    try:
        key = Path(config.audit.signing_key).read_bytes()
    except OSError:
        key = os.urandom(32)
        log.warning("signing key unreadable; output noise uses a per-process secret")
    return hashlib.sha256(b"atlasgate/noise\0" + key).digest()


def _check_detector_names(config: GatewayConfig) -> None:
    for name in config.detectors:
        if name not in DETECTOR_SECTIONS:
            origin = origin_of(config)
            line = origin.document.line_of(("detectors", name)) if origin.document else None
            known = ", ".join(sorted(DETECTOR_SECTIONS))
            raise ConfigError(f"detectors.{name}: unknown detector; known: {known}", origin.path, line)


def _sigma_engine(config: GatewayConfig, state: CorrelationState) -> SigmaEngine | None:
    if not config.sigma.rules:
        return None
    return SigmaEngine.from_paths(config.sigma.rules, expand_placeholders=config.sigma.expand or None,
                                  state=state)


def _content_inspector(config: GatewayConfig) -> ContentInspector | None:
    settings = {k: v for k, v in config.detectors.items() if k in CONTENT_SECTIONS}
    try:
        inspector = ContentInspector(settings)
    except ConfigError as exc:
        origin = origin_of(config)
        line = origin.document.line_of(("detectors",)) if origin.document else None
        raise ConfigError(exc.reason, origin.path, line) from None
    return inspector if inspector.enabled else None
