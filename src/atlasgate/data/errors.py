"""Errors of the data-integrity path, each naming the file (and line) at fault."""

from __future__ import annotations

from atlasgate.errors import AtlasGateError


class DataError(AtlasGateError):
    """A data file, body, profile or manifest cannot be used; the message says where and why."""

    def __init__(self, reason: str, path: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None:
            return self.reason
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"
