"""Block range fetch over /tdx/{network}/blocks/1.0.0: answers, limits on both sides, failures."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from libp2p.utils.varint import encode_varint_prefixed
from mesh_harness import TEST_LIMITS, Cluster, Members, Node, cluster, connected, public_key, run
from tdx.network import FetchFailed, MeshLimits, PeerUnavailable, ServeBlocks
from tdx.v1 import mesh_pb2

KIB = 1024


def limits(**changes: object) -> MeshLimits:
    return dataclasses.replace(TEST_LIMITS, **changes)  # type: ignore[arg-type]


def chain(count: int, size: int = 100) -> list[bytes]:
    """``count`` distinct blocks of ``size`` bytes, block h at index h."""
    return [(b"block %d " % height).ljust(size, b".") for height in range(count)]


class Store:
    """A ``serve_blocks`` over a list, recording its calls and how many run at once."""

    def __init__(self, blocks: list[bytes], delay: float = 0.0) -> None:
        self.blocks = blocks
        self.delay = delay
        self.calls: list[tuple[int, int]] = []
        self.running = 0
        self.most_running = 0

    async def __call__(self, start: int, end: int) -> list[bytes]:
        self.calls.append((start, end))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            return self.blocks[start:end]
        finally:
            self.running -= 1


async def pair(
    c: Cluster,
    serve: ServeBlocks | None,
    *,
    server_limits: MeshLimits = TEST_LIMITS,
    client_limits: MeshLimits = TEST_LIMITS,
) -> tuple[Node, Node]:
    """A serving node and a client node connected to it."""
    members = Members([0, 1])
    server = await c.start(0, members, serve=serve, limits=server_limits)
    client = await c.start(1, members, bootstrap=server.mesh.addresses, limits=client_limits)
    await connected((server, client))
    return server, client


def test_fetch_returns_the_range_and_stops_where_the_server_has_no_more() -> None:
    async def main() -> None:
        store = Store(chain(40))
        async with cluster() as c:
            server, client = await pair(c, store)
            assert await client.mesh.fetch_blocks(server.key, 0, 30) == store.blocks[0:30]
            assert await client.mesh.fetch_blocks(server.key, 35, 60) == store.blocks[35:40]
            assert await client.mesh.fetch_blocks(server.key, 50, 60) == []
            assert store.calls == [(0, 30), (35, 60), (50, 60)]

    run(main)


def test_a_range_too_long_is_clipped_by_the_client_and_by_the_server() -> None:
    async def main() -> None:
        store = Store(chain(100))
        async with cluster() as c:
            server, client = await pair(
                c, store, server_limits=limits(max_blocks=10), client_limits=limits(max_blocks=25)
            )
            assert await client.mesh.fetch_blocks(server.key, 0, 100) == store.blocks[0:10]
            assert store.calls == [(0, 10)]  # the client asked for [0, 25), the server clipped
            store.calls.clear()
        async with cluster() as c:
            server, client = await pair(
                c, store, server_limits=limits(max_blocks=50), client_limits=limits(max_blocks=7)
            )
            assert await client.mesh.fetch_blocks(server.key, 3, 100) == store.blocks[3:10]
            assert store.calls == [(3, 10)]

    run(main)


def test_empty_ranges_are_refused_before_anything_is_sent() -> None:
    async def main() -> None:
        async with cluster() as c:
            server, client = await pair(c, Store(chain(5)))
            for start, end in [(5, 5), (6, 5), (-1, 3)]:
                with pytest.raises(ValueError, match="height range"):
                    await client.mesh.fetch_blocks(server.key, start, end)

    run(main)


def test_the_answer_keeps_to_the_smaller_byte_budget() -> None:
    async def main() -> None:
        store = Store(chain(20, size=10 * KIB))
        async with cluster() as c:
            server, client = await pair(
                c,
                store,
                server_limits=limits(max_response_bytes=1024 * KIB),
                client_limits=limits(max_response_bytes=35 * KIB),
            )
            assert await client.mesh.fetch_blocks(server.key, 0, 20) == store.blocks[0:3]
        async with cluster() as c:
            server, client = await pair(
                c,
                store,
                server_limits=limits(max_response_bytes=25 * KIB),
                client_limits=limits(max_response_bytes=1024 * KIB),
            )
            assert await client.mesh.fetch_blocks(server.key, 4, 20) == store.blocks[4:6]

    run(main)


def test_a_first_block_over_the_budget_is_reported_too_large() -> None:
    async def main() -> None:
        store = Store([b"x" * (40 * KIB)])
        async with cluster() as c:
            server, client = await pair(c, store, client_limits=limits(max_response_bytes=35 * KIB))
            with pytest.raises(FetchFailed) as failed:
                await client.mesh.fetch_blocks(server.key, 0, 1)
            assert failed.value.reason == "too_large"

    run(main)


def test_a_server_without_blocks_or_whose_store_fails_answers_unavailable() -> None:
    async def broken(start: int, end: int) -> list[bytes]:
        raise OSError("disk gone")

    async def main() -> None:
        for serve in (None, broken, Store(chain(3), delay=2.0)):
            async with cluster() as c:
                server, client = await pair(c, serve, server_limits=limits(serve_timeout=0.3))
                with pytest.raises(FetchFailed) as failed:
                    await client.mesh.fetch_blocks(server.key, 0, 3)
                assert failed.value.reason == "unavailable"

    run(main)


def test_a_peer_over_its_concurrency_limit_is_answered_busy() -> None:
    async def main() -> None:
        store = Store(chain(10), delay=0.5)
        async with cluster() as c:
            server, client = await pair(
                c,
                store,
                server_limits=limits(fetches_per_peer=1),
                client_limits=limits(fetches_per_peer=3),
            )
            results = await asyncio.gather(
                client.mesh.fetch_blocks(server.key, 0, 5),
                client.mesh.fetch_blocks(server.key, 5, 10),
                return_exceptions=True,
            )
            busy = [r for r in results if isinstance(r, FetchFailed)]
            assert len(busy) == 1 and busy[0].reason == "busy"
            assert store.most_running == 1

    run(main)


def test_the_client_queues_its_own_requests_per_peer() -> None:
    async def main() -> None:
        store = Store(chain(30), delay=0.1)
        async with cluster() as c:
            server, client = await pair(
                c,
                store,
                server_limits=limits(fetches_per_peer=3),
                client_limits=limits(fetches_per_peer=1),
            )
            results = await asyncio.gather(
                *(client.mesh.fetch_blocks(server.key, s, s + 10) for s in (0, 10, 20))
            )
            assert [b for r in results for b in r] == store.blocks
            assert store.most_running == 1

    run(main)


def test_a_fetch_that_takes_too_long_fails_with_timeout() -> None:
    async def main() -> None:
        store = Store(chain(3), delay=3.0)
        async with cluster() as c:
            server, client = await pair(c, store, client_limits=limits(fetch_timeout=0.5))
            started = asyncio.get_running_loop().time()
            with pytest.raises(FetchFailed) as failed:
                await client.mesh.fetch_blocks(server.key, 0, 3)
            assert failed.value.reason == "timeout"
            assert asyncio.get_running_loop().time() - started < 1.5

    run(main)


def test_fetching_from_a_member_without_a_connection_raises_peer_unavailable() -> None:
    async def main() -> None:
        async with cluster() as c:
            lonely = await c.start(0, Members([0, 1]))
            with pytest.raises(PeerUnavailable):
                await lonely.mesh.fetch_blocks(public_key(1), 0, 1)

    run(main)


def test_the_client_refuses_answers_that_break_the_protocol_or_its_limits() -> None:
    client_limits = limits(max_response_bytes=1000, max_blocks=16)

    def answer(start: int, *blocks: bytes) -> bytes:
        response = mesh_pb2.BlockRangeResponse(
            status=mesh_pb2.BLOCK_RANGE_STATUS_OK, start_height=start, blocks=list(blocks)
        )
        return response.SerializeToString()

    cases = {
        "over the budget": answer(0, b"x" * 1100),  # frame fits, blocks do not
        "frame too long": answer(0, *([b"y" * 900] * 4)),  # refused unread
        "wrong start": answer(3, b"z"),
        "more blocks than asked": answer(0, b"a", b"b", b"c"),
        "not protobuf": b"\xff\xff\xff",
    }

    async def main() -> None:
        for name, frame in cases.items():
            async with cluster() as c:
                server, client = await pair(c, Store([]), client_limits=client_limits)
                await install_answer(server, frame)
                with pytest.raises(FetchFailed) as failed:
                    await client.mesh.fetch_blocks(server.key, 0, 2)
                assert failed.value.reason == "protocol", name

    run(main)


async def install_answer(server: Node, frame: bytes) -> None:
    """Make ``server`` answer every block request with ``frame``, whatever was asked."""
    host = server.mesh._host  # an adversary's server: reach past the public surface

    async def handler(stream: object) -> None:
        await stream.write(encode_varint_prefixed(frame))  # type: ignore[attr-defined]
        await stream.close()  # type: ignore[attr-defined]

    async def install() -> None:
        host._host.set_stream_handler(host._protocol, handler)  # type: ignore[union-attr]

    await server.mesh._bridge.call(install)


def test_a_member_removed_since_it_connected_gets_no_blocks() -> None:
    async def main() -> None:
        server_members = Members([0, 1])
        async with cluster() as c:
            server = await c.start(0, server_members, serve=Store(chain(5)))
            client = await c.start(1, Members([0, 1]), bootstrap=server.mesh.addresses)
            await connected((server, client))
            assert len(await client.mesh.fetch_blocks(server.key, 0, 5)) == 5
            server_members.remove(1)  # applied, but no disconnect yet
            with pytest.raises(FetchFailed) as failed:
                await client.mesh.fetch_blocks(server.key, 0, 5)
            assert failed.value.reason == "protocol"

    run(main)
