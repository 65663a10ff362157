"""The SDK's pure p2p-address check agrees with py-libp2p's parser, key for key.

The ledger's rules use ``tdx.sdk._p2p`` (no network code in the state machine); the mesh
dials with ``tdx.network``. A record the rules accept must be one the mesh can dial, in the
spelling the multiaddr library writes, for the member's own key.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tdx.network import peer_id_of as libp2p_peer_id
from tdx.network._peers import parse_target, to_multiaddr
from tdx.sdk import Identity
from tdx.sdk._p2p import p2p_address_problem, peer_id_of


def _libp2p_accepts(address: str, public_key: bytes) -> bool:
    try:
        target = parse_target(address)
        parsed = to_multiaddr(address)
    except Exception:  # the multiaddr and base58 libraries raise many types
        return False
    return (str(parsed) == address and parsed.value_for_protocol("tcp") != "0"
            and target.public_key == public_key)


@settings(max_examples=50, deadline=None, database=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_peer_ids_match_libp2p(seed: bytes) -> None:
    key = Identity.from_seed(seed, "m").public_key
    assert peer_id_of(key) == libp2p_peer_id(key)


KEY = Identity.generate("m").public_key
OTHER = Identity.generate("o").public_key


@pytest.mark.parametrize("address", [
    f"/ip4/10.0.0.2/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/ip4/127.0.0.1/tcp/1/p2p/{peer_id_of(KEY)}",
    f"/ip6/::1/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/ip6/2001:db8::1/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/dns4/customs-1/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/dns/node.example.org/tcp/65535/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.2/tcp/0/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.2/tcp/07600/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.2/tcp/70000/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.256/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/ip4/::1/tcp/7600/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.2/tcp/7600/p2p/{peer_id_of(OTHER)}",
    f"/ip4/10.0.0.2/udp/7600/p2p/{peer_id_of(KEY)}",
    f"/ip4/10.0.0.2/tcp/7600/p2p/{peer_id_of(KEY)}/",
    f"ip4/10.0.0.2/tcp/7600/p2p/{peer_id_of(KEY)}",
    "/ip4/10.0.0.2/tcp/7600/p2p/12D3KooWSomething",
    "/ip4/10.0.0.2/tcp/7600",
    "10.0.0.2:7600",
])
def test_the_pure_check_agrees_with_libp2p(address: str) -> None:
    assert (p2p_address_problem(address, KEY) is None) == _libp2p_accepts(address, KEY)
