"""Valid example documents, one per kind, that ``tdx doc template KIND`` prints.

Each template passes the schema as it is. Templates that refer to other documents (a
certificate to revoke, a rights record to alert on) carry a placeholder id: replace it with
the id of the real document before submitting, or the ledger rejects it as unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PLACEHOLDER_ID = "0" * 63 + "1"
DAY_MS = 86_400_000
UCR = "4DE123456789-INV-2026-0001"

_EXPORTER = {"name": "Rhein Maschinenbau GmbH", "id": "DE123456789012345",
             "country_code": "DE", "address": "Hafenstrasse 1, 47119 Duisburg"}
_IMPORTER = {"name": "Lagos Industrial Supplies Ltd", "id": "NG987654321",
             "country_code": "NG", "address": "12 Wharf Road, Apapa, Lagos"}
_CARRIER = {"name": "Atlantic Lines", "id": "ATLN", "country_code": "DK"}
_GOODS = [{
    "sequence_numeric": 1,
    "description": "Centrifugal pumps for liquids",
    "hs_code": "841370",
    "origin_country_code": "DE",
    "quantity": "40",
    "quantity_unit_code": "NAR",
    "net_mass_kg": "3200",
    "customs_value": {"value": "184000.00", "currency_code": "EUR"},
    "origin_criterion": "PSR",
}]


def _trade(ref: str, extra: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    def make(now_ms: int) -> dict[str, Any]:
        content: dict[str, Any] = {
            "functional_reference_id": ref,
            "declarant": _EXPORTER,
            "exporter": _EXPORTER,
            "importer": _IMPORTER,
            "consignor": _EXPORTER,
            "consignee": _IMPORTER,
            "export_country_code": "DE",
            "destination_country_code": "NG",
            "declaration_office_id": "DE004700",
            "transport_means_id": "IMO9321483",
            "loading_location_id": "DEHAM",
            "unloading_location_id": "NGAPP",
            "goods_items": _GOODS,
            **extra,
        }
        return {"ucr": UCR, "recipients": [], "content": content}

    return make


def _certificate(kind_extra: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    def make(now_ms: int) -> dict[str, Any]:
        content = {
            "number": "DE-COO-2026-000123",
            "exporter": _EXPORTER,
            "importer": _IMPORTER,
            "export_country_code": "DE",
            "import_country_code": "NG",
            "goods_items": _GOODS,
            "valid_from_ms": str(now_ms - DAY_MS),
            "valid_until_ms": str(now_ms + 365 * DAY_MS),
            **kind_extra,
        }
        return {"ucr": UCR, "recipients": [], "content": content}

    return make


def _plain(content: dict[str, Any], ucr: str = "") -> Callable[[int], dict[str, Any]]:
    return lambda now_ms: {"ucr": ucr, "recipients": [], "content": content}


def _ip_alert(now_ms: int) -> dict[str, Any]:
    return {"ucr": "", "recipients": [], "content": {
        "rights_record_id": PLACEHOLDER_ID,
        "hs_codes": ["841370"],
        "origin_country_codes": ["CN"],
        "consignor_ids": ["CN91440300MA5XXXX"],
        "route_location_ids": ["AEJEA"],
        "severity": "ALERT_SEVERITY_HIGH",
        "expires_ms": str(now_ms + 90 * DAY_MS),
        "description": "Counterfeit pumps with forged nameplates reported on this route",
    }}


def _proposal(now_ms: int) -> dict[str, Any]:
    return {"ucr": "", "recipients": [], "content": {
        "action": "PROPOSAL_ACTION_ADD_MEMBER",
        "member": {"id": "ng-customs", "name": "Nigeria Customs Service",
                   "country_code": "NG", "roles": ["customs"],
                   "public_key": _EXAMPLE_KEY_B64, "api_address": "127.0.0.1:7300"},
        "rationale": "Mutual recognition arrangement signed",
        "expires_ms": str(now_ms + 14 * DAY_MS),
    }}


def _shipment(now_ms: int) -> dict[str, Any]:
    return {"ucr": UCR, "recipients": [], "content": {
        "min_temperature_c": "2",
        "max_temperature_c": "8",
        "events": [
            {"type": "SHIPMENT_EVENT_TYPE_POSITION", "observed_ms": str(now_ms - 60_000),
             "device_id": "tracker-17", "latitude": 53.54, "longitude": 9.98,
             "location_id": "DEHAM"},
            {"type": "SHIPMENT_EVENT_TYPE_SEAL", "observed_ms": str(now_ms - 30_000),
             "device_id": "seal-reader-2", "seal_id": "SEAL-0042",
             "seal_status": "SEAL_STATUS_INTACT"},
            {"type": "SHIPMENT_EVENT_TYPE_TEMPERATURE", "observed_ms": str(now_ms),
             "device_id": "reefer-5", "temperature_c": "4.5"},
        ],
    }}


# A fixed, valid Ed25519 public key (of the seed 32 x 0x01), so the template is stable.
_EXAMPLE_KEY_B64 = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="

TEMPLATES: dict[str, Callable[[int], dict[str, Any]]] = {
    "export_declaration": _trade("DE-EX-2026-000123", {}),
    "import_declaration": _trade("NG-IM-2026-000456", {}),
    "invoice": _trade("INV-2026-0001", {
        "invoice_amount": {"value": "184000.00", "currency_code": "EUR"}}),
    "bill_of_lading": _trade("ATLN-BL-778812", {"carrier": _CARRIER}),
    "packing_list": _trade("PL-2026-0001", {}),
    "origin_certificate": _certificate({}),
    "phytosanitary_certificate": _certificate({
        "treatment": "Heat treatment 56C for 30 minutes",
        "additional_declaration": "Free from quarantine pests"}),
    "certificate_revocation": _plain({"certificate_id": PLACEHOLDER_ID,
                                      "reason": "Issued in error"}),
    "certificate_draw_down": _plain({
        "certificate_id": PLACEHOLDER_ID, "declaration_id": PLACEHOLDER_ID,
        "lines": [{"sequence_numeric": 1, "quantity": "10"}]}, UCR),
    "certificate_verification": _plain({"certificate_id": PLACEHOLDER_ID,
                                        "reason": "Checked at import clearance"}),
    "ip_rights_record": _plain({
        "right_type": "trademark", "brand": "AquaFlow",
        "registration_number": "EUTM-018765432",
        "goods_description": "Centrifugal pumps and spare parts",
        "hs_codes": ["841370", "841391"],
        "authentic_features": ["laser-etched serial on the volute", "hologram nameplate"],
        "holder": {"name": "AquaFlow Pumps SE", "id": "DE811223344", "country_code": "DE"},
        "contact": "brand-protection@aquaflow.example",
    }),
    "ip_rights_alert": _ip_alert,
    "shipment_events": _shipment,
    "aeo_decision": _plain({
        "action": "AEO_ACTION_GRANT",
        "operator": _EXPORTER,
        "reference": "DEAEOF123456",
        "reason": "Criteria of Art. 39 UCC met",
        "recognized_by_country_codes": ["NG", "JP"],
    }),
    "governance_proposal": _proposal,
    "governance_vote": _plain({"proposal_id": PLACEHOLDER_ID, "approve": True,
                               "comment": "Approved by the board"}),
}
