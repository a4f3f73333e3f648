"""The ATLAS fact index: every lookup the gateway makes about tactics and techniques.

It is built from the compact ``index.json.gz`` shipped in the package, so the
gateway answers "which tactic is AML.T0024.002 in" without the full data file.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

TECHNIQUE_ID = re.compile(r"^AML\.T\d{4}(\.\d{3})?$")
TACTIC_ID = re.compile(r"^AML\.TA\d{4}$")
MITIGATION_ID = re.compile(r"^AML\.M\d{4}$")

MATURITY_RANK = {"feasible": 1, "demonstrated": 2, "realized": 3}


@dataclass(frozen=True, slots=True)
class Tactic:
    id: str
    name: str
    order: int

    @property
    def shortname(self) -> str:
        """The name the ATLAS Navigator uses for this tactic (lower case, hyphens)."""
        return self.name.lower().replace(" ", "-")


@dataclass(frozen=True, slots=True)
class Technique:
    id: str
    name: str
    parent: str | None
    tactics: tuple[str, ...]
    maturity: str | None
    case_studies: int
    subtechniques: tuple[str, ...] = field(default=())

    @property
    def is_subtechnique(self) -> bool:
        return self.parent is not None


@dataclass(frozen=True, slots=True)
class Mitigation:
    id: str
    name: str
    category: tuple[str, ...]
    techniques: tuple[str, ...]


class UnknownIdError(KeyError):
    """An ATLAS ID that the index does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ers", "er", "ed", "es", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def normalize_id(text: str) -> str:
    """Accept ``aml.t0024.002`` and ``T0024.002`` as well as the canonical form."""
    value = text.strip().upper()
    if re.match(r"^(T|TA|M|CS)\d{4}", value):
        value = "AML." + value
    return value


