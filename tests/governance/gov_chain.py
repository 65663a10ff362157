"""A ledger driven block by block, and the governance documents the tests sign.

Every body gets a fixed creation time and a nonce from a counter, so that runs are
deterministic; block times advance by one second a block unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from node_factories import PROPOSED_MS, new_ledger, proposal
from sdk_factories import CREATED_MS, NETWORK, identity, make_genesis, member_record
from tdx.node.state.ledger import Ledger
from tdx.sdk import (
    Identity,
    build,
    documents_pb2,
    key_rotation,
    ledger_pb2,
    propose_add_member,
    propose_remove_member,
    propose_update_member,
    seal,
    vote,
)

ACCEPTED = ledger_pb2.RESULT_STATUS_ACCEPTED
DAY_MS = 86_400_000


def new_identity(member_id: str, seed: int) -> Identity:
    """A fixed identity outside the genesis."""
    return Identity.from_seed(bytes([seed]) * 32, member_id)


def new_member(member_id: str, seed: int, roles: Sequence[str] = ("trader",),
               validator: bool = False) -> documents_pb2.MemberRecord:
    """A member record for a new member with a fixed key."""
    return documents_pb2.MemberRecord(
        id=member_id, name=f"Member {member_id}", country_code="NG", roles=list(roles),
        public_key=new_identity(member_id, seed).public_key, api_address="127.0.0.1:7300",
        validator=validator)


@dataclass
class Chain:
    """A Ledger over its own store, with helpers to sign and apply blocks."""

    ledger: Ledger
    now_ms: int = PROPOSED_MS
    _nonce: int = 1000
    _raft_index: int = 0
    blocks: list[bytes] = field(default_factory=list)

    @classmethod
    def new(cls, path: Path, genesis: ledger_pb2.Genesis | None = None) -> Chain:
        return cls(new_ledger(path, genesis or make_genesis()))

    def close(self) -> None:
        self.ledger.store.close()

    def seal(self, signer: Identity, body: documents_pb2.DocumentBody) -> documents_pb2.Envelope:
        """Sign ``body`` as ``signer`` with a fixed time and a fresh nonce."""
        self._nonce += 1
        body.issuer = body.issuer or signer.member_id
        body.created_ms = CREATED_MS
        body.nonce = self._nonce.to_bytes(16, "big")
        return seal(signer, body)

    def apply(self, *envelopes: documents_pb2.Envelope,
              at_ms: int | None = None) -> list[ledger_pb2.Result]:
        """Apply one block of ``envelopes``; return their results in order."""
        self.now_ms = at_ms if at_ms is not None else self.now_ms + 1000
        self._raft_index += 1
        data = proposal(list(envelopes), proposed_ms=self.now_ms)
        self.blocks.append(data)
        applied = self.ledger.apply(data, term=1, raft_index=self._raft_index)
        assert applied is not None
        return list(applied.block.results)

    def one(self, envelope: documents_pb2.Envelope, at_ms: int | None = None) -> (
            ledger_pb2.Result):
        """Apply a block of one envelope; return its result."""
        return self.apply(envelope, at_ms=at_ms)[0]

    # -- documents ------------------------------------------------------------------------

    def propose_add(self, member: documents_pb2.MemberRecord, by: str = "de-customs",
                    ttl_ms: int = DAY_MS) -> documents_pb2.Envelope:
        return self.seal(identity(by), propose_add_member(
            NETWORK, member, rationale="MRA signed", expires_ms=self.now_ms + ttl_ms))

    def propose_raw(self, member: documents_pb2.MemberRecord, by: str = "de-customs",
                    action: documents_pb2.ProposalAction.ValueType = (
                        documents_pb2.PROPOSAL_ACTION_ADD_MEMBER),
                    ttl_ms: int = DAY_MS) -> documents_pb2.Envelope:
        """A proposal built without the SDK's checks of the record, as a hostile member
        could write it with protobuf alone: the ledger's rules must refuse it."""
        content = documents_pb2.GovernanceProposal(action=action, member=member,
                                                   expires_ms=self.now_ms + ttl_ms)
        return self.seal(identity(by), build(NETWORK, "governance_proposal", content))

    def propose_update(self, member: documents_pb2.MemberRecord, by: str = "de-customs",
                       ttl_ms: int = DAY_MS) -> documents_pb2.Envelope:
        return self.seal(identity(by), propose_update_member(
            NETWORK, member, expires_ms=self.now_ms + ttl_ms))

    def propose_remove(self, member_id: str, by: str = "de-customs",
                       ttl_ms: int = DAY_MS) -> documents_pb2.Envelope:
        return self.seal(identity(by), propose_remove_member(
            NETWORK, member_id, expires_ms=self.now_ms + ttl_ms))

    def vote(self, proposal_envelope: documents_pb2.Envelope | str, by: str,
             approve: bool = True, signer: Identity | None = None) -> documents_pb2.Envelope:
        from tdx.sdk import document_id

        proposal_id = (proposal_envelope if isinstance(proposal_envelope, str)
                       else document_id(proposal_envelope.body))
        return self.seal(signer or identity(by), vote(NETWORK, proposal_id, approve))

    def rotation(self, old: Identity, new: Identity) -> documents_pb2.Envelope:
        return self.seal(old, key_rotation(NETWORK, old, new))

    def invoice(self, signer: Identity) -> documents_pb2.Envelope:
        """An invoice (any trader may sign one), to see which keys sign."""
        from sdk_factories import body_of

        return self.seal(signer, body_of("invoice", issuer=signer.member_id))

    def pass_proposal(self, proposal_envelope: documents_pb2.Envelope) -> ledger_pb2.Result:
        """Apply the proposal and two approvals (a majority of the three customs)."""
        assert self.one(proposal_envelope).status == ACCEPTED
        assert self.one(self.vote(proposal_envelope, "de-customs")).status == ACCEPTED
        return self.one(self.vote(proposal_envelope, "nl-customs"))


__all__ = ["ACCEPTED", "DAY_MS", "Chain", "identity", "member_record", "new_identity",
           "new_member"]
