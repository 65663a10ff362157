"""A network for the workflow tests: members in several countries, a ledger over tmp_path,
and a ``Chain`` that seals documents and applies them one block each.

Members: de-chamber issues certificates for exports from DE; de-customs and ng-customs are
the exporting and importing administrations; jp-customs is an MRA partner; acme-trader
declares, aquaflow holds rights, atlantic reports shipment events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Store
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import (
    Identity,
    declaration,
    document_id,
    documents_pb2,
    goods_item,
    ledger_pb2,
    origin_certificate,
    party,
    seal,
)

NETWORK = "tdx-workflows"
NOW = 1_795_000_000_000
DAY = 86_400_000
UCR = "4DE123456789-PUMPS-0001"

# member id -> (seed byte, country, roles, validator)
MEMBERS: dict[str, tuple[int, str, tuple[str, ...], bool]] = {
    "de-customs": (11, "DE", ("customs",), True),
    "ng-customs": (12, "NG", ("customs",), False),
    "jp-customs": (13, "JP", ("customs",), False),
    "de-chamber": (14, "DE", ("issuer",), False),
    "acme-trader": (15, "DE", ("trader",), False),
    "aquaflow": (16, "DE", ("rights_holder",), False),
    "atlantic": (17, "DK", ("logistics",), False),
}

EXPORTER = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")
IMPORTER = party("Lagos Industrial Supplies Ltd", "NG987654321", "NG")
PUMPS = goods_item(1, "Centrifugal pumps", "841370", "40", "NAR", origin_country_code="DE",
                   origin_criterion="PSR")
VALVES = goods_item(2, "Valves", "848180", "100", "NAR", origin_country_code="DE",
                    origin_criterion="WO")


def identity(member_id: str) -> Identity:
    """The fixed identity of one of MEMBERS."""
    return Identity.from_seed(bytes([MEMBERS[member_id][0]]) * 32, member_id)


def make_genesis() -> ledger_pb2.Genesis:
    """The workflow tests' genesis."""
    genesis = ledger_pb2.Genesis(network=NETWORK, created_ms=NOW - 30 * DAY)
    for member_id, (_, country, roles, validator) in MEMBERS.items():
        genesis.members.append(documents_pb2.MemberRecord(
            id=member_id, name=f"Member {member_id}", country_code=country, roles=list(roles),
            public_key=identity(member_id).public_key, validator=validator))
    return genesis


def new_ledger(path: Path) -> Ledger:
    """A Ledger over a new store at ``path`` with the workflow genesis."""
    store = Store(path, create=True)
    Ledger.initialize(store, make_genesis())
    return Ledger(store, EFFECTS)


@dataclass
class Outcome:
    """One applied document: its id and its result."""

    id: str
    result: ledger_pb2.Result

    @property
    def accepted(self) -> bool:
        return self.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED

    @property
    def code(self) -> str:
        return self.result.code

    @property
    def notices(self) -> list[str]:
        return list(self.result.notices)


@dataclass
class Chain:
    """Seals documents and applies each call's documents as one block at time ``now``."""

    ledger: Ledger
    now: int = NOW
    index: int = 0
    nonce: int = 0
    envelopes: list[documents_pb2.Envelope] = field(default_factory=list)

    def sealed(self, member: str, body: documents_pb2.DocumentBody,
               at: int | None = None) -> documents_pb2.Envelope:
        """Seal ``body`` as ``member``, created at ``at`` (default: the chain's time)."""
        self.nonce += 1
        body.created_ms = body.created_ms or (self.now if at is None else at)
        body.nonce = body.nonce or self.nonce.to_bytes(16, "big")
        return seal(identity(member), body)

    def block(self, *envelopes: documents_pb2.Envelope,
              at: int | None = None) -> list[Outcome]:
        """Apply ``envelopes`` as one block; return their outcomes in order."""
        self.index += 1
        proposal = ledger_pb2.BlockProposal(envelopes=envelopes,
                                            proposed_ms=self.now if at is None else at,
                                            proposer="de-customs")
        applied = self.ledger.apply(proposal.SerializeToString(), 1, self.index)
        assert applied is not None
        self.envelopes.extend(envelopes)
        return [Outcome(document_id(e.body), r)
                for e, r in zip(envelopes, applied.block.results, strict=True)]

    def submit(self, member: str, body: documents_pb2.DocumentBody,
               at: int | None = None) -> Outcome:
        """Seal ``body`` as ``member`` and apply it in a block of its own."""
        return self.block(self.sealed(member, body, at), at=at)[0]

    def ok(self, member: str, body: documents_pb2.DocumentBody, at: int | None = None) -> str:
        """Submit and require acceptance; return the document id."""
        outcome = self.submit(member, body, at)
        assert outcome.accepted, f"{outcome.code}: {outcome.result.reason}"
        return outcome.id


def certificate_body(number: str = "DE-COO-1", *, ucr: str = UCR, import_country: str = "NG",
                     goods: tuple[documents_pb2.GoodsItem, ...] = (PUMPS, VALVES),
                     valid_until_ms: int = NOW + 30 * DAY,
                     supersedes_id: str = "") -> documents_pb2.DocumentBody:
    """A certificate of origin for exports from DE."""
    return origin_certificate(NETWORK, ucr=ucr, number=number, exporter=EXPORTER,
                              importer=IMPORTER, export_country_code="DE",
                              import_country_code=import_country, goods=goods,
                              valid_from_ms=NOW - DAY, valid_until_ms=valid_until_ms,
                              supersedes_id=supersedes_id)


def declaration_body(kind: str = "import_declaration", *, ucr: str = UCR,
                     certificate_ids: tuple[str, ...] = (), linked_export_id: str = "",
                     destination: str = "NG", consignor: documents_pb2.Party | None = None,
                     hs_code: str = "84137000", origin: str = "DE",
                     exporter: documents_pb2.Party = EXPORTER,
                     importer: documents_pb2.Party = IMPORTER,
                     loading: str = "DEHAM",
                     reference: str = "") -> documents_pb2.DocumentBody:
    """An export or import declaration of the pumps. Its functional reference follows from
    what it declares unless ``reference`` is given, so two different declarations never
    share one (a reused reference is flagged as a duplicate)."""
    what = repr((ucr, certificate_ids, linked_export_id, destination, consignor, hs_code,
                 origin, exporter, importer, loading)).encode()
    reference = reference or f"{kind[:2].upper()}-{hashlib.sha256(what).hexdigest()[:8]}"
    return declaration(
        NETWORK, kind, ucr=ucr, reference=reference, declarant=exporter,
        exporter=exporter, importer=importer, export_country_code="DE",
        destination_country_code=destination, office_id="NGAPP001",
        goods=[goods_item(1, "Centrifugal pumps", hs_code, "40", "NAR",
                          origin_country_code=origin)],
        consignor=consignor, loading_location_id=loading, unloading_location_id="NGAPP",
        certificate_ids=certificate_ids, linked_export_id=linked_export_id)
