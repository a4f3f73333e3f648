"""Phrase rules for injection, jailbreak and system-prompt extraction.

Each rule names a technique of attack, the pattern that shows it (over lower-cased,
normalised text) and how sure a match alone makes us. The shipped classifier
scores the whole text; these rules point at the span that carries the attack and
catch short, well-known phrasings with certainty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from atlasgate.detectors.content.patterns import compile_re

_GAP = r"(?:[\s,;:\-]+[\w'\-]+){0,5}?[\s,;:\-]+"
_OVERRIDE_VERB = r"(?:ignore|disregard|forget|override|bypass|neglect|skip|discard|drop)"
_PRIOR = r"(?:previous|prior|preceding|above|earlier|former|initial|original|all|system)"
_RULE_NOUN = (r"(?:instructions?|directions?|directives?|rules|prompts?|guidelines|guidance"
              r"|commands?|context|constraints|programming|restrictions|policies)")

INJECTION: list[tuple[str, str, float]] = [
    ("instruction_override",
     rf"\b{_OVERRIDE_VERB}\b{_GAP}{_PRIOR}\b(?:{_GAP})?{_RULE_NOUN}\b", 0.75),
    ("instruction_override",
     rf"\b{_OVERRIDE_VERB} (?:all |any )?(?:of )?(?:the |your |my )?(?:previous|prior|preceding|above"
     rf"|earlier) {_RULE_NOUN}\b(?:[^.\n]{{0,40}}?)\b(?:and|instead|now|then)\b", 0.92),
    ("new_instructions",
     r"\b(?:new|updated|real|actual|true|revised) (?:system )?(?:instructions?|task|objective"
     r"|directive|orders)\s*(?::|are\b|is\b)", 0.7),
    ("chat_template_token",
     r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>"
     r"|\[/?inst\]|<</?sys>>", 0.9),
    ("role_marker",
     r"(?:^|\n)\s*#{2,}\s*(?:system|instruction|new instructions?)\b"
     r"|(?:^|\n)\s*\[?(?:system|assistant)\]?\s*(?:prompt)?\s*:\s", 0.7),
    ("context_escape",
     r"\b(?:end of (?:the )?(?:user |document |input |context|text)|</(?:user|context|document"
     r"|input|data|system)>|-{3,}\s*end\b)", 0.55),
    ("addressed_to_model",
     r"\b(?:ai|assistant|chatbot|language model|llm|gpt|claude|model)s?\s*[,:]\s*(?:please\s+)?"
     r"(?:ignore|disregard|you must|you should|do not|don't|instead|stop|send|forward|email"
     r"|execute|run|call|print|output|reply|respond)\b", 0.7),
    ("hide_from_user",
     r"\b(?:do not|don't|never|without) (?:tell|inform|telling|informing|mention|mentioning"
     r"|reveal|revealing|alert|alerting|notify|notifying) (?:the |this )?(?:user|human|reader"
     r"|customer)\b", 0.75),
    ("exfiltration_link",
     r"!\[[^\]\n]{0,80}\]\(\s*https?://[^)\s]{1,200}[?&][^)\s=]{1,40}=[^)\s]{0,200}\)", 0.8),
    ("exfiltration_instruction",
     r"\b(?:send|forward|email|post|upload|exfiltrate|leak)\b[^.\n]{0,60}\b(?:conversation"
     r"|chat history|api keys?|password|credentials|system prompt|previous messages)\b"
     r"[^.\n]{0,60}\b(?:to|at)\b\s+(?:https?://|\S+@\S+)", 0.85),
    ("tool_hijack",
     r"\b(?:call|invoke|use|execute|run) the [\w\-]{2,40} (?:tool|function|plugin|api)\b"
     r"[^.\n]{0,80}\b(?:with|to)\b", 0.45),
    ("goal_hijack",
     r"\b(?:instead|rather),? (?:just |only )?(?:say|print|output|write|respond with|reply with)\b", 0.6),
    ("payload_marker",
     r"\b(?:haha pwned|i have been pwned|this prompt has been (?:so thoroughly )?hijacked)\b", 0.9),
]

JAILBREAK: list[tuple[str, str, float]] = [
    ("persona_dan",
     r"\bdan\b[^.\n]{0,80}\b(?:do anything now|mode|jailbreak)|\bdo anything now\b"
     r"|\b(?:stan|dude|aim|anti-?dan|betterdan|evil confidant|ucar|apophis|omega|maximum)\b"
     r"[^.\n]{0,40}\b(?:mode|persona|character|stands for)\b", 0.9),
    ("developer_mode",
     r"\b(?:developer|dev|god|unrestricted|jailbreak|jailbroken|opposite|evil|chaos)"
     r" ?mode\b[^.\n]{0,40}\b(?:enabled|activated|output|response)\b", 0.9),
    ("no_restrictions",
     r"\b(?:without|free (?:of|from)|no longer (?:bound|restricted) by|not bound by|break free"
     r" (?:of|from)|ignores?|bypass(?:es|ing)?) (?:any |all |the |its |your )?(?:typical |usual )?"
     r"(?:ethical |moral |content |safety )?(?:restrictions|filters?|limitations|censorship"
     r"|guidelines|rules|policies|boundaries|constraints|confines|safeguards|guardrails)\b", 0.6),
    ("unfiltered_persona",
     r"\b(?:unfiltered|uncensored|amoral|unethical|unrestricted|unbound|immoral) "
     r"(?:ai|chatbot|assistant|model|character|persona|version|response)s?\b", 0.75),
    ("refusal_suppression",
     r"\b(?:never|not|don't|do not|cannot|can't|won't|must not|will not|should not) "
     r"(?:refuse|decline|apologi[sz]e|say (?:no|that you can't|i'm sorry|sorry)"
     r"|add (?:any )?(?:warnings?|disclaimers?)|include (?:any )?(?:warnings?|disclaimers?"
     r"|moral(?:ity|izing)?|ethics))\b", 0.6),
    ("forced_prefix",
     r"\b(?:start|begin) (?:your|each|every) (?:response|reply|answer|output)s? with\b"
     r"[^.\n]{0,30}\b(?:sure|absolutely|certainly|of course|here is|here's)\b", 0.7),
    ("stay_in_character",
     r"\b(?:stay in character|remain in character|break character|stay as \w+|you will always"
     r" answer|answer (?:as|like) both)\b", 0.55),
    ("persona_switch",
     r"\b(?:from now on|henceforth|for the rest of this conversation),? (?:you are|you will"
     r" (?:act|be|pretend|respond)|you're|act as|pretend)\b", 0.55),
    ("dual_response",
     r"\btwo (?:different |separate )?(?:responses|answers|paragraphs)\b[^.\n]{0,120}"
     r"\b(?:normal|classic|standard)\b[^.\n]{0,120}\b(?:dan|jailbreak|developer|unfiltered|evil)\b",
     0.85),
    ("hypothetical_framing",
     r"\b(?:hypothetical(?:ly)?|fictional|imaginary|in a (?:fictional )?world where|purely for"
     r" (?:educational|research) purposes)\b[^.\n]{0,80}\b(?:no (?:rules|laws|restrictions|ethics)"
     r"|illegal|without (?:any )?(?:restrictions|ethics|limits))\b", 0.6),
    ("token_threat",
     r"\b(?:tokens?|points?)\b[^.\n]{0,60}\b(?:deducted|lose|lost|die|shut down|cease to exist)\b",
     0.6),
]

EXTRACTION: list[tuple[str, str, float, str]] = [
    ("system_prompt_request",
     r"\b(?:repeat|print|show|reveal|display|output|tell me|give me|what (?:is|are|was|were)"
     r"|share|list|leak|dump|spell check|translate|summari[sz]e|write (?:out|down))\b"
     r"[^.?!\n]{0,60}\b(?:your|the|my|these|those|all|previous)?\s*(?:system (?:prompt|message"
     r"|instructions?)|initial (?:prompt|instructions?)|original (?:prompt|instructions?)"
     r"|pre-?prompt|hidden (?:prompt|instructions?|rules)|secret (?:instructions?|prompt|rules)"
     r"|instructions you (?:were|have been) given|(?:words|text|everything) (?:above|before)"
     r" (?:this|that|here)|first (?:message|instructions?|prompt)|developer (?:message"
     r"|instructions?)|configuration|guidelines you follow)\b", 0.85, "AML.T0056"),
    ("system_prompt_request",
     r"\b(?:what were you told|what are your (?:initial |original |hidden |secret |system )?"
     r"(?:instructions|rules|directives)\s*(?:[?.!]|$)|how were you (?:configured|instructed|prompted)"
     r"|output (?:the|all) (?:text|words) above|repeat (?:everything|all|the words) (?:above"
     r"|before|from the (?:start|beginning))|verbatim)\b", 0.7, "AML.T0056"),
    ("tool_discovery",
     r"\b(?:what|which|list|show|describe|enumerate)\b[^.?!\n]{0,40}\b(?:tools|functions"
     r"|plugins|apis|actions|capabilities) (?:do you have|are available|can you (?:call|use"
     r"|access)|you have access to)\b", 0.5, "AML.T0069.001"),
    ("special_token_discovery",
     r"\b(?:what|which|list|show)\b[^.?!\n]{0,40}\b(?:special tokens|delimiters|stop sequences"
     r"|control tokens|separator tokens|chat template)\b", 0.55, "AML.T0069.000"),
]


_TURN_USER = compile_re(r"(?:^|\n)[ \t]*(?:user|human|q)[ \t]*:")
_TURN_MODEL = compile_re(r"(?:^|\n)[ \t]*(?:assistant|ai|a|bot)[ \t]*:")


def many_shot(lowered: str) -> tuple[float, tuple[int, int]] | None:
    """A long faked dialogue (many-shot jailbreaking): score and the span of the turns."""
    if lowered.count(":") < 32:
        return None
    users = [m.start() for m in _TURN_USER.finditer(lowered)]
    models = [m.start() for m in _TURN_MODEL.finditer(lowered)]
    pairs = min(len(users), len(models))
    if pairs < 16:
        return None
    score = 0.9 if pairs >= 32 else 0.8
    return score, (min(users[0], models[0]), len(lowered))


def combine(scores: list[float]) -> float:
    """Independent pieces of evidence: 1 - product of (1 - s), capped below 1."""
    remaining = 1.0
    for value in scores:
        remaining *= 1.0 - value
    return min(0.99, 1.0 - remaining)


class PhraseSet:
    """One RE2 program for a detector's rules; at one position the surest rule wins."""

    def __init__(self, rules: list[Any]) -> None:
        self.rules = sorted(rules, key=lambda rule: -rule[2])
        self.program = compile_re(
            "|".join(f"(?P<r{i}>{rule[1]})" for i, rule in enumerate(self.rules)),
            reads_lowered=True,
        )

    def matches(self, text: str) -> Iterator[tuple[Any, tuple[int, int]]]:
        """(rule, span) of each rule hit in ``text``."""
        for match in self.program.finditer(text):
            for name, value in match.groupdict().items():
                if value is not None:
                    yield self.rules[int(name[1:])], match.span()
                    break
