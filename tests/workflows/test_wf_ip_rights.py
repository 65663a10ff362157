"""IP-rights records and alerts; every declaration matched against the active alerts,
through the index, deterministically; each refusal."""

from __future__ import annotations

from typing import Any

import pytest
from tdx.node.state.ledger import ApplyContext
from tdx.node.state.store import Prefix
from tdx.node.state.workflows import ip_rights
from tdx.node.state.workflows.certificates import declaration_key
from tdx.sdk import ip_alert, ip_rights_record, party, state_pb2
from workflow_factories import DAY, NETWORK, NOW, Chain, declaration_body

HOLDER = party("AquaFlow Pumps SE", "DE811223344", "DE")


def record(chain: Chain, valid_until_ms: int = 0) -> str:
    return chain.ok("aquaflow", ip_rights_record(
        NETWORK, brand="AquaFlow", goods_description="Pumps", hs_codes=["841370"],
        holder=HOLDER, contact="brand@aquaflow.example", valid_until_ms=valid_until_ms))


def alert(chain: Chain, rights: str, *, severity: str = "high", expires_ms: int = NOW + DAY,
          **indicators: Any) -> str:
    return chain.ok("de-customs", ip_alert(NETWORK, rights, severity=severity,
                                           expires_ms=expires_ms, **indicators))


def matches(chain: Chain, declaration_id: str) -> list[state_pb2.AlertMatch]:
    raw = chain.ledger.store.get(declaration_key(declaration_id))
    assert raw is not None
    return list(state_pb2.DeclarationState.FromString(raw).alert_matches)


def test_a_matching_declaration_records_the_match_and_a_notice(chain: Chain) -> None:
    rights = record(chain)
    hit = alert(chain, rights, hs_codes=["841370"], origin_country_codes=["CN"],
                description="fake pumps")
    decl = chain.submit("acme-trader", declaration_body(origin="CN"))
    assert decl.accepted
    assert decl.notices == [
        f"ip_alert.match: alert {hit} (HIGH) on rights record {rights} (AquaFlow), holder "
        "aquaflow, matched hs_code=841370, origin=CN"]
    got = matches(chain, decl.id)
    assert [(m.alert_id, m.holder_member, list(m.matched_on)) for m in got] == [
        (hit, "aquaflow", ["hs_code=841370", "origin=CN"])]


def test_every_dimension_of_an_alert_must_match(chain: Chain) -> None:
    rights = record(chain)
    alert(chain, rights, hs_codes=["841370"], origin_country_codes=["CN"])
    decl = chain.submit("acme-trader", declaration_body(origin="DE"))
    assert decl.accepted and decl.notices == [] and matches(chain, decl.id) == []


@pytest.mark.parametrize(("indicators", "declared", "hit"), [
    ({"hs_codes": ["841370"]}, {"hs_code": "8413700099"}, True),
    ({"hs_codes": ["84137000"]}, {"hs_code": "841370"}, False),
    ({"consignor_ids": ["CN91440300MA5X"]}, {"consignor": party("Shady", "CN91440300MA5X")},
     True),
    ({"consignor_ids": ["CN91440300MA5X"]}, {}, False),
    ({"route_location_ids": ["AEJEA"]}, {"loading": "AEJEA"}, True),
    ({"route_location_ids": ["AEJEA"]}, {}, False),
])
def test_indicators(chain: Chain, indicators: dict[str, Any],
                    declared: dict[str, object], hit: bool) -> None:
    alert(chain, record(chain), **indicators)
    decl = chain.submit("acme-trader", declaration_body(**declared))  # type: ignore[arg-type]
    assert decl.accepted
    assert bool(matches(chain, decl.id)) is hit


def test_matches_are_ordered_by_severity_then_id(chain: Chain) -> None:
    rights = record(chain)
    low = alert(chain, rights, severity="low", hs_codes=["841370"])
    high = alert(chain, rights, severity="high", route_location_ids=["DEHAM"])
    medium = alert(chain, rights, severity="medium", origin_country_codes=["DE"])
    decl = chain.submit("de-customs", declaration_body("export_declaration"))
    assert [m.alert_id for m in matches(chain, decl.id)] == [high, medium, low]
    assert [n.split(" ")[2] for n in decl.notices if n.startswith("ip_alert")] == [
        high, medium, low]


