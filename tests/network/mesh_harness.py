"""Meshes on 127.0.0.1 for tests: members, inboxes, small clusters, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from nacl.signing import SigningKey
from tdx.network import Mesh, MeshLimits, ServeBlocks

NETWORK = "tdx-test"
#: Fast back-off so reconnect tests stay short.
TEST_LIMITS = MeshLimits(reconnect_min=0.1, reconnect_max=0.5, stop_grace=2.0)


def seed(index: int) -> bytes:
    """The Ed25519 seed of test member ``index``."""
    return bytes([index + 1]) * 32


def public_key(index: int) -> bytes:
    """The public key of test member ``index``."""
    return bytes(SigningKey(seed(index)).verify_key)


class Members:
    """A membership list a test can change while meshes consult it from their threads."""

    def __init__(self, indexes: Iterable[int]) -> None:
        self._keys = frozenset(public_key(i) for i in indexes)

    def __call__(self, key: bytes) -> bool:
        return key in self._keys

    def remove(self, index: int) -> None:
        self._keys = self._keys - {public_key(index)}  # replaced whole: safe across threads

    def add(self, index: int) -> None:
        self._keys = self._keys | {public_key(index)}


class Inbox:
    """Collects what ``on_message`` receives, on the asyncio loop."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes]] = []
        self.times: list[float] = []
        self._changed = asyncio.Event()

    def __call__(self, topic: str, data: bytes, sender: bytes) -> None:
        assert threading.current_thread() is threading.main_thread()
        self.messages.append((topic, data, sender))
        self.times.append(time.perf_counter())
        self._changed.set()

    def data(self, topic: str | None = None) -> list[bytes]:
        return [d for t, d, _ in self.messages if topic is None or t == topic]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class Node:
    """A started mesh with its inbox."""

    def __init__(self, index: int, mesh: Mesh, inbox: Inbox) -> None:
        self.index = index
        self.mesh = mesh
        self.inbox = inbox

    @property
    def key(self) -> bytes:
        return self.mesh.public_key


class Cluster:
    """Meshes a test starts; ``cluster()`` stops every one of them on the way out."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    async def start(
        self,
        index: int,
        members: Callable[[bytes], bool],
        *,
        bootstrap: Sequence[str] = (),
        serve: ServeBlocks | None = None,
        limits: MeshLimits = TEST_LIMITS,
        listen: str = "/ip4/127.0.0.1/tcp/0",
    ) -> Node:
        """Start member ``index``'s mesh with an inbox."""
        inbox = Inbox()
        mesh = Mesh(
            seed=seed(index),
            network=NETWORK,
            listen=listen,
            bootstrap=bootstrap,
            is_member=members,
            on_message=inbox,
            serve_blocks=serve,
            limits=limits,
        )
        await mesh.start()
        node = Node(index, mesh, inbox)
        self.nodes.append(node)
        return node

    async def stop_all(self) -> None:
        for node in reversed(self.nodes):
            await node.mesh.stop()


@contextlib.asynccontextmanager
async def cluster() -> AsyncIterator[Cluster]:
    """A Cluster whose meshes are all stopped when the block ends, whatever happens."""
    started = Cluster()
    try:
        yield started
    finally:
        await started.stop_all()


async def connected(*pairs: tuple[Node, Node], timeout: float = 5.0) -> None:
    """Wait until each pair is connected, as both sides see it."""
    await wait_until(
        lambda: all(a.mesh.is_connected(b.key) and b.mesh.is_connected(a.key) for a, b in pairs),
        timeout,
    )


async def meshed(nodes: Sequence[Node], topic: str = "alerts", timeout: float = 5.0) -> None:
    """Wait until a probe from the first node reaches every other node on ``topic``.

    Gossipsub grafts a mesh a moment after connecting; publishing before that still
    reaches peers (fanout), but tests that count messages start from a known state.
    """
    first, rest = nodes[0], nodes[1:]
    async with asyncio.timeout(timeout):
        attempt = 0
        while True:
            attempt += 1
            probe = b"probe-%d-%d" % (first.index, attempt)
            await first.mesh.publish(topic, probe)
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda p=probe: all(p in n.inbox.data() for n in rest), 0.5)
                break
    for node in rest:  # start counting from zero
        node.inbox.messages.clear()
        node.inbox.times.clear()


def run(main: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    """Run an async test body on a fresh event loop, bounded in time."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await main()

    asyncio.run(bounded())
