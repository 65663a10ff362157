"""Document kinds: the names users and indexes use, and where each lives in a DocumentBody."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from tdx.v1 import documents_pb2 as pb


@dataclass(frozen=True)
class Kind:
    """One document kind: its name, the body's oneof field, and the type value it sets."""

    name: str
    field: str
    type_value: int
    summary: str


_T = pb.TradeDocumentType
_C = pb.CertificateType
_A = pb.CertificateActionType

KINDS: tuple[Kind, ...] = (
    Kind("export_declaration", "trade", _T.TRADE_DOCUMENT_TYPE_EXPORT_DECLARATION,
         "export goods declaration (WCO DM)"),
    Kind("import_declaration", "trade", _T.TRADE_DOCUMENT_TYPE_IMPORT_DECLARATION,
         "import goods declaration (WCO DM), may draw on certificates"),
    Kind("invoice", "trade", _T.TRADE_DOCUMENT_TYPE_INVOICE, "commercial invoice"),
    Kind("bill_of_lading", "trade", _T.TRADE_DOCUMENT_TYPE_BILL_OF_LADING, "bill of lading"),
    Kind("packing_list", "trade", _T.TRADE_DOCUMENT_TYPE_PACKING_LIST, "packing list"),
    Kind("origin_certificate", "certificate", _C.CERTIFICATE_TYPE_ORIGIN,
         "certificate of origin"),
    Kind("phytosanitary_certificate", "certificate", _C.CERTIFICATE_TYPE_PHYTOSANITARY,
         "phytosanitary certificate"),
    Kind("certificate_revocation", "certificate_action", _A.CERTIFICATE_ACTION_TYPE_REVOKE,
         "the issuer revokes a certificate"),
    Kind("certificate_draw_down", "certificate_action", _A.CERTIFICATE_ACTION_TYPE_DRAW_DOWN,
         "import customs draw quantities down against a certificate"),
    Kind("certificate_verification", "certificate_action",
         _A.CERTIFICATE_ACTION_TYPE_VERIFY, "import customs record a certificate check"),
    Kind("ip_rights_record", "ip_rights", 0, "a rights holder's record of a protected right"),
    Kind("ip_rights_alert", "ip_alert", 0, "a customs counterfeit alert"),
    Kind("shipment_events", "shipment", 0, "a batch of supply-chain / IoT events"),
    Kind("aeo_decision", "aeo", 0, "grant, suspend, reinstate or revoke AEO status"),
    Kind("governance_proposal", "proposal", 0, "a proposal to add, change or remove a member"),
    Kind("governance_vote", "vote", 0, "a customs member's vote on a proposal"),
    Kind("key_rotation", "key_rotation", 0, "a member replaces its signing key"),
    Kind("confidential", "confidential", 0, "content encrypted for its recipients only"),
)

KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
_TYPED_FIELDS = {"trade", "certificate", "certificate_action"}


def kind_of(body: pb.DocumentBody) -> str:
    """Return the kind name of a body, or "" when its content is not set or not known."""
    field = body.WhichOneof("content")
    if field is None:
        return ""
    if field in _TYPED_FIELDS:
        type_value = getattr(body, field).type
        for kind in KINDS:
            if kind.field == field and kind.type_value == type_value:
                return kind.name
        return ""
    for kind in KINDS:
        if kind.field == field:
            return kind.name
    return ""


def content_of(body: pb.DocumentBody) -> Message | None:
    """Return the body's content message, or None when unset."""
    field = body.WhichOneof("content")
    return None if field is None else getattr(body, field)


def set_content(body: pb.DocumentBody, kind_name: str, content: Message) -> None:
    """Put ``content`` into ``body`` as kind ``kind_name``, setting the type where it has one."""
    kind = KINDS_BY_NAME.get(kind_name)
    if kind is None:
        raise KeyError(kind_name)
    target = getattr(body, kind.field)
    target.CopyFrom(content)
    if kind.field in _TYPED_FIELDS:
        target.type = kind.type_value
