"""The ledger state machine: chained blocks, a result per envelope, replay safety,
indexes, determinism across nodes, recovery by reopening, and the effects hook."""

from __future__ import annotations

from pathlib import Path

import pytest
from node_factories import PROPOSED_MS, new_ledger, proposal, signer
from sdk_factories import body_of, identity, sealed
from tdx.node.state.ledger import ApplyContext, Ledger, LedgerMismatch
from tdx.node.state.rules import Refusal
from tdx.node.state.store import Prefix, Store, position, u64
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import (
    BLOCK_DOMAIN,
    Identity,
    block_hash,
    document_id,
    documents_pb2,
    envelope_leaf,
    genesis_hash,
    ledger_pb2,
    merkle_root,
    result_leaf,
    seal,
)
from tdx.sdk._crypto import verify

ACCEPTED = ledger_pb2.RESULT_STATUS_ACCEPTED
REJECTED = ledger_pb2.RESULT_STATUS_REJECTED


def schema_broken() -> documents_pb2.Envelope:
    """Signed by a member, but its HS code breaks the schema."""
    body = body_of("export_declaration", nonce=500)
    body.trade.goods_items[0].hs_code = "1"
    return seal(identity("de-customs"), body)


def forbidden() -> documents_pb2.Envelope:
    """An observer's invoice: well formed, but its role may not submit it."""
    return sealed("invoice", nonce=501, signer="watcher")


def stranger() -> documents_pb2.Envelope:
    """Signed by a key that belongs to no member."""
    return seal(Identity.from_seed(b"\x77" * 32, "acme-trader"), body_of("invoice", nonce=502))


def header_of(block: ledger_pb2.Block) -> ledger_pb2.BlockHeader:
    return ledger_pb2.BlockHeader.FromString(block.header)


def index_ids(store: Store, prefix: bytes, value: str) -> list[str]:
    return [raw.hex() for _, raw in store.scan(prefix + value.encode() + b"\x00")]


# -- a fresh ledger --------------------------------------------------------------------

def test_initialized_ledger(ledger: Ledger, genesis: ledger_pb2.Genesis) -> None:
    assert (ledger.height, ledger.applied_index, ledger.documents) == (0, 0, 0)
    assert ledger.last_hash == genesis_hash(genesis)
    assert ledger.network == genesis.network
    assert [m.id for m in ledger.members] == sorted(m.id for m in genesis.members)
    assert [m.id for m in ledger.validators] == ["de-customs", "fr-customs", "nl-customs"]
    assert ledger.member_by_key(identity("atlantic").public_key).id == "atlantic"
    assert ledger.member_by_key(b"\x00" * 32) is None
    assert ledger.member("watcher").roles == ["observer"]
    assert ledger.block(1) is None and ledger.record("ab" * 32) is None


def test_ledger_over_an_empty_store_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty", create=True)
    try:
        with pytest.raises(ValueError, match="no genesis"):
            Ledger(store, EFFECTS)
    finally:
        store.close()


def test_record_of_a_malformed_id_is_none(ledger: Ledger) -> None:
    assert ledger.record("not hex") is None


# -- applying blocks -------------------------------------------------------------------

def test_apply_makes_a_chained_block_with_recomputable_roots(
    ledger: Ledger, genesis: ledger_pb2.Genesis
) -> None:
    envelopes = [sealed("export_declaration"), sealed("invoice"), schema_broken()]
    applied = ledger.apply(proposal(envelopes), term=3, raft_index=5, sign=signer())
    assert applied is not None
    header = header_of(applied.block)
    assert (header.network, header.height, header.term, header.raft_index) == (
        genesis.network, 1, 3, 5)
    assert header.previous_hash == genesis_hash(genesis)
    assert (header.proposed_ms, header.proposer, header.envelope_count) == (
        PROPOSED_MS, "de-customs", 3)
    assert header.envelopes_root == merkle_root([envelope_leaf(e) for e in envelopes])
    assert header.results_root == merkle_root([
        result_leaf(document_id(e.body), r)
        for e, r in zip(envelopes, applied.block.results, strict=True)])
    assert applied.hash == block_hash(applied.block.header)
    assert list(applied.block.envelopes) == envelopes
    assert (ledger.height, ledger.applied_index, ledger.last_hash) == (1, 5, applied.hash)
    assert ledger.block(1) == applied.block
    assert ledger.height_of(applied.hash) == 1
    assert applied.raft_index == 5


