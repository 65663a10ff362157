"""Advance cross-border data: export declarations linked by UCR (or linked_export_id) to the
import side; who may declare for which country; each refusal."""

from __future__ import annotations

from tdx.node.state.workflows.certificates import declaration_key
from tdx.sdk import state_pb2
from workflow_factories import UCR, Chain, declaration_body


def state(chain: Chain, declaration_id: str) -> state_pb2.DeclarationState:
    raw = chain.ledger.store.get(declaration_key(declaration_id))
    assert raw is not None
    return state_pb2.DeclarationState.FromString(raw)


def test_import_is_linked_to_the_export_by_ucr(chain: Chain) -> None:
    export = chain.ok("de-customs", declaration_body("export_declaration"))
    imported = chain.submit("ng-customs", declaration_body())
    assert imported.accepted
    assert imported.notices == [
        f"declaration.linked: import declaration {imported.id} is linked to export "
        f"declaration {export} (found by UCR; exported from DE by de-customs)"]
    assert state(chain, imported.id).linked_export_id == export
    assert list(state(chain, export).linked_import_ids) == [imported.id]


def test_the_latest_export_of_the_ucr_and_destination_is_linked(chain: Chain) -> None:
    chain.ok("de-customs", declaration_body("export_declaration"))
    chain.ok("de-customs", declaration_body("export_declaration", destination="JP"))
    latest = chain.ok("de-customs", declaration_body("export_declaration"))
    imported = chain.ok("ng-customs", declaration_body())
    assert state(chain, imported).linked_export_id == latest
    alone = chain.submit("ng-customs", declaration_body(ucr="4DE-NO-EXPORT-1"))
    assert alone.accepted and alone.notices == []
    assert state(chain, alone.id).linked_export_id == ""


def test_a_given_link_is_checked(chain: Chain) -> None:
    export = chain.ok("de-customs", declaration_body("export_declaration"))
    other_ucr = chain.ok("de-customs", declaration_body("export_declaration",
                                                        ucr="4DE-OTHER-0009"))
    to_japan = chain.ok("de-customs", declaration_body("export_declaration", destination="JP"))
    an_import = chain.ok("ng-customs", declaration_body())
    given = chain.submit("ng-customs", declaration_body(linked_export_id=export))
    assert given.accepted and "(given;" in given.notices[0]
    for linked, code in ((("ab" * 32), "declaration.export_unknown"),
                         (an_import, "declaration.not_export"),
                         (other_ucr, "declaration.ucr_mismatch"),
                         (to_japan, "declaration.destination_mismatch")):
        assert chain.submit("ng-customs", declaration_body(linked_export_id=linked)).code == (
            code)


def test_customs_declare_only_for_their_own_country(chain: Chain) -> None:
    assert chain.submit("ng-customs", declaration_body("export_declaration")).code == (
        "declaration.not_export_country")
    assert chain.submit("de-customs", declaration_body()).code == (
        "declaration.not_import_country")
    # Traders declare for themselves.
    assert chain.submit("acme-trader", declaration_body()).accepted


def test_declaration_state_records_the_basics(chain: Chain) -> None:
    export = chain.ok("de-customs", declaration_body("export_declaration"))
    got = state(chain, export)
    assert (got.kind, got.issuer, got.ucr, got.export_country_code,
            got.destination_country_code) == ("export_declaration", "de-customs", UCR, "DE",
                                              "NG")


def test_a_reused_functional_reference_is_flagged_not_refused(chain: Chain) -> None:
    """The same declaration submitted twice (same issuer, kind and functional reference) is
    taken and flagged, naming the first; another issuer's or kind's reuse is not flagged."""
    first = chain.ok("de-customs", declaration_body("export_declaration", reference="REF-7"))
    again = chain.submit("de-customs", declaration_body("export_declaration", reference="REF-7"))
    assert again.accepted
    assert [n for n in again.notices if n.startswith("declaration.duplicate_reference")] == [
        f"declaration.duplicate_reference: de-customs already declared functional reference "
        f"'REF-7' in export declaration {first}; this may be the same declaration submitted "
        "twice"]
    other_kind = chain.submit("ng-customs", declaration_body(reference="REF-7"))
    assert other_kind.accepted and not any(
        n.startswith("declaration.duplicate_reference") for n in other_kind.notices)
