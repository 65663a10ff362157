"""``tdx devnet``: a local multi-node network of background processes on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._output import Output, TdxGroup
from ._params import json_option

DIR_OPTION = click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path),
                          default=Path("devnet"), show_default=True,
                          help="Directory holding the devnet's keys, genesis, data and logs.")


@click.group(cls=TdxGroup)
def devnet() -> None:
    """Run a local test network: validators and observers as background processes.

    \b
    Example:
      tdx devnet up --dir ./devnet --validators 3 --observers 1
      tdx devnet status --dir ./devnet
      tdx doc submit decl.json --kind export_declaration \\
          --key devnet/keys/customs-1.key --node <api of any node>
      tdx devnet down --dir ./devnet
    """


@devnet.command()
@DIR_OPTION
@click.option("--validators", default=3, show_default=True, type=click.IntRange(1, 7),
              help="Validators (customs administrations) that vote in Raft.")
@click.option("--observers", default=1, show_default=True, type=click.IntRange(0, 8),
              help="Observers (partner nodes) that follow and verify the ledger.")
@click.option("--network", default="tdx-devnet", show_default=True, help="Network name.")
@click.option("--timeout", default=60.0, show_default=True, type=float,
              help="Seconds to wait for every node to be healthy and a leader elected.")
@json_option
def up(root: Path, validators: int, observers: int, network: str, timeout: float,
       as_json: bool) -> None:
    """Create keys and a genesis, start every node, wait for a leader.

    Writes DIR/devnet.json with each node's name, role, API address, data directory, key
    file, log and pid, and the genesis path. The nodes keep running after this command
    returns; stop them with `tdx devnet down`.

    \b
    Example:
      tdx devnet up --dir ./devnet --validators 3 --observers 1
    """
    from tdx.node.devnet import devnet_up

    output = Output(as_json)
    manifest = devnet_up(root, validators=validators, observers=observers, network=network,
                         timeout=timeout,
                         progress=(lambda _: None) if as_json else output.line)

    def human() -> None:
        output.line(f"devnet {manifest['network']} is up; leader {manifest['leader']}")
        _table(output, manifest["nodes"])
        output.line(f"genesis: {manifest['genesis']}")
        output.line(f"stop it with: tdx devnet down --dir {root}")

    output.emit(manifest, human)


@devnet.command()
@DIR_OPTION
@json_option
def status(root: Path, as_json: bool) -> None:
    """Show each node of the devnet: running or not, role, term, leader, height.

    \b
    Example:
      tdx devnet status --dir ./devnet --json
    """
    from tdx.node.devnet import devnet_status

    rows = devnet_status(root)
    output = Output(as_json)

    def human() -> None:
        output.table(None, ["name", "role", "api", "pid", "running", "raft role", "leader",
                            "height", "documents"],
                     ([r["name"], r["role"], r["api"], r["pid"] or "-",
                       "yes" if r["running"] else "no",
                       *_status_cells(r["status"])] for r in rows), no_wrap=["api"])

    output.emit(rows, human)


@devnet.command()
@DIR_OPTION
@json_option
def down(root: Path, as_json: bool) -> None:
    """Stop the devnet's processes (only those it started); keep its files.

    \b
    Example:
      tdx devnet down --dir ./devnet
    """
    from tdx.node.devnet import devnet_down

    stopped = devnet_down(root)
    output = Output(as_json)
    output.emit({"stopped": stopped},
                lambda: output.line(f"stopped {len(stopped)} node(s): {', '.join(stopped)}"
                                    if stopped else "no devnet process was running"))


def _status_cells(status: dict[str, Any] | None) -> list[object]:
    if not status:
        return ["-", "-", "-", "-"]
    if "error" in status:
        return [status["error"], "-", "-", "-"]
    return [status["role"], status["leader"], status["height"], status["documents"]]


def _table(output: Output, nodes: list[dict[str, Any]]) -> None:
    output.table(None, ["name", "role", "api", "pid", "data", "log"],
                 ([n["name"], n["role"], n["api"], n["pid"], n["data_dir"], n["log"]]
                  for n in nodes), no_wrap=["api", "data", "log"])
