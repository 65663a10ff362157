"""The public surface of tdx.network: names, identity helpers, and argument checks."""

from __future__ import annotations

import pytest
import tdx.network
from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.peer.id import ID
from mesh_harness import public_key, seed
from tdx.network import Mesh, MeshLimits, peer_id_of, public_key_of


def test_the_public_names_are_these_and_sorted() -> None:
    assert tdx.network.__all__ == sorted(tdx.network.__all__)
    assert set(tdx.network.__all__) == {
        "DEFAULT_TOPICS",
        "FetchFailed",
        "IsMember",
        "Mesh",
        "MeshClosed",
        "MeshError",
        "MeshLimits",
        "MeshPeer",
        "OnMessage",
        "PeerUnavailable",
        "ServeBlocks",
        "peer_id_of",
        "public_key_of",
    }
    for name in tdx.network.__all__:
        assert getattr(tdx.network, name) is not None


def test_errors_form_one_tree_under_tdx_error() -> None:
    from tdx.sdk import TdxError

    for name in ("MeshClosed", "PeerUnavailable", "FetchFailed"):
        assert issubclass(getattr(tdx.network, name), tdx.network.MeshError)
    assert issubclass(tdx.network.MeshError, TdxError)


def test_peer_id_of_is_libp2ps_id_of_the_member_key_and_inverts() -> None:
    key = public_key(0)
    expected = ID.from_pubkey(Ed25519PublicKey.from_bytes(key)).to_base58()
    assert peer_id_of(key) == expected
    assert expected.startswith("12D3KooW")
    assert public_key_of(expected) == key
    with pytest.raises(ValueError):
        peer_id_of(b"short")
    with pytest.raises(ValueError):
        peer_id_of(bytes(32))  # the small-order identity point is no member key
    with pytest.raises(ValueError):
        public_key_of("not-a-peer-id")


def members(key: bytes) -> bool:
    return True


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": b"x" * 31}, "32 bytes"),
        ({"network": ""}, "network name"),
        ({"network": "a/b"}, "network name"),
        ({"listen": "not an address"}, "multiaddr"),
        ({"bootstrap": ["/ip4/127.0.0.1/tcp/1"]}, "form"),
        ({"bootstrap": ["/ip4/127.0.0.1/udp/1/p2p/" + peer_id_of(public_key(1))]}, "form"),
    ],
)
def test_mesh_refuses_bad_arguments(arguments: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"seed": seed(0), "network": "t", "is_member": members}
    settings.update(arguments)
    with pytest.raises(ValueError, match=message):
        Mesh(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"topics": {}},
        {"topics": {"a/b": 10}},
        {"topics": {"alerts": 0}},
        {"max_blocks": 0},
        {"fetch_timeout": 0},
        {"reconnect_min": 2.0, "reconnect_max": 1.0},
    ],
)
def test_limits_refuse_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MeshLimits(**changes)  # type: ignore[arg-type]
