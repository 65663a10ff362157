"""How a node orders a batch of envelopes, and what it says of where it stands.

A node orders in one of three ways, each an ``Orderer``:

- ``driver.RaftDriver`` on a validator: the leader proposes the batch as one Raft entry and
  answers once its block is applied; any other validator forwards it to the leader.
- ``forward.Forwarder``: hands the batch to another node's client API and relays its answer
  (what a validator that is not the leader, and an observer without a mesh, fall back to).
- ``follower.Follower`` on an observer: relays the batch over the mesh to the validators and
  waits for the block that holds it (or forwards it).

The driver and the follower are what a node as a whole orders with (``NodeOrderer``): they
also report where the node stands, as an ``OrderingStatus``, for ``Status`` and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tdx.node.state.rules import Outcome
from tdx.sdk import ledger_pb2
from tdx.v1 import documents_pb2


class Orderer(Protocol):
    """Orders a batch: one outcome per document id, a receipt or a refusal.

    Documents missing from the answer were not ordered in time (the caller tells its client
    to retry); ``Refusal`` is raised when the whole batch cannot be ordered now.
    """

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Order ``envelopes`` as one batch and wait for their outcomes."""
        ...


@dataclass(frozen=True)
class OrderingStatus:
    """Where this node stands in ordering, as ``StatusResponse`` reports it.

    ``role`` is the Raft role on a validator ("leader", "follower", "candidate",
    "pre_candidate") and "observer" on an observer; ``leader`` and ``term`` are the leader
    and term as this node knows them; ``commit_index`` is the Raft commit index (an
    observer's applied index); ``peers`` is Raft replication per validator (``lag`` is filled
    in on the leader) and ``mesh_peers`` the libp2p mesh; ``diverged_height`` is the first
    height at which this ledger disagrees with the certified chain (0: none).
    """

    role: str
    term: int = 0
    leader: str = ""
    commit_index: int = 0
    peers: tuple[ledger_pb2.PeerStatus, ...] = ()
    mesh_peers: tuple[ledger_pb2.PeerStatus, ...] = ()
    diverged_height: int = 0


class NodeOrderer(Orderer, Protocol):
    """What a node orders with (the Raft driver, or an observer's follower): an ``Orderer``
    that also says where the node stands."""

    def status(self) -> OrderingStatus:
        """Role, term, leader, commit index and peers, now."""
        ...
