"""Block hashing and signing, the Merkle leaves of a block, and offline proof checks."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from tdx.v1 import documents_pb2, ledger_pb2

from ._crypto import BLOCK_DOMAIN, sha256, verify
from ._envelope import document_id, open_envelope
from ._errors import DocumentError, ProofError
from ._genesis import validators_of
from ._kinds import kind_of
from ._merkle import verify_inclusion


def block_hash(header_bytes: bytes) -> bytes:
    """A block's hash: SHA-256 of its header bytes exactly as stored."""
    return sha256(header_bytes)


def envelope_leaf(envelope: documents_pb2.Envelope) -> bytes:
    """Merkle leaf data of an envelope: body hash, signer key, signature (fixed widths)."""
    return sha256(envelope.body) + envelope.signer + envelope.signature


def result_leaf(doc_id_hex: str, result: ledger_pb2.Result) -> bytes:
    """Merkle leaf data of a result, in an explicit encoding that needs no protobuf.

    document id (32 bytes) || status (1 byte) || notice count (4 bytes) || then code, reason
    and each notice as a 4-byte big-endian length and UTF-8 bytes.
    """
    parts = [bytes.fromhex(doc_id_hex), struct.pack(">BI", result.status, len(result.notices))]
    for text in (result.code, result.reason, *result.notices):
        raw = text.encode()
        parts.append(struct.pack(">I", len(raw)) + raw)
    return b"".join(parts)


def quorum(validator_count: int) -> int:
    """Signatures a block needs to be certified: a strict majority of validators."""
    return validator_count // 2 + 1


@dataclass(frozen=True)
class Certification:
    """Which validators signed a block's hash, of how many: certified at a strict majority.

    ``signatures`` are the valid ones only, at most one per validator, in the order given.
    """

    signatures: tuple[ledger_pb2.BlockSignature, ...]
    validators: int

    @property
    def signed(self) -> int:
        """How many validators signed."""
        return len(self.signatures)

    @property
    def needed(self) -> int:
        """How many signatures certify the block (``quorum``)."""
        return quorum(self.validators)

    @property
    def certified(self) -> bool:
        """Whether a strict majority of the validators signed."""
        return self.signed >= self.needed


MAX_TRIES_PER_VALIDATOR = 2
"""How many signatures in one validator's name are checked per block before giving up."""


def certification(
    block_hash_bytes: bytes,
    signatures: Sequence[ledger_pb2.BlockSignature],
    validators: Sequence[documents_pb2.MemberRecord],
) -> Certification:
    """Check signatures of a block hash against ``validators``: the one certification check.

    A signature counts when its validator is one of ``validators``, it carries that
    validator's key, it verifies over the hash (``BLOCK_DOMAIN``) and no earlier signature
    of the same validator counted.
    """
    keys = {v.id: bytes(v.public_key) for v in validators}
    valid: list[ledger_pb2.BlockSignature] = []
    seen: set[str] = set()
    tries: dict[str, int] = {}
    for sig in signatures:
        key = keys.get(sig.validator)
        if key is None or sig.validator in seen or key != bytes(sig.public_key):
            continue
        # At most a couple of checks per validator: a block served with thousands of bogus
        # signatures in one validator's name costs no more than an honest one.
        tries[sig.validator] = tries.get(sig.validator, 0) + 1
        if tries[sig.validator] > MAX_TRIES_PER_VALIDATOR:
            continue
        if verify(key, BLOCK_DOMAIN, block_hash_bytes, bytes(sig.signature)):
            seen.add(sig.validator)
            valid.append(sig)
    return Certification(tuple(valid), len(validators))


def count_valid_signatures(
    block_hash_bytes: bytes,
    signatures: Sequence[ledger_pb2.BlockSignature],
    validators: Sequence[documents_pb2.MemberRecord],
) -> int:
    """Count distinct validators (by member id and key) whose signature on the block verifies."""
    return certification(block_hash_bytes, signatures, validators).signed


def is_certified(block: ledger_pb2.Block,
                 validators: Sequence[documents_pb2.MemberRecord]) -> bool:
    """Whether a strict majority of ``validators`` signed the block's hash."""
    return certification(block_hash(block.header), block.signatures, validators).certified


@dataclass(frozen=True)
class VerifiedDocument:
    """What an offline proof check established about a document."""

    document_id: str
    kind: str
    issuer: str
    height: int
    block_hash: str
    accepted: bool
    reason: str
    signatures: int
    validators: int


def verify_proof(proof: ledger_pb2.DocumentProof, genesis: ledger_pb2.Genesis) -> VerifiedDocument:
    """Check a document proof with nothing but the genesis.

    Checks the envelope's signature, the envelope's and the result's Merkle paths into the
    header, the header's network, and that a majority of the genesis validators signed the
    block hash. Raises ProofError naming the first check that fails.
    """
    try:
        body = open_envelope(proof.envelope)
    except DocumentError as exc:
        raise ProofError(f"envelope: {exc}") from None
    header = ledger_pb2.BlockHeader()
    try:
        header.ParseFromString(proof.header)
    except DecodeError:
        raise ProofError("header: not a block header") from None
    if header.network != genesis.network:
        raise ProofError(f"header: block is of network {header.network!r}, "
                         f"the genesis is {genesis.network!r}")
    doc_id = document_id(proof.envelope.body)
    size = header.envelope_count
    ep, rp = proof.envelope_path, proof.result_path
    if not verify_inclusion(envelope_leaf(proof.envelope), ep.leaf_index, size,
                            list(ep.path), header.envelopes_root):
        raise ProofError("envelope is not in the block (Merkle path does not match)")
    if rp.leaf_index != ep.leaf_index or not verify_inclusion(
        result_leaf(doc_id, proof.result), rp.leaf_index, size, list(rp.path),
        header.results_root,
    ):
        raise ProofError("result is not the block's result for this envelope")
    validators = validators_of(genesis.members)
    digest = block_hash(proof.header)
    signed = certification(digest, proof.signatures, validators)
    if not signed.certified:
        raise ProofError(f"block is not certified: {signed.signed} of {len(validators)} "
                         f"validators signed, {signed.needed} needed")
    return VerifiedDocument(
        document_id=doc_id,
        kind=kind_of(body),
        issuer=body.issuer,
        height=header.height,
        block_hash=digest.hex(),
        accepted=proof.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED,
        reason=proof.result.reason,
        signatures=signed.signed,
        validators=len(validators),
    )