def test_block_is_signed_by_the_applying_validator(ledger: Ledger) -> None:
    applied = ledger.apply(proposal([sealed("invoice")]), 1, 1, sign=signer("nl-customs"))
    assert applied is not None
    (signature,) = applied.block.signatures
    assert signature.validator == "nl-customs"
    assert verify(identity("nl-customs").public_key, BLOCK_DOMAIN, applied.hash,
                  signature.signature)
    unsigned = ledger.apply(proposal([sealed("invoice", 1)]), 1, 2)
    assert unsigned is not None and not unsigned.block.signatures


def test_heights_increment_and_hashes_chain(ledger: Ledger) -> None:
    hashes = [ledger.last_hash]
    for i in range(1, 5):
        applied = ledger.apply(proposal([sealed("invoice", nonce=i)]), 1, i)
        assert applied is not None and applied.height == i
        assert header_of(applied.block).previous_hash == hashes[-1]
        hashes.append(applied.hash)
    assert len(set(hashes)) == 5
    assert ledger.height == 4


def test_a_result_and_receipt_per_envelope(ledger: Ledger) -> None:
    envelopes = [sealed("invoice"), schema_broken(), forbidden(), stranger(),
                 sealed("shipment_events")]
    applied = ledger.apply(proposal(envelopes), 1, 1)
    assert applied is not None
    results = list(applied.block.results)
    assert [r.status for r in results] == [ACCEPTED, REJECTED, REJECTED, REJECTED, ACCEPTED]
    assert [r.code for r in results] == ["", "schema.invalid", "role.forbidden",
                                         "member.unknown", ""]
    assert all(r.reason for r in results[1:4])
    assert len(applied.receipts) == 5
    for pos, envelope in enumerate(envelopes):
        receipt = applied.receipts[document_id(envelope.body)]
        assert (receipt.height, receipt.position, receipt.block_hash) == (1, pos, applied.hash)
        assert receipt.result == results[pos]
    assert ledger.documents == 5


def test_rejected_documents_are_stored_but_not_indexed(ledger: Ledger) -> None:
    bad = forbidden()
    good = sealed("invoice")
    ledger.apply(proposal([bad, good]), 1, 1)
    record = ledger.record(document_id(bad.body))
    assert record is not None
    assert record.receipt.result.status == REJECTED
    assert record.receipt.result.code == "role.forbidden"
    assert record.envelope == bad and record.kind == ""
    invoices = index_ids(ledger.store, Prefix.BY_KIND, "invoice")
    assert invoices == [document_id(good.body)]
    assert index_ids(ledger.store, Prefix.BY_ISSUER, "acme-trader") == [document_id(good.body)]
    assert document_id(bad.body) not in index_ids(ledger.store, Prefix.BY_UCR,
                                                  body_of("invoice").ucr)


def test_indexes_by_ucr_kind_and_issuer(ledger: Ledger) -> None:
    first = [sealed("export_declaration"), sealed("invoice"), sealed("ip_rights_record")]
    second = [sealed("bill_of_lading"), sealed("export_declaration", nonce=1)]
    ledger.apply(proposal(first), 1, 1)
    ledger.apply(proposal(second), 1, 2)
    ids = [document_id(e.body) for e in (*first, *second)]
    ucr = body_of("invoice").ucr
    # The rights record has no UCR; the others share the template's, in ledger order.
    assert index_ids(ledger.store, Prefix.BY_UCR, ucr) == [ids[0], ids[1], ids[3], ids[4]]
    assert index_ids(ledger.store, Prefix.BY_KIND, "export_declaration") == [ids[0], ids[4]]
    assert index_ids(ledger.store, Prefix.BY_KIND, "ip_rights_record") == [ids[2]]
    assert index_ids(ledger.store, Prefix.BY_ISSUER, "de-customs") == [ids[0], ids[4]]
    assert index_ids(ledger.store, Prefix.BY_ISSUER, "atlantic") == [ids[3]]
    # The key ends in (height, position) so that scans return ledger order.
    key = Prefix.BY_KIND + b"export_declaration\x00" + position(2, 1)
    assert ledger.store.get(key) == bytes.fromhex(ids[4])
    assert ledger.record(ids[4]).kind == "export_declaration"  # type: ignore[union-attr]


