"""Membership governance: proposals decided by a strict majority of the customs members in
force, every refusal with its recorded code, and determinism across nodes."""

from __future__ import annotations

from pathlib import Path

from gov_chain import ACCEPTED, DAY_MS, Chain, identity, new_identity, new_member
from sdk_factories import body_of, make_genesis, member_record
from tdx.node.state.store import Prefix
from tdx.node.state.workflows import governance
from tdx.sdk import document_id, documents_pb2, ledger_pb2
from tdx.v1 import governance_state_pb2 as gov_pb

REJECTED = ledger_pb2.RESULT_STATUS_REJECTED
SMALL_ORDER_KEY = bytes([1]) + bytes(31)  # the identity point: small order


def rejected(result: ledger_pb2.Result, code: str) -> None:
    assert (result.status, result.code) == (REJECTED, code), result


def state_of(chain: Chain, proposal: documents_pb2.Envelope) -> gov_pb.ProposalState:
    found = governance.load_proposal(chain.ledger.store, document_id(proposal.body))
    assert found is not None
    return found


# -- adding a member -------------------------------------------------------------------------

def test_a_member_is_added_by_a_majority_of_customs_in_the_block_of_the_deciding_vote(
        chain: Chain) -> None:
    ng = new_member("ng-customs", 40, roles=("customs",))
    proposal = chain.propose_add(ng)
    opened = chain.one(proposal)
    assert opened.status == ACCEPTED
    assert "needs 2 of 3 customs approvals" in opened.notices[0]
    first = chain.one(chain.vote(proposal, "de-customs"))
    assert first.status == ACCEPTED and "1 for, 0 against" in first.notices[0]
    assert chain.ledger.member("ng-customs") is None
    newcomer = new_identity("ng-customs", 40)
    # The deciding vote and a document by the newcomer in the same block: the newcomer's key
    # is valid only from the next block.
    deciding, early = chain.apply(chain.vote(proposal, "nl-customs"),
                                  chain.seal(newcomer, _aeo_body()))
    assert deciding.status == ACCEPTED
    assert "proposal approved (2 of 3 customs): member ng-customs added" in deciding.notices[0]
    rejected(early, "member.unknown")
    assert chain.ledger.member("ng-customs") == ng
    assert chain.one(chain.seal(newcomer, _aeo_body())).status == ACCEPTED
    state = state_of(chain, proposal)
    assert state.status == gov_pb.PROPOSAL_STATUS_APPROVED
    assert (state.decided_customs, state.decided_approvals) == (3, 2)
    assert [v.member_id for v in state.votes] == ["de-customs", "nl-customs"]
    # Now four customs members: three approvals are a majority.
    chain_next = chain.propose_add(new_member("gh-customs", 41, roles=("customs",)))
    assert "needs 3 of 4" in chain.one(chain_next).notices[0]


def _aeo_body() -> documents_pb2.DocumentBody:
    """A customs document with no issuer yet (Chain.seal fills it in)."""
    body = body_of("aeo_decision")
    body.ClearField("issuer")
    return body


def test_a_majority_of_rejections_rejects_the_proposal_and_later_votes_are_refused(
        chain: Chain) -> None:
    proposal = chain.propose_add(new_member("ng-customs", 40))
    chain.one(proposal)
    assert chain.one(chain.vote(proposal, "de-customs", approve=False)).status == ACCEPTED
    decided = chain.one(chain.vote(proposal, "nl-customs", approve=False))
    assert decided.status == ACCEPTED
    assert decided.notices == ["proposal rejected (2 of 3 customs against)"]
    state = state_of(chain, proposal)
    assert state.status == gov_pb.PROPOSAL_STATUS_REJECTED
    assert [(v.member_id, v.approve) for v in state.votes] == [("de-customs", False),
                                                               ("nl-customs", False)]
    rejected(chain.one(chain.vote(proposal, "fr-customs")), "gov.proposal_decided")
    assert chain.ledger.member("ng-customs") is None


def test_split_votes_stay_open_until_a_majority(chain: Chain) -> None:
    proposal = chain.propose_add(new_member("ng-customs", 40))
    chain.one(proposal)
    chain.one(chain.vote(proposal, "de-customs", approve=True))
    still_open = chain.one(chain.vote(proposal, "nl-customs", approve=False))
    assert "1 for, 1 against" in still_open.notices[0]
    decided = chain.one(chain.vote(proposal, "fr-customs", approve=True))
    assert "approved" in decided.notices[0]


# -- votes -----------------------------------------------------------------------------------

def test_votes_by_non_customs_are_refused(chain: Chain) -> None:
    proposal = chain.propose_add(new_member("ng-customs", 40))
    chain.one(proposal)
    rejected(chain.one(chain.vote(proposal, "acme-trader")), "role.forbidden")
    assert state_of(chain, proposal).votes == []


