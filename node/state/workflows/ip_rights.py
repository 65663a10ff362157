"""IP-rights protection: rights records, counterfeit alerts, and the alert index that every
trade declaration is matched against when it is applied.

Rules (each refusal's code in brackets):

- ``ip_rights_record`` (rights_holder role): a record already past its ``valid_until_ms``
  is refused [ip_rights.expired].
- ``ip_rights_alert`` (customs role) names a rights record on the ledger
  [alert.rights_record_unknown] that has not expired [alert.rights_record_expired], and
  must expire after the block's time [alert.expired]. An alert is active until its
  ``expires_ms``.

Matching (``AlertIndex.match``), run for every export and import declaration:

- An alert's indicators are four dimensions: HS codes, origin countries, consignor ids and
  route locations. An alert matches a declaration when EVERY dimension the alert fills has
  a value that the declaration carries (any one value within a dimension is enough).
- The declaration's values: the HS codes of its goods lines (an alert code matches a
  declaration code that starts with it), the lines' origin countries and the export
  country, the consignor's and exporter's ids, the loading and unloading locations.
- It is indexed: each active alert is listed under each of its indicator values
  (``state/ipx/<dimension>\\0<value>``); a declaration reads only the lists of its own
  values (for HS, the code's prefixes of 6 digits or more) and checks only the alerts
  found there, never all alerts. Expired alerts met in a list are dropped from the lists.
- Matches are sorted (severity, highest first; then alert id) so every node records the
  same ones in the same order, recorded on the declaration's state and as ``ip_alert.match``
  notices (naming the alert, the rights record and its holder) on its result, which
  subscribed customs and the rights holder receive.

State::

    state/ipr/<record id>                  IpRightsState (holder, brand, alert ids)
    state/alert/<alert id>                 AlertState (the alert, holder, match count)
    state/ipx/<dimension>\\0<value>         AlertIndex (ids of alerts naming that value)

where <dimension> is one of ``hs``, ``origin``, ``consignor``, ``route``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.workflows._state import load, refuse, save, short, state_key, when
from tdx.v1 import documents_pb2 as pb
from tdx.v1 import state_pb2

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

DIMENSIONS = ("hs", "origin", "consignor", "route")
_LABELS = {"hs": "hs_code", "origin": "origin", "consignor": "consignor", "route": "route"}
SEVERITY_NAMES = {pb.ALERT_SEVERITY_LOW: "LOW", pb.ALERT_SEVERITY_MEDIUM: "MEDIUM",
                  pb.ALERT_SEVERITY_HIGH: "HIGH"}
MIN_HS_PREFIX = 6


def record_key(record_id: str) -> bytes:
    """Where a rights record's state lives."""
    return state_key("ipr/", record_id)


def alert_key(alert_id: str) -> bytes:
    """Where an alert's state lives."""
    return state_key("alert/", alert_id)


def index_key(dimension: str, value: str) -> bytes:
    """Where the ids of the alerts naming ``value`` in ``dimension`` live."""
    return state_key("ipx/", dimension, b"\x00", value)


def alert_values(alert: pb.IpRightsAlert) -> dict[str, list[str]]:
    """An alert's indicator values per dimension (sorted, without repeats)."""
    return {
        "hs": sorted(set(alert.hs_codes)),
        "origin": sorted(set(alert.origin_country_codes)),
        "consignor": sorted(set(alert.consignor_ids)),
        "route": sorted(set(alert.route_location_ids)),
    }


def declaration_values(trade: pb.TradeDocument) -> dict[str, set[str]]:
    """The values a declaration offers to the alert index, per dimension."""
    hs: set[str] = set()
    origin: set[str] = {trade.export_country_code}
    for item in trade.goods_items:
        code = item.hs_code
        hs.update(code[:n] for n in range(MIN_HS_PREFIX, len(code) + 1))
        origin.add(item.origin_country_code)
    consignor = {trade.consignor.id, trade.exporter.id}
    route = {trade.loading_location_id, trade.unloading_location_id}
    return {"hs": hs, "origin": origin - {""}, "consignor": consignor - {""},
            "route": route - {""}}


