"""The checks every envelope passes, at the API and again when its block is applied.

``check_envelope`` is the one implementation: the API turns a ``Refusal`` into a gRPC status
before ordering; the state machine turns it into a rejected ``Result`` when applying, which
is how every node reaches the same verdict for the same block. In order: size, signer
membership, signature, canonical encoding (``document.not_canonical``), schema
(``schema.invalid``, which for a governance proposal includes the node's parse of the member's
libp2p address), issuer, role, and the creation-time window (``created_ms.out_of_window``)
against the time the caller gives: the block's ``proposed_ms`` when applying, this node's
clock at the API.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from tdx.node.state.permissions import may_submit
from tdx.sdk import (
    CreatedWindow,
    DocumentError,
    SchemaError,
    SignatureError,
    check_body,
    check_canonical,
    documents_pb2,
    ledger_pb2,
    open_envelope,
)
from tdx.sdk._crypto import sha256
from tdx.sdk._p2p import p2p_address_problem

MAX_BODY_BYTES = 256 * 1024
DEFAULT_WINDOW = CreatedWindow()


class Refusal(Exception):
    """Why an envelope is refused: a gRPC status name, a result code and a message."""

    def __init__(self, status: str, code: str, message: str, field: str = "",
                 receipt: ledger_pb2.Receipt | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.receipt = receipt


Outcome = ledger_pb2.Receipt | Refusal
"""What ordering answers for one envelope: its receipt, or why it was refused."""


class MemberView(Protocol):
    """What the checks need to know of membership."""

    def member_by_key(self, public_key: bytes) -> documents_pb2.MemberRecord | None:
        """The current member holding ``public_key``, or None."""
        ...


@dataclass(frozen=True)
class Checked:
    """An envelope that passed the checks."""

    body: documents_pb2.DocumentBody
    kind: str
    member: documents_pb2.MemberRecord


class VerifiedEnvelopes:
    """A bounded memory of envelopes whose signature, body and schema this node checked.

    Checking an envelope gives the same verdict every time, so a node that checked it when
    it entered (at the API) need not check the signature and schema again when it applies
    the block; membership and role are always checked again, since they can change. Keyed
    by body hash, signer and signature, so another signature over the same body is checked
    afresh.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, tuple[documents_pb2.DocumentBody, str]] = OrderedDict()

    @staticmethod
    def key(envelope: documents_pb2.Envelope) -> bytes:
        """The memory's key for an envelope."""
        return sha256(envelope.body) + bytes(envelope.signer) + bytes(envelope.signature)

    def get(self, key: bytes) -> tuple[documents_pb2.DocumentBody, str] | None:
        """The checked body and kind, if this envelope was checked before."""
        return self._seen.get(key)

    def put(self, key: bytes, body: documents_pb2.DocumentBody, kind: str) -> None:
        """Remember a checked envelope, forgetting the oldest past capacity."""
        self._seen[key] = (body, kind)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def check_envelope(
    envelope: documents_pb2.Envelope, network: str, members: MemberView,
    verified: VerifiedEnvelopes | None = None, *, now_ms: int | None = None,
    window: CreatedWindow | None = None,
) -> Checked:
    """Check size, membership, signature, encoding, schema, network, role and creation time;
    raise Refusal if not.

    The signer must be a current member; its key was checked to be a valid, non-small-order
    point when the member was admitted, so only the signature itself is verified here.
    ``created_ms`` must lie within ``window`` of ``now_ms``. The state machine passes the
    block's ``proposed_ms``, so that every node decides alike; at the API (None) it is this
    node's clock. ``window`` defaults to the one ``members`` carries (``Ledger.created_window``,
    from the genesis), else the default window.
    """
    if len(envelope.body) > MAX_BODY_BYTES:
        raise Refusal("RESOURCE_EXHAUSTED", "document.too_large",
                      f"document body is {len(envelope.body)} bytes; the limit is "
                      f"{MAX_BODY_BYTES}")
    member = members.member_by_key(bytes(envelope.signer))
    if member is None:
        raise Refusal("PERMISSION_DENIED", "member.unknown",
                      f"signer {bytes(envelope.signer).hex()[:16]}... is not a member of "
                      f"{network}")
    key = VerifiedEnvelopes.key(envelope) if verified is not None else b""
    known = verified.get(key) if verified is not None else None
    if known is not None:
        body, kind = known
    else:
        body, kind = _check_document(envelope, network)
        if verified is not None:
            verified.put(key, body, kind)
    if member.id != body.issuer:
        raise Refusal("PERMISSION_DENIED", "member.not_issuer",
                      f"the body names issuer {body.issuer!r} but the signer is member "
                      f"{member.id!r}")
    effective = body.confidential.kind if kind == "confidential" else kind
    if not may_submit(member.roles, effective):
        raise Refusal("PERMISSION_DENIED", "role.forbidden",
                      f"member {member.id!r} with roles {', '.join(member.roles)} may not "
                      f"submit {effective}")
    if window is None:
        # A Ledger carries its genesis's window; a bare membership view (tests) does not.
        window = getattr(members, "created_window", DEFAULT_WINDOW)
    try:
        window.check(body.created_ms, int(time.time() * 1000) if now_ms is None else now_ms)
    except SchemaError as exc:
        raise Refusal("INVALID_ARGUMENT", "created_ms.out_of_window", str(exc),
                      exc.field) from None
    return Checked(body=body, kind=kind, member=member)


def _check_document(envelope: documents_pb2.Envelope,
                    network: str) -> tuple[documents_pb2.DocumentBody, str]:
    """The checks that depend on the envelope alone (their verdict can be remembered)."""
    try:
        body = open_envelope(envelope, key_checked=True)
    except SignatureError as exc:
        raise Refusal("INVALID_ARGUMENT", "signature.invalid", str(exc), "signature") from None
    except DocumentError as exc:
        raise Refusal("INVALID_ARGUMENT", "document.malformed", str(exc), "body") from None
    try:
        check_canonical(bytes(envelope.body), body)
    except SchemaError as exc:
        raise Refusal("INVALID_ARGUMENT", "document.not_canonical", f"encoding: {exc}",
                      exc.field) from None
    try:
        kind = check_body(body, network)
        if kind == "governance_proposal":
            check_member_addresses("proposal.member", body.proposal.member)
    except SchemaError as exc:
        raise Refusal("INVALID_ARGUMENT", "schema.invalid", f"schema: {exc}",
                      exc.field) from None
    return body, kind


def check_member_addresses(field: str, member: documents_pb2.MemberRecord) -> None:
    """Check a member record's libp2p address; raise SchemaError if it is not one the mesh
    can dial in its one spelling, or its peer id is not the member's key.

    The SDK's ``check_member_record`` checks the other fields; this one is checked by
    ``tdx.sdk._p2p`` (pure code, so the state machine needs no network package).
    """
    if member.p2p_address:
        problem = p2p_address_problem(member.p2p_address, bytes(member.public_key))
        if problem is not None:
            raise SchemaError(f"{field}.p2p_address", problem)
