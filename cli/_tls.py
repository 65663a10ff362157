"""How the CLI pins the node it talks to: ``--genesis``, ``--pin``, ``--client-key``,
``--insecure``, and the devnet's own files.

A node that is not on a loopback address serves TLS, and every command that talks to a node
checks that the node proves the member key the ledger names for it (``tdx.sdk.Trust``):

- ``--genesis FILE`` (env TDX_GENESIS): pin by the genesis's members, the one whose API
  address is ``--node``; FILE may also be the member list ``tdx gov members --json`` wrote,
  which is how a CLI user follows a key rotation once governance has recorded it;
- ``--pin MEMBER|KEY`` (env TDX_PIN): pin to that member (looked up in the genesis), to a
  64-hex public key, or to the public key in a key file;
- ``--devnet DIR``: a devnet (``devnet.json``) or compose network (``compose.json``) made
  with TLS brings its genesis and the host address of each node;
- ``--client-key FILE`` (env TDX_CLIENT_KEY): present that member key in a client
  certificate, for nodes that require one;
- ``--insecure``: plaintext, only for loopback, with a warning.

Given any of these, a loopback node is reached over TLS too (pinned like any other); without
them (and without a TLS devnet) it is plaintext, as it was before TLS.

The options are eager and stored in ``ctx.meta``; before ``--node`` is settled, ``apply_trust``
makes the trust the process default (``tdx.sdk.set_default_trust``), so every client the
command opens pins by it (finding a devnet's leader too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tdx.sdk import (
    Identity,
    Trust,
    documents_pb2,
    is_loopback,
    load_genesis,
    public_key_of_file,
    set_default_trust,
)

GENESIS_ENV = "TDX_GENESIS"
PIN_ENV = "TDX_PIN"
CLIENT_KEY_ENV = "TDX_CLIENT_KEY"
_META = "tdx.tls"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")

F = TypeVar("F", bound=Callable[..., Any])


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:
            ctx.meta.setdefault(_META, {})[name] = value
    return store


def tls_options(func: F) -> F:
    """Add ``--genesis``, ``--pin``, ``--client-key`` and ``--insecure`` (see the module)."""
    for option in (
        click.option("--insecure", is_flag=True, expose_value=False, is_eager=True,
                     callback=_remember("insecure"),
                     help="Talk plaintext to a node on a loopback address even where a pin "
                          "is set (development only; refused for any other address)."),
        click.option("--client-key", type=click.Path(dir_okay=False, path_type=Path),
                     envvar=CLIENT_KEY_ENV, expose_value=False, is_eager=True,
                     callback=_remember("client_key"), metavar="FILE",
                     help=f"Member key file to present in a client certificate, for nodes "
                          f"that require one (env {CLIENT_KEY_ENV})."),
        click.option("--pin", envvar=PIN_ENV, expose_value=False, is_eager=True,
                     callback=_remember("pin"), metavar="MEMBER|KEY",
                     help=f"The member the node must prove it is (by --genesis), or its "
                          f"64-hex public key or key file (env {PIN_ENV})."),
        click.option("--genesis", "trust_genesis", envvar=GENESIS_ENV, expose_value=False,
                     is_eager=True, callback=_remember("genesis"), metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=f"The network's genesis (or a member list saved from `tdx gov "
                          f"members --json`): its members' keys pin the node over TLS (env "
                          f"{GENESIS_ENV})."),
    ):
        func = option(func)
    return func


def devnet_trust_files(root: Path) -> tuple[Path | None, dict[str, str], bool]:
    """(genesis, host address -> member id, TLS on loopback) of a devnet or compose folder;
    (None, {}, False) when it holds neither manifest or was made without TLS."""
    for name in ("devnet.json", "compose.json"):
        try:
            manifest = json.loads((root / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or not manifest.get("tls"):
            return None, {}, False
        nodes = manifest.get("nodes", [])
        return (Path(str(manifest.get("genesis", root / "genesis.json"))),
                {str(n["api"]): str(n["name"]) for n in nodes if "api" in n and "name" in n},
                True)
    return None, {}, False


def trusted_members(path: Path) -> list[documents_pb2.MemberRecord]:
    """The members in ``path``: a genesis file, or the list ``tdx gov members --json`` wrote
    (ids, hex public keys and addresses)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, list):
        return list(load_genesis(path).members)
    try:
        return [documents_pb2.MemberRecord(
            id=str(m["id"]), public_key=bytes.fromhex(str(m["public_key"])),
            api_address=str(m.get("api_address", "")),
            peer_address=str(m.get("peer_address", ""))) for m in data]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise click.BadParameter(f"{path} is neither a genesis nor a member list from `tdx "
                                 f"gov members --json`: {exc}", param_hint="--genesis") from None


def _pin_keys(pin: str, members: list[documents_pb2.MemberRecord]) -> tuple[frozenset[bytes],
                                                                              str]:
    """(keys, member) that ``--pin`` names: a hex key, a key file, or a member id."""
    if _HEX_KEY.fullmatch(pin):
        return frozenset({bytes.fromhex(pin)}), ""
    if Path(pin).is_file():
        return frozenset({public_key_of_file(Path(pin))[1]}), ""
    if not members:
        raise click.BadParameter(f"{pin!r} is neither a 64-hex key nor a key file; to pin a "
                                 "member by id give the genesis too (--genesis)",
                                 param_hint="--pin")
    if not any(m.id == pin for m in members):
        raise click.BadParameter(f"no member {pin!r} in the genesis", param_hint="--pin")
    return frozenset(), pin


def build_trust(meta: dict[str, Any], devnet: Path | None,
                load_key: Callable[[Path], Identity]) -> Trust | None:
    """The trust the options in ``meta`` (and a TLS devnet in ``devnet``) describe, or None
    when they describe none (loopback plaintext, as before TLS)."""
    genesis_path: Path | None = meta.get("genesis")
    aliases: dict[str, str] = {}
    tls_on_loopback = False
    if devnet is not None:
        found, aliases, tls_on_loopback = devnet_trust_files(devnet)
        genesis_path = genesis_path or found
    pin: str | None = meta.get("pin")
    client_key: Path | None = meta.get("client_key")
    if genesis_path is None and pin is None and client_key is None:
        return None
    # Options given on purpose pin over TLS wherever they can, loopback too (--insecure
    # is the way back to plaintext there).
    tls_on_loopback = tls_on_loopback or bool(meta)
    members = trusted_members(genesis_path) if genesis_path is not None else []
    keys, member = _pin_keys(pin, members) if pin else (frozenset(), "")
    identity = load_key(client_key) if client_key is not None else None
    return Trust.from_members(members, member=member, keys=keys, aliases=aliases,
                              tls_on_loopback=tls_on_loopback, identity=identity)


def apply_trust(ctx: click.Context, devnet: Path | None,
                load_key: Callable[[Path], Identity]) -> None:
    """Make the trust the options name the default for this command's clients (none with
    ``--insecure``)."""
    meta: dict[str, Any] = ctx.meta.get(_META, {})
    set_default_trust(None if meta.get("insecure") else build_trust(meta, devnet, load_key))


def check_insecure(ctx: click.Context, node: str) -> None:
    """Refuse ``--insecure`` for a node that is not on loopback; warn about it otherwise."""
    if not ctx.meta.get(_META, {}).get("insecure"):
        return
    if not is_loopback(node):
        raise click.BadParameter(f"plaintext is only for loopback addresses; {node} is "
                                 "reached over TLS (pin it with --genesis or --pin)",
                                 param_hint="--insecure")
    click.echo(f"warning: talking plaintext to {node} (--insecure)", err=True)