class AlertIndex:
    """The active alerts, listed under each indicator value, as one block sees them."""

    def __init__(self, context: ApplyContext) -> None:
        self.context = context

    def _ids(self, dimension: str, value: str) -> list[str]:
        index = load(self.context.batch, index_key(dimension, value), state_pb2.AlertIndex)
        return list(index.alert_ids) if index is not None else []

    def _set_ids(self, dimension: str, value: str, ids: list[str]) -> None:
        key = index_key(dimension, value)
        if ids:
            save(self.context.batch, key, state_pb2.AlertIndex(alert_ids=sorted(ids)))
        else:
            self.context.batch.delete(key)

    def add(self, alert: state_pb2.AlertState) -> None:
        """List an alert under each of its indicator values."""
        for dimension, values in alert_values(alert.alert).items():
            for value in values:
                ids = self._ids(dimension, value)
                if alert.alert_id not in ids:
                    self._set_ids(dimension, value, [*ids, alert.alert_id])

    def remove(self, alert: state_pb2.AlertState) -> None:
        """Take an alert off every list that names it."""
        for dimension, values in alert_values(alert.alert).items():
            for value in values:
                ids = self._ids(dimension, value)
                if alert.alert_id in ids:
                    self._set_ids(dimension, value, [i for i in ids if i != alert.alert_id])

    def candidates(self, values: dict[str, set[str]]) -> list[str]:
        """Ids of the alerts listed under any of ``values``, sorted."""
        found: set[str] = set()
        for dimension in DIMENSIONS:
            for value in sorted(values[dimension]):
                found.update(self._ids(dimension, value))
        return sorted(found)

    def match(self, trade: pb.TradeDocument) -> list[state_pb2.AlertMatch]:
        """The active alerts that match a declaration, highest severity first."""
        values = declaration_values(trade)
        matches: list[state_pb2.AlertMatch] = []
        for alert_id in self.candidates(values):
            state = load(self.context.batch, alert_key(alert_id), state_pb2.AlertState)
            if state is None:
                continue
            if state.alert.expires_ms <= self.context.proposed_ms:
                self.remove(state)
                continue
            matched_on: list[str] = []
            for dimension, wanted in alert_values(state.alert).items():
                if not wanted:
                    continue
                hits = sorted(set(wanted) & values[dimension])
                if not hits:
                    break
                matched_on.extend(f"{_LABELS[dimension]}={hit}" for hit in hits)
            else:
                state.matches += 1
                save(self.context.batch, alert_key(alert_id), state)
                matches.append(state_pb2.AlertMatch(
                    alert_id=alert_id, rights_record_id=state.rights_record_id,
                    holder_member=state.holder_member, severity=state.alert.severity,
                    matched_on=matched_on))
        matches.sort(key=lambda m: (-m.severity, m.alert_id))
        return matches


def match_notice(match: state_pb2.AlertMatch, brand: str = "") -> str:
    """The notice for one match (to subscribed customs and the rights holder)."""
    return (f"ip_alert.match: alert {match.alert_id} "
            f"({SEVERITY_NAMES.get(match.severity, 'UNSPECIFIED')}) on rights record "
            f"{match.rights_record_id}{f' ({brand})' if brand else ''}, holder "
            f"{match.holder_member}, matched {', '.join(match.matched_on)}")


def brand_of(context: ApplyContext, match: state_pb2.AlertMatch) -> str:
    """The brand of the alert's rights record."""
    state = load(context.batch, alert_key(match.alert_id), state_pb2.AlertState)
    return state.brand if state is not None else ""


# -- effects ----------------------------------------------------------------------------

def record_rights(context: ApplyContext) -> None:
    """Effect of ``ip_rights_record``."""
    record = context.checked.body.ip_rights
    if record.valid_until_ms and record.valid_until_ms <= context.proposed_ms:
        raise refuse("ip_rights.expired",
                     f"valid_until_ms {when(record.valid_until_ms)} is already past")
    save(context.batch, record_key(context.document_id), state_pb2.IpRightsState(
        record_id=context.document_id, holder_member=context.checked.body.issuer,
        brand=record.brand, valid_until_ms=record.valid_until_ms))


def raise_alert(context: ApplyContext) -> None:
    """Effect of ``ip_rights_alert``: record the alert and list it in the index."""
    alert = context.checked.body.ip_alert
    record = load(context.batch, record_key(alert.rights_record_id), state_pb2.IpRightsState)
    if record is None:
        raise refuse("alert.rights_record_unknown",
                     f"no IP-rights record {alert.rights_record_id} on the ledger")
    if record.valid_until_ms and record.valid_until_ms <= context.proposed_ms:
        raise refuse("alert.rights_record_expired",
                     f"rights record {short(record.record_id)} ({record.brand}) expired at "
                     f"{when(record.valid_until_ms)}")
    if alert.expires_ms <= context.proposed_ms:
        raise refuse("alert.expired", f"expires_ms {when(alert.expires_ms)} is already past")
    state = state_pb2.AlertState(
        alert_id=context.document_id, issuer=context.checked.body.issuer,
        rights_record_id=alert.rights_record_id, holder_member=record.holder_member,
        brand=record.brand, alert=alert, height=context.height)
    save(context.batch, alert_key(context.document_id), state)
    AlertIndex(context).add(state)
    record.alert_ids.append(context.document_id)
    save(context.batch, record_key(record.record_id), record)


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS.update({"ip_rights_record": record_rights, "ip_rights_alert": raise_alert})
