"""A throwaway one-validator tdx network for the examples: keys, genesis, one node process.

``solo_network`` starts it in a temporary folder and always stops the node and removes the
folder when the ``with`` block ends, so an example leaves nothing running.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tdx.node import init_node
from tdx.node.process import free_port, spawn_node, wait_healthy
from tdx.sdk import Identity, documents_pb2, genesis_json, ledger_pb2

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
    with tempfile.TemporaryDirectory(prefix="tdx-example-") as tmp:
        folder = Path(tmp)
        identities = {m: Identity.generate(m) for m in members}
        genesis = ledger_pb2.Genesis(network=NETWORK, created_ms=1_800_000_000_000)
        address = f"127.0.0.1:{free_port()}"
        for member_id, roles in members.items():
            identities[member_id].save(folder / f"{member_id}.key")
            genesis.members.append(documents_pb2.MemberRecord(
                id=member_id, name=member_id, country_code="DE", roles=list(roles),
                public_key=identities[member_id].public_key,
                api_address=address if member_id == validator else "",
                validator=member_id == validator))
        (folder / "genesis.json").write_text(genesis_json(genesis))
        init_node(folder / "node", folder / "genesis.json", folder / f"{validator}.key",
                  address)
        node = spawn_node(folder / "node", address)
        try:
            wait_healthy(node)
            print(f"started a one-validator network {NETWORK!r} at {address} "
                  f"({', '.join(members)})")
            yield SoloNetwork(address, identities, genesis, folder)
        finally:
            node.stop()
            print("stopped the node")
