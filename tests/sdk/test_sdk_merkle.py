"""Merkle trees (RFC 6962 / 9162): roots, audit paths and their verification."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tdx.sdk import inclusion_path, merkle_root, verify_inclusion


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, written straight from its definition."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:]))


def _leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() for i in range(n)]


# The inputs of the RFC 6962 reference test vectors (certificate-transparency merkle tests).
CT_LEAVES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle_root([]) == _h(b"")


def test_three_leaf_root_by_hand() -> None:
    """MTH(d0, d1, d2) = H(1 || H(1 || H(0||d0) || H(0||d1)) || H(0||d2))."""
    d0, d1, d2 = b"a", b"b", b"c"
    left = _h(b"\x01" + _h(b"\x00" + d0) + _h(b"\x00" + d1))
    assert merkle_root([d0, d1, d2]) == _h(b"\x01" + left + _h(b"\x00" + d2))
    assert inclusion_path([d0, d1, d2], 2) == [left]
    assert inclusion_path([d0, d1, d2], 0) == [_h(b"\x00" + d1), _h(b"\x00" + d2)]


@pytest.mark.parametrize("n", range(1, 9))
def test_rfc6962_reference_roots(n: int) -> None:
    assert merkle_root(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


def test_rfc6962_reference_paths() -> None:
    assert [p.hex() for p in inclusion_path(CT_LEAVES, 0)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in inclusion_path(CT_LEAVES, 5)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


@pytest.mark.parametrize("n", range(1, 34))
def test_every_leaf_of_trees_up_to_33_verifies(n: int) -> None:
    leaves = _leaves(n)
    root = merkle_root(leaves)
    assert root == reference_root(leaves)
    for i in range(n):
        path = inclusion_path(leaves, i)
        assert verify_inclusion(leaves[i], i, n, path, root), (n, i)
        # A path is as long as the leaf's depth: at most ceil(log2 n).
        assert len(path) <= max(0, (n - 1).bit_length())


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 33])
def test_tampering_fails_verification(n: int) -> None:
    leaves = _leaves(n)
    root = merkle_root(leaves)
    for i in range(n):
        path = inclusion_path(leaves, i)
        assert not verify_inclusion(leaves[i] + b"x", i, n, path, root)
        assert not verify_inclusion(leaves[i], i, n, path, _h(root))
        for j in range(len(path)):
            bad = list(path)
            bad[j] = _h(bad[j])
            assert not verify_inclusion(leaves[i], i, n, bad, root)
        if path:
            assert not verify_inclusion(leaves[i], i, n, path[:-1], root)
        assert not verify_inclusion(leaves[i], i, n, [*path, root], root)
        if n > 1:
            other = (i + 1) % n
            assert not verify_inclusion(leaves[i], other, n, path, root)
            assert not verify_inclusion(leaves[other], i, n, path, root)


@pytest.mark.parametrize("n", range(2, 34))
def test_wrong_tree_size_fails(n: int) -> None:
    """A claimed size under which the leaf's path has another length never verifies.

    (Sizes with the same path shape can verify: RFC 9162 binds the size through the
    signed tree head, which in tdx is the block header's envelope_count.)
    """
    leaves = _leaves(n)
    root = merkle_root(leaves)
    for i in range(n):
        path = inclusion_path(leaves, i)
        for size in range(1, 2 * n + 1):
            if size <= i:
                assert not verify_inclusion(leaves[i], i, size, path, root)
            elif len(inclusion_path(_leaves(size), i)) != len(path):
                assert not verify_inclusion(leaves[i], i, size, path, root), (n, i, size)


@pytest.mark.parametrize("index", [-1, 5, 6, 100])
def test_index_out_of_range(index: int) -> None:
    leaves = _leaves(5)
    with pytest.raises(IndexError):
        inclusion_path(leaves, index)
    assert not verify_inclusion(leaves[0], index, 5, [], merkle_root(leaves))


def test_zero_size_tree_proves_nothing() -> None:
    assert not verify_inclusion(b"x", 0, 0, [], merkle_root([]))


def test_single_leaf_tree_root_is_its_leaf_hash_and_path_is_empty() -> None:
    assert inclusion_path([b"x"], 0) == []
    assert verify_inclusion(b"x", 0, 1, [], _h(b"\x00x"))
    assert not verify_inclusion(b"x", 0, 1, [b"\x00" * 32], _h(b"\x00x"))


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """A two-leaf root is not a leaf: presenting the inner node's preimage as a leaf fails."""
    leaves = [b"a", b"b"]
    root = merkle_root(leaves)
    inner_preimage = _h(b"\x00a") + _h(b"\x00b")
    assert merkle_root([inner_preimage]) != root


@settings(max_examples=150, deadline=None)
@given(leaves=st.lists(st.binary(max_size=40), min_size=1, max_size=70), data=st.data())
def test_inclusion_property(leaves: list[bytes], data: st.DataObject) -> None:
    """For every tree and every leaf: the path verifies, and only for that leaf and index."""
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1), label="index")
    root = merkle_root(leaves)
    assert root == reference_root(leaves)
    path = inclusion_path(leaves, i)
    assert verify_inclusion(leaves[i], i, n, path, root)
    other = data.draw(st.binary(max_size=40), label="other")
    if other != leaves[i]:
        assert not verify_inclusion(other, i, n, path, root)
