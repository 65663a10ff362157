"""The one-validator network of the integration tests: one member of each role."""

from __future__ import annotations

from pathlib import Path

from tdx.node.ops.testing import LocalNetwork, Members, write_network
from tdx.sdk import Identity, ledger_pb2

NETWORK = "tdx-test"
MEMBERS: Members = {
    "de-customs": ("DE", ["customs"]),
    "de-chamber": ("DE", ["issuer"]),
    "acme-trading": ("DE", ["trader"]),
    "aquaflow": ("DE", ["rights_holder"]),
    "atlantic": ("DE", ["logistics"]),
    "watcher": ("DE", ["observer"]),
}
VALIDATOR = "de-customs"
SoloNetwork = LocalNetwork


def make_solo_network(root: Path) -> tuple[ledger_pb2.Genesis, Path, dict[str, Identity]]:
    """Keys for one member of each role and a genesis where de-customs validates."""
    return write_network(root, MEMBERS, validator=VALIDATOR, network=NETWORK)
