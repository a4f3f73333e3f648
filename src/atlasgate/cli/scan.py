"""``atlasgate scan``: run the gateway's content inspection on text, for triage and tuning.

The same normalisation, detectors and shipped classifier as the request path (or,
with ``--response``, the response path), then the default policy (or the policy
of ``--config``) to show what the gateway would do.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from atlasgate.errors import AtlasGateError, ConfigError

_ACTIONS = ("ALLOW", "LOG", "CONSTRAIN", "REVIEW", "BLOCK")


def _texts(text: str | None, file: str | None) -> list[tuple[str, str]]:
    """(label, text) pairs: the argument, each line of --file, or stdin."""
    if text is not None and file is not None:
        raise click.UsageError("give TEXT or --file, not both")
    if text is not None:
        return [("argument", text)]
    if file is not None:
        if file == "-":
            raw = sys.stdin.buffer.read()
            name = "<stdin>"
        else:
            try:
                with open(file, "rb") as handle:
                    raw = handle.read()
            except OSError as exc:
                raise click.ClickException(f"{file}: cannot read: {exc.strerror}") from None
            name = file
        out = []
        for number, line in enumerate(raw.split(b"\n"), start=1):
            try:
                decoded = line.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError as exc:
                raise click.ClickException(
                    f"{name}:{number}: not valid UTF-8 (byte {exc.start + 1})") from None
            if decoded.strip():
                out.append((f"{name}:{number}", decoded))
        return out
    if sys.stdin.isatty():
        raise click.UsageError("give TEXT, --file PATH, or pipe text on stdin")
    try:
        data = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"<stdin>: not valid UTF-8 (byte {exc.start + 1})") from None
    return [("<stdin>", data)]


def _policy(config_path: str | None) -> tuple[dict[str, Any], Any]:
    from atlasgate.config.schema import GatewayConfig
    from atlasgate.policy.load import load_policy

    if config_path is None:
        config = GatewayConfig.model_validate({})
    else:
        from atlasgate.config.load import load_config

        config = load_config(config_path)
    return dict(config.detectors), load_policy(config)


def _finding_record(finding: Any, text: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "detector": finding.detector, "kind": finding.kind, "score": finding.score,
        "techniques": list(finding.techniques), "location": finding.location,
        "span": list(finding.span) if finding.span else None, "detail": finding.detail,
    }
    if finding.span is not None:
        excerpt = text[finding.span[0]:finding.span[1]]
        record["excerpt"] = excerpt if len(excerpt) <= 80 else excerpt[:77] + "..."
    return record


@click.command()
@click.argument("text", required=False)
@click.option("--file", "file", metavar="PATH", help="Scan each non-empty line of PATH ('-' = stdin).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per text on stdout.")
@click.option("--response", is_flag=True, help="Scan as model output (response detectors/policy).")
@click.option("--config", "config_path", metavar="PATH",
              help="Use the detectors and policy of this gateway.yaml instead of the defaults.")
@click.option("--system-prompt", "system_prompts", multiple=True, metavar="TEXT",
              help="A protected system prompt for leakage checks (with --response).")
@click.option("--canary", "canaries", multiple=True, metavar="TEXT", help="A canary string.")
@click.option("--fail-on", type=click.Choice(_ACTIONS, case_sensitive=False), default=None,
              help="Exit with status 1 if any text would get this action or a stronger one.")
def scan(text: str | None, file: str | None, as_json: bool, response: bool,
         config_path: str | None, system_prompts: tuple[str, ...], canaries: tuple[str, ...],
         fail_on: str | None) -> None:
    """Inspect TEXT (or --file lines, or stdin) as the gateway would, and show the findings.

    Each finding shows its detector, kind, score, span and ATLAS technique IDs;
    each text shows the action the policy would take.
    """
    from atlasgate.detectors.content import ContentInspector
    from atlasgate.event import Event
    from atlasgate.policy.decision import Action

    items = _texts(text, file)
    try:
        detectors, policy = _policy(config_path)
        if system_prompts or canaries:
            leak = dict(detectors.get("leakage") or {})
            leak["system_prompts"] = [*(leak.get("system_prompts") or []), *system_prompts]
            leak["canaries"] = [*(leak.get("canaries") or []), *canaries]
            detectors["leakage"] = leak
        inspector = ContentInspector(detectors)
    except ConfigError as exc:
        if exc.path is None and config_path is not None:
            exc = ConfigError(exc.reason, config_path)
        raise click.ClickException(str(exc)) from None
    except AtlasGateError as exc:
        raise click.ClickException(str(exc)) from None
    phase = "response" if response else "request"
    worst = Action.ALLOW
    for label, content in items:
        findings = inspector.inspect_text(content, "text", response=response)
        fields = inspector.event_fields(findings)
        event = Event({"event.kind": phase, "api.method": "chat", "api.endpoint": "scan",
                       "llm.response" if response else "llm.prompt": content, **fields})
        try:
            decision = policy.decide(event, phase)
        except AtlasGateError as exc:
            raise click.ClickException(f"policy evaluation failed: {exc}") from None
        worst = max(worst, decision.action)
        if as_json:
            click.echo(json.dumps({
                "source": label, "phase": phase,
                "action": decision.action.name, "rule": decision.rule,
                "matched": list(decision.matched), "techniques": list(decision.techniques),
                "fields": fields,
                "findings": [_finding_record(f, content) for f in findings],
            }, ensure_ascii=False))
            continue
        rule = f" ({decision.rule})" if decision.rule else ""
        click.echo(f"{label}: {decision.action.name}{rule}")
        for finding in findings:
            span = f"[{finding.span[0]}:{finding.span[1]}]" if finding.span else "-"
            excerpt = _finding_record(finding, content).get("excerpt", "")
            click.echo(f"  {finding.detector:<11} {finding.kind:<26} {finding.score:5.2f} "
                       f"{span:<12} {','.join(finding.techniques):<28} {excerpt!r}")
        if not findings:
            click.echo("  no findings")
    if fail_on is not None and worst >= Action.parse(fail_on):
        sys.exit(1)
