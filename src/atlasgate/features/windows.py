"""Windowed request features per identity and model, written into the Event."""

from __future__ import annotations

from collections.abc import Iterable

from atlasgate import event as ev
from atlasgate.config.durations import format_duration
from atlasgate.config.schema import Features
from atlasgate.event import Event
from atlasgate.features.store import StateStore


class RequestWindows:
    """Adds ``api.request_count`` / ``api.request_rate`` (default window) and per-window
    variants such as ``api.request_count_1m``.

    The rate is requests per second over the part of the window the caller has
    actually been active in (at least one second), so a burst of 60 requests in
    6 seconds reads 10/s in every window instead of being diluted by an hour.
    """

    def __init__(self, settings: Features, store: StateStore, extra: Iterable[float] = ()) -> None:
        self.store = store
        self.windows = tuple(sorted({*settings.windows, *extra}))
        self.default_index = self.windows.index(settings.default_window)
        self._names = [
            (f"{ev.API_REQUEST_COUNT}_{format_duration(w)}", f"{ev.API_REQUEST_RATE}_{format_duration(w)}")
            for w in self.windows
        ]

    async def enrich(self, event: Event, now: float) -> None:
        counts = await self.store.hit(event.caller_key(per_model=True), now, self.windows)
        fields: dict[str, float] = {}
        for (count_name, rate_name), count in zip(self._names, counts, strict=True):
            active = min(count.window, max(1.0, now - count.first_seen))
            fields[count_name] = count.count
            fields[rate_name] = round(count.count / active, 3)
        default = counts[self.default_index]
        fields[ev.API_REQUEST_COUNT] = default.count
        fields[ev.API_REQUEST_RATE] = fields[self._names[self.default_index][1]]
        event.update(fields)
