"""Which rules can match Events of one shape, settled before any rule runs.

On clean traffic almost every rule is false for one of two reasons that need no
evaluation:

* it reads only fields the Event does not have (no ``detection.*`` fields when
  content inspection is off). Its outcome is then fixed for Events with those field
  names, so it is found once per set of names, and such a rule that is false or does
  not apply is dropped;
* its condition is ``field > n && …`` and the field is not above ``n``. In CEL
  ``false && x`` is false whatever ``x`` is, even an error, so the rule is false.
  Rules guarded by the same field and operator are kept sorted by ``n``: one read of
  the field and a bisect settle all of them.

Both give exactly what evaluating the rule gives, on the direct evaluator or on CEL
where it hands over: the guard is only trusted when its field holds a value both
compare alike with the threshold (an int within 2**53 or a double other than NaN;
not a bool) and no other field shares its place in the nested Event CEL reads.
Anything else is evaluated as before. The rules left are evaluated in rule order, so
the matches, the reasons and the tie-break between equal actions do not change. One
difference is left on purpose: a field holding a value no JSON body produces (a
Python set, an arbitrary object) fails the CEL context of a rule that is evaluated,
and a rule the index settles is not; Events carry JSON-like values only.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from atlasgate.policy.rules import Rule
from atlasgate.policy.subset import Evaluator, Fallback, Flat, guard_of, names_read, shadowed

_EXACT = 2**53

# op -> (bisect, above): with the thresholds sorted, the guard holds for those before the
# cut, or after it when ``above`` (``field > n`` holds for the bisect_left(ns, value) first).
_CUTS: dict[str, tuple[Callable[[Sequence[Any], Any], int], bool]] = {
    ">": (bisect_left, False), ">=": (bisect_right, False),
    "<": (bisect_right, True), "<=": (bisect_left, True)}

Group = tuple[str, Callable[[Sequence[Any], Any], int], bool, tuple[Any, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Layout:
    """A plan's rules as they meet Events with one set of field names."""

    rules: tuple[Rule, ...]  # the plan's rules
    always: tuple[int, ...]  # positions evaluated for every such Event
    always_rules: tuple[Rule, ...]
    groups: tuple[Group, ...]  # (field, bisect, above, sorted thresholds, positions)
    shadows: frozenset[str]  # names CEL finds that are not fields (``subset.shadowed``)

    @classmethod
    def of(cls, rules: tuple[Rule, ...], flat: Flat) -> Layout:
        places = _Places(flat)
        always: list[int] = []
        grouped: dict[tuple[str, str], list[tuple[Any, int]]] = defaultdict(list)
        for position, rule in enumerate(rules):
            direct = rule.direct
            if direct is not None:
                if not any(places.touched(n) for n in names_read(direct)) and _never(direct):
                    continue
                guard = guard_of(direct)
                if guard is not None and places.sole(guard[0]):
                    grouped[guard[0], guard[1]].append((guard[2], position))
                    continue
            always.append(position)
        groups: list[Group] = []
        for (name, op), members in grouped.items():
            members.sort(key=lambda member: member[0])
            groups.append((name, *_CUTS[op], tuple(m[0] for m in members),
                           tuple(m[1] for m in members)))
        return cls(rules, tuple(always), tuple(rules[i] for i in always), tuple(groups),
                   places.inner)

    def candidates(self, flat: Flat) -> Sequence[Rule]:
        """The rules that may match ``flat`` (an Event with this layout's field names)."""
        chosen: list[int] = []
        for name, cut, above, thresholds, positions in self.groups:
            value = flat[name]
            kind = type(value)
            if (kind is float and value == value) or (kind is int and -_EXACT <= value <= _EXACT):
                at = cut(thresholds, value)
                if above:
                    chosen += positions[at:]
                elif at:  # clean traffic: below every threshold, nothing to add
                    chosen += positions[:at]
            else:
                chosen += positions  # a value only evaluation decides exactly
        if chosen:
            chosen += self.always
            return [self.rules[i] for i in sorted(chosen)]
        return self.always_rules


def _never(direct: Evaluator) -> bool:
    """Whether a condition none of whose fields exist is false or does not apply."""
    try:
        return direct({}) is not True
    except Fallback:
        return False


class _Places:
    """Where an Event's fields sit in the nested form CEL reads (``@t`` sits at ``t``)."""

    def __init__(self, flat: Flat) -> None:
        self.flat = flat
        self.paths = Counter(name.lstrip("@") for name in flat)
        # The maps above fields (and ``@`` fields' own places, which are paths too).
        self.inner = shadowed(flat)

    def _above(self, name: str) -> bool:
        """Whether a field sits at a proper prefix of ``name`` (``y`` for ``y.z``)."""
        parts = name.split(".")
        return any(".".join(parts[:i]) in self.paths for i in range(1, len(parts)))

    def touched(self, name: str) -> bool:
        """Whether any field sits at, above or below ``name``."""
        return name in self.paths or name in self.inner or self._above(name)

    def sole(self, name: str) -> bool:
        """Whether the field ``name`` is the only one at, above or below its place."""
        return (name in self.flat and self.paths[name] == 1 and name not in self.inner
                and not self._above(name))

