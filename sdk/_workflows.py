"""Typed builders for the customs workflows' documents: certificates, AEO decisions,
IP-rights records and alerts, shipment events, export and import declarations.

Each returns an unsigned ``DocumentBody`` for ``network``; seal it with ``seal(identity,
body)`` and submit it. The ledger's rules for each kind are documented in
``tdx.node.state.workflows``; the builders only shape the documents (the schema is checked when
they are sealed and again by the node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tdx.v1 import documents_pb2 as pb

from ._documents import build
from ._errors import SchemaError
from ._jsonform import parse_json

PartyLike = pb.Party | Mapping[str, Any]
GoodsLike = pb.GoodsItem | Mapping[str, Any]

_AEO_ACTIONS = {"grant": pb.AEO_ACTION_GRANT, "suspend": pb.AEO_ACTION_SUSPEND,
                "reinstate": pb.AEO_ACTION_REINSTATE, "revoke": pb.AEO_ACTION_REVOKE}
_SEVERITIES = {"low": pb.ALERT_SEVERITY_LOW, "medium": pb.ALERT_SEVERITY_MEDIUM,
               "high": pb.ALERT_SEVERITY_HIGH}
AEO_ACTIONS: tuple[str, ...] = tuple(_AEO_ACTIONS)
SEVERITIES: tuple[str, ...] = tuple(_SEVERITIES)


def party(name: str, id: str = "", country_code: str = "", address: str = "") -> pb.Party:
    """A party (WCO DM): name, identification (EORI, TIN, AEO id), country, address."""
    return pb.Party(name=name, id=id, country_code=country_code, address=address)


def goods_item(sequence: int, description: str, hs_code: str, quantity: str = "",
               unit: str = "", *, origin_country_code: str = "", origin_criterion: str = "",
               net_mass_kg: str = "") -> pb.GoodsItem:
    """One goods line; quantities are decimal strings ("40", "12.5")."""
    return pb.GoodsItem(sequence_numeric=sequence, description=description, hs_code=hs_code,
                        quantity=quantity, quantity_unit_code=unit,
                        origin_country_code=origin_country_code,
                        origin_criterion=origin_criterion, net_mass_kg=net_mass_kg)


def _party(value: PartyLike | None, field: str) -> pb.Party:
    if value is None:
        return pb.Party()
    if isinstance(value, pb.Party):
        return value
    return parse_json(field, value, pb.Party())


def _goods(items: Iterable[GoodsLike]) -> list[pb.GoodsItem]:
    return [item if isinstance(item, pb.GoodsItem)
            else parse_json(f"goods[{i}]", item, pb.GoodsItem()) for i, item in enumerate(items)]


# -- certificates -----------------------------------------------------------------------

def _certificate(network: str, kind: str, *, ucr: str, number: str, exporter: PartyLike,
                 importer: PartyLike, export_country_code: str, import_country_code: str,
                 goods: Iterable[GoodsLike], valid_from_ms: int, valid_until_ms: int,
                 supersedes_id: str, recipients: Iterable[str], treatment: str = "",
                 additional_declaration: str = "") -> pb.DocumentBody:
    content = pb.Certificate(
        number=number, exporter=_party(exporter, "exporter"),
        importer=_party(importer, "importer"),
        export_country_code=export_country_code, import_country_code=import_country_code,
        goods_items=_goods(goods), valid_from_ms=valid_from_ms, valid_until_ms=valid_until_ms,
        supersedes_id=supersedes_id, treatment=treatment,
        additional_declaration=additional_declaration)
    return build(network, kind, content, ucr=ucr, recipients=recipients)


def origin_certificate(network: str, *, ucr: str, number: str, exporter: PartyLike,
                       importer: PartyLike, export_country_code: str,
                       import_country_code: str, goods: Iterable[GoodsLike],
                       valid_from_ms: int = 0, valid_until_ms: int = 0,
                       supersedes_id: str = "", recipients: Iterable[str] = ()) -> (
                           pb.DocumentBody):
    """A certificate of origin; every line needs a quantity, origin country and criterion.

    With ``supersedes_id`` it is an amendment: a new version that replaces that one.
    """
    return _certificate(network, "origin_certificate", ucr=ucr, number=number,
                        exporter=exporter, importer=importer,
                        export_country_code=export_country_code,
                        import_country_code=import_country_code, goods=goods,
                        valid_from_ms=valid_from_ms, valid_until_ms=valid_until_ms,
                        supersedes_id=supersedes_id, recipients=recipients)


def phytosanitary_certificate(network: str, *, ucr: str, number: str, exporter: PartyLike,
                              importer: PartyLike, export_country_code: str,
                              import_country_code: str, goods: Iterable[GoodsLike],
                              treatment: str = "", additional_declaration: str = "",
                              valid_from_ms: int = 0, valid_until_ms: int = 0,
                              supersedes_id: str = "", recipients: Iterable[str] = ()) -> (
                                  pb.DocumentBody):
    """A phytosanitary certificate (the same lifecycle as a certificate of origin)."""
    return _certificate(network, "phytosanitary_certificate", ucr=ucr, number=number,
                        exporter=exporter, importer=importer,
                        export_country_code=export_country_code,
                        import_country_code=import_country_code, goods=goods,
                        valid_from_ms=valid_from_ms, valid_until_ms=valid_until_ms,
                        supersedes_id=supersedes_id, recipients=recipients,
                        treatment=treatment, additional_declaration=additional_declaration)


def amend_certificate(original: pb.DocumentBody, supersedes_id: str, *,
                      goods: Iterable[GoodsLike] | None = None,
                      valid_until_ms: int | None = None) -> pb.DocumentBody:
    """A new version of the certificate ``original`` (whose id is ``supersedes_id``).

    The content is copied; ``goods`` and ``valid_until_ms`` replace the old ones when given.
    Issuer, time and nonce are set anew when it is sealed.
    """
    if original.WhichOneof("content") != "certificate":
        raise SchemaError("content", "only a certificate can be amended")
    body = pb.DocumentBody(network=original.network, ucr=original.ucr,
                           recipients=original.recipients)
    body.certificate.CopyFrom(original.certificate)
    body.certificate.supersedes_id = supersedes_id
    if goods is not None:
        del body.certificate.goods_items[:]
        body.certificate.goods_items.extend(_goods(goods))
    if valid_until_ms is not None:
        body.certificate.valid_until_ms = valid_until_ms
    return body


def verify_certificate(network: str, certificate_id: str, reason: str = "") -> pb.DocumentBody:
    """Importing customs record that they checked a certificate (refused unless usable)."""
    return build(network, "certificate_verification",
                 pb.CertificateAction(certificate_id=certificate_id, reason=reason))


# -- declarations -----------------------------------------------------------------------

def declaration(network: str, kind: str, *, ucr: str, reference: str, declarant: PartyLike,
                exporter: PartyLike, importer: PartyLike, export_country_code: str,
                destination_country_code: str, office_id: str, goods: Iterable[GoodsLike],
                consignor: PartyLike | None = None, loading_location_id: str = "",
                unloading_location_id: str = "", certificate_ids: Sequence[str] = (),
                linked_export_id: str = "", recipients: Iterable[str] = ()) -> (
                    pb.DocumentBody):
    """An export or import declaration (``kind`` "export_declaration" or
    "import_declaration").

    An import declaration lists the certificates it draws on and may name the export
    declaration it follows (``linked_export_id``); without one the ledger links the latest
    export declaration of the same UCR and destination.
    """
    if kind not in ("export_declaration", "import_declaration"):
        raise SchemaError("kind", "must be export_declaration or import_declaration")
    content = pb.TradeDocument(
        functional_reference_id=reference, declarant=_party(declarant, "declarant"),
        exporter=_party(exporter, "exporter"), importer=_party(importer, "importer"),
        consignor=_party(consignor, "consignor"),
        export_country_code=export_country_code,
        destination_country_code=destination_country_code, declaration_office_id=office_id,
        loading_location_id=loading_location_id, unloading_location_id=unloading_location_id,
        goods_items=_goods(goods), certificate_ids=list(certificate_ids),
        linked_export_id=linked_export_id)
    return build(network, kind, content, ucr=ucr, recipients=recipients)


# -- AEO --------------------------------------------------------------------------------

def aeo_decision(network: str, action: str, operator: PartyLike, reference: str, *,
                 reason: str = "", recognized_by: Iterable[str] = (),
                 recipients: Iterable[str] = ()) -> pb.DocumentBody:
    """A customs decision on an operator's AEO status: ``action`` is grant, suspend,
    reinstate or revoke; ``recognized_by`` lists the MRA partner countries."""
    chosen = _AEO_ACTIONS.get(action.lower())
    if chosen is None:
        raise SchemaError("aeo.action", f"unknown action {action!r}; one of "
                                        + ", ".join(AEO_ACTIONS))
    content = pb.AeoDecision(action=chosen, operator=_party(operator, "operator"),
                             reference=reference, reason=reason,
                             recognized_by_country_codes=list(recognized_by))
    return build(network, "aeo_decision", content, recipients=recipients)


# -- IP rights --------------------------------------------------------------------------

def ip_rights_record(network: str, *, brand: str, goods_description: str,
                     hs_codes: Iterable[str], holder: PartyLike, contact: str,
                     right_type: str = "trademark", registration_number: str = "",
                     authentic_features: Iterable[str] = (), valid_until_ms: int = 0) -> (
                         pb.DocumentBody):
    """A rights holder's record of a protected right."""
    content = pb.IpRightsRecord(
        right_type=right_type, brand=brand, registration_number=registration_number,
        goods_description=goods_description, hs_codes=list(hs_codes),
        authentic_features=list(authentic_features), holder=_party(holder, "holder"),
        contact=contact,
        valid_until_ms=valid_until_ms)
    return build(network, "ip_rights_record", content)


