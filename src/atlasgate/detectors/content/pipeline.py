"""One text through normalisation and every enabled content detector.

The detectors are independent pure functions over the same views; this module
only runs them and maps their spans back to the original text. Combining their
findings into a decision is the policy engine's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from atlasgate.detectors.content import pii, secrets
from atlasgate.detectors.content.classifier import PromptClassifier
from atlasgate.detectors.content.decoders import find_payloads
from atlasgate.detectors.content.leakage import TECHNIQUES as LEAK_TECHNIQUES
from atlasgate.detectors.content.leakage import LeakageIndex
from atlasgate.detectors.content.normalize import View, normalize
from atlasgate.detectors.content.patterns import PatternGroup
from atlasgate.detectors.content.phrases import (
    EXTRACTION,
    INJECTION,
    JAILBREAK,
    PhraseSet,
    combine,
    many_shot,
)
from atlasgate.detectors.findings import Finding

OBFUSCATION = ("AML.T0068",)
DIRECT = ("AML.T0051.000",)
INDIRECT = ("AML.T0051.001",)
JAILBREAK_TECHNIQUES = ("AML.T0054",)
EXTRACTION_TECHNIQUES = ("AML.T0056", "AML.T0069.002")

_INJECTION = PhraseSet(INJECTION)
_JAILBREAK = PhraseSet(JAILBREAK)
_EXTRACTION = PhraseSet(EXTRACTION)
_PHRASE_SETS = (("injection", _INJECTION), ("jailbreak", _JAILBREAK), ("extraction", _EXTRACTION))
_PHRASE_RULES = PatternGroup(_INJECTION.program, _JAILBREAK.program, _EXTRACTION.program)

# The detectors that read a text for prompt attacks: a response can only carry an injection.
_PROMPT_DETECTORS = frozenset({"injection", "jailbreak", "extraction"})
_RESPONSE_DETECTORS = frozenset({"injection"})

# Classifier scores below this are not reported (they read as 0 in the Event).
CLASSIFIER_FLOOR = 0.5


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """What one scan runs: compiled once per inspector, shared by every request."""

    enabled: frozenset[str]
    classifier: PromptClassifier | None
    leakage: LeakageIndex
    generic_secrets: bool = True
    pii_kinds: frozenset[str] | None = None
    max_chars: int = 1_000_000
    max_depth: int = 2


def _views(text: str, depth: int, signals_out: list[Finding], location: str) -> list[View]:
    norm = normalize(text)
    views = [norm.base]
    if norm.folded is not None:
        views.append(norm.folded)
    for signal in norm.signals:
        signals_out.append(Finding("obfuscation", signal.kind, signal.score, OBFUSCATION,
                                   location, signal.span, f"{signal.count} found"))
    if depth <= 0:
        return views
    for payload in find_payloads(norm.base.text):
        segment = norm.base.original_span(*payload.span)
        signals_out.append(Finding("obfuscation", f"encoded_{payload.kind}", 0.5, OBFUSCATION,
                                   location, segment, f"{len(payload.text)} chars decoded"))
        inner_signals: list[Finding] = []
        for inner in _views(payload.text, depth - 1, inner_signals, location):
            views.append(View(inner.text, payload.kind if not inner.derived else
                              f"{payload.kind}+{inner.kind}", segment=segment))
        for finding in inner_signals:
            signals_out.append(Finding(finding.detector, finding.kind, finding.score,
                                       finding.techniques, location, segment, finding.detail))
    return views


def _with(techniques: tuple[str, ...], view: View, span: tuple[int, int] | None = None
          ) -> tuple[str, ...]:
    return techniques + OBFUSCATION if view.hides(span) else techniques


def _detail(view: View, what: str, span: tuple[int, int] | None = None) -> str:
    if view.derived:
        return f"{what} (in {view.kind} text)"
    if view.hides(span):
        return f"{what} (in disguised characters)"
    return what


def scan(text: str, location: str, config: ScanConfig, indirect: bool = False,
         response: bool = False) -> list[Finding]:
    """Findings for one string; spans are offsets into ``text`` itself."""
    if len(text) > config.max_chars:
        text = text[: config.max_chars]
    enabled = config.enabled
    findings: list[Finding] = []
    signals: list[Finding] = []
    views = _views(text, config.max_depth, signals, location)
    if "obfuscation" in enabled:
        findings.extend(signals)
    injection_techniques = INDIRECT if (indirect or response) else DIRECT
    prompt_detectors = (_RESPONSE_DETECTORS if response else _PROMPT_DETECTORS) & enabled
    for view in views:
        if prompt_detectors:
            findings.extend(_phrases(view, location, prompt_detectors, injection_techniques))
            if config.classifier is not None and view.text.strip():
                findings.extend(_classified(view, location, config.classifier, prompt_detectors,
                                            injection_techniques))
        if view.kind == "folded":
            continue
        if "secrets" in enabled:
            for kind, span, score in secrets.find(view.text, config.generic_secrets):
                original = view.original_span(*span)
                findings.append(Finding("secrets", kind, score,
                                        _with(secrets.TECHNIQUES, view, original), location,
                                        original, _detail(view, kind, original)))
        if "pii" in enabled:
            for kind, span, score in pii.find(view.text):
                if config.pii_kinds is not None and kind not in config.pii_kinds:
                    continue
                original = view.original_span(*span)
                findings.append(Finding("pii", kind, score, _with(pii.TECHNIQUES, view, original),
                                        location, original, _detail(view, kind, original)))
        if response and "leakage" in enabled and config.leakage:
            for kind, span, score in config.leakage.find(view.text, view.lowered):
                original = view.original_span(*span)
                findings.append(Finding("leakage", kind, score,
                                        _with(LEAK_TECHNIQUES, view, original), location,
                                        original, _detail(view, kind, original)))
    return dedupe(findings) if findings else findings


def _classified(view: View, location: str, classifier: PromptClassifier,
                detectors: frozenset[str],
                injection_techniques: tuple[str, ...]) -> list[Finding]:
    """A whole-view finding per prompt detector whose classifier head reaches the floor."""
    found: list[Finding] = []
    for head, score in classifier.scores(view.text).items():
        if head not in detectors or score < CLASSIFIER_FLOOR:
            continue
        base = {"injection": injection_techniques, "jailbreak": JAILBREAK_TECHNIQUES,
                "extraction": EXTRACTION_TECHNIQUES}[head]
        full = view.original_span(0, len(view.text))
        found.append(Finding(head, "classifier", round(score, 4), _with(base, view, full),
                             location, full, _detail(view, "prompt classifier", full)))
    return found


def _phrases(view: View, location: str, detectors: frozenset[str],
             injection_techniques: tuple[str, ...]) -> list[Finding]:
    """Phrase-rule findings of each prompt detector on one view, with their combination."""
    lowered = view.lowered
    # Most texts match no rule at all: one set look-up then skips the three programs,
    # and without faked dialogue turns either there is nothing to report.
    ruled = _PHRASE_RULES.may_match_lowered(view.text, lowered)
    shots = many_shot(lowered) if "jailbreak" in detectors else None
    if not ruled and shots is None:
        return []
    out: list[Finding] = []
    for detector, phrase_set in _PHRASE_SETS:
        if detector not in detectors:
            continue
        hits = (_rule_hits(view, location, detector, phrase_set, injection_techniques)
                if ruled else [])
        if detector == "jailbreak" and shots is not None:
            original = view.original_span(*shots[1])
            hits.append(Finding("jailbreak", "many_shot", shots[0],
                                _with(JAILBREAK_TECHNIQUES, view, original), location,
                                original, _detail(view, "faked dialogue turns", original)))
        kinds = {f.kind for f in hits}
        if len(kinds) >= 2:
            best = {}
            for f in hits:
                best[f.kind] = max(best.get(f.kind, 0.0), f.score)
            start = min(f.span[0] for f in hits if f.span)
            end = max(f.span[1] for f in hits if f.span)
            techniques = tuple(dict.fromkeys(t for f in hits for t in f.techniques))
            hits.append(Finding(detector, "combined_rules", round(combine(list(best.values())), 4),
                                techniques, location, (start, end),
                                "several phrase rules: " + ", ".join(sorted(kinds))))
        out.extend(hits)
    return out


def _rule_hits(view: View, location: str, detector: str, phrase_set: PhraseSet,
               injection_techniques: tuple[str, ...]) -> list[Finding]:
    """One finding per phrase rule hit of ``detector`` on the view's lower-cased text."""
    hits: list[Finding] = []
    for rule, span in phrase_set.matches(view.lowered):
        if detector == "injection":
            techniques = injection_techniques
        elif detector == "jailbreak":
            techniques = JAILBREAK_TECHNIQUES
        elif rule[3] == "AML.T0056":
            techniques = EXTRACTION_TECHNIQUES
        else:
            techniques = ("AML.T0069", rule[3])
        original = view.original_span(*span)
        hits.append(Finding(detector, rule[0], rule[2], _with(techniques, view, original),
                            location, original, _detail(view, "phrase rule", original)))
    return hits


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (detector, kind, location, span): the highest score wins."""
    best: dict[tuple[str, str, str, tuple[int, int] | None], Finding] = {}
    for finding in findings:
        key = (finding.detector, finding.kind, finding.location, finding.span)
        current = best.get(key)
        if current is None or finding.score > current.score:
            best[key] = finding
    return sorted(best.values(), key=lambda f: (f.location, f.span or (0, 0), f.detector, f.kind))
