"""Governance: membership proposals decided by customs majority, and key rotation.

Rules (each refusal's code in brackets):

- A ``governance_proposal`` (customs only, by the role table) opens a proposal to add,
  update or remove a member. Its expiry must lie ahead of the block's time
  [gov.proposal_expired] and within ``MAX_PROPOSAL_MS`` [gov.expiry_too_far]; one open
  proposal per member id at a time [gov.proposal_pending]. The change must make sense now:
  adding an existing id [gov.member_exists], changing or removing an unknown one
  [gov.member_unknown], an update that changes nothing [gov.no_change], leaving the
  network without a customs member or a validator [gov.no_customs_left,
  gov.no_validators_left], and for a new key: small-order or non-canonical
  [key.unacceptable], another member's [key.in_use] or a retired key [key.retired].
- A ``governance_vote`` by a customs member in force approves or rejects an open proposal:
  unknown [gov.proposal_unknown], already decided [gov.proposal_decided], expired
  [gov.proposal_expired], a second vote by the same member [gov.vote_duplicate], a voter
  that is not a customs member in force [gov.not_customs]. When the approvals of customs
  members in force are more than half of them, the proposal takes effect in the block of
  that vote (its change is checked again first, and the vote is refused with the change's
  code if it no longer applies). When the rejections are half or more, it can no longer
  pass: it is recorded as rejected.
- A ``key_rotation`` (any member, signed by its current key) replaces the issuer's key.
  The new key signs ``KEY_ROTATION_DOMAIN || member id || 0 || old key``
  [key.proof_invalid]; it must be acceptable, unused and never retired (codes as above) and
  differ from the old one [key.unchanged]; a member whose key was already replaced or who
  was removed earlier in the same block cannot rotate again in it [key.superseded,
  key.member_removed].

Membership written here takes effect from the next block (``Ledger.reload_members``), so a
new key signs from the block after the one that records it, and the old key signs through
that block: no outage. Every replaced key is kept (``RetiredKey``) so that documents it
signed stay attributable, and is never accepted for new documents again.

State::

    state/gov/p/<proposal id, 32 bytes>        ProposalState
    state/gov/m/<member id>                    id of the latest proposal concerning it
    state/keyhist/<member id>\\0<height><key>   RetiredKey
    state/keyret/<public key>                  member id that held it
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from tdx.node.state.effects import Effect
from tdx.node.state.rules import Refusal
from tdx.node.state.store import Prefix, u64
from tdx.sdk import documents_pb2, is_acceptable_public_key, verify_signature
from tdx.sdk._crypto import KEY_ROTATION_DOMAIN
from tdx.v1 import governance_state_pb2 as gov_pb

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

PROPOSALS = Prefix.STATE + b"gov/p/"
BY_MEMBER = Prefix.STATE + b"gov/m/"
KEY_HISTORY = Prefix.STATE + b"keyhist/"
RETIRED_KEYS = Prefix.STATE + b"keyret/"
MAX_PROPOSAL_MS = 90 * 24 * 3600 * 1000

ADD = documents_pb2.PROPOSAL_ACTION_ADD_MEMBER
UPDATE = documents_pb2.PROPOSAL_ACTION_UPDATE_MEMBER
REMOVE = documents_pb2.PROPOSAL_ACTION_REMOVE_MEMBER
OPEN = gov_pb.PROPOSAL_STATUS_OPEN
APPROVED = gov_pb.PROPOSAL_STATUS_APPROVED
REJECTED = gov_pb.PROPOSAL_STATUS_REJECTED
EXPIRED = gov_pb.PROPOSAL_STATUS_EXPIRED
_ACTION_WORDS = {ADD: "add", UPDATE: "update", REMOVE: "remove"}


class StateReader(Protocol):
    """Reads of state: a ``WriteBatch`` during apply, the ``Store`` afterwards."""

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or None."""
        ...


def _refuse(code: str, message: str) -> Refusal:
    status = "PERMISSION_DENIED" if code == "gov.not_customs" else "FAILED_PRECONDITION"
    return Refusal(status, code, message)