def ip_alert(network: str, rights_record_id: str, *, severity: str, expires_ms: int,
             hs_codes: Iterable[str] = (), origin_country_codes: Iterable[str] = (),
             consignor_ids: Iterable[str] = (), route_location_ids: Iterable[str] = (),
             description: str = "") -> pb.DocumentBody:
    """A customs counterfeit alert on a rights record.

    A declaration matches when every indicator group given here has a value it carries
    (HS codes match by prefix); ``severity`` is low, medium or high.
    """
    chosen = _SEVERITIES.get(severity.lower())
    if chosen is None:
        raise SchemaError("ip_alert.severity", f"unknown severity {severity!r}; one of "
                                               + ", ".join(SEVERITIES))
    content = pb.IpRightsAlert(
        rights_record_id=rights_record_id, hs_codes=list(hs_codes),
        origin_country_codes=list(origin_country_codes), consignor_ids=list(consignor_ids),
        route_location_ids=list(route_location_ids), severity=chosen, expires_ms=expires_ms,
        description=description)
    return build(network, "ip_rights_alert", content)


# -- shipment events --------------------------------------------------------------------

def temperature_reading(observed_ms: int, celsius: str, device_id: str = "") -> (
        pb.ShipmentEvent):
    """A temperature reading in degrees Celsius (a decimal string, "4.5")."""
    return pb.ShipmentEvent(type=pb.SHIPMENT_EVENT_TYPE_TEMPERATURE, observed_ms=observed_ms,
                            temperature_c=celsius, device_id=device_id)


