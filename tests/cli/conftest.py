"""Fixtures for the CLI tests: a runner that checks the edge contract, keys and a genesis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_testing import Invoke, check_edge
from click.testing import CliRunner, Result
from tdx.cli.main import cli


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``tdx ARGS`` in-process; checks that failures are one line, never a traceback.

    ``code`` is the exit code the caller expects (0 unless given).
    """
    monkeypatch.delenv("TDX_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("TDX_NODE", raising=False)
    monkeypatch.delenv("TDX_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(cli, list(args), input=input, env=env)
        check_edge(result)
        assert result.exit_code == code, (
            f"tdx {' '.join(args)} exited {result.exit_code}, wanted {code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    return run


@pytest.fixture
def make_key(invoke: Invoke, tmp_path: Path) -> Callable[..., Path]:
    """Create a key file with ``tdx keys generate`` and return its path."""

    def make(member: str, *extra: str) -> Path:
        path = tmp_path / f"{member}.key"
        invoke("keys", "generate", "--out", str(path), *extra)
        return path

    return make


@pytest.fixture
def genesis_with(invoke: Invoke, tmp_path: Path,
                 make_key: Callable[..., Path]) -> Callable[..., Path]:
    """Create a genesis of network tdx-test whose members are (id, roles, validator)."""

    def make(*members: tuple[str, str, bool], name: str = "genesis.json") -> Path:
        path = tmp_path / name
        invoke("genesis", "create", "--out", str(path), "--network", "tdx-test")
        for member_id, roles, validator in members:
            key = tmp_path / f"{member_id}.key"
            if not key.exists():
                make_key(member_id)
            invoke("genesis", "add-member", str(path), "--name", f"Member {member_id}",
                   "--key", str(key), "--roles", roles, "--country", "DE",
                   *(["--validator"] if validator else []))
        return path

    return make
