"""The Raft driver's seams, as small interfaces (hashicorp/raft's FSM and Transport).

- ``StateMachine``: the application the driver replicates, as the driver (with its
  certifier and snapshots) uses it. ``state.ledger.Ledger`` is one; the driver knows no
  more of it than this.
- ``Transport``: the signed link to the other validators, as the driver uses it
  (``transport.PeerTransport`` is one).
- ``Inbox``: the driver, as the transport uses it: where checked peer traffic goes, and
  who may send it. The transport is built first and knows no driver; the driver, given
  the transport, attaches itself as its inbox (``Transport.attach``).
"""

from __future__ import annotations

from typing import Protocol

from tdx.consensus import RaftMessage
from tdx.node.state.ledger import AppliedBlock, Signer
from tdx.sdk import Certification, ledger_pb2
from tdx.v1 import documents_pb2

Signature = tuple[int, ledger_pb2.BlockSignature]
"""A validator's signature of the block at a height, as peers exchange them."""


class StateMachine(Protocol):
    """The replicated application: deterministic, applied in log order, durable per block.

    ``apply`` and ``replay`` run in the driver's I/O thread, one at a time; the reads run on
    the event loop and see the state as of the last block applied. Entries at or below
    ``applied_index`` were applied already and are ignored on replay after a crash.
    """

    @property
    def height(self) -> int:
        """Height of the last applied block."""
        ...

    @property
    def last_hash(self) -> bytes:
        """Hash of the last applied block (the genesis hash before the first)."""
        ...

    @property
    def applied_index(self) -> int:
        """Raft index of the last applied entry."""
        ...

    @property
    def validators(self) -> list[documents_pb2.MemberRecord]:
        """The validators governance decided, in id order, as of the last block."""
        ...

    def member(self, member_id: str) -> documents_pb2.MemberRecord | None:
        """The current member with this id, or None."""
        ...

    def block(self, height: int) -> ledger_pb2.Block | None:
        """The stored block at ``height``, or None."""
        ...

    def apply(self, data: bytes, term: int, raft_index: int,
              sign: Signer | None = None) -> AppliedBlock | None:
        """Apply one committed entry (a block proposal, or None for a no-op) durably."""
        ...

    def replay(self, block: ledger_pb2.Block, sign: Signer | None = None) -> AppliedBlock:
        """Re-execute a certified block fetched from a peer; raise ``LedgerMismatch``,
        writing nothing, unless it follows this ledger and comes out with its hash."""
        ...

    def mark_applied(self, raft_index: int) -> None:
        """Record that an entry without a block (no-op, conf change) was applied."""
        ...

    def add_signatures(self, height: int,
                       signatures: list[ledger_pb2.BlockSignature]) -> Certification:
        """Keep the valid validator signatures of block ``height``; return how it stands."""
        ...


class Inbox(Protocol):
    """What the peer transport needs of the Raft driver."""

    def deliver(self, sender: str, messages: list[RaftMessage],
                signatures: list[Signature]) -> str | None:
        """Take a checked batch from validator ``sender``; say why a message was refused."""
        ...

    def peer_validators(self) -> list[documents_pb2.MemberRecord]:
        """The members that may speak the peer protocol with this node now."""
        ...

    def voter_sets(self) -> list[list[str]]:
        """The voter sets this node believes in (a leader's election proof needs a
        majority of one of them)."""
        ...

    def term(self) -> int:
        """This node's current Raft term."""
        ...

    def report_unreachable(self, member_id: str) -> None:
        """A message to ``member_id`` could not be sent."""
        ...

    def report_snapshot(self, member_id: str, failed: bool) -> None:
        """A snapshot sent to ``member_id`` was delivered, or not."""
        ...

    def report_restart(self, member_id: str) -> None:
        """``member_id``'s process restarted (its log may be shorter than it was)."""
        ...


class Transport(Protocol):
    """The driver's link to the other validators: sends are queued, never awaited."""

    def attach(self, inbox: Inbox) -> None:
        """Hand what arrives from now on to ``inbox``."""
        ...

    def send(self, messages: list[RaftMessage] | tuple[RaftMessage, ...]) -> None:
        """Queue Raft messages for their receivers (lost ones Raft sends again)."""
        ...

    def broadcast_signature(self, height: int, signature: ledger_pb2.BlockSignature) -> None:
        """Send this node's signature of block ``height`` to every other validator."""
        ...

    def won(self, term: int) -> None:
        """This node became leader of ``term``."""
        ...

    def status(self) -> dict[str, tuple[str, bool]]:
        """Per peer member id: (address, connected)."""
        ...

    async def close(self) -> None:
        """Stop sending and close the connections."""
        ...


class DetachedInbox:
    """The inbox of a transport no driver attached to yet: no validators, nothing taken."""

    def deliver(self, sender: str, messages: list[RaftMessage],
                signatures: list[Signature]) -> str | None:
        """Refuse: there is nobody to take it."""
        return "no Raft driver is attached yet"

    def peer_validators(self) -> list[documents_pb2.MemberRecord]:
        """Nobody."""
        return []

    def voter_sets(self) -> list[list[str]]:
        """None."""
        return []

    def term(self) -> int:
        """No term yet."""
        return 0

    def report_unreachable(self, member_id: str) -> None:
        """Nobody to tell."""

    def report_snapshot(self, member_id: str, failed: bool) -> None:
        """Nobody to tell."""

    def report_restart(self, member_id: str) -> None:
        """Nobody to tell."""
