"""Gossip among members: gossipsub with signed, size-bounded, content-addressed messages.

Each message on its way through a node passes, in this order (py-libp2p's ``push_msg``):

1. the RPC frame's length is checked against ``rpc_limit`` before it is decoded;
2. a message whose content id was seen in the last ``seen_ttl`` seconds is dropped: the
   id is SHA-256 over topic and data, so the same bytes on the same topic are delivered
   once, whoever sends them;
3. the author's signature is checked (strict signing: the author signs with its libp2p
   key, which is its member key, and its peer id embeds that key);
4. the topic validator refuses a message over its topic's size limit, or whose author or
   forwarding peer is not a member;
5. only then is the message delivered here and forwarded to other peers.

Two faults of py-libp2p 0.8.1 are closed here. An RPC frame that does not decode raised out
of the stream handler and ended the whole mesh thread: one member's bad bytes (or a large
message garbled as below) stopped every node's mesh. ``MemberPubsub`` closes that peer's
stream and connection instead (counted as ``refused["frames"]``); its node dials again.
And yamux takes its write lock per 64 KiB frame, so two tasks writing RPCs larger than that
to one peer (the sending loop and gossipsub's direct sends) interleaved their frames and
garbled both: writes to a stream are one at a time here.

py-libp2p 0.8.1's defaults lose bursts on a mesh like ours, so ``MemberPubsub`` changes
three of them: it hands messages straight to ``deliver`` instead of a 32-slot
subscription channel that drops when full, it lets each peer's outbound queue hold
``outbound_queue`` RPCs instead of 32 (a size fixed when ``rpc_queue`` loads, hence
the patch on the queues as they are made), and it keeps no validation cache (a cached
refusal, keyed by content id, would refuse a member's copy of bytes a non-member sent
first). The router is made with spam protection off (it drops more than 10 messages a
second per peer and topic) and without the IP-diversity checks, which a permissioned
mesh, often on one host, does not need. It speaks gossipsub v1.1 only: v1.2 adds an
IDONTWANT control message per received message, each in an RPC of its own with a signed
peer record the receiver verifies, which more than halved burst throughput here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import weakref
from collections.abc import Callable, Mapping

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, ValidationResult
from libp2p.pubsub.rpc_queue import RpcQueue

from ._gate import MemberCheck, is_member_id
from ._identity import public_key_of_id

log = logging.getLogger("tdx.network")

#: Receives (full topic, data, author's public key) on the mesh thread.
Deliver = Callable[[str, bytes, bytes], None]

#: Room in an RPC frame beyond the message data (signature, key, ids, topic, framing).
FRAME_OVERHEAD = 64 * 1024
#: No frame limit below the go-libp2p default, so control traffic always fits.
MIN_RPC_LIMIT = 1024 * 1024


def content_id(msg: rpc_pb2.Message) -> bytes:
    """The message id gossipsub de-duplicates by: SHA-256 over the topics and the data."""
    digest = hashlib.sha256()
    for topic in msg.topicIDs:
        digest.update(topic.encode())
        digest.update(b"\x00")
    digest.update(msg.data)
    return digest.digest()


def rpc_limit(largest_message: int) -> int:
    """The largest RPC frame a node reads or writes, for topics up to ``largest_message``."""
    return max(MIN_RPC_LIMIT, largest_message + FRAME_OVERHEAD)


def new_router(heartbeat_interval: int = 1) -> GossipSub:
    """A gossipsub router for a permissioned mesh (see the module docstring).

    Degree 6 (4 to 12) as in go-libp2p; a heartbeat a second keeps the mesh repaired
    (py-libp2p's default is two minutes).
    """
    return GossipSub(
        protocols=[PROTOCOL_ID_V11],
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=heartbeat_interval,
        spam_protection_enabled=False,
        eclipse_protection_enabled=False,
        adaptive_gossip_enabled=False,
        max_pending_messages_per_peer=1000,
    )


class _RoomyQueues(dict[ID, RpcQueue]):
    """Pubsub's per-peer outbound queues, each resized as pubsub adds it."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__()
        self._size = size
        self._max_bytes = max_bytes

    def __setitem__(self, peer_id: ID, queue: RpcQueue) -> None:
        queue._queue.max_size = self._size
        queue.max_message_size = self._max_bytes
        super().__setitem__(peer_id, queue)


class _NoValidationCache:
    """Stands in for pubsub's validation cache: every message is validated afresh."""

    def get(self, msg_id: bytes) -> ValidationResult | None:
        return None

    def put(self, msg_id: bytes, result: ValidationResult) -> None:
        return None

    def clear_expired(self) -> None:
        return None


class MemberPubsub(Pubsub):
    """Pubsub that admits members' messages only and delivers them to a callback.

    ``topics`` maps each full topic name to its size limit. ``deliver`` is called on the
    mesh thread for every admitted message another member authored; it must not block.
    Call ``close`` after the service stopped, to end the seen-cache's sweeper thread.
    """

    def __init__(
        self,
        host: IHost,
        router: GossipSub,
        *,
        topics: Mapping[str, int],
        is_member: MemberCheck,
        deliver: Deliver,
        seen_ttl: int,
        outbound_queue: int,
    ) -> None:
        limit = rpc_limit(max(topics.values()))
        super().__init__(
            host,
            router,
            strict_signing=True,
            msg_id_constructor=content_id,
            seen_ttl=seen_ttl,
            sweep_interval=min(seen_ttl, 60),
            max_inbound_rpc_size=limit,
            allowed_topics=frozenset(topics),
        )
        self.peer_queues = _RoomyQueues(outbound_queue, limit)
        self.validation_cache = _NoValidationCache()  # type: ignore[assignment]
        self._topic_limits = dict(topics)
        self._is_member = is_member
        self._deliver = deliver
        #: Messages the validator refused, by reason (for logs and tests).
        self.refused: dict[str, int] = {"size": 0, "author": 0, "forwarder": 0, "topics": 0,
                                        "frames": 0}
        self._write_locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = (
            weakref.WeakKeyDictionary())
        for topic in topics:
            self.set_topic_validator(topic, self._admit, False)

    def close(self) -> None:
        """End the seen-cache's sweeper thread (py-libp2p never stops it)."""
        self.seen_messages.stop()

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        """Write one RPC to a peer's stream, one writer at a time (see the module
        docstring: concurrent writers would interleave their yamux frames)."""
        lock = self._write_locks.get(stream)
        if lock is None:
            lock = self._write_locks[stream] = trio.Lock()
        async with lock:
            return await super().write_msg(stream, rpc_msg)

    async def stream_handler(self, stream: INetStream) -> None:
        """Read a peer's RPCs until its stream ends; a frame that does not decode (or any
        other failure its bytes cause) closes that stream, never the mesh."""
        try:
            await super().stream_handler(stream)
        except Exception as error:  # whatever py-libp2p raises on a peer's bytes
            peer_id = stream.muxed_conn.peer_id
            self.refused["frames"] += 1
            count = self.refused["frames"]
            if count == 1 or count % 100 == 0:
                log.warning("closed the gossip stream of %s: %r (%d such so far)", peer_id,
                            error, count)
            with contextlib.suppress(Exception):
                await stream.reset()
            self._handle_dead_peer(peer_id)
            # The connection goes too (this task with it): a member's node dials again and
            # gossip starts afresh on the new connection.
            with contextlib.suppress(Exception):
                await self.host.disconnect(peer_id)

    def _admit(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if len(msg.topicIDs) != 1 or msg.topicIDs[0] not in self._topic_limits:
            return self._refuse("topics", forwarder, msg)
        if len(msg.data) > self._topic_limits[msg.topicIDs[0]]:
            return self._refuse("size", forwarder, msg)
        if not is_member_id(self._is_member, ID(msg.from_id)):
            return self._refuse("author", forwarder, msg)
        if forwarder != self.my_id and not is_member_id(self._is_member, forwarder):
            return self._refuse("forwarder", forwarder, msg)
        return True

    def _refuse(self, reason: str, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        self.refused[reason] += 1
        log.info(
            "dropped a gossip message (%s) on %s from %s via %s, %d bytes",
            reason,
            list(msg.topicIDs),
            ID(msg.from_id),
            forwarder,
            len(msg.data),
        )
        return False

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        author = ID(publish_message.from_id)
        if author == self.my_id:
            return  # the node knows what it published
        public_key = public_key_of_id(author)
        if public_key is None:  # cannot pass the validator; kept for the type checker
            return
        topic = publish_message.topicIDs[0]
        if topic in self.topic_ids:
            self._deliver(topic, publish_message.data, public_key)
