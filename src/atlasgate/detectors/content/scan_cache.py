"""Scan results of request texts, remembered: a conversation re-sends its history every turn.

A chat client sends the system prompt and every earlier message again with each new
one, so scanning every string of every request makes a turn cost more the longer the
conversation has run. For one inspector the pipeline is a pure function of the text,
where it sits and whether it arrived indirectly, so its findings can be reused. The key
holds the text itself, not a digest of it: two different texts can never share an
entry. Entries and the characters they hold are both bounded; the least recently
used go first. Responses are not cached: each answer is new.
"""

from __future__ import annotations

from collections import OrderedDict

from atlasgate.detectors.findings import Finding

Key = tuple[str, str, bool]  # (text, location, indirect)


class ScanCache:
    def __init__(self, max_entries: int = 4096, max_chars: int = 8_000_000,
                 max_text: int = 65_536) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.max_text = max_text
        self._entries: OrderedDict[Key, tuple[Finding, ...]] = OrderedDict()
        self._chars = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> tuple[Finding, ...] | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: Key, findings: tuple[Finding, ...]) -> None:
        size = len(key[0])
        if size > self.max_text or key in self._entries:
            return
        self._entries[key] = findings
        self._chars += size
        while len(self._entries) > self.max_entries or self._chars > self.max_chars:
            old, _ = self._entries.popitem(last=False)
            self._chars -= len(old[0])

    def __len__(self) -> int:
        return len(self._entries)
