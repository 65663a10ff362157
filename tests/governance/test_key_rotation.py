"""Key rotation: signed by the old key, proven by the new one, with no outage; retired keys
stay in history (old documents keep verifying) and never sign new documents."""

from __future__ import annotations

from pathlib import Path

from gov_chain import ACCEPTED, Chain, identity, new_identity
from node_factories import signer
from sdk_factories import make_genesis
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Store
from tdx.node.state.workflows import EFFECTS, governance
from tdx.sdk import (
    block_hash,
    document_id,
    envelope_leaf,
    inclusion_path,
    key_rotation,
    ledger_pb2,
    open_envelope,
    result_leaf,
    seal,
    verify_proof,
)
from tdx.sdk._crypto import KEY_ROTATION_DOMAIN

REJECTED = ledger_pb2.RESULT_STATUS_REJECTED
SMALL_ORDER_KEY = bytes([1]) + bytes(31)


def rejected(result: ledger_pb2.Result, code: str) -> None:
    assert (result.status, result.code) == (REJECTED, code), result


def test_rotation_has_no_outage_and_the_new_key_signs_from_the_next_block(chain: Chain) -> None:
    old, new = identity("acme-trader"), new_identity("acme-trader", 70)
    rotation, by_old, by_new = chain.apply(chain.rotation(old, new), chain.invoice(old),
                                           chain.invoice(new))
    assert rotation.status == ACCEPTED
    assert "new key signs from block 2, the old key through block 1" in rotation.notices[0]
    assert by_old.status == ACCEPTED  # the old key is valid through the recording block
    rejected(by_new, "member.unknown")
    later_old, later_new = chain.apply(chain.invoice(old), chain.invoice(new))
    rejected(later_old, "member.unknown")
    assert later_new.status == ACCEPTED
    assert chain.ledger.member_by_key(old.public_key) is None
    member = chain.ledger.member("acme-trader")
    assert member is not None and member.public_key == new.public_key
    [retired] = governance.retired_keys(chain.ledger.store.scan(
        governance.key_history_prefix("acme-trader")))
    assert (retired.public_key, retired.retired_height, retired.replaced_by) == (
        old.public_key, 1, new.public_key)


def test_a_validators_rotation_says_to_restart_its_node(chain: Chain) -> None:
    result = chain.one(chain.rotation(identity("fr-customs"), new_identity("fr-customs", 71)))
    assert result.status == ACCEPTED
    assert "restart the validator's node with the new key" in result.notices[0]


def test_history_survives_a_restart(tmp_path: Path) -> None:
    chain = Chain.new(tmp_path / "ledger")
    old, new = identity("atlantic"), new_identity("atlantic", 72)
    chain.one(chain.rotation(old, new))
    chain.close()
    reopened = Ledger(Store(tmp_path / "ledger"), EFFECTS)
    try:
        assert reopened.member_by_key(old.public_key) is None
        assert reopened.member_by_key(new.public_key) is not None
        assert len(governance.retired_keys(reopened.store.scan(
            governance.key_history_prefix("atlantic")))) == 1
    finally:
        reopened.store.close()


def test_documents_signed_before_a_rotation_still_prove_offline(tmp_path: Path) -> None:
    genesis = make_genesis()
    chain = Chain.new(tmp_path / "ledger", genesis)
    try:
        old, new = identity("acme-trader"), new_identity("acme-trader", 73)
        invoice = chain.invoice(old)
        chain.one(invoice)
        chain.one(chain.rotation(old, new))
        chain.one(chain.invoice(new))
        record = chain.ledger.record(document_id(invoice.body))
        assert record is not None and open_envelope(record.envelope).issuer == "acme-trader"
        block = chain.ledger.block(record.receipt.height)
        assert block is not None
        digest = block_hash(block.header)
        chain.ledger.add_signatures(record.receipt.height,
                                    [signer(v)(digest) for v in ("de-customs", "nl-customs")])
        block = chain.ledger.block(record.receipt.height)
        assert block is not None
        leaves = [envelope_leaf(e) for e in block.envelopes]
        results = [result_leaf(document_id(e.body), r)
                   for e, r in zip(block.envelopes, block.results, strict=True)]
        proof = ledger_pb2.DocumentProof(
            envelope=record.envelope, result=block.results[0], header=block.header,
            envelope_path=ledger_pb2.MerkleProof(leaf_index=0, tree_size=1,
                                                 path=inclusion_path(leaves, 0)),
            result_path=ledger_pb2.MerkleProof(leaf_index=0, tree_size=1,
                                               path=inclusion_path(results, 0)),
            signatures=block.signatures)
        verified = verify_proof(proof, genesis)
        assert verified.accepted and verified.issuer == "acme-trader"
    finally:
        chain.close()


def test_the_new_key_must_sign_the_member_and_the_old_key(chain: Chain) -> None:
    old, new = identity("acme-trader"), new_identity("acme-trader", 74)
    envelope_body = chain.rotation(old, new)
    body = open_envelope(envelope_body)
    wrong = new_identity("acme-trader", 75)
    body.key_rotation.new_key_signature = wrong.sign(
        KEY_ROTATION_DOMAIN, b"acme-trader\x00" + old.public_key)
    body.nonce = b"\x09" * 16
    rejected(chain.one(seal(old, body)), "key.proof_invalid")
    # A proof made for another member's rotation does not do either.
    body.key_rotation.new_key_signature = new.sign(KEY_ROTATION_DOMAIN,
                                                   b"atlantic\x00" + old.public_key)
    body.nonce = b"\x0a" * 16
    rejected(chain.one(seal(old, body)), "key.proof_invalid")


def test_unusable_taken_retired_and_unchanged_keys_are_refused(chain: Chain) -> None:
    old = identity("acme-trader")
    small = key_rotation("tdx-test", old, new_identity("acme-trader", 76))
    small.key_rotation.new_public_key = SMALL_ORDER_KEY
    rejected(chain.one(chain.seal(old, small)), "key.unacceptable")
    rejected(chain.one(chain.rotation(old, identity("atlantic"))), "key.in_use")
    rejected(chain.one(chain.rotation(old, old)), "key.unchanged")
    new = new_identity("acme-trader", 77)
    assert chain.one(chain.rotation(old, new)).status == ACCEPTED
    rejected(chain.one(chain.rotation(new, old)), "key.retired")


def test_only_one_rotation_per_member_per_block(chain: Chain) -> None:
    old = identity("acme-trader")
    first, second = chain.apply(chain.rotation(old, new_identity("acme-trader", 78)),
                                chain.rotation(old, new_identity("acme-trader", 79)))
    assert first.status == ACCEPTED
    rejected(second, "key.superseded")


def test_a_member_removed_in_the_block_cannot_rotate_in_it(chain: Chain) -> None:
    proposal = chain.propose_remove("atlantic")
    chain.one(proposal)
    chain.one(chain.vote(proposal, "de-customs"))
    deciding, rotation = chain.apply(
        chain.vote(proposal, "nl-customs"),
        chain.rotation(identity("atlantic"), new_identity("atlantic", 80)))
    assert "removed" in deciding.notices[0]
    rejected(rotation, "key.member_removed")