def test_a_second_vote_by_the_same_member_is_refused(chain: Chain) -> None:
    proposal = chain.propose_add(new_member("ng-customs", 40))
    chain.one(proposal)
    chain.one(chain.vote(proposal, "de-customs", approve=False))
    rejected(chain.one(chain.vote(proposal, "de-customs", approve=True)), "gov.vote_duplicate")
    # Also within one block.
    first, second = chain.apply(chain.vote(proposal, "nl-customs"),
                                chain.vote(proposal, "nl-customs", approve=False))
    assert first.status == ACCEPTED
    rejected(second, "gov.vote_duplicate")


def test_votes_on_unknown_and_expired_proposals_are_refused(chain: Chain) -> None:
    rejected(chain.one(chain.vote("ab" * 32, "de-customs")), "gov.proposal_unknown")
    proposal = chain.propose_add(new_member("ng-customs", 40), ttl_ms=5000)
    chain.one(proposal)
    expires = state_of(chain, proposal).expires_ms
    rejected(chain.one(chain.vote(proposal, "de-customs"), at_ms=expires), "gov.proposal_expired")
    assert governance.status_at(state_of(chain, proposal), expires) == (
        gov_pb.PROPOSAL_STATUS_EXPIRED)
    # Once expired, the member id is free for a new proposal.
    assert chain.one(chain.propose_add(new_member("ng-customs", 40))).status == ACCEPTED


def test_a_customs_member_whose_role_was_taken_away_no_longer_counts(chain: Chain) -> None:
    demoted = member_record("fr-customs")
    del demoted.roles[:]
    demoted.roles.append("observer")
    assert "approved" in chain.pass_proposal(chain.propose_update(demoted)).notices[0]
    proposal = chain.propose_add(new_member("ng-customs", 40))
    assert "needs 2 of 2" in chain.one(proposal).notices[0]
    rejected(chain.one(chain.vote(proposal, "fr-customs")), "role.forbidden")


# -- proposals -------------------------------------------------------------------------------

def test_proposal_expiry_must_lie_ahead_and_not_too_far(chain: Chain) -> None:
    rejected(chain.one(chain.propose_add(new_member("ng-customs", 40), ttl_ms=-1)),
             "gov.proposal_expired")
    rejected(chain.one(chain.propose_add(new_member("ng-customs", 40), ttl_ms=400 * DAY_MS)),
             "gov.expiry_too_far")


def test_one_open_proposal_per_member(chain: Chain) -> None:
    chain.one(chain.propose_add(new_member("ng-customs", 40)))
    rejected(chain.one(chain.propose_add(new_member("ng-customs", 40), by="nl-customs")),
             "gov.proposal_pending")


def test_proposals_must_apply_to_the_membership(chain: Chain) -> None:
    rejected(chain.one(chain.propose_add(member_record("acme-trader"))), "gov.member_exists")
    rejected(chain.one(chain.propose_update(new_member("nobody", 40))), "gov.member_unknown")
    rejected(chain.one(chain.propose_remove("nobody")), "gov.member_unknown")
    rejected(chain.one(chain.propose_update(member_record("acme-trader"))), "gov.no_change")


def test_new_keys_must_be_usable_unused_and_never_retired(chain: Chain) -> None:
    bad = new_member("ng-customs", 40)
    bad.public_key = SMALL_ORDER_KEY
    result = chain.one(chain.propose_raw(bad))
    rejected(result, "schema.invalid")
    assert "proposal.member.public_key" in result.reason
    taken = new_member("ng-customs", 40)
    taken.public_key = identity("acme-trader").public_key
    rejected(chain.one(chain.propose_add(taken)), "key.in_use")
    old = identity("atlantic")
    assert chain.one(chain.rotation(old, new_identity("atlantic", 50))).status == ACCEPTED
    reused = new_member("ng-customs", 40)
    reused.public_key = old.public_key
    rejected(chain.one(chain.propose_add(reused)), "key.retired")


def test_governance_keeps_a_customs_member_and_a_validator(tmp_path: Path) -> None:
    chain = Chain.new(tmp_path / "solo", make_genesis(("de-customs", "acme-trader")))
    try:
        rejected(chain.one(chain.propose_remove("de-customs")), "gov.no_customs_left")
        not_validating = member_record("de-customs")
        not_validating.validator = False
        rejected(chain.one(chain.propose_update(not_validating)), "gov.no_validators_left")
        # One customs member: its own approval is the majority.
        added = chain.propose_add(new_member("nl-customs", 2, roles=("customs",),
                                             validator=True))
        chain.one(added)
        assert "approved (1 of 1" in chain.one(chain.vote(added, "de-customs")).notices[0]
        assert [v.id for v in chain.ledger.validators] == ["de-customs", "nl-customs"]
    finally:
        chain.close()


