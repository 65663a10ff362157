"""Who the mesh is connected to, and keeping connections to the members it dials open."""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
from dataclasses import dataclass, field

import trio
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr as Multiaddr  # type: ignore[import-untyped]  # untyped

from ._config import MeshLimits, MeshPeer
from ._gate import MemberCheck, is_member_id
from ._identity import public_key_of_id

log = logging.getLogger("tdx.network")

#: How often a dialer looks at a connection it believes open (a closed one wakes it sooner).
WATCH_INTERVAL = 1.0

_DNS = {"dns": socket.AF_UNSPEC, "dns4": socket.AF_INET, "dns6": socket.AF_INET6}


def to_multiaddr(address: str) -> Multiaddr:
    """Parse a multiaddr; ``ValueError`` if it is not one."""
    try:
        return Multiaddr(address)
    except Exception as error:  # multiaddr raises several unrelated types
        raise ValueError(f"{address!r} is not a multiaddr: {error}") from error


@dataclass(frozen=True)
class DialTarget:
    """A member to keep a connection to, as its bootstrap address names it."""

    peer_id: ID
    public_key: bytes
    address: str


def parse_target(address: str) -> DialTarget:
    """Parse ``/ip4|dns|dns4|dns6/…/tcp/PORT/p2p/PEERID``; ``ValueError`` if it is not one."""
    peer_text = to_multiaddr(address).get_peer_id()
    parts = address.strip("/").split("/")
    if peer_text is None or len(parts) != 6 or parts[2] != "tcp" or parts[4] != "p2p":
        raise ValueError(f"{address!r} is not of the form /ip4/HOST/tcp/PORT/p2p/PEERID")
    if parts[0] not in ("ip4", "ip6", *_DNS):
        raise ValueError(f"{address!r}: the host must be ip4, ip6, dns, dns4 or dns6")
    peer_id = ID.from_base58(peer_text)
    public_key = public_key_of_id(peer_id)
    if public_key is None:
        raise ValueError(f"{address!r}: the peer id does not carry an Ed25519 key")
    return DialTarget(peer_id, public_key, address)


async def resolve(address: str) -> list[Multiaddr]:
    """The dialable addresses of ``address``: a DNS name becomes its ``/ip4`` or ``/ip6``
    addresses (py-libp2p 0.8.1 cannot dial ``/dns4/localhost``). Resolution borrows one of
    trio's worker threads, which ends after 10 s idle."""
    parts = address.strip("/").split("/")
    if parts[0] not in _DNS:
        return [Multiaddr(address)]
    infos = await trio.socket.getaddrinfo(
        parts[1], int(parts[3]), family=_DNS[parts[0]], type=socket.SOCK_STREAM
    )
    rest = "/".join(parts[2:])
    found: list[Multiaddr] = []
    for family, _, _, _, sockaddr in infos:
        proto = "ip6" if family == socket.AF_INET6 else "ip4"
        candidate = Multiaddr(f"/{proto}/{sockaddr[0]}/{rest}")
        if candidate not in found:
            found.append(candidate)
    return found


@dataclass
class _Entry:
    public_key: bytes
    dial_address: str | None = None
    remote_address: str | None = None
    connections: int = 0


