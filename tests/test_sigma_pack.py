"""Every shipped rule fires on its firing fixtures and stays quiet on its benign ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlasgate.sigma import SigmaEngine, load_rules
from atlasgate.sigma.events import read_events

RULES = Path(__file__).resolve().parent.parent / "src" / "atlasgate" / "sigma" / "pack"
FIXTURES = RULES / "fixtures"
RULE_FILES = sorted(RULES.glob("*.yml"))


def _keys_defined_in(path: Path) -> set[str]:
    ruleset = load_rules([path])
    return {r.key for r in [*ruleset.rules, *ruleset.correlations] if r.output}


def _fired(fixture: Path) -> set[str]:
    engine = SigmaEngine.from_paths([RULES])
    fired: set[str] = set()
    for _, event, error in read_events(fixture):
        assert error is None, f"{fixture}: {error}"
        fired |= {m.rule_id for m in engine.evaluate(event)}
    return fired


def test_pack_loads_without_errors_or_warnings():
    ruleset = load_rules([RULES])
    assert ruleset.problems == []
    assert len(ruleset.rules) + len(ruleset.correlations) == 23


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_fires_on_its_attack_fixtures(rule_file: Path):
    assert _keys_defined_in(rule_file) <= _fired(FIXTURES / f"{rule_file.stem}.fire.jsonl")


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_stays_quiet_on_its_benign_fixtures(rule_file: Path):
    assert not _keys_defined_in(rule_file) & _fired(FIXTURES / f"{rule_file.stem}.benign.jsonl")


def test_every_rule_carries_atlas_techniques():
    engine = SigmaEngine.from_paths([RULES])
    techniques = engine.rule_techniques()
    alerting = [r for r in [*engine.rules, *engine.correlations] if r.output]
    assert all(techniques[r.key] for r in alerting)
    covered = {t for ts in techniques.values() for t in ts}
    assert {"AML.T0024.000", "AML.T0024.001", "AML.T0024.002", "AML.T0051.000",
            "AML.T0051.001", "AML.T0054", "AML.T0056", "AML.T0057", "AML.T0055", "AML.T0068",
            "AML.T0069.000", "AML.T0069.001", "AML.T0069.002", "AML.T0029", "AML.T0034",
            "AML.T0020", "AML.T0010.002", "AML.T0043.001", "AML.T0015", "AML.T0013",
            "AML.T0012", "AML.T0046"} <= covered


@pytest.mark.parametrize("event", [
    {"api.method": ["predict"], "x": {"a": 1}},
    {"logsource.product": {"a": 1}, "api.method": "chat", "llm.prompt": ["a", None, 5]},
    {"api.method": "predict", "api.request_count_5m": "lots", "api.request_rate_5m": None,
     "@timestamp": "yesterday", "client.ip": ["1.2.3.4", 7], "client.key_id": ["a"]},
    {"api.method": "chat", "event.kind": ["alert"], "decision.action": {}},
    {},
])
def test_odd_event_values_are_evaluated_without_errors(event: dict):
    assert SigmaEngine.from_paths([RULES]).evaluate(event) == []


def test_builtin_names_the_installed_pack_in_config_and_on_the_command_line(tmp_path: Path):
    from click.testing import CliRunner

    from atlasgate.cli.main import cli
    from atlasgate.config.load import ConfigOrigin, build_config
    from atlasgate.gateway.runtime import Gateway
    from atlasgate.shipped import sigma_rule_path

    assert sigma_rule_path("builtin").resolve() == RULES.resolve()
    assert sigma_rule_path("rules/") == Path("rules/")
    config = build_config({"sigma": {"rules": ["builtin"]},
                           "audit": {"path": str(tmp_path / "d.db"),
                                     "signing_key": str(tmp_path / "k.pem")}},
                          ConfigOrigin(None, tmp_path, None))
    assert config.sigma.rules == ["builtin"]  # not resolved against the config's folder
    engine = Gateway(config).snapshot.sigma
    assert engine is not None
    assert len(engine.rules) + len(engine.correlations) == 23
    result = CliRunner().invoke(cli, ["sigma", "lint", "builtin"])
    assert result.exit_code == 0, result.output