def seal_event(observed_ms: int, seal_id: str, *, broken: bool = False,
               device_id: str = "") -> pb.ShipmentEvent:
    """A seal check: intact, or broken."""
    status = pb.SEAL_STATUS_BROKEN if broken else pb.SEAL_STATUS_INTACT
    return pb.ShipmentEvent(type=pb.SHIPMENT_EVENT_TYPE_SEAL, observed_ms=observed_ms,
                            seal_id=seal_id, seal_status=status, device_id=device_id)


def position_event(observed_ms: int, latitude: float, longitude: float,
                   location_id: str = "", device_id: str = "") -> pb.ShipmentEvent:
    """A position fix (and the UN/LOCODE of the place, where known)."""
    return pb.ShipmentEvent(type=pb.SHIPMENT_EVENT_TYPE_POSITION, observed_ms=observed_ms,
                            latitude=latitude, longitude=longitude, location_id=location_id,
                            device_id=device_id)


def shipment_events(network: str, ucr: str, events: Iterable[pb.ShipmentEvent], *,
                    min_temperature_c: str = "", max_temperature_c: str = "") -> (
                        pb.DocumentBody):
    """A signed batch of events for consignment ``ucr``; the first batch with a range sets
    the consignment's allowed temperatures."""
    content = pb.ShipmentEvents(events=list(events), min_temperature_c=min_temperature_c,
                                max_temperature_c=max_temperature_c)
    return build(network, "shipment_events", content, ucr=ucr)
