"""Regular expressions for the content detectors, all on RE2.

RE2 runs in time linear in the input whatever the pattern, so no text a caller
sends can make a detector backtrack (the test suite checks this on 100 kB inputs).
Patterns are compiled once, when the module is imported.
"""

from __future__ import annotations

from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20
_OPTIONS.log_errors = False


def compile_re(pattern: str, ignore_case: bool = False) -> Any:
    """Compile with RE2; a pattern RE2 cannot run is a programming error, raised at import."""
    options = re2.Options()
    options.max_mem = _OPTIONS.max_mem
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)
