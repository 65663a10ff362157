"""The membership gate: a Noise handshake that admits members only.

The remote's peer id is proven by the Noise handshake (it signs the session with its
libp2p key, which is its member key), so the gate checks membership right there, before a
muxer, an identify exchange or a pubsub stream exists. A non-member's connection is closed
and logged, whichever side dialled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from libp2p.abc import IRawConnection, ISecureConn
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.peer.id import ID
from libp2p.security.exceptions import HandshakeFailure
from libp2p.security.noise.transport import Transport as NoiseTransport

from ._identity import public_key_of_id

log = logging.getLogger("tdx.network")

MemberCheck = Callable[[bytes], bool]


def is_member_id(is_member: MemberCheck, peer_id: ID) -> bool:
    """Whether ``peer_id`` carries the Ed25519 key of a member; a failing check says no."""
    public_key = public_key_of_id(peer_id)
    if public_key is None:
        return False
    try:
        return bool(is_member(public_key))
    except Exception:
        log.exception("is_member raised for %s; treating it as not a member", peer_id)
        return False


class MemberNoise(NoiseTransport):
    """Noise XX whose handshake fails unless the remote peer is a member."""

    def __init__(self, key_pair: KeyPair, is_member: MemberCheck) -> None:
        super().__init__(key_pair, noise_privkey=new_x25519_key_pair().private_key)
        self._is_member = is_member

    async def secure_inbound(self, conn: IRawConnection) -> ISecureConn:
        return await self._admit(await super().secure_inbound(conn), "inbound")

    async def secure_outbound(self, conn: IRawConnection, peer_id: ID) -> ISecureConn:
        return await self._admit(await super().secure_outbound(conn, peer_id), "outbound")

    async def _admit(self, secure_conn: ISecureConn, direction: str) -> ISecureConn:
        remote = secure_conn.get_remote_peer()
        if is_member_id(self._is_member, remote):
            return secure_conn
        log.warning("refused %s connection from %s: not a member", direction, remote)
        with contextlib.suppress(Exception):
            await secure_conn.close()
        raise HandshakeFailure(f"{remote} is not a member")
