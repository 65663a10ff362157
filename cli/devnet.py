"""``tdx devnet``: a local multi-node network of background processes on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._output import Output, TdxGroup
from ._params import DEVNET_ENV, json_option

DIR_OPTION = click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path),
                          default=Path("devnet"), show_default=True,
                          help="Directory holding the devnet's keys, genesis, data and logs.")
TIMEOUT_OPTION = click.option(
    "--timeout", default=60.0, show_default=True, type=float,
    help="Seconds to wait for every node to be healthy and a leader elected.")


@click.group(cls=TdxGroup)
def devnet() -> None:
    """Run a local test network: validators and observers as background processes.

    `up` creates a devnet (or starts the one DIR holds), `stop` stops its nodes and keeps
    every file, `start` (or `up`) starts them again. Other commands reach the devnet's
    leader with --devnet DIR or env TDX_DEVNET=DIR.

    \b
    Example:
      tdx devnet up --dir ./devnet --validators 3 --observers 1
      export TDX_DEVNET=./devnet
      tdx status
      tdx doc submit decl.json --key devnet/keys/customs-1.key
      tdx devnet stop --dir ./devnet
    """


@devnet.command()
@DIR_OPTION
@click.option("--validators", default=3, show_default=True, type=click.IntRange(1, 7),
              help="Validators (customs administrations) that vote in Raft.")
@click.option("--observers", default=1, show_default=True, type=click.IntRange(0, 8),
              help="Observers (partner nodes) that follow and verify the ledger.")
@click.option("--network", default="tdx-devnet", show_default=True, help="Network name.")
@click.option("--base-port", type=click.IntRange(0, 65535), default=None,
              help="Node i serves its API on BASE+i and its libp2p mesh on BASE+200+i; 0 "
                   "picks free ports. [default: 7400, or free ports when those are taken]")
@click.option("--tls", is_flag=True,
              help="Serve TLS on loopback too, every node pinned by its member key (a new "
                   "devnet; --devnet DIR then pins its nodes by its genesis).")
@TIMEOUT_OPTION
@json_option
def up(root: Path, validators: int, observers: int, network: str, base_port: int | None,
       tls: bool, timeout: float, as_json: bool) -> None:
    """Create keys and a genesis and start every node; or start the devnet DIR holds.

    Writes DIR/devnet.json with each node's name, role, API and libp2p addresses, data
    directory, key file, log and pid, and the genesis path. The nodes keep running after
    this command returns; stop them with `tdx devnet stop`, and run `up` (or `start`) again
    to resume. --validators, --observers, --network and --base-port apply to a new devnet.

    \b
    Example:
      tdx devnet up --dir ./devnet --validators 3 --observers 1
      tdx devnet up --dir ./net2 --base-port 7500
      tdx devnet up --dir ./net3 --tls --base-port 7600
    """
    from tdx.node.ops.devnet import DEFAULT_BASE_PORT, devnet_up

    output = Output(as_json)
    manifest = devnet_up(root, validators=validators, observers=observers, network=network,
                         timeout=timeout,
                         base_port=DEFAULT_BASE_PORT if base_port is None else base_port,
                         fallback=base_port is None, tls=tls,
                         progress=(lambda _: None) if as_json else output.line)
    output.emit(manifest, lambda: _summary(output, root, manifest))


@devnet.command()
@DIR_OPTION
@TIMEOUT_OPTION
@json_option
def start(root: Path, timeout: float, as_json: bool) -> None:
    """Start the nodes of a stopped devnet (those not running), and wait for a leader.

    \b
    Example:
      tdx devnet start --dir ./devnet
    """
    from tdx.node.ops.devnet import devnet_start

    output = Output(as_json)
    manifest = devnet_start(root, timeout=timeout,
                            progress=(lambda _: None) if as_json else output.line)
    output.emit(manifest, lambda: _summary(output, root, manifest))


@devnet.command()
@DIR_OPTION
@json_option
def status(root: Path, as_json: bool) -> None:
    """Show each node of the devnet: running or not, role, term, leader, height.

    A node restarted by hand (`tdx node start --data DIR/NAME`) shows as running too.

    \b
    Example:
      tdx devnet status --dir ./devnet --json
    """
    from tdx.node.ops.devnet import devnet_status

    rows = devnet_status(root)
    output = Output(as_json)

    def human() -> None:
        output.table(None, ["name", "role", "api", "pid", "running", "raft role", "leader",
                            "height", "documents"],
                     ([r["name"], r["role"], r["api"], r["pid"] or "-",
                       "yes" if r["running"] else "no",
                       *_status_cells(r["status"])] for r in rows), no_wrap=["api"])
        if not any(r["running"] for r in rows):
            output.line(f"no node runs; start them with: tdx devnet start --dir {root}")

    output.emit(rows, human)


@devnet.command()
@DIR_OPTION
@json_option
def stop(root: Path, as_json: bool) -> None:
    """Stop the devnet's nodes, however they were started; keep every file.

    `tdx devnet down` is the same command. Start the nodes again with `tdx devnet start`
    (or `up`); remove DIR for a fresh devnet.

    \b
    Example:
      tdx devnet stop --dir ./devnet
    """
    from tdx.node.ops.devnet import devnet_down

    stopped = devnet_down(root)
    output = Output(as_json)
    output.emit({"stopped": stopped},
                lambda: output.line(f"stopped {len(stopped)} node(s): {', '.join(stopped)}"
                                    if stopped else "no node of the devnet was running"))


devnet.add_command(stop, "down")


def _summary(output: Output, root: Path, manifest: dict[str, Any]) -> None:
    started = manifest.get("started", [])
    if not manifest.get("resumed"):
        what = "is up"
    elif started:
        what = f"is up again (started {', '.join(started)})"
    else:
        what = "was running already"
    output.line(f"devnet {manifest['network']} in {root} {what}; leader {manifest['leader']}")
    output.table(None, ["name", "role", "api", "pid", "data", "log"],
                 ([n["name"], n["role"], n["api"], n["pid"], n["data_dir"], n["log"]]
                  for n in manifest["nodes"]), no_wrap=["api", "data", "log"])
    output.line(f"genesis: {manifest['genesis']}")
    if manifest.get("tls"):
        output.line("TLS on every node; --devnet pins each to the member key in the genesis")
    output.line(f"talk to its leader: export {DEVNET_ENV}={root} (or --devnet {root})")
    output.line(f"stop it with: tdx devnet stop --dir {root}")


def _status_cells(status: dict[str, Any] | None) -> list[object]:
    if not status:
        return ["-", "-", "-", "-"]
    if "error" in status:
        return [status["error"], "-", "-", "-"]
    return [status["role"], status["leader"], status["height"], status["documents"]]