def test_a_deciding_vote_is_refused_when_the_change_no_longer_applies(chain: Chain) -> None:
    first = chain.propose_add(new_member("ng-customs", 40))
    second = new_member("gh-customs", 41)
    second.public_key = new_identity("ng-customs", 40).public_key
    second_proposal = chain.propose_add(second)
    chain.apply(first, second_proposal)
    chain.one(chain.vote(first, "de-customs"))
    assert "approved" in chain.one(chain.vote(first, "nl-customs")).notices[0]
    assert chain.ledger.member("ng-customs") is not None
    chain.one(chain.vote(second_proposal, "de-customs"))
    rejected(chain.one(chain.vote(second_proposal, "nl-customs")), "key.in_use")
    assert state_of(chain, second_proposal).status == gov_pb.PROPOSAL_STATUS_OPEN
    assert [v.member_id for v in state_of(chain, second_proposal).votes] == ["de-customs"]


# -- changing and removing -------------------------------------------------------------------

def test_update_changes_roles_addresses_and_the_validator_flag(chain: Chain) -> None:
    chamber = member_record("de-chamber")
    chamber.roles.append("customs")
    chamber.validator = True
    chamber.api_address = "10.0.0.4:7400"
    chamber.peer_address = "10.0.0.4:7500"
    decided = chain.pass_proposal(chain.propose_update(chamber))
    assert "member de-chamber updated, in force from block" in decided.notices[0]
    assert chain.ledger.member("de-chamber") == chamber
    assert "de-chamber" in [v.id for v in chain.ledger.validators]


def test_update_can_replace_a_lost_key_and_keeps_the_old_one_in_history(chain: Chain) -> None:
    recovered = member_record("acme-trader")
    new_key = new_identity("acme-trader", 60)
    recovered.public_key = new_key.public_key
    chain.pass_proposal(chain.propose_update(recovered))
    assert chain.ledger.member_by_key(identity("acme-trader").public_key) is None
    assert chain.ledger.member_by_key(new_key.public_key) == recovered
    [retired] = governance.retired_keys(chain.ledger.store.scan(
        governance.key_history_prefix("acme-trader")))
    assert retired.public_key == identity("acme-trader").public_key
    assert retired.replaced_by == new_key.public_key


def test_removal_takes_effect_from_the_next_block(chain: Chain) -> None:
    proposal = chain.propose_remove("fr-customs", by="nl-customs")
    chain.one(proposal)
    chain.one(chain.vote(proposal, "de-customs"))
    deciding, same_block = chain.apply(chain.vote(proposal, "nl-customs"),
                                       chain.seal(identity("fr-customs"), _aeo_body()))
    assert "member fr-customs removed" in deciding.notices[0]
    assert same_block.status == ACCEPTED  # still a member through the deciding block
    assert chain.ledger.member("fr-customs") is None
    assert [v.id for v in chain.ledger.validators] == ["de-customs", "nl-customs"]
    rejected(chain.one(chain.propose_add(new_member("ng-customs", 40), by="fr-customs")),
             "member.unknown")
    assert chain.ledger.store.get(Prefix.KEY + identity("fr-customs").public_key) is None
    assert chain.ledger.store.get(
        governance.RETIRED_KEYS + identity("fr-customs").public_key) == b"fr-customs"


# -- determinism -----------------------------------------------------------------------------

def _state(chain: Chain) -> list[tuple[bytes, bytes]]:
    store = chain.ledger.store
    return [item for prefix in (Prefix.STATE, Prefix.MEMBER, Prefix.KEY, Prefix.BLOCK)
            for item in store.scan(prefix)]


def test_two_nodes_applying_the_same_blocks_reach_identical_state(tmp_path: Path) -> None:
    one = Chain.new(tmp_path / "one")
    two = Chain.new(tmp_path / "two")
    try:
        proposal = one.propose_add(new_member("ng-customs", 40, roles=("customs",)))
        one.pass_proposal(proposal)
        one.apply(one.rotation(identity("acme-trader"), new_identity("acme-trader", 61)),
                  one.invoice(identity("acme-trader")))
        removal = one.propose_remove("atlantic")
        one.apply(removal, one.vote(removal, "de-customs", approve=False))
        one.apply(one.vote(removal, "ng-customs", signer=new_identity("ng-customs", 40)),
                  one.vote(removal, "nl-customs"))
        for index, data in enumerate(one.blocks, start=1):
            header = ledger_pb2.BlockProposal.FromString(data)
            assert two.ledger.apply(data, term=1, raft_index=index) is not None, header
        assert one.ledger.last_hash == two.ledger.last_hash
        assert _state(one) == _state(two)
        assert one.ledger.members == two.ledger.members
    finally:
        one.close()
        two.close()
