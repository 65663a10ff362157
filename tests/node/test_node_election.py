"""Election proofs and the replay window: what a stolen validator key can no longer do."""

from __future__ import annotations

from tdx.consensus import MessageType, RaftMessage
from tdx.node.replication.election import ElectionProofs
from tdx.node.replication.replay import ReplayWindow
from tdx.sdk import Identity
from tdx.v1 import documents_pb2, peer_pb2

NETWORK = "tdx-test"
IDS = ("a", "b", "c")


def _members() -> tuple[dict[str, Identity], list[documents_pb2.MemberRecord]]:
    identities = {i: Identity.generate(i) for i in IDS}
    records = [documents_pb2.MemberRecord(id=i, public_key=identities[i].public_key,
                                          validator=True) for i in IDS]
    return identities, records


def _proofs(identity: Identity, records: list[documents_pb2.MemberRecord]) -> ElectionProofs:
    return ElectionProofs(identity, NETWORK, lambda: records, lambda: [list(IDS)])


def _vote(term: int, voter: str, candidate: str) -> RaftMessage:
    return RaftMessage(type=MessageType.VOTE_RESPONSE, to=candidate, from_=voter, term=term)


def _append(term: int, leader: str, to: str) -> RaftMessage:
    return RaftMessage(type=MessageType.APPEND, to=to, from_=leader, term=term)


def test_a_winner_proves_its_term_and_followers_accept_only_it() -> None:
    identities, records = _members()
    a, b, c = (_proofs(identities[i], records) for i in IDS)
    # b votes for a in term 5; its grant travels with the vote.
    grants = b.grants_for([_vote(5, "b", "a")])
    assert len(grants) == 1
    assert a.receive_grants(records[1], grants, current_term=5, granted=1) is None
    a.won(5)
    proof = a.proof_for([_append(5, "a", "c")])
    assert proof is not None and proof.term == 5 and len(proof.grants) == 2
    assert c.check("a", [_append(5, "a", "c")], 5, proof) is None
    # Once proven, later batches need no proof; anyone else is refused for that term.
    assert c.check("a", [_append(5, "a", "c")], 5, None) is None
    refused = c.check("b", [_append(5, "b", "c")], 5, None)
    assert refused is not None and "has not proven that it leads term 5" in refused


def test_a_single_key_cannot_prove_a_term_alone() -> None:
    """The fork attack: one validator's key sends same-term appends with its own vote."""
    identities, records = _members()
    b, c = _proofs(identities["b"], records), _proofs(identities["c"], records)
    b.won(7)  # b has only its own grant
    proof = b.proof_for([_append(7, "b", "c")])
    assert proof is not None
    refused = c.check("b", [_append(7, "b", "c")], 7, proof)
    assert refused is not None and "not a majority" in refused


def test_forged_or_misdirected_grants_are_refused() -> None:
    identities, records = _members()
    a, c = _proofs(identities["a"], records), _proofs(identities["c"], records)
    outsider = Identity.generate("b")  # claims to be b, with another key
    forged = _proofs(outsider, records).grants_for([_vote(3, "b", "a")])
    assert a.receive_grants(records[1], forged, current_term=3, granted=1) is not None
    proof = peer_pb2.ElectionProof(term=3, leader="a", grants=[
        *forged, *_proofs(identities["a"], records).grants_for([_vote(3, "a", "a")])])
    refused = c.check("a", [_append(3, "a", "c")], 3, proof)
    assert refused is not None and "not a majority" in refused
    # A real grant, but for another candidate, proves nothing for "a".
    other = _proofs(identities["b"], records).grants_for([_vote(3, "b", "c")])
    proof = peer_pb2.ElectionProof(term=3, leader="a", grants=other)
    refused = c.check("a", [_append(3, "a", "c")], 3, proof)
    assert refused is not None and "not a majority" in refused


def test_a_second_leader_for_a_proven_term_is_refused() -> None:
    """A validator that signs two votes in one term cannot get two leaders accepted."""
    identities, records = _members()
    signers = {i: _proofs(identities[i], records) for i in IDS}
    c = _proofs(identities["c"], records)

    def proof(leader: str, voters: tuple[str, ...]) -> peer_pb2.ElectionProof:
        grants = [g for v in voters for g in signers[v].grants_for([_vote(9, v, leader)])]
        return peer_pb2.ElectionProof(term=9, leader=leader, grants=grants)

    assert c.check("a", [_append(9, "a", "c")], 9, proof("a", ("a", "b"))) is None
    refused = c.check("b", [_append(9, "b", "c")], 9, proof("b", ("b", "a")))
    assert refused is not None and "already has a proven leader" in refused


