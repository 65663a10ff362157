"""Helpers for the CLI tests (a module of its own so test files can import it by name)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import Result

Invoke = Callable[..., Result]


def check_edge(result: Result) -> None:
    """Every run ends in a clean exit: 0, a one-line failure (1) or a usage error (2)."""
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unmapped exception: {result.exception!r}") from result.exception
    if result.exit_code == 1:
        # Prompts share stderr; the reason is its one last line.
        lines = result.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error: "), result.stderr
        assert sum("error" in line.lower() for line in lines) == 1, result.stderr


def as_json(result: Result) -> Any:
    """The single JSON document a --json run printed on stdout."""
    return json.loads(result.stdout)
