"""ATLAS mitigations the gateway itself puts in place, read from the configuration.

Only what can be told for certain from the configuration counts: the decision
log is always written (AI Telemetry Logging), API keys control access, output
constraints coarsen what callers get back, REVIEW puts a person in the loop.
"""

from __future__ import annotations

from atlasgate.atlas.controls import ControlSet

_OUTPUT_CONSTRAINTS = {"top1", "round", "drop_logprobs"}
_AGENT_ACTIONS = {"AML.T0053", "AML.T0086", "AML.T0101", "AML.T0051.001"}


def mitigations_in_place(controls: ControlSet) -> dict[str, str]:
    """ATLAS mitigation ID → how this gateway configuration implements it."""
    found = {"AML.M0024": "every decision is recorded in the tamper-evident decision log"}
    if controls.config.get("keys"):
        found["AML.M0019"] = "callers authenticate with API keys bound to a tenant and user"
    coarse = sorted({c.name for c in controls.enabled
                     if _OUTPUT_CONSTRAINTS & set(c.constraints)})
    if coarse:
        found["AML.M0002"] = "outputs coarsened by " + ", ".join(coarse[:3])
    review = sorted(c.name for c in controls.enabled
                    if c.action == "REVIEW" and _AGENT_ACTIONS & set(c.techniques))
    if review:
        found["AML.M0029"] = "a person approves held agent actions (" + ", ".join(review[:3]) + ")"
    guardrails = sorted(c.name for c in controls.enabled
                        if c.kind == "detector" and c.name in (
                            "detector:injection", "detector:jailbreak", "detector:leakage"))
    if guardrails:
        found["AML.M0020"] = "prompts and outputs are screened by " + ", ".join(guardrails)
    return found
