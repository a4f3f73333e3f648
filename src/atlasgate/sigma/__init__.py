"""Sigma rules on the gateway's own events: load, compile, evaluate, correlate, convert."""

from atlasgate.sigma.engine import SigmaEngine, load_rules
from atlasgate.sigma.match import SigmaMatch
from atlasgate.sigma.problems import RuleProblem, SigmaRulesError
from atlasgate.sigma.state import AsyncCorrelationState, CorrelationState, MemoryCorrelationState

__all__ = [
    "AsyncCorrelationState",
    "CorrelationState",
    "MemoryCorrelationState",
    "RuleProblem",
    "SigmaEngine",
    "SigmaMatch",
    "SigmaRulesError",
    "load_rules",
]
