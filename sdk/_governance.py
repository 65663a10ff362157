"""Governance documents: proposals to add, change or remove a member (votes: ``vote``).

A proposal takes effect when more than half of the customs members in force approve it
with ``vote`` documents before it expires; the rotation of one's own key needs no vote
(``key_rotation``). The builders check the member record as the ledger will (ids, name,
country, roles, key, addresses) and raise SchemaError naming the field; the node also
parses the libp2p address, which the SDK checks only for its form.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from tdx.v1 import documents_pb2 as pb

from ._documents import build
from ._members import check_member_record, check_proposal_member

DEFAULT_PROPOSAL_TTL_MS = 7 * 24 * 3600 * 1000


def member_record(member_id: str, name: str, country_code: str, roles: Iterable[str],
                  public_key: bytes, *, api_address: str = "", peer_address: str = "",
                  p2p_address: str = "", validator: bool = False) -> pb.MemberRecord:
    """A member record, as a genesis entry or a proposal carries it; raises SchemaError
    naming the first field that breaks the rules of member records."""
    record = pb.MemberRecord(id=member_id, name=name, country_code=country_code,
                             roles=list(roles), public_key=public_key, api_address=api_address,
                             peer_address=peer_address, p2p_address=p2p_address,
                             validator=validator)
    check_member_record("member", record)
    return record


def _proposal(network: str, action: pb.ProposalAction.ValueType, member: pb.MemberRecord,
              rationale: str, expires_ms: int | None) -> pb.DocumentBody:
    check_proposal_member(action, member)
    if expires_ms is None:
        expires_ms = int(time.time() * 1000) + DEFAULT_PROPOSAL_TTL_MS
    return build(network, "governance_proposal", pb.GovernanceProposal(
        action=action, member=member, rationale=rationale, expires_ms=expires_ms))


def propose_add_member(network: str, member: pb.MemberRecord, *, rationale: str = "",
                       expires_ms: int | None = None) -> pb.DocumentBody:
    """A proposal to admit ``member`` (expires in 7 days unless ``expires_ms`` is given)."""
    return _proposal(network, pb.PROPOSAL_ACTION_ADD_MEMBER, member, rationale, expires_ms)


def propose_update_member(network: str, member: pb.MemberRecord, *, rationale: str = "",
                          expires_ms: int | None = None) -> pb.DocumentBody:
    """A proposal to replace the record of member ``member.id`` with ``member``.

    The record is the whole new record: roles, key, addresses and validator flag.
    """
    return _proposal(network, pb.PROPOSAL_ACTION_UPDATE_MEMBER, member, rationale, expires_ms)


def propose_remove_member(network: str, member_id: str, *, rationale: str = "",
                          expires_ms: int | None = None) -> pb.DocumentBody:
    """A proposal to remove member ``member_id``."""
    return _proposal(network, pb.PROPOSAL_ACTION_REMOVE_MEMBER,
                     pb.MemberRecord(id=member_id), rationale, expires_ms)
