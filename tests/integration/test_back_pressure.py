"""Back-pressure: a node refuses what it cannot queue, with a retry hint, and loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from solonet import MEMBERS, NETWORK, VALIDATOR
from tdx.node.ops.testing import local_network
from tdx.sdk import (
    AsyncClient,
    ResourceExhausted,
    body_from_json,
    ledger_pb2,
    seal,
    template,
)


def test_overload_is_refused_with_a_retry_hint_and_retries_succeed(tmp_path: Path) -> None:
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, folder=tmp_path,
                       env={"TDX_MAX_PENDING": "40"}) as net:
        address, node = net.address, net.node
        trader = net.members["acme-trading"]
        envelopes = [seal(trader, body_from_json(NETWORK, template("invoice")))
                     for _ in range(600)]

        async def flood() -> tuple[int, int, int]:
            async with AsyncClient(address) as client:
                calls = [client.submit_many(envelopes[i:i + 30]) for i in range(0, 600, 30)]
                first = [o for batch in await asyncio.gather(*calls) for o in batch]
                refused = [e for e, o in zip(envelopes, first, strict=True)
                           if isinstance(o, ResourceExhausted)]
                accepted = sum(isinstance(o, ledger_pb2.Receipt) for o in first)
                retried = 0
                while refused:
                    await asyncio.sleep(0.2)
                    again = await client.submit_many(refused[:30])
                    retried += sum(isinstance(o, ledger_pb2.Receipt) for o in again)
                    refused = [e for e, o in zip(refused[:30], again, strict=True)
                               if isinstance(o, ResourceExhausted)] + refused[30:]
                documents = (await client.status()).documents
                return accepted, retried, documents

        accepted, retried, documents = asyncio.run(flood())
        assert retried > 0, "the node queued everything; back-pressure was not exercised"
        assert accepted + retried == 600
        assert documents == 600
        assert "node.overloaded" in node.log_path.read_text()
