"""The model-access monitor: per-caller query-stream features for predict routes.

Awaited by the gateway on every predict request, after the windowed request
counts and before the policy decides, and again when the upstream has answered.
It reads the numeric inputs, updates the caller's bounded stream state and writes
``api.*`` and ``detection.model_access.*`` fields into the Event (see ``fields``).
It never raises on odd input: a request it cannot read simply gets no stream fields.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy import stats

from atlasgate import event as ev
from atlasgate.config.schema import GatewayConfig
from atlasgate.errors import AtlasGateError, ConfigError
from atlasgate.event import Event
from atlasgate.features.model_access import fields as f
from atlasgate.features.model_access import fingerprint as fp
from atlasgate.features.model_access.caller import (
    DISTINCT,
    KNN,
    MEMBER,
    OOD,
    PRINT,
    REPEAT,
    CallerState,
)
from atlasgate.features.model_access.inputs import request_rows, response_labels
from atlasgate.features.model_access.registry import RegisteredModel, load_registry
from atlasgate.features.model_access.settings import MonitorSettings
from atlasgate.features.model_access.text import NEAR, TextBuffer, signature, text_instances
from atlasgate.features.store import StateStore

LOG5 = math.log(5.0)
MAX_PENDING = 256
MAX_RECORDS = 4096
ONLINE_SAMPLES = 512
_NO_STOP = np.empty(0, dtype=np.int64)
MAX_WIDTH = 4096  # widest input of an unregistered model that gets stream features
MAX_VALUE = 1e15  # inputs beyond this are clipped so that distances stay finite in float32


class _ModelView:
    """Per-model constants the hot path reads: registered calibration or online estimates."""

    __slots__ = ("knn_threshold", "model", "nn_samples", "normality_w", "print_threshold",
                 "scale", "settings")

    def __init__(self, model: RegisteredModel | None, settings: MonitorSettings, width: int) -> None:
        self.model = model
        self.settings = settings
        self.nn_samples: list[float] = []
        access = model.access if model is not None else {}
        self.scale: float | None = settings.similarity_scale or access.get("nn_median")
        self.knn_threshold: float | None = settings.knn_threshold or access.get("knn_threshold")
        self.normality_w: float | None = settings.normality_w or access.get("normality_w")
        printing = access.get("fingerprint") or {}
        self.print_threshold: int | None = settings.fingerprint_threshold or printing.get("threshold")
        if model is None and width < fp.MIN_FEATURES:
            self.print_threshold = None

    def learn_scale(self, nearest: float) -> None:
        """Unregistered models: the typical nearest-neighbour distance, estimated from traffic.

        The first callers' distances set the scale (re-estimated every 64 samples up to
        512); a registered model's calibration or a configured scale always wins.
        """
        if self.model is not None or nearest <= 0 or len(self.nn_samples) >= ONLINE_SAMPLES:
            return
        self.nn_samples.append(nearest)
        if len(self.nn_samples) % 64 == 0:
            median = float(np.median(self.nn_samples))
            self.scale = self.settings.similarity_scale or median
            self.knn_threshold = self.settings.knn_threshold or 0.1 * median


class ModelAccessMonitor:
    def __init__(self, config: GatewayConfig, store: StateStore) -> None:
        self.settings = MonitorSettings.from_config(config)
        self.store = store
        try:
            self.models = load_registry(self.settings.registry) if self.settings.enabled else {}
        except AtlasGateError as exc:
            raise ConfigError(f"detectors.model_access.registry: {exc}") from None
        self._views: dict[tuple[str, int], _ModelView] = {}
        self._callers: OrderedDict[tuple[Any, Any, Any], CallerState] = OrderedDict()
        self._windows = (self.settings.window,)

    def reload(self, config: GatewayConfig) -> None:
        """New settings and registry (e.g. a model registered since start); callers' streams are kept.

        Raises ConfigError and keeps the running settings when the new ones are bad.
        """
        settings = MonitorSettings.from_config(config)
        try:
            models = load_registry(settings.registry) if settings.enabled else {}
        except AtlasGateError as exc:
            raise ConfigError(f"detectors.model_access.registry: {exc}") from None
        if settings.buffer != self.settings.buffer or settings.normality_samples != \
                self.settings.normality_samples:
            self._callers.clear()
        self.settings, self.models = settings, models
        self._views = {}
        self._windows = (settings.window,)

    def __len__(self) -> int:
        return len(self._callers)

    def memory_bytes(self) -> int:
        return sum(state.memory_bytes() for state in self._callers.values())

    # ---- the two hooks ------------------------------------------------------------------

    async def observe(self, event: Event, body: dict[str, Any], version: str) -> None:
        if not self.settings.enabled:
            return
        now = time.time()
        model_name = event.get(ev.API_MODEL)
        model = self.models.get(model_name) if isinstance(model_name, str) else None
        rows = request_rows(body, version, model.profile.features if model else None)
        out: dict[str, Any] = {f.REGISTERED: model is not None}
        instances = event.get(ev.ML_INSTANCES)
        if not isinstance(instances, int) or isinstance(instances, bool):
            instances = rows.shape[0] if rows is not None else 0
        width = rows.shape[1] if rows is not None else int(event.get(ev.ML_FEATURES) or 0)
        mismatch = model is not None and rows is not None and width != model.width
        if model is not None:
            dims = model.regions.shape[1]
        else:  # the buffer's width comes from real rows only, never from a declared shape
            dims = rows.shape[1] if rows is not None and rows.shape[1] <= MAX_WIDTH else 0
        state = self._state(event, dims)
        settings = self.settings
        state.expire(now - settings.window)
        state.start(event.get(ev.EVENT_ID) or str(now), now, event)
        state.add_request(now, instances, instances * max(width, 1))
        state.widths[width] = now
        if len(state.widths) > 64:
            state.widths.pop(next(iter(state.widths)))
        out[f.OVERSIZED] = instances > settings.oversized_instances
        out[f.SHAPE_PROBES] = len(state.widths)
        out[f.SHAPE_MISMATCH] = mismatch
        out[f.INSTANCES_WINDOW] = state.instances
        out[f.COMPUTE_WINDOW] = state.compute
        out[f.CONCURRENT] = state.in_flight(now, settings.inflight_ttl, ev.HTTP_STATUS)
        alarms = 0
        if rows is not None and dims and not mismatch and state.buffer.shape[1] == dims:
            alarms = self._observe_rows(state, self._view(model, model_name, width), rows, now, out,
                                        event.get(ev.EVENT_ID))
        elif rows is None and (texts := text_instances(body, version)) is not None:
            alarms = self._observe_texts(state, texts, now, out)
        if alarms:
            key = f"model_access\x1f{event.caller_key(per_model=True)}"
            counts = await self.store.hit(key, now, self._windows)
            out[f.ALARMS] = counts[0].count
        event.update(out)

    async def observe_response(self, event: Event, response_body: dict[str, Any], version: str) -> None:
        if not self.settings.enabled:
            return
        state = self._callers.get(self._key(event))
        if state is None:
            return
        event_id = event.get(ev.EVENT_ID)
        state.inflight.pop(event_id, None)
        pending = state.pending.pop(event_id, None)
        labels, full = response_labels(response_body, version)
        if labels is None:
            return
        classes = state.classes
        for label in labels.tolist()[:MAX_PENDING]:
            classes.add(int(label))
        out: dict[str, Any] = {}
        model = self.models.get(event.get(ev.API_MODEL))
        if pending is not None:
            regions, hits = pending
            for region, label in zip(regions, labels.tolist(), strict=False):
                state.pairs.add((region, int(label)))
            if full and len(state.full_records) < MAX_RECORDS:
                state.full_records.update(hits)
            out[f.DECISION_REGIONS] = len(state.pairs)
            out[f.FULL_VECTOR_RECORDS] = len(state.full_records)
        total = model.classes if model is not None and model.classes else None
        if total is None:
            width = self._answer_width(response_body)
            total = width if width and width > 1 else None
        if total:
            out[f.CLASS_COVERAGE] = round(min(1.0, len(classes) / total), 4)
        event.update(out)

    # ---- per row ----------------------------------------------------------------------

    def _observe_rows(self, state: CallerState, view: _ModelView, rows: np.ndarray, now: float,
                      out: dict[str, Any], event_id: Any) -> int:
        settings = self.settings
        model = view.model
        rows = np.clip(rows[: settings.max_instances], -MAX_VALUE, MAX_VALUE)
        with np.errstate(all="ignore"):
            encoded = model.encode(rows) if model is not None else rows
            space = np.clip(model.metric(rows, encoded) if model is not None else rows,
                            -MAX_VALUE, MAX_VALUE)
        ood = model.out_of_distribution(rows, encoded) if model is not None else None
        regions = model.nearest_region(encoded).tolist() if model is not None else None
        prints = None
        if view.print_threshold:
            prints = fp.fingerprints(space, model.stop if model is not None else _NO_STOP)
        k = settings.k
        best_similarity = None
        best_knn = None
        alarms = 0
        hits: list[str] = []
        seen_regions: list[int] = []
        limit = 4 * settings.buffer
        for i in range(rows.shape[0]):
            raw = rows[i]
            if state.is_repeat(hash(raw.tobytes()), limit):
                state.record(now, REPEAT)
                continue
            row = space[i].astype(np.float32)
            bits = DISTINCT
            distances = state.distances(row)
            if distances.size:
                nearest = float(distances.min())
                view.learn_scale(nearest)
                state.mins.append(nearest)
                if view.scale:
                    similarity = math.exp(-LOG5 * nearest / view.scale)
                    best_similarity = similarity if best_similarity is None else max(best_similarity,
                                                                                      similarity)
                if distances.size >= k:
                    knn = float(np.partition(distances, k - 1)[:k].mean()) if distances.size > k \
                        else float(distances.mean())
                    best_knn = knn if best_knn is None else min(best_knn, knn)
                    if view.knn_threshold is not None and knn < view.knn_threshold:
                        bits |= KNN
            if ood is not None and ood[i]:
                bits |= OOD
            if model is not None:
                digest = model.training_row_hash(raw)
                if digest is not None:
                    bits |= MEMBER
                    hits.append(digest)
                    state.anchors.append([row, 0])
                elif state.anchors and view.scale:
                    radius = 0.5 * view.scale
                    for anchor in state.anchors:
                        if float(np.linalg.norm(anchor[0] - row)) < radius:
                            anchor[1] += 1
                assert regions is not None
                state.regions.add(regions[i])
                seen_regions.append(regions[i])
            fingerprint = prints[i] if prints is not None else None
            if fingerprint is not None and view.print_threshold is not None \
                    and state.match_print(fingerprint) >= view.print_threshold:
                bits |= PRINT
            state.push(row, fingerprint)
            if bits & (KNN | PRINT | OOD | MEMBER):
                alarms += 1
            state.record(now, bits)
        self._stream_fields(state, view, out, best_similarity, best_knn)
        if model is not None and event_id is not None:
            state.pending[event_id] = (seen_regions, hits)
            if len(state.pending) > MAX_PENDING:
                state.pending.popitem(last=False)
        return alarms

    def _observe_texts(self, state: CallerState, texts: list[str], now: float,
                       out: dict[str, Any]) -> int:
        """Text instances: exact repeats set aside, MinHash similarity to recent texts."""
        settings = self.settings
        if state.text is None:
            state.text = TextBuffer(settings.buffer)
        buffer: TextBuffer = state.text
        best = None
        alarms = 0
        for text in texts[: settings.max_instances]:
            if state.is_repeat(hash(text), 4 * settings.buffer):
                state.record(now, REPEAT)
                continue
            sig = signature(text)
            similarity = buffer.most_similar(sig) if buffer.filled else None
            bits = DISTINCT
            if similarity is not None:
                best = similarity if best is None else max(best, similarity)
                if similarity >= NEAR:
                    bits |= KNN
                    alarms += 1
            buffer.push(sig)
            state.record(now, bits)
        counts = state.counts
        out[f.QUERIES] = state.queries
        out[f.DISTINCT_INPUTS] = counts[DISTINCT]
        out[f.REPEAT_RATIO] = round(counts[REPEAT] / state.queries, 4) if state.queries else 0.0
        if best is not None:
            out[f.SIMILARITY] = round(best, 4)
        out[f.KNN_HITS] = counts[KNN]
        out[f.STATEFUL] = counts[KNN] >= settings.stateful_hits
        return alarms

    def _stream_fields(self, state: CallerState, view: _ModelView, out: dict[str, Any],
                       similarity: float | None, knn: float | None) -> None:
        settings = self.settings
        counts = state.counts
        queries = state.queries
        out[f.QUERIES] = queries
        out[f.DISTINCT_INPUTS] = counts[DISTINCT]
        out[f.REPEAT_RATIO] = round(counts[REPEAT] / queries, 4) if queries else 0.0
        if similarity is not None:
            out[f.SIMILARITY] = round(similarity, 4)
        if knn is not None:
            out[f.KNN_DISTANCE] = round(knn, 4)
        out[f.KNN_HITS] = counts[KNN]
        out[f.STATEFUL] = view.knn_threshold is not None and counts[KNN] >= settings.stateful_hits
        if view.print_threshold is not None:
            out[f.FINGERPRINT_HITS] = counts[PRINT]
            out[f.FINGERPRINT] = counts[PRINT] >= settings.fingerprint_hits
        if len(state.mins) >= settings.normality_min:
            w, p = _shapiro(state.mins, settings.normality_samples)
            out[f.NORMALITY_W] = round(w, 4)
            out[f.NORMALITY_P] = p
            out[f.PRADA] = view.normality_w is not None and w < view.normality_w
        model = view.model
        if model is None:
            return
        distinct = counts[DISTINCT]
        out[f.OOD_COUNT] = counts[OOD]
        out[f.OOD_RATE] = round(counts[OOD] / distinct, 4) if distinct else 0.0
        out[f.OOD] = counts[OOD] >= settings.ood_min and out[f.OOD_RATE] >= settings.ood_rate
        out[f.MEMBERSHIP_HITS] = counts[MEMBER]
        out[f.TRAINING_HIT_RATE] = round(counts[MEMBER] / distinct, 4) if distinct else 0.0
        out[f.MEMBERSHIP] = (counts[MEMBER] >= settings.membership_min
                             and out[f.TRAINING_HIT_RATE] >= settings.membership_rate)
        burst = max((a[1] for a in state.anchors), default=0)
        out[f.BURST] = burst
        out[f.BURST_FLAG] = burst >= settings.burst
        coverage = len(state.regions) / model.regions.shape[0]
        out[f.COVERAGE] = round(coverage, 4)
        progress = model.progress(coverage)
        if state.classes and model.classes:
            # a copy cannot agree with the model beyond the classes its answers contained
            progress = min(progress, len(state.classes) / model.classes)
        out[f.EXTRACTION_PROGRESS] = round(progress, 4)

    # ---- state --------------------------------------------------------------------------

    @staticmethod
    def _key(event: Event) -> tuple[Any, Any, Any]:
        return (event.get(ev.CLIENT_TENANT), event.get(ev.CLIENT_KEY_ID), event.get(ev.API_MODEL))

    def _state(self, event: Event, dims: int) -> CallerState:
        """The caller's state; its input width is fixed by the first request (probes do not reset it)."""
        key = self._key(event)
        callers = self._callers
        state = callers.get(key)
        if state is None:
            state = CallerState(max(dims, 1), self.settings.buffer, self.settings.normality_samples,
                                fp.SIZE)
            callers[key] = state
            if len(callers) > self.settings.max_callers:
                callers.popitem(last=False)
        elif state.filled == 0 and dims and state.buffer.shape[1] != dims:
            state.reshape(dims)
            callers.move_to_end(key)
        else:
            callers.move_to_end(key)
        return state

    def _view(self, model: RegisteredModel | None, name: Any, width: int) -> _ModelView:
        key = (str(name), width)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = _ModelView(model, self.settings, width)
        return view

    @staticmethod
    def _answer_width(body: dict[str, Any]) -> int | None:
        predictions = body.get("predictions")
        if isinstance(predictions, list) and predictions and isinstance(predictions[0], list):
            return len(predictions[0])
        for output in body.get("outputs") or ():
            shape = output.get("shape") if isinstance(output, dict) else None
            if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int):
                return shape[1]
        return None


def _shapiro(values: Any, samples: int) -> tuple[float, float]:
    """PRADA's test, on log distances: natural nearest-neighbour distances are right-skewed."""
    sample = np.fromiter(values, dtype=np.float64)[-samples:]
    if np.ptp(sample) <= 1e-9 or sample.min() <= 0:
        return 0.0, 0.0
    logs = np.log(sample)
    if _swilk is not None and logs.size >= 3:
        ordered = np.sort(logs)
        ordered -= logs[logs.size // 2]
        w, p, fault = _swilk(ordered, np.zeros(logs.size // 2), 0)
        if fault in (0, 2):
            return float(w), float(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, p = stats.shapiro(logs)
    return float(w), float(p)


def _load_swilk() -> Any:
    """SciPy's Shapiro-Wilk routine without the public wrapper's ~0.1 ms of argument handling.

    The public ``scipy.stats.shapiro`` is the fallback (and the reference in the tests).
    """
    try:
        from scipy.stats._ansari_swilk_statistics import swilk
    except ImportError:
        return None
    return swilk


_swilk = _load_swilk()
