"""Connections: bootstrap addresses, reconnecting, disconnecting members, the peer list, stop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from mesh_harness import Members, cluster, connected, meshed, public_key, run, seed, wait_until
from tdx.network import Mesh, MeshClosed, MeshPeer, peer_id_of


def test_a_peer_that_restarts_is_reconnected_and_gossips_again() -> None:
    async def main() -> None:
        members = Members([0, 1])
        async with cluster() as c:
            a = await c.start(0, members)
            address = a.mesh.addresses[0]
            b = await c.start(1, members, bootstrap=[address])
            await connected((a, b))
            await a.mesh.stop()
            await wait_until(lambda: not b.mesh.is_connected(a.key))
            listen = address.rsplit("/p2p/", 1)[0]
            again = await c.start(0, members, listen=listen)  # same key, same port
            await connected((again, b), timeout=5)
            await meshed([again, b])
            await again.mesh.publish("blocks", b"back")
            await b.inbox.wait_for(1)
            assert b.inbox.data() == [b"back"]

    run(main)


def test_disconnect_closes_a_removed_member_and_it_stays_out() -> None:
    async def main() -> None:
        a_members = Members([0, 1, 2])
        async with cluster() as c:
            a = await c.start(0, a_members)
            b = await c.start(1, Members([0, 1, 2]), bootstrap=a.mesh.addresses)
            z = await c.start(2, Members([0, 1, 2]), bootstrap=a.mesh.addresses)
            await connected((a, b), (a, z))
            a_members.remove(1)  # governance removed member 1, as a has applied it
            await a.mesh.disconnect(public_key(1))
            await wait_until(lambda: not b.mesh.is_connected(a.key))
            assert not a.mesh.is_connected(b.key)
            await asyncio.sleep(1.0)  # b keeps dialling with back-off; a's gate refuses
            assert not a.mesh.is_connected(b.key) and not b.mesh.is_connected(a.key)
            assert a.mesh.is_connected(z.key)
            assert [p.public_key for p in a.mesh.peers()] == [public_key(2)]

    run(main)


def test_peers_lists_dial_targets_and_connections() -> None:
    async def main() -> None:
        members = Members([0, 1, 2, 3])
        async with cluster() as c:
            a = await c.start(0, members)
            nowhere = f"/ip4/127.0.0.1/tcp/1/p2p/{peer_id_of(public_key(3))}"
            b = await c.start(1, members, bootstrap=[*a.mesh.addresses, nowhere])
            await connected((a, b))
            assert b.mesh.peers() == sorted(
                [
                    MeshPeer(public_key(0), a.mesh.peer_id, a.mesh.addresses[0], True),
                    MeshPeer(public_key(3), peer_id_of(public_key(3)), nowhere, False),
                ],
                key=lambda p: p.peer_id,
            )
            (inbound,) = a.mesh.peers()
            assert (inbound.public_key, inbound.peer_id, inbound.connected) == (
                public_key(1),
                b.mesh.peer_id,
                True,
            )
            assert inbound.address is not None and inbound.address.startswith("/ip4/127.0.0.1/")
            z = await c.start(2, members)
            await b.mesh.add_peer(z.mesh.addresses[0])  # a member admitted after start
            await connected((b, z))

    run(main)


def test_a_bootstrap_name_is_resolved_to_ip4() -> None:
    async def main() -> None:
        members = Members([0, 1])
        async with cluster() as c:
            a = await c.start(0, members)
            port = a.mesh.addresses[0].split("/")[4]
            named = f"/dns4/localhost/tcp/{port}/p2p/{a.mesh.peer_id}"
            b = await c.start(1, members, bootstrap=[named])
            await connected((a, b))

    run(main)


def test_the_peer_id_is_derived_from_the_member_key() -> None:
    async def main() -> None:
        async with cluster() as c:
            a = await c.start(0, Members([0]))
            assert a.mesh.peer_id == peer_id_of(public_key(0))
            assert a.mesh.public_key == public_key(0)
            assert all(address.endswith(f"/p2p/{a.mesh.peer_id}") for address in a.mesh.addresses)

    run(main)


def test_stop_leaves_no_thread_and_is_idempotent() -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        members = Members([0, 1])
        a = Mesh(seed=seed(0), network="t", is_member=members)
        b = Mesh(seed=seed(1), network="t", is_member=members)
        async with a:
            await b.start()
            await b.add_peer(a.addresses[0])
            await wait_until(lambda: a.is_connected(b.public_key))
            assert len(set(threading.enumerate()) - before) >= 2  # mesh threads (and sweepers)
            assert a.running and b.running
            await b.stop()
            await b.stop()
            assert not b.running
        await a.stop()
        assert set(threading.enumerate()) - before == set()
        with pytest.raises(MeshClosed):
            await a.disconnect(public_key(1))
        with pytest.raises(RuntimeError, match="starts once"):
            await a.start()

    run(main)


def test_a_mesh_that_cannot_listen_fails_to_start_and_leaves_no_thread() -> None:
    async def main() -> None:
        members = Members([0, 1])
        async with cluster() as c:
            a = await c.start(0, members)
            taken = a.mesh.addresses[0].rsplit("/p2p/", 1)[0]
            clash = Mesh(seed=seed(1), network="t", listen=taken, is_member=members)
            with pytest.raises(Exception):  # noqa: B017 - whatever the OS and libp2p raise
                await clash.start()
            assert not clash.running

    run(main)
