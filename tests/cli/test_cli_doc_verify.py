"""``tdx doc verify``: offline proof checks against proofs built here from first principles.

The block is made the way a node makes one: signed envelopes, a result per envelope, Merkle
roots over envelope leaves and result leaves, a header whose SHA-256 is the block hash, and
validator signatures over that hash with the block domain tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_testing import Invoke, as_json, json_error
from google.protobuf import json_format
from tdx.sdk import (
    BLOCK_DOMAIN,
    ENVELOPE_DOMAIN,
    Identity,
    block_hash,
    body_from_json,
    document_id,
    documents_pb2,
    envelope_leaf,
    genesis_json,
    inclusion_path,
    ledger_pb2,
    merkle_root,
    result_leaf,
    seal,
    template,
)

NETWORK = "tdx-test"
ACCEPTED = ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_ACCEPTED,
                             notices=["alert match: none"])
REJECTED = ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_REJECTED,
                             code="certificate.unknown", reason="no such certificate")


@dataclass
class Block:
    """A block of three documents, signed by the validators that ``sign`` names."""

    envelopes: list[documents_pb2.Envelope]
    results: list[ledger_pb2.Result]
    header: bytes
    validators: list[Identity]

    def proof(self, index: int, signers: int = 2) -> ledger_pb2.DocumentProof:
        """The proof of document ``index``, with signatures of the first ``signers``."""
        digest = block_hash(self.header)
        env_leaves = [envelope_leaf(e) for e in self.envelopes]
        res_leaves = [result_leaf(document_id(e.body), r)
                      for e, r in zip(self.envelopes, self.results, strict=True)]
        size = len(self.envelopes)
        return ledger_pb2.DocumentProof(
            envelope=self.envelopes[index], result=self.results[index], header=self.header,
            envelope_path=ledger_pb2.MerkleProof(leaf_index=index, tree_size=size,
                                                 path=inclusion_path(env_leaves, index)),
            result_path=ledger_pb2.MerkleProof(leaf_index=index, tree_size=size,
                                               path=inclusion_path(res_leaves, index)),
            signatures=[ledger_pb2.BlockSignature(
                validator=v.member_id, public_key=v.public_key,
                signature=v.sign(BLOCK_DOMAIN, digest)) for v in self.validators[:signers]],
        )


def make_genesis(validators: list[Identity], network: str = NETWORK) -> ledger_pb2.Genesis:
    return ledger_pb2.Genesis(network=network, created_ms=1, members=[
        documents_pb2.MemberRecord(id=v.member_id, name=f"Customs {v.member_id}",
                                   country_code="DE", roles=["customs"],
                                   public_key=v.public_key, validator=True)
        for v in validators
    ])


def make_block(validators: list[Identity], network: str = NETWORK) -> Block:
    issuer = Identity.generate("chamber-de")
    kinds = ["origin_certificate", "certificate_revocation", "invoice"]
    envelopes = [seal(issuer, body_from_json(network, template(kind))) for kind in kinds]
    results = [ACCEPTED, REJECTED, ACCEPTED]
    env_leaves = [envelope_leaf(e) for e in envelopes]
    res_leaves = [result_leaf(document_id(e.body), r)
                  for e, r in zip(envelopes, results, strict=True)]
    header = ledger_pb2.BlockHeader(
        network=network, height=7, previous_hash=b"\x11" * 32,
        envelopes_root=merkle_root(env_leaves), results_root=merkle_root(res_leaves),
        term=3, raft_index=12, proposed_ms=1_790_000_000_000, envelope_count=len(envelopes),
        proposer=validators[0].member_id,
    ).SerializeToString(deterministic=True)
    return Block(envelopes, results, header, validators)


@pytest.fixture
def validators() -> list[Identity]:
    return [Identity.generate(f"customs-{c}") for c in ("de", "nl", "fr")]


@pytest.fixture
def block(validators: list[Identity]) -> Block:
    return make_block(validators)


@pytest.fixture
def genesis_file(tmp_path: Path, validators: list[Identity]) -> Path:
    path = tmp_path / "genesis.json"
    path.write_text(genesis_json(make_genesis(validators)))
    return path


@pytest.fixture
def write_proof(tmp_path: Path) -> Callable[[ledger_pb2.DocumentProof], Path]:
    def write(proof: ledger_pb2.DocumentProof) -> Path:
        path = tmp_path / "proof.json"
        path.write_text(json_format.MessageToJson(proof, preserving_proto_field_name=True))
        return path

    return write


def test_a_real_proof_verifies(invoke: Invoke, block: Block, genesis_file: Path,
                               write_proof: Callable[..., Path]) -> None:
    proof = write_proof(block.proof(0))
    data = as_json(invoke("doc", "verify", "--proof", str(proof), "--genesis",
                          str(genesis_file), "--json"))
    assert data["verified"] is True
    assert data["document_id"] == document_id(block.envelopes[0].body)
    assert (data["kind"], data["issuer"], data["height"]) == ("origin_certificate",
                                                              "chamber-de", 7)
    assert data["block_hash"] == block_hash(block.header).hex()
    assert (data["signatures"], data["validators"], data["accepted"]) == (2, 3, True)
    human = invoke("doc", "verify", "--proof", str(proof), "--genesis", str(genesis_file))
    assert "signed by 2 of 3 validators" in human.stdout
    assert data["document_id"] in human.stdout


def test_a_proof_of_a_rejected_document_verifies_and_says_so(
        invoke: Invoke, block: Block, genesis_file: Path,
        write_proof: Callable[..., Path]) -> None:
    proof = write_proof(block.proof(1, signers=3))
    result = invoke("doc", "verify", "--proof", str(proof), "--genesis", str(genesis_file))
    assert "rejected (no such certificate)" in result.stdout
    assert "signed by 3 of 3" in result.stdout


def test_a_proof_from_stdin(invoke: Invoke, block: Block, genesis_file: Path) -> None:
    text = json_format.MessageToJson(block.proof(2))
    data = as_json(invoke("doc", "verify", "--proof", "-", "--genesis", str(genesis_file),
                          "--json", input=text))
    assert data["kind"] == "invoice"


def _tampered_result(proof: ledger_pb2.DocumentProof) -> None:
    proof.result.status = ledger_pb2.RESULT_STATUS_ACCEPTED
    proof.result.code = proof.result.reason = ""


def _tampered_body(proof: ledger_pb2.DocumentProof) -> None:
    proof.envelope.body = proof.envelope.body[:-1] + bytes([proof.envelope.body[-1] ^ 1])


def _resigned_body(proof: ledger_pb2.DocumentProof) -> None:
    forger = Identity.generate("chamber-de")
    proof.envelope.CopyFrom(seal(forger, body_from_json(NETWORK, template("invoice"))))


def _moved_leaf(proof: ledger_pb2.DocumentProof) -> None:
    proof.envelope_path.leaf_index = 0
    proof.result_path.leaf_index = 0


def _tampered_header(proof: ledger_pb2.DocumentProof) -> None:
    header = ledger_pb2.BlockHeader.FromString(proof.header)
    header.height += 1
    proof.header = header.SerializeToString(deterministic=True)


def _one_signature(proof: ledger_pb2.DocumentProof) -> None:
    del proof.signatures[1:]


def _same_signer_twice(proof: ledger_pb2.DocumentProof) -> None:
    proof.signatures[1].CopyFrom(proof.signatures[0])


def _outsider_signature(proof: ledger_pb2.DocumentProof) -> None:
    outsider = Identity.generate("customs-nl")
    digest = block_hash(proof.header)
    proof.signatures[1].CopyFrom(ledger_pb2.BlockSignature(
        validator="customs-nl", public_key=outsider.public_key,
        signature=outsider.sign(BLOCK_DOMAIN, digest)))


def _wrong_domain(validators: list[Identity]) -> Callable[[ledger_pb2.DocumentProof], None]:
    def tamper(proof: ledger_pb2.DocumentProof) -> None:
        # A validator's signature made for another purpose (an envelope) must not count.
        signer = validators[1]
        proof.signatures[1].signature = signer.sign(ENVELOPE_DOMAIN, block_hash(proof.header))

    return tamper


@pytest.mark.parametrize(("tamper", "reason"), [
    (_tampered_result, "result is not the block's result"),
    (_tampered_body, "signature does not verify"),
    (_resigned_body, "envelope is not in the block"),
    (_moved_leaf, "not in the block"),
    (_tampered_header, "0 of 3 validators signed"),
    (_one_signature, "1 of 3 validators signed, 2 needed"),
    (_same_signer_twice, "1 of 3 validators signed"),
    (_outsider_signature, "1 of 3 validators signed"),
])
def test_a_tampered_proof_fails_with_one_line(
        invoke: Invoke, block: Block, genesis_file: Path,
        write_proof: Callable[..., Path],
        tamper: Callable[[ledger_pb2.DocumentProof], None], reason: str) -> None:
    proof = block.proof(1)
    tamper(proof)
    path = write_proof(proof)
    result = invoke("doc", "verify", "--proof", str(path), "--genesis", str(genesis_file),
                    "--json", code=1)
    assert result.stdout == ""
    error = json_error(result)
    assert error["code"] == "PROOF_INVALID"
    assert error["message"].startswith("proof does not verify: ")
    assert reason in error["message"]


def test_a_proof_checked_against_another_networks_genesis_fails(
        invoke: Invoke, block: Block, tmp_path: Path, validators: list[Identity],
        write_proof: Callable[..., Path]) -> None:
    path = write_proof(block.proof(0, signers=3))
    other_network = tmp_path / "other-network.json"
    other_network.write_text(genesis_json(make_genesis(validators, network="tdx-other")))
    result = invoke("doc", "verify", "--proof", str(path), "--genesis", str(other_network),
                    code=1)
    assert "'tdx-other'" in result.stderr
    strangers = tmp_path / "strangers.json"
    strangers.write_text(genesis_json(make_genesis(
        [Identity.generate(f"v{i}") for i in range(3)])))
    result = invoke("doc", "verify", "--proof", str(path), "--genesis", str(strangers), code=1)
    assert "0 of 3 validators signed" in result.stderr


def test_unreadable_inputs(invoke: Invoke, block: Block, genesis_file: Path,
                           tmp_path: Path, write_proof: Callable[..., Path]) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"envelope": 5}')
    assert "not a document proof" in invoke("doc", "verify", "--proof", str(junk),
                                            "--genesis", str(genesis_file), code=1).stderr
    missing = invoke("doc", "verify", "--proof", str(tmp_path / "none.json"), "--genesis",
                     str(genesis_file), code=1)
    assert "no such file" in missing.stderr
    proof = write_proof(block.proof(0))
    no_genesis = invoke("doc", "verify", "--proof", str(proof), "--genesis",
                        str(tmp_path / "none.json"), code=1)
    assert "no such genesis file" in no_genesis.stderr


def test_a_signature_under_another_domain_does_not_count(
        invoke: Invoke, block: Block, validators: list[Identity], genesis_file: Path,
        write_proof: Callable[..., Path]) -> None:
    proof = block.proof(0)
    _wrong_domain(validators)(proof)
    result = invoke("doc", "verify", "--proof", str(write_proof(proof)), "--genesis",
                    str(genesis_file), code=1)
    assert "1 of 3 validators signed" in result.stderr
