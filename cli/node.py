"""``tdx node``: set up a node's data folder from a genesis and a key, and run the node.

The node package is imported inside the commands, so that the rest of the CLI works (and
starts fast) without loading it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from ._output import Output, TdxGroup
from ._params import (
    HOST_PORT,
    PASSPHRASE_ENV,
    json_option,
    key_is_encrypted,
    listen_multiaddr,
    passphrase_for,
)


@click.group(cls=TdxGroup)
def node() -> None:
    """Set up and run a node.

    `init` makes a data folder from a genesis file and the member's key; `start` runs the
    node from that folder in the foreground until Ctrl-C or SIGTERM; `repair` re-syncs a
    ledger that diverged from the certified chain.

    \b
    Example:
      tdx node init --genesis genesis.json --key customs-de.key --data ./node-de
      tdx node start --data ./node-de
    """


@node.command()
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The network's genesis file.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="This node's member key file.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="The data folder to create.")
@click.option("--api", "--api-listen", "api", type=HOST_PORT,
              help="Address to serve the client API on, when it is not the member's address "
                   "in the genesis (NAT, containers: 0.0.0.0:7400) [default: that address].")
@click.option("--peer-listen", type=HOST_PORT,
              help="Address to serve validator (peer) traffic on, when it is not the member's "
                   "peer address [default: that address].")
@click.option("--p2p-listen", metavar="IP:PORT|MULTIADDR",
              help="Address the libp2p mesh listens on, when it is not the member's p2p "
                   "address (0.0.0.0:7600 or /ip4/0.0.0.0/tcp/7600) [default: that address].")
@click.option("--tls", type=click.Choice(["auto", "on"]), default="auto", show_default=True,
              help="auto: TLS on every port not on a loopback address, plaintext on loopback; "
                   "on: TLS on loopback too. The certificate is issued by the member key.")
@click.option("--require-client-cert", is_flag=True,
              help="Accept only TLS clients that present a certificate issued by a current "
                   "member's key (mTLS; clients give --client-key).")
@click.option("--join", type=click.Choice(["validator", "observer"]),
              help="Join a running network as a member that is not in the genesis (one "
                   "that governance adds): the node catches up from the others.")
@click.option("--from", "join_from", type=HOST_PORT,
              help="With --join: a running node you trust, to learn the validators in force "
                   "now (needed when some joined after the genesis).")
@json_option
def init(genesis_file: Path, key_file: Path, data_dir: Path, api: str | None,
         peer_listen: str | None, p2p_listen: str | None, tls: str,
         require_client_cert: bool, join: str | None, join_from: str | None,
         as_json: bool) -> None:
    """Create a node's data folder from a genesis file and the member's key.

    The node listens where its member record (genesis or governance) says others dial it,
    unless --api, --peer-listen or --p2p-listen say otherwise (behind NAT, or in a
    container). An encrypted key's passphrase comes from env TDX_KEY_PASSPHRASE or a prompt.

    \b
    Example:
      tdx node init --genesis genesis.json --key customs-de.key --data ./node-de \\
          --api 127.0.0.1:7400
      tdx node init --genesis genesis.json --key customs-fr.key --data ./node-fr \\
          --api 0.0.0.0:7400 --peer-listen 0.0.0.0:7401 --p2p-listen 0.0.0.0:7600
    """
    from tdx.node import init_node

    passphrase = passphrase_for(key_file)
    summary = init_node(data_dir, genesis_file, key_file, api_address=api,
                        passphrase=passphrase, join=join or "",
                        join_from=join_from or "", peer_listen=peer_listen or "",
                        p2p_listen=listen_multiaddr(p2p_listen) if p2p_listen else "",
                        tls=tls, client_certificates=require_client_cert)
    data = {str(k): str(v) for k, v in summary.items()}
    output = Output(as_json)
    output.emit(data, lambda: output.fields(
        [(k.replace("_", " "), v or "-") for k, v in data.items()]
        + [("next", f"tdx node start --data {data_dir}")]
    ))


@node.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="The data folder made by `tdx node init`.")
@json_option
def start(data_dir: Path, as_json: bool) -> None:
    """Run the node in the foreground until Ctrl-C or SIGTERM.

    An encrypted node key's passphrase comes from env TDX_KEY_PASSPHRASE or a prompt. With
    --json, one JSON object is printed when the node has stopped.

    \b
    Example:
      tdx node start --data ./node-de
      TDX_KEY_PASSPHRASE=... tdx node start --data ./node-de &
    """
    from tdx.node import start_node

    passphrase = _node_passphrase(data_dir)
    # The node announces itself on stdout; with --json that belongs on stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        start_node(data_dir, passphrase=passphrase)
    data = {"data_dir": str(data_dir), "stopped": True}
    output = Output(as_json)
    output.emit(data, lambda: output.line(f"node stopped ({data_dir})"))


@node.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="The stopped node's data folder.")
@click.option("--from", "join_from", type=HOST_PORT,
              help="A running node you trust, to learn the validators in force now (needed "
                   "when some joined after the genesis).")
@json_option
def repair(data_dir: Path, join_from: str | None, as_json: bool) -> None:
    """Re-sync a diverged ledger from certified peers.

    For a node whose status shows `diverged` (its block at some height is not the one a
    majority of validators certified): the ledger folder is set aside as evidence and a
    fresh one starts from the genesis; the node then catches up from the other validators
    when it starts, taking only what they certified. The node must be stopped.

    \b
    Example:
      tdx node repair --data ./node-de --from 127.0.0.1:7401
      tdx node start --data ./node-de
    """
    from tdx.node.ops.repair import repair_node

    data = repair_node(data_dir, join_from or "")
    diverged = data["diverged"] or {}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("member id", data["member_id"]),
        ("diverged at", str(diverged.get("height", "-"))),
        ("old ledger kept in", data["set_aside"]),
        ("next", data["next"]),
    ]))


def _node_passphrase(data_dir: Path) -> str | None:
    """The passphrase of the node's key: env, else a prompt when the key is encrypted."""
    from tdx.node.ops.config import paths

    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    key_file = paths(data_dir)["key"]
    if not key_file.is_file() or not key_is_encrypted(key_file):
        return None  # start_node names what is missing
    return passphrase_for(key_file)
