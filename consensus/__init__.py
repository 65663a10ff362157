"""A pure Raft state machine: no sockets, clocks, threads or disk.

The host (the node) drives a :class:`RawNode` with ticks, peer messages and proposals, and does
what each :class:`Ready` asks: persist, send, apply, then ``advance``. The core reads the
persisted log through the read-only :class:`Storage` protocol; :class:`MemoryStorage` is the
in-memory implementation. The wire types mirror ``protos/tdx/v1/raft.proto`` one to one.

Starting: founding members write ``bootstrap_entries(voters)`` and ``HardState(term=1,
commit=len(entries))`` to empty storage (``MemoryStorage.bootstrap`` does both); members that
join later start empty and receive the log (or a snapshot) from the leader. On restart, pass
``Config(applied=...)``: the last index the state machine holds.

Membership: ``RawNode.propose_conf_change(ConfChange(...))`` proposes one change; the core
follows the newest configuration in its log from the moment the entry is appended. When the
entry comes out in ``Ready.committed_entries``, the host calls
``apply_conf_change(decode_conf_change(entry.data))`` and keeps the returned ``ConfState``.

Snapshots: to compact, the host snapshots its state at an applied index together with that
``ConfState`` (``MemoryStorage.create_snapshot``), then discards the log before it
(``compact``); the core sends ``Storage.snapshot()`` to followers that need discarded entries.
A snapshot received from the leader arrives as ``Ready.snapshot``: the host persists it,
replaces its state machine with ``snapshot.data`` and records its ``conf_state``.

Modules: ``messages`` (wire types), ``storage`` (Storage, MemoryStorage), ``log`` (stable plus
unstable log), ``quorum`` (majority math), ``progress`` (per-follower replication state),
``readonly`` (read index), ``confchange`` (membership), ``config``, ``raft`` (the protocol),
``rawnode`` (the host API).
"""

from tdx.consensus.config import Config
from tdx.consensus.messages import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MessageType,
    RaftMessage,
    Snapshot,
    SnapshotMetadata,
    decode_conf_change,
    encode_conf_change,
)
from tdx.consensus.raft import ProposalDroppedError, ReadState, SoftState, StateRole
from tdx.consensus.rawnode import PeerProgress, RawNode, Ready, Status
from tdx.consensus.storage import (
    CompactedError,
    MemoryStorage,
    SnapshotTemporarilyUnavailableError,
    Storage,
    StorageError,
    UnavailableError,
    bootstrap_entries,
)
from tdx.consensus.validate import MAX_INDEX, MAX_TERM, InvalidMessageError, check_message

__all__ = [
    "MAX_INDEX",
    "MAX_TERM",
    "NO_NODE",
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
    "InvalidMessageError",
    "MemoryStorage",
    "MessageType",
    "PeerProgress",
    "ProposalDroppedError",
    "RaftMessage",
    "RawNode",
    "ReadState",
    "Ready",
    "Snapshot",
    "SnapshotMetadata",
    "SnapshotTemporarilyUnavailableError",
    "SoftState",
    "StateRole",
    "Status",
    "Storage",
    "StorageError",
    "UnavailableError",
    "bootstrap_entries",
    "check_message",
    "decode_conf_change",
    "encode_conf_change",
]
