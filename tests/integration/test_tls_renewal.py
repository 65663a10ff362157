"""NodeTls in a grpc.aio server on 127.0.0.1: two TLS listeners serve one certificate, a
renewal reaches both without a restart, and required client certificates follow the
membership.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tdx.node.ops.tls import NodeTls
from tdx.sdk import Identity, Trust, channel, documents_pb2, issuing_key, read_certificate

DE = Identity.from_seed(b"\x01" * 32, "customs-de")
FR = Identity.from_seed(b"\x02" * 32, "customs-fr")


def record(who: Identity) -> documents_pb2.MemberRecord:
    return documents_pb2.MemberRecord(id=who.member_id, public_key=who.public_key)


@asynccontextmanager
async def serving(tls: NodeTls, listeners: int) -> AsyncIterator[list[str]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    addresses = []
    for _ in range(listeners):
        port = tls.add_port(server, "127.0.0.1:0")
        assert port != 0
        addresses.append(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield addresses
    finally:
        await server.stop(None)


def check(address: str, trust: Trust) -> int:
    with channel(address, trust=trust) as opened:
        answer = health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
    return int(answer.status)


def test_two_listeners_serve_one_certificate_and_a_renewal_reaches_both() -> None:
    # A lifetime of 6 s: renewed on the first handshake after 3 s.
    tls = NodeTls(DE, "tdx-test", lambda: [record(DE)], mode="on",
                  lifetime=datetime.timedelta(seconds=6))
    pinned = Trust(keys=frozenset({DE.public_key}))

    async def run() -> None:
        async with serving(tls, 2) as (first, second):
            before = [await asyncio.to_thread(read_certificate, a) for a in (first, second)]
            assert before[0].serial_number == before[1].serial_number
            assert issuing_key(before[0]) == DE.public_key
            await asyncio.sleep(3.2)
            after = [await asyncio.to_thread(read_certificate, a) for a in (first, second)]
            assert after[0].serial_number == after[1].serial_number
            assert after[0].serial_number != before[0].serial_number
            for address in (first, second):
                assert await asyncio.to_thread(check, address, pinned) == 1  # SERVING

    asyncio.run(run())


def test_client_certificates_are_taken_from_members_as_the_membership_changes() -> None:
    members = [record(DE)]
    tls = NodeTls(DE, "tdx-test", lambda: list(members), mode="on",
                  client_certificates=True)
    as_fr = Trust(keys=frozenset({DE.public_key}), identity=FR)

    async def run() -> None:
        async with serving(tls, 1) as (address,):
            with pytest.raises(grpc.RpcError):
                await asyncio.to_thread(check, address, as_fr)
            members.append(record(FR))  # governance admitted FR
            assert await asyncio.to_thread(check, address, as_fr) == 1

    asyncio.run(run())
