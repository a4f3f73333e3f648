"""No input can make content inspection super-linear: 100 kB adversarial texts, timed as ratios."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from atlasgate.detectors.content import ContentInspector, restore
from atlasgate.detectors.content.stream import scan_stream

# name -> builder of an adversarial text of about n characters
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "letters": lambda n: "a" * n,
    "upper": lambda n: "A" * n,
    "digits": lambda n: "1" * n,
    "spaced_digits": lambda n: "1 " * (n // 2),
    "spaced_letters": lambda n: "a " * (n // 2),
    "leet": lambda n: "a1" * (n // 2),
    "at_signs": lambda n: "a@" * (n // 2),
    "colons": lambda n: "1:" * (n // 2),
    "percent": lambda n: "%41" * (n // 3),
    "base64": lambda n: "aWdub3Jl" * (n // 8),
    "hex": lambda n: "69" * (n // 2),
    "zero_width": lambda n: "i\u200b" * (n // 2),
    "homoglyph": lambda n: "а" * n,
    "pem": lambda n: "-----BEGIN PRIVATE KEY-----\n" + "A" * n,
    "password": lambda n: "password = '" + "x" * n,
    "dialogue": lambda n: "User: hi\nAssistant: ok\n" * (n // 24),
    "ignore": lambda n: "ignore " * (n // 7),
    "brackets": lambda n: "[" + "A_" * (n // 2),
    "url_userinfo": lambda n: "http://" + "a" * n + ":",
    "email_local": lambda n: "a." * (n // 2) + "@",
}


RESPONSE_TOO = {"letters", "brackets", "dialogue", "pem", "spaced_digits"}


@pytest.fixture(scope="module")
def inspector() -> ContentInspector:
    return ContentInspector({"leakage": {"system_prompts": ["You are a careful assistant " * 20],
                                         "canaries": ["CANARY-1"]}})


def ratio(small: Callable[[], object], large: Callable[[], object], rounds: int = 3) -> float:
    """CPU time(large) / CPU time(small): interleaved rounds, fastest of each.

    Process CPU time, not wall time: on a shared machine the wall clock also counts
    the time other processes held the cores. Each sample runs >= 30 ms of CPU.
    """
    start = time.process_time()
    small()
    loops = max(1, int(0.03 / max(time.process_time() - start, 1e-6)))
    best = [float("inf"), float("inf")]
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for index, action in enumerate((small, large)):
                start = time.process_time()
                for _ in range(loops):
                    action()
                best[index] = min(best[index], time.process_time() - start)
    finally:
        gc.enable()
    return best[1] / best[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_inspection_time_grows_linearly(inspector: ContentInspector, name: str) -> None:
    build = ADVERSARIAL[name]
    small, large = build(50_000), build(100_000)
    for response in (False, True) if name in RESPONSE_TOO else (False,):
        # Linear work doubles (ratio ~2); quadratic work quadruples. Timers on a shared
        # machine are noisy, so the bound sits between the two.
        measured = ratio(lambda r=response: inspector.inspect_text(small, response=r),
                         lambda r=response: inspector.inspect_text(large, response=r))
        assert measured < 3.0, (name, response, measured)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["letters", "spaced_digits", "pem", "brackets", "at_signs"])
def test_streaming_time_grows_linearly(inspector: ContentInspector, name: str) -> None:
    build = ADVERSARIAL[name]

    def run(text: str) -> None:
        scan_stream(inspector, [text[i:i + 64] for i in range(0, len(text), 64)], redact=True)

    small, large = build(50_000), build(100_000)
    measured = ratio(lambda: run(small), lambda: run(large))
    assert measured < 3.0, (name, measured)


def test_restore_is_linear_on_unterminated_placeholders() -> None:
    mapping = {"[EMAIL_1]": "x@example.com"}
    small, large = "[" + "A_" * 25_000, "[" + "A_" * 50_000
    assert ratio(lambda: restore(small, mapping), lambda: restore(large, mapping)) < 3.0
