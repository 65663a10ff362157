"""Gossip between meshes on 127.0.0.1: reach, bursts, membership, size limits, duplicates."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from mesh_harness import (
    TEST_LIMITS,
    Members,
    cluster,
    connected,
    meshed,
    public_key,
    run,
    wait_until,
)
from tdx.network import MeshClosed, MeshLimits


def test_two_meshes_connect_through_bootstrap_and_gossip_both_ways() -> None:
    async def main() -> None:
        members = Members([0, 1])
        async with cluster() as c:
            a = await c.start(0, members)
            b = await c.start(1, members, bootstrap=a.mesh.addresses)
            await connected((a, b))
            await meshed([a, b])
            await meshed([b, a])
            await a.mesh.publish("blocks", b"from a")
            await b.mesh.publish("documents", b"from b")
            await b.inbox.wait_for(1)
            await a.inbox.wait_for(1)
            assert b.inbox.messages == [("blocks", b"from a", public_key(0))]
            assert a.inbox.messages == [("documents", b"from b", public_key(1))]

    run(main)


def test_gossip_reaches_a_member_two_hops_away() -> None:
    async def main() -> None:
        members = Members([0, 1, 2])
        async with cluster() as c:
            a = await c.start(0, members)
            b = await c.start(1, members, bootstrap=a.mesh.addresses)
            z = await c.start(2, members, bootstrap=b.mesh.addresses)  # a - b - z, a line
            await connected((a, b), (b, z))
            assert not a.mesh.is_connected(z.key)
            await meshed([a, b, z])
            await a.mesh.publish("alerts", b"alert 1")
            await z.inbox.wait_for(1)
            await b.inbox.wait_for(1)
            assert z.inbox.messages == [("alerts", b"alert 1", public_key(0))]
            assert b.inbox.messages == [("alerts", b"alert 1", public_key(0))]

    run(main)


def test_a_burst_of_500_messages_all_arrive() -> None:
    # py-libp2p's defaults deliver 8 of these: a 32-slot outbound queue per peer, a 32-slot
    # subscription channel, and spam protection at 10 messages a second per peer and topic.
    async def main() -> None:
        members = Members([0, 1])
        async with cluster() as c:
            a = await c.start(0, members)
            b = await c.start(1, members, bootstrap=a.mesh.addresses)
            await connected((a, b))
            await meshed([a, b])
            sent = [b"burst %03d" % i for i in range(500)]
            for data in sent:
                await a.mesh.publish("alerts", data)
            await b.inbox.wait_for(500, timeout=20)
            assert sorted(b.inbox.data()) == sent
            assert b.mesh.stats()["dropped"] == 0

    run(main)


def test_a_non_member_is_refused_and_its_messages_are_not_delivered() -> None:
    async def main() -> None:
        members = Members([0, 1])  # member 2 is not one, as a and b see it
        async with cluster() as c:
            a = await c.start(0, members)
            b = await c.start(1, members, bootstrap=a.mesh.addresses)
            outsider = await c.start(2, Members([0, 1, 2]), bootstrap=a.mesh.addresses)
            await connected((a, b))
            await meshed([a, b])
            await outsider.mesh.publish("alerts", b"spam")
            await asyncio.sleep(1.0)  # several dial attempts by the outsider
            assert not a.mesh.is_connected(outsider.key)
            assert not outsider.mesh.is_connected(a.key)
            assert [p.public_key for p in a.mesh.peers()] == [public_key(1)]
            assert a.inbox.messages == [] and b.inbox.messages == []

    run(main)


def test_a_message_whose_author_is_no_member_is_dropped_where_membership_says_so() -> None:
    # Membership can differ for a moment (a removal not yet applied everywhere): b still
    # admits z, a does not. z's message reaches b directly but must not pass b to a.
    async def main() -> None:
        async with cluster() as c:
            a = await c.start(0, Members([0, 1]))
            b = await c.start(1, Members([0, 1, 2]), bootstrap=a.mesh.addresses)
            z = await c.start(2, Members([0, 1, 2]), bootstrap=b.mesh.addresses)
            await connected((a, b), (b, z))
            await meshed([b, a, z])
            await z.mesh.publish("alerts", b"from z")
            await b.inbox.wait_for(1)
            await wait_until(lambda: a.mesh.stats()["refused_author"] >= 1)
            await a.mesh.publish("alerts", b"after")  # a still gossips with b
            await b.inbox.wait_for(2)
            assert a.inbox.messages == []
            assert b.inbox.data() == [b"from z", b"after"]

    run(main)


def test_oversized_messages_are_refused_by_publish_and_dropped_on_receipt() -> None:
    async def main() -> None:
        members = Members([0, 1])
        small = MeshLimits(topics={"alerts": 1000, "blocks": 100, "documents": 1000})
        large = MeshLimits(topics={"alerts": 1000, "blocks": 10_000, "documents": 1000})
        async with cluster() as c:
            a = await c.start(0, members, limits=large)
            b = await c.start(1, members, bootstrap=a.mesh.addresses, limits=small)
            await connected((a, b))
            await meshed([a, b])
            with pytest.raises(ValueError, match="exceed"):
                await b.mesh.publish("blocks", b"x" * 101)
            await a.mesh.publish("blocks", b"x" * 101)  # within a's limit, not b's
            await wait_until(lambda: b.mesh.stats()["refused_size"] == 1)
            await a.mesh.publish("blocks", b"x" * 100)
            await b.inbox.wait_for(1)
            assert b.inbox.data() == [b"x" * 100]

    run(main)


def test_the_same_bytes_on_the_same_topic_are_delivered_once() -> None:
    async def main() -> None:
        members = Members([0, 1, 2])
        async with cluster() as c:
            a = await c.start(0, members)
            b = await c.start(1, members, bootstrap=a.mesh.addresses)
            z = await c.start(2, members, bootstrap=[*a.mesh.addresses, *b.mesh.addresses])
            await connected((a, b), (a, z), (b, z))
            await meshed([a, b, z])
            await a.mesh.publish("blocks", b"announcement 7")
            await a.mesh.publish("blocks", b"announcement 7")  # again, later
            await z.mesh.publish("blocks", b"announcement 7")  # and by another member
            await a.mesh.publish("alerts", b"announcement 7")  # another topic: distinct
            await a.mesh.publish("blocks", b"announcement 8")
            await b.inbox.wait_for(3)
            await asyncio.sleep(0.5)  # time for any duplicate to show up
            # Once each: whichever copy of "blocks / announcement 7" arrives first (a's, or
            # z's when a's first publish is still on its way) is the one delivered.
            assert sorted((topic, data) for topic, data, _ in b.inbox.messages) == [
                ("alerts", b"announcement 7"),
                ("blocks", b"announcement 7"),
                ("blocks", b"announcement 8"),
            ]
            senders = {(t, d): who for t, d, who in b.inbox.messages}
            assert senders[("blocks", b"announcement 7")] in (public_key(0), public_key(2))

    run(main)


def test_publish_refuses_unknown_topics_and_a_stopped_mesh() -> None:
    async def main() -> None:
        async with cluster() as c:
            a = await c.start(0, Members([0]), limits=TEST_LIMITS)
            with pytest.raises(ValueError, match="unknown topic"):
                await a.mesh.publish("gossip", b"x")
            await a.mesh.stop()
            with pytest.raises(MeshClosed):
                await a.mesh.publish("alerts", b"x")

    run(main)


def test_messages_beyond_the_pending_limit_are_dropped_while_the_loop_is_busy() -> None:
    async def main() -> None:
        async with cluster() as c:
            b = await c.start(
                1, Members([0, 1]), limits=dataclasses.replace(TEST_LIMITS, pending_deliveries=10)
            )
            # What the mesh thread does for each admitted message, 50 times while the
            # loop cannot run a callback (it is running this test):
            topic = "/tdx/tdx-test/alerts"
            for i in range(50):
                b.mesh._deliver(topic, b"while busy %d" % i, public_key(0))
            assert b.inbox.messages == []
            await b.inbox.wait_for(10)
            await asyncio.sleep(0.1)
            assert b.inbox.data() == [b"while busy %d" % i for i in range(10)]
            assert (b.mesh.stats()["dropped"], b.mesh.stats()["delivered"]) == (40, 10)
            b.mesh._deliver(topic, b"after", public_key(0))  # room again
            await b.inbox.wait_for(11)

    run(main)