def proposal_key(proposal_id: str) -> bytes:
    """The state key of a proposal (``proposal_id`` is 64 hex digits)."""
    return PROPOSALS + bytes.fromhex(proposal_id)


def load_proposal(state: StateReader, proposal_id: str) -> gov_pb.ProposalState | None:
    """The stored state of a proposal, or None."""
    try:
        raw = state.get(proposal_key(proposal_id))
    except ValueError:
        return None
    return None if raw is None else gov_pb.ProposalState.FromString(raw)


def status_at(proposal: gov_pb.ProposalState, now_ms: int) -> int:
    """A proposal's status as of ``now_ms``: an open proposal past its expiry is EXPIRED."""
    if proposal.status == OPEN and now_ms >= proposal.expires_ms:
        return EXPIRED
    return proposal.status


def is_customs(member: documents_pb2.MemberRecord | None) -> bool:
    """Whether ``member`` holds the customs role."""
    return member is not None and "customs" in member.roles


def customs_ids(members: Mapping[str, documents_pb2.MemberRecord]) -> list[str]:
    """The customs members among ``members``, in id order."""
    return sorted(m for m, record in members.items() if is_customs(record))


def retired_keys(scan: Iterator[tuple[bytes, bytes]]) -> list[gov_pb.RetiredKey]:
    """Decode a scan of ``KEY_HISTORY + member id + b"\\0"``, oldest first."""
    return [gov_pb.RetiredKey.FromString(value) for _, value in scan]


def key_history_prefix(member_id: str) -> bytes:
    """The scan prefix of one member's retired keys."""
    return KEY_HISTORY + member_id.encode() + b"\x00"


# -- checks shared by proposals and votes ----------------------------------------------------

def _member(state: StateReader, member_id: str) -> documents_pb2.MemberRecord | None:
    raw = state.get(Prefix.MEMBER + member_id.encode())
    return None if raw is None else documents_pb2.MemberRecord.FromString(raw)


def check_new_key(state: StateReader, public_key: bytes, member_id: str) -> None:
    """Refuse a key that a member may not take: unusable, someone's, or retired."""
    if not is_acceptable_public_key(public_key):
        raise _refuse("key.unacceptable", f"the new key of {member_id!r} is small-order or "
                                          "not canonical; generate another")
    holder = state.get(Prefix.KEY + public_key)
    if holder is not None:
        raise _refuse("key.in_use", f"the new key of {member_id!r} is member "
                                    f"{holder.decode()!r}'s key")
    retired = state.get(RETIRED_KEYS + public_key)
    if retired is not None:
        raise _refuse("key.retired", f"the new key of {member_id!r} was retired by member "
                                     f"{retired.decode()!r}; keys are never reused")


def _check_change(context: ApplyContext, action: int,
                  record: documents_pb2.MemberRecord) -> None:
    """Refuse a membership change that does not apply to the state at this point."""
    state = context.batch
    current = _member(state, record.id)
    if action == ADD:
        if current is not None:
            raise _refuse("gov.member_exists", f"member {record.id!r} already exists")
        check_new_key(state, bytes(record.public_key), record.id)
        return
    if current is None:
        raise _refuse("gov.member_unknown", f"there is no member {record.id!r}")
    if action == UPDATE:
        if current.SerializeToString(deterministic=True) == record.SerializeToString(
                deterministic=True):
            raise _refuse("gov.no_change", f"the proposal does not change member {record.id!r}")
        if bytes(record.public_key) != bytes(current.public_key):
            check_new_key(state, bytes(record.public_key), record.id)
    # After the change, someone must still be able to govern and to validate. Members in
    # force are read through the batch, so changes decided earlier in this block count.
    after: dict[str, documents_pb2.MemberRecord] = {}
    for member_id in sorted(context.members):
        now = _member(state, member_id)
        if now is not None:
            after[member_id] = now
    if action == REMOVE:
        after.pop(record.id, None)
    else:
        after[record.id] = record
    if not customs_ids(after):
        raise _refuse("gov.no_customs_left", f"the change to {record.id!r} would leave no "
                                             "customs member")
    if not any(m.validator for m in after.values()):
        raise _refuse("gov.no_validators_left", f"the change to {record.id!r} would leave "
                                                "no validator")


