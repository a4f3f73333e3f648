"""The in-memory sliding-window store: counts, forgetting, and bounded memory per key."""

from __future__ import annotations

from atlasgate.features.store import BUCKETS, MemoryStateStore

MINUTE, HOUR = 60.0, 3600.0


def counts(store: MemoryStateStore, key: str, now: float, windows: tuple[float, ...]) -> list[int]:
    return [c.count for c in store.hit_now(key, now, windows)]


def test_short_windows_forget_hits_to_the_second() -> None:
    store = MemoryStateStore()
    for t in (1000.0, 1004.0, 1009.5):
        store.hit_now("k", t, (10.0,))
    # A hit exactly one window old still counts, and so does its whole second.
    assert counts(store, "k", 1010.0, (10.0,)) == [4]
    assert counts(store, "k", 1010.9, (10.0,)) == [5]
    # One second later the hit at 1000.0 is gone; 1004.0 stays until 1015.0.
    assert counts(store, "k", 1011.0, (10.0,)) == [5]
    assert counts(store, "k", 1015.0, (10.0,)) == [5]


def test_a_key_holds_a_bounded_number_of_buckets_per_window() -> None:
    store = MemoryStateStore()
    windows = (MINUTE, HOUR)
    for second in range(int(2 * HOUR)):  # a caller active every second for two hours
        store.hit_now("busy", 10_000.0 + second, windows)
    _, slots = store._keys["busy"]
    assert [len(slot.buckets) for slot in slots] == [BUCKETS + 1, BUCKETS + 1]


def test_long_windows_count_within_one_bucket_of_the_exact_count() -> None:
    store = MemoryStateStore()
    times = [50_000.0 + 0.7 * i for i in range(12_000)]  # 2.3 hours at 1.4 req/s
    for i, t in enumerate(times):
        got = store.hit_now("k", t, (HOUR,))[0].count
        exact = sum(1 for s in times[: i + 1] if s >= t - HOUR)
        assert exact <= got <= exact + HOUR / BUCKETS / 0.7 + 1


def test_the_oldest_hit_inside_a_window_is_reported() -> None:
    store = MemoryStateStore()
    store.hit_now("k", 100.0, (MINUTE, HOUR))
    store.hit_now("k", 130.0, (MINUTE, HOUR))
    minute, hour = store.hit_now("k", 170.0, (MINUTE, HOUR))
    assert (minute.count, minute.first_seen) == (2, 130.0)
    assert (hour.count, hour.first_seen) == (3, 100.0)


def test_changed_windows_start_the_key_afresh() -> None:
    store = MemoryStateStore()
    store.hit_now("k", 100.0, (10.0, 20.0))
    assert counts(store, "k", 101.0, (10.0, 30.0)) == [1, 1]


def test_idle_keys_are_evicted_first_when_full() -> None:
    store = MemoryStateStore(max_keys=2)
    store.hit_now("a", 1.0, (MINUTE,))
    store.hit_now("b", 2.0, (MINUTE,))
    store.hit_now("a", 3.0, (MINUTE,))
    store.hit_now("c", 4.0, (MINUTE,))  # evicts b, the least recently used
    assert len(store) == 2
    assert counts(store, "a", 5.0, (MINUTE,)) == [3]
    assert counts(store, "b", 6.0, (MINUTE,)) == [1]


def test_a_key_started_afresh_counts_as_recently_used() -> None:
    store = MemoryStateStore(max_keys=2)
    store.hit_now("a", 1.0, (MINUTE,))
    store.hit_now("b", 2.0, (MINUTE,))
    store.hit_now("a", 3.0, (MINUTE, HOUR))  # new windows: a starts afresh, and is recent
    store.hit_now("c", 4.0, (MINUTE,))  # evicts b
    assert counts(store, "a", 5.0, (MINUTE, HOUR)) == [2, 2]
    assert counts(store, "b", 6.0, (MINUTE,)) == [1]
