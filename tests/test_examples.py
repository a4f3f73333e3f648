"""The shipped examples stay valid: users copy them first."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from atlasgate.cli.main import cli
from atlasgate.config.load import load_config
from atlasgate.policy.load import load_policy

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_gateway_config_loads_with_its_policies() -> None:
    config = load_config(EXAMPLES / "gateway.yaml")
    policy = load_policy(config)
    ids = {rule.id for rule in policy.rules}
    assert {"acme-cap-tokens", "scores-round-for-partners", "content-injection-block"} <= ids
    assert config.audit.origin == "acme-prod-gateway"
    assert config.upstreams.predict[0].upstream_model == "fraud-v7"


def test_example_policies_meet_their_expectations() -> None:
    result = CliRunner().invoke(cli, ["policy", "test", str(EXAMPLES / "policies.yaml"),
                                      "--events", str(EXAMPLES / "events.jsonl")])
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output


def test_config_check_accepts_the_example() -> None:
    result = CliRunner().invoke(cli, ["config", "check", str(EXAMPLES / "gateway.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
