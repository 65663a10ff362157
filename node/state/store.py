"""The node's LevelDB store: one database, clear key prefixes, fsync'd write batches.

Key layout (integers are 8-byte big-endian so that keys sort by number)::

    meta/genesis              Genesis (serialized)
    meta/height               height of the last applied block
    meta/applied              Raft index of the last applied entry
    meta/documents            count of document records
    meta/diverged             where this ledger left the certified chain (replication/divergence)
    raft/hard                 HardState
    raft/log/<index>          Entry
    raft/snapshot             Snapshot
    blk/<height>              Block
    bhash/<block hash>        height
    doc/<document id>         DocumentRecord
    idx/u/<ucr>\\0<h><p>       document id   (by consignment)
    idx/k/<kind>\\0<h><p>      document id   (by kind)
    idx/i/<issuer>\\0<h><p>    document id   (by issuing member)
    mem/<member id>           MemberRecord
    key/<public key>          member id
    state/...                 application state of later features (certificates, alerts)

Reads go straight to the database; writes go through ``WriteBatch`` and ``commit`` with
fsync, so that what the node acknowledges is on disk.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel
from tdx.node.errors import NodeError

_U64 = struct.Struct(">Q")
# A larger memtable and larger table files mean fewer, bigger compactions: the node writes
# every document about three times (Raft log, block, document record), and LevelDB's
# background compaction was the node's largest CPU cost with the 4 MiB defaults.
WRITE_BUFFER_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 32 * 1024 * 1024
CACHE_BYTES = 64 * 1024 * 1024
_POS = struct.Struct(">QI")


def u64(value: int) -> bytes:
    """8-byte big-endian encoding of a non-negative integer."""
    return _U64.pack(value)


def from_u64(raw: bytes) -> int:
    """Decode ``u64``."""
    return int(_U64.unpack(raw)[0])


def position(height: int, index: int) -> bytes:
    """Sortable encoding of (block height, position in block)."""
    return _POS.pack(height, index)


class Prefix:
    """The key prefixes of the store, in one place."""

    GENESIS = b"meta/genesis"
    HEIGHT = b"meta/height"
    APPLIED = b"meta/applied"
    DOCUMENTS = b"meta/documents"
    RAFT_HARD = b"raft/hard"
    RAFT_LOG = b"raft/log/"
    RAFT_SNAPSHOT = b"raft/snapshot"
    BLOCK = b"blk/"
    BLOCK_HASH = b"bhash/"
    DOC = b"doc/"
    BY_UCR = b"idx/u/"
    BY_KIND = b"idx/k/"
    BY_ISSUER = b"idx/i/"
    MEMBER = b"mem/"
    KEY = b"key/"
    STATE = b"state/"


class Store:
    """The node's LevelDB database."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        try:
            self._db: Any = plyvel.DB(str(path), create_if_missing=create, paranoid_checks=True,
                                      write_buffer_size=WRITE_BUFFER_BYTES,
                                      max_file_size=MAX_FILE_BYTES,
                                      lru_cache_size=CACHE_BYTES)
        except plyvel.IOError as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise NodeError(f"ledger {path} is in use by another process") from None
            if not create and "does not exist" in text:
                raise NodeError(f"ledger {path} is missing; run `tdx node init` first") from None
            raise NodeError(f"cannot open ledger {path}: {text.strip()}") from None
        except plyvel.CorruptionError as exc:
            raise NodeError(f"ledger {path} is corrupt: {str(exc).strip()}") from None
        except plyvel.Error as exc:
            text = str(exc).strip()
            if "does not exist" in text:
                raise NodeError(f"ledger {path} is missing; run `tdx node init` first") from None
            raise NodeError(f"cannot open ledger {path}: {text}") from None
        self.path = path

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return bool(self._db.closed)

    def get(self, key: bytes) -> bytes | None:
        """Return the value at ``key`` or None."""
        value = self._db.get(key)
        return None if value is None else bytes(value)

    def get_u64(self, key: bytes, default: int = 0) -> int:
        """Return an integer stored with ``u64``."""
        raw = self.get(key)
        return default if raw is None else from_u64(raw)

    def scan(self, prefix: bytes, *, start: bytes | None = None,
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Iterate (key, value) under ``prefix`` in key order (or reverse), after ``start``.

        ``start`` is exclusive: forward, keys greater than it; in reverse, keys less than it.
        Keys outside ``prefix`` are never returned, wherever ``start`` lies.
        """
        end = _prefix_end(prefix)
        if start is None:
            iterator = self._db.iterator(prefix=prefix, reverse=reverse)
        elif not reverse:
            iterator = self._db.iterator(start=max(start, prefix), include_start=start < prefix,
                                         stop=end)
        else:
            iterator = self._db.iterator(start=prefix, stop=min(start, end), reverse=True)
        with iterator as it:
            for key, value in it:
                yield bytes(key), bytes(value)

    def batch(self) -> WriteBatch:
        """Start a write batch; nothing is written until ``commit``."""
        return WriteBatch(self)

    def write(self, items: dict[bytes, bytes | None], *, sync: bool = True) -> None:
        """Write (None deletes) ``items`` in one batch, fsync'd unless ``sync`` is False."""
        with self._db.write_batch(sync=sync) as wb:
            for key, value in items.items():
                if value is None:
                    wb.delete(key)
                else:
                    wb.put(key, value)


class WriteBatch:
    """Writes collected in memory and committed atomically with fsync.

    Reads through the batch see its own pending writes first, so that the state machine can
    apply a whole block against one consistent view before it commits.
    """

    _ABSENT = object()

    def __init__(self, store: Store) -> None:
        self._store = store
        self.pending: dict[bytes, bytes | None] = {}
        self._journal: list[tuple[bytes, object]] | None = None

    def put(self, key: bytes, value: bytes) -> None:
        """Stage a write."""
        self._remember(key)
        self.pending[key] = value

    def delete(self, key: bytes) -> None:
        """Stage a delete."""
        self._remember(key)
        self.pending[key] = None

    def _remember(self, key: bytes) -> None:
        if self._journal is not None:
            self._journal.append((key, self.pending.get(key, self._ABSENT)))

    def savepoint(self) -> None:
        """Start recording staged writes so that ``rollback`` can undo them."""
        self._journal = []

    def rollback(self) -> None:
        """Undo every write staged since ``savepoint``."""
        for key, old in reversed(self._journal or []):
            if old is self._ABSENT:
                del self.pending[key]
            else:
                self.pending[key] = old  # type: ignore[assignment]
        self._journal = None

    def release(self) -> None:
        """Keep the writes staged since ``savepoint``."""
        self._journal = None

    def get(self, key: bytes) -> bytes | None:
        """Read ``key`` as it will be after the batch commits."""
        if key in self.pending:
            return self.pending[key]
        return self._store.get(key)

    def commit(self, *, sync: bool = True) -> None:
        """Write the batch atomically; with ``sync`` it is on disk when this returns."""
        self._store.write(self.pending, sync=sync)
        self.pending = {}


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * (len(prefix) + 1)
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
