"""Election proofs: a leader shows the signed votes that elected it before anyone follows it.

Raft trusts that only the winner of a term sends appends for it. Between administrations
that do not fully trust each other that is not enough: any one validator's key could send
a same-term append with a commit index and fork a follower. So votes are signed:

- A validator that grants its vote in term T to candidate C signs ``VoteGrantBody(network,
  T, C, itself)`` (``VOTE_DOMAIN``) and sends the grant with its vote response.
- A candidate that wins keeps the grants it received, adds its own, and sends the set as an
  ``ElectionProof`` with every batch that carries its leader messages.
- A receiver accepts appends, heartbeats, snapshots and timeout-now of a term (at or above its
  own) only from the member it has seen proven leader of that term: grants that verify,
  for that term and candidate, from distinct validators forming a majority of a voter set
  this node itself believes in (its Raft configuration, or the ledger's validators when the
  configuration lags a governance change). An honest validator grants one vote per term
  (its vote is persisted before it is sent), so two proofs for one term need a validator
  that signed twice.

What this does not stop, a leader whose own key is stolen, is in docs/DESIGN.md ("What a
compromised validator can do").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tdx.consensus import MessageType, RaftMessage
from tdx.sdk import VOTE_DOMAIN, Identity, quorum
from tdx.sdk import verify_signature as verify
from tdx.v1 import documents_pb2, peer_pb2

log = logging.getLogger("tdx.node.replication.election")

LEADER_MESSAGES = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT,
                             MessageType.TIMEOUT_NOW})
"""Messages only the leader of their term sends."""

KEEP_TERMS = 16
"""How many terms of proven leaders are remembered."""

Validators = Callable[[], list[documents_pb2.MemberRecord]]
VoterSets = Callable[[], Iterable[Iterable[str]]]


@dataclass
class ElectionProofs:
    """Signs this node's votes, gathers the grants it wins, and checks others' proofs.

    ``validators`` lists the members whose keys may sign grants; ``voter_sets`` the voter
    sets this node believes in (a proof must hold a majority of one of them).
    """

    identity: Identity
    network: str
    validators: Validators
    voter_sets: VoterSets
    _leaders: dict[int, str] = field(default_factory=dict)
    _grants: dict[int, dict[str, peer_pb2.VoteGrant]] = field(default_factory=dict)
    _own: peer_pb2.ElectionProof | None = None

    # -- as a voter -----------------------------------------------------------------------

    def grants_for(self, messages: Iterable[RaftMessage]) -> list[peer_pb2.VoteGrant]:
        """Signed grants for the votes this node gives in ``messages``."""
        return [self._sign(m.term, m.to) for m in messages
                if m.type is MessageType.VOTE_RESPONSE and not m.reject]

    def _sign(self, term: int, candidate: str) -> peer_pb2.VoteGrant:
        body = peer_pb2.VoteGrantBody(network=self.network, term=term, candidate=candidate,
                                      voter=self.identity.member_id).SerializeToString()
        return peer_pb2.VoteGrant(body=body, signature=self.identity.sign(VOTE_DOMAIN, body))

    # -- as a candidate and leader --------------------------------------------------------

    def receive_grants(self, sender: documents_pb2.MemberRecord,
                       grants: Sequence[peer_pb2.VoteGrant], current_term: int,
                       granted: int) -> str | None:
        """Keep ``sender``'s grants to this node; the reason if one is not the sender's own.

        A batch carries at most one grant per vote it grants (``granted``), so a peer cannot
        make this node check thousands of signatures. Only grants for the term this node
        campaigns in (or the next) are kept, so a peer cannot crowd out the real ones with
        grants for made-up terms.
        """
        if len(grants) > granted:
            return (f"the batch carries {len(grants)} vote grants for {granted} granted "
                    "votes")
        for grant in grants:
            body = self._checked(grant, {sender.id: sender})
            if body is None or body.voter != sender.id:
                return f"a vote grant in the batch is not signed by its sender {sender.id}"
            if body.candidate == self.identity.member_id and (
                    current_term <= body.term <= current_term + 1):
                self._grants.setdefault(body.term, {})[body.voter] = grant
        for term in [t for t in self._grants if t < current_term]:
            del self._grants[term]
        return None

    def won(self, term: int) -> None:
        """This node became leader of ``term``: build the proof it sends with its messages."""
        grants = dict(self._grants.get(term, {}))
        grants[self.identity.member_id] = self._sign(term, self.identity.member_id)
        self._own = peer_pb2.ElectionProof(term=term, leader=self.identity.member_id,
                                           grants=list(grants.values()))
        self._leaders[term] = self.identity.member_id
        if not self._has_quorum(set(grants)):
            log.warning("leader of term %d without a quorum of signed votes (%s); followers "
                        "will refuse it until the next election", term, sorted(grants))

    def proof_for(self, messages: Iterable[RaftMessage]) -> peer_pb2.ElectionProof | None:
        """The proof to send with ``messages`` if any of them is this leader's."""
        own = self._own
        if own is None:
            return None
        if any(m.type in LEADER_MESSAGES and m.term == own.term for m in messages):
            return own
        return None

    # -- as a follower --------------------------------------------------------------------

    def check(self, sender: str, messages: Iterable[RaftMessage], current_term: int,
              proof: peer_pb2.ElectionProof | None) -> str | None:
        """Why the leader messages among ``messages`` must be refused, or None.

        A message of a term below ``current_term`` is let through: the core answers it with
        the newer term and changes nothing.
        """
        known = self._leaders.get(proof.term) if proof is not None else None
        if proof is not None and known != proof.leader:
            if known is not None:
                log.critical("two proven leaders of term %d: %s and %s (a validator signed "
                             "two votes in one term)", proof.term, known, proof.leader)
                return f"term {proof.term} already has a proven leader, {known}"
            reason = self._verify(proof)
            if reason is not None:
                return f"election proof for term {proof.term} refused: {reason}"
            self._leaders[proof.term] = proof.leader
            for term in sorted(self._leaders)[:-KEEP_TERMS]:
                del self._leaders[term]
        for message in messages:
            if message.type not in LEADER_MESSAGES or message.term < current_term:
                continue
            if self._leaders.get(message.term) != sender:
                return (f"{sender} has not proven that it leads term {message.term} "
                        f"({message.type.name} refused)")
        return None

    def _verify(self, proof: peer_pb2.ElectionProof) -> str | None:
        """Count the grants that verify, for this term and leader, one per validator.

        A grant this node cannot check (from a validator it does not know yet, or under a
        key it has not seen rotate) is passed over rather than spoiling the proof, so a
        follower that trails a membership change can still follow a leader whose verified
        votes are a majority. A proof with more grants than there are validators is refused
        before any signature is checked.
        """
        members = {v.id: v for v in self.validators()}
        if len(proof.grants) > len(members):
            return f"{len(proof.grants)} grants for {len(members)} validators"
        voters: set[str] = set()
        for grant in proof.grants:
            body = self._checked(grant, members)
            if body is None or body.voter in voters:
                continue
            if body.term == proof.term and body.candidate == proof.leader:
                voters.add(body.voter)
        if not self._has_quorum(voters):
            return (f"the votes that verify, from {sorted(voters)}, are not a majority of "
                    "the voters")
        return None

    def _has_quorum(self, voters: set[str]) -> bool:
        for voter_set in self.voter_sets():
            members = set(voter_set)
            if members and len(voters & members) >= quorum(len(members)):
                return True
        return False

    def _checked(self, grant: peer_pb2.VoteGrant,
                 members: dict[str, documents_pb2.MemberRecord]
                 ) -> peer_pb2.VoteGrantBody | None:
        body = peer_pb2.VoteGrantBody()
        try:
            body.ParseFromString(grant.body)
        except Exception:  # any undecodable grant is simply invalid
            return None
        member = members.get(body.voter)
        if member is None or body.network != self.network or not verify(
                bytes(member.public_key), VOTE_DOMAIN, bytes(grant.body),
                bytes(grant.signature)):
            return None
        return body
