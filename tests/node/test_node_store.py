"""The LevelDB store: prefix scans, batches that read their own writes, u64 keys, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tdx.node.errors import NodeError
from tdx.node.state.store import Prefix, Store, from_u64, position, u64


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "db", create=True)
    store.write({b"a/": b"0", b"a/1": b"1", b"a/2": b"2", b"a/3": b"3", b"a0": b"x",
                 b"a": b"y", b"b/1": b"z", b"a/\xff": b"ff"})
    yield store
    store.close()


def keys(items: Iterator[tuple[bytes, bytes]]) -> list[bytes]:
    return [k for k, _ in items]


def test_get_and_missing(db: Store) -> None:
    assert db.get(b"a/1") == b"1"
    assert db.get(b"nope") is None
    assert isinstance(db.get(b"a/1"), bytes)


def test_scan_stays_inside_the_prefix_in_key_order(db: Store) -> None:
    assert keys(db.scan(b"a/")) == [b"a/", b"a/1", b"a/2", b"a/3", b"a/\xff"]
    assert keys(db.scan(b"b/")) == [b"b/1"]
    assert keys(db.scan(b"c/")) == []


def test_scan_from_start_is_exclusive(db: Store) -> None:
    assert keys(db.scan(b"a/", start=b"a/1")) == [b"a/2", b"a/3", b"a/\xff"]
    assert keys(db.scan(b"a/", start=b"a/3")) == [b"a/\xff"]
    assert keys(db.scan(b"a/", start=b"a/\xff")) == []
    # A start between keys begins at the next key.
    assert keys(db.scan(b"a/", start=b"a/15")) == [b"a/2", b"a/3", b"a/\xff"]


def test_scan_reverse(db: Store) -> None:
    assert keys(db.scan(b"a/", reverse=True)) == [b"a/\xff", b"a/3", b"a/2", b"a/1", b"a/"]


def test_scan_of_prefix_ending_in_ff(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", create=True)
    try:
        store.write({b"k\xff": b"1", b"k\xff\x01": b"2", b"k\xff\xff": b"3", b"l": b"4"})
        assert keys(store.scan(b"k\xff", start=b"k\xff")) == [b"k\xff\x01", b"k\xff\xff"]
        assert keys(store.scan(b"\xff\xff", start=b"\xff\xff")) == []
    finally:
        store.close()


def test_scan_reverse_from_start(db: Store) -> None:
    assert keys(db.scan(b"a/", start=b"a/2", reverse=True)) == [b"a/1", b"a/"]


def test_scan_with_start_before_prefix_stays_in_prefix(db: Store) -> None:
    assert keys(db.scan(b"a/", start=b"A")) == [b"a/", b"a/1", b"a/2", b"a/3", b"a/\xff"]


def test_write_puts_and_deletes_in_one_batch(db: Store) -> None:
    db.write({b"a/1": None, b"a/4": b"4"}, sync=False)
    assert db.get(b"a/1") is None
    assert db.get(b"a/4") == b"4"


def test_batch_reads_its_own_writes_and_commits_atomically(db: Store) -> None:
    batch = db.batch()
    batch.put(b"a/9", b"new")
    batch.put(b"a/1", b"changed")
    batch.delete(b"a/2")
    assert batch.get(b"a/9") == b"new"
    assert batch.get(b"a/1") == b"changed"
    assert batch.get(b"a/2") is None
    assert batch.get(b"a/3") == b"3"  # untouched keys read through to the store
    # Nothing reaches the store before commit.
    assert db.get(b"a/9") is None and db.get(b"a/1") == b"1" and db.get(b"a/2") == b"2"
    batch.commit()
    assert (db.get(b"a/9"), db.get(b"a/1"), db.get(b"a/2")) == (b"new", b"changed", None)
    assert batch.pending == {}


def test_batch_put_after_delete_wins(db: Store) -> None:
    batch = db.batch()
    batch.delete(b"a/1")
    batch.put(b"a/1", b"again")
    batch.commit()
    assert db.get(b"a/1") == b"again"


def test_u64_round_trip_and_get_u64(db: Store) -> None:
    for value in (0, 1, 255, 256, 2**32, 2**64 - 1):
        assert from_u64(u64(value)) == value
        assert len(u64(value)) == 8
    db.write({Prefix.HEIGHT: u64(77)})
    assert db.get_u64(Prefix.HEIGHT) == 77
    assert db.get_u64(b"meta/absent") == 0
    assert db.get_u64(b"meta/absent", default=5) == 5


@given(st.lists(st.integers(0, 2**64 - 1), unique=True, min_size=2))
def test_u64_keys_sort_as_numbers(values: list[int]) -> None:
    assert sorted(values, key=u64) == sorted(values)


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1)),
                unique=True, min_size=2))
def test_positions_sort_by_height_then_index(pairs: list[tuple[int, int]]) -> None:
    assert sorted(pairs, key=lambda p: position(*p)) == sorted(pairs)


def test_numeric_scan_order_in_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", create=True)
    try:
        numbers = [1000, 2, 256, 255, 1, 65536, 10]
        store.write({Prefix.RAFT_LOG + u64(n): b"" for n in numbers})
        got = [from_u64(k[len(Prefix.RAFT_LOG):]) for k, _ in store.scan(Prefix.RAFT_LOG)]
        assert got == sorted(numbers)
        last = next(store.scan(Prefix.RAFT_LOG, reverse=True))[0]
        assert from_u64(last[len(Prefix.RAFT_LOG):]) == 65536
    finally:
        store.close()


def test_prefixes_do_not_overlap() -> None:
    """No prefix is a prefix of another, so a scan of one never sees another's keys."""
    values = [v for k, v in vars(Prefix).items() if k.isupper()]
    assert len(set(values)) == len(values)
    for a in values:
        for b in values:
            assert a == b or not b.startswith(a), (a, b)


def test_data_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", create=True)
    store.write({b"k": b"v"}, sync=True)
    store.close()
    assert store.closed
    again = Store(tmp_path / "db")
    try:
        assert again.get(b"k") == b"v"
        assert not again.closed
    finally:
        again.close()


def test_opening_the_same_ledger_twice_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", create=True)
    try:
        with pytest.raises(NodeError, match="in use"):
            Store(tmp_path / "db")
    finally:
        store.close()


def test_opening_a_missing_ledger_is_a_node_error(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="missing"):
        Store(tmp_path / "absent")


def test_opening_an_emptied_ledger_directory_is_a_node_error(tmp_path: Path) -> None:
    (tmp_path / "ledger").mkdir()
    with pytest.raises(NodeError):
        Store(tmp_path / "ledger")


def test_create_makes_a_new_ledger(tmp_path: Path) -> None:
    store = Store(tmp_path / "new", create=True)
    try:
        assert (tmp_path / "new").is_dir()
        assert list(store.scan(b"")) == []
    finally:
        store.close()
