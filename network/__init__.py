"""The libp2p mesh between tdx nodes: membership-gated gossip and block fetch.

Every node runs one ``Mesh``. Its libp2p identity is its Ed25519 member key, so its peer id
is ``peer_id_of(member public key)``; connections from keys that are not members are closed
right after the Noise handshake. Gossip topics (``alerts``, ``blocks``, ``documents`` by
default, under ``/tdx/{network}/``) carry signed, size-bounded, de-duplicated messages; a
stream protocol fetches blocks by height range. py-libp2p runs on trio in a thread of the
mesh's own; everything here is called from asyncio.

Typical use in the node::

    from tdx.network import Mesh, peer_id_of

    mesh = Mesh(
        seed=identity.seed,
        network="tdx-devnet",
        listen="/ip4/0.0.0.0/tcp/7600",
        bootstrap=["/ip4/10.0.0.2/tcp/7600/p2p/12D3KooW..."],
        is_member=lambda key: key in members,        # runs on the mesh thread
        on_message=on_gossip,                         # (topic, data, sender key), on asyncio
        serve_blocks=read_blocks,                     # async (start, end) -> [block bytes]
    )
    await mesh.start()
    await mesh.publish("blocks", announcement.SerializeToString())
    blocks = await mesh.fetch_blocks(peer_key, have + 1, have + 1 + 64)
    await mesh.disconnect(removed_key)                # after governance removed it
    await mesh.stop()

Errors::

    TdxError                  (tdx.sdk)
    └── MeshError             every error the mesh raises
        ├── MeshClosed        the mesh is not running
        ├── PeerUnavailable   no open connection to that member
        └── FetchFailed       a block fetch failed (``.reason``)

Wrong arguments (unknown topic, data over a topic's limit, empty range, bad key or address)
raise ``ValueError``. Wire messages (``BlockAnnouncement``, ``BlockRangeRequest``,
``BlockRangeResponse``) are in ``tdx.v1.mesh_pb2``.
"""

from ._config import DEFAULT_TOPICS, MeshLimits, MeshPeer
from ._errors import FetchFailed, MeshClosed, MeshError, PeerUnavailable
from ._identity import peer_id_of, public_key_of
from ._mesh import IsMember, Mesh, OnMessage, ServeBlocks

__all__ = [
    "DEFAULT_TOPICS",
    "FetchFailed",
    "IsMember",
    "Mesh",
    "MeshClosed",
    "MeshError",
    "MeshLimits",
    "MeshPeer",
    "OnMessage",
    "PeerUnavailable",
    "ServeBlocks",
    "peer_id_of",
    "public_key_of",
]
