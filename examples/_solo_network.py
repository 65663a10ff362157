"""A throwaway one-validator tdx network for the examples: keys, genesis, one node process.

``solo_network`` starts it in a temporary folder and always stops the node and removes the
folder when the ``with`` block ends, so an example leaves nothing running.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tdx.node.ops.testing import local_network
from tdx.sdk import Identity, ledger_pb2

NETWORK = "tdx-example"


@dataclass
class SoloNetwork:
    """The running network: its node's address, the members' identities, the genesis."""

    address: str
    members: dict[str, Identity]
    genesis: ledger_pb2.Genesis
    folder: Path


@contextmanager
def solo_network(members: Mapping[str, Sequence[str]], validator: str) -> Iterator[SoloNetwork]:
    """Start a network whose members (id -> roles) are given; ``validator`` runs the node."""
    with local_network({m: ("DE", roles) for m, roles in members.items()},
                       validator=validator, network=NETWORK,
                       created_ms=1_800_000_000_000) as net:
        print(f"started a one-validator network {NETWORK!r} at {net.address} "
              f"({', '.join(members)})")
        try:
            yield SoloNetwork(net.address, net.members, net.genesis, net.folder)
        finally:
            print("stopped the node")