def test_duplicate_within_a_block_keeps_the_first(ledger: Ledger) -> None:
    envelope = sealed("invoice")
    applied = ledger.apply(proposal([envelope, sealed("packing_list"), envelope]), 1, 1)
    assert applied is not None
    codes = [r.code for r in applied.block.results]
    assert codes == ["", "", "document.duplicate"]
    assert applied.block.results[2].status == REJECTED
    record = ledger.record(document_id(envelope.body))
    assert record is not None and record.receipt.position == 0
    assert record.receipt.result.status == ACCEPTED
    assert len(applied.receipts) == 2
    assert ledger.documents == 2
    assert index_ids(ledger.store, Prefix.BY_KIND, "invoice") == [document_id(envelope.body)]


def test_duplicate_across_blocks_keeps_the_original(ledger: Ledger) -> None:
    envelope = sealed("invoice")
    first = ledger.apply(proposal([envelope]), 1, 1)
    second = ledger.apply(proposal([sealed("packing_list"), envelope]), 1, 2)
    assert first is not None and second is not None
    assert second.block.results[1].code == "document.duplicate"
    assert document_id(envelope.body) not in second.receipts
    record = ledger.record(document_id(envelope.body))
    assert record is not None
    assert (record.receipt.height, record.receipt.block_hash) == (1, first.hash)
    assert ledger.documents == 2


def test_a_rejected_document_cannot_be_resubmitted(ledger: Ledger) -> None:
    """The body hash is taken: the same bytes stay rejected; a new nonce is a new document."""
    bad = forbidden()
    ledger.apply(proposal([bad]), 1, 1)
    again = ledger.apply(proposal([bad]), 1, 2)
    assert again is not None and again.block.results[0].code == "document.duplicate"
    record = ledger.record(document_id(bad.body))
    assert record is not None and record.receipt.result.code == "role.forbidden"


def test_same_entry_index_applied_twice_is_ignored(ledger: Ledger) -> None:
    data = proposal([sealed("invoice")])
    assert ledger.apply(data, 1, 1) is not None
    before = list(ledger.store.scan(b""))
    assert ledger.apply(data, 1, 1) is None
    assert ledger.apply(proposal([sealed("invoice", nonce=7)]), 1, 1) is None
    assert ledger.apply(proposal([sealed("invoice", nonce=8)]), 1, 0) is None
    assert list(ledger.store.scan(b"")) == before
    assert (ledger.height, ledger.applied_index) == (1, 1)


@pytest.mark.parametrize("data", [
    b"",
    ledger_pb2.BlockProposal(proposer="de-customs", proposed_ms=5).SerializeToString(),
    b"\xff\xff\xff\xff",
], ids=["empty", "no-envelopes", "not-a-proposal"])
def test_entry_without_envelopes_only_advances_the_applied_index(
    ledger: Ledger, data: bytes
) -> None:
    ledger.apply(proposal([sealed("invoice")]), 1, 1)
    last_hash = ledger.last_hash
    assert ledger.apply(data, 2, 2) is None
    assert (ledger.height, ledger.applied_index, ledger.last_hash) == (1, 2, last_hash)
    assert ledger.store.get_u64(Prefix.APPLIED) == 2
    assert ledger.store.get_u64(Prefix.HEIGHT) == 1
    assert ledger.block(2) is None


def test_gap_in_raft_indexes_is_fine(ledger: Ledger) -> None:
    """Raft indexes of blocks need not be consecutive: no-ops and config entries sit between."""
    ledger.apply(proposal([sealed("invoice")]), 1, 3)
    applied = ledger.apply(proposal([sealed("invoice", 1)]), 2, 9)
    assert applied is not None and applied.height == 2
    assert header_of(applied.block).raft_index == 9


# -- determinism and recovery ----------------------------------------------------------

SEQUENCE: list[tuple[bytes, int, int]] = [
    (proposal([sealed("export_declaration"), sealed("invoice"), schema_broken()]), 1, 1),
    (b"", 2, 2),
    (proposal([sealed("invoice"), forbidden(), sealed("shipment_events")], PROPOSED_MS + 9,
              "nl-customs"), 2, 3),
    (proposal([stranger(), sealed("origin_certificate"), sealed("origin_certificate")]), 2, 4),
    (proposal([sealed("governance_vote")]), 3, 7),
]