def test_stale_terms_pass_and_grants_for_made_up_terms_are_not_kept() -> None:
    identities, records = _members()
    a, c = _proofs(identities["a"], records), _proofs(identities["c"], records)
    # A deposed leader's append for an old term is the core's to answer.
    assert c.check("b", [_append(2, "b", "c")], 4, None) is None
    b = _proofs(identities["b"], records)
    far = b.grants_for([_vote(t, "b", "a") for t in range(100, 130)])
    assert a.receive_grants(records[1], far, current_term=5, granted=30) is None
    real = b.grants_for([_vote(5, "b", "a")])
    assert a.receive_grants(records[1], real, current_term=5, granted=1) is None
    a.won(5)
    proof = a.proof_for([_append(5, "a", "c")])
    assert proof is not None and c.check("a", [_append(5, "a", "c")], 5, proof) is None


def test_replay_window_refuses_replays_and_survives_a_huge_sequence() -> None:
    window = ReplayWindow(started_ms=1_000, skew_ms=100)
    assert window.refusal("x", 1_050, 7, now_ms=1_060) is None
    window.remember("x", 1_050, 7)
    assert window.refusal("x", 1_050, 7, now_ms=1_060) == "batch sequence was seen before (replay)"
    # A batch with an enormous sequence number does not shut the sender out.
    window.remember("x", 1_055, 2**63 - 1)
    assert window.refusal("x", 1_056, 8, now_ms=1_060) is None
    assert window.refusal("x", 900, 9, now_ms=1_060) is not None  # before this node started
    assert window.refusal("x", 1_300, 9, now_ms=1_060) is not None  # too far ahead
    # Entries leave the window with time, so memory stays bounded.
    assert window.refusal("x", 1_250, 10, now_ms=1_260) is None
    assert len(window._seen["x"].sequences) == 0


def test_replay_window_bounded_per_sender() -> None:
    window = ReplayWindow(started_ms=0, skew_ms=10_000, max_per_sender=3)
    for sequence in range(5):
        window.remember("x", 100 + sequence, sequence)
    assert len(window._seen["x"].sequences) == 3
    # What was dropped raised the floor: nothing as old as it is taken again.
    assert window.refusal("x", 101, 1, now_ms=200) is not None
    assert window.refusal("x", 150, 99, now_ms=200) is None


def test_grant_floods_are_refused_before_any_signature_is_checked() -> None:
    """One key cannot make a node verify thousands of signatures: a batch carries at most
    one grant per vote it grants, and a proof at most one grant per validator."""
    identities, records = _members()
    a, c = _proofs(identities["a"], records), _proofs(identities["c"], records)
    b = _proofs(identities["b"], records)
    flood = b.grants_for([_vote(5, "b", "a")]) * 1000
    refused = a.receive_grants(records[1], flood, current_term=5, granted=1)
    assert refused is not None and "1000 vote grants for 1 granted" in refused
    proof = peer_pb2.ElectionProof(term=5, leader="b", grants=flood)
    refused = c.check("b", [_append(5, "b", "c")], 5, proof)
    assert refused is not None and "1000 grants for 3 validators" in refused


def test_a_grant_this_node_cannot_check_does_not_spoil_a_majority() -> None:
    """A follower that trails a membership change (it does not know a newer validator's
    key) still follows a leader whose verified votes are a majority."""
    identities, records = _members()
    a, c = _proofs(identities["a"], records), _proofs(identities["c"], records)
    newcomer = Identity.generate("d")
    unknown = _proofs(newcomer, records).grants_for([_vote(6, "d", "a")])
    known = _proofs(identities["b"], records).grants_for([_vote(6, "b", "a")])
    own = a.grants_for([_vote(6, "a", "a")])
    proof = peer_pb2.ElectionProof(term=6, leader="a", grants=[*unknown, *known, *own])
    assert c.check("a", [_append(6, "a", "c")], 6, proof) is None
