"""Certificates used once: issue, verify, draw down, revoke, amend, expiry; each refusal."""

from __future__ import annotations

import pytest
from tdx.node.state.workflows.certificates import certificate_key
from tdx.sdk import (
    amend_certificate,
    draw_down,
    phytosanitary_certificate,
    revoke_certificate,
    state_pb2,
    verify_certificate,
)
from workflow_factories import (
    DAY,
    EXPORTER,
    IMPORTER,
    NETWORK,
    NOW,
    PUMPS,
    UCR,
    Chain,
    certificate_body,
    declaration_body,
)

S = state_pb2.CertificateStatus


def state(chain: Chain, certificate_id: str) -> state_pb2.CertificateState:
    raw = chain.ledger.store.get(certificate_key(certificate_id))
    assert raw is not None
    return state_pb2.CertificateState.FromString(raw)


def issued(chain: Chain, **changes: object) -> tuple[str, str]:
    """A certificate and an import declaration that lists it: (certificate, declaration)."""
    cert = chain.ok("de-chamber", certificate_body(**changes))  # type: ignore[arg-type]
    decl = chain.ok("ng-customs", declaration_body(certificate_ids=(cert,)))
    return cert, decl


def draw(chain: Chain, cert: str, decl: str, lines: dict[int, str],
         member: str = "ng-customs", at: int | None = None) -> tuple[bool, str, list[str]]:
    outcome = chain.submit(member, draw_down(NETWORK, cert, decl, lines, ucr=UCR), at)
    return outcome.accepted, outcome.code, outcome.notices


def test_issue_records_lines_and_status(chain: Chain) -> None:
    cert = chain.ok("de-chamber", certificate_body())
    got = state(chain, cert)
    assert got.status == S.CERTIFICATE_STATUS_ACTIVE
    assert (got.kind, got.issuer, got.number, got.ucr) == (
        "origin_certificate", "de-chamber", "DE-COO-1", UCR)
    assert [(line.sequence_numeric, line.quantity, line.drawn, line.remaining)
            for line in got.lines] == [(1, "40", "0", "40"), (2, "100", "0", "100")]


def test_issuer_must_be_of_the_export_country(chain: Chain) -> None:
    body = certificate_body()
    body.certificate.export_country_code = "FR"
    outcome = chain.submit("de-chamber", body)
    assert outcome.code == "certificate.issuer_country"
    assert "FR" in outcome.result.reason


def test_certificate_already_expired_is_refused(chain: Chain) -> None:
    outcome = chain.submit("de-chamber", certificate_body(valid_until_ms=NOW - 1))
    assert outcome.code == "certificate.expired"


def test_number_is_unique_per_issuer(chain: Chain) -> None:
    chain.ok("de-chamber", certificate_body("N-1"))
    assert chain.submit("de-chamber", certificate_body("N-1")).code == "certificate.number_taken"
    chain.ok("de-chamber", certificate_body("N-2"))


def test_draw_down_by_quantity_until_used_up(chain: Chain) -> None:
    cert, decl = issued(chain)
    assert draw(chain, cert, decl, {1: "15"})[0]
    assert draw(chain, cert, decl, {1: "25", 2: "60"})[0]
    got = state(chain, cert)
    assert [(line.drawn, line.remaining) for line in got.lines] == [("40", "0"), ("60", "40")]
    assert got.status == S.CERTIFICATE_STATUS_ACTIVE
    assert [d.declaration_id for d in got.draw_downs] == [decl, decl]
    accepted, _, notices = draw(chain, cert, decl, {2: "40"})
    assert accepted and notices and notices[0].startswith("certificate.used_up:")
    assert state(chain, cert).status == S.CERTIFICATE_STATUS_USED_UP
    # Recorded per import declaration too.
    from tdx.node.state.workflows.certificates import declaration_key
    raw = chain.ledger.store.get(declaration_key(decl))
    assert raw is not None
    assert len(state_pb2.DeclarationState.FromString(raw).draw_down_ids) == 3
    # Used up: nothing more, not even a line with nothing left.
    assert draw(chain, cert, decl, {1: "1"})[1] == "certificate.used_up"
    again = chain.submit("ng-customs", declaration_body(certificate_ids=(cert,)))
    assert again.code == "certificate.used_up"


def test_drawing_more_than_remains_is_refused_and_changes_nothing(chain: Chain) -> None:
    cert, decl = issued(chain)
    accepted, code, _ = draw(chain, cert, decl, {1: "10", 2: "100.5"})
    assert (accepted, code) == (False, "certificate.over_draw")
    assert [line.drawn for line in state(chain, cert).lines] == ["0", "0"]
    assert draw(chain, cert, decl, {1: "40.00000001"})[1] == "certificate.over_draw"
    assert draw(chain, cert, decl, {1: "39.99999999"})[0]
    assert state(chain, cert).lines[0].remaining == "0.00000001"


