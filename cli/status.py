"""``tdx status``: what a node says about itself, its ledger and its peers."""

from __future__ import annotations

from typing import Any

import click
from tdx.sdk import Client, ledger_pb2

from ._output import Output, TdxCommand
from ._params import json_option, node_option


@click.command(cls=TdxCommand)
@node_option
@json_option
def status(node: str, as_json: bool) -> None:
    """Show a node's network, role, Raft term, leader, ledger height and peers.

    \b
    Example:
      tdx status --node 127.0.0.1:7400
      TDX_NODE=10.0.0.5:7400 tdx status --json
    """
    with Client(node) as client:
        answer = client.status()
    data = status_json(answer)
    output = Output(as_json)

    def human() -> None:
        output.fields([
            ("node", node), ("network", answer.network), ("member", answer.member_id),
            ("role", answer.role), ("term", answer.term), ("leader", answer.leader or "-"),
            ("height", answer.height),
            ("last block", answer.last_block_hash.hex() or "-"),
            ("documents", answer.documents), ("pending", answer.pending),
            ("version", answer.version or "-"),
        ])
        if answer.diverged_height:
            output.line()
            output.line(f"ALERT: this node's block {answer.diverged_height} disagrees with the "
                        "block a majority of validators certified; it serves nothing else "
                        "until `tdx node repair`")
        if answer.peers:
            output.line()
            # Only a leader tracks how far each peer's log matches its own.
            leading = answer.role == "leader"
            output.table("peers", ["member", "address", "connected", "match index", "lag"],
                         ([p.member_id, p.address, "yes" if p.connected else "no",
                           p.match_index if leading else "-", p.lag if leading else "-"]
                          for p in answer.peers))
        if answer.mesh_peers:
            output.line()
            output.table("mesh peers", ["member", "address", "connected"],
                         ([p.member_id, p.address, "yes" if p.connected else "no"]
                          for p in answer.mesh_peers), no_wrap=["address"])

    output.emit(data, human)


def status_json(answer: ledger_pb2.StatusResponse) -> dict[str, Any]:
    """A StatusResponse as JSON, hashes in hex and counters as numbers."""
    return {
        "network": answer.network, "member_id": answer.member_id, "role": answer.role,
        "term": answer.term, "leader": answer.leader, "height": answer.height,
        "last_block_hash": answer.last_block_hash.hex(), "commit_index": answer.commit_index,
        "documents": answer.documents, "pending": answer.pending, "version": answer.version,
        "genesis_hash": answer.genesis_hash.hex(), "diverged_height": answer.diverged_height,
        "peers": [{"member_id": p.member_id, "address": p.address, "connected": p.connected,
                   "match_index": p.match_index, "lag": p.lag} for p in answer.peers],
        "mesh_peers": [{"member_id": p.member_id, "address": p.address,
                        "connected": p.connected} for p in answer.mesh_peers],
    }
