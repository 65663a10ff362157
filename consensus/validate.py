"""Range and shape checks for a Raft message from a peer, before it touches any state.

A peer may be buggy or hostile (a validator's key can be stolen), so every field of a
message that crosses the wire is checked here, with no knowledge of the node's state:
terms and indexes stay below :data:`MAX_TERM` and :data:`MAX_INDEX` (so ``term + 1`` and
``index + len(entries)`` always fit the wire's uint64 and are never near it), an append's
entries are numbered consecutively from ``index + 1`` with terms that never decrease and
never exceed the message's term, and a snapshot travels only in a ``SNAPSHOT`` message whose
metadata is in range and names at least one voter. The checks that need the node's state
(an append past the end of the log, a commit index past it, a conflict with a committed
entry) are in :mod:`tdx.consensus.raft`, which refuses such messages the same way.

:func:`check_message` returns the reason as a sentence, or None; :class:`InvalidMessageError`
carries that reason out of :meth:`tdx.consensus.RawNode.step`.
"""

from __future__ import annotations

from tdx.consensus.messages import EntryType, MessageType, RaftMessage

MAX_TERM = 1 << 62
"""Terms at or above this are refused: far beyond any real election count, far below 2^64."""

MAX_INDEX = 1 << 62
"""Log indexes (and commit indexes, hints) at or above this are refused."""

MAX_TERM_STEP = 1 << 20
"""How far ahead of this node's term a peer's term may be. With pre-vote, terms grow by one
per real election, so a larger jump is a peer pushing every term toward :data:`MAX_TERM`."""

MAX_NODE_ID = 256
"""The longest node id a message may name, in characters."""

FORWARDABLE = frozenset({MessageType.PROPOSE, MessageType.READ_INDEX,
                         MessageType.TRANSFER_LEADER})
"""Local requests a follower may forward to its leader; forwarded ones may carry term 0."""

_WITH_ENTRIES = frozenset({MessageType.APPEND, MessageType.PROPOSE})


class InvalidMessageError(ValueError):
    """A message from a peer was refused before it changed any state; ``str()`` says why."""


def check_message(message: RaftMessage) -> str | None:
    """Why ``message`` (from a peer) is malformed, or None if its fields are in range."""
    kind = message.type
    if kind is MessageType.UNSPECIFIED:
        return "message type is unspecified"
    if not message.from_ or len(message.from_) > MAX_NODE_ID or len(message.to) > MAX_NODE_ID:
        return "sender or receiver id is empty or too long"
    if message.term >= MAX_TERM or (message.term < 1 and kind not in FORWARDABLE):
        return f"term {message.term} is out of range (1 to 2^62-1)"
    if message.log_term > message.term:
        return f"log term {message.log_term} is above the message's term {message.term}"
    for name in ("index", "commit", "reject_hint"):
        value = getattr(message, name)
        if value >= MAX_INDEX:
            return f"{name} {value} is out of range (below 2^62)"
    if kind is MessageType.PROPOSE and not message.entries:
        return "a proposal must carry entries"
    if message.entries and kind not in _WITH_ENTRIES:
        return f"{kind.name} must not carry entries"
    reason = _check_entries(message) if kind is MessageType.APPEND else None
    if reason is not None:
        return reason
    if any(e.type not in (EntryType.NORMAL, EntryType.CONF_CHANGE) for e in message.entries):
        return "an entry has an unspecified type"
    if (message.snapshot is not None) != (kind is MessageType.SNAPSHOT):
        return "a snapshot travels only in, and always in, a SNAPSHOT message"
    if message.snapshot is not None:
        meta = message.snapshot.metadata
        if not 1 <= meta.index < MAX_INDEX or not 1 <= meta.term <= message.term:
            return (f"snapshot index {meta.index} or term {meta.term} is out of range for "
                    f"a message of term {message.term}")
        if not meta.conf_state.voters:
            return "snapshot names no voter"
    return None


def _check_entries(message: RaftMessage) -> str | None:
    previous_term = message.log_term
    for offset, entry in enumerate(message.entries, start=1):
        if entry.index != message.index + offset:
            return (f"entry {offset} has index {entry.index}; expected {message.index + offset}"
                    " (entries must follow the message's index without gaps)")
        if not previous_term <= entry.term <= message.term:
            return (f"entry {entry.index} has term {entry.term}: terms must not decrease and "
                    f"must not exceed the message's term {message.term}")
        previous_term = entry.term
    if message.entries and message.index + len(message.entries) >= MAX_INDEX:
        return "entries run past the largest index"
    return None
