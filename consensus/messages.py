"""The Raft wire types, mirrored one to one from ``protos/tdx/v1/raft.proto``.

Each dataclass here has the name and the field names of its proto message, and each enum the
name and numbers of its proto enum, so the node converts between the two field by field at the
peer transport. Repeated fields are tuples: every value here is immutable once built, which
lets the core hand the same ``Entry`` to storage, to messages and to the application without
copying. Node ids are member ids (``str``); the empty string means "no node" (proto3's default),
exported as :data:`NO_NODE`.

The only encoding the core itself does is :func:`encode_conf_change`: a ``CONF_CHANGE`` entry's
data is the proto3 encoding of a :class:`ConfChange`, byte for byte what ``raft_pb2.ConfChange``
would serialize, written by hand so that the core needs nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NO_NODE = ""
"""The node id meaning "nobody": no vote cast, no leader known."""

ENTRY_OVERHEAD_BYTES = 16
"""Bytes counted per entry on top of its data when sizing messages (term, index, type, framing)."""


class EntryType(IntEnum):
    """What a log entry carries (``tdx.v1.EntryType``)."""

    UNSPECIFIED = 0
    NORMAL = 1
    CONF_CHANGE = 2


class ConfChangeType(IntEnum):
    """One single-server membership change (``tdx.v1.ConfChangeType``)."""

    UNSPECIFIED = 0
    ADD_VOTER = 1
    ADD_LEARNER = 2
    REMOVE = 3


class MessageType(IntEnum):
    """The Raft message kind (``tdx.v1.MessageType``).

    ``PROPOSE``, ``READ_INDEX`` and ``TRANSFER_LEADER`` are also the local requests a host makes
    through :class:`~tdx.consensus.rawnode.RawNode`; a follower forwards them to its leader.
    """

    UNSPECIFIED = 0
    APPEND = 1
    APPEND_RESPONSE = 2
    VOTE = 3
    VOTE_RESPONSE = 4
    PRE_VOTE = 5
    PRE_VOTE_RESPONSE = 6
    HEARTBEAT = 7
    HEARTBEAT_RESPONSE = 8
    SNAPSHOT = 9
    TIMEOUT_NOW = 10
    READ_INDEX = 11
    READ_INDEX_RESPONSE = 12
    PROPOSE = 13
    TRANSFER_LEADER = 14


@dataclass(frozen=True, slots=True)
class Entry:
    """One Raft log entry: ``data`` at position ``index``, created by the leader of ``term``.

    A ``NORMAL`` entry with empty data is a leader's no-op; a ``CONF_CHANGE`` entry's data is
    :func:`encode_conf_change` of a :class:`ConfChange`.
    """

    term: int = 0
    index: int = 0
    type: EntryType = EntryType.NORMAL
    data: bytes = b""

    def size(self) -> int:
        """Bytes this entry counts for against ``max_size_per_msg``."""
        return len(self.data) + ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership in force: voters and learners, by member id (disjoint sets)."""

    voters: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfChange:
    """Adds or removes one server; ``context`` is opaque to the core (the host's reason)."""

    type: ConfChangeType = ConfChangeType.UNSPECIFIED
    node_id: str = NO_NODE
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    """Which log prefix a snapshot replaces: everything up to ``index`` (of ``term``)."""

    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application's state as of ``metadata.index``; index 0 means "no snapshot"."""

    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes = b""

    def is_empty(self) -> bool:
        """True for the placeholder snapshot at index 0 that stands for "none"."""
        return self.metadata.index == 0


@dataclass(frozen=True, slots=True)
class HardState:
    """What a node must persist before it sends the messages of the same ``Ready``.

    ``term`` never decreases; ``vote`` is the node voted for in ``term`` (or :data:`NO_NODE`);
    ``commit`` is the highest index known committed and never decreases.
    """

    term: int = 0
    vote: str = NO_NODE
    commit: int = 0

    def is_empty(self) -> bool:
        """True for the state of a node that has never run."""
        return self == EMPTY_HARD_STATE


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class RaftMessage:
    """One message between Raft nodes (``tdx.v1.RaftMessage``).

    The meaning of ``index``, ``log_term``, ``commit``, ``reject_hint`` and ``context`` depends on
    ``type``, as in etcd's raft: for ``APPEND``, ``index``/``log_term`` name the entry preceding
    ``entries``; for an ``APPEND_RESPONSE`` that rejects, ``reject_hint``/``log_term`` point the
    leader at where the follower's log may match (fast back-off); for votes they describe the
    candidate's last entry; ``context`` carries read-index request ids through heartbeats and the
    leadership-transfer marker on ``VOTE``.
    """

    type: MessageType = MessageType.UNSPECIFIED
    to: str = NO_NODE
    from_: str = NO_NODE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


# ``from`` is a Python keyword, so the proto field ``from`` is ``from_`` here (the one name that
# cannot be kept); the node's converter maps it explicitly.


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint in ConfChange")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long in ConfChange")


def encode_conf_change(cc: ConfChange) -> bytes:
    """The proto3 encoding of ``cc``, identical to ``tdx.v1.ConfChange.SerializeToString()``."""
    out = bytearray()
    if cc.type:
        out += b"\x08" + _encode_varint(int(cc.type))
    node_id = cc.node_id.encode()
    if node_id:
        out += b"\x12" + _encode_varint(len(node_id)) + node_id
    if cc.context:
        out += b"\x1a" + _encode_varint(len(cc.context)) + cc.context
    return bytes(out)


def decode_conf_change(data: bytes) -> ConfChange:
    """Parse a ``CONF_CHANGE`` entry's data; unknown fields are skipped as proto3 does.

    Raises ``ValueError`` on malformed input.
    """
    cc_type = 0
    node_id = b""
    context = b""
    pos = 0
    while pos < len(data):
        key, pos = _decode_varint(data, pos)
        field_number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _decode_varint(data, pos)
            if field_number == 1:
                cc_type = value
        elif wire_type == 2:
            length, pos = _decode_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field in ConfChange")
            chunk = data[pos : pos + length]
            pos += length
            if field_number == 2:
                node_id = chunk
            elif field_number == 3:
                context = chunk
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type} in ConfChange")
    if pos > len(data):
        raise ValueError("truncated fixed-width field in ConfChange")
    return ConfChange(type=ConfChangeType(cc_type), node_id=node_id.decode(), context=context)
