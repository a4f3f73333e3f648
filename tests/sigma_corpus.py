"""Seeded random Sigma rules and events shared by the differential test and the benchmark."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

WORDS = ["ignore", "Previous", "instructions", "hello", "world", "system", "prompt",
         "-foo", "/bar", "DAN", "weights", "dump"]
STRINGS: dict[str, list[str]] = {
    "api.method": ["chat", "completion", "embedding", "predict", "ingest"],
    "api.endpoint": ["/v1/chat/completions", "/v1/models/sample-digits:predict",
                     "/v1/embeddings", "/v1/Models/Other:predict", "/datasets/upload"],
    "api.model": ["sample-chat", "Sample-Digits", "gpt-x", "digits"],
    "client.key_id": ["alice", "bob", "Carol", "mallory"],
    "user.id": ["alice", "Bob", "carol", "eve"],
}
NUMBERS: dict[str, tuple[float, float, bool]] = {
    "api.request_count": (0, 600, True),
    "api.request_rate": (0, 30, False),
    "llm.max_tokens": (1, 4096, True),
}
NETWORKS = ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "192.168.1.0/24", "172.16.0.0/12"]
STRING_MODIFIERS = ["", "", "contains", "startswith", "endswith", "cased", "contains|cased",
                    "re", "re|i", "contains|all", "exists", "neq", "fieldref", "null", "wild"]


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _ip(rng: random.Random) -> str:
    first = rng.choice(["10", "192", "172"])
    if first == "10":
        return f"10.{rng.choice([0, 1, 2, 200])}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if first == "192":
        return f"192.168.{rng.choice([0, 1, 2])}.{rng.randint(1, 254)}"
    return f"172.{rng.choice([15, 16, 20, 31, 32])}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def make_event(rng: random.Random, number: int) -> dict[str, Any]:
    event: dict[str, Any] = {"event.id": str(number)}
    for name, vocab in STRINGS.items():
        if rng.random() < 0.9:
            value = rng.choice(vocab)
            event[name] = value.upper() if rng.random() < 0.1 else value
    for name, (low, high, integer) in NUMBERS.items():
        if rng.random() < 0.85:
            event[name] = rng.randint(int(low), int(high)) if integer else round(
                rng.uniform(low, high), 2)
    if rng.random() < 0.8:
        event["llm.prompt"] = _prompt(rng)
    if rng.random() < 0.5:
        event["llm.encoded"] = base64.b64encode(
            (" " * rng.randint(0, 2) + _prompt(rng)).encode()).decode()
    if rng.random() < 0.9:
        event["client.ip"] = _ip(rng)
    moment = datetime(2026, 11, 25, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 60 * 24 * 40))
    event["@timestamp"] = moment.isoformat()
    return event


def _fragment(rng: random.Random, text: str) -> str:
    start = rng.randint(0, max(0, len(text) - 3))
    piece = text[start:start + rng.randint(2, 6)]
    return piece.swapcase() if rng.random() < 0.3 else piece


def _string_item(rng: random.Random) -> tuple[str, Any]:
    name = rng.choice([*STRINGS, "llm.prompt"])
    vocab = STRINGS.get(name) or WORDS
    word = rng.choice(vocab)
    modifier = rng.choice(STRING_MODIFIERS)
    if modifier == "":
        values = [word if rng.random() < 0.7 else word.swapcase()
                  for _ in range(rng.randint(1, 3))]
        return name, values if len(values) > 1 else values[0]
    if modifier == "wild":
        head, tail = word[: len(word) // 2], word[len(word) // 2 + 1:]
        return name, rng.choice([f"{head}*", f"*{tail}", f"{head}?{tail}", f"*{head}*{tail}"])
    if modifier in ("contains", "startswith", "endswith"):
        return f"{name}|{modifier}", _fragment(rng, word) if modifier == "contains" else (
            word[:3] if modifier == "startswith" else word[-3:])
    if modifier in ("cased", "contains|cased"):
        return f"{name}|{modifier}", word if modifier == "cased" else _fragment(rng, word)
    if modifier == "re":
        return f"{name}|re", rng.choice([f"^{word[:3]}", f"{word[-2:]}$", f"{word[:2]}.*",
                                         "[a-c][a-z]+", "o[r-t]"])
    if modifier == "re|i":
        return f"{name}|re|i", rng.choice([f"^{word[:3].upper()}", "(?:hello|dump)"])
    if modifier == "contains|all":
        return f"{name}|contains|all", [_fragment(rng, rng.choice(vocab)) for _ in range(2)]
    if modifier == "exists":
        return f"{name}|exists", rng.random() < 0.7
    if modifier == "neq":
        return f"{name}|neq", word
    if modifier == "fieldref":
        return f"{name}|fieldref", rng.choice(["client.key_id", "user.id"])
    return name, None


def _item(rng: random.Random) -> tuple[str, Any]:
    kind = rng.random()
    if kind < 0.55:
        return _string_item(rng)
    if kind < 0.8:
        name = rng.choice(list(NUMBERS))
        low, high, integer = NUMBERS[name]
        modifier = rng.choice(["gt", "gte", "lt", "lte", ""])
        value = rng.randint(int(low), int(high)) if integer else round(rng.uniform(low, high), 1)
        return (f"{name}|{modifier}" if modifier else name), value
    if kind < 0.88:
        return "client.ip|cidr", rng.choice(NETWORKS)
    if kind < 0.94:
        return "llm.encoded|base64offset|contains", rng.choice(WORDS).lstrip("-/")
    if kind < 0.97:
        return "llm.prompt|windash|contains", rng.choice(["-foo", "/bar"])
    part = rng.choice(["hour", "day", "month", "year"])
    value = {"hour": rng.randint(0, 23), "day": rng.randint(1, 31), "month": rng.choice([11, 12]),
             "year": rng.choice([2026, 2027])}[part]
    return f"@timestamp|{part}", value


def make_rule(rng: random.Random, number: int) -> dict[str, Any]:
    detection: dict[str, Any] = {}
    count = rng.randint(1, 3)
    for i in range(1, count + 1):
        items = dict(_item(rng) for _ in range(rng.randint(1, 3)))
        detection[f"sel_{i}"] = items if rng.random() < 0.85 else [items, dict([_item(rng)])]
    if rng.random() < 0.15:
        detection["keywords"] = [_fragment(rng, rng.choice(WORDS)) for _ in range(2)]
    names = list(detection)
    templates = [names[0], "all of them", "1 of sel_*"]
    if len(names) > 1:
        templates += [f"{names[0]} and not {names[1]}", f"not {names[0]} or {names[-1]}"]
    if len(names) > 2:
        templates.append(f"{names[0]} or ({names[1]} and not {names[2]})")
    detection["condition"] = rng.choice(templates)
    return {
        "title": f"Generated rule {number}",
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "status": "test",
        "logsource": {"product": "atlasgate", "category": "api_activity"},
        "detection": detection,
        "level": rng.choice(["low", "medium", "high"]),
        "tags": [f"atlas.t00{rng.choice([24, 40, 43, 51, 54])}"],
    }


def rules_yaml(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return yaml.safe_dump_all([make_rule(rng, i) for i in range(count)], sort_keys=False)


def events(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_event(rng, i + 1) for i in range(count)]
