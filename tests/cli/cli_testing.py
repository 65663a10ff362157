"""Helpers for the CLI tests (a module of its own so test files can import it by name)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tdx.cli.main import cli
from tdx.sdk import Client, TdxError

Invoke = Callable[..., Result]

# Variables the CLI reads; a test sees them only when it sets them.
_CLEAN_ENV: dict[str, str | None] = {"TDX_KEY_PASSPHRASE": None, "TDX_NODE": None,
                                     "TDX_KEY": None, "TDX_DEVNET": None,
                                     "TDX_GENESIS": None, "TDX_PIN": None,
                                     "TDX_CLIENT_KEY": None}


def check_edge(result: Result) -> None:
    """Every run ends in a clean exit: 0, a one-line failure (1) or a usage error (2)."""
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unmapped exception: {result.exception!r}") from result.exception
    if result.exit_code == 1:
        # Prompts share stderr; the reason is its one last line (a JSON object with --json).
        lines = result.stderr.strip().splitlines()
        assert lines, result.stderr
        if lines[-1].startswith("{"):
            error = json.loads(lines[-1])["error"]
            assert set(error) == {"code", "reason", "message"} and error["message"], error
        else:
            assert lines[-1].startswith("error: "), result.stderr
        assert sum("error" in line.lower() for line in lines) == 1, result.stderr


def run(*args: str, code: int = 0, input: str | None = None,
        env: dict[str, str] | None = None) -> Result:
    """Run ``tdx ARGS`` in-process and check the exit code (0 unless ``code`` says)."""
    result = CliRunner().invoke(cli, list(args), input=input, env={**_CLEAN_ENV, **(env or {})})
    check_edge(result)
    assert result.exit_code == code, (
        f"tdx {' '.join(args)} exited {result.exit_code}, wanted {code}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result


def json_error(result: Result) -> dict[str, str]:
    """The error object a failed --json run printed on stderr (its last line)."""
    error: dict[str, str] = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    return error


def as_json(result: Result) -> Any:
    """The single JSON document a --json run printed on stdout."""
    return json.loads(result.stdout)


def make_genesis(folder: Path, *members: tuple[str, str, bool],
                 name: str = "genesis.json", network: str = "tdx-test") -> Path:
    """A genesis in ``folder`` whose members are (id, roles, validator), keys made as needed.

    Each member's key is ``folder/ID.key``; the first validator serves on its --address
    only when the caller adds one.
    """
    path = folder / name
    run("genesis", "create", "--out", str(path), "--network", network)
    for member_id, roles, validator in members:
        key = folder / f"{member_id}.key"
        if not key.exists():
            run("keys", "generate", "--out", str(key))
        run("genesis", "add-member", str(path), "--name", f"Member {member_id}",
            "--key", str(key), "--roles", roles, "--country", "DE",
            *(["--validator"] if validator else []))
    return path


def node_package_ready() -> bool:
    """Whether tdx.node offers what `tdx node` calls."""
    try:
        import tdx.node as node
    except ImportError:
        return False
    return all(hasattr(node, name) for name in ("init_node", "start_node", "NodeError"))


needs_node = pytest.mark.skipif(not node_package_ready(),
                                reason="tdx.node has no init_node/start_node yet")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_cli(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m tdx.cli.main ARGS`` in its own session.

    Its stderr goes to ``log`` and its stdout to ``log`` with the suffix ``.out``.
    """
    child_env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
    child_env.update(env or {})
    with open(log, "ab") as log_file, open(log.with_suffix(".out"), "ab") as out_file:
        return subprocess.Popen([sys.executable, "-m", "tdx.cli.main", *args],
                                stdin=subprocess.DEVNULL, stdout=out_file,
                                stderr=log_file, env=child_env, start_new_session=True)


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM the process, then SIGKILL if it lingers; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def wait_for_status(address: str, process: subprocess.Popen[bytes], log: Path,
                    timeout: float = 20.0) -> None:
    """Wait until the node at ``address`` answers Status; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"node exited with {process.returncode}:\n{log.read_text()}")
        try:
            with Client(address, timeout=1.0) as client:
                client.status()
            return
        except TdxError:
            time.sleep(0.1)
    raise AssertionError(f"node at {address} did not answer in {timeout}s:\n{log.read_text()}")


@contextmanager
def running_node(data_dir: Path, address: str,
                 env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``tdx node start --data DIR`` until the block ends; it is always stopped."""
    log = data_dir.parent / f"{data_dir.name}.log"
    process = spawn_cli("node", "start", "--data", str(data_dir), log=log, env=env)
    try:
        wait_for_status(address, process, log)
        yield process
    finally:
        stop(process)
