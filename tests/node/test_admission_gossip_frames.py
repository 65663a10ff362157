"""A member's bad gossip frames cost that member its connection, never the receiver's mesh.

Found by the flood test of issue 9: in py-libp2p 0.8.1 an RPC frame that does not decode
raised out of pubsub's stream handler and ended the receiving node's whole mesh thread, and
large messages could be garbled on the way (yamux frames of two writers interleaved), so
one member's large gossip stopped every validator's mesh. Two real meshes on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11
from libp2p.utils.varint import encode_varint_prefixed
from nacl.signing import SigningKey
from tdx.network import Mesh, MeshLimits

NETWORK = "tdx-test"
SEEDS = [bytes([40 + i]) * 32 for i in range(2)]
KEYS = frozenset(bytes(SigningKey(s).verify_key) for s in SEEDS)
LIMITS = MeshLimits(reconnect_min=0.1, reconnect_max=0.5, stop_grace=2.0)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_a_frame_that_does_not_decode_closes_that_peer_only() -> None:
    async def main() -> None:
        received: list[bytes] = []
        a = Mesh(seed=SEEDS[0], network=NETWORK, is_member=lambda k: k in KEYS,
                 on_message=lambda topic, data, sender: received.append(data), limits=LIMITS)
        b = Mesh(seed=SEEDS[1], network=NETWORK, is_member=lambda k: k in KEYS, limits=LIMITS)
        await a.start()
        await b.start()
        try:
            await b.add_peer(a.addresses[0])
            await until(lambda: a.is_connected(b.public_key))

            async def send_garbage(peer: ID) -> None:  # on b's mesh thread, as a peer could
                host = b._host._host  # the raw libp2p host, to misbehave
                assert host is not None
                stream = await host.new_stream(peer, [PROTOCOL_ID_V11])
                await stream.write(encode_varint_prefixed(b"\xff" * 64))

            await b._bridge.call(send_garbage, ID.from_base58(a.peer_id))
            await until(lambda: a.stats().get("refused_frames", 0) >= 1)
            assert a.running and b.running
            # b dials again and its gossip, large messages included, reaches a intact.
            await until(lambda: a.is_connected(b.public_key))
            messages = [os.urandom(400 * 1024) for _ in range(6)]
            probe = 0
            while not received:  # gossip flows once the new connection has its streams
                probe += 1
                await b.publish("alerts", b"probe %d" % probe)
                await asyncio.sleep(0.2)
            await asyncio.gather(*(b.publish("documents", m) for m in messages))
            await until(lambda: all(m in received for m in messages))
            assert a.running and a.stats()["refused_frames"] == 1
        finally:
            await b.stop()
            await a.stop()

    asyncio.run(asyncio.wait_for(main(), 60))
