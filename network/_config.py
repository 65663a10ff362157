"""The mesh's limits and the view of one peer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

KIB = 1024
MIB = 1024 * KIB

#: The gossip topics of a tdx network and the largest message each carries, in bytes.
DEFAULT_TOPICS: Mapping[str, int] = MappingProxyType(
    {
        "alerts": 64 * KIB,  # an IP-rights alert envelope
        "blocks": 4 * KIB,  # a BlockAnnouncement (height and hash) with room to grow
        "documents": 512 * KIB,  # an envelope submitted at a non-validator node
    }
)


@dataclass(frozen=True)
class MeshLimits:
    """Every bound the mesh keeps. The defaults suit a network of tens of nodes.

    Gossip:
      ``topics`` names the topics (under ``/tdx/{network}/``) and the largest message each
      carries; a larger message is refused by ``publish`` and dropped unread on receipt.
      ``seen_ttl`` is how long, in seconds, a message's content hash is remembered, so the
      same bytes on the same topic are delivered once in that window. ``outbound_queue``
      is how many messages may wait for each peer; ``pending_deliveries`` is how many
      received messages may wait for the asyncio loop before more are dropped (logged).

    Block fetch (both sides): a request covers at most ``max_blocks`` heights (a longer
    range is clipped), an answer carries at most ``max_response_bytes`` of blocks, and at
    most ``fetches_per_peer`` requests per peer run at once. ``fetch_timeout`` bounds a
    whole fetch as the client sees it; ``serve_timeout`` bounds the ``serve_blocks``
    callback on the serving side.

    Connections: a dial gives up after ``dial_timeout``; a peer that cannot be reached is
    tried again after a delay that doubles from ``reconnect_min`` up to ``reconnect_max``
    seconds. ``stop_grace`` is how long ``stop`` waits for an orderly close before it
    cancels what is left.
    """

    topics: Mapping[str, int] = field(default_factory=lambda: DEFAULT_TOPICS)
    seen_ttl: int = 120
    outbound_queue: int = 4096
    pending_deliveries: int = 10_000
    max_blocks: int = 256
    max_response_bytes: int = 8 * MIB
    fetches_per_peer: int = 2
    fetch_timeout: float = 15.0
    serve_timeout: float = 10.0
    dial_timeout: float = 5.0
    reconnect_min: float = 0.25
    reconnect_max: float = 30.0
    stop_grace: float = 3.0

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError("a mesh needs at least one topic")
        for name, size in self.topics.items():
            if not name or "/" in name:
                raise ValueError(f"topic name {name!r} must be non-empty and have no '/'")
            if size <= 0:
                raise ValueError(f"topic {name!r}: the size limit must be positive")
        positive = {
            "seen_ttl": self.seen_ttl,
            "outbound_queue": self.outbound_queue,
            "pending_deliveries": self.pending_deliveries,
            "max_blocks": self.max_blocks,
            "max_response_bytes": self.max_response_bytes,
            "fetches_per_peer": self.fetches_per_peer,
            "fetch_timeout": self.fetch_timeout,
            "serve_timeout": self.serve_timeout,
            "dial_timeout": self.dial_timeout,
            "reconnect_min": self.reconnect_min,
            "stop_grace": self.stop_grace,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"MeshLimits.{name} must be positive")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("MeshLimits.reconnect_max must be at least reconnect_min")

    @property
    def largest_message(self) -> int:
        """The largest gossip message of any topic."""
        return max(self.topics.values())


@dataclass(frozen=True)
class MeshPeer:
    """A member the mesh knows: one it dials, or one connected to it.

    ``address`` is the multiaddr it is dialled at (``/ip4/…/tcp/…/p2p/…``), or for a peer
    that dialled us the address its connection comes from; ``None`` if neither is known.
    """

    public_key: bytes
    peer_id: str
    address: str | None
    connected: bool
