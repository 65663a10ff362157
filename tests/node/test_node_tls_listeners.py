"""A node's TLS listeners: a validator whose peer port is not its API port serves TLS on both.

Regression: one grpc dynamic credentials object gives its first configuration to one port
only, so a second TLS listener failed to bind and such a validator did not start (found by
tests/multihost, whose validators have a peer port of their own).
"""

from __future__ import annotations

import asyncio

import grpc.aio
from tdx.node.ops.tls import NodeTls
from tdx.sdk import Identity, issuing_key
from tdx.sdk._tls import read_certificate_async


def test_two_tls_listeners_serve_the_same_member_certificate() -> None:
    identity = Identity.generate("customs-1")
    tls = NodeTls(identity, "tdx-test", lambda: (), mode="on")

    async def serve_and_read() -> list[tuple[bytes, int]]:
        server = grpc.aio.server()
        ports = [tls.add_port(server, "127.0.0.1:0") for _ in range(2)]
        assert all(ports), ports
        await server.start()
        try:
            certificates = [await read_certificate_async(f"127.0.0.1:{port}")
                            for port in ports]
        finally:
            await server.stop(None)
        return [(issuing_key(c), c.serial_number) for c in certificates]

    api, peer = asyncio.run(serve_and_read())
    assert api == peer
    assert api[0] == identity.public_key
