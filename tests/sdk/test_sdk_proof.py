"""Block leaves, hashes and offline proofs, checked against a proof built here by hand."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sdk_factories import NETWORK, identity, make_genesis, sealed
from tdx.sdk import (
    BLOCK_DOMAIN,
    ENVELOPE_DOMAIN,
    ProofError,
    block_hash,
    count_valid_signatures,
    document_id,
    documents_pb2,
    envelope_leaf,
    inclusion_path,
    ledger_pb2,
    merkle_root,
    quorum,
    result_leaf,
    verify_proof,
)
from tdx.sdk._genesis import validators_of

VALIDATORS = ("de-customs", "nl-customs", "fr-customs")
KINDS = ("export_declaration", "invoice", "origin_certificate", "shipment_events",
         "ip_rights_record")


def accepted() -> ledger_pb2.Result:
    return ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_ACCEPTED, notices=["note"])


@dataclass
class Block:
    """A block made by hand: envelopes, results, header bytes."""

    envelopes: list[documents_pb2.Envelope]
    results: list[ledger_pb2.Result]
    header: bytes

    def sign(self, member: str, domain: bytes = BLOCK_DOMAIN) -> ledger_pb2.BlockSignature:
        me = identity(member)
        return ledger_pb2.BlockSignature(validator=member, public_key=me.public_key,
                                         signature=me.sign(domain, block_hash(self.header)))

    def proof(self, index: int, signers: tuple[str, ...] = VALIDATORS[:2]) -> (
        ledger_pb2.DocumentProof
    ):
        leaves = [envelope_leaf(e) for e in self.envelopes]
        rleaves = [result_leaf(document_id(e.body), r)
                   for e, r in zip(self.envelopes, self.results, strict=True)]
        size = len(leaves)
        return ledger_pb2.DocumentProof(
            envelope=self.envelopes[index], result=self.results[index], header=self.header,
            envelope_path=ledger_pb2.MerkleProof(leaf_index=index, tree_size=size,
                                                 path=inclusion_path(leaves, index)),
            result_path=ledger_pb2.MerkleProof(leaf_index=index, tree_size=size,
                                               path=inclusion_path(rleaves, index)),
            signatures=[self.sign(m) for m in signers],
        )


def make_block(network: str = NETWORK, height: int = 7) -> Block:
    envelopes = [sealed(kind, nonce=i) for i, kind in enumerate(KINDS)]
    results = [accepted() for _ in envelopes]
    results[3] = ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_REJECTED,
                                   code="schema.invalid", reason="ucr: is required")
    header = ledger_pb2.BlockHeader(
        network=network, height=height, previous_hash=b"\x11" * 32,
        envelopes_root=merkle_root([envelope_leaf(e) for e in envelopes]),
        results_root=merkle_root([result_leaf(document_id(e.body), r)
                                  for e, r in zip(envelopes, results, strict=True)]),
        term=2, raft_index=40, proposed_ms=1, envelope_count=len(envelopes),
        proposer="de-customs",
    )
    return Block(envelopes, results, header.SerializeToString(deterministic=True))


@pytest.fixture(scope="module")
def block() -> Block:
    return make_block()


@pytest.fixture(scope="module")
def genesis() -> ledger_pb2.Genesis:
    return make_genesis()


# -- leaves and hashes -----------------------------------------------------------------

def test_block_hash_is_sha256_of_header_bytes(block: Block) -> None:
    assert block_hash(block.header) == hashlib.sha256(block.header).digest()


def test_envelope_leaf_layout() -> None:
    envelope = sealed("invoice")
    leaf = envelope_leaf(envelope)
    assert len(leaf) == 32 + 32 + 64
    assert leaf == hashlib.sha256(envelope.body).digest() + envelope.signer + envelope.signature


def test_result_leaf_layout() -> None:
    doc = "ab" * 32
    result = ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_REJECTED, code="c",
                               reason="r\u00e9", notices=["n1", ""])
    expected = (bytes.fromhex(doc) + bytes([2]) + struct.pack(">I", 2)
                + struct.pack(">I", 1) + b"c" + struct.pack(">I", 3) + "r\u00e9".encode()
                + struct.pack(">I", 2) + b"n1" + struct.pack(">I", 0))
    assert result_leaf(doc, result) == expected


def test_result_leaf_is_unambiguous() -> None:
    """Moving text between code and reason, or into a notice, changes the leaf."""
    doc = "00" * 32
    a = ledger_pb2.Result(status=2, code="ab", reason="c")
    b = ledger_pb2.Result(status=2, code="a", reason="bc")
    c = ledger_pb2.Result(status=2, code="ab", reason="", notices=["c"])
    assert len({result_leaf(doc, r) for r in (a, b, c)}) == 3


@pytest.mark.parametrize(("validators", "needed"),
                         [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_quorum_is_a_strict_majority(validators: int, needed: int) -> None:
    assert quorum(validators) == needed


# -- proofs ----------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(len(KINDS)))
def test_valid_proof_passes_for_every_position(
    block: Block, genesis: ledger_pb2.Genesis, index: int
) -> None:
    verified = verify_proof(block.proof(index), genesis)
    assert verified.document_id == document_id(block.envelopes[index].body)
    assert verified.kind == KINDS[index]
    assert verified.height == 7
    assert verified.block_hash == block_hash(block.header).hex()
    assert (verified.signatures, verified.validators) == (2, 3)
    assert verified.accepted == (index != 3)
    assert verified.reason == ("ucr: is required" if index == 3 else "")


def test_all_validators_signing_is_counted(block: Block, genesis: ledger_pb2.Genesis) -> None:
    assert verify_proof(block.proof(0, VALIDATORS), genesis).signatures == 3


def test_minority_of_signatures_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    with pytest.raises(ProofError, match="not certified: 1 of 3"):
        verify_proof(block.proof(0, ("de-customs",)), genesis)
    with pytest.raises(ProofError, match="not certified: 0 of 3"):
        verify_proof(block.proof(0, ()), genesis)


def test_signature_by_a_non_validator_member_does_not_count(
    block: Block, genesis: ledger_pb2.Genesis
) -> None:
    with pytest.raises(ProofError, match="1 of 3"):
        verify_proof(block.proof(0, ("de-customs", "de-chamber")), genesis)


def test_duplicated_signature_counts_once(block: Block, genesis: ledger_pb2.Genesis) -> None:
    with pytest.raises(ProofError, match="1 of 3"):
        verify_proof(block.proof(0, ("de-customs", "de-customs", "de-customs")), genesis)


def test_signature_claiming_another_validator_does_not_count(
    block: Block, genesis: ledger_pb2.Genesis
) -> None:
    proof = block.proof(0, ("de-customs",))
    forged = block.sign("de-chamber")
    forged.validator = "nl-customs"  # the chamber's key and signature, a validator's name
    proof.signatures.append(forged)
    with pytest.raises(ProofError, match="1 of 3"):
        verify_proof(proof, genesis)
    # Naming the validator's key does not help either: the signature is not by that key.
    forged.public_key = identity("nl-customs").public_key
    proof.signatures[-1].CopyFrom(forged)
    with pytest.raises(ProofError, match="1 of 3"):
        verify_proof(proof, genesis)


def test_signature_under_another_domain_does_not_count(
    block: Block, genesis: ledger_pb2.Genesis
) -> None:
    proof = block.proof(0, ("de-customs",))
    proof.signatures.append(block.sign("nl-customs", ENVELOPE_DOMAIN))
    with pytest.raises(ProofError, match="1 of 3"):
        verify_proof(proof, genesis)


def test_wrong_network_fails(block: Block) -> None:
    other = make_genesis()
    other.network = "tdx-other"
    with pytest.raises(ProofError, match="network"):
        verify_proof(block.proof(0), other)


def test_block_of_another_network_fails_even_when_signed(genesis: ledger_pb2.Genesis) -> None:
    with pytest.raises(ProofError, match="network"):
        verify_proof(make_block(network="tdx-other").proof(0), genesis)


def test_validators_are_taken_from_the_genesis_not_the_proof(
    block: Block, genesis: ledger_pb2.Genesis
) -> None:
    """A proof that lists its own validator set cannot lower the bar."""
    proof = block.proof(0, ("de-chamber",))
    proof.validators.append(genesis.members[3])
    with pytest.raises(ProofError, match="not certified"):
        verify_proof(proof, genesis)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: setattr(p.result, "status", ledger_pb2.RESULT_STATUS_REJECTED),
        lambda p: setattr(p.result, "reason", "changed"),
        lambda p: p.result.notices.append("extra"),
        lambda p: p.result.ClearField("notices"),
    ],
    ids=["status", "reason", "notice-added", "notices-removed"],
)
def test_tampered_result_fails(
    block: Block, genesis: ledger_pb2.Genesis, tamper: Callable[[ledger_pb2.DocumentProof], object]
) -> None:
    proof = block.proof(0)
    tamper(proof)
    with pytest.raises(ProofError, match="result is not the block's result"):
        verify_proof(proof, genesis)


def test_result_of_another_position_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(3)
    proof.result.CopyFrom(block.results[0])
    with pytest.raises(ProofError, match="result"):
        verify_proof(proof, genesis)


def test_result_path_at_another_index_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(1)
    proof.result_path.CopyFrom(block.proof(2).result_path)
    proof.result.CopyFrom(block.results[2])
    with pytest.raises(ProofError, match="result"):
        verify_proof(proof, genesis)


def test_envelope_not_in_block_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(0)
    proof.envelope.CopyFrom(sealed("export_declaration", nonce=99))
    with pytest.raises(ProofError, match="envelope is not in the block"):
        verify_proof(proof, genesis)


def test_envelope_with_bad_signature_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(0)
    proof.envelope.signature = bytes(64)
    with pytest.raises(ProofError, match="envelope"):
        verify_proof(proof, genesis)


def test_tampered_path_fails(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(2)
    proof.envelope_path.path[0] = bytes(32)
    with pytest.raises(ProofError, match="Merkle path"):
        verify_proof(proof, genesis)


def test_tampered_header_breaks_the_signatures(block: Block, genesis: ledger_pb2.Genesis) -> None:
    header = ledger_pb2.BlockHeader.FromString(block.header)
    header.height = 8
    proof = block.proof(0)
    proof.header = header.SerializeToString(deterministic=True)
    with pytest.raises(ProofError, match="not certified: 0 of 3"):
        verify_proof(proof, genesis)


def test_header_that_is_not_a_header(block: Block, genesis: ledger_pb2.Genesis) -> None:
    proof = block.proof(0)
    proof.header = b"\xff\xff\xff"
    with pytest.raises(ProofError, match="header"):
        verify_proof(proof, genesis)


def test_count_valid_signatures_directly(block: Block, genesis: ledger_pb2.Genesis) -> None:
    digest = block_hash(block.header)
    validators = validators_of(genesis.members)
    assert [v.id for v in validators] == list(VALIDATORS)
    sigs = [block.sign(m) for m in (*VALIDATORS, "de-customs", "watcher")]
    assert count_valid_signatures(digest, sigs, validators) == 3
    assert count_valid_signatures(b"\x00" * 32, sigs, validators) == 0
    assert count_valid_signatures(digest, [], validators) == 0
