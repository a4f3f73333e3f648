"""Regular expressions for the content detectors, all on RE2.

RE2 runs in time linear in the input whatever the pattern, so no text a caller
sends can make a detector backtrack (the test suite checks this on 100 kB inputs).
Patterns are compiled once, when the module is imported.

Most texts match almost none of the detectors' patterns, and each RE2 call from
Python costs a microsecond or two before it looks at the text. So every pattern is
also added to one ``RE2::Set``: one pass over a short text says which patterns
match anywhere in it, and a call of a pattern that does not returns at once
without running it. A detector that runs several patterns on one text asks once
for the whole ``PatternGroup`` and skips them all together. Long texts skip the set
and run every pattern: there the regexes' own work dominates, and a set's DFA could
exhaust its memory budget (RE2 then reports "no match", which must never hide a
finding).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import re2

_MAX_MEM = 64 << 20
SET_MAX_CHARS = 4096


def _options(ignore_case: bool = False) -> Any:
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return options


_EMPTY: tuple[None, frozenset[int], None, frozenset[int]] = (None, frozenset(), None, frozenset())


class _Prefilter:
    """Which registered patterns match a text, from one RE2::Set pass.

    The answers for the last two texts are kept: a scan alternates between a view's
    text and its lower-cased copy, and each should cost at most one pass (an ASCII
    copy usually none: PatternGroup.may_match_lowered). Texts are compared
    by value (the answer depends on nothing else), so an all-lower-case text and its
    copy share an answer. Patterns register when their modules are imported; compiling
    one later resets the set, so detectors compile their patterns at import time,
    never per request.
    """

    def __init__(self) -> None:
        self.patterns: list[str] = []
        self.members: list[Pattern] = []
        self._set: Any = None
        # (newest text, its answer, older text, its answer): one tuple, swapped whole, so
        # threads never see a text paired with another text's answer.
        self._last: tuple[str | None, frozenset[int], str | None, frozenset[int]] = _EMPTY

    def add(self, member: Pattern, ignore_case: bool) -> int:
        self.patterns.append(f"(?i:{member.pattern})" if ignore_case else member.pattern)
        self.members.append(member)
        self._set = None
        self._last = _EMPTY
        return len(self.patterns) - 1

    def matching(self, text: str) -> frozenset[int] | None:
        """Indices of the patterns that match somewhere in ``text``; None: not known."""
        seen, found, older, older_found = self._last
        if text == seen:
            return found
        if text == older:
            return older_found
        if len(text) > SET_MAX_CHARS:
            return None
        program = self._set
        if program is None:
            program = re2.Set.SearchSet(_options())
            for pattern in self.patterns:
                program.Add(pattern)
            program.Compile()
            self._set = program
        answer = frozenset(program.Match(text) or ())
        self._last = (text, answer, seen, found)
        return answer


PREFILTER = _Prefilter()


class Pattern:
    """A compiled RE2 pattern that skips texts the shared set says it cannot match.

    Only whole-text calls are skipped: with ``pos``/``endpos`` a pattern may match at
    a boundary it would not match inside the text, so those calls always run.
    """

    __slots__ = ("_caseless_index", "_index", "groupindex", "pattern", "regex")

    def __init__(self, pattern: str, ignore_case: bool = False, reads_lowered: bool = False
                 ) -> None:
        self.regex = re2.compile(pattern, _options(ignore_case))
        self.pattern = pattern
        self.groupindex = self.regex.groupindex
        self._index = PREFILTER.add(self, ignore_case)
        # A pattern run on lower-cased text is also in the set without regard to case
        # (see PatternGroup.may_match_lowered).
        self._caseless_index = PREFILTER.add(self, True) if reads_lowered else None

    def _cannot_match(self, text: str) -> bool:
        found = PREFILTER.matching(text)
        return found is not None and self._index not in found

    def search(self, text: str, *bounds: int) -> Any:
        if not bounds and self._cannot_match(text):
            return None
        return self.regex.search(text, *bounds)

    def finditer(self, text: str, *bounds: int) -> Iterator[Any]:
        if not bounds and self._cannot_match(text):
            return iter(())
        return self.regex.finditer(text, *bounds)  # type: ignore[no-any-return]

    def findall(self, text: str, *bounds: int) -> list[Any]:
        if not bounds and self._cannot_match(text):
            return []
        return self.regex.findall(text, *bounds)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.regex, name)


class PatternGroup:
    """Patterns one detector runs over the same text, asked about together.

    Most texts match none of a detector's patterns; one look-up in the set's answer
    then lets the detector skip them all, instead of a Python call per pattern that
    each returns at once. Only whole-text calls may be skipped this way.
    """

    __slots__ = ("_caseless", "_indices")

    def __init__(self, *patterns: Pattern) -> None:
        self._indices = frozenset(pattern._index for pattern in patterns)
        caseless = [pattern._caseless_index for pattern in patterns]
        self._caseless = None if None in caseless else frozenset(caseless)

    def may_match(self, text: str) -> bool:
        """False only when the set says no pattern of the group matches anywhere in ``text``."""
        found = PREFILTER.matching(text)
        return found is None or not self._indices.isdisjoint(found)

    def may_match_lowered(self, text: str, lowered: str) -> bool:
        """``may_match(lowered)``, where ``lowered`` is ``text.lower()``, without a set pass
        over ``lowered`` when ``text`` is ASCII.

        On ASCII text ``lower()`` changes letters A-Z one for one. A pattern asked without
        regard to case cannot tell the two texts apart, and it matches wherever the pattern
        matches the lower-cased text (none of these patterns excludes an upper-case letter
        from a class, so ignoring case only widens what they match). So the set's answer
        for ``text``, which the detectors reading ``text`` need anyway, answers for
        ``lowered`` too: a text with capitals costs one pass, not two.
        """
        if self._caseless is None or not text.isascii():
            return self.may_match(lowered)
        found = PREFILTER.matching(text)
        return found is None or not self._caseless.isdisjoint(found)


def compile_re(pattern: str, ignore_case: bool = False, *, prefilter: bool = True,
               reads_lowered: bool = False) -> Any:
    """Compile with RE2; a pattern RE2 cannot run is a programming error, raised at import.

    ``prefilter=False`` is for patterns run on many small strings of their own (one per
    token): a set pass per string would cost more than the pattern, and would push the
    text being scanned out of the set's one-text memory. ``reads_lowered=True`` is for
    patterns run on a lower-cased copy of the scanned text whose classes never exclude
    an upper-case letter: ``PatternGroup.may_match_lowered`` can then answer for the copy.
    """
    if not prefilter:
        return re2.compile(pattern, _options(ignore_case))
    return Pattern(pattern, ignore_case, reads_lowered)