def run_sequence(path: Path) -> tuple[Ledger, list[bytes]]:
    ledger = new_ledger(path)
    hashes = []
    for data, term, index in SEQUENCE:
        applied = ledger.apply(data, term, index, sign=signer())
        if applied is not None:
            hashes.append(applied.hash)
    return ledger, hashes


def test_two_nodes_applying_the_same_entries_agree_byte_for_byte(tmp_path: Path) -> None:
    a, hashes_a = run_sequence(tmp_path / "a")
    b, hashes_b = run_sequence(tmp_path / "b")
    try:
        assert hashes_a == hashes_b and len(hashes_a) == 4
        for height in range(1, 5):
            assert a.store.get(Prefix.BLOCK + u64(height)) == b.store.get(
                Prefix.BLOCK + u64(height))
        # Not only the blocks: every key and value of the two stores is the same.
        assert list(a.store.scan(b"")) == list(b.store.scan(b""))
        assert (a.height, a.applied_index, a.documents, a.last_hash) == (
            b.height, b.applied_index, b.documents, b.last_hash)
    finally:
        a.store.close()
        b.store.close()


def test_reopening_the_store_restores_the_ledger(tmp_path: Path) -> None:
    first, hashes = run_sequence(tmp_path / "l")
    state = (first.height, first.applied_index, first.documents, first.last_hash)
    doc = document_id(sealed("invoice").body)
    record = first.record(doc)
    first.store.close()
    store = Store(tmp_path / "l")
    try:
        again = Ledger(store, EFFECTS)
        assert (again.height, again.applied_index, again.documents, again.last_hash) == state
        assert again.last_hash == hashes[-1]
        assert again.record(doc) == record
        assert [m.id for m in again.members] == [m.id for m in first.members]
        # It continues the chain where it stopped.
        applied = again.apply(proposal([sealed("invoice", 99)]), 3, 8)
        assert applied is not None and applied.height == state[0] + 1
        assert header_of(applied.block).previous_hash == hashes[-1]
    finally:
        store.close()


# -- effects ---------------------------------------------------------------------------

def test_effect_refusal_rejects_with_its_code(ledger: Ledger) -> None:
    def refuse(context: ApplyContext) -> None:
        raise Refusal("FAILED_PRECONDITION", "certificate.unknown", "no such certificate")

    ledger.effects["certificate_revocation"] = refuse
    revocation = sealed("certificate_revocation")
    applied = ledger.apply(proposal([revocation, sealed("invoice")]), 1, 1)
    assert applied is not None
    result = applied.block.results[0]
    assert (result.status, result.code, result.reason) == (
        REJECTED, "certificate.unknown", "no such certificate")
    assert applied.block.results[1].status == ACCEPTED
    assert index_ids(ledger.store, Prefix.BY_KIND, "certificate_revocation") == []


def test_effect_sees_the_document_and_records_notices(ledger: Ledger) -> None:
    seen: list[tuple[str, str, int, int]] = []

    def note(context: ApplyContext) -> None:
        seen.append((context.document_id, context.checked.kind, context.height,
                     context.proposed_ms))
        context.notices.append("matches alert 1")
        context.batch.put(Prefix.STATE + b"seen/" + context.document_id.encode(), b"1")

    ledger.effects["export_declaration"] = note
    declaration = sealed("export_declaration")
    doc = document_id(declaration.body)
    applied = ledger.apply(proposal([sealed("invoice"), declaration]), 1, 1)
    assert applied is not None
    assert seen == [(doc, "export_declaration", 1, PROPOSED_MS)]
    assert list(applied.block.results[1].notices) == ["matches alert 1"]
    assert list(applied.receipts[doc].result.notices) == ["matches alert 1"]
    assert ledger.store.get(Prefix.STATE + b"seen/" + doc.encode()) == b"1"


def test_effects_do_not_run_for_documents_that_fail_the_checks(ledger: Ledger) -> None:
    calls: list[str] = []
    ledger.effects["export_declaration"] = lambda context: calls.append(context.document_id)
    ledger.apply(proposal([schema_broken()]), 1, 1)
    assert calls == []


