"""Load generator against a local devnet: throughput, commit latency and leader failover.

Starts a devnet of 1, 3 and 5 validators (processes on 127.0.0.1), submits signed 1 KiB
documents through the SDK's AsyncClient in batches, and prints:

- committed documents per second at full load (every validator verifies every signature);
- commit latency p50/p99 (submit to receipt, which is sent after the block is fsync'd) at
  full load and at half that rate;
- for 3 validators, the time from SIGKILL of the leader until a new leader commits.

Run: .venv/bin/python benchmarks/bench_cluster.py [--validators 1,3,5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tdx.node.ops.devnet import devnet_down, devnet_up, wait_for_leader
from tdx.sdk import AsyncClient, Identity, TdxError, body_from_json, ledger_pb2, seal, template
from tdx.v1 import documents_pb2

# Throughput is measured with batches of 100 documents a call from 4 clients; latency at
# half that rate with batches of 10 from 8 clients, so that a document's latency is not
# mostly the time to admit the 99 others of its call.
FULL_LOAD = (100, 4)
HALF_LOAD = (10, 8)


def signed_documents(identity: Identity, network: str, count: int) -> list[
        documents_pb2.Envelope]:
    """``count`` signed export declarations of about 1 KiB each."""
    form = template("export_declaration")
    form["content"]["goods_items"][0]["description"] = "Centrifugal pumps " + "x" * 420
    envelopes = [seal(identity, body_from_json(network, form)) for _ in range(count)]
    size = statistics.mean(e.ByteSize() for e in envelopes)
    print(f"  signed {count} documents of {size:.0f} bytes each")
    return envelopes


async def load(addresses: list[str], envelopes: list[documents_pb2.Envelope], seconds: float,
               rate: float | None, shape: tuple[int, int]) -> tuple[int, float, list[float]]:
    """Submit batches from concurrent clients for ``seconds`` (at most ``rate`` documents a
    second); ``shape`` is (documents per call, clients). Return (committed, elapsed,
    latencies)."""
    batch_size, clients = shape
    latencies: list[float] = []
    committed = 0
    cursor = 0
    start = time.monotonic()
    deadline = start + seconds

    async def client_loop(index: int) -> None:
        nonlocal committed, cursor
        async with AsyncClient(addresses[index % len(addresses)], timeout=30) as client:
            sent = 0
            while time.monotonic() < deadline and cursor < len(envelopes):
                if rate is not None:
                    due = start + (sent * clients) / rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                batch = envelopes[cursor:cursor + batch_size]
                cursor += batch_size
                sent += len(batch)
                began = time.monotonic()
                try:
                    outcomes = await client.submit_many(batch)
                except TdxError:
                    continue
                took = time.monotonic() - began
                ok = sum(isinstance(o, ledger_pb2.Receipt) for o in outcomes)
                committed += ok
                latencies.extend([took] * ok)

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return committed, time.monotonic() - start, latencies


def pct(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def failover(manifest: dict[str, Any], identity: Identity) -> float:
    """Kill the leader; return seconds until a document commits through a survivor."""
    validators = [n for n in manifest["nodes"] if n["role"] == "validator"]
    leader_id = wait_for_leader([v["api"] for v in validators], 10)
    leader = next(v for v in validators if v["name"] == leader_id)
    survivors = [v["api"] for v in validators if v is not leader]
    envelopes = signed_documents(identity, manifest["network"], 200)
    os.kill(leader["pid"], signal.SIGKILL)
    killed = time.monotonic()
    for i, envelope in enumerate(envelopes):
        try:
            async with AsyncClient(survivors[i % len(survivors)], timeout=0.5) as client:
                await client.submit(envelope)
            return time.monotonic() - killed
        except TdxError:
            await asyncio.sleep(0.02)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", default="1,3,5")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for count in (int(v) for v in args.validators.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "net"
            manifest = devnet_up(root, validators=count, observers=0)
            try:
                print(f"{count} validator(s):")
                key = Path(manifest["nodes"][0]["key"])
                identity = Identity.load(key)
                addresses = [n["api"] for n in manifest["nodes"]]
                envelopes = signed_documents(identity, manifest["network"],
                                             int(4000 * args.seconds))
                done, elapsed, lat = asyncio.run(load(addresses, envelopes, args.seconds, None,
                                                      FULL_LOAD))
                full = done / elapsed
                print(f"  full load: {full:,.0f} documents/s committed ({done} in "
                      f"{elapsed:.1f} s); latency p50 {pct(lat, .5):.0f} ms, "
                      f"p99 {pct(lat, .99):.0f} ms")
                half = signed_documents(identity, manifest["network"], int(full * args.seconds))
                done, elapsed, lat = asyncio.run(load(addresses, half, args.seconds, full / 2,
                                                      HALF_LOAD))
                print(f"  half load: {done / elapsed:,.0f} documents/s; latency p50 "
                      f"{pct(lat, .5):.0f} ms, p99 {pct(lat, .99):.0f} ms")
                if count >= 3:
                    took = asyncio.run(failover(manifest, identity))
                    print(f"  leader SIGKILL -> next commit through a survivor: {took:.2f} s")
            finally:
                devnet_down(root)


if __name__ == "__main__":
    main()
