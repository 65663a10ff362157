"""A one-validator network of real node processes, for integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tdx.node.process import NodeProcess, spawn_node, wait_healthy
from tdx.sdk import Identity, genesis_json
from tdx.v1 import documents_pb2, ledger_pb2

NETWORK = "tdx-test"
ROLES = {
    "de-customs": ["customs"],
    "de-chamber": ["issuer"],
    "acme-trading": ["trader"],
    "aquaflow": ["rights_holder"],
    "atlantic": ["logistics"],
    "watcher": ["observer"],
}


@dataclass
class SoloNetwork:
    """A one-validator network: its genesis, member identities and the running node."""

    root: Path
    genesis: ledger_pb2.Genesis
    genesis_path: Path
    members: dict[str, Identity]
    node: NodeProcess

    @property
    def address(self) -> str:
        return self.node.api_address

    def restart(self) -> None:
        """Start the node again on the same data directory and address."""
        self.node = spawn_node(self.node.data_dir, self.node.api_address, self.node.log_path)
        wait_healthy(self.node)


def make_solo_network(root: Path) -> tuple[ledger_pb2.Genesis, Path, dict[str, Identity]]:
    """Keys for one member of each role and a genesis where de-customs validates."""
    members = {name: Identity.generate(name) for name in ROLES}
    genesis = ledger_pb2.Genesis(network=NETWORK, created_ms=1_700_000_000_000)
    for name, identity in members.items():
        identity.save(root / f"{name}.key")
        genesis.members.append(documents_pb2.MemberRecord(
            id=name, name=name.replace("-", " ").title(), country_code="DE",
            roles=ROLES[name], public_key=identity.public_key,
            validator=name == "de-customs"))
    path = root / "genesis.json"
    path.write_text(genesis_json(genesis))
    return genesis, path, members
