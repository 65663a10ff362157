"""Fixtures for the CLI tests: a runner that checks the edge contract, keys and a genesis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_testing import Invoke, make_genesis, run


@pytest.fixture
def invoke() -> Invoke:
    """Run ``tdx ARGS`` in-process; failures must be one line, never a traceback.

    ``code`` is the exit code the caller expects (0 unless given).
    """
    return run


@pytest.fixture
def make_key(tmp_path: Path) -> Callable[..., Path]:
    """Create a key file with ``tdx keys generate`` and return its path."""

    def make(member: str, *extra: str) -> Path:
        path = tmp_path / f"{member}.key"
        run("keys", "generate", "--out", str(path), *extra)
        return path

    return make


@pytest.fixture
def genesis_with(tmp_path: Path) -> Callable[..., Path]:
    """Create a genesis of network tdx-test whose members are (id, roles, validator)."""

    def make(*members: tuple[str, str, bool], name: str = "genesis.json") -> Path:
        return make_genesis(tmp_path, *members, name=name)

    return make
