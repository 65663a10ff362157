"""Building document bodies: a generic builder, action helpers, JSON forms and templates."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from tdx.v1 import documents_pb2 as pb

from ._crypto import KEY_ROTATION_DOMAIN
from ._errors import SchemaError
from ._identity import Identity
from ._jsonform import parse_json
from ._kinds import KINDS_BY_NAME, content_of, kind_of, set_content
from ._schema import check_body

_CONTENT_TYPES: dict[str, type[Message]] = {
    "trade": pb.TradeDocument,
    "certificate": pb.Certificate,
    "certificate_action": pb.CertificateAction,
    "ip_rights": pb.IpRightsRecord,
    "ip_alert": pb.IpRightsAlert,
    "shipment": pb.ShipmentEvents,
    "proposal": pb.GovernanceProposal,
    "vote": pb.GovernanceVote,
    "key_rotation": pb.KeyRotation,
    "aeo": pb.AeoDecision,
    "confidential": pb.Confidential,
}


def build(
    network: str,
    kind: str,
    content: Message | Mapping[str, Any],
    *,
    ucr: str = "",
    recipients: Iterable[str] = (),
) -> pb.DocumentBody:
    """Return a DocumentBody of ``kind`` for ``network``.

    ``content`` is the kind's content message (for example a ``TradeDocument``) or its
    protobuf-JSON form as a mapping. The kind sets the content's ``type`` where it has one.
    Issuer, creation time and nonce are filled in when the body is sealed.
    """
    spec = KINDS_BY_NAME.get(kind)
    if spec is None:
        raise SchemaError("kind", f"unknown kind {kind!r}; see tdx.sdk.KIND_NAMES")
    message_type = _CONTENT_TYPES[spec.field]
    if isinstance(content, Message):
        if not isinstance(content, message_type):
            raise SchemaError("content", f"kind {kind} takes a {message_type.__name__}, "
                                         f"not a {type(content).__name__}")
        message = content
    else:
        message = parse_json("content", content, message_type())
    body = pb.DocumentBody(network=network, ucr=ucr, recipients=list(recipients))
    set_content(body, kind, message)
    return body


def body_from_json(network: str, document: Mapping[str, Any], kind: str | None = None) -> (
    pb.DocumentBody
):
    """Build a body from the JSON form ``{"kind", "ucr", "recipients", "content"}``.

    ``kind`` overrides a missing ``"kind"`` and must agree with a present one.
    """
    unknown = set(document) - {"kind", "ucr", "recipients", "content"}
    if unknown:
        raise SchemaError(sorted(unknown)[0], "unknown top-level field; expected kind, ucr, "
                                              "recipients, content")
    named = document.get("kind")
    if kind and named and named != kind:
        raise SchemaError("kind", f"the file says {named!r} but {kind!r} was asked for")
    chosen = kind or named
    if not isinstance(chosen, str) or not chosen:
        raise SchemaError("kind", "is required")
    content = document.get("content", {})
    if not isinstance(content, Mapping):
        raise SchemaError("content", "must be a JSON object")
    recipients = document.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise SchemaError("recipients", "must be a list of member ids")
    ucr = document.get("ucr", "")
    if not isinstance(ucr, str):
        raise SchemaError("ucr", "must be a string")
    return build(network, chosen, content, ucr=ucr, recipients=recipients)


def body_to_json(body: pb.DocumentBody) -> dict[str, Any]:
    """The JSON form of a body's document: kind, ucr, recipients and content."""
    content = content_of(body)
    return {
        "kind": kind_of(body),
        "ucr": body.ucr,
        "recipients": list(body.recipients),
        "content": {} if content is None else json_format.MessageToDict(
            content, preserving_proto_field_name=True
        ),
    }


def revoke_certificate(network: str, certificate_id: str, reason: str) -> pb.DocumentBody:
    """A revocation of ``certificate_id`` by its issuer."""
    return build(network, "certificate_revocation",
                 pb.CertificateAction(certificate_id=certificate_id, reason=reason))


def draw_down(
    network: str, certificate_id: str, declaration_id: str, lines: Mapping[int, str], *, ucr: str
) -> pb.DocumentBody:
    """A draw-down of quantities (line number -> decimal string) against a certificate."""
    action = pb.CertificateAction(
        certificate_id=certificate_id,
        declaration_id=declaration_id,
        lines=[pb.DrawDownLine(sequence_numeric=n, quantity=q) for n, q in sorted(lines.items())],
    )
    return build(network, "certificate_draw_down", action, ucr=ucr)


def vote(network: str, proposal_id: str, approve: bool, comment: str = "") -> pb.DocumentBody:
    """A customs member's vote on a governance proposal."""
    return build(network, "governance_vote",
                 pb.GovernanceVote(proposal_id=proposal_id, approve=approve, comment=comment))


def key_rotation(network: str, old: Identity, new: Identity) -> pb.DocumentBody:
    """A rotation from ``old`` to ``new``; seal it with ``old``.

    The new key signs the member id and the old key, so that nobody can rotate a member
    onto a key they do not hold.
    """
    proof = new.sign(KEY_ROTATION_DOMAIN, old.member_id.encode() + b"\x00" + old.public_key)
    rotation = pb.KeyRotation(new_public_key=new.public_key, new_key_signature=proof)
    return build(network, "key_rotation", rotation)


def template(kind: str) -> dict[str, Any]:
    """A valid example document of ``kind`` in the JSON form that ``body_from_json`` reads."""
    from ._templates import TEMPLATES

    maker = TEMPLATES.get(kind)
    if maker is None:
        raise SchemaError("kind", f"no template for {kind!r}; templates: "
                                  + ", ".join(sorted(TEMPLATES)))
    return copy.deepcopy({"kind": kind, **maker(int(time.time() * 1000))})


def template_kinds() -> list[str]:
    """The kinds that have a template, in KINDS order."""
    from ._templates import TEMPLATES

    return [k for k in KINDS_BY_NAME if k in TEMPLATES]


def check_json_document(network: str, document: Mapping[str, Any], kind: str | None = None) -> str:
    """Build and schema-check a JSON document (issuer and nonce filled with placeholders)."""
    body = body_from_json(network, document, kind)
    body.issuer = body.issuer or "placeholder"
    body.created_ms = 1
    body.nonce = b"\x00" * 16
    return check_body(body)


def dumps(document: Mapping[str, Any]) -> str:
    """JSON text of a document form, stable and readable."""
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