def _retire(context: ApplyContext, member_id: str, old_key: bytes, new_key: bytes) -> None:
    history = gov_pb.RetiredKey(member_id=member_id, public_key=old_key,
                                retired_height=context.height,
                                document_id=context.document_id, replaced_by=new_key)
    context.batch.put(key_history_prefix(member_id) + u64(context.height) + old_key,
                      history.SerializeToString(deterministic=True))
    context.batch.put(RETIRED_KEYS + old_key, member_id.encode())
    context.batch.delete(Prefix.KEY + old_key)


def _enact(context: ApplyContext, action: int, record: documents_pb2.MemberRecord) -> str:
    """Write the membership change; return a few words saying what changed."""
    batch = context.batch
    member_key = Prefix.MEMBER + record.id.encode()
    current = _member(batch, record.id)
    if action == REMOVE:
        assert current is not None
        _retire(context, record.id, bytes(current.public_key), b"")
        batch.delete(member_key)
        words = f"member {record.id} removed"
    else:
        new_key = bytes(record.public_key)
        if current is not None and bytes(current.public_key) != new_key:
            _retire(context, record.id, bytes(current.public_key), new_key)
        batch.put(member_key, record.SerializeToString(deterministic=True))
        batch.put(Prefix.KEY + new_key, record.id.encode())
        words = f"member {record.id} {'added' if action == ADD else 'updated'}"
    context.membership_changed = True
    return f"{words}, in force from block {context.height + 1}"


# -- effects --------------------------------------------------------------------------------

def propose(context: ApplyContext) -> None:
    """Open a governance proposal."""
    body = context.checked.body
    proposal = body.proposal
    now = context.proposed_ms
    if proposal.expires_ms <= now:
        raise _refuse("gov.proposal_expired", "the proposal expires before this block")
    if proposal.expires_ms > now + MAX_PROPOSAL_MS:
        raise _refuse("gov.expiry_too_far", f"a proposal expires within "
                                            f"{MAX_PROPOSAL_MS // 86_400_000} days")
    member_id = proposal.member.id
    pending_raw = context.batch.get(BY_MEMBER + member_id.encode())
    if pending_raw is not None:
        pending = load_proposal(context.batch, pending_raw.hex())
        if pending is not None and status_at(pending, now) == OPEN:
            raise _refuse("gov.proposal_pending", f"proposal {pending.proposal_id} about "
                                                  f"member {member_id!r} is still open")
    record = proposal.member
    if proposal.action == REMOVE:
        record = documents_pb2.MemberRecord(id=member_id)
    _check_change(context, proposal.action, record)
    state = gov_pb.ProposalState(
        proposal_id=context.document_id, proposer=body.issuer, action=proposal.action,
        member=record, rationale=proposal.rationale, expires_ms=proposal.expires_ms,
        proposed_height=context.height, status=OPEN)
    context.batch.put(proposal_key(context.document_id),
                      state.SerializeToString(deterministic=True))
    context.batch.put(BY_MEMBER + member_id.encode(), bytes.fromhex(context.document_id))
    customs = len(customs_ids(context.members))
    context.notices.append(
        f"proposal to {_ACTION_WORDS[proposal.action]} member {member_id} opened; "
        f"it needs {customs // 2 + 1} of {customs} customs approvals")


