"""Decision ids: unique, unguessable, and in time order, as the log is."""

from __future__ import annotations

import re

from atlasgate.gateway.normalize import event_id


def test_ids_are_32_hex_digits_and_unique() -> None:
    ids = {event_id(1_795_630_036.123) for _ in range(20_000)}
    assert len(ids) == 20_000  # the same millisecond still gives distinct ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_ids_sort_by_the_millisecond_they_were_made() -> None:
    times = [1_795_630_036.000, 1_795_630_036.001, 1_795_630_037.5, 1_895_630_000.0]
    ids = [event_id(t) for t in times]
    assert ids == sorted(ids)
    assert event_id(1_795_630_036.0)[:12] == f"{1_795_630_036_000:012x}"


def test_threads_drawing_ids_at_once_never_share_random_bits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def draw(_: int) -> list[str]:
        return [event_id(1_795_630_036.123) for _ in range(3_000)]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(draw, range(8)) for i in batch]
    assert len(set(ids)) == len(ids) == 24_000

