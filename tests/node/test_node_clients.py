"""The node's client pool: one channel per address, whoever asks and with whatever deadline,
closed once."""

from __future__ import annotations

import asyncio

import grpc.aio
import pytest
from tdx.node.replication.clients import ClientPool, insecure_channel
from tdx.node.replication.forward import FORWARDED_BY


def test_one_channel_per_address_shared_by_every_caller_and_closed_once() -> None:
    opened: list[str] = []
    channels: list[grpc.aio.Channel] = []

    def connect(address: str) -> grpc.aio.Channel:
        opened.append(address)
        channels.append(insecure_channel(address))
        return channels[-1]

    async def main() -> None:
        pool = ClientPool(connect)
        # Forwarding, block fetches and following ask with other deadlines and metadata.
        forward = pool.client("127.0.0.1:7401", timeout=15.0,
                              metadata=[(FORWARDED_BY, "de-customs")])
        fetch = pool.client("127.0.0.1:7401", timeout=10.0)
        assert pool.client("127.0.0.1:7401", timeout=10.0) is fetch
        assert (forward.timeout, forward.metadata) == (15.0, ((FORWARDED_BY, "de-customs"),))
        pool.client("127.0.0.1:7402", timeout=10.0)
        assert opened == ["127.0.0.1:7401", "127.0.0.1:7402"]
        assert pool.addresses == ["127.0.0.1:7401", "127.0.0.1:7402"]
        await pool.aclose()
        assert pool.addresses == []
        with pytest.raises(RuntimeError, match="closed"):
            pool.client("127.0.0.1:7401", timeout=10.0)
        # A second close closes nothing twice.
        await pool.aclose()
        assert opened == ["127.0.0.1:7401", "127.0.0.1:7402"]

    asyncio.run(main())
