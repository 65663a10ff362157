"""``Mesh``: a node's place in the libp2p mesh, as the asyncio node holds it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from libp2p.peer.id import ID

from ._bridge import TrioThread
from ._config import MeshLimits, MeshPeer
from ._host import MeshHost, topic_name
from ._identity import key_pair_of, peer_id_of
from ._peers import PeerTable, parse_target

log = logging.getLogger("tdx.network")

IsMember = Callable[[bytes], bool]
OnMessage = Callable[[str, bytes, bytes], None]
ServeBlocks = Callable[[int, int], Awaitable[list[bytes]]]


class Mesh:
    """A node's place in the libp2p mesh of its network: membership-gated gossip and block fetch.

    The libp2p host runs on a trio loop in a thread of its own; every method here is called
    from the asyncio loop that called ``start`` (the node's loop), and every callback the
    node supplies runs there too, except ``is_member``. In full:

    ``seed``
        The node's 32-byte Ed25519 member seed (``tdx.sdk.Identity.seed``). It is the
        libp2p identity, so ``peer_id == peer_id_of(member public key)``.
    ``network``
        The network name; topics are ``/tdx/{network}/{topic}`` and blocks are fetched
        over ``/tdx/{network}/blocks/1.0.0``, so two networks never mix.
    ``listen``
        The multiaddr to listen on; port 0 lets the OS pick (read ``addresses``).
    ``bootstrap``
        Members to keep connected to, as ``/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT/p2p/PEERID``
        (names are resolved on every dial). Our own address may be among them. Each is
        dialled until connected, redialled with back-off when the connection drops.
    ``is_member(public_key) -> bool``
        Whether a 32-byte Ed25519 key is a current member. Called on the mesh thread for
        every connection (both directions, right after the Noise handshake: a non-member is
        closed and logged) and for every gossip message (its author and the peer that
        forwarded it): it must be quick, must not block, and must be safe to call from
        another thread (a lookup in a set or dict that the node replaces whole is).
    ``on_message(topic, data, sender_public_key)``
        Called on the asyncio loop for each gossip message another member published:
        ``topic`` is the short name (``"blocks"``), ``data`` is at most that topic's limit,
        the author's signature and membership were checked, and the same bytes on the same
        topic arrive once per ``limits.seen_ttl``. Not called for our own messages.
        Exceptions it raises are logged and dropped.
    ``serve_blocks(start, end) -> list[bytes]`` (async)
        Runs on the asyncio loop when a member asks for blocks ``[start, end)`` (already
        clipped to ``limits.max_blocks``); returns the serialized blocks from ``start`` on,
        consecutive, as many as it has. The mesh keeps the byte budget. ``None``: this node
        answers every request UNAVAILABLE.
    ``limits``
        Every bound the mesh keeps (``MeshLimits``).

    Lifecycle: ``await start()`` (or ``async with Mesh(...)``) and ``await stop()``. After
    ``stop`` no thread or task of the mesh is left; it cannot be started again.
    """

    def __init__(
        self,
        *,
        seed: bytes,
        network: str,
        listen: str = "/ip4/127.0.0.1/tcp/0",
        bootstrap: Sequence[str] = (),
        is_member: IsMember,
        on_message: OnMessage | None = None,
        serve_blocks: ServeBlocks | None = None,
        limits: MeshLimits | None = None,
    ) -> None:
        if not network or "/" in network:
            raise ValueError("the network name must be non-empty and have no '/'")
        self._limits = limits or MeshLimits()
        key_pair = key_pair_of(seed)
        self._public_key: bytes = key_pair.public_key.to_bytes()
        self._peer_id = peer_id_of(self._public_key)
        self._network = network
        self._prefix = topic_name(network, "")
        targets = [parse_target(address) for address in bootstrap]
        self._on_message = on_message
        self._serve_blocks = serve_blocks
        self._table = PeerTable()
        self._pending_lock = threading.Lock()
        self._pending = 0
        self._delivered = 0
        self._dropped = 0
        self._bridge = TrioThread(f"tdx-mesh-{self._peer_id[-8:]}", grace=self._limits.stop_grace)
        self._host = MeshHost(
            key_pair=key_pair,
            network=network,
            listen=listen,
            bootstrap=[target for target in targets if str(target.peer_id) != self._peer_id],
            is_member=is_member,
            deliver=self._deliver,
            serve=self._serve if serve_blocks is not None else None,
            limits=self._limits,
            table=self._table,
        )
        self._started = False

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the mesh thread: listen, subscribe to every topic, begin dialling.

        Returns once the host listens. Raises what failed (an address in use, say).
        """
        if self._started:
            raise RuntimeError("a Mesh starts once")
        self._started = True
        await self._bridge.start(self._host.run)
        log.info("mesh %s listening on %s", self._peer_id, ", ".join(self.addresses))

    async def stop(self) -> None:
        """Close every connection and end the mesh thread. Safe to call more than once."""
        await self._bridge.stop()

    async def __aenter__(self) -> Mesh:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the mesh is started and not stopped (and its thread has not failed)."""
        return self._bridge.running

    # --- identity -----------------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        """Our libp2p peer id, derived from the member key."""
        return self._peer_id

    @property
    def public_key(self) -> bytes:
        """Our member public key."""
        return self._public_key

    @property
    def addresses(self) -> list[str]:
        """Full multiaddrs we listen on, with ``/p2p/PEERID``; empty before ``start``."""
        return list(self._host.addresses)

    # --- gossip -------------------------------------------------------------------------

    @property
    def topics(self) -> dict[str, int]:
        """The topics (short names) and each one's size limit in bytes."""
        return dict(self._limits.topics)

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign ``data`` with the member key and gossip it on ``topic`` (a short name).

        Returns once the message is queued to our peers; it reaches the members that are
        connected (directly or through others) and subscribed, which is every member.
        ``ValueError`` for an unknown topic or data over the topic's limit.
        """
        limit = self._limits.topics.get(topic)
        if limit is None:
            raise ValueError(f"unknown topic {topic!r}; the topics are {sorted(self.topics)}")
        if len(data) > limit:
            raise ValueError(f"{len(data)} bytes exceed the {topic!r} limit of {limit}")
        await self._bridge.call(self._host.publish, self._prefix + topic, bytes(data))

    # --- blocks -------------------------------------------------------------------------

    async def fetch_blocks(self, public_key: bytes, start: int, end: int) -> list[bytes]:
        """Fetch blocks ``[start, end)`` from a connected member.

        The range is clipped to ``limits.max_blocks``; the answer holds the blocks from
        ``start`` on, consecutive, at most ``limits.max_response_bytes`` of them, and may
        be shorter than asked for (the peer has no more, or the budget ran out) or empty.
        The caller checks the blocks themselves. Raises ``PeerUnavailable`` when there is
        no connection to that member, ``FetchFailed`` (``.reason``) when the fetch fails
        or times out (``limits.fetch_timeout``), ``ValueError`` for an empty range.
        """
        if start < 0 or end <= start:
            raise ValueError(f"an empty or negative height range [{start}, {end})")
        peer_id = ID.from_base58(peer_id_of(public_key))
        return await self._bridge.call(self._host.fetch, peer_id, start, end)

    # --- peers --------------------------------------------------------------------------

    def peers(self) -> list[MeshPeer]:
        """The members we dial or are connected to, by peer id."""
        return self._table.snapshot()

    def is_connected(self, public_key: bytes) -> bool:
        """Whether a connection to that member is open."""
        return self._table.is_connected(peer_id_of(public_key))

    async def add_peer(self, address: str) -> None:
        """Keep a connection to the member at ``address`` (a bootstrap-style multiaddr),
        as for a member admitted after start: it is dialled at once, then kept like a
        bootstrap peer. A new address for a known peer replaces the old one."""
        target = parse_target(address)
        if str(target.peer_id) == self._peer_id:
            return
        await self._bridge.call(self._host.add_peer, target)

    async def disconnect(self, public_key: bytes) -> None:
        """Close every connection to that member and stop dialling it, as for a member
        that governance removed. Make ``is_member`` say no first, or it may dial us back."""
        peer_id = ID.from_base58(peer_id_of(public_key))
        await self._bridge.call(self._host.disconnect, peer_id)

    def stats(self) -> dict[str, int]:
        """Counters: gossip ``delivered`` to ``on_message``, ``dropped`` because too many
        waited for the asyncio loop, ``refused_{size,author,forwarder,topics}`` by the
        validator, and ``refused_frames``: peers' streams closed on a frame that did not
        decode."""
        counts = {"delivered": self._delivered, "dropped": self._dropped}
        if self._started:
            for reason, count in self._host.refused().items():
                counts[f"refused_{reason}"] = count
        return counts

    # --- the mesh thread's way in -------------------------------------------------------

    def _deliver(self, topic: str, data: bytes, sender: bytes) -> None:
        """On the mesh thread: hand an admitted message to the asyncio loop, or drop it
        if ``limits.pending_deliveries`` messages are waiting there already."""
        with self._pending_lock:
            if self._pending >= self._limits.pending_deliveries:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    log.warning("asyncio loop is behind: %d gossip messages dropped", self._dropped)
                return
            self._pending += 1
        if not self._bridge.post(self._run_on_message, topic[len(self._prefix) :], data, sender):
            with self._pending_lock:
                self._pending -= 1

    def _run_on_message(self, topic: str, data: bytes, sender: bytes) -> None:
        with self._pending_lock:
            self._pending -= 1
            self._delivered += 1
        if self._on_message is None:
            return
        try:
            self._on_message(topic, data, sender)
        except Exception:
            log.exception("on_message raised for a %r message", topic)

    async def _serve(self, start: int, end: int) -> list[bytes]:
        """On the mesh thread: run ``serve_blocks`` on the asyncio loop and check its answer."""
        assert self._serve_blocks is not None
        blocks = await self._bridge.call_asyncio(self._serve_blocks, start, end)
        if not isinstance(blocks, list) or not all(isinstance(b, bytes) for b in blocks):
            raise TypeError("serve_blocks must return a list of bytes")
        return blocks