def test_expired_alerts_do_not_match_and_leave_the_index(chain: Chain) -> None:
    rights = record(chain)
    alert(chain, rights, hs_codes=["841370"], expires_ms=NOW + DAY)
    assert chain.ledger.store.get(ip_rights.index_key("hs", "841370")) is not None
    later = chain.submit("acme-trader", declaration_body(), at=NOW + 2 * DAY)
    assert later.accepted and later.notices == []
    assert chain.ledger.store.get(ip_rights.index_key("hs", "841370")) is None


def test_alert_refusals(chain: Chain) -> None:
    assert chain.submit("de-customs", ip_alert(NETWORK, "aa" * 32, severity="low",
                                               expires_ms=NOW + DAY, hs_codes=["841370"])
                        ).code == "alert.rights_record_unknown"
    rights = record(chain)
    assert chain.submit("de-customs", ip_alert(NETWORK, rights, severity="low",
                                               expires_ms=NOW, hs_codes=["841370"])
                        ).code == "alert.expired"
    short_lived = record(chain, valid_until_ms=NOW + DAY)
    assert chain.submit("de-customs", ip_alert(NETWORK, short_lived, severity="low",
                                               expires_ms=NOW + 5 * DAY, hs_codes=["841370"]),
                        at=NOW + 2 * DAY).code == "alert.rights_record_expired"
    assert chain.submit("aquaflow", ip_rights_record(
        NETWORK, brand="Old", goods_description="x", hs_codes=["841370"], holder=HOLDER,
        contact="c", valid_until_ms=NOW - 1)).code == "ip_rights.expired"
    assert chain.submit("aquaflow", ip_alert(NETWORK, rights, severity="low",
                                             expires_ms=NOW + DAY, hs_codes=["841370"])
                        ).code == "role.forbidden"


def test_matching_reads_only_the_declarations_index_lists(chain: Chain) -> None:
    """With many alerts on other values, a declaration reads only its own values' lists
    and loads only the alerts it finds there."""
    rights = record(chain)
    for i in range(50):
        alert(chain, rights, hs_codes=[f"{900000 + i}"])
    target = alert(chain, rights, hs_codes=["841370"])
    reads: list[bytes] = []
    batch = chain.ledger.store.batch()
    original_get = batch.get

    def counting_get(key: bytes) -> bytes | None:
        reads.append(key)
        return original_get(key)

    batch.get = counting_get  # type: ignore[method-assign]
    body = declaration_body(hs_code="8413700000")
    from tdx.node.state.rules import Checked
    context = ApplyContext(batch=batch, checked=Checked(body=body, kind="import_declaration",
                                                        member=chain.ledger.members[0]),
                           document_id="00" * 32, height=99, proposed_ms=NOW)
    found = ip_rights.AlertIndex(context).match(body.trade)
    assert [m.alert_id for m in found] == [target]
    alert_reads = [k for k in reads if k.startswith(Prefix.STATE + b"alert/")]
    assert alert_reads == [ip_rights.alert_key(target)]
    index_reads = [k for k in reads if k.startswith(Prefix.STATE + b"ipx/")]
    # HS prefixes of 6..10 digits, one origin, the exporter, two places: no more.
    assert len(index_reads) == 5 + 1 + 1 + 2


def test_matching_is_deterministic_across_nodes(tmp_path: object) -> None:
    from pathlib import Path

    from workflow_factories import new_ledger

    root = Path(str(tmp_path))
    chains = [Chain(new_ledger(root / name)) for name in ("a", "b")]
    try:
        for chain in chains:
            rights = record(chain)
            cases: list[tuple[str, dict[str, Any]]] = [
                ("low", {"hs_codes": ["841370"]}), ("high", {"origin_country_codes": ["DE"]})]
            for severity, indicators in cases:
                alert(chain, rights, severity=severity, **indicators)
            chain.submit("acme-trader", declaration_body())
        a, b = (list(c.ledger.store.scan(b"")) for c in chains)
        assert a == b
        assert chains[0].ledger.last_hash == chains[1].ledger.last_hash
    finally:
        for chain in chains:
            chain.ledger.store.close()