@pytest.mark.parametrize(("member", "lines", "code"), [
    ("de-customs", {1: "1"}, "certificate.not_import_country"),
    ("ng-customs", {3: "1"}, "certificate.line_unknown"),
])
def test_draw_down_refusals(chain: Chain, member: str, lines: dict[int, str], code: str) -> None:
    cert, decl = issued(chain)
    assert draw(chain, cert, decl, lines, member)[1] == code


def test_draw_down_needs_an_import_declaration_that_lists_the_certificate(chain: Chain) -> None:
    cert, _ = issued(chain)
    other = chain.ok("de-chamber", certificate_body("DE-COO-2"))
    export = chain.ok("de-customs", declaration_body("export_declaration"))
    unlisted = chain.ok("ng-customs", declaration_body(certificate_ids=(other,)))
    assert draw(chain, cert, "ab" * 32, {1: "1"})[1] == "certificate.declaration_unknown"
    assert draw(chain, cert, export, {1: "1"})[1] == "certificate.not_import_declaration"
    assert draw(chain, cert, unlisted, {1: "1"})[1] == "certificate.not_on_declaration"
    assert draw(chain, "cd" * 32, unlisted, {1: "1"})[1] == "certificate.unknown"


def test_declaration_and_draw_down_in_one_block(chain: Chain) -> None:
    cert = chain.ok("de-chamber", certificate_body())
    decl = chain.sealed("ng-customs", declaration_body(certificate_ids=(cert,)))
    from tdx.sdk import document_id
    action = chain.sealed("ng-customs", draw_down(NETWORK, cert, document_id(decl.body),
                                                  {1: "5"}, ucr=UCR))
    assert [o.accepted for o in chain.block(decl, action)] == [True, True]


def test_revoked_certificate_cannot_be_used(chain: Chain) -> None:
    cert, decl = issued(chain)
    assert chain.submit("ng-customs", revoke_certificate(NETWORK, cert, "x")).code == (
        "role.forbidden")
    other_issuer_body = revoke_certificate(NETWORK, cert, "fraud")
    revocation = chain.submit("de-chamber", other_issuer_body)
    assert revocation.accepted
    assert revocation.notices[0].startswith("certificate.revoked:")
    got = state(chain, cert)
    assert (got.status, got.revocation_reason, got.revocation_id) == (
        S.CERTIFICATE_STATUS_REVOKED, "fraud", revocation.id)
    assert draw(chain, cert, decl, {1: "1"})[1] == "certificate.revoked"
    assert chain.submit("ng-customs", verify_certificate(NETWORK, cert)).code == (
        "certificate.revoked")
    assert chain.submit("ng-customs", declaration_body(certificate_ids=(cert,))).code == (
        "certificate.revoked")
    assert chain.submit("de-chamber", revoke_certificate(NETWORK, cert, "again")).code == (
        "certificate.revoked")


def test_only_the_issuer_revokes(chain: Chain, tmp_path: object) -> None:
    cert = chain.ok("de-chamber", certificate_body())
    # de-customs lacks the issuer role: refused by the role table before the rule.
    assert chain.submit("de-customs", revoke_certificate(NETWORK, cert, "x")).code == (
        "role.forbidden")
    assert chain.submit("de-chamber", revoke_certificate(NETWORK, "ef" * 32, "x")).code == (
        "certificate.unknown")


def test_expired_and_not_yet_valid_certificates_cannot_be_used(chain: Chain) -> None:
    cert, decl = issued(chain, valid_until_ms=NOW + DAY)
    assert draw(chain, cert, decl, {1: "1"}, at=NOW + 2 * DAY)[1] == "certificate.expired"
    assert chain.submit("ng-customs", verify_certificate(NETWORK, cert),
                        at=NOW + 2 * DAY).code == "certificate.expired"
    body = certificate_body("DE-COO-FUTURE")
    body.certificate.valid_from_ms = NOW + DAY
    future = chain.ok("de-chamber", body)
    assert chain.submit("ng-customs", verify_certificate(NETWORK, future)).code == (
        "certificate.not_yet_valid")


def test_verification_is_recorded_by_importing_customs(chain: Chain) -> None:
    cert = chain.ok("de-chamber", certificate_body())
    verified = chain.submit("ng-customs", verify_certificate(NETWORK, cert, "checked"))
    assert verified.accepted
    assert [(v.member, v.reason) for v in state(chain, cert).verifications] == [
        ("ng-customs", "checked")]
    assert chain.submit("de-customs", verify_certificate(NETWORK, cert)).code == (
        "certificate.not_import_country")
    assert chain.submit("ng-customs", verify_certificate(NETWORK, "12" * 32)).code == (
        "certificate.unknown")


