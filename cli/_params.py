"""Options that many commands take: ``--json``, ``--node`` (or ``--devnet``), key files.

Which node a command talks to: ``--node HOST:PORT``, else env ``TDX_NODE``, else the leader
of the devnet in ``--devnet DIR`` or env ``TDX_DEVNET`` (read from ``DIR/devnet.json``), else
``127.0.0.1:7400``.
"""

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
DEVNET_ENV = "TDX_DEVNET"
DEFAULT_NODE = "127.0.0.1:7400"
_DEVNET_KEY = "tdx.devnet"

F = TypeVar("F", bound=Callable[..., Any])


class HostPort(click.ParamType[str, Any]):
    """A ``HOST:PORT`` address (``[::1]:7400`` for IPv6), checked before anything connects."""

    name = "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value).strip()
        if "://" in text:
            bare = text.split("://", 1)[1].split("/", 1)[0]
            self.fail(f"{text!r} is a URL; give HOST:PORT without a scheme (for example "
                      f"{bare or '127.0.0.1:7400'}): nodes speak gRPC, not HTTP", param, ctx)
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
    """Add ``--node HOST:PORT`` (env TDX_NODE) and ``--devnet DIR`` (env TDX_DEVNET).

    The command receives ``node``: the address given, else the devnet's leader, else
    127.0.0.1:7400.
    """
    func = click.option(
        "--node", type=HOST_PORT, envvar=NODE_ENV, default=None, callback=_choose_node,
        help=f"Client API address of the node to talk to (env {NODE_ENV}). [default: the "
             f"leader of --devnet, else {DEFAULT_NODE}]",
    )(func)
    return click.option(
        "--devnet", type=click.Path(file_okay=False, path_type=Path), envvar=DEVNET_ENV,
        is_eager=True, expose_value=False, callback=_remember_devnet, metavar="DIR",
        help=f"Talk to the leader of the devnet in DIR (env {DEVNET_ENV}); --node wins.",
    )(func)


def _remember_devnet(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_DEVNET_KEY] = value


def _choose_node(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    if value:
        return value
    root = ctx.meta.get(_DEVNET_KEY)
    return devnet_node(root) if root is not None else DEFAULT_NODE


def devnet_node(root: Path) -> str:
    """The API address of the leader of the devnet in ``root``, from its ``devnet.json``.

    Asks the validators it lists (the recorded leader first) who leads now; when none
    answers, the recorded leader's address, so that the command says no node answers there.
    """
    from tdx.sdk import Client, TdxError

    try:
        manifest = json.loads((root / "devnet.json").read_text())
        nodes = {node["name"]: node for node in manifest["nodes"]}
    except FileNotFoundError:
        raise click.BadParameter(f"{root} holds no devnet (no devnet.json); start one with "
                                 f"`tdx devnet up --dir {root}`", param_hint="--devnet") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"{root / 'devnet.json'} is unreadable: {exc}",
                                 param_hint="--devnet") from None
    validators = [node for node in nodes.values() if node.get("role") == "validator"]
    recorded = nodes.get(manifest.get("leader", "")) or (validators or list(nodes.values()))[0]
    for candidate in [recorded, *(v for v in validators if v is not recorded)]:
        try:
            with Client(candidate["api"], timeout=2.0, retry=None) as client:
                answer = client.status()
        except TdxError:
            continue
        if answer.role == "leader":
            return str(candidate["api"])
        if answer.leader in nodes:
            return str(nodes[answer.leader]["api"])
    return str(recorded["api"])


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
