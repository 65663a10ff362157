"""Options that many commands take: ``--json``, ``--node`` (or ``--devnet``), key files.

Which node a command talks to: ``--node HOST:PORT``, else env ``TDX_NODE``, else the leader
of the devnet in ``--devnet DIR`` or env ``TDX_DEVNET`` (read from ``DIR/devnet.json``), else
``127.0.0.1:7400``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tdx.sdk import Identity, public_key_of_file
from tdx.sdk._p2p import p2p_address

from ._output import Failure
from ._tls import apply_trust, check_insecure, tls_options

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


def _host_protocol(host: str) -> tuple[str, str]:
    """(ip4|ip6|dns, host as multiaddr writes it) for the host of a HOST:PORT."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return "dns", host
    return f"ip{parsed.version}", str(parsed)


def p2p_multiaddr(host_port: str, public_key: bytes) -> str:
    """The libp2p address a member's mesh is dialled at, from ``--p2p HOST:PORT``: the
    host as /ip4, /ip6 or /dns, and the peer id of the member's key."""
    host, _, port = host_port.rpartition(":")
    protocol, written = _host_protocol(host)
    return p2p_address(protocol, written, int(port), public_key)


def listen_multiaddr(value: str) -> str:
    """``--p2p-listen``: a /ip4 or /ip6 multiaddr as given, or HOST:PORT made one (a node
    listens on an IP address, not a name)."""
    if value.startswith("/"):
        return value
    host, sep, port = value.rpartition(":")
    protocol, written = _host_protocol(host)
    if not sep or protocol == "dns" or not port.isdigit():
        raise click.BadParameter(f"{value!r} is not IP:PORT or /ip4/IP/tcp/PORT (a node "
                                 "listens on an IP address, for example 0.0.0.0:7600)",
                                 param_hint="--p2p-listen")
    return f"/{protocol}/{written}/tcp/{port}"


def member_public_key(key_file: Path | None, public_key: str | None,
                      key_flag: str = "--member-key") -> bytes | None:
    """A member's public key from its key file or from 64 hex digits (one, not both)."""
    if key_file is not None and public_key is not None:
        raise click.UsageError(f"give {key_flag} or --public-key, not both")
    if key_file is not None:
        return public_key_of_file(key_file)[1]
    if public_key is None:
        return None
    try:
        raw = bytes.fromhex(public_key)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise click.BadParameter("must be 64 hex digits", param_hint="--public-key")
    return raw


def choose_p2p(p2p: str | None, p2p_address_given: str | None,
               public_key: bytes | None) -> str | None:
    """The member's p2p address from ``--p2p HOST:PORT`` or ``--p2p-address MULTIADDR``."""
    if p2p is not None and p2p_address_given is not None:
        raise click.UsageError("give --p2p or --p2p-address, not both")
    if p2p is None:
        return p2p_address_given
    if public_key is None:
        raise click.UsageError("--p2p needs the member's key (--member-key or --public-key): "
                               "the address ends in its peer id")
    return p2p_multiaddr(p2p, public_key)


def json_option(func: F) -> F:
    """Add ``--json``: print one JSON document on stdout instead of the human view."""
    return click.option(
        "--json", "as_json", is_flag=True,
        help="Print one JSON document on stdout (for scripts) instead of the human view.",
    )(func)


def node_option(func: F) -> F:
    """Add ``--node HOST:PORT`` (env TDX_NODE), ``--devnet DIR`` (env TDX_DEVNET) and the TLS
    options of ``_tls`` (``--genesis``, ``--pin``, ``--client-key``, ``--insecure``).

    The command receives ``node``: the address given, else the devnet's leader, else
    127.0.0.1:7400; every client it opens pins the node as the TLS options say.
    """
    func = tls_options(func)
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
    root = ctx.meta.get(_DEVNET_KEY)
    apply_trust(ctx, root, load_identity)
    node = value or (devnet_node(root) if root is not None else DEFAULT_NODE)
    check_insecure(ctx, node)
    return node


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
