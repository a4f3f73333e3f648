"""Data shipped inside the package, found wherever the package is installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SIGMA_PACK = "builtin"
"""What ``sigma.rules`` and ``atlasgate sigma`` accept for the shipped Sigma rule pack."""


def sigma_rule_path(value: str | Path) -> Path:
    """``builtin`` is the shipped pack (with its fixtures); anything else is a file or folder."""
    if str(value) == SIGMA_PACK:
        return Path(str(resources.files("atlasgate") / "sigma" / "pack"))
    return Path(value)
