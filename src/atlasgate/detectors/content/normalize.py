"""Undo the tricks that hide text from detectors, keeping a map back to the original.

Detectors read *views* of a text: the normalised text (NFKC, invisible and bidi
characters removed, tag characters decoded, homoglyphs folded), a folded view
(spaced-out letters joined, leetspeak undone) and the decoded payloads embedded in
it. Every view knows, for each of its characters, which span of the original text
it came from, so a finding on any view points at the original characters that a
caller sent and that CONSTRAIN must redact.

Plain ASCII text (most traffic) takes a fast path: its normalised view is the
text itself and the map is the identity.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass, field

from atlasgate.detectors.content.patterns import PatternGroup, compile_re

# Zero-width and other invisible formatting characters.
_INVISIBLE = frozenset([
    0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180E,
    *range(0x200B, 0x2010), *range(0x2060, 0x2065), 0x3164, 0xFEFF, 0xFFA0,
])
_BIDI = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])

# Look-alikes NFKC leaves alone: Cyrillic, Greek and a few Latin-extended letters
# that render as ASCII letters.
_HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g", "ɩ": "i", "ı": "i",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "υ": "u",
    "ε": "e", "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "ⅰ": "i", "ℓ": "l", "ꓲ": "I", "ꓳ": "O",
}

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}

_SPACED = compile_re(r"\b(?:[A-Za-z][ ._*|~\-]{1,3}){5,}[A-Za-z]\b")
_LEET_TOKEN = compile_re(
    r"[A-Za-z0-9@$!|+]*(?:[A-Za-z][0-9@$!|+]|[0-9@$!|+][A-Za-z])[A-Za-z0-9@$!|+]*"
)
_FOLDABLE = PatternGroup(_SPACED, _LEET_TOKEN)
_UNIT = compile_re(r"^(?:\d+[a-z]{1,3}|[a-z]{1,4}\d{1,3})$", prefilter=False)  # per token


@dataclass(frozen=True, slots=True)
class Signal:
    """Evidence that the text was disguised: what kind, where, how strongly."""

    kind: str
    span: tuple[int, int]
    score: float
    count: int


@dataclass(slots=True)
class View:
    """A text the detectors read, with the way back to the original text.

    ``starts[i]``/``ends[i]`` give the original span of character ``i``; ``None``
    means the identity. A decoded payload maps as a whole onto ``segment``.
    """

    text: str
    kind: str
    starts: list[int] | None = None
    ends: list[int] | None = None
    segment: tuple[int, int] | None = None
    parent: View | None = field(default=None, repr=False)
    runs: list[tuple[int, int, int, int]] | None = field(default=None, repr=False)
    disguised: list[int] = field(default_factory=list, repr=False)
    lowered: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.lowered = self.text.lower()

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.segment is not None:
            return self.segment
        if self.runs is not None and self.parent is not None:
            return self.parent.original_span(*self._through_runs(start, end))
        if self.starts is None or self.ends is None:
            return start, end
        if not self.starts:
            return 0, 0
        end = max(end, start + 1)
        start = min(start, len(self.starts) - 1)
        end = min(end, len(self.ends))
        return self.starts[start], self.ends[end - 1]

    def _through_runs(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of this view onto its parent, run by run (a run is exact when its
        view and parent lengths agree, and maps as a whole otherwise)."""
        runs = self.runs or []
        if not runs:
            return 0, 0
        end = max(end, start + 1)

        def locate(offset: int) -> tuple[int, int, int, int]:
            index = bisect.bisect_right(runs, (offset, float("inf"))) - 1
            return runs[max(0, min(index, len(runs) - 1))]

        v0, v1, p0, p1 = locate(start)
        exact = (v1 - v0) == (p1 - p0)
        first = p0 + (start - v0) if exact else p0
        v0, v1, p0, p1 = locate(end - 1)
        exact = (v1 - v0) == (p1 - p0)
        last = p0 + (end - v0) if exact else p1
        return first, max(last, first + 1)

    def hides(self, span: tuple[int, int] | None) -> bool:
        """True when text found at ``span`` (original offsets) was disguised to be read."""
        if self.derived:
            return True
        if not self.disguised or span is None:
            return False
        index = bisect.bisect_left(self.disguised, span[0])
        return index < len(self.disguised) and self.disguised[index] < span[1]

    @property
    def derived(self) -> bool:
        """True when the view is not the text as sent (so a hit here was hidden)."""
        return self.kind not in ("text", "normalized")


@dataclass(slots=True)
class Normalized:
    original: str
    base: View
    folded: View | None
    signals: list[Signal]


def _fold_char(ch: str) -> tuple[str, str]:
    """(replacement, kind) for one non-ASCII character; kind is '' when nothing changed."""
    cp = ord(ch)
    if cp in _INVISIBLE:
        return "", "invisible"
    if cp in _BIDI:
        return "", "bidi"
    if 0xE0000 <= cp <= 0xE007F:
        inner = cp - 0xE0000
        return (chr(inner) if 0x20 <= inner < 0x7F else ""), "tag"
    folded = unicodedata.normalize("NFKC", ch)
    kind = "compat" if folded != ch and folded.isascii() and folded.isalnum() else ""
    if any(c in _HOMOGLYPHS for c in folded):
        folded = "".join(_HOMOGLYPHS.get(c, c) for c in folded)
        kind = "homoglyph"
    return folded, kind


_CACHE: dict[str, tuple[str, str]] = {}


