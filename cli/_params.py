"""Options that many commands take: ``--json``, ``--node``, and key files with passphrases."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tdx.sdk import Identity, public_key_of_file

from ._output import Failure

PASSPHRASE_ENV = "TDX_KEY_PASSPHRASE"
NODE_ENV = "TDX_NODE"
DEFAULT_NODE = "127.0.0.1:7400"

F = TypeVar("F", bound=Callable[..., Any])


class HostPort(click.ParamType[str, Any]):
    """A ``HOST:PORT`` address (``[::1]:7400`` for IPv6), checked before anything connects."""

    name = "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.fail(f"{text!r} is not HOST:PORT (for example 127.0.0.1:7400)", param, ctx)
        return text


HOST_PORT = HostPort()


def json_option(func: F) -> F:
    """Add ``--json``: print one JSON document on stdout instead of the human view."""
    return click.option(
        "--json", "as_json", is_flag=True,
        help="Print one JSON document on stdout (for scripts) instead of the human view.",
    )(func)


def node_option(func: F) -> F:
    """Add ``--node HOST:PORT`` (env TDX_NODE, default 127.0.0.1:7400)."""
    return click.option(
        "--node", type=HOST_PORT, envvar=NODE_ENV, default=DEFAULT_NODE, show_default=True,
        help=f"Client API address of the node to talk to (env {NODE_ENV}).",
    )(func)


def key_is_encrypted(path: Path) -> bool:
    """Whether a key file is passphrase-protected (checks the file as a key file first)."""
    public_key_of_file(path)
    record = json.loads(path.read_text())
    return isinstance(record, dict) and "encryption" in record


def passphrase_for(path: Path) -> str | None:
    """The passphrase for an encrypted key: env TDX_KEY_PASSPHRASE, else a hidden prompt."""
    if not key_is_encrypted(path):
        return None
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    answer: str = click.prompt(f"Passphrase for {path}", hide_input=True, err=True)
    return answer


def new_passphrase() -> str:
    """A passphrase for a new key: env TDX_KEY_PASSPHRASE, else prompted twice."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    answer: str = click.prompt("Passphrase for the new key", hide_input=True, err=True)
    again: str = click.prompt("Repeat the passphrase", hide_input=True, err=True)
    if answer != again:
        raise Failure("the two passphrases do not match; nothing was written")
    return answer


def load_identity(path: Path) -> Identity:
    """Load a key file, asking for its passphrase when it is encrypted."""
    return Identity.load(path, passphrase_for(path))
