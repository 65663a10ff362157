"""Helpers for tests and examples: a one-validator tdx network in a folder.

``write_network`` makes member keys and a genesis; ``local_network`` also starts the
validator's node (``python -m tdx.node``) on a free 127.0.0.1 port and always stops it when
the ``with`` block ends. For several validators and observers, use ``tdx.node.ops.devnet``.

::

    from tdx.node.ops.testing import local_network

    with local_network({"de-customs": ("DE", ["customs"]), "acme": ("DE", ["trader"])},
                       validator="de-customs") as net:
        with Client(net.address) as node:
            node.submit(seal(net.members["acme"], body))
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tdx.node.ops.config import init_node
from tdx.node.ops.process import NodeProcess, free_port, spawn_node, wait_healthy
from tdx.sdk import Identity, Trust, documents_pb2, genesis_json, ledger_pb2

Members = Mapping[str, tuple[str, Sequence[str]]]
"""Member id -> (ISO country code, roles)."""


@dataclass
class LocalNetwork:
    """A one-validator network: its folder, genesis, members' identities and node."""

    folder: Path
    genesis: ledger_pb2.Genesis
    genesis_path: Path
    members: dict[str, Identity]
    node: NodeProcess

    @property
    def address(self) -> str:
        """The node's API address."""
        return self.node.api_address

    def trust(self, identity: Identity | None = None) -> Trust:
        """A trust that pins the node by the genesis, over TLS even on loopback (for a node
        started with ``tls="on"``), presenting ``identity`` where client certificates are
        required."""
        return Trust.from_genesis(self.genesis, tls_on_loopback=True, identity=identity)

    def restart(self) -> None:
        """Start the node again on the same data directory and address."""
        self.node = spawn_node(self.node.data_dir, self.node.api_address, self.node.log_path)
        wait_healthy(self.node)


def write_network(folder: Path, members: Members, *, validator: str,
                  network: str = "tdx-test", created_ms: int = 1_700_000_000_000,
                  api_address: str = "") -> tuple[ledger_pb2.Genesis, Path, dict[str, Identity]]:
    """Write a key file per member (``folder/<id>.key``) and ``folder/genesis.json``.

    ``validator`` is the one validating member; ``api_address`` is its address in the
    genesis. Returns the genesis, its path and the members' identities.
    """
    if validator not in members:
        raise ValueError(f"the validator {validator!r} is not among the members")
    identities = {member_id: Identity.generate(member_id) for member_id in members}
    genesis = ledger_pb2.Genesis(network=network, created_ms=created_ms)
    for member_id, (country, roles) in members.items():
        identities[member_id].save(folder / f"{member_id}.key")
        genesis.members.append(documents_pb2.MemberRecord(
            id=member_id, name=member_id.replace("-", " ").title(), country_code=country,
            roles=list(roles), public_key=identities[member_id].public_key,
            api_address=api_address if member_id == validator else "",
            validator=member_id == validator))
    path = folder / "genesis.json"
    path.write_text(genesis_json(genesis))
    return genesis, path, identities


@contextmanager
def local_network(members: Members, *, validator: str, network: str = "tdx-test",
                  folder: Path | None = None, env: dict[str, str] | None = None,
                  created_ms: int = 1_700_000_000_000, tls: str = "auto",
                  client_certificates: bool = False) -> Iterator[LocalNetwork]:
    """Start a one-validator network in ``folder`` (a temporary one when None, removed
    afterwards); the node is stopped when the block ends, whatever happens in it.

    ``tls="on"`` makes the node serve TLS on its loopback address (reach it with
    ``net.trust()``), and ``client_certificates`` makes it require member client
    certificates."""
    with ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tdx-")))
        address = f"127.0.0.1:{free_port()}"
        genesis, genesis_path, identities = write_network(
            folder, members, validator=validator, network=network, created_ms=created_ms,
            api_address=address)
        init_node(folder / "node", genesis_path, folder / f"{validator}.key", address,
                  tls=tls, client_certificates=client_certificates)
        net = LocalNetwork(folder, genesis, genesis_path, identities,
                           spawn_node(folder / "node", address, folder / "node.log", env))
        try:
            wait_healthy(net.node)
            yield net
        finally:
            net.node.stop()
