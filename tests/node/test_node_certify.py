"""Certification: one check of a block's signatures (``tdx.sdk.certification``), and the
Certifier that keeps signatures within bounds and merges them once the block is here."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from node_factories import identity, proposal, sealed, signer
from tdx.node.replication.certify import HORIZON, Certifier
from tdx.node.replication.divergence import Divergence
from tdx.node.state.ledger import Ledger
from tdx.sdk import BLOCK_DOMAIN, block_hash, certification, is_certified, ledger_pb2


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


def test_a_certified_block_with_another_hash_marks_the_ledger_diverged(
        ledger: Ledger) -> None:
    """Divergence: a peer's certified copy of a height disagrees with this node's block; the
    node records the height (kept across restarts) and its API fence starts refusing."""
    applied = ledger.apply(proposal([sealed("invoice", 1)]), 2, 1, sign=signer())
    assert applied is not None
    other = ledger_pb2.Block()
    other.CopyFrom(applied.block)
    other.header = applied.block.header + b"\x00"  # another block of the same height

    async def certified_elsewhere(height: int) -> ledger_pb2.Block | None:
        return other if height == 1 else None

    divergence = Divergence(ledger.store)
    assert divergence.refusal() is None

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            certifier = Certifier(ledger, executor, certified_elsewhere, divergence)
            certifier.applied(applied)
            assert await certifier.repair(1)
            assert not await certifier.repair(2)

    asyncio.run(main())
    assert divergence.height == 1
    assert Divergence(ledger.store).height == 1
    refusal = divergence.refusal()
    assert refusal is not None and "tdx node repair" in refusal
    # An earlier height found later moves the record back; a later one does not.
    divergence.found(5, b"a", b"b")
    assert Divergence(ledger.store).height == 1


def test_one_check_decides_certification_for_the_ledger_the_api_and_peers(
        ledger: Ledger) -> None:
    """A signature counts once per validator, with that validator's key, over this hash:
    what the ledger keeps, what GetProof and a fetched block are judged by."""
    applied = ledger.apply(proposal([sealed("invoice", 1)]), 2, 1, sign=signer())
    assert applied is not None
    digest = applied.hash
    validators = ledger.validators
    nl = signer("nl-customs")(digest)
    stolen = ledger_pb2.BlockSignature(validator="fr-customs",
                                       public_key=identity("nl-customs").public_key,
                                       signature=identity("nl-customs").sign(BLOCK_DOMAIN,
                                                                            digest))
    own = applied.block.signatures[0]
    check = certification(digest, [own, nl, nl, stolen], validators)
    assert [s.validator for s in check.signatures] == ["de-customs", "nl-customs"]
    assert (check.signed, check.needed, check.certified) == (2, 2, True)
    assert not certification(digest, [own], validators).certified
    assert certification(b"\x00" * 32, [own, nl], validators).signed == 0
    # The ledger keeps exactly what the check accepts, and says where the block stands.
    kept = ledger.add_signatures(1, [nl, stolen])
    assert (kept.signed, kept.certified) == (2, True)
    block = ledger.block(1)
    assert block is not None and is_certified(block, validators)