def test_effects_see_earlier_writes_of_the_same_block(ledger: Ledger) -> None:
    """Effects read the block's batch: a later document sees an earlier one's state."""
    counts: list[int] = []

    def count(context: ApplyContext) -> None:
        key = Prefix.STATE + b"count"
        n = int(context.batch.get(key) or b"0") + 1
        counts.append(n)
        context.batch.put(key, str(n).encode())

    ledger.effects["invoice"] = count
    ledger.apply(proposal([sealed("invoice", i) for i in range(3)]), 1, 1)
    ledger.apply(proposal([sealed("invoice", 3)]), 1, 2)
    assert counts == [1, 2, 3, 4]


def test_rejected_document_leaves_no_state_behind(ledger: Ledger) -> None:
    def half_done(context: ApplyContext) -> None:
        context.batch.put(Prefix.STATE + b"drawn", b"10")
        raise Refusal("FAILED_PRECONDITION", "certificate.exhausted", "too much drawn")

    ledger.effects["certificate_draw_down"] = half_done
    applied = ledger.apply(proposal([sealed("certificate_draw_down")]), 1, 1)
    assert applied is not None and applied.block.results[0].status == REJECTED
    assert ledger.store.get(Prefix.STATE + b"drawn") is None


# -- signatures and replay of peers' blocks --------------------------------------------

def test_add_signatures_keeps_only_valid_distinct_validator_signatures(ledger: Ledger) -> None:
    applied = ledger.apply(proposal([sealed("invoice")]), 1, 1, sign=signer("de-customs"))
    assert applied is not None
    nl = signer("nl-customs")(applied.hash)
    forged = ledger_pb2.BlockSignature(validator="fr-customs",
                                       public_key=identity("fr-customs").public_key,
                                       signature=identity("fr-customs").sign(BLOCK_DOMAIN,
                                                                             b"\x00" * 32))
    chamber = signer("de-chamber")(applied.hash)  # a member, but not a validator
    assert ledger.add_signatures(1, [nl, nl, forged, chamber]).signed == 2
    block = ledger.block(1)
    assert block is not None
    assert [s.validator for s in block.signatures] == ["de-customs", "nl-customs"]
    assert ledger.add_signatures(1, [signer("fr-customs")(applied.hash)]).signed == 3
    assert ledger.add_signatures(7, [nl]).signed == 0


def test_replay_reproduces_a_peers_block_and_keeps_its_signatures(tmp_path: Path) -> None:
    leader, _ = run_sequence(tmp_path / "leader")
    follower = new_ledger(tmp_path / "follower")
    try:
        for height in range(1, leader.height + 1):
            block = leader.block(height)
            assert block is not None
            block.signatures.append(signer("nl-customs")(block_hash(block.header)))
            applied = follower.replay(block, sign=signer("fr-customs"))
            assert applied.hash == block_hash(block.header)
            stored = follower.block(height)
            assert stored is not None
            assert {s.validator for s in stored.signatures} == {
                "de-customs", "nl-customs", "fr-customs"}
        assert follower.last_hash == leader.last_hash
    finally:
        leader.store.close()
        follower.store.close()


def test_replay_refuses_a_block_that_does_not_re_execute_the_same(tmp_path: Path) -> None:
    leader, _ = run_sequence(tmp_path / "leader")
    follower = new_ledger(tmp_path / "follower")
    try:
        block = leader.block(1)
        assert block is not None
        forged = ledger_pb2.Block()
        forged.CopyFrom(block)
        forged.results[2].status = ACCEPTED  # claim the schema-broken document was accepted
        header = header_of(forged)
        header.results_root = merkle_root([
            result_leaf(document_id(e.body), r)
            for e, r in zip(forged.envelopes, forged.results, strict=True)])
        forged.header = header.SerializeToString(deterministic=True)
        before = list(follower.store.scan(b""))
        with pytest.raises(LedgerMismatch):
            follower.replay(forged)
        assert list(follower.store.scan(b"")) == before
        second = leader.block(2)
        assert second is not None
        with pytest.raises(LedgerMismatch, match="does not follow"):
            follower.replay(second)
        assert follower.height == 0
    finally:
        leader.store.close()
        follower.store.close()
