"""Factories for the SDK and node unit tests: fixed identities, a genesis, sealed documents.

Every identity comes from a fixed seed and every body sealed here gets a fixed nonce and
creation time, so that the tests are deterministic within a run (Ed25519 signatures are
too). The creation time is when the run started, to the second: a ledger accepts a document
only when it was created near the time of the block that orders it (and a node's API, near
its clock), so a constant date would fall out of that window as the calendar moves on.
tests/node imports this module as well, so that both suites speak of the same members.
"""

from __future__ import annotations

import time

from tdx.sdk import (
    Identity,
    body_from_json,
    documents_pb2,
    ledger_pb2,
    seal,
    template,
)

NETWORK = "tdx-test"
CREATED_MS = int(time.time()) * 1000

# member id -> (seed byte, roles, validator)
MEMBERS: dict[str, tuple[int, tuple[str, ...], bool]] = {
    "de-customs": (1, ("customs",), True),
    "nl-customs": (2, ("customs",), True),
    "fr-customs": (3, ("customs",), True),
    "de-chamber": (4, ("issuer",), False),
    "acme-trader": (5, ("trader",), False),
    "aquaflow": (6, ("rights_holder",), False),
    "atlantic": (7, ("logistics",), False),
    "watcher": (8, ("observer",), False),
}

# The kind each member may submit in the tests: the first member whose roles allow it.
SUBMITTER: dict[str, str] = {
    "export_declaration": "de-customs",
    "import_declaration": "de-customs",
    "invoice": "acme-trader",
    "bill_of_lading": "atlantic",
    "packing_list": "atlantic",
    "origin_certificate": "de-chamber",
    "phytosanitary_certificate": "de-chamber",
    "certificate_revocation": "de-chamber",
    "certificate_draw_down": "de-customs",
    "certificate_verification": "de-customs",
    "ip_rights_record": "aquaflow",
    "ip_rights_alert": "de-customs",
    "shipment_events": "atlantic",
    "aeo_decision": "de-customs",
    "governance_proposal": "de-customs",
    "governance_vote": "de-customs",
}


def identity(member_id: str) -> Identity:
    """The fixed identity of one of MEMBERS."""
    seed_byte = MEMBERS[member_id][0]
    return Identity.from_seed(bytes([seed_byte]) * 32, member_id)


def member_record(member_id: str) -> documents_pb2.MemberRecord:
    """The genesis record of one of MEMBERS."""
    _, roles, validator = MEMBERS[member_id]
    return documents_pb2.MemberRecord(
        id=member_id, name=f"Member {member_id}", country_code="DE", roles=list(roles),
        public_key=identity(member_id).public_key, validator=validator,
        api_address="127.0.0.1:7400",
    )


def make_genesis(member_ids: tuple[str, ...] = tuple(MEMBERS)) -> ledger_pb2.Genesis:
    """A genesis of ``member_ids`` (all of MEMBERS by default) on NETWORK."""
    return ledger_pb2.Genesis(network=NETWORK, created_ms=CREATED_MS,
                              members=[member_record(m) for m in member_ids])


def body_of(kind: str, nonce: int = 0, issuer: str | None = None) -> documents_pb2.DocumentBody:
    """The template body of ``kind`` with a fixed time and nonce, issued by its SUBMITTER."""
    body = body_from_json(NETWORK, template(kind))
    body.issuer = issuer or SUBMITTER[kind]
    body.created_ms = CREATED_MS
    body.nonce = nonce.to_bytes(16, "big")
    return body


def sealed(kind: str, nonce: int = 0, signer: str | None = None) -> documents_pb2.Envelope:
    """The template document of ``kind`` sealed by ``signer`` (its SUBMITTER by default)."""
    member = signer or SUBMITTER[kind]
    return seal(identity(member), body_of(kind, nonce, member))
