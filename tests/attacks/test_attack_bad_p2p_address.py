"""Attack 6 of issue 9: member records whose ``p2p_address`` does not parse as a dialable
mesh address. The node's mesh skips them: it starts, serves, commits, and starts again."""

from __future__ import annotations

from pathlib import Path

from meshnet import VALIDATOR, mesh_network
from tdx.network import peer_id_of
from tdx.sdk import Identity

# A valid peer id, to build addresses that are wrong in one part only.
PEER = peer_id_of(Identity.generate("stranger").public_key)
# Each passes the SDK's form check (printable, starts with "/") but is no dialable address.
BAD_ADDRESSES = {
    "de-chamber": "/garbage",
    "acme-trading": "/ip4/127.0.0.1/tcp/7600",
    "atlantic": f"/ip4/999.0.0.1/tcp/99999/p2p/{PEER}",
    "watcher": f"/dns4/example.org/udp/7600/p2p/{PEER}/extra",
}


def test_a_node_starts_beside_member_records_with_bad_mesh_addresses(tmp_path: Path) -> None:
    with mesh_network(tmp_path, addresses=BAD_ADDRESSES) as net:
        net.assert_alive()
        height = net.commit()
        net.restart(VALIDATOR)
        assert net.status(VALIDATOR).height == height
        assert net.commit() == height + 1
        net.assert_alive()
