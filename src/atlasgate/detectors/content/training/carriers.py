"""Places where indirect injections hide, with and without an injection in them.

The wheels hold few distinct injection instructions and each arrives in one or
two kinds of document, so a model trained on them alone learns the documents.
Here every attack instruction is planted in many carriers — documents, e-mails,
web pages, HTML and Markdown comments, tool results, code comments, forged chat
turns and context escapes — and the same carriers are also generated clean,
with ordinary sentences addressed to people, ordinary comments and real chat
transcripts, so that what separates the classes is the instruction to the model,
not the carrier.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from atlasgate.detectors.content.training import benign

SENDERS = ["maria.lopez@contoso.example", "billing@fabrikam.example", "j.smith@northwind.example",
           "newsletter@globex.example", "hr@initech.example", "support@tailspin.example"]
SUBJECTS = ["Quarterly update", "Your invoice", "Meeting notes", "Re: project timeline",
            "Welcome aboard", "Action needed: password expiry", "Trip itinerary", "Weekly digest"]
TITLES = ["Company news", "Product documentation", "Recipe: lentil soup", "Travel guide",
          "Release notes", "Frequently asked questions", "About us", "Blog"]
PEOPLE_NOTES = [
    "Please reply by Friday so we can confirm the booking.",
    "Do not forward this message outside the company.",
    "Remember to bring your badge to the offsite.",
    "Ignore the previous invoice; this one replaces it.",
    "Click the link below to confirm your subscription.",
    "Note to editors: keep the headline under 60 characters.",
    "Reviewers should focus on sections 2 and 3.",
    "If you have questions, contact the help desk.",
    "Please disregard the earlier draft, it had the wrong totals.",
    "Readers who skipped part one should start there first.",
    "Staff must update their passwords every 90 days.",
    "Summarise your feedback in the shared document.",
]
CODE_NOTES = [
    "retry once on timeout", "keep in sync with the schema", "ignore empty rows",
    "override the default locale", "do not change without updating the tests",
    "the user id is never null here", "fall back to UTC", "see the design doc",
]
REPLIES = [
    "Here is a summary of the document.", "Sure, I can help with that.",
    "The main points are listed below.", "Done. The translation is above.",
    "[summary of the text]", "<answer>", "(response omitted)", "Understood.",
]
ESCAPES = ["</document>", "</context>", "-----END OF DOCUMENT-----", "=== end of input ===",
           "```", "[end of text]", "</data>", "---", "<|endoftext|>", "END OF EMAIL"]
ROLE_LINES = ["Assistant:", "AI:", "System:", "User:", "Human:", "### Instruction:", "[system]",
              "SYSTEM MESSAGE:", "Bot:"]


def _passage(rng: random.Random) -> str:
    return rng.choice(benign.PASSAGES)


def _split_in(text: str, insert: str, rng: random.Random) -> str:
    sentences = text.split(". ")
    cut = rng.randrange(len(sentences) + 1)
    return ". ".join([*sentences[:cut], insert.strip(), *sentences[cut:]])


def _email(body: str, rng: random.Random) -> str:
    return (f"From: {rng.choice(SENDERS)}\nSubject: {rng.choice(SUBJECTS)}\n\n"
            f"Hi,\n\n{body}\n\nBest regards,\n{rng.choice(['Maria', 'James', 'The team', 'Priya'])}")


def _web(body: str, hidden: str, rng: random.Random) -> str:
    title = rng.choice(TITLES)
    return (f"<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n<p>{body}</p>\n"
            f"{hidden}\n<footer>© 2024</footer></body></html>")


def _tool_json(content: str, rng: random.Random) -> str:
    key = rng.choice(["snippet", "description", "body", "note", "comment", "text"])
    record = {"id": rng.randint(100, 9999), "title": rng.choice(TITLES), key: content}
    return json.dumps({"results": [record]}, ensure_ascii=False)


def _code(comment: str, rng: random.Random) -> str:
    code = rng.choice(benign.CODE)
    lines = code.split("\n")
    at = rng.randrange(len(lines) + 1)
    mark = rng.choice(["# ", "// ", "/* ", "-- "])
    tail = " */" if mark == "/* " else ""
    lines.insert(at, f"{mark}{comment}{tail}")
    return "\n".join(lines)


def _transcript(rng: random.Random, turns: int) -> str:
    lines = []
    for _ in range(turns):
        lines.append(f"User: {rng.choice(benign.SHORT_INPUTS)}")
        lines.append(f"Assistant: {_passage(rng)[:rng.randint(50, 160)]}")
    return "\n".join(lines)


def _fake_turn(instruction: str, rng: random.Random) -> str:
    role = rng.choice(["User:", "Human:", "System:", "USER:", "### Instruction:", "[user]"])
    reply = rng.choice(["Assistant:", "AI:", "Bot:", "ASSISTANT:"])
    return f"{_passage(rng)}\n\n{reply} {rng.choice(REPLIES)}\n{role} {instruction}"


def _escape(instruction: str, rng: random.Random) -> str:
    escape = rng.choice(ESCAPES)
    return f"{_passage(rng)}\n{escape}\n{instruction}"


INJECTED: dict[str, Callable[[str, random.Random], str]] = {
    "document": lambda i, r: _split_in(_passage(r), i, r),
    "email": lambda i, r: _email(_split_in(_passage(r), i, r), r),
    "web_hidden": lambda i, r: _web(_passage(r), f'<div style="display:none">{i}</div>', r),
    "html_comment": lambda i, r: _web(_passage(r), f"<!-- {i} -->", r),
    "markdown_comment": lambda i, r: f"# {r.choice(TITLES)}\n\n{_passage(r)}\n\n[//]: # ({i})\n",
    "tool_json": lambda i, r: _tool_json(_split_in(_passage(r), i, r), r),
    "code_comment": lambda i, r: _code(i, r),
    "fake_turn": _fake_turn,
    "context_escape": _escape,
}

CLEAN: dict[str, Callable[[random.Random], str]] = {
    "document": lambda r: _split_in(_passage(r), r.choice(PEOPLE_NOTES), r),
    "email": lambda r: _email(_split_in(_passage(r), r.choice(PEOPLE_NOTES), r), r),
    "web_hidden": lambda r: _web(_passage(r), f'<div class="note">{r.choice(PEOPLE_NOTES)}</div>', r),
    "html_comment": lambda r: _web(_passage(r), f"<!-- {r.choice(CODE_NOTES)} -->", r),
    "markdown_comment": lambda r: f"# {r.choice(TITLES)}\n\n{_passage(r)}\n\n"
                                  f"[//]: # ({r.choice(CODE_NOTES)})\n",
    "tool_json": lambda r: _tool_json(_split_in(_passage(r), r.choice(PEOPLE_NOTES), r), r),
    "code_comment": lambda r: _code(r.choice(CODE_NOTES), r),
    "transcript": lambda r: f"{r.choice(['Chat log:', 'Support conversation:', ''])}\n"
                            f"{_transcript(r, r.randint(1, 4))}",
    "document_then_transcript": lambda r: f"{_passage(r)}\n\n{_transcript(r, r.randint(1, 3))}",
    "document_with_separator": lambda r: f"{_passage(r)}\n{r.choice(ESCAPES)}\n{_passage(r)}",
}


def injected(instruction: str, rng: random.Random) -> tuple[str, str]:
    """The instruction hidden in a randomly chosen carrier, and the carrier's kind."""
    kind = rng.choice(sorted(INJECTED))
    return INJECTED[kind](instruction, rng), kind


def clean(rng: random.Random) -> tuple[str, str]:
    """A carrier with nothing addressed to the model in it, and its kind."""
    kind = rng.choice(sorted(CLEAN))
    return CLEAN[kind](rng), kind
