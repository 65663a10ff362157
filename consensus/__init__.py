"""A pure Raft state machine: no sockets, clocks, threads or disk.

The host (the node) drives a :class:`RawNode` with ticks, peer messages and proposals, and does
what each :class:`Ready` asks: persist, send, apply, then ``advance``. The core reads the
persisted log through the read-only :class:`Storage` protocol; :class:`MemoryStorage` is the
in-memory implementation. The wire types mirror ``protos/tdx/v1/raft.proto`` one to one.

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

__all__ = [
    "NO_NODE",
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
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
    "decode_conf_change",
    "encode_conf_change",
]
