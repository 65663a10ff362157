"""Merkle trees as in RFC 6962 / RFC 9162: leaf and node hashes are domain-separated.

``root`` and ``inclusion_path`` build a tree over leaf data; ``verify_inclusion`` checks a
path without the tree. An empty tree's root is SHA-256 of the empty string.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._crypto import sha256


def leaf_hash(data: bytes) -> bytes:
    """Hash of one leaf: SHA-256(0x00 || data)."""
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an inner node: SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash over the leaf data ``leaves``."""
    return _root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path for leaf ``index``, nearest sibling first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    hashes = [leaf_hash(leaf) for leaf in leaves]
    path: list[bytes] = []

    def walk(m: int, span: Sequence[bytes]) -> None:
        if len(span) <= 1:
            return
        k = _split(len(span))
        if m < k:
            walk(m, span[:k])
            path.append(_root_of_hashes(span[k:]))
        else:
            walk(m - k, span[k:])
            path.append(_root_of_hashes(span[:k]))

    walk(index, hashes)
    return path


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Return whether ``leaf`` sits at ``index`` of a ``tree_size`` tree with ``expected_root``.

    This is the algorithm of RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