class AtlasIndex:
    """Tactics, techniques and mitigations by ID, with the links between them."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.version: str = str(facts.get("atlas_version", ""))
        self.source_sha256: str = str(facts.get("source_sha256", ""))
        self.attribution: str = str(facts.get("attribution", ""))
        self.case_study_total: int = int(facts.get("case_study_count", 0))
        self.tactics: dict[str, Tactic] = {
            t["id"]: Tactic(t["id"], t["name"], i) for i, t in enumerate(facts["tactics"])
        }
        children: dict[str, list[str]] = {}
        for t in facts["techniques"]:
            if t.get("parent"):
                children.setdefault(t["parent"], []).append(t["id"])
        self.techniques: dict[str, Technique] = {
            t["id"]: Technique(
                id=t["id"],
                name=t["name"],
                parent=t.get("parent"),
                tactics=tuple(t.get("tactics") or ()),
                maturity=t.get("maturity"),
                case_studies=int(t.get("case_studies", 0)),
                subtechniques=tuple(sorted(children.get(t["id"], ()))),
            )
            for t in facts["techniques"]
        }
        self.mitigations: dict[str, Mitigation] = {
            m["id"]: Mitigation(m["id"], m["name"], tuple(m.get("category") or ()),
                                tuple(m.get("techniques") or ()))
            for m in facts["mitigations"]
        }
        self._mitigations_by_technique: dict[str, list[str]] = {}
        for m in self.mitigations.values():
            for tid in m.techniques:
                self._mitigations_by_technique.setdefault(tid, []).append(m.id)

    def technique(self, tid: str) -> Technique:
        key = normalize_id(tid)
        try:
            return self.techniques[key]
        except KeyError:
            raise UnknownIdError(
                f"{tid}: not an ATLAS technique in release {self.version}"
            ) from None

    def tactic(self, tid: str) -> Tactic:
        key = normalize_id(tid)
        try:
            return self.tactics[key]
        except KeyError:
            raise UnknownIdError(f"{tid}: not an ATLAS tactic in release {self.version}") from None

    def mitigation(self, mid: str) -> Mitigation:
        key = normalize_id(mid)
        try:
            return self.mitigations[key]
        except KeyError:
            raise UnknownIdError(
                f"{mid}: not an ATLAS mitigation in release {self.version}"
            ) from None

    def ordered_tactics(self) -> list[Tactic]:
        return sorted(self.tactics.values(), key=lambda t: t.order)

    def techniques_in(self, tactic_id: str, *, subtechniques: bool = False) -> list[Technique]:
        """Techniques of a tactic, by ID; sub-techniques follow their parent when asked for."""
        tops = sorted(
            (t for t in self.techniques.values() if not t.parent and tactic_id in t.tactics),
            key=lambda t: t.id,
        )
        if not subtechniques:
            return tops
        result: list[Technique] = []
        for top in tops:
            result.append(top)
            result.extend(self.techniques[s] for s in top.subtechniques)
        return result

    def tactics_of(self, technique_ids: Iterable[str]) -> list[str]:
        """Tactic IDs of the given techniques, in matrix order (for ``atlas.tactics``)."""
        found: set[str] = set()
        for tid in technique_ids:
            technique = self.techniques.get(normalize_id(str(tid)))
            if technique is not None:
                found.update(technique.tactics)
        return [t.id for t in self.ordered_tactics() if t.id in found]

    def mitigations_for(self, tid: str) -> list[Mitigation]:
        """Mitigations linked to a technique, or to its parent when it has none of its own."""
        technique = self.technique(tid)
        ids = self._mitigations_by_technique.get(technique.id)
        if not ids and technique.parent:
            ids = self._mitigations_by_technique.get(technique.parent)
        return [self.mitigations[m] for m in ids or ()]

    def case_studies_for(self, tid: str) -> int:
        """Case studies that used the technique, counting those of its sub-techniques."""
        technique = self.technique(tid)
        return technique.case_studies + sum(
            self.techniques[s].case_studies for s in technique.subtechniques
        )

    def maturity_of(self, tid: str) -> str | None:
        technique = self.technique(tid)
        if technique.maturity is None and technique.parent:
            return self.techniques[technique.parent].maturity
        return technique.maturity

    def likelihood(self, tid: str) -> float:
        """A 1–5 likelihood from maturity (realized > demonstrated > feasible) and case studies."""
        rank = MATURITY_RANK.get(self.maturity_of(tid) or "", 1)
        base = {1: 1.5, 2: 2.5, 3: 3.5}[rank]
        evidence = min(1.5, 0.5 * math.log2(1 + self.case_studies_for(tid)))
        return round(min(5.0, base + evidence), 2)

    def search(self, text: str, extra_text: Mapping[str, str] | None = None,
               ) -> list[Technique | Tactic | Mitigation]:
        """Items whose ID or name (or ``extra_text[id]``) contains every word of ``text``.

        Words are matched on a crude stem, so "extraction" finds "Extract AI Model".
        Name matches come before matches found only in the extra text.
        """
        stems = [_stem(w) for w in re.split(r"\s+", text.lower().strip()) if w]
        if not stems:
            return []
        pool: Iterable[Technique | Tactic | Mitigation] = [
            *self.ordered_tactics(),
            *sorted(self.techniques.values(), key=lambda t: t.id),
            *sorted(self.mitigations.values(), key=lambda m: m.id),
        ]
        by_name, by_text = [], []
        for item in pool:
            name = f"{item.id} {item.name}".lower()
            if all(s in name for s in stems):
                by_name.append(item)
            elif extra_text:
                body = f"{name} {extra_text.get(item.id, '')}".lower()
                if all(s in body for s in stems):
                    by_text.append(item)
        return by_name + by_text

    def known(self, tid: str) -> bool:
        return normalize_id(tid) in self.techniques


def _read_shipped() -> dict[str, Any]:
    blob = resources.files("atlasgate.atlas").joinpath("index.json.gz").read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(blob))
    return data


@functools.lru_cache(maxsize=1)
def load_index() -> AtlasIndex:
    """The index shipped with the package (read once per process)."""
    return AtlasIndex(_read_shipped())
