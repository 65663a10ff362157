"""The ledger's read side: what committed blocks wrote, read back without knowing a key.

Every module outside ``state/`` reads the ledger through these methods (``Ledger`` is a
``LedgerReads``): documents by id and by index, blocks by height or hash, and the workflows'
state as committed (``LedgerReads.state``). The store's key layout (``store.Prefix``) is
built here and in the ledger's apply path only, so the layout can change in one place.

Reads see the store as of the last committed block: never a block's pending batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from tdx.node.state.store import Prefix, Store, WriteBatch, from_u64, position, u64
from tdx.sdk import ledger_pb2


class Index(Enum):
    """The document indexes: each lists accepted documents by one field, in block order."""

    UCR = Prefix.BY_UCR
    KIND = Prefix.BY_KIND
    ISSUER = Prefix.BY_ISSUER

    def prefix(self, value: str) -> bytes:
        """The scan prefix of the documents whose field is ``value``."""
        return self.value + value.encode() + b"\x00"

    def put(self, batch: WriteBatch, value: str, height: int, pos: int, raw_id: bytes) -> None:
        """Stage the entry of the document at (``height``, ``pos``) whose field is ``value``."""
        batch.put(self.prefix(value) + position(height, pos), raw_id)


class StateView:
    """The workflows' state as committed, read-only: keys under ``Prefix.STATE`` only.

    It has the ``get`` of the workflows' ``StateReader``, so the workflows' own loaders
    (``governance.load_proposal``...) read committed state through it as they read a block's
    batch during apply.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: bytes) -> bytes | None:
        """The committed value at the state key ``key``, or None."""
        return self._store.get(_state_key(key))

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of the committed state under ``prefix``, in key order."""
        return self._store.scan(_state_key(prefix))


class LedgerReads:
    """Reads of a ledger's store: documents, indexes, blocks and committed state."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = StateView(store)

    def record(self, doc_id: str) -> ledger_pb2.DocumentRecord | None:
        """The stored record of a document, or None (also for an id that is not hex)."""
        try:
            key = Prefix.DOC + bytes.fromhex(doc_id)
        except ValueError:
            return None
        raw = self.store.get(key)
        return None if raw is None else ledger_pb2.DocumentRecord.FromString(raw)

    def block(self, height: int) -> ledger_pb2.Block | None:
        """The stored block at ``height``, or None."""
        raw = self.block_bytes(height)
        return None if raw is None else ledger_pb2.Block.FromString(raw)

    def block_bytes(self, height: int) -> bytes | None:
        """The stored block at ``height`` as its serialized bytes (to serve as they are)."""
        return self.store.get(Prefix.BLOCK + u64(height))

    def height_of(self, digest: bytes) -> int | None:
        """The height of the block with hash ``digest``, or None."""
        raw = self.store.get(Prefix.BLOCK_HASH + digest)
        return None if raw is None else from_u64(raw)

    def documents_by(self, index: Index, value: str, *,
                     after: bytes | None = None) -> Iterator[tuple[bytes, str]]:
        """(cursor, document id) of the accepted documents whose ``index`` field is
        ``value``, oldest first, after the cursor ``after`` when given.

        A cursor is opaque (the document's place in the chain): hand one back to go on from
        there.
        """
        prefix = index.prefix(value)
        start = None if after is None else prefix + after
        for key, raw_id in self.store.scan(prefix, start=start):
            yield key[len(prefix):], raw_id.hex()


def _state_key(key: bytes) -> bytes:
    if not key.startswith(Prefix.STATE):
        raise ValueError(f"{key[:24]!r} is not a workflow state key")
    return key