@dataclass
class PeerTable:
    """What the mesh knows of its peers: written on the mesh thread, read from any thread."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def snapshot(self) -> list[MeshPeer]:
        with self._lock:
            return [
                MeshPeer(
                    public_key=entry.public_key,
                    peer_id=peer_id,
                    address=entry.dial_address or entry.remote_address,
                    connected=entry.connections > 0,
                )
                for peer_id, entry in sorted(self._entries.items())
            ]

    def is_connected(self, peer_id: str) -> bool:
        with self._lock:
            entry = self._entries.get(peer_id)
            return entry is not None and entry.connections > 0

    def add_target(self, target: DialTarget) -> None:
        with self._lock:
            entry = self._entries.setdefault(str(target.peer_id), _Entry(target.public_key))
            entry.dial_address = target.address

    def remove_target(self, peer_id: ID) -> None:
        with self._lock:
            entry = self._entries.get(str(peer_id))
            if entry is not None:
                entry.dial_address = None
                self._forget_if_idle(str(peer_id), entry)

    def update(
        self, peer_id: ID, public_key: bytes, connections: int, remote_address: str | None
    ) -> None:
        """Record how many connections ``peer_id`` has now (the swarm's count)."""
        with self._lock:
            entry = self._entries.setdefault(str(peer_id), _Entry(public_key))
            entry.connections = connections
            entry.remote_address = remote_address or entry.remote_address
            self._forget_if_idle(str(peer_id), entry)

    def _forget_if_idle(self, peer_id: str, entry: _Entry) -> None:
        if entry.connections == 0 and entry.dial_address is None:
            del self._entries[peer_id]


class Dialer:
    """Keeps a connection open to every dial target, redialling with exponential back-off.

    A target whose key is not a member (now) is not dialled; it is looked at again after
    the back-off, so a member admitted later is reached without further calls.
    """

    def __init__(
        self, host: IHost, table: PeerTable, is_member: MemberCheck, limits: MeshLimits
    ) -> None:
        self._host = host
        self._table = table
        self._is_member = is_member
        self._limits = limits
        self._tasks: dict[ID, trio.CancelScope] = {}
        self._wake: dict[ID, trio.Event] = {}

    def add(self, nursery: trio.Nursery, target: DialTarget) -> None:
        """Start keeping a connection to ``target`` (replacing an earlier address)."""
        self.remove(target.peer_id)
        scope = trio.CancelScope()
        self._tasks[target.peer_id] = scope
        self._table.add_target(target)
        nursery.start_soon(self._keep, target, scope)

    def remove(self, peer_id: ID) -> None:
        """Stop dialling ``peer_id``; its open connections stay as they are."""
        scope = self._tasks.pop(peer_id, None)
        if scope is not None:
            scope.cancel()
            self._table.remove_target(peer_id)

    def wake(self, peer_id: ID) -> None:
        """Tell the dialer of ``peer_id`` that its connection closed."""
        event = self._wake.pop(peer_id, None)
        if event is not None:
            event.set()

    def _connected(self, peer_id: ID) -> bool:
        return bool(self._host.get_network().get_connections(peer_id))

    async def _keep(self, target: DialTarget, scope: trio.CancelScope) -> None:
        with scope:
            delay = self._limits.reconnect_min
            while True:
                if self._connected(target.peer_id):
                    delay = self._limits.reconnect_min
                    event = self._wake.setdefault(target.peer_id, trio.Event())
                    with trio.move_on_after(WATCH_INTERVAL):
                        await event.wait()
                    continue
                if is_member_id(self._is_member, target.peer_id) and await self._dial(target):
                    delay = self._limits.reconnect_min
                    continue
                await trio.sleep(delay * random.uniform(0.75, 1.25))
                delay = min(delay * 2, self._limits.reconnect_max)

    async def _dial(self, target: DialTarget) -> bool:
        try:
            with trio.fail_after(self._limits.dial_timeout):
                addresses = await resolve(target.address)
                await self._host.connect(PeerInfo(target.peer_id, addresses))
        except Exception as error:  # unreachable, refused, timed out: try again later
            log.debug("dial %s failed: %r", target.address, error)
            return False
        log.info("connected to %s", target.address)
        return True


class ConnectionWatch(INotifee):
    """Keeps the peer table current and wakes dialers when a connection closes."""

    def __init__(self, table: PeerTable, dialer: Dialer) -> None:
        self._table = table
        self._dialer = dialer

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._record(network, conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._record(network, conn)
        self._dialer.wake(conn.muxed_conn.peer_id)

    def _record(self, network: INetwork, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id
        public_key = public_key_of_id(peer_id)
        if public_key is None:  # the gate admits Ed25519 members only
            return
        remote: str | None = None
        with contextlib.suppress(Exception):
            addresses = conn.get_transport_addresses()
            remote = str(addresses[0]) if addresses else None
        count = len(network.get_connections(peer_id))
        self._table.update(peer_id, public_key, count, remote)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None
