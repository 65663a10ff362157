"""Measure the mesh on 127.0.0.1: bridge round trip, gossip latency, a burst, block fetch.

Run: .venv/bin/python tests/network/bench_network.py   (about 20 s; not collected by pytest)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mesh_harness import Members, cluster, connected, meshed

KIB = 1024
MIB = 1024 * KIB


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


async def bridge_round_trip(node_mesh: object) -> list[float]:
    async def nothing() -> None:
        return None

    bridge = node_mesh._bridge  # type: ignore[attr-defined]
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        await bridge.call(nothing)
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> None:
    blocks = [bytes([i % 251]) * (64 * KIB) for i in range(512)]

    async def serve(start: int, end: int) -> list[bytes]:
        return blocks[start:end]

    members = Members([0, 1, 2])
    async with cluster() as c:
        a = await c.start(0, members, serve=serve)
        b = await c.start(1, members, bootstrap=a.mesh.addresses)
        z = await c.start(2, members, bootstrap=b.mesh.addresses)  # a - b - z
        await connected((a, b), (b, z))
        await meshed([a, b, z])

        trips = await bridge_round_trip(a.mesh)
        print(f"bridge round trip (asyncio -> trio -> asyncio): {summary(trips)}")

        one_hop, two_hops = [], []
        for i in range(50):
            started = time.perf_counter()
            await a.mesh.publish("blocks", b"latency %d" % i)
            await b.inbox.wait_for(i + 1)
            await z.inbox.wait_for(i + 1)
            one_hop.append(b.inbox.times[-1] - started)
            two_hops.append(z.inbox.times[-1] - started)
        print(f"gossip publish -> on_message, 1 hop: {summary(one_hop)}")
        print(f"gossip publish -> on_message, 2 hops: {summary(two_hops)}")

        for node in (b, z):
            node.inbox.messages.clear()
            node.inbox.times.clear()
        started = time.perf_counter()
        for i in range(500):
            await a.mesh.publish("alerts", b"burst %03d" % i)
        published = time.perf_counter() - started
        await b.inbox.wait_for(500, timeout=60)
        at_b = b.inbox.times[-1] - started
        await z.inbox.wait_for(500, timeout=60)
        at_z = z.inbox.times[-1] - started
        print(
            f"burst of 500: published in {published:.2f} s, all 500 at 1 hop after {at_b:.2f} s"
            f" ({500 / at_b:.0f}/s), at 2 hops after {at_z:.2f} s ({500 / at_z:.0f}/s)"
        )

        for size, count in ((64 * KIB, 128), (64 * KIB, 16)):
            durations = []
            for _ in range(5):
                started = time.perf_counter()
                got = await b.mesh.fetch_blocks(a.key, 0, count)
                durations.append(time.perf_counter() - started)
                assert len(got) == count
            best = min(durations)
            total = size * count
            print(
                f"fetch {count} blocks of {size // KIB} KiB ({total / MIB:.0f} MiB): "
                f"best {best * 1000:.0f} ms, {total / MIB / best:.0f} MiB/s"
            )


if __name__ == "__main__":
    asyncio.run(main())
