"""A member record whose p2p_address does not parse costs one warning, not the mesh.

Attack 6 of issue 9: a governance-approved member record with a mesh address that is not a
multiaddr made ``Mesh.__init__`` raise, so every node refused to start. The node's mesh
now dials members one address at a time and skips that one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from node_factories import identity, make_genesis, new_ledger
from tdx.node.replication.mesh import MeshLink, p2p_address

BAD = "/ip4/not-an-address/tcp/x"


def test_a_member_with_an_unparsable_mesh_address_is_skipped_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    genesis = make_genesis()
    by_id = {m.id: m for m in genesis.members}
    by_id["acme-trader"].p2p_address = BAD
    # A well-formed address of a member whose node is not running: dialled all the same.
    by_id["nl-customs"].p2p_address = p2p_address("127.0.0.1", 9, identity("nl-customs")
                                                  .public_key)
    ledger = new_ledger(tmp_path / "ledger", genesis)

    async def main() -> tuple[set[str], list[str]]:
        link = MeshLink(identity("de-customs"), ledger, "/ip4/127.0.0.1/tcp/0")
        await link.start()
        try:
            assert link.mesh.running
            peers = {p.peer_id for p in link.mesh.peers()}
            return peers, link.mesh.addresses
        finally:
            await link.stop()

    try:
        with caplog.at_level(logging.INFO, logger="tdx.node.replication.mesh"):
            peers, addresses = asyncio.run(main())
    finally:
        ledger.store.close()
    assert addresses
    assert by_id["nl-customs"].p2p_address.rsplit("/", 1)[1] in peers
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "acme-trader" in warnings[0] and BAD in warnings[0]
