"""The trio side of a mesh: one libp2p host with the gate, gossip, block fetch and dialers.

Everything here runs on the mesh thread; ``Mesh`` reaches it only through the bridge.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from ._blocks import BlockClient, BlockServer, Serve, block_protocol
from ._config import MeshLimits
from ._gate import MemberCheck, MemberNoise
from ._gossip import Deliver, MemberPubsub, new_router
from ._peers import ConnectionWatch, Dialer, DialTarget, Multiaddr, PeerTable, to_multiaddr

if TYPE_CHECKING:  # trio-typing's stubs (installed with libp2p) shadow trio's own types
    from trio_typing import TaskStatus

log = logging.getLogger("tdx.network")


def topic_name(network: str, topic: str) -> str:
    """The gossipsub topic of ``topic`` on ``network``: ``/tdx/{network}/{topic}``."""
    return f"/tdx/{network}/{topic}"


def _claim_port(listen: Multiaddr) -> None:
    """Fail unless the TCP port of ``listen`` is free (port 0 always is).

    py-libp2p listens with SO_REUSEPORT, so a second node on a taken port starts without an
    error and the kernel splits incoming connections between the two. A bind without
    SO_REUSEPORT fails on a port anyone listens on, which is the check made here.
    """
    parts = str(listen).strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6") or parts[2] != "tcp":
        raise ValueError(f"listen on /ip4/HOST/tcp/PORT or /ip6/HOST/tcp/PORT, not {listen}")
    if int(parts[3]) == 0:
        return
    family = socket.AF_INET6 if parts[0] == "ip6" else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # allow TIME_WAIT
        probe.bind((parts[1], int(parts[3])))


async def _never_dial() -> None:
    return None


def _without_auto_dial(host: IHost) -> None:
    """Turn off the swarm's auto-connector, which dials any peer in the peerstore to reach
    a connection count (50 by default): here the ``Dialer`` alone decides whom to dial, so
    a member ``disconnect`` closed is not dialled again behind its back."""
    connector = getattr(host.get_network(), "auto_connector", None)
    if connector is None:
        raise RuntimeError("this py-libp2p has no swarm auto-connector; check _without_auto_dial")
    setattr(connector, "maybe_connect", _never_dial)  # noqa: B010


class MeshHost:
    """A libp2p host that talks to members only.

    Security is Noise only (behind the membership gate) and the muxer is yamux only: every
    peer runs this same code, so nothing else needs offering, and the plaintext and secio
    transports py-libp2p offers by default must not be.
    """

    def __init__(
        self,
        *,
        key_pair: KeyPair,
        network: str,
        listen: str,
        bootstrap: list[DialTarget],
        is_member: MemberCheck,
        deliver: Deliver,
        serve: Serve | None,
        limits: MeshLimits,
        table: PeerTable,
    ) -> None:
        self._key_pair = key_pair
        self._listen = to_multiaddr(listen)
        self._bootstrap = bootstrap
        self._is_member = is_member
        self._deliver = deliver
        self._limits = limits
        self._table = table
        self._protocol: TProtocol = block_protocol(network)
        self._topics: Mapping[str, int] = {
            topic_name(network, name): size for name, size in limits.topics.items()
        }
        self._server = BlockServer(serve, limits, is_member)
        self._nursery: trio.Nursery | None = None
        self._host: IHost | None = None
        self._pubsub: MemberPubsub | None = None
        self._dialer: Dialer | None = None
        self._client: BlockClient | None = None
        #: Full multiaddrs (with /p2p/) the host listens on; set before ``run`` reports started.
        self.addresses: list[str] = []

    @property
    def pubsub(self) -> MemberPubsub:
        assert self._pubsub is not None, "the mesh host is not running"
        return self._pubsub

    async def run(self, stopping: trio.Event, *, task_status: TaskStatus[None]) -> None:
        """Listen, subscribe and dial; report started; run until ``stopping``; close."""
        host = new_host(
            key_pair=self._key_pair,
            sec_opt={NOISE_PROTOCOL_ID: MemberNoise(self._key_pair, self._is_member)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            listen_addrs=[self._listen],
            connection_config=ConnectionConfig(
                min_connections=0, low_watermark=0, dial_timeout=self._limits.dial_timeout
            ),
        )
        _without_auto_dial(host)
        _claim_port(self._listen)
        router = new_router()
        pubsub = MemberPubsub(
            host,
            router,
            topics=self._topics,
            is_member=self._is_member,
            deliver=self._deliver,
            seen_ttl=self._limits.seen_ttl,
            outbound_queue=self._limits.outbound_queue,
        )
        dialer = Dialer(host, self._table, self._is_member, self._limits)
        host.get_network().register_notifee(ConnectionWatch(self._table, dialer))
        host.set_stream_handler(self._protocol, self._server.handle)
        self._host, self._pubsub, self._dialer = host, pubsub, dialer
        self._client = BlockClient(host, self._protocol, self._limits)
        try:
            async with (
                host.run([self._listen]),
                background_trio_service(pubsub),
                background_trio_service(router),
            ):
                self.addresses = [str(address) for address in host.get_addrs()]
                if not self.addresses:  # py-libp2p logs a failed listen and carries on
                    raise OSError(f"could not listen on {self._listen}")
                await pubsub.wait_until_ready()
                for topic in self._topics:
                    await pubsub.subscribe(topic)
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    for target in self._bootstrap:
                        dialer.add(nursery, target)
                    task_status.started()
                    await stopping.wait()
                    nursery.cancel_scope.cancel()
                # Close connections while the services still run, so peers see an orderly
                # close; whatever is left when the grace ends is cancelled by the bridge.
                await host.close()
        finally:
            pubsub.close()

    # --- operations the asyncio side calls through the bridge -----------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        await self.pubsub.publish(topic, data)

    async def fetch(self, peer_id: ID, start: int, end: int) -> list[bytes]:
        assert self._client is not None, "the mesh host is not running"
        return await self._client.fetch(peer_id, start, end)

    async def add_peer(self, target: DialTarget) -> None:
        assert self._dialer is not None and self._nursery is not None
        self._dialer.add(self._nursery, target)

    async def disconnect(self, peer_id: ID) -> None:
        assert self._dialer is not None and self._host is not None
        self._dialer.remove(peer_id)
        with contextlib.suppress(Exception):
            await self._host.disconnect(peer_id)

    def refused(self) -> dict[str, int]:
        """Gossip messages the validator refused, by reason (read on the mesh thread)."""
        return dict(self.pubsub.refused)
