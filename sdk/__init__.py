"""The tdx client SDK: identities, signed documents, proofs and clients for a node.

Typical use::

    from tdx.sdk import Client, Identity, build, seal

    me = Identity.load("customs-de.key")
    body = build("tdx-devnet", "export_declaration", {...}, ucr="4DE...")
    with Client("127.0.0.1:7400") as node:
        receipt = node.submit(seal(me, body))

The SDK depends only on the wire contract (``tdx.v1``), grpcio, PyNaCl and cryptography
(TLS certificates issued by member keys: ``Trust`` pins a node to the key the ledger names).
"""

from tdx.v1 import documents_pb2, ledger_pb2, state_pb2

from ._blocks import (
    Certification,
    VerifiedDocument,
    block_hash,
    certification,
    count_valid_signatures,
    envelope_leaf,
    is_certified,
    quorum,
    result_leaf,
    verify_proof,
)
from ._canonical import check_canonical
from ._client import AsyncClient, Client, Outcome
from ._confidential import (
    open_confidential,
    public_field_values,
    seal_confidential,
    x25519_public_key,
)
from ._crypto import (
    BLOCK_DOMAIN,
    ENVELOPE_DOMAIN,
    PEER_DOMAIN,
    VOTE_DOMAIN,
    is_acceptable_public_key,
)
from ._crypto import verify as verify_signature
from ._documents import (
    body_from_json,
    body_to_json,
    build,
    check_json_document,
    draw_down,
    key_rotation,
    revoke_certificate,
    template,
    template_kinds,
    vote,
)
from ._envelope import decode_body, document_id, open_envelope, seal
from ._errors import (
    AlreadyExists,
    ApiError,
    DeadlineExceeded,
    DocumentError,
    GenesisError,
    IdentityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ProofError,
    Rejected,
    ResourceExhausted,
    SchemaError,
    SignatureError,
    TdxError,
    TlsError,
    Unavailable,
)
from ._genesis import check_genesis, genesis_hash, genesis_json, load_genesis, parse_genesis
from ._governance import (
    member_record,
    propose_add_member,
    propose_remove_member,
    propose_update_member,
)
from ._identity import Identity, public_key_of_file
from ._kinds import KIND_NAMES, KINDS, Kind, kind_of
from ._members import check_member_record
from ._merkle import inclusion_path, verify_inclusion
from ._merkle import root as merkle_root
from ._retry import DEFAULT_RETRY, RetryPolicy
from ._schema import CONFIDENTIAL_PUBLIC_FIELDS, ROLES, check_body
from ._tls import (
    TLS_NAME,
    TlsCertificate,
    anchor_pem,
    issuing_key,
    load_certificate,
    make_certificate,
    read_certificate,
)
from ._trust import (
    InsecureWarning,
    ServerPin,
    Trust,
    aio_channel,
    channel,
    default_trust,
    is_loopback,
    set_default_trust,
)
from ._window import CreatedWindow
from ._workflows import (
    AEO_ACTIONS,
    SEVERITIES,
    aeo_decision,
    amend_certificate,
    declaration,
    goods_item,
    ip_alert,
    ip_rights_record,
    origin_certificate,
    party,
    phytosanitary_certificate,
    position_event,
    seal_event,
    shipment_events,
    temperature_reading,
    verify_certificate,
)

__all__ = [
    "AEO_ACTIONS",
    "BLOCK_DOMAIN",
    "CONFIDENTIAL_PUBLIC_FIELDS",
    "DEFAULT_RETRY",
    "ENVELOPE_DOMAIN",
    "KINDS",
    "KIND_NAMES",
    "PEER_DOMAIN",
    "ROLES",
    "SEVERITIES",
    "TLS_NAME",
    "VOTE_DOMAIN",
    "AlreadyExists",
    "ApiError",
    "AsyncClient",
    "Certification",
    "Client",
    "CreatedWindow",
    "DeadlineExceeded",
    "DocumentError",
    "GenesisError",
    "Identity",
    "IdentityError",
    "InsecureWarning",
    "InvalidArgument",
    "Kind",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "ProofError",
    "Rejected",
    "ResourceExhausted",
    "RetryPolicy",
    "SchemaError",
    "ServerPin",
    "SignatureError",
    "TdxError",
    "TlsCertificate",
    "TlsError",
    "Trust",
    "Unavailable",
    "VerifiedDocument",
    "aeo_decision",
    "aio_channel",
    "amend_certificate",
    "anchor_pem",
    "block_hash",
    "body_from_json",
    "body_to_json",
    "build",
    "certification",
    "channel",
    "check_body",
    "check_canonical",
    "check_genesis",
    "check_json_document",
    "check_member_record",
    "count_valid_signatures",
    "declaration",
    "decode_body",
    "default_trust",
    "document_id",
    "documents_pb2",
    "draw_down",
    "envelope_leaf",
    "genesis_hash",
    "genesis_json",
    "goods_item",
    "inclusion_path",
    "ip_alert",
    "ip_rights_record",
    "is_acceptable_public_key",
    "is_certified",
    "is_loopback",
    "issuing_key",
    "key_rotation",
    "kind_of",
    "ledger_pb2",
    "load_certificate",
    "load_genesis",
    "make_certificate",
    "member_record",
    "merkle_root",
    "open_confidential",
    "open_envelope",
    "origin_certificate",
    "parse_genesis",
    "party",
    "phytosanitary_certificate",
    "position_event",
    "propose_add_member",
    "propose_remove_member",
    "propose_update_member",
    "public_field_values",
    "public_key_of_file",
    "quorum",
    "read_certificate",
    "result_leaf",
    "revoke_certificate",
    "seal",
    "seal_confidential",
    "seal_event",
    "set_default_trust",
    "shipment_events",
    "state_pb2",
    "temperature_reading",
    "template",
    "template_kinds",
    "verify_certificate",
    "verify_inclusion",
    "verify_proof",
    "verify_signature",
    "vote",
    "x25519_public_key",
]