def test_declaration_destination_must_match_the_certificate(chain: Chain) -> None:
    cert = chain.ok("de-chamber", certificate_body())
    body = declaration_body(certificate_ids=(cert,), destination="JP")
    assert chain.submit("acme-trader", body).code == "certificate.destination_mismatch"
    assert chain.submit("acme-trader", declaration_body(certificate_ids=("34" * 32,))).code == (
        "certificate.unknown")


def test_amendment_supersedes_and_carries_draws_over(chain: Chain) -> None:
    original = certificate_body()
    cert = chain.ok("de-chamber", original)
    decl = chain.ok("ng-customs", declaration_body(certificate_ids=(cert,)))
    assert draw(chain, cert, decl, {1: "30"})[0]
    bigger = original.certificate.goods_items[0]
    bigger.quantity = "50"
    amended = chain.submit("de-chamber", amend_certificate(original, cert))
    assert amended.accepted
    assert amended.notices[0].startswith("certificate.amended:")
    old, new = state(chain, cert), state(chain, amended.id)
    assert (old.status, old.superseded_by) == (S.CERTIFICATE_STATUS_SUPERSEDED, amended.id)
    assert (new.status, new.supersedes_id, new.number) == (
        S.CERTIFICATE_STATUS_ACTIVE, cert, "DE-COO-1")
    first = new.lines[0]
    assert (first.quantity, first.drawn, first.remaining) == ("50", "30", "20")
    assert len(new.draw_downs) == 1
    # The old version is no longer usable; the new one is, with the same declaration.
    assert draw(chain, cert, decl, {1: "1"})[1] == "certificate.superseded"
    assert draw(chain, amended.id, decl, {1: "20"})[0]
    assert draw(chain, amended.id, decl, {1: "1"})[1] == "certificate.over_draw"
    # A superseded version can be neither amended nor revoked.
    assert chain.submit("de-chamber", amend_certificate(original, cert)).code == (
        "certificate.superseded")
    assert chain.submit("de-chamber", revoke_certificate(NETWORK, cert, "x")).code == (
        "certificate.superseded")


def test_amendment_refusals(chain: Chain) -> None:
    original = certificate_body()
    cert, decl = issued(chain)
    assert draw(chain, cert, decl, {1: "30"})[0]
    smaller = amend_certificate(original, cert)
    smaller.certificate.goods_items[0].quantity = "20"
    assert chain.submit("de-chamber", smaller).code == "certificate.amend_below_drawn"
    dropped = amend_certificate(original, cert, goods=[original.certificate.goods_items[1]])
    assert chain.submit("de-chamber", dropped).code == "certificate.amend_drops_drawn_line"
    unknown = amend_certificate(original, "56" * 32)
    assert chain.submit("de-chamber", unknown).code == "certificate.unknown"
    phyto = phytosanitary_certificate(
        NETWORK, ucr=UCR, number="DE-COO-1", exporter=EXPORTER, importer=IMPORTER,
        export_country_code="DE", import_country_code="NG", goods=[PUMPS],
        supersedes_id=cert)
    assert chain.submit("de-chamber", phyto).code == "certificate.kind_mismatch"
    other = certificate_body("DE-COO-OTHER")
    chain.ok("de-chamber", other)
    taken = amend_certificate(original, cert)
    taken.certificate.number = "DE-COO-OTHER"
    assert chain.submit("de-chamber", taken).code == "certificate.number_taken"
    assert chain.submit("de-chamber", revoke_certificate(NETWORK, cert, "void")).accepted
    assert chain.submit("de-chamber", amend_certificate(original, cert)).code == (
        "certificate.revoked")


def test_phytosanitary_certificates_follow_the_same_lifecycle(chain: Chain) -> None:
    body = phytosanitary_certificate(
        NETWORK, ucr=UCR, number="DE-PHY-1", exporter=EXPORTER, importer=IMPORTER,
        export_country_code="DE", import_country_code="NG",
        goods=[{"sequence_numeric": 1, "description": "Seed potatoes", "hs_code": "070110",
                "quantity": "2000", "quantity_unit_code": "KGM"}],
        treatment="none", valid_until_ms=NOW + DAY)
    cert = chain.ok("de-chamber", body)
    decl = chain.ok("ng-customs", declaration_body(certificate_ids=(cert,)))
    assert draw(chain, cert, decl, {1: "2000"})[0]
    assert state(chain, cert).status == S.CERTIFICATE_STATUS_USED_UP
    assert state(chain, cert).kind == "phytosanitary_certificate"
