"""Bad rules are reported with file, line and reason, all at once, never as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlasgate.errors import ConfigError
from atlasgate.sigma import SigmaEngine, SigmaRulesError, load_rules

GOOD = """title: good
logsource: {product: atlasgate}
detection:
  s:
    api.model: x
  condition: s
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str]]:
    path = write(tmp_path, "r.yml", text)
    return [(p.line, p.message) for p in load_rules([path]).errors]


def test_unknown_modifier_is_reported_on_its_line(tmp_path):
    text = GOOD.replace("    api.model: x", "    api.model: x\n    user.id|sideways: y")
    assert problems(tmp_path, text) == [(6, "Unknown modifier 'sideways'")]


def test_condition_naming_an_undefined_detection(tmp_path):
    text = GOOD.replace("condition: s", "condition: s and nowhere")
    ((line, message),) = problems(tmp_path, text)
    assert line == 6
    assert "nowhere" in message


def test_invalid_regex_is_reported_on_its_line(tmp_path):
    text = GOOD.replace("    api.model: x", "    api.model: x\n    llm.prompt|re: '(unclosed'")
    ((line, message),) = problems(tmp_path, text)
    assert line == 6
    assert "invalid" in message.lower()


def test_bad_level_and_yaml_errors(tmp_path):
    assert problems(tmp_path, GOOD + "level: loud\n")[0][0] == 7
    ((line, message),) = problems(tmp_path, "title: x\ndetection: [\n")
    assert line is not None
    assert message.startswith("invalid YAML")


def test_bad_action_block(tmp_path):
    text = GOOD + "atlasgate:\n  action: EXPLODE\n  for: soon\n"
    found = problems(tmp_path, text)
    assert [line for line, _ in found] == [8, 9]
    assert "unknown action" in found[0][1]
    assert "timespan" in found[1][1]


def test_correlation_referencing_a_missing_rule(tmp_path):
    text = """title: c
correlation:
  type: event_count
  rules: [absent]
  timespan: 5m
  condition: {gte: 2}
"""
    ((line, message),) = problems(tmp_path, text)
    assert line == 4
    assert "absent" in message


def test_engine_raises_one_error_listing_every_problem(tmp_path):
    write(tmp_path, "a.yml", GOOD.replace("api.model: x", "api.model|nope: x"))
    write(tmp_path, "b.yml", GOOD + "status: bogus\n")
    write(tmp_path, "ok.yml", GOOD)
    with pytest.raises(SigmaRulesError) as raised:
        SigmaEngine.from_paths([tmp_path, tmp_path / "missing.yml"])
    error = raised.value
    assert isinstance(error, ConfigError)
    assert len(error.problems) == 3
    text = str(error)
    assert f"{tmp_path / 'a.yml'}:5: error: Unknown modifier 'nope'" in text
    assert f"{tmp_path / 'b.yml'}:7: error:" in text
    assert "missing.yml: error: no such file or directory" in text


def test_duplicate_ids_across_files(tmp_path):
    rule = GOOD + "id: 11111111-1111-4111-8111-111111111111\n"
    write(tmp_path, "a.yml", rule)
    write(tmp_path, "b.yml", rule)
    (problem,) = load_rules([tmp_path]).errors
    assert "also used at" in problem.message
    assert problem.line == 7


def test_non_utf8_file(tmp_path):
    path = tmp_path / "bin.yml"
    path.write_bytes(b"title: \xff\xfe\n")
    (problem,) = load_rules([path]).errors
    assert "not UTF-8" in problem.message


def test_each_bad_item_is_reported_on_its_own_line(tmp_path):
    text = GOOD.replace(
        "    api.model: x",
        "    api.model: x\n    a|one: 1\n  t:\n    b|re: '(open'\n",
    ).replace("condition: s", "condition: s or t")
    found = problems(tmp_path, text)
    assert [line for line, _ in found] == [6, 8]


def test_missing_placeholder_values_point_at_the_expand_item(tmp_path):
    text = GOOD.replace("    api.model: x", "    api.model: x\n    user.id|expand: '%admins%'")
    ((line, message),) = problems(tmp_path, text)
    assert line == 6
    assert "admins" in message


def test_rules_for_other_products_lint_with_a_warning(tmp_path):
    path = write(tmp_path, "win.yml", GOOD.replace("{product: atlasgate}", "{product: windows}"))
    (warning,) = load_rules([path]).warnings
    assert warning.line == 2
    assert "product 'windows'" in warning.message


def test_a_condition_too_deep_for_the_parser_is_an_error_not_a_crash(tmp_path):
    condition = "not (" * 29 + "not s" + ")" * 29
    ((line, message),) = problems(tmp_path, GOOD.replace("condition: s", f"condition: {condition}"))
    assert line == 6
    assert "nested too deeply" in message
