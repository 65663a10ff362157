"""Certifier: signatures kept within bounds, merged once the block is here."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from node_factories import proposal, sealed, signer
from tdx.node.certify import HORIZON, Certifier
from tdx.node.ledger import Ledger
from tdx.sdk import block_hash, ledger_pb2


async def _no_fetch(height: int) -> ledger_pb2.Block | None:
    return None


def test_signatures_are_bounded_and_merged_when_the_block_is_stored(ledger: Ledger) -> None:
    applied = ledger.apply(proposal([sealed("invoice", 1)]), 2, 1, sign=signer())
    assert applied is not None
    digest = block_hash(applied.block.header)
    nl, fr = signer("nl-customs")(digest), signer("fr-customs")(digest)

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            certifier = Certifier(ledger, executor, _no_fetch)
            certifier.applied(applied)
            far = ledger.height + HORIZON + 1
            # One validator's signature offered many times is kept once, so it cannot crowd
            # out the others; a signature for a height far ahead is dropped.
            certifier.offer([(1, nl)] * 10 + [(1, fr), (far, nl)])
            assert certifier.has_pending
            await certifier.merge_pending()
            assert not certifier.has_pending

    asyncio.run(main())
    block = ledger.block(1)
    assert block is not None
    assert {s.validator for s in block.signatures} == {"de-customs", "nl-customs",
                                                        "fr-customs"}
