"""Convert rules into SIEM queries through pySigma backends.

The SQLite backend runs in-process (it shares the engine's pySigma 2). Splunk,
Elasticsearch and Kusto backends pin pySigma < 2, so they live in a separate
virtual environment, the converter environment, that ``atlasgate sigma
setup-converters`` creates; conversions run ``convert_worker.py`` there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import venv
from pathlib import Path
from typing import Any

from atlasgate.errors import ConfigError
from atlasgate.sigma import convert_worker
from atlasgate.sigma.loader import RuleSet
from atlasgate.sigma.rewrite import standard_documents, to_yaml

TARGETS = tuple(convert_worker.BACKENDS)
CONVERTER_REQUIREMENTS = (
    "pySigma>=1.5,<2",
    "pysigma-backend-splunk>=2.1",
    "pysigma-backend-elasticsearch>=2.1",
    "pysigma-backend-kusto>=1.0",
)


class ConversionError(ConfigError):
    """A backend is missing or failed as a whole."""


def converter_env() -> Path:
    configured = os.environ.get("ATLASGATE_SIGMA_CONVERTERS")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "atlasgate" / "sigma-converters"


def _env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def setup_converters(env: Path | None = None) -> Path:
    """Create the converter environment and install the SIEM backends into it with pip."""
    env = env or converter_env()
    if not _env_python(env).exists():
        venv.EnvBuilder(with_pip=True).create(env)
    subprocess.run(
        [str(_env_python(env)), "-m", "pip", "install", "--quiet", *CONVERTER_REQUIREMENTS],
        check=True,
    )
    return env


def standard_yaml(ruleset: RuleSet) -> str:
    documents: list[dict[str, Any]] = []
    for item in ruleset.loaded:
        documents.extend(standard_documents(item.normalized)[:1])
    return to_yaml(documents)


def _in_process(target: str) -> bool:
    module = convert_worker.BACKENDS[target][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def convert(ruleset: RuleSet, target: str, placeholders: dict[str, Any] | None = None,
            env: Path | None = None) -> list[dict[str, Any]]:
    """Per rule: ``{title, id, name, queries}`` or ``{..., error}``."""
    if target not in convert_worker.BACKENDS:
        raise ConversionError(f"unknown target '{target}'; expected one of {', '.join(TARGETS)}")
    text = standard_yaml(ruleset)
    if _in_process(target):
        return convert_worker.convert_documents(text, target, placeholders or {})
    env = env or converter_env()
    python = _env_python(env)
    if not python.exists():
        raise ConversionError(
            f"the {target} backend needs pySigma 1.x, kept in a separate environment: "
            f"run 'atlasgate sigma setup-converters' (creates {env})")
    request = json.dumps({"yaml": text, "target": target, "placeholders": placeholders or {}})
    try:
        proc = subprocess.run(
            [str(python), convert_worker.__file__], input=request, capture_output=True,
            text=True, timeout=300, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConversionError(f"{target} converter did not run: {e}") from None
    try:
        reply = json.loads(proc.stdout)
    except json.JSONDecodeError:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConversionError(f"{target} converter failed: {detail[0]}") from None
    if "error" in reply:
        raise ConversionError(f"{target} converter: {reply['error']}")
    return list(reply["results"])


