"""The ledger's state machine: turns committed block proposals into stored, chained blocks.

``Ledger.apply`` is deterministic: given the same stored state and the same proposal, every
node produces the same block, byte for byte (header, results, hash). It checks each envelope
again (signature, schema, membership, role, replay) and records a Result for each; only
accepted documents are indexed. One fsync'd write batch carries the whole block, so a crash
leaves either all of it or none of it, and the Raft index it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from tdx.node.state.effects import ApplyContext, Effect
from tdx.node.state.reads import Index, LedgerReads
from tdx.node.state.rules import Checked, Refusal, VerifiedEnvelopes, check_envelope
from tdx.node.state.store import Prefix, Store, WriteBatch, u64
from tdx.sdk import (
    Certification,
    CreatedWindow,
    block_hash,
    certification,
    document_id,
    envelope_leaf,
    genesis_hash,
    ledger_pb2,
    merkle_root,
    result_leaf,
)
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.state.ledger")

Signer = Callable[[bytes], ledger_pb2.BlockSignature]


@dataclass(frozen=True)
class AppliedBlock:
    """A block as applied: its height, hash, stored form and the receipt per document id."""

    height: int
    hash: bytes
    block: ledger_pb2.Block
    receipts: dict[str, ledger_pb2.Receipt]
    raft_index: int
    kinds: tuple[str, ...] = ()
    """The kind of each envelope of the block, in order ("" where it was refused)."""


class Ledger(LedgerReads):
    """The application state machine over a Store.

    Membership is cached in memory and changes only through ``apply``; reads of documents,
    indexes, blocks and workflow state go to the store (``reads.LedgerReads``).
    """

    def __init__(self, store: Store, effects: Mapping[str, Effect]) -> None:
        raw = store.get(Prefix.GENESIS)
        if raw is None:
            raise ValueError("store has no genesis; call Ledger.initialize first")
        super().__init__(store)
        self.genesis = ledger_pb2.Genesis.FromString(raw)
        self.network = self.genesis.network
        # How far a document's created_ms may lie from its block's proposed_ms (genesis).
        self.created_window = CreatedWindow.of(self.genesis)
        self.effects: dict[str, Effect] = dict(effects)
        self.verified = VerifiedEnvelopes()
        self._members: dict[str, documents_pb2.MemberRecord] = {}
        self._keys: dict[bytes, str] = {}
        self._membership_changed = False
        self.reload_members()
        self.height = store.get_u64(Prefix.HEIGHT)
        self.applied_index = store.get_u64(Prefix.APPLIED)
        self.documents = store.get_u64(Prefix.DOCUMENTS)
        self.last_hash = self._hash_at(self.height)

    @staticmethod
    def initialize(store: Store, genesis: ledger_pb2.Genesis) -> None:
        """Write the genesis and its members into an empty store (fsync'd)."""
        items: dict[bytes, bytes | None] = {
            Prefix.GENESIS: genesis.SerializeToString(deterministic=True),
            Prefix.HEIGHT: u64(0),
            Prefix.APPLIED: u64(0),
            Prefix.DOCUMENTS: u64(0),
        }
        for member in genesis.members:
            items[Prefix.MEMBER + member.id.encode()] = member.SerializeToString(
                deterministic=True)
            items[Prefix.KEY + bytes(member.public_key)] = member.id.encode()
        store.write(items, sync=True)

    # -- membership ----------------------------------------------------------------------

    def reload_members(self) -> None:
        """Read membership from the store (after a block whose effects changed it).

        Membership changes take effect from the block after the one that records them.
        """
        members: dict[str, documents_pb2.MemberRecord] = {}
        keys: dict[bytes, str] = {}
        for _, value in self.store.scan(Prefix.MEMBER):
            member = documents_pb2.MemberRecord.FromString(value)
            members[member.id] = member
            keys[bytes(member.public_key)] = member.id
        self._members, self._keys = members, keys

    def member_by_key(self, public_key: bytes) -> documents_pb2.MemberRecord | None:
        """The current member holding ``public_key``, or None."""
        member_id = self._keys.get(bytes(public_key))
        return None if member_id is None else self._members.get(member_id)

    def member(self, member_id: str) -> documents_pb2.MemberRecord | None:
        """The current member with id ``member_id``, or None."""
        return self._members.get(member_id)

    @property
    def members(self) -> list[documents_pb2.MemberRecord]:
        """Current members, in id order."""
        return [self._members[k] for k in sorted(self._members)]

    @property
    def validators(self) -> list[documents_pb2.MemberRecord]:
        """Current validators, in id order."""
        return [m for m in self.members if m.validator]

    # -- reads (documents, indexes, blocks: see LedgerReads) ----------------------------

    def _hash_at(self, height: int) -> bytes:
        if height == 0:
            return genesis_hash(self.genesis)
        block = self.block(height)
        if block is None:
            raise ValueError(f"store is missing block {height}")
        return block_hash(block.header)

    # -- apply ---------------------------------------------------------------------------

    def apply(self, data: bytes, term: int, raft_index: int, sign: Signer | None = None,
              expect_hash: bytes | None = None) -> AppliedBlock | None:
        """Apply one committed Raft entry's data and persist the block (fsync'd).

        Returns None (and only records the Raft index) for an entry that carries no
        proposal: a leader's no-op or bytes that are not a BlockProposal. Entries at or
        below the applied index are ignored, which makes replay after a crash safe. With
        ``expect_hash``, raises LedgerMismatch and writes nothing unless the block this
        node computes has that hash.
        """
        if raft_index <= self.applied_index:
            return None
        proposal = ledger_pb2.BlockProposal()
        try:
            proposal.ParseFromString(data)
        except DecodeError:
            log.error("entry %d is not a block proposal; skipped", raft_index)
            proposal = ledger_pb2.BlockProposal()
        if not data or not proposal.envelopes:
            self.mark_applied(raft_index)
            return None
        batch = self.store.batch()
        self._membership_changed = False
        height = self.height + 1
        results: list[ledger_pb2.Result] = []
        receipts: dict[str, ledger_pb2.Receipt] = {}
        records: list[tuple[str, str, ledger_pb2.DocumentRecord, Checked | None]] = []
        seen: set[str] = set()
        kinds: list[str] = []
        for pos, envelope in enumerate(proposal.envelopes):
            doc_id = document_id(envelope.body)
            result, checked = self._verdict(batch, envelope, doc_id, seen, height,
                                             proposal.proposed_ms)
            results.append(result)
            kinds.append(checked.kind if checked is not None else "")
            if result.code == "document.duplicate":
                continue
            seen.add(doc_id)
            kind = checked.kind if checked else ""
            receipt = ledger_pb2.Receipt(document_id=doc_id, height=height, position=pos,
                                         result=result)
            record = ledger_pb2.DocumentRecord(document_id=doc_id, envelope=envelope,
                                               kind=kind, receipt=receipt)
            records.append((doc_id, kind, record, checked))
        header = ledger_pb2.BlockHeader(
            network=self.network,
            height=height,
            previous_hash=self.last_hash,
            envelopes_root=merkle_root([envelope_leaf(e) for e in proposal.envelopes]),
            results_root=merkle_root([
                result_leaf(document_id(e.body), r)
                for e, r in zip(proposal.envelopes, results, strict=True)
            ]),
            term=term,
            raft_index=raft_index,
            proposed_ms=proposal.proposed_ms,
            envelope_count=len(proposal.envelopes),
            proposer=proposal.proposer,
        )
        header_bytes = header.SerializeToString(deterministic=True)
        digest = block_hash(header_bytes)
        if expect_hash is not None and digest != expect_hash:
            raise LedgerMismatch(f"block {height} re-applied here hashes to {digest.hex()}, "
                                 f"not {expect_hash.hex()}")
        block = ledger_pb2.Block(header=header_bytes, envelopes=proposal.envelopes,
                                 results=results)
        if sign is not None:
            block.signatures.append(sign(digest))
        accepted = 0
        for doc_id, kind, record, checked in records:
            record.receipt.block_hash = digest
            receipts[doc_id] = record.receipt
            batch.put(Prefix.DOC + bytes.fromhex(doc_id), record.SerializeToString())
            if checked is not None and record.receipt.result.status == (
                ledger_pb2.RESULT_STATUS_ACCEPTED
            ):
                accepted += 1
                self._index(batch, doc_id, kind, checked, height, record.receipt.position)
        batch.put(Prefix.BLOCK + u64(height), block.SerializeToString())
        batch.put(Prefix.BLOCK_HASH + digest, u64(height))
        batch.put(Prefix.HEIGHT, u64(height))
        batch.put(Prefix.APPLIED, u64(raft_index))
        batch.put(Prefix.DOCUMENTS, u64(self.documents + len(records)))
        batch.commit(sync=True)
        self.height = height
        self.applied_index = raft_index
        self.last_hash = digest
        self.documents += len(records)
        if self._membership_changed:
            self.reload_members()
        log.debug("applied block %d (%d envelopes, %d accepted)", height,
                  len(proposal.envelopes), accepted)
        return AppliedBlock(height=height, hash=digest, block=block, receipts=receipts,
                            raft_index=raft_index, kinds=tuple(kinds))

    def replay(self, block: ledger_pb2.Block, sign: Signer | None = None) -> AppliedBlock:
        """Apply a block fetched from a peer by re-executing it; keep its valid signatures.

        Raises LedgerMismatch, writing nothing, when the block does not follow this ledger or
        re-executing it here gives another hash: a peer cannot make this node store a block
        that its own state machine would not have produced.
        """
        header = ledger_pb2.BlockHeader.FromString(block.header)
        if header.height != self.height + 1 or header.previous_hash != self.last_hash:
            raise LedgerMismatch(f"block {header.height} does not follow block {self.height}")
        proposal = ledger_pb2.BlockProposal(envelopes=block.envelopes,
                                            proposed_ms=header.proposed_ms,
                                            proposer=header.proposer)
        applied = self.apply(proposal.SerializeToString(), header.term, header.raft_index,
                             sign, expect_hash=block_hash(block.header))
        if applied is None:
            raise LedgerMismatch(f"block {header.height} was not applied (Raft index "
                                 f"{header.raft_index} is not past {self.applied_index})")
        self.add_signatures(header.height, list(block.signatures))
        return applied

    def add_signatures(self, height: int,
                       signatures: list[ledger_pb2.BlockSignature]) -> Certification:
        """Keep the valid validator signatures of block ``height``; return how it stands.

        A new signature is kept when it passes ``certification`` against the current
        validators (their key, verifying over this node's hash of the block); signatures
        the block holds already were checked when they were stored and count as they are.
        Not fsync'd: signatures can be collected again.
        """
        validators = self.validators
        block = self.block(height)
        if block is None:
            return Certification((), len(validators))
        have = {s.validator for s in block.signatures}
        fresh = [s for s in signatures if s.validator not in have]
        added = certification(block_hash(block.header), fresh, validators).signatures
        if added:
            block.signatures.extend(added)
            self.store.write({Prefix.BLOCK + u64(height): block.SerializeToString()},
                             sync=False)
        return Certification(tuple(block.signatures), len(validators))

    def mark_applied(self, raft_index: int) -> None:
        """Record that an entry with no block (a no-op or a conf change) was applied.

        Not fsync'd: losing it only makes a restart re-apply an entry that changes nothing.
        """
        if raft_index > self.applied_index:
            self.store.write({Prefix.APPLIED: u64(raft_index)}, sync=False)
            self.applied_index = raft_index

    def _verdict(
        self, batch: WriteBatch, envelope: documents_pb2.Envelope, doc_id: str,
        seen: set[str], height: int, proposed_ms: int,
    ) -> tuple[ledger_pb2.Result, Checked | None]:
        if doc_id in seen or batch.get(Prefix.DOC + bytes.fromhex(doc_id)) is not None:
            return _rejected("document.duplicate", "this document is already on the ledger"), None
        try:
            checked = check_envelope(envelope, self.network, self, self.verified,
                                     now_ms=proposed_ms, window=self.created_window)
            context = ApplyContext(batch=batch, checked=checked, document_id=doc_id,
                                   height=height, proposed_ms=proposed_ms,
                                   members=self._members)
            effect = self.effects.get(checked.kind)
            if effect is not None:
                batch.savepoint()
                try:
                    effect(context)
                except Refusal:
                    batch.rollback()
                    raise
                except EFFECT_BUGS as exc:
                    # A deterministic failure of the rules on this document: every node
                    # meets it the same way, so reject the document rather than halt the
                    # chain on it. I/O and other errors still stop the node.
                    batch.rollback()
                    log.exception("effect for %s failed on %s", checked.kind, doc_id)
                    raise Refusal("INTERNAL", "effect.failed",
                                  f"{checked.kind} could not be applied: "
                                  f"{type(exc).__name__}") from None
                batch.release()
                self._membership_changed |= context.membership_changed
        except Refusal as refusal:
            return _rejected(refusal.code, refusal.message), None
        return ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_ACCEPTED,
                                 notices=context.notices), checked

    @staticmethod
    def _index(batch: WriteBatch, doc_id: str, kind: str, checked: Checked, height: int,
               pos: int) -> None:
        raw_id = bytes.fromhex(doc_id)
        if checked.body.ucr:
            Index.UCR.put(batch, checked.body.ucr, height, pos, raw_id)
        Index.KIND.put(batch, kind, height, pos, raw_id)
        Index.ISSUER.put(batch, checked.body.issuer, height, pos, raw_id)


EFFECT_BUGS = (ValueError, KeyError, TypeError, AttributeError, IndexError, ArithmeticError,
               DecodeError)


class LedgerMismatch(Exception):
    """A block from a peer does not match what this node's state machine produces."""


def _rejected(code: str, reason: str) -> ledger_pb2.Result:
    return ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_REJECTED, code=code, reason=reason)
