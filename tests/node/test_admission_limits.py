"""Admission with a real ledger and sequencer: budgets per source and per member, what
junk may not spend, and that every refusal leaves the ledger as it was."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from node_factories import proposal, sealed, signer
from tdx.node.api.admission import Admission, AdmissionLimits
from tdx.node.api.errors import Throttled
from tdx.node.api.sequencer import Outcome, Sequencer
from tdx.node.state.ledger import Ledger
from tdx.node.state.rules import Refusal
from tdx.sdk import documents_pb2, ledger_pb2

# Budgets that refill slowly (a token every 100 s), so that what a test spent stays spent.
LIMITS = AdmissionLimits(max_batch=4, connection_rate=0.01, connection_burst=16,
                         member_rate=0.01, member_burst=4, max_checking=16, threads=2, slice=2)


def run(ledger: Ledger, scenario: Callable[[Admission], Awaitable[None]],
        limits: AdmissionLimits = LIMITS) -> None:
    """Run ``scenario`` against admission whose sequencer applies each batch at once."""
    async def main() -> None:
        index = [ledger.applied_index]

        async def order(envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
            index[0] += 1
            applied = ledger.apply(proposal(envelopes), 1, index[0], sign=signer())
            assert applied is not None
            return dict(applied.receipts)

        sequencer = Sequencer(order)
        sequencer.start()
        admission = Admission(ledger, sequencer, limits)
        try:
            await scenario(admission)
        finally:
            await sequencer.stop()
            admission.close()

    asyncio.run(main())


def junk(member: str, count: int) -> list[documents_pb2.Envelope]:
    """Envelopes under a member's key whose signatures do not verify."""
    key = sealed("invoice", 0, signer=member).signer
    return [documents_pb2.Envelope(body=os.urandom(40), signer=key, signature=os.urandom(64))
            for _ in range(count)]


def codes(outcomes: list[Outcome]) -> list[str]:
    return ["ok" if isinstance(o, ledger_pb2.Receipt) else o.code for o in outcomes]


def test_a_member_spends_its_budget_only_with_envelopes_that_verify(ledger: Ledger) -> None:
    async def scenario(admission: Admission) -> None:
        # Junk under the trader's key is refused one by one and costs the trader nothing.
        for _ in range(2):
            refused = await admission.admit(junk("acme-trader", 4), "ipv4:10.0.0.1:1")
            assert codes(refused) == ["signature.invalid"] * 4
        valid = [sealed("invoice", i) for i in range(1, 6)]
        assert codes(await admission.admit(valid[:4], "ipv4:10.0.0.2:1")) == ["ok"] * 4
        [over] = await admission.admit(valid[4:], "ipv4:10.0.0.2:1")
        assert isinstance(over, Throttled) and over.code == "member.rate_limited"
        assert over.status == "RESOURCE_EXHAUSTED" and over.retry_ms >= 1000
        # Another member's budget is its own.
        assert codes(await admission.admit([sealed("export_declaration", 1)],
                                           "ipv4:10.0.0.2:1")) == ["ok"]

    run(ledger, scenario)
    assert ledger.documents == 5


def test_a_source_over_its_budget_is_refused_whole_with_a_retry_hint(ledger: Ledger) -> None:
    async def scenario(admission: Admission) -> None:
        source = "ipv4:10.0.0.3:1"
        for _ in range(4):
            await admission.admit(junk("acme-trader", 4), source)
        with pytest.raises(Throttled) as caught:
            await admission.admit([sealed("invoice", 1)], source)
        assert caught.value.code == "connection.rate_limited"
        assert caught.value.retry_ms >= 1000
        # Another connection is not held back by this one.
        assert codes(await admission.admit([sealed("invoice", 1)], "ipv4:10.0.0.4:1")) == ["ok"]

    run(ledger, scenario)
    assert ledger.documents == 1


def test_a_batch_over_the_limit_is_refused_naming_it(ledger: Ledger) -> None:
    async def scenario(admission: Admission) -> None:
        with pytest.raises(Refusal) as caught:
            await admission.admit(junk("acme-trader", 5), "ipv4:10.0.0.5:1")
        refusal = caught.value
        assert (refusal.status, refusal.code) == ("INVALID_ARGUMENT", "batch.too_large")
        assert "at most 4 envelopes" in refusal.message
        assert "TDX_MAX_BATCH_ENVELOPES" in refusal.message

    run(ledger, scenario)


def test_malformed_envelopes_and_replays_are_refused_one_by_one(ledger: Ledger) -> None:
    envelope = sealed("invoice", 1)
    shapes = [
        documents_pb2.Envelope(),
        documents_pb2.Envelope(body=b"x", signer=b"short", signature=bytes(64)),
        documents_pb2.Envelope(body=b"x", signer=envelope.signer, signature=b"short"),
        documents_pb2.Envelope(body=b"\xff\xff", signer=envelope.signer,
                               signature=envelope.signature),
    ]

    async def scenario(admission: Admission) -> None:
        outcomes = await admission.admit([*shapes, envelope, envelope], "ipv4:10.0.0.6:1")
        assert codes(outcomes[:4]) == ["envelope.malformed", "envelope.malformed",
                                       "envelope.malformed", "signature.invalid"]
        assert [getattr(o, "field", "") for o in outcomes[:3]] == [
            "envelope.body", "envelope.signer", "envelope.signature"]
        first, again = outcomes[4:]
        assert isinstance(first, ledger_pb2.Receipt)
        # The same envelope twice in one batch: the second waits for the first's receipt.
        assert isinstance(again, Refusal) and again.status == "ALREADY_EXISTS"
        assert again.receipt == first
        [later] = await admission.admit([envelope], "ipv4:10.0.0.6:1")
        assert isinstance(later, Refusal) and later.code == "document.duplicate"
        assert later.receipt == first

    run(ledger, scenario, AdmissionLimits())
    assert ledger.documents == 1