def cast_vote(context: ApplyContext) -> None:
    """Record a customs member's vote; decide the proposal when the vote settles it."""
    body = context.checked.body
    ballot = body.vote
    state = load_proposal(context.batch, ballot.proposal_id)
    if state is None:
        raise _refuse("gov.proposal_unknown", f"there is no proposal {ballot.proposal_id}")
    if state.status != OPEN:
        word = "approved" if state.status == APPROVED else "rejected"
        raise _refuse("gov.proposal_decided", f"the proposal was already {word} in block "
                                              f"{state.decided_height}")
    if status_at(state, context.proposed_ms) == EXPIRED:
        raise _refuse("gov.proposal_expired", "the proposal expired before this block")
    voter = body.issuer
    if not is_customs(context.members.get(voter)):
        raise _refuse("gov.not_customs", f"member {voter!r} is not a customs member; only "
                                         "customs members vote")
    if any(v.member_id == voter for v in state.votes):
        raise _refuse("gov.vote_duplicate", f"member {voter!r} already voted on this proposal")
    state.votes.append(gov_pb.VoteRecord(member_id=voter, approve=ballot.approve,
                                         vote_id=context.document_id, height=context.height,
                                         comment=ballot.comment))
    customs = set(customs_ids(context.members))
    approvals = sum(1 for v in state.votes if v.approve and v.member_id in customs)
    rejections = sum(1 for v in state.votes if not v.approve and v.member_id in customs)
    total = len(customs)
    if approvals * 2 > total:
        _check_change(context, state.action, state.member)
        done = _enact(context, state.action, state.member)
        _decide(context, state, APPROVED, total, approvals)
        context.notices.append(f"proposal approved ({approvals} of {total} customs): {done}")
    elif rejections * 2 >= total:
        _decide(context, state, REJECTED, total, approvals)
        context.notices.append(f"proposal rejected ({rejections} of {total} customs against)")
    else:
        context.notices.append(f"vote recorded: {approvals} for, {rejections} against, "
                               f"{total // 2 + 1} of {total} customs approvals needed")
    context.batch.put(proposal_key(state.proposal_id), state.SerializeToString(
        deterministic=True))


def _decide(context: ApplyContext, state: gov_pb.ProposalState, status: int, customs: int,
            approvals: int) -> None:
    state.status = status  # type: ignore[assignment]
    state.decided_height = context.height
    state.decided_customs = customs
    state.decided_approvals = approvals


def rotate_key(context: ApplyContext) -> None:
    """Replace the issuer's key with the one its rotation document carries."""
    body = context.checked.body
    rotation = body.key_rotation
    member_id = body.issuer
    old_key = bytes(context.checked.member.public_key)
    new_key = bytes(rotation.new_public_key)
    current = _member(context.batch, member_id)
    if current is None:
        raise _refuse("key.member_removed", f"member {member_id!r} was removed in this block")
    if bytes(current.public_key) != old_key:
        raise _refuse("key.superseded", f"the key of {member_id!r} was already replaced in "
                                        "this block")
    if new_key == old_key:
        raise _refuse("key.unchanged", "the new key is the current key")
    if not is_acceptable_public_key(new_key):
        check_new_key(context.batch, new_key, member_id)
    proof = member_id.encode() + b"\x00" + old_key
    if not verify_signature(new_key, KEY_ROTATION_DOMAIN, proof,
                            bytes(rotation.new_key_signature)):
        raise _refuse("key.proof_invalid", "new_key_signature is not the new key's signature "
                                           "over the member id and the old key")
    check_new_key(context.batch, new_key, member_id)
    _retire(context, member_id, old_key, new_key)
    updated = documents_pb2.MemberRecord()
    updated.CopyFrom(current)
    updated.public_key = new_key
    context.batch.put(Prefix.MEMBER + member_id.encode(),
                      updated.SerializeToString(deterministic=True))
    context.batch.put(Prefix.KEY + new_key, member_id.encode())
    context.membership_changed = True
    notice = (f"key of {member_id} rotated: the new key signs from block {context.height + 1}, "
              f"the old key through block {context.height}")
    if current.validator:
        notice += "; restart the validator's node with the new key"
    context.notices.append(notice)


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS["governance_proposal"] = propose
EFFECTS["governance_vote"] = cast_vote
EFFECTS["key_rotation"] = rotate_key
