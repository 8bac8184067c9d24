"""pytest configuration for the whole suite.

Shared helpers live in ``tests/support.py`` (import ``from support import ...``); they are
re-exported here for tests written before that module existed.
"""

from __future__ import annotations

from support import (  # noqa: F401 - re-exported
    REPO,
    Outcome,
    compile_flow,
    problems_of,
    run_flow,
    shared_path,
)
