"""Configuration: every mistake is reported with its file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlasgate.config.durations import parse_duration
from atlasgate.config.load import ConfigErrors, load_config
from atlasgate.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_every_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  predict:\n    - name: m\n      base_url: ftp://models\n"
                           "features:\n  windows: [1m, soon]\n")
    with pytest.raises(ConfigErrors) as err:
        load_config(path)
    text = str(err.value)
    assert f"{path}:4: upstreams.predict.0.base_url: base_url must start with http://" in text
    assert f"{path}:6: features.windows.1: invalid duration 'soon'" in text


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gateway\.yaml:2: duplicate key 'listen'"):
        load_config(write(tmp_path, "listen: {port: 1}\nlisten: {port: 2}\n"))
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "listen: [1\n"))


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"listen: \xff\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(tmp_path / "bad.yaml")


def test_relative_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "audit: {path: logs/d.db}\npolicy: {files: [p.yaml]}\n"))
    assert config.audit.path == str(tmp_path / "logs" / "d.db")
    assert config.policy.files == [str(tmp_path / "p.yaml")]
    assert config.upstreams.openai == []


@pytest.mark.parametrize(("text", "seconds"),
                         [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h", 3600), (2, 2)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0s", "-1", "soon", True, "5 minutes"])
def test_bad_durations_say_what_is_accepted(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