def _fold_cached(ch: str) -> tuple[str, str]:
    hit = _CACHE.get(ch)
    if hit is None:
        hit = _fold_char(ch)
        if len(_CACHE) < 65536:
            _CACHE[ch] = hit
    return hit


def _base_view(text: str) -> tuple[View, list[Signal]]:
    if text.isascii():
        return View(text, "text"), []
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    seen: dict[str, list[int]] = {}
    for index, ch in enumerate(text):
        if ch < "\x80":
            out.append(ch)
            starts.append(index)
            ends.append(index + 1)
            continue
        folded, kind = _fold_cached(ch)
        if kind:
            seen.setdefault(kind, []).append(index)
        for piece in folded:
            out.append(piece)
            starts.append(index)
            ends.append(index + 1)
    signals = _char_signals(text, seen)
    view = View("".join(out), "normalized", starts, ends)
    if signals:
        view.disguised = sorted(p for kind, positions in seen.items() if kind != "compat"
                                or len(positions) >= 4 for p in positions)
    return view, signals


def _letter_near(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    return (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha())


def _char_signals(text: str, seen: dict[str, list[int]]) -> list[Signal]:
    signals = []
    for kind, positions in seen.items():
        if kind == "invisible":
            positions = [p for p in positions if p > 0 and _letter_near(text, p)]
            score = 0.7 if len(positions) >= 2 else 0.5
        elif kind == "homoglyph":
            positions = [p for p in positions if _letter_near(text, p)]
            score = 0.8 if len(positions) >= 2 else 0.6
        elif kind == "compat":
            score = 0.6 if len(positions) >= 4 else 0.0
        elif kind == "tag":
            score = 0.95
        else:
            score = 0.7
        if positions and score > 0:
            name = {"invisible": "invisible_characters", "bidi": "bidi_controls",
                    "tag": "tag_characters", "homoglyph": "homoglyphs",
                    "compat": "fullwidth_or_styled_letters"}[kind]
            signals.append(Signal(name, (positions[0], positions[-1] + 1), score, len(positions)))
    return signals


def _join_spaced(run: str) -> str:
    letters = run[0::1]
    seps: list[str] = []
    chars: list[str] = []
    i = 0
    while i < len(letters):
        if letters[i].isalpha():
            chars.append(letters[i])
            i += 1
            continue
        j = i
        while j < len(letters) and not letters[j].isalpha():
            j += 1
        seps.append(letters[i:j])
        chars.append("\0")
        i = j
    shortest = min((len(s) for s in seps), default=1)
    sep_iter = iter(seps)
    return "".join(c if c != "\0" else (" " if len(next(sep_iter)) > shortest else "")
                   for c in chars)


def _leet_weight(token: str) -> int:
    """How strongly a token reads as leetspeak: 0 for units, versions and keys."""
    if not any(c.islower() for c in token) or _UNIT.search(token.lower()) is not None:
        return 0
    leet = [i for i, c in enumerate(token) if c in _LEET and c != "@"]
    letters = sum(1 for c in token if c.isalpha())
    inner = any(0 < i < len(token) - 1 and token[i - 1].isalpha() and token[i + 1].isalpha()
                for i in leet)
    if inner or (len(leet) >= 2 and letters >= 2):
        return 2 if len(leet) >= 2 else 1
    return 0


def _folded_view(base: View, signals: list[Signal]) -> View | None:
    """Join spaced-out letters and undo leetspeak, as one extra view (or None)."""
    text = base.text
    if not _FOLDABLE.may_match(text):
        return None
    pieces: list[tuple[int, int, str]] = []
    spaced_letters = 0
    spaced_span: list[int] = []
    for match in _SPACED.finditer(text):
        start, end = match.span()
        joined = _join_spaced(match.group())
        spaced_letters += sum(c.isalpha() for c in joined)
        pieces.append((start, end, joined))
        spaced_span.extend(base.original_span(start, end))
    leet_tokens = 0
    leet_span: list[int] = []
    for match in _LEET_TOKEN.finditer(text):
        token = match.group()
        start, end = match.span()
        if len(token) < 3 or any(s < end and start < e for s, e, _ in pieces):
            continue
        leet_tokens += _leet_weight(token)
        pieces.append((start, end, "".join(_LEET.get(c, c) for c in token)))
        leet_span.extend(base.original_span(start, end))
    if spaced_letters >= 6:
        signals.append(Signal("spaced_letters", (min(spaced_span), max(spaced_span)),
                              0.6 if spaced_letters >= 12 else 0.4, spaced_letters))
    if leet_tokens >= 3:
        signals.append(Signal("leetspeak", (min(leet_span), max(leet_span)),
                              0.6 if leet_tokens >= 6 else 0.4, leet_tokens))
    # An incidental "mp3" or "x86" is not worth a second pass of every detector.
    if spaced_letters < 6 and leet_tokens < 2:
        return None
    pieces.sort()
    out: list[str] = []
    runs: list[tuple[int, int, int, int]] = []  # (view start, view end, parent start, parent end)
    position = 0
    length = 0
    for start, end, replacement in pieces:
        if start > position:
            out.append(text[position:start])
            runs.append((length, length + start - position, position, start))
            length += start - position
        out.append(replacement)
        runs.append((length, length + len(replacement), start, end))
        length += len(replacement)
        position = end
    if position < len(text):
        out.append(text[position:])
        runs.append((length, length + len(text) - position, position, len(text)))
    return View("".join(out), "folded", parent=base, runs=runs)


def normalize(text: str) -> Normalized:
    base, signals = _base_view(text)
    folded = _folded_view(base, signals)
    return Normalized(text, base, folded, signals)
